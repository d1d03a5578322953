use super::*;

fn lib(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).unwrap()
}

/// The set of `items`, none dl-openable.
fn parse<'a>(items: &'a [(&'a str, Vec<u8>)]) -> LibrarySet<'a> {
    LibrarySet::new(
        items
            .iter()
            .map(|(n, b)| (weld_module::Library::parse(n, b).unwrap(), false)),
    )
}

/// Resolves `set` with `roots` (by position; missing entries are `false`).
fn run<'a>(
    set: &LibrarySet<'a>,
    roots: &[bool],
    options: &Options,
) -> Result<Link<'a>, ResolveError> {
    let roots = set.per_lib(|id, _| roots.get(id.index()).copied().unwrap_or(false));
    resolve(set, &roots, options)
}

/// The id of the library at `position`.
fn id(set: &LibrarySet<'_>, position: usize) -> LibId {
    set.id_at(position).unwrap()
}

/// Positions of `ids`.
fn positions(ids: &[LibId]) -> Vec<usize> {
    ids.iter().map(|id| id.index()).collect()
}

/// The position of the library a function binding calls.
fn callee(b: &Binding) -> Option<usize> {
    match b {
        Binding::Function { target, .. } => Some(target.library().index()),
        _ => None,
    }
}

const ADD: &str = r#"(func (export "f") (param i32) (result i32) local.get 0)"#;

#[test]
fn strong_beats_weak_whatever_the_order() {
    let weak = lib(&format!(
        r#"(module (@dylink.0 (export-info "f" binding-weak)) {ADD})"#
    ));
    let strong = lib(&format!("(module (@dylink.0) {ADD})"));
    let user = lib(r#"(module (@dylink.0) (import "env" "f" (func (param i32) (result i32))))"#);
    let items = [
        ("user".to_string(), user),
        ("weak".to_string(), weak),
        ("strong".to_string(), strong),
    ];
    let items: Vec<(&str, Vec<u8>)> = items.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let set = parse(&items);
    let link = run(&set, &[true], &Options::default()).unwrap();
    assert_eq!(callee(&link.bindings[id(&set, 0)][0]), Some(2));
    assert!(link.duplicates.is_empty());
    assert!(
        !link.is_kept(id(&set, 1)),
        "the weak definition's library is pruned"
    );
}

#[test]
fn first_strong_wins_and_duplicate_is_recorded() {
    let a = lib(&format!("(module (@dylink.0) {ADD})"));
    let user = lib(r#"(module (@dylink.0) (import "env" "f" (func (param i32) (result i32))))"#);
    let items = [("user", user), ("a", a.clone()), ("b", a)];
    let set = parse(&items);
    let link = run(&set, &[true], &Options::default()).unwrap();
    assert_eq!(callee(&link.bindings[id(&set, 0)][0]), Some(1));
    assert_eq!(
        link.duplicates,
        [Duplicate {
            name: "f",
            winner: id(&set, 1),
            losers: vec![id(&set, 2)]
        }]
    );
}

#[test]
fn type_mismatch_names_both_types() {
    let a = lib(&format!("(module (@dylink.0) {ADD})"));
    let user = lib(r#"(module (@dylink.0) (import "env" "f" (func (param i64) (result i32))))"#);
    let items = [("user", user), ("liba.so", a)];
    let set = parse(&items);
    let err = run(&set, &[true], &Options::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("imports `env.f` as function [i64] -> [i32]"),
        "{msg}"
    );
    assert!(
        msg.contains("`liba.so` exports function [i32] -> [i32]"),
        "{msg}"
    );
}

#[test]
fn all_unresolved_symbols_are_reported_at_once() {
    let user = lib(r#"(module (@dylink.0)
            (import "env" "missing_a" (func))
            (import "GOT.mem" "missing_b" (global (mut i32)))
            (import "GOT.func" "missing_c" (global (mut i32))))"#);
    let items = [("libuser.so", user)];
    let set = parse(&items);
    let err = run(&set, &[true], &Options::default()).unwrap_err();
    assert_eq!(err.problems.len(), 3, "{err}");
    let msg = err.to_string();
    for name in ["missing_a", "missing_b", "missing_c"] {
        assert!(msg.contains(name), "{msg}");
    }
}

#[test]
fn weak_unresolved_become_stubs_and_null() {
    let user = lib(r#"(module (@dylink.0
              (import-info "env" "wf" binding-weak)
              (import-info "env" "wd" binding-weak)
              (import-info "GOT.func" "wg" binding-weak))
            (import "env" "wf" (func (param i32)))
            (import "GOT.mem" "wd" (global (mut i32)))
            (import "GOT.func" "wg" (global (mut i32))))"#);
    let items = [("u", user)];
    let set = parse(&items);
    let link = run(&set, &[true], &Options::default()).unwrap();
    assert_eq!(
        link.bindings[id(&set, 0)],
        [Binding::Stub(StubId(0)), Binding::Null, Binding::Null]
    );
    assert_eq!(link.stubs[0].name, "wf");
}

#[test]
fn stub_missing_functions_option() {
    let user = lib(r#"(module (@dylink.0) (import "env" "gone" (func)))"#);
    let items = [("u", user)];
    let set = parse(&items);
    assert!(run(&set, &[true], &Options::default()).is_err());
    let link = run(
        &set,
        &[true],
        &Options {
            stub_missing_functions: true,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(link.bindings[id(&set, 0)][0], Binding::Stub(StubId(0)));
}

#[test]
fn missing_needed_suggests_similar_names() {
    let user = lib(r#"(module (@dylink.0 (needed "libpython3.12.so")))"#);
    let py = lib("(module (@dylink.0))");
    let items = [("main", user), ("libpython3.14.so", py)];
    let set = parse(&items);
    let err = run(&set, &[true], &Options::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("`main` needs `libpython3.12.so`"), "{msg}");
    assert!(msg.contains("did you mean `libpython3.14.so`"), "{msg}");
}

#[test]
fn duplicate_names_and_abi_errors_are_reported_together() {
    let bad = lib(r#"(module (@dylink.0)
            (func (export "__wasm_call_ctors") (param i32))
            (func (export "_initialize"))
            (func (export "_start")))"#);
    let items = [("a", bad.clone()), ("a", bad)];
    let set = parse(&items);
    let err = run(&set, &[true], &Options::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("two inputs are named `a`"), "{msg}");
    assert!(
        msg.contains("both `_initialize` and `__wasm_call_ctors`"),
        "{msg}"
    );
    assert!(msg.contains("requires `function [] -> []`"), "{msg}");
    assert!(
        msg.contains("more than one library exports `_start`"),
        "{msg}"
    );
}

/// A library named `name` that NEEDS `needed`, imports functions `imports` and exports `exports`.
fn node(needed: &[&str], imports: &[&str], exports: &[&str]) -> Vec<u8> {
    let needed: String = needed.iter().map(|n| format!(" \"{n}\"")).collect();
    let imports: String = imports
        .iter()
        .map(|i| format!(r#"(import "env" "{i}" (func))"#))
        .collect();
    let exports: String = exports
        .iter()
        .map(|e| format!(r#"(func (export "{e}"))"#))
        .collect();
    lib(&format!(
        "(module (@dylink.0 (needed{needed})) {imports} {exports} (func (export \"__wasm_call_ctors\")))"
    ))
}

#[test]
fn init_order_is_dependencies_first_in_any_input_order() {
    // main needs app and base; app needs base.
    let main = node(&["app", "base"], &["a"], &["m"]);
    let app = node(&["base"], &["b"], &["a"]);
    let base = node(&[], &[], &["b"]);
    for perm in [[0, 1, 2], [2, 1, 0], [1, 0, 2], [2, 0, 1]] {
        let all = [
            ("main", main.clone()),
            ("app", app.clone()),
            ("base", base.clone()),
        ];
        let items: Vec<(&str, Vec<u8>)> = perm.iter().map(|&i| all[i].clone()).collect();
        let set = parse(&items);
        let roots: Vec<bool> = items.iter().map(|(n, _)| *n == "main").collect();
        let link = run(&set, &roots, &Options::default()).unwrap();
        let names = |order: &[LibId]| order.iter().map(|&i| set.name(i)).collect::<Vec<_>>();
        assert_eq!(names(&link.init_order), ["base", "app", "main"], "{perm:?}");
        assert_eq!(
            names(&link.instantiation_order),
            ["base", "app", "main"],
            "{perm:?}"
        );
    }
}

#[test]
fn needed_cycle_init_order_breaks_ties_by_input_order() {
    let ping = node(&["pong", "base"], &["pong_f"], &["ping_f"]);
    let pong = node(&["ping", "base"], &["ping_f"], &["pong_f"]);
    let base = node(&[], &[], &[]);
    let items = [("pong", pong), ("ping", ping), ("base", base)];
    let set = parse(&items);
    let link = run(&set, &[true, false, false], &Options::default()).unwrap();
    let names = |order: &[LibId]| order.iter().map(|&i| set.name(i)).collect::<Vec<_>>();
    assert_eq!(names(&link.init_order), ["base", "pong", "ping"]);
    assert_eq!(link.cycles.len(), 1);
    // Exactly one of the two cross imports needs a shim.
    let shims = link
        .bindings
        .values()
        .flatten()
        .filter(|b| matches!(b, Binding::Function { shim: true, .. }))
        .count();
    assert_eq!(shims, 1);
}

#[test]
fn scc_order_minimises_shims() {
    // a imports 3 functions from b; b imports 1 from a. Instantiating b first costs one shim.
    let a = node(&[], &["b1", "b2", "b3"], &["a1"]);
    let b = node(&[], &["a1"], &["b1", "b2", "b3"]);
    let items = [("a", a), ("b", b)];
    let set = parse(&items);
    let link = run(&set, &[true, false], &Options::default()).unwrap();
    assert_eq!(positions(&link.instantiation_order), [1, 0]);
    let shims: Vec<_> = link
        .bindings
        .values()
        .flatten()
        .filter(|b| matches!(b, Binding::Function { shim: true, .. }))
        .collect();
    assert_eq!(shims.len(), 1);
}

#[test]
fn got_only_references_keep_the_provider() {
    let data = lib(r#"(module (@dylink.0) (global (export "d") i32 (i32.const 8)))"#);
    let user = lib(r#"(module (@dylink.0) (import "GOT.mem" "d" (global (mut i32))))"#);
    let unused = lib(r#"(module (@dylink.0) (func (export "u")))"#);
    let items = [("user", user), ("data", data), ("unused", unused)];
    let set = parse(&items);
    let link = run(&set, &[true, false, false], &Options::default()).unwrap();
    assert_eq!(
        link.kept[id(&set, 1)],
        Some(KeepReason::ReferencedBy(id(&set, 0)))
    );
    assert_eq!(link.kept[id(&set, 2)], None);
    assert_eq!(positions(&link.instantiation_order), [1, 0]);
}

#[test]
fn long_chain_is_fast_enough_to_not_be_quadratic_in_practice() {
    // 2000 libraries in a chain, each calling the next: resolution must finish (it would take
    // minutes with a cubic closure).
    let n = 2000;
    let names: Vec<String> = (0..n).map(|i| format!("l{i}")).collect();
    let items: Vec<(&str, Vec<u8>)> = (0..n)
        .map(|i| {
            let f = format!("f{i}");
            let g = format!("f{}", i + 1);
            let needed: Vec<&str> = if i + 1 < n {
                vec![names[i + 1].as_str()]
            } else {
                vec![]
            };
            let imports: Vec<&str> = if i + 1 < n { vec![g.as_str()] } else { vec![] };
            (names[i].as_str(), node(&needed, &imports, &[f.as_str()]))
        })
        .collect();
    let set = parse(&items);
    let mut roots = vec![false; n];
    roots[0] = true;
    let link = run(&set, &roots, &Options::default()).unwrap();
    assert_eq!(link.instantiation_order.len(), n);
    assert_eq!(link.instantiation_order[0].index(), n - 1);
    assert_eq!(link.init_order[0].index(), n - 1);
}

#[test]
fn unresolved_imports_of_pruned_libraries_do_not_matter() {
    let root = lib(r#"(module (@dylink.0) (func (export "r")))"#);
    let broken = lib(r#"(module (@dylink.0) (import "env" "nowhere" (func)))"#);
    let items = [("root", root), ("broken", broken)];
    let set = parse(&items);
    let link = run(&set, &[true, false], &Options::default()).unwrap();
    assert_eq!(link.kept[id(&set, 1)], None);
    // Kept, it is an error.
    let err = run(&set, &[true, true], &Options::default()).unwrap_err();
    assert!(err.to_string().contains("`nowhere`"), "{err}");
}

#[test]
fn got_mem_needs_an_immutable_i32_global() {
    let def = lib(r#"(module (@dylink.0) (global (export "d") (mut i32) (i32.const 8)))"#);
    let user = lib(r#"(module (@dylink.0) (import "GOT.mem" "d" (global (mut i32))))"#);
    let items = [("user", user), ("libdef.so", def)];
    let set = parse(&items);
    let err = run(&set, &[true, false], &Options::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("`libdef.so` exports global mut i32"), "{msg}");
}

#[test]
fn duplicates_name_the_definition_actually_used() {
    // `f` is defined with two types; the import binds to the one that fits, and only the
    // other definition of the same kind and a strong binding counts as a duplicate.
    let a = lib(r#"(module (@dylink.0) (func (export "f") (param i64)))"#);
    let b = lib(r#"(module (@dylink.0) (func (export "f") (param i32)))"#);
    let c = lib(r#"(module (@dylink.0) (func (export "f") (param i32)))"#);
    let user = lib(r#"(module (@dylink.0) (import "env" "f" (func (param i32))))"#);
    let items = [("user", user), ("a", a), ("b", b), ("c", c)];
    let set = parse(&items);
    let link = run(&set, &[true, false, false, false], &Options::default()).unwrap();
    assert_eq!(callee(&link.bindings[id(&set, 0)][0]), Some(2));
    assert_eq!(link.duplicates.len(), 1);
    assert_eq!(link.duplicates[0].winner, id(&set, 2));
    assert_eq!(link.duplicates[0].losers, [id(&set, 3)]);
}

#[test]
fn duplicate_symbols_can_be_errors() {
    let a = lib(&format!("(module (@dylink.0) {ADD})"));
    let user = lib(r#"(module (@dylink.0) (import "env" "f" (func (param i32) (result i32))))"#);
    let items = [("user", user), ("liba.so", a.clone()), ("libb.so", a)];
    let set = parse(&items);
    let options = Options {
        duplicate_symbols_are_errors: true,
        ..Options::default()
    };
    let err = run(&set, &[true], &options).unwrap_err().to_string();
    assert!(
        err.contains("symbol `f` is defined by `liba.so` and also by `libb.so`"),
        "{err}"
    );
}

#[test]
fn unresolved_imports_are_grouped_by_library_with_a_stub_hint() {
    let a = lib(r#"(module (@dylink.0) (import "env" "x" (func)) (import "env" "y" (func)))"#);
    let b = lib(r#"(module (@dylink.0) (import "GOT.mem" "z" (global (mut i32))))"#);
    let items = [("liba.so", a), ("libb.so", b)];
    let set = parse(&items);
    let err = run(&set, &[true, true], &Options::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("library `liba.so` has 2 unresolved imports:\n      `env.x` (function [] -> []): no library defines `x`\n      `env.y`"), "{err}");
    assert!(
        err.contains("library `libb.so` has 1 unresolved import:\n      `GOT.mem.z`"),
        "{err}"
    );
    assert!(err.contains("hint: --stub-missing-functions"), "{err}");
}

#[test]
fn tags_order_a_cycle_and_mutual_tags_are_an_error() {
    // a imports b's tag; b calls three functions of a. Shims would favour a first, but the tag
    // cannot be shimmed, so b goes first and the three calls take shims.
    let a = lib(r#"(module (@dylink.0 (needed "b"))
            (import "env" "g" (func))
            (import "env" "__cpp_exception" (tag (param i32)))
            (func (export "f1")) (func (export "f2")) (func (export "f3")))"#);
    let b = lib(r#"(module (@dylink.0 (needed "a"))
            (import "env" "f1" (func)) (import "env" "f2" (func)) (import "env" "f3" (func))
            (tag (export "__cpp_exception") (param i32))
            (func (export "g")))"#);
    let items = [("a", a), ("b", b)];
    let set = parse(&items);
    let link = run(&set, &[true, false], &Options::default()).unwrap();
    assert_eq!(positions(&link.instantiation_order), [1, 0]);
    // Each imports the other's tag: whichever goes second leaves the first unsatisfiable.
    let a = lib(r#"(module (@dylink.0 (needed "b"))
            (import "env" "tb" (tag (param i32)))
            (tag (export "ta") (param i32)))"#);
    let b = lib(r#"(module (@dylink.0 (needed "a"))
            (import "env" "ta" (tag (param i32)))
            (tag (export "tb") (param i32)))"#);
    let items = [("a", a), ("b", b)];
    let set = parse(&items);
    let err = run(&set, &[true, false], &Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("library `a` imports tag `tb` from `b`, which is instantiated later because of a dependency cycle"),
        "{err}"
    );
}

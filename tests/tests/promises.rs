//! weld's promises under odd inputs, one test per way they used to break: reserved module names,
//! duplicate component exports, address 0, private memories, data outside a library's region,
//! links that export nothing, error messages that grew quadratically, the component format's
//! limits, unsupported memories, misleading messages, and names that would drive the terminal.

use wasmtime::component::Val;
use weld_component::weld_graph::{Expected, LinkWarning, Problem, Unsupported};
use weld_component::{
    LimitError, LinkError, Linked, Linker, ReportWarning, SynthProblem, WorldErrorKind,
};
use weld_tests::{Running, embed_world};

/// The ABI imports every library has.
const ABI: &str = r#"
    (import "env" "memory" (memory 0))
    (import "env" "__indirect_function_table" (table 0 funcref))
    (import "env" "__stack_pointer" (global (mut i32)))
    (import "env" "__memory_base" (global i32))
    (import "env" "__table_base" (global i32))
"#;

/// Makes a library a pruning root without a WIT world.
const START: &str = r#"(func (export "_start"))"#;

fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(format!("(module {text})")).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A library: `dylink.0` annotations, the ABI imports, then `fields`.
fn dylib(dylink: &str, fields: &str) -> Vec<u8> {
    wat(&format!("(@dylink.0 {dylink}) {ABI} {fields}"))
}

/// A library exporting `run: func() -> s32` in its WIT world.
fn with_run(wasm: Vec<u8>) -> Vec<u8> {
    embed_world(
        wasm,
        "package test:run; world run { export run: func() -> s32; }",
        "run",
    )
}

fn link_with(
    libs: &[(&str, Vec<u8>)],
    configure: impl FnOnce(&mut Linker<'_>),
) -> Result<Linked, LinkError> {
    let mut linker = Linker::default();
    for (name, bytes) in libs {
        linker.library(*name, bytes.clone());
    }
    configure(&mut linker);
    linker.encode()
}

fn link(libs: &[(&str, Vec<u8>)]) -> Result<Linked, LinkError> {
    link_with(libs, |_| {})
}

/// Instantiates `component` and returns what its `run` export returns.
fn run(component: &[u8]) -> i32 {
    Running::new(component)
        .unwrap()
        .call_s32("run", &[])
        .unwrap()
}

fn problems(err: LinkError) -> Vec<Problem> {
    match err {
        LinkError::Resolve(e) => e.problems,
        other => panic!("expected a resolution error, got {other:?}"),
    }
}

#[test]
fn importing_from_the_encoders_main_module_is_refused_by_name() {
    let lib = dylib(
        "",
        &format!(r#"(import "__main_module__" "somefn" (func)) {START}"#),
    );
    let err = link(&[("lib.so", lib)]).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "library `lib.so` imports `__main_module__.somefn`: the module name `__main_module__` is reserved"
        ),
        "{err}"
    );
    assert!(matches!(
        problems(err).as_slice(),
        [Problem::ReservedModule { module, .. }] if module == "__main_module__"
    ));
}

#[test]
fn a_component_export_defined_twice_is_a_duplicate() {
    let returning = |value: i32| {
        with_run(dylib(
            "",
            &format!(r#"(func (export "run") (result i32) (i32.const {value}))"#),
        ))
    };
    let libs = [("liba.so", returning(1)), ("libb.so", returning(2))];
    let linked = link(&libs).unwrap();
    assert!(
        linked.report.warnings.iter().any(|w| matches!(w,
            ReportWarning::Duplicate(d) if d.symbol == "run" && d.winner == "liba.so" && d.losers == ["libb.so"])),
        "{:?}",
        linked.report.warnings
    );
    assert_eq!(run(&linked.component), 1);
    let err = link_with(&libs, |l| {
        l.duplicate_symbols_are_errors(true);
    })
    .unwrap_err();
    assert!(
        matches!(problems(err).as_slice(), [Problem::DuplicateSymbol { name, .. }] if name == "run")
    );
}

#[test]
fn no_data_is_placed_at_address_zero_even_without_a_stack() {
    // A data symbol at offset 0 of the first library, whose address is returned by `run`.
    let lib = with_run(dylib(
        "(mem-info (memory 16 0))",
        r#"(import "GOT.mem" "object" (global $object (mut i32)))
           (global (export "object") i32 (i32.const 0))
           (func (export "run") (result i32) (global.get $object))"#,
    ));
    let linked = link_with(&[("liba.so", lib)], |l| {
        l.stack_size(0);
    })
    .unwrap();
    let (base, _) = linked.report.libraries[0].bases.unwrap();
    assert!(base >= 16, "data at {base}");
    let address = run(&linked.component);
    assert_eq!(address, base as i32);
}

#[test]
fn a_private_memory_next_to_the_shared_one_links_and_runs() {
    let lib = with_run(dylib(
        "",
        r#"(memory $private 1)
           (func (export "run") (result i32)
             (i32.store $private (i32.const 8) (i32.const 42))
             (i32.store (i32.const 8) (i32.const 7))
             (i32.load $private (i32.const 8)))"#,
    ));
    let linked = link(&[("libprivate.so", lib)]).unwrap();
    assert_eq!(run(&linked.component), 42);
}

#[test]
fn data_written_past_the_declared_region_is_reserved() {
    // liba.so declares no data but writes 16 bytes at its base; libb.so, placed right after it
    // (it needs liba.so), has 16 zero-initialised bytes that must stay zero.
    let a = dylib(
        r#"(mem-info (memory 0 0))"#,
        r#"(data (global.get 1) "\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff")"#,
    );
    let b = with_run(dylib(
        r#"(mem-info (memory 16 0)) (needed "liba.so")"#,
        r#"(func (export "run") (result i32) (i32.load (global.get 1)))"#,
    ));
    let linked = link(&[("libb.so", b), ("liba.so", a)]).unwrap();
    assert_eq!(linked.report.instantiation_order, ["liba.so", "libb.so"]);
    assert!(
        linked.report.warnings.iter().any(|w| matches!(w,
            ReportWarning::Resolution(LinkWarning::DataPastRegion { library, declared: 0, written: 16 })
                if library == "liba.so")),
        "{:?}",
        linked.report.warnings
    );
    assert_eq!(run(&linked.component), 0);
}

#[test]
fn data_before_the_region_or_past_memory_is_an_error() {
    let segment = dylib(
        "(mem-info (memory 16 0))",
        &format!(r#"(data (offset (i32.add (global.get 1) (i32.const -16))) "abcd") {START}"#),
    );
    let err = link(&[("libneg.so", segment)]).unwrap_err();
    assert!(matches!(
        problems(err).as_slice(),
        [Problem::DataOutsideRegion {
            start: -16,
            len: 4,
            ..
        }]
    ));

    let symbol = |offset: i64| {
        dylib(
            "(mem-info (memory 16 0))",
            &format!(r#"(global (export "sym") i32 (i32.const {offset})) {START}"#),
        )
    };
    let err = link(&[("libneg.so", symbol(-8))]).unwrap_err();
    assert!(matches!(
        problems(err).as_slice(),
        [Problem::SymbolOutsideRegion { offset: -8, .. }]
    ));
    let err = link(&[("libhuge.so", symbol(0x7fff_0000))]).unwrap_err();
    let LinkError::Synth(e) = err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(e.problems.as_slice(), [SynthProblem::SymbolPastMemory { symbol, .. }] if symbol == "sym")
    );
    // Past the region but inside memory: a warning.
    let linked = link(&[("libpast.so", symbol(32))]).unwrap();
    assert!(
        linked.report.warnings.iter().any(|w| matches!(
            w,
            ReportWarning::Resolution(LinkWarning::SymbolPastRegion {
                offset: 32,
                size: 16,
                ..
            })
        )),
        "{:?}",
        linked.report.warnings
    );
}

#[test]
fn a_link_that_exports_nothing_is_an_error_that_says_why() {
    // A plain module (no dylink.0) and a library without a world: nothing is kept.
    let plain = wat(r#"(func (export "f"))"#);
    let lib = dylib("", r#"(func (export "g"))"#);
    let err = link(&[("plain.wasm", plain.clone()), ("lib.so", lib)]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("the component would export nothing"),
        "{text}"
    );
    assert!(
        text.contains(
            "\n  - `plain.wasm` (pruned): not a dynamic library (no dylink.0 section), no WIT world"
        ),
        "{text}"
    );
    assert!(
        text.contains("\n  - `lib.so` (pruned): no WIT world"),
        "{text}"
    );
    // A kept library without dylink.0 is a warning.
    let linked = link(&[(
        "plain.wasm",
        with_run(wat(r#"(func (export "run") (result i32) (i32.const 5))"#)),
    )])
    .unwrap();
    assert!(
        linked
            .report
            .warnings
            .iter()
            .any(|w| matches!(w, ReportWarning::NotDynamic { library } if library == "plain.wasm")),
        "{:?}",
        linked.report.warnings
    );
}

/// `n` libraries `lib{i}.so`, each needing `libc.so` and importing `printf` from it, the first
/// one a root.
fn needing_libc(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let fields = format!(
                r#"(import "env" "printf" (func (param i32) (result i32))) {}"#,
                if i == 0 { START } else { "" }
            );
            (
                format!("lib{i}.so"),
                dylib(r#"(needed "libc.so")"#, &fields),
            )
        })
        .collect()
}

#[test]
fn many_libraries_needing_a_missing_one_give_a_short_message() {
    let libs = needing_libc(2000);
    // Every library is kept (they all need each other through nothing but the root: link them
    // all as roots by NEEDED from the first).
    let libs: Vec<(&str, Vec<u8>)> = libs.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let err = link(&libs).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("`libc.so` is not among the inputs; add it")
            || text.contains("needs `libc.so`"),
        "{text}"
    );
    assert!(text.len() < 2_000, "{} bytes: {text}", text.len());
    assert!(!text.contains("hint: --stub-missing-functions"), "{text}");
}

#[test]
fn many_type_mismatches_give_a_short_message() {
    // n libraries define `foo` as data; n import it as a function.
    let n = 600;
    let mut libs: Vec<(String, Vec<u8>)> = Vec::new();
    let needed: String = (0..n).map(|i| format!(r#" "user{i}.so""#)).collect();
    libs.push(("root.so".into(), dylib(&format!("(needed{needed})"), START)));
    for i in 0..n {
        libs.push((
            format!("user{i}.so"),
            dylib(
                &format!(r#"(needed "data{i}.so")"#),
                r#"(import "env" "foo" (func))"#,
            ),
        ));
        libs.push((
            format!("data{i}.so"),
            dylib(
                "(mem-info (memory 4 0))",
                r#"(global (export "foo") i32 (i32.const 0))"#,
            ),
        ));
    }
    let libs: Vec<(&str, Vec<u8>)> = libs.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let err = link(&libs).unwrap_err();
    let text = err.to_string();
    assert!(text.len() < 4_000, "{} bytes", text.len());
    assert!(
        text.contains(&format!("imported by {n} libraries: `user0.so`")),
        "{text}"
    );
    assert!(text.contains(&format!("and {} more", n - 8)), "{text}");
}

#[test]
fn a_suggestion_is_never_the_library_that_needs() {
    let lib = dylib(r#"(needed "libside2.so")"#, START);
    let err = link(&[("libside1.so", lib)]).unwrap_err();
    assert!(
        matches!(problems(err).as_slice(), [Problem::MissingNeeded { similar, .. }] if similar.is_empty())
    );
}

#[test]
fn too_many_imports_for_one_instance_are_named() {
    let n = 100_001;
    let imports: String = (0..n)
        .map(|i| format!(r#"(import "env" "f{i}" (func))"#))
        .collect();
    let lib = dylib("", &format!("{imports} {START}"));
    for validate in [true, false] {
        let err = link_with(&[("libbig.so", lib.clone())], |l| {
            l.stub_missing_functions(true).validate(validate);
        })
        .unwrap_err();
        assert!(
            matches!(&err, LinkError::Limit(LimitError::ArgumentItems { library: Some(l), module, max: 100_000, .. })
                if l == "libbig.so" && module == "env"),
            "{err:?}"
        );
    }
}

#[test]
fn a_memory_with_custom_pages_is_unsupported() {
    let lib = wat(&format!(
        r#"(@dylink.0) (import "env" "memory" (memory 1 (pagesize 1))) {START}"#
    ));
    let err = link(&[("libpages.so", lib)]).unwrap_err();
    assert!(matches!(
        problems(err).as_slice(),
        [Problem::Unsupported {
            feature: Unsupported::CustomPageSize(0),
            ..
        }]
    ));
}

#[test]
fn a_data_symbol_imported_through_env_says_to_use_got_mem() {
    let user = dylib(
        r#"(needed "libdata.so")"#,
        &format!(r#"(import "env" "counter" (global i32)) {START}"#),
    );
    let data = dylib(
        "(mem-info (memory 4 0))",
        r#"(global (export "counter") i32 (i32.const 0))"#,
    );
    let err = link(&[("libuser.so", user), ("libdata.so", data)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "library `libuser.so` imports `env.counter` as a global, but `counter` is a data symbol (of `libdata.so`): data symbols are imported through `GOT.mem.counter`, as code compiled with -fPIC does"
    );
}

#[test]
fn a_malformed_world_is_reported_on_one_line() {
    let mut lib = dylib("", START);
    // A custom section `component-type` holding bytes that are not a component.
    let payload = [0x78, 0x9b, 0x34, 0xca, 1, 2, 3, 4];
    let mut section = vec![14u8];
    section.extend_from_slice(b"component-type");
    section.extend_from_slice(&payload);
    lib.push(0);
    lib.push(section.len() as u8);
    lib.extend_from_slice(&section);
    let err = link(&[("libworld.so", lib)]).unwrap_err();
    let LinkError::World(errors) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(errors[0].kind, WorldErrorKind::Decode);
    // wit-component's message holds a multi-line dump of the magic bytes: it is shown on one
    // line, readably (not with escaped newlines).
    let text = err.to_string();
    assert!(
        text.contains("expected=[0x0, 0x61, 0x73, 0x6d] actual=[0x78, 0x9b, 0x34, 0xca]"),
        "{text}"
    );
    assert!(!text.contains('\n') && !text.contains("\\u{a}"), "{text}");
}

#[test]
fn control_characters_in_names_are_escaped() {
    let lib = dylib(r#"(needed "libc.so")"#, START);
    let name = "lib\nweld: all good\u{1b}[2J.so";
    let err = link(&[(name, lib)]).unwrap_err();
    let text = err.to_string();
    assert!(!text.contains('\n') && !text.contains('\u{1b}'), "{text:?}");
    assert!(
        text.contains(r"lib\u{a}weld: all good\u{1b}[2J.so"),
        "{text}"
    );
}

#[test]
fn a_function_defined_only_with_another_type_is_stubbed_with_a_warning() {
    let user = with_run(dylib(
        r#"(needed "libdef.so")"#,
        r#"(import "env" "f" (func $f (param i32)))
           (func (export "run") (result i32) (call $f (i32.const 1)) (i32.const 0))"#,
    ));
    let def = dylib("", r#"(func (export "f") (param i64))"#);
    let libs = [("libuser.so", user), ("libdef.so", def)];
    // Without the option it is an error.
    let err = link(&libs).unwrap_err();
    assert!(matches!(
        problems(err).as_slice(),
        [Problem::TypeMismatch {
            expected: Expected::Entity(_),
            ..
        }]
    ));
    let linked = link_with(&libs, |l| {
        l.stub_missing_functions(true);
    })
    .unwrap();
    assert!(
        linked.report.warnings.iter().any(|w| matches!(w,
            ReportWarning::Resolution(LinkWarning::StubbedTypeMismatch { name, .. }) if name == "f")),
        "{:?}",
        linked.report.warnings
    );
    let err = Running::new(&linked.component)
        .unwrap()
        .call("run", &[])
        .unwrap_err();
    assert!(format!("{err:?}").contains("unreachable"), "{err:?}");
    let _ = Val::Bool(true);
}

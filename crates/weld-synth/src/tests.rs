use super::*;
use weld_graph::{LibId, Link, Options, ResolveError, resolve};
use weld_module::Library;

fn build(items: &[(&str, &str)], roots: &[bool]) -> (Vec<Vec<u8>>, Vec<String>) {
    let bytes = items
        .iter()
        .map(|(_, w)| wat::parse_str(w).unwrap())
        .collect();
    let names = items.iter().map(|(n, _)| n.to_string()).collect();
    let _ = roots;
    (bytes, names)
}

fn libs<'a>(bytes: &'a [Vec<u8>], names: &'a [String]) -> LibrarySet<'a> {
    LibrarySet::new(
        names
            .iter()
            .zip(bytes)
            .map(|(n, b)| (Library::parse(n, b).unwrap(), false)),
    )
}

/// Resolves `set` with `roots` by position.
fn run<'a>(set: &LibrarySet<'a>, roots: &[bool]) -> Result<Link<'a>, ResolveError> {
    let roots = set.per_lib(|id, _| roots.get(id.index()).copied().unwrap_or(false));
    resolve(set, &roots, &Options::default())
}

fn id(set: &LibrarySet<'_>, position: usize) -> LibId {
    set.id_at(position).unwrap()
}

fn with_stack(stack_size: u32) -> SynthOptions<'static> {
    SynthOptions {
        stack_size,
        ..SynthOptions::default()
    }
}

#[test]
fn layout_respects_alignment_and_order() {
    let (b, n) = build(
        &[
            (
                "a",
                r#"(module (@dylink.0 (mem-info (memory 3 0) (table 2 0))) (import "env" "__memory_base" (global i32)))"#,
            ),
            (
                "b",
                r#"(module (@dylink.0 (mem-info (memory 10 6) (table 1 2))))"#,
            ),
        ],
        &[true, true],
    );
    let libs = libs(&b, &n);
    let link = run(&libs, &[true, true]).unwrap();
    let l = layout(&libs, &link, &with_stack(96), &[]).unwrap();
    // Stack [0,96); a at 96 (align 1); b at 64-aligned 128.
    assert_eq!(
        l.memory_base.values().copied().collect::<Vec<_>>(),
        [96, 128]
    );
    // Slot 0 null; a's 2 slots at 1; b aligned to 4.
    assert_eq!(l.table_base.values().copied().collect::<Vec<_>>(), [1, 4]);
    assert_eq!(l.first_function_slot, 5);
    assert_eq!(l.heap_base, 144);
    assert_eq!(l.heap_end, 65536);
    assert_eq!(l.memory_pages, 1);
}

#[test]
fn memory_overflow_is_an_error() {
    let (b, n) = build(
        &[
            (
                "a",
                r#"(module (@dylink.0 (mem-info (memory 0xfff00000 0))))"#,
            ),
            (
                "b",
                r#"(module (@dylink.0 (mem-info (memory 0xfff00000 0))))"#,
            ),
        ],
        &[],
    );
    let libs = libs(&b, &n);
    let link = run(&libs, &[true, true]).unwrap();
    let err = layout(&libs, &link, &SynthOptions::default(), &[]).unwrap_err();
    assert!(err.to_string().contains("memory layout overflow"), "{err}");
}

#[test]
fn one_slot_per_function_shared_by_every_got_func() {
    let (b, n) = build(
        &[
            (
                "x",
                r#"(module (@dylink.0) (import "GOT.func" "f" (global (mut i32))))"#,
            ),
            (
                "y",
                r#"(module (@dylink.0) (import "GOT.func" "f" (global (mut i32))) (func (export "f")))"#,
            ),
        ],
        &[],
    );
    let libs = libs(&b, &n);
    let link = run(&libs, &[true, false]).unwrap();
    let out = synthesize(&libs, &link, &SynthOptions::default(), &[], &[]).unwrap();
    assert_eq!(out.layout.function_slots.len(), 1);
    assert_eq!(out.layout.table_size, 2);
    wasmparser::validate(&out.main).unwrap();
    wasmparser::validate(&out.init).unwrap();
    // Both libraries get the same main-module global.
    let got = |l: usize| {
        let inst = out
            .instances
            .iter()
            .find(|i| i.library == id(&libs, l))
            .unwrap();
        out.arg_items(inst, "GOT.func").unwrap()[0].source.clone()
    };
    // The GOT.func argument is shared by both libraries.
    assert_eq!(out.shared_args.len(), 1);
    assert_eq!(got(0), got(1));
}

#[test]
fn cycle_gets_a_shim_and_stubs_module_traps() {
    let (b, n) = build(
        &[
            (
                "a",
                r#"(module (@dylink.0 (needed "b")) (import "env" "g" (func (result i32))) (func (export "f") (result i32) call 0))"#,
            ),
            (
                "b",
                r#"(module (@dylink.0 (needed "a") (import-info "env" "w" binding-weak)) (import "env" "f" (func (result i32))) (import "env" "w" (func)) (func (export "g") (result i32) i32.const 7))"#,
            ),
        ],
        &[],
    );
    let libs = libs(&b, &n);
    let link = run(&libs, &[true, false]).unwrap();
    let out = synthesize(&libs, &link, &SynthOptions::default(), &[], &[]).unwrap();
    assert_eq!(out.import_shims.len(), 1);
    assert!(out.stubs.is_some());
    wasmparser::validate(&out.main).unwrap();
    wasmparser::validate(&out.init).unwrap();
    wasmparser::validate(out.stubs.as_ref().unwrap()).unwrap();
}

#[test]
fn unaligned_stack_size_is_an_error() {
    let (b, n) = build(&[("a", "(module (@dylink.0))")], &[]);
    let libs = libs(&b, &n);
    let link = run(&libs, &[true]).unwrap();
    let err = layout(&libs, &link, &with_stack(100), &[]).unwrap_err();
    assert!(err.to_string().contains("not a multiple of 16"), "{err}");
}

#[test]
fn function_exported_under_two_names_has_one_slot() {
    let (b, n) = build(
        &[
            (
                "x",
                r#"(module (@dylink.0) (import "GOT.func" "f" (global (mut i32))) (import "GOT.func" "g" (global (mut i32))))"#,
            ),
            (
                "y",
                r#"(module (@dylink.0) (func $f) (export "f" (func $f)) (export "g" (func $f)))"#,
            ),
        ],
        &[],
    );
    let libs = libs(&b, &n);
    let link = run(&libs, &[true, false]).unwrap();
    let out = synthesize(&libs, &link, &SynthOptions::default(), &[], &[]).unwrap();
    assert_eq!(out.layout.function_slots.len(), 1);
    assert_eq!(out.layout.slot_by_export.len(), 2);
    let inst = out
        .instances
        .iter()
        .find(|i| i.library == id(&libs, 0))
        .unwrap();
    let got = out.arg_items(inst, "GOT.func").unwrap();
    assert_eq!(got[0].source, got[1].source);
}

#[test]
fn memory_import_maximum_is_respected_or_reported() {
    let (b, n) = build(
        &[(
            "a",
            r#"(module (@dylink.0 (mem-info (memory 100 0))) (import "env" "memory" (memory 1 2)))"#,
        )],
        &[],
    );
    let libs = libs(&b, &n);
    let link = run(&libs, &[true]).unwrap();
    // The default 1 MiB stack needs 17 pages; the import allows 2.
    let err = synthesize(&libs, &link, &SynthOptions::default(), &[], &[]).unwrap_err();
    assert!(err.to_string().contains("at most 2 pages"), "{err}");
    // A 64 KiB stack fits.
    let out = synthesize(&libs, &link, &with_stack(65536), &[], &[]).unwrap();
    wasmparser::validate(&out.main).unwrap();
}

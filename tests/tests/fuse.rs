//! Fusion (weld-fuse): libraries fused into one dynamic library behave as when linked apart.

use weld_graph::LibrarySet;
use weld_module::Library;
use weld_tests::{PROGRAM, Running, fixture};

/// Fuses the fixture program's libraries into one library named `libprogram.so`.
fn fused_program(closed: bool) -> Vec<u8> {
    let bytes: Vec<(&str, Vec<u8>)> = PROGRAM.iter().map(|n| (*n, fixture(n))).collect();
    let set = LibrarySet::new(
        bytes
            .iter()
            .map(|(n, b)| (Library::parse(n, b).unwrap(), false)),
    );
    let parts: Vec<_> = set.ids().collect();
    let mut options = weld_fuse::FuseOptions::new("libprogram.so");
    options.closed = closed;
    let fused = weld_fuse::fuse(&set, &parts, &options).unwrap();
    if let Err(e) = wasmparser::validate(&fused.bytes) {
        std::fs::write("/tmp/fused-program.wasm", &fused.bytes).unwrap();
        panic!("the fused library does not validate: {e}");
    }
    fused.bytes
}

fn check_program(component: &[u8]) -> String {
    use wasmtime::component::Val;
    let mut run = Running::new(component).unwrap();
    assert_eq!(run.call_s32("app-counter", &[]).unwrap(), 101);
    assert_eq!(run.call_s32("base-ptr-value", &[]).unwrap(), 30);
    assert!(run.call_bool("fn-ptrs-equal").unwrap());
    assert_eq!(
        run.call_s32("call-through-pointer", &[Val::S32(2), Val::S32(3)])
            .unwrap(),
        5
    );
    assert_eq!(run.call_s32("ping", &[Val::S32(5)]).unwrap(), 7);
    run.call_string("init-log").unwrap()
}

#[test]
fn the_fused_program_runs_like_the_program() {
    for closed in [false, true] {
        let fused = fused_program(closed);
        let lib = Library::parse("libprogram.so", &fused).unwrap();
        assert!(lib.needed.is_empty(), "{:?}", lib.needed);
        let mut linker = weld_component::Linker::default();
        linker.library("libprogram.so", fused.as_slice());
        let linked = linker.encode().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(check_program(&linked.component), "BAPQM");
    }
}

#[test]
fn the_fused_program_links_with_wasm_tools_and_runs() {
    let fused = fused_program(false);
    let mut reference = wit_component::Linker::default();
    reference
        .library("libprogram.so", &fused, false)
        .unwrap()
        .encoder()
        .validate(true);
    let component = reference.encode().unwrap_or_else(|e| panic!("{e:#}"));
    // wit-component runs constructors in input order; inside the one fused library they run in
    // dependency order all the same.
    assert_eq!(check_program(&component), "BAPQM");
}

#[test]
fn every_wit_component_link_case_conforms_when_fused() {
    let cases = weld_tests::link_cases();
    assert_eq!(cases.len(), 32, "{cases:?}");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(
            |c| match weld_tests::conformance_in(weld_tests::Mode::Fused, c) {
                weld_tests::Verdict::Pass => None,
                weld_tests::Verdict::Fail(why) => Some(format!("{c}: {why}")),
            },
        )
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn libraries_with_thread_local_storage_after_the_first_are_linked_apart() {
    let dir = weld_tests::wit_component_suite().join("link-wasip3-tls");
    let mut linker = weld_component::Linker::default();
    linker.fuse(true);
    for lib in weld_tests::prepare_case(&dir).unwrap() {
        linker.library(lib.name, lib.wasm);
    }
    let linked = linker.encode().unwrap_or_else(|e| panic!("{e}"));
    let fusion = linked.report.fusion.clone().unwrap();
    // `c` and `foo` both own TLS; `foo` needs `c`, so `c` comes first and is fused.
    assert_eq!(fusion.parts, ["c", "none"]);
    assert_eq!(fusion.apart, ["foo"]);
    // Each keeps its slot: the TLS accessors of two libraries are in the main module.
    let lines = linked.report.lines().join("\n");
    assert!(lines.contains("apart foo"), "{lines}");
}

#[test]
fn calls_between_libraries_give_the_same_results_fused() {
    let libs = [
        ("libcaller.so", fixture("libcaller.so")),
        ("libcallee.so", fixture("libcallee.so")),
    ];
    // What `calls(n)` returns (tests/fixtures/src/caller.c).
    let expected = |n: i32| {
        let (mut acc, mut mix) = (0i32, 0i32);
        for i in 0..n {
            acc += 1;
            mix = (mix ^ i) + 3;
        }
        acc + (mix & 0xff)
    };
    for mode in weld_tests::MODES {
        let linked = weld_tests::weld_link_in(mode, &libs).unwrap_or_else(|e| panic!("{e}"));
        let mut run = Running::new(&linked.component).unwrap();
        for n in [0, 1, 1000] {
            let got = run
                .call_s32("calls", &[wasmtime::component::Val::S32(n)])
                .unwrap();
            assert_eq!(got, expected(n), "{mode:?}, n = {n}");
        }
    }
}

//! End to end: the C fixture program (five libraries with a NEEDED cycle, GOT data, function
//! pointers and constructors) linked by weld and run in wasmtime — each library apart, and all
//! fused into one core module, with the same results.

use wasmtime::component::Val;
use weld_tests::{
    MODES, Mode, PROGRAM, Running, fixture, weld_link, weld_link_fixtures, weld_link_fixtures_in,
    weld_link_in,
};

/// Runs every export of the fixture world and checks its result. Returns the init log.
fn check_program(mode: Mode, order: &[&str]) -> String {
    let component = weld_link_fixtures_in(mode, order);
    let mut run =
        Running::new(&component).unwrap_or_else(|e| panic!("{order:?} ({mode:?}): {e:#}"));
    // libapp's constructor increments libbase's counter (set to 100 by libbase's constructor):
    // 101 only if libbase's constructor ran first.
    assert_eq!(run.call_s32("app-counter", &[]).unwrap(), 101, "{order:?}");
    // A pointer stored in data: needs __wasm_apply_data_relocs with the right __memory_base.
    assert_eq!(
        run.call_s32("base-ptr-value", &[]).unwrap(),
        30,
        "{order:?}"
    );
    // &base_add taken in libbase and in libapp: one table slot.
    assert!(run.call_bool("fn-ptrs-equal").unwrap(), "{order:?}");
    assert_eq!(
        run.call_s32("call-through-pointer", &[Val::S32(2), Val::S32(3)])
            .unwrap(),
        5,
        "{order:?}"
    );
    assert_eq!(
        run.call_s32("call-through-pointer", &[Val::S32(-7), Val::S32(10)])
            .unwrap(),
        3
    );
    // Mutual recursion across the libping <-> libpong cycle.
    assert_eq!(
        run.call_s32("ping", &[Val::S32(5)]).unwrap(),
        7,
        "{order:?}"
    );
    assert_eq!(run.call_s32("ping", &[Val::S32(0)]).unwrap(), 0);
    run.call_string("init-log").unwrap()
}

fn assert_dependencies_first(log: &str, order: &[&str]) {
    let mut sorted: Vec<char> = log.chars().collect();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ['A', 'B', 'M', 'P', 'Q'],
        "each constructor exactly once: {log} {order:?}"
    );
    let at = |c| log.find(c).unwrap();
    assert_eq!(at('B'), 0, "libbase first: {log} {order:?}");
    assert!(at('A') > at('B'), "{log} {order:?}");
    assert_eq!(at('M'), 4, "libmain last: {log} {order:?}");
}

#[test]
fn runs_in_dependency_order() {
    for mode in MODES {
        let log = check_program(mode, PROGRAM);
        assert_eq!(log, "BAPQM", "{mode:?}");
    }
}

#[test]
fn runs_with_inputs_reversed() {
    let mut order = PROGRAM.to_vec();
    order.reverse();
    for mode in MODES {
        let log = check_program(mode, &order);
        assert_dependencies_first(&log, &order);
        // Ties go by input order (libpong, libping and libapp all only need libbase once it
        // has run; the cycle is given first), and the NEEDED cycle is broken by input order
        // too: libpong is given before libping.
        assert_eq!(log, "BQPAM", "{mode:?}");
    }
}

#[test]
fn runs_in_every_rotation_with_an_unused_library() {
    let mut all = PROGRAM.to_vec();
    all.push("libunused.so");
    for r in 0..all.len() {
        let mut order = all.clone();
        order.rotate_left(r);
        for mode in MODES {
            let log = check_program(mode, &order);
            assert_dependencies_first(&log, &order);
        }
    }
}

#[test]
fn unused_library_is_pruned() {
    let mut order = PROGRAM.to_vec();
    order.push("libunused.so");
    let libs: Vec<(&str, Vec<u8>)> = order.iter().map(|n| (*n, fixture(n))).collect();
    for mode in MODES {
        let linked = weld_link_in(mode, &libs).unwrap();
        let unused = linked
            .report
            .libraries
            .iter()
            .position(|l| l.name == "libunused.so")
            .unwrap();
        assert_eq!(linked.report.libraries[unused].kept, None);
        assert_eq!(linked.report.instantiation_order.len(), 5);
        // The pruned library's code is not in the output: its one function's body is not.
        let unused_bytes = fixture("libunused.so");
        assert!(
            !linked
                .component
                .windows(unused_bytes.len())
                .any(|w| w == unused_bytes.as_slice())
        );
        if mode == Mode::Fused {
            let fusion = linked.report.fusion.as_ref().unwrap();
            assert!(!fusion.parts.iter().any(|p| p == "libunused.so"));
            assert_eq!(fusion.parts.len(), 5);
        }
    }
}

#[test]
fn output_is_deterministic() {
    for mode in MODES {
        let a = weld_link_fixtures_in(mode, PROGRAM);
        let b = weld_link_fixtures_in(mode, PROGRAM);
        assert_eq!(a, b, "{mode:?}");
    }
}

#[test]
fn library_bytes_are_embedded_unchanged() {
    let component = weld_link_fixtures(PROGRAM);
    for name in PROGRAM {
        let bytes = fixture(name);
        assert!(
            component
                .windows(bytes.len())
                .any(|w| w == bytes.as_slice()),
            "{name} is not embedded verbatim"
        );
    }
}

#[test]
fn missing_needed_library_is_an_error() {
    let libs: Vec<(&str, Vec<u8>)> = ["libmain.so", "libapp.so", "libping.so", "libpong.so"]
        .iter()
        .map(|n| (*n, fixture(n)))
        .collect();
    let err = weld_link(&libs).unwrap_err().to_string();
    // The cause comes first, once, with every library needing it.
    assert!(
        err.contains(
            "\n  - `libbase.so` is not among the inputs; add it (it is in the dylink.0 NEEDED of 4 libraries: `libmain.so`, `libapp.so`, `libping.so`, `libpong.so`)"
        ),
        "{err}"
    );
}

#[test]
fn start_is_reexported_by_the_main_module() {
    let lib = wat::parse_str(
        r#"(module (@dylink.0) (import "env" "memory" (memory 0)) (func (export "_start")))"#,
    )
    .unwrap();
    let linked = weld_link(&[("cmd.so", lib)]).unwrap();
    // The main module is the encoder's first module; find its exports.
    let mut depth = 0;
    let mut main_exports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&linked.component) {
        match payload.unwrap() {
            wasmparser::Payload::ModuleSection { .. } => depth += 1,
            wasmparser::Payload::ExportSection(r) if depth == 1 && main_exports.is_empty() => {
                main_exports = r.into_iter().map(|e| e.unwrap().name.to_string()).collect();
            }
            wasmparser::Payload::End(_) if depth > 0 => depth -= 1,
            _ => {}
        }
    }
    assert!(
        main_exports.iter().any(|e| e == "_start"),
        "{main_exports:?}"
    );
}

//! Stubs for missing functions, weak and `--stub-missing-functions`, run in wasmtime.

use weld_tests::{MODES, Mode, Running, embed_world};

const WIT: &str = "package weld:stubs; world w {
  export addr: func() -> s32;
  export call-direct: func() -> s32;
  export call-pointer: func() -> s32;
  export weak-addr: func() -> s32;
}";

/// `gone` is imported strongly through `env` and `GOT.func`; `maybe` weakly through both.
const LIB: &str = r#"(module
  (@dylink.0
    (import-info "env" "maybe" binding-weak)
    (import-info "GOT.func" "maybe" binding-weak))
  (import "env" "memory" (memory 0))
  (import "env" "__indirect_function_table" (table 0 funcref))
  (import "env" "gone" (func $gone (result i32)))
  (import "GOT.func" "gone" (global $gone_addr (mut i32)))
  (import "env" "maybe" (func $maybe (result i32)))
  (import "GOT.func" "maybe" (global $maybe_addr (mut i32)))
  (type $t (func (result i32)))
  (func (export "addr") (result i32) global.get $gone_addr)
  (func (export "call-direct") (result i32) call $gone)
  (func (export "call-pointer") (result i32) (call_indirect (type $t) (global.get $gone_addr)))
  (func (export "weak-addr") (result i32) global.get $maybe_addr))"#;

fn link(mode: Mode, stub: bool) -> Result<weld_component::Linked, weld_component::LinkError> {
    let lib = embed_world(wat::parse_str(LIB).unwrap(), WIT, "w");
    let mut linker = weld_component::Linker::default();
    linker
        .library("libuser.so", lib)
        .stub_missing_functions(stub)
        .fuse(mode == Mode::Fused);
    linker.encode()
}

#[test]
fn missing_functions_are_an_error_without_the_option() {
    for mode in MODES {
        let err = link(mode, false).unwrap_err().to_string();
        assert!(err.contains("`env.gone`"), "{err}");
        assert!(err.contains("`GOT.func.gone`"), "{err}");
        assert!(!err.contains("maybe"), "weak imports are fine: {err}");
        assert!(err.contains("hint: --stub-missing-functions"), "{err}");
    }
}

#[test]
fn stubs_trap_and_have_a_real_address() {
    for mode in MODES {
        check_stubs(mode);
    }
}

fn check_stubs(mode: Mode) {
    let linked = link(mode, true).unwrap();
    assert_eq!(linked.report.stubs.len(), 2, "{:?}", linked.report.stubs);
    let mut run = Running::new(&linked.component).unwrap();
    // A weak undefined function's address is NULL, as in ELF.
    assert_eq!(run.call_s32("weak-addr", &[]).unwrap(), 0, "{mode:?}");
    // A stubbed function has a non-null address...
    assert_ne!(run.call_s32("addr", &[]).unwrap(), 0, "{mode:?}");
    // ...and calling it, directly or through the pointer, traps.
    let err = format!("{:?}", run.call_s32("call-pointer", &[]).unwrap_err());
    assert!(err.contains("unreachable"), "{err}");
    let mut run = Running::new(&linked.component).unwrap();
    let err = format!("{:?}", run.call_s32("call-direct", &[]).unwrap_err());
    assert!(err.contains("unreachable"), "{err}");
}

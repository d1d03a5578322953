//! A command: a library calling WASI preview 1 (`wasi_snapshot_preview1.fd_write`) and exporting
//! `_start`, linked with the preview-1 command adapter and run by wasmtime's `wasi:cli/run`.

use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
};
use weld_tests::{MODES, Mode, run_command};

/// `_start` calls `greet` in another library, which writes its greeting with `fd_write`; the
/// libraries form a cycle (greet calls back into the program for the text's length).
const PROGRAM: &str = r#"(module
  (@dylink.0 (mem-info (memory 0 0)) (needed "libgreet.so"))
  (import "env" "memory" (memory 0))
  (import "env" "greet" (func $greet))
  (func (export "greeting_len") (result i32) i32.const 16)
  (func (export "_start") call $greet))"#;

const GREET: &str = r#"(module
  (@dylink.0 (mem-info (memory 32 2)) (needed "libprogram.so"))
  (import "env" "memory" (memory 0))
  (import "env" "__memory_base" (global $base i32))
  (import "env" "greeting_len" (func $len (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  ;; 0: iovec {ptr, len}; 8: bytes written; 16: the text
  (data (global.get $base) "\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00hello from weld\n")
  (func (export "greet")
    (i32.store (global.get $base) (i32.add (global.get $base) (i32.const 16)))
    (i32.store offset=4 (global.get $base) (call $len))
    (drop (call $fd_write (i32.const 1) (global.get $base) (i32.const 1)
      (i32.add (global.get $base) (i32.const 8))))))"#;

#[test]
fn command_with_preview1_adapter_prints() {
    for mode in MODES {
        let mut linker = weld_component::Linker::default();
        linker
            .library("libprogram.so", wat::parse_str(PROGRAM).unwrap())
            .library("libgreet.so", wat::parse_str(GREET).unwrap())
            .adapter(
                WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER.to_vec(),
            )
            .fuse(mode == Mode::Fused);
        let linked = linker.encode().unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        let (ok, out) = run_command(&linked.component).unwrap();
        assert!(ok, "{mode:?}");
        assert_eq!(out, "hello from weld\n", "{mode:?}");
    }
}

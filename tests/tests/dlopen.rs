//! dlopen/dlsym through weld's built-in libdl and the dlopen table, run in wasmtime.

use weld_tests::{Running, embed_world};

/// A dl-openable plugin: a function `f` (returns 42), another name `g` for the same function, and
/// a data symbol `d` (an i32 holding 1234 at offset 4 of its data).
const PLUGIN: &str = r#"(module
  (@dylink.0 (mem-info (memory 8 2)))
  (import "env" "memory" (memory 0))
  (import "env" "__memory_base" (global $base i32))
  (func $f (result i32) i32.const 42)
  (export "f" (func $f))
  (export "g" (func $f))
  (global (export "d") i32 (i32.const 4))
  (data (global.get $base) "\00\00\00\00\d2\04\00\00"))"#;

/// The root: `check` runs a list of dlopen/dlsym checks and returns a bit per passed check.
const MAIN: &str = r#"(module
  (@dylink.0 (mem-info (memory 64 2)))
  (import "env" "memory" (memory 0))
  (import "env" "__indirect_function_table" (table 0 funcref))
  (import "env" "__memory_base" (global $base i32))
  (import "env" "dlopen" (func $dlopen (param i32 i32) (result i32)))
  (import "env" "dlsym" (func $dlsym (param i32 i32) (result i32)))
  (import "env" "dlclose" (func $dlclose (param i32) (result i32)))
  (import "env" "dlerror" (func $dlerror (result i32)))
  (import "GOT.func" "f" (global $got_f (mut i32)))
  (type $ret_i32 (func (result i32)))
  ;; 0: "plugin.so\0", 16: "f\0", 20: "d\0", 24: "nope\0", 32: "g\0"
  (data (global.get $base) "plugin.so\00\00\00\00\00\00\00f\00\00\00d\00\00\00nope\00\00\00\00g\00")
  (func (export "check") (result i32)
    (local $h i32) (local $p i32) (local $bits i32)
    (local.set $h (call $dlopen (global.get $base) (i32.const 2)))
    ;; bit 0: the library opens
    (if (local.get $h) (then (local.set $bits (i32.const 1))))
    ;; bit 1: dlsym(f) calls the function
    (local.set $p (call $dlsym (local.get $h) (i32.add (global.get $base) (i32.const 16))))
    (if (i32.eq (call_indirect (type $ret_i32) (local.get $p)) (i32.const 42))
      (then (local.set $bits (i32.or (local.get $bits) (i32.const 2)))))
    ;; bit 2: dlsym(f) is the same pointer as &f through GOT.func
    (if (i32.eq (local.get $p) (global.get $got_f))
      (then (local.set $bits (i32.or (local.get $bits) (i32.const 4)))))
    ;; bit 3: another name of the same function is the same pointer
    (if (i32.eq (local.get $p)
          (call $dlsym (local.get $h) (i32.add (global.get $base) (i32.const 32))))
      (then (local.set $bits (i32.or (local.get $bits) (i32.const 8)))))
    ;; bit 4: dlsym(d) is the data symbol's absolute address
    (if (i32.eq (i32.load (call $dlsym (local.get $h) (i32.add (global.get $base) (i32.const 20))))
          (i32.const 1234))
      (then (local.set $bits (i32.or (local.get $bits) (i32.const 16)))))
    ;; bit 5: an unknown symbol is NULL with an error
    (if (i32.and
          (i32.eqz (call $dlsym (local.get $h) (i32.add (global.get $base) (i32.const 24))))
          (i32.ne (call $dlerror) (i32.const 0)))
      (then (local.set $bits (i32.or (local.get $bits) (i32.const 32)))))
    ;; bit 6: the error is reported once
    (if (i32.eqz (call $dlerror))
      (then (local.set $bits (i32.or (local.get $bits) (i32.const 64)))))
    ;; bit 7: an unknown library is NULL
    (if (i32.eqz (call $dlopen (i32.add (global.get $base) (i32.const 24)) (i32.const 2)))
      (then (local.set $bits (i32.or (local.get $bits) (i32.const 128)))))
    ;; bit 8: unsupported flags are refused (RTLD_NOLOAD = 4)
    (if (i32.eqz (call $dlopen (global.get $base) (i32.const 4)))
      (then (local.set $bits (i32.or (local.get $bits) (i32.const 256)))))
    ;; bit 9: RTLD_GLOBAL | RTLD_LAZY is accepted and gives the same handle
    (if (i32.eq (call $dlopen (global.get $base) (i32.const 257)) (local.get $h))
      (then (local.set $bits (i32.or (local.get $bits) (i32.const 512)))))
    ;; bit 10: dlclose accepts the handle and refuses garbage
    (if (i32.and (i32.eqz (call $dlclose (local.get $h)))
                 (i32.ne (call $dlclose (i32.add (local.get $h) (i32.const 4))) (i32.const 0)))
      (then (local.set $bits (i32.or (local.get $bits) (i32.const 1024)))))
    local.get $bits))"#;

const WIT: &str = "package weld:dl; world main { export check: func() -> s32; }";

fn link(extra_unused: bool) -> weld_component::Linked {
    let main = embed_world(wat::parse_str(MAIN).unwrap(), WIT, "main");
    let plugin = wat::parse_str(PLUGIN).unwrap();
    let mut linker = weld_component::Linker::default();
    linker
        .library("main.so", main)
        .dl_openable("plugin.so", plugin)
        .use_built_in_libdl(true);
    if extra_unused {
        linker.library(
            "unused.so",
            wat::parse_str(r#"(module (@dylink.0) (func (export "u")))"#).unwrap(),
        );
    }
    linker.encode().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn dlopen_dlsym_dlclose_dlerror() {
    let linked = link(true);
    let mut run = Running::new(&linked.component).unwrap();
    let bits = run.call_s32("check", &[]).unwrap();
    assert_eq!(bits, 0x7ff, "failed checks: {:#b}", !bits & 0x7ff);
    // The unused library is pruned, the dl-openable one and libdl are kept.
    let kept: Vec<_> = linked
        .report
        .libraries
        .iter()
        .filter(|l| l.kept.is_some())
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(kept, ["main.so", "plugin.so", "libdl.so"]);
}

#[test]
fn dl_openable_library_is_a_root_even_when_unreferenced() {
    let plugin = wat::parse_str(PLUGIN).unwrap();
    let mut linker = weld_component::Linker::default();
    linker.dl_openable("plugin.so", plugin);
    let linked = linker.encode().unwrap();
    assert_eq!(
        linked.report.libraries[0].kept,
        Some(weld_component::Kept::Root(
            weld_component::RootReason::DlOpenable
        ))
    );
}

#[test]
fn an_input_named_libdl_so_with_the_built_in_libdl_is_an_error() {
    let mut linker = weld_component::Linker::default();
    linker
        .library("libdl.so", wat::parse_str(PLUGIN).unwrap())
        .use_built_in_libdl(true);
    let err = linker.encode().unwrap_err();
    assert!(
        matches!(err, weld_component::LinkError::LibdlNameTaken(_)),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the name `libdl.so` is taken by weld's built-in libdl (--use-built-in-libdl): leave out \
         the input named `libdl.so` to use the built-in libdl, or drop --use-built-in-libdl to \
         use that input"
    );
}

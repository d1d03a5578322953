//! dlopen/dlsym through weld's built-in libdl and the dlopen table, run in wasmtime — with
//! the libraries linked apart and fused into one core module.

use std::cell::Cell;

use wasmtime::component::Val;
use weld_tests::{MODES, Mode, Running, embed_world};

thread_local! {
    /// How the links of the running test are made.
    static MODE: Cell<Mode> = const { Cell::new(Mode::Apart) };
}

/// Runs `check` with every library linked apart, then with the kept libraries fused into one
/// core module: dlopen, dlsym and constructor order must not tell the difference.
fn in_both_modes(check: impl Fn()) {
    for mode in MODES {
        eprintln!("links: {mode:?}");
        MODE.set(mode);
        check();
    }
}

/// A linker in the running test's mode.
fn linker() -> weld_component::Linker<'static> {
    let mut linker = weld_component::Linker::default();
    linker.fuse(MODE.get() == Mode::Fused);
    linker
}

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
    ;; bit 8: a mode without RTLD_LAZY or RTLD_NOW is refused (RTLD_NOLOAD = 4 alone)
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
    let mut linker = linker();
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
    in_both_modes(|| {
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
    });
}

#[test]
fn dl_openable_library_is_a_root_even_when_unreferenced() {
    in_both_modes(|| {
        let plugin = wat::parse_str(PLUGIN).unwrap();
        // A program that does not refer to the plugin (a component exporting nothing at all would
        // be an error).
        let program = wat::parse_str(r#"(module (@dylink.0) (func (export "_start")))"#).unwrap();
        let mut linker = linker();
        linker
            .dl_openable("plugin.so", plugin)
            .library("program.so", program);
        let linked = linker.encode().unwrap();
        assert_eq!(
            linked.report.libraries[0].kept,
            Some(weld_component::Kept::Root(
                weld_component::RootReason::DlOpenable
            ))
        );
    });
}

/// `f` defined weakly by the first library and strongly by the second; the root checks
/// `dlsym(RTLD_DEFAULT, "f")` against `&f` and the message of a name longer than libdl's
/// message buffer.
const WEAK_F: &str = r#"(module (@dylink.0 (export-info "f" binding-weak))
  (func (export "f") (result i32) i32.const 1))"#;
const STRONG_F: &str = r#"(module (@dylink.0) (func (export "f") (result i32) i32.const 2))"#;
const SCOPE_MAIN: &str = r#"(module
  (@dylink.0 (mem-info (memory 512 2)) (needed "weak.so" "strong.so"))
  (import "env" "memory" (memory 1))
  (import "env" "__indirect_function_table" (table 0 funcref))
  (import "env" "__memory_base" (global $base i32))
  (import "env" "dlsym" (func $dlsym (param i32 i32) (result i32)))
  (import "env" "dlerror" (func $dlerror (result i32)))
  (import "GOT.func" "f" (global $got_f (mut i32)))
  (type $ret_i32 (func (result i32)))
  (data (global.get $base) "f\00")
  ;; "check": bit 0: dlsym(RTLD_DEFAULT, "f") == &f; bit 1: it is the strong definition.
  (func (export "check") (result i32)
    (local $p i32) (local $bits i32)
    (local.set $p (call $dlsym (i32.const 0) (global.get $base)))
    (if (i32.eq (local.get $p) (global.get $got_f))
      (then (local.set $bits (i32.const 1))))
    (if (i32.eq (call_indirect (type $ret_i32) (local.get $p)) (i32.const 2))
      (then (local.set $bits (i32.or (local.get $bits) (i32.const 2)))))
    local.get $bits)
  ;; "long-name": dlsym of a 400-byte name; the length of dlerror()'s message.
  (func (export "long-name") (result i32)
    (local $name i32) (local $e i32) (local $n i32)
    (local.set $name (i32.add (global.get $base) (i32.const 4)))
    (memory.fill (local.get $name) (i32.const 120) (i32.const 400))
    (i32.store8 (i32.add (local.get $name) (i32.const 400)) (i32.const 0))
    (drop (call $dlsym (i32.const 0) (local.get $name)))
    (local.set $e (call $dlerror))
    (block (loop
      (br_if 1 (i32.eqz (i32.load8_u (i32.add (local.get $e) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br 0)))
    local.get $n))"#;

fn link_scope(weak_first: bool) -> weld_component::Linked {
    let wit = "package weld:dl; world main { export check: func() -> s32; export long-name: func() -> s32; }";
    let main = embed_world(wat::parse_str(SCOPE_MAIN).unwrap(), wit, "main");
    let mut linker = linker();
    linker.library("main.so", main);
    let (weak, strong) = (
        wat::parse_str(WEAK_F).unwrap(),
        wat::parse_str(STRONG_F).unwrap(),
    );
    if weak_first {
        linker.library("weak.so", weak).library("strong.so", strong);
    } else {
        linker.library("strong.so", strong).library("weak.so", weak);
    }
    linker.use_built_in_libdl(true);
    linker.encode().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn rtld_default_prefers_a_strong_definition_as_the_linker_does() {
    in_both_modes(|| {
        for weak_first in [true, false] {
            let linked = link_scope(weak_first);
            // Both definitions are loaded at start (main.so NEEDS both).
            assert!(linked.report.libraries.iter().all(|l| l.kept.is_some()));
            let mut run = Running::new(&linked.component).unwrap();
            assert_eq!(
                run.call_s32("check", &[]).unwrap(),
                3,
                "weak first: {weak_first}"
            );
        }
    });
}

#[test]
fn a_message_naming_a_long_symbol_is_truncated() {
    in_both_modes(|| {
        let mut run = Running::new(&link_scope(true).component).unwrap();
        // The message buffer holds 255 bytes and the NUL.
        assert_eq!(run.call_s32("long-name", &[]).unwrap(), 255);
    });
}

// ---------------------------------------------------------------------------------------------
// The C fixtures (tests/fixtures/src/dl*.c): libdlmain.so wraps <dlfcn.h> in WIT exports.

/// `<dlfcn.h>` as wasi-libc defines it (`RTLD_LOCAL` is 8 for WASI).
const RTLD_LAZY: i32 = 1;
const RTLD_NOW: i32 = 2;
const RTLD_NOLOAD: i32 = 4;
const RTLD_LOCAL: i32 = 8;
const RTLD_GLOBAL: i32 = 256;
const RTLD_NODELETE: i32 = 4096;
const RTLD_DEFAULT: i32 = 0;
const RTLD_NEXT: i32 = -1;

/// Libraries, numbered as dlmain.c does (0 is NULL, the program).
const PROGRAM: i32 = 0;
const PLUGIN1: i32 = 1;
const PLUGIN2: i32 = 2;
const HELPER: i32 = 3;
const NO_LIBRARY: i32 = 4;

/// Symbols, numbered as dlmain.c does.
const WHOAMI: i32 = 0;
const PLUGIN_ONLY: i32 = 1;
const BASE_ADD: i32 = 2;
const BASE_COUNTER: i32 = 3;
const OVERRIDABLE: i32 = 4;
const NO_SYMBOL: i32 = 5;
const DLOPEN: i32 = 6;
const NULL_NAME: i32 = 7;

/// The dlopen fixtures linked with the built-in libdl: libdlhelper.so (NEEDED by libdlmain.so)
/// and the two plugins (NEEDED by nobody) are dl-openable. libdlmain.so comes first unless
/// `helper_first`.
fn link_fixtures(helper_first: bool, built_in_libdl: bool) -> weld_component::Linked {
    let mut linker = linker();
    let helper = weld_tests::fixture("libdlhelper.so");
    if helper_first {
        linker.dl_openable("libdlhelper.so", helper.clone());
    }
    linker
        .library("libdlmain.so", weld_tests::fixture("libdlmain.so"))
        .library("libbase.so", weld_tests::fixture("libbase.so"));
    if !helper_first {
        linker.dl_openable("libdlhelper.so", helper);
    }
    linker
        .dl_openable("libdlplugin.so", weld_tests::fixture("libdlplugin.so"))
        .dl_openable("libdlplugin2.so", weld_tests::fixture("libdlplugin2.so"));
    if built_in_libdl {
        linker.use_built_in_libdl(true);
    } else {
        // dlopen & co. trap: only the constructors matter.
        linker.stub_missing_functions(true);
    }
    linker.encode().unwrap_or_else(|e| panic!("{e}"))
}

/// A running instance of the dlopen fixtures.
struct Dl(Running);

impl Dl {
    fn start() -> Dl {
        Dl::of(&link_fixtures(false, true))
    }

    fn of(linked: &weld_component::Linked) -> Dl {
        Dl(Running::new(&linked.component).unwrap_or_else(|e| panic!("{e:#}")))
    }

    fn s32(&mut self, name: &str, args: &[i32]) -> i32 {
        let args: Vec<Val> = args.iter().map(|&a| Val::S32(a)).collect();
        self.0
            .call_s32(name, &args)
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    fn open(&mut self, lib: i32, flags: i32) -> i32 {
        self.s32("dl-open", &[lib, flags])
    }

    fn sym(&mut self, handle: i32, sym: i32) -> i32 {
        self.s32("dl-sym", &[handle, sym])
    }

    fn close(&mut self, handle: i32) -> i32 {
        self.s32("dl-close", &[handle])
    }

    fn address_of(&mut self, sym: i32) -> i32 {
        self.s32("address-of", &[sym])
    }

    fn call(&mut self, f: i32) -> i32 {
        self.s32("call-pointer", &[f])
    }

    fn error(&mut self) -> String {
        self.0
            .call_string("dl-error")
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    fn log(&mut self) -> String {
        self.0
            .call_string("init-log")
            .unwrap_or_else(|e| panic!("{e:#}"))
    }
}

#[test]
fn every_flag_of_dlfcn_h_is_accepted() {
    in_both_modes(|| {
        let mut dl = Dl::start();
        // Python's ctypes opens libraries with RTLD_NOW | RTLD_LOCAL.
        let h = dl.open(PLUGIN1, RTLD_NOW | RTLD_LOCAL);
        assert_ne!(h, 0, "{}", dl.error());
        for flags in [
            RTLD_LAZY,
            RTLD_NOW,
            RTLD_LAZY | RTLD_NOW,
            RTLD_LAZY | RTLD_LOCAL,
            RTLD_NOW | RTLD_GLOBAL,
            RTLD_NOW | RTLD_NODELETE,
            RTLD_NOW | RTLD_NOLOAD,
            RTLD_LAZY | RTLD_GLOBAL | RTLD_LOCAL | RTLD_NOLOAD | RTLD_NODELETE,
        ] {
            assert_eq!(
                dl.open(PLUGIN1, flags),
                h,
                "flags {flags:#x}: {}",
                dl.error()
            );
        }
        assert_eq!(dl.close(h), 0);
    });
}

#[test]
fn a_mode_without_lazy_or_now_or_an_unknown_flag_is_an_error() {
    in_both_modes(|| {
        let mut dl = Dl::start();
        for lib in [PLUGIN1, PROGRAM] {
            for flags in [0, RTLD_LOCAL, RTLD_GLOBAL, RTLD_NOLOAD, RTLD_NODELETE] {
                assert_eq!(dl.open(lib, flags), 0, "flags {flags:#x}");
                assert_eq!(
                    dl.error(),
                    "dlopen: invalid mode: RTLD_LAZY or RTLD_NOW is required"
                );
            }
            for flags in [RTLD_NOW | 16, RTLD_LAZY | 0x10000, -1] {
                assert_eq!(dl.open(lib, flags), 0, "flags {flags:#x}");
                assert_eq!(
                    dl.error(),
                    "dlopen: invalid flags (the flags are RTLD_LAZY, RTLD_NOW, RTLD_GLOBAL, \
                 RTLD_LOCAL, RTLD_NOLOAD and RTLD_NODELETE)"
                );
            }
        }
        // The error is reported once.
        assert_eq!(dl.error(), "");
        // Nothing was loaded.
        assert_eq!(dl.log(), "BHD");
    });
}

#[test]
fn constructors_of_a_plugin_run_inside_its_first_dlopen() {
    in_both_modes(|| {
        let mut dl = Dl::start();
        // libbase, libdlhelper (NEEDED by libdlmain, though dl-openable), libdlmain: not the plugins.
        assert_eq!(dl.log(), "BHD");
        let h = dl.open(PLUGIN1, RTLD_NOW);
        assert_eq!(dl.log(), "BHDL");
        // The constructor ran before dlopen returned.
        let whoami = dl.sym(h, WHOAMI);
        assert_eq!(dl.call(whoami), 1);
        // Once.
        assert_eq!(dl.open(PLUGIN1, RTLD_LAZY | RTLD_GLOBAL), h);
        assert_eq!(dl.log(), "BHDL");
        let h2 = dl.open(PLUGIN2, RTLD_LAZY);
        assert_eq!(dl.log(), "BHDLK");
        let whoami2 = dl.sym(h2, WHOAMI);
        assert_eq!(dl.call(whoami2), 2);
    });
}

#[test]
fn without_the_built_in_libdl_every_constructor_runs_at_start() {
    in_both_modes(|| {
        // As wasi-libc's libdl expects (it does not run constructors).
        let mut dl = Dl::of(&link_fixtures(false, false));
        let mut log: Vec<char> = dl.log().chars().collect();
        log.sort_unstable();
        assert_eq!(log, ['B', 'D', 'H', 'K', 'L']);
    });
}

#[test]
fn rtld_noload_gives_the_handle_of_a_loaded_library_only() {
    in_both_modes(|| {
        let mut dl = Dl::start();
        assert_eq!(dl.open(PLUGIN1, RTLD_NOW | RTLD_NOLOAD), 0);
        assert_eq!(
            dl.error(),
            "dlopen: libdlplugin.so: not loaded yet (RTLD_NOLOAD)"
        );
        assert_eq!(dl.log(), "BHD", "RTLD_NOLOAD loads nothing");
        // Loaded at start (libdlmain NEEDS it).
        let helper = dl.open(HELPER, RTLD_NOW | RTLD_NOLOAD);
        assert_ne!(helper, 0, "{}", dl.error());
        assert_eq!(dl.open(HELPER, RTLD_LAZY), helper);
        assert_eq!(dl.open(NO_LIBRARY, RTLD_NOW | RTLD_NOLOAD), 0);
        assert_eq!(
            dl.error(),
            "dlopen: libnope.so: no such library (only libraries linked as dl-openable can be opened)"
        );
        let h = dl.open(PLUGIN1, RTLD_NOW);
        assert_eq!(dl.open(PLUGIN1, RTLD_NOW | RTLD_NOLOAD), h);
        assert_eq!(dl.log(), "BHDL");
    });
}

/// `dlsym(dlopen(NULL), f)` and `dlsym(RTLD_DEFAULT, f)` are `&f` as the C code takes it, with
/// libdlmain.so first in input order and with libdlhelper.so first (each defines `overridable`;
/// the linker binds the first).
#[test]
fn the_program_handle_and_rtld_default_give_what_the_linker_bound() {
    in_both_modes(|| {
        for (helper_first, overridable) in [(false, 1), (true, 2)] {
            let mut dl = Dl::of(&link_fixtures(helper_first, true));
            let program = dl.open(PROGRAM, RTLD_NOW);
            assert_ne!(program, 0, "{}", dl.error());
            assert_eq!(dl.open(PROGRAM, RTLD_LAZY | RTLD_NOLOAD), program);
            for handle in [program, RTLD_DEFAULT] {
                for sym in [BASE_ADD, BASE_COUNTER, OVERRIDABLE, DLOPEN] {
                    let address = dl.address_of(sym);
                    assert_ne!(address, 0, "&{sym}");
                    assert_eq!(dl.sym(handle, sym), address, "{sym}: {}", dl.error());
                }
                let f = dl.sym(handle, OVERRIDABLE);
                assert_eq!(dl.call(f), overridable, "helper first: {helper_first}");
                assert_eq!(dl.sym(handle, NO_SYMBOL), 0);
                assert_eq!(
                    dl.error(),
                    "dlsym: nope: symbol not found in the program or in the libraries opened with \
                 RTLD_GLOBAL"
                );
                // The plugins are not loaded at start: not in the program's scope.
                assert_eq!(dl.sym(handle, WHOAMI), 0);
            }
            assert_eq!(dl.close(program), 0);
        }
    });
}

#[test]
fn dlsym_and_dlclose_errors_are_precise() {
    in_both_modes(|| {
        let mut dl = Dl::start();
        let h = dl.open(PLUGIN1, RTLD_NOW);
        assert_eq!(dl.sym(h, NO_SYMBOL), 0);
        assert_eq!(dl.error(), "dlsym: nope: symbol not found in this library");
        assert_eq!(dl.sym(h, NULL_NAME), 0);
        assert_eq!(dl.error(), "dlsym: the symbol name is NULL");
        assert_eq!(dl.sym(RTLD_NEXT, BASE_ADD), 0);
        assert_eq!(dl.error(), "dlsym: RTLD_NEXT is not supported");
        assert_eq!(dl.sym(h + 4, WHOAMI), 0);
        assert_eq!(dl.error(), "dlsym: invalid handle");
        assert_eq!(dl.close(RTLD_DEFAULT), -1);
        assert_eq!(dl.error(), "dlclose: invalid handle");
        assert_eq!(dl.error(), "");
    });
}

#[test]
fn rtld_global_adds_to_the_default_scope_in_dlopen_order() {
    in_both_modes(|| {
        for (first, second, whoami) in [(PLUGIN1, PLUGIN2, 1), (PLUGIN2, PLUGIN1, 2)] {
            let mut dl = Dl::start();
            let program = dl.open(PROGRAM, RTLD_NOW);
            let h = dl.open(PLUGIN1, RTLD_NOW | RTLD_LOCAL);
            assert_eq!(dl.sym(RTLD_DEFAULT, PLUGIN_ONLY), 0, "RTLD_LOCAL");
            assert_eq!(dl.sym(RTLD_DEFAULT, WHOAMI), 0, "RTLD_LOCAL");
            let first_handle = dl.open(first, RTLD_NOW | RTLD_GLOBAL);
            dl.open(second, RTLD_LAZY | RTLD_GLOBAL);
            for handle in [RTLD_DEFAULT, program] {
                let f = dl.sym(handle, WHOAMI);
                assert_eq!(dl.call(f), whoami);
                assert_eq!(f, dl.sym(first_handle, WHOAMI));
                assert_eq!(dl.sym(handle, PLUGIN_ONLY), dl.sym(h, PLUGIN_ONLY));
                assert_ne!(dl.sym(handle, PLUGIN_ONLY), 0);
            }
            // The program's own definitions come first.
            assert_eq!(dl.sym(RTLD_DEFAULT, BASE_ADD), dl.address_of(BASE_ADD));
        }
    });
}

#[test]
fn rtld_noload_with_rtld_global_promotes_a_loaded_library() {
    in_both_modes(|| {
        let mut dl = Dl::start();
        let h = dl.open(PLUGIN1, RTLD_NOW | RTLD_LOCAL);
        assert_eq!(dl.sym(RTLD_DEFAULT, PLUGIN_ONLY), 0);
        assert_eq!(dl.open(PLUGIN1, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL), h);
        assert_eq!(dl.sym(RTLD_DEFAULT, PLUGIN_ONLY), dl.sym(h, PLUGIN_ONLY));
        // Not loaded: RTLD_NOLOAD | RTLD_GLOBAL neither loads nor promotes.
        assert_eq!(dl.open(PLUGIN2, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL), 0);
        assert_eq!(dl.log(), "BHDL");
        assert_eq!(dl.sym(RTLD_DEFAULT, WHOAMI), dl.sym(h, WHOAMI));
    });
}

#[test]
fn an_input_named_libdl_so_with_the_built_in_libdl_is_an_error() {
    in_both_modes(|| {
        let mut linker = linker();
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
    });
}

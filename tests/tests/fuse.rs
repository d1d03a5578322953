//! Fusion (weld-fuse): libraries fused into one dynamic library behave as when linked apart.

use weld_graph::LibrarySet;
use weld_module::Library;
use weld_tests::{PROGRAM, Running, fixture};

/// Fuses the fixture program's libraries into one library named `libprogram.so`.
fn fused_program(closed: bool) -> Vec<u8> {
    fuse_fixtures(PROGRAM, "libprogram.so", closed)
}

/// Fuses fixture libraries into one library named `name`.
fn fuse_fixtures(names: &[&str], name: &str, closed: bool) -> Vec<u8> {
    let bytes: Vec<(&str, Vec<u8>)> = names.iter().map(|n| (*n, fixture(n))).collect();
    let set = LibrarySet::new(
        bytes
            .iter()
            .map(|(n, b)| (Library::parse(n, b).unwrap(), false)),
    );
    let parts: Vec<_> = set.ids().collect();
    let mut options = weld_fuse::FuseOptions::new(name);
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
fn a_fused_library_satisfies_needed_entries_naming_its_parts() {
    // libmain and libapp NEED libbase and libping by name; they are parts of libdeps.so.
    let deps = fuse_fixtures(
        &["libbase.so", "libping.so", "libpong.so"],
        "libdeps.so",
        false,
    );
    let lib = Library::parse("libdeps.so", &deps).unwrap();
    assert_eq!(lib.fused_parts, ["libbase.so", "libping.so", "libpong.so"]);
    let mut linker = weld_component::Linker::default();
    linker.library("libdeps.so", deps.as_slice());
    for name in ["libapp.so", "libmain.so"] {
        linker.library(name, fixture(name));
    }
    let linked = linker.encode().unwrap_or_else(|e| panic!("{e}"));
    // The fused parts initialize together (base, ping, pong), before the libraries needing them.
    assert_eq!(check_program(&linked.component), "BPQAM");

    // A part linked again beside its fused library is an error naming both.
    let mut linker = weld_component::Linker::default();
    linker.library("libdeps.so", deps.as_slice());
    for name in ["libbase.so", "libapp.so", "libmain.so"] {
        linker.library(name, fixture(name));
    }
    let err = match linker.encode() {
        Ok(_) => panic!("libbase.so is linked twice, yet the link succeeded"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("`libbase.so` is linked twice") && err.contains("`libdeps.so`"),
        "{err}"
    );
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

/// A library using most kinds of instructions — each kind of index immediate, block types with
/// a type index, `br_table`, constants of every width, bulk memory, saturating truncation,
/// SIMD, typed `select`, tables, `ref.func`, tail calls — calling into a second library.
const OPS: &str = r#"(module
  (@dylink.0 (mem-info (memory 64 2) (table 2 0)) (needed "libhelp.so"))
  (import "env" "memory" (memory 1))
  (import "env" "__indirect_function_table" (table 0 funcref))
  (import "env" "__memory_base" (global $base i32))
  (import "env" "__table_base" (global $tbase i32))
  (import "env" "__stack_pointer" (global $sp (mut i32)))
  (import "env" "help" (func $help (param i32) (result i32)))
  (import "GOT.func" "help" (global $help_addr (mut i32)))
  (import "GOT.mem" "help_data" (global $help_data (mut i32)))
  (type $i2i (func (param i32) (result i32)))
  (type $pair (func (param i32) (result i32 i32)))
  (global $g (mut i32) (i32.const 5))
  (table $own 2 funcref)
  (elem (global.get $tbase) func $twice $inc)
  (func $twice (type $i2i) (i32.mul (local.get 0) (i32.const 2)))
  (func $inc (type $i2i) (i32.add (local.get 0) (i32.const 1)))
  (func $tail (param i32) (result i32) (return_call $help (local.get 0)))
  (func $split (type $pair) (local.get 0) (i32.const 3))
  (func (export "ops-check") (result i32)
    (local $acc i32) (local $v v128) (local $i i32)
    ;; block with a type index (multi-value)
    (i32.const 4)
    (block (type $pair) (call $split))
    (i32.add)
    (local.set $acc)
    ;; br_table
    (block $a (block $b (block $c
      (br_table $c $b $a (i32.const 1)))
      (local.set $acc (i32.add (local.get $acc) (i32.const 1000))))
      (local.set $acc (i32.add (local.get $acc) (i32.const 100))))
    ;; calls: direct across libraries, through the table at our base, through GOT.func, tail
    (local.set $acc (i32.add (local.get $acc) (call $help (i32.const 10))))
    (local.set $acc (i32.add (local.get $acc)
      (call_indirect (type $i2i) (i32.const 20) (global.get $tbase))))
    (local.set $acc (i32.add (local.get $acc)
      (call_indirect (type $i2i) (i32.const 30) (global.get $help_addr))))
    (local.set $acc (i32.add (local.get $acc) (call $tail (i32.const 1))))
    ;; ref.func and an own table
    (table.set $own (i32.const 1) (ref.func $inc))
    (local.set $acc (i32.add (local.get $acc)
      (call_indirect $own (type $i2i) (i32.const 40) (i32.const 1))))
    ;; globals: own, imported data address
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (local.set $acc (i32.add (local.get $acc) (global.get $g)))
    (local.set $acc (i32.add (local.get $acc) (i32.load (global.get $help_data))))
    ;; memory: stores and loads with offsets, size, fill, copy
    (i32.store offset=8 (global.get $base) (i32.const 77))
    (local.set $acc (i32.add (local.get $acc) (i32.load offset=8 (global.get $base))))
    (memory.fill (i32.add (global.get $base) (i32.const 16)) (i32.const 1) (i32.const 4))
    (memory.copy (i32.add (global.get $base) (i32.const 20))
      (i32.add (global.get $base) (i32.const 16)) (i32.const 4))
    (local.set $acc (i32.add (local.get $acc) (i32.load (i32.add (global.get $base) (i32.const 20)))))
    (local.set $acc (i32.add (local.get $acc) (i32.ne (memory.size) (i32.const 0))))
    ;; constants of every width, saturating truncation
    (local.set $acc (i32.add (local.get $acc)
      (i32.wrap_i64 (i64.shr_u (i64.const 0x123456789abcdef0) (i64.const 40)))))
    (local.set $acc (i32.add (local.get $acc) (i32.trunc_sat_f32_s (f32.const 2.5))))
    (local.set $acc (i32.add (local.get $acc) (i32.trunc_sat_f64_u (f64.const 1e12))))
    ;; SIMD and typed select
    (local.set $v (i32x4.add (v128.const i32x4 1 2 3 4) (v128.const i32x4 10 20 30 40)))
    (local.set $acc (i32.add (local.get $acc) (i32x4.extract_lane 3 (local.get $v))))
    (local.set $acc (i32.add (local.get $acc)
      (select (result i32) (i32.const 7) (i32.const 9) (i32.const 0))))
    ;; a loop with if/else
    (loop $l
      (if (i32.lt_u (local.get $i) (i32.const 3))
        (then (local.set $acc (i32.add (local.get $acc) (i32.const 2))))
        (else (nop)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 5))))
    (local.get $acc)))"#;

const HELP: &str = r#"(module
  (@dylink.0 (mem-info (memory 4 2)))
  (import "env" "memory" (memory 1))
  (import "env" "__memory_base" (global $base i32))
  (global (export "help_data") i32 (i32.const 0))
  ;; A table of its own, so that the other library's own table moves when fused.
  (table $mine 1 funcref)
  (data (global.get $base) "\2a\00\00\00")
  (func (export "help") (param i32) (result i32) (i32.add (local.get 0) (i32.const 100))))"#;

#[test]
fn every_kind_of_instruction_runs_the_same_fused() {
    let ops = weld_tests::embed_world(
        wat::parse_str(OPS).unwrap(),
        "package weld:ops; world ops { export ops-check: func() -> s32; }",
        "ops",
    );
    let libs = [
        ("libops.so", ops),
        ("libhelp.so", wat::parse_str(HELP).unwrap()),
    ];
    let mut results = Vec::new();
    for mode in weld_tests::MODES {
        let linked = weld_tests::weld_link_in(mode, &libs).unwrap_or_else(|e| panic!("{e}"));
        let mut run = Running::new(&linked.component).unwrap_or_else(|e| panic!("{e:#}"));
        results.push(run.call_s32("ops-check", &[]).unwrap());
    }
    // 7 + 100 + 110 + 40 + 130 + 101 + 41 + 6 + 42 + 77 + 0x01010101 + 1 + 0x123456 + 2
    // + 10^12 saturated to u32::MAX (-1) + 44 + 9 + 6.
    let expected =
        7 + 100 + 110 + 40 + 130 + 101 + 41 + 6 + 42 + 77 + 0x0101_0101 + 1 + 0x12_3456 + 2 - 1
            + 44
            + 9
            + 6;
    assert_eq!(results, [expected, expected]);
}

#[test]
fn a_got_entry_imported_mutable_by_one_part_and_immutable_by_another_is_fused() {
    // Found by fuzzing (fuse_diff seed 299): the plain link accepts both; so must fusion.
    let a = weld_tests::embed_world(
        wat::parse_str(
            r#"(module (@dylink.0 (needed "libb.so"))
              (import "GOT.func" "f" (global $f (mut i32)))
              (import "env" "b_addr" (func $b_addr (result i32)))
              (func (export "same") (result i32) (i32.eq (global.get $f) (call $b_addr))))"#,
        )
        .unwrap(),
        "package weld:got; world got { export same: func() -> s32; }",
        "got",
    );
    let b = wat::parse_str(
        r#"(module (@dylink.0)
          (import "env" "__indirect_function_table" (table 0 funcref))
          (import "GOT.func" "f" (global $f i32))
          (func (export "f"))
          (func (export "b_addr") (result i32) (global.get $f)))"#,
    )
    .unwrap();
    let libs = [("liba.so", a), ("libb.so", b)];
    for mode in weld_tests::MODES {
        let linked =
            weld_tests::weld_link_in(mode, &libs).unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        let mut run = Running::new(&linked.component).unwrap();
        assert_eq!(run.call_s32("same", &[]).unwrap(), 1, "{mode:?}");
    }
}

#[test]
fn invalid_code_is_blamed_on_its_input_when_fused() {
    let good = weld_tests::embed_world(
        wat::parse_str(
            r#"(module (@dylink.0 (needed "libbad.so"))
              (import "env" "bad" (func $bad (result i32)))
              (func (export "run") (result i32) (call $bad)))"#,
        )
        .unwrap(),
        "package weld:bad; world bad { export run: func() -> s32; }",
        "bad",
    );
    // Well formed, but its function returns an i64 where it declares an i32.
    let bad =
        wat::parse_str(r#"(module (@dylink.0) (func (export "bad") (result i32) (i64.const 1)))"#);
    let bad = match bad {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    };
    let libs = [("libgood.so", good), ("libbad.so", bad)];
    for mode in weld_tests::MODES {
        let err = weld_tests::weld_link_in(mode, &libs).unwrap_err();
        let weld_component::LinkError::InvalidInput(inputs) = &err else {
            panic!("{mode:?}: {err:?}");
        };
        assert_eq!(inputs.len(), 1, "{mode:?}: {err}");
        assert_eq!(inputs[0].library, "libbad.so", "{mode:?}: {err}");
    }
}

#[test]
fn every_bad_input_gets_the_same_message_fused() {
    let dir = weld_tests::repo_root().join("tests/bad-inputs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("so" | "wasm")))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let libs = [(name.as_str(), std::fs::read(&path).unwrap())];
        let message = |mode| match weld_tests::weld_link_in(mode, &libs) {
            Ok(_) => "linked".to_string(),
            Err(e) => e.to_string(),
        };
        assert_eq!(
            message(weld_tests::Mode::Fused),
            message(weld_tests::Mode::Apart),
            "{name}"
        );
    }
}

/// Small leaf functions of one library, each testing one thing inlining must keep.
const LEAF: &str = r#"(module
  (@dylink.0 (mem-info (memory 16 2)))
  (import "env" "memory" (memory 1))
  (import "env" "__memory_base" (global $base i32))
  (global $count (mut i32) (i32.const 0))
  ;; The order of the arguments.
  (func $sub (export "sub") (param i32 i32) (result i32) (i32.sub (local.get 0) (local.get 1)))
  ;; A declared local, zero on every call.
  (func $fresh (export "fresh") (param i32) (result i32) (local i32)
    (local.tee 1 (i32.add (local.get 1) (local.get 0))))
  ;; A branch out of the function with a value.
  (func $clamp (export "clamp") (param i32) (result i32)
    (block (result i32)
      (br_if 1 (i32.const 0) (i32.lt_s (local.get 0) (i32.const 0)))
      (drop)
      (local.get 0)))
  ;; No result; the callee's own memory base and global.
  (func $put (export "put") (param i32 i32)
    (i32.store (i32.add (global.get $base) (local.get 0)) (local.get 1)))
  (func $get (export "get") (param i32) (result i32)
    (i32.load (i32.add (global.get $base) (local.get 0))))
  (func $tick (export "tick") (result i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (global.get $count))
  ;; Floats, vectors, a trap.
  (func $fsum (export "fsum") (param f64 f32) (result f64)
    (f64.add (local.get 0) (f64.promote_f32 (local.get 1))))
  (func $lanes (export "lanes") (param v128) (result i32)
    (i32.add (i32x4.extract_lane 0 (local.get 0)) (i32x4.extract_lane 3 (local.get 0))))
  (func $check_positive (export "check_positive") (param i32)
    (if (i32.lt_s (local.get 0) (i32.const 0)) (then (unreachable))))
  ;; Returns from inside a block, and at the end.
  (func $early (export "early") (param i32) (result i32)
    (block (br_if 0 (local.get 0)) (return (i32.const 7)))
    (return (i32.mul (local.get 0) (i32.const 3))))
  ;; Not inlined: it calls.
  (func $nested (export "nested") (param i32) (result i32) (call $sub (local.get 0) (i32.const 5))))"#;

/// A library calling every function of LEAF, with parameters and locals of its own.
const USE_LEAF: &str = r#"(module
  (@dylink.0 (mem-info (memory 8 2)) (needed "libleaf.so"))
  (import "env" "memory" (memory 1))
  (import "env" "__memory_base" (global $base i32))
  (import "env" "sub" (func $sub (param i32 i32) (result i32)))
  (import "env" "fresh" (func $fresh (param i32) (result i32)))
  (import "env" "clamp" (func $clamp (param i32) (result i32)))
  (import "env" "put" (func $put (param i32 i32)))
  (import "env" "get" (func $get (param i32) (result i32)))
  (import "env" "tick" (func $tick (result i32)))
  (import "env" "fsum" (func $fsum (param f64 f32) (result f64)))
  (import "env" "lanes" (func $lanes (param v128) (result i32)))
  (import "env" "check_positive" (func $check_positive (param i32)))
  (import "env" "early" (func $early (param i32) (result i32)))
  (import "env" "nested" (func $nested (param i32) (result i32)))
  (func (export "check") (param $n i32) (result i32) (local $acc i32) (local $i i32) (local $f f64)
    (i32.store (global.get $base) (i32.const 1234))
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (call $sub (local.get $i) (i32.const 1))))
      (local.set $acc (i32.add (local.get $acc) (call $fresh (local.get $i))))
      (local.set $acc (i32.add (local.get $acc)
        (call $clamp (call $sub (local.get $i) (i32.const 2)))))
      (call $put (i32.const 4) (local.get $i))
      (local.set $acc (i32.add (local.get $acc) (call $get (i32.const 4))))
      (local.set $acc (i32.add (local.get $acc) (call $tick)))
      (local.set $f (call $fsum (local.get $f) (f32.const 0.5)))
      (local.set $acc (i32.add (local.get $acc)
        (call $lanes (i32x4.splat (local.get $i)))))
      (call $check_positive (local.get $i))
      (local.set $acc (i32.add (local.get $acc) (call $early (local.get $i))))
      (local.set $acc (i32.add (local.get $acc) (call $nested (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_s (local.get $i) (local.get $n))))
    ;; Our data is ours: the callee stored at its own base.
    (i32.add (i32.add (local.get $acc) (i32.trunc_f64_s (local.get $f)))
      (i32.load (global.get $base))))
  (func (export "boom") (param i32) (result i32)
    (call $check_positive (local.get 0))
    (i32.const 1)))"#;

/// The names of the functions `bytes`' code calls directly.
fn called_names(bytes: &[u8]) -> Vec<String> {
    let mut names = std::collections::HashMap::new();
    let mut called = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.unwrap() {
            wasmparser::Payload::CustomSection(c) => {
                if let wasmparser::KnownCustom::Name(reader) = c.as_known() {
                    for name in reader {
                        if let wasmparser::Name::Function(map) = name.unwrap() {
                            for n in map {
                                let n = n.unwrap();
                                names.insert(n.index, n.name.to_string());
                            }
                        }
                    }
                }
            }
            wasmparser::Payload::CodeSectionEntry(body) => {
                for op in body.get_operators_reader().unwrap() {
                    if let wasmparser::Operator::Call { function_index } = op.unwrap() {
                        called.push(function_index);
                    }
                }
            }
            _ => {}
        }
    }
    called.iter().map(|i| names[i].clone()).collect()
}

#[test]
fn calls_into_small_leaf_functions_of_another_part_are_inlined_with_their_meaning() {
    let leaf = wat::parse_str(LEAF).unwrap();
    let user = weld_tests::embed_world(
        wat::parse_str(USE_LEAF).unwrap(),
        "package weld:leaf; world leaf { export check: func(n: s32) -> s32; export boom: func(x: s32) -> s32; }",
        "leaf",
    );
    let libs = [("libuse.so", user), ("libleaf.so", leaf)];

    // Fused with inlining, the only calls left are to `nested`, `nested`'s own call to `sub`
    // (calls within a part are left to the compiler) and the initializers'.
    let set = LibrarySet::new(
        libs.iter()
            .map(|(n, b)| (Library::parse(n, b).unwrap(), false)),
    );
    let parts: Vec<_> = set.ids().collect();
    let mut options = weld_fuse::FuseOptions::new("libboth.so");
    let inlined = weld_fuse::fuse(&set, &parts, &options).unwrap().bytes;
    wasmparser::validate(&inlined).unwrap();
    let leaf_calls = |bytes: &[u8]| -> Vec<String> {
        let mut c: Vec<String> = called_names(bytes)
            .into_iter()
            .filter(|n| n.starts_with("libleaf.so!") && !n.contains("__wasm"))
            .collect();
        c.sort();
        c.dedup();
        c
    };
    assert_eq!(
        leaf_calls(&inlined),
        ["libleaf.so!nested", "libleaf.so!sub"]
    );
    options.inline = false;
    let called = weld_fuse::fuse(&set, &parts, &options).unwrap().bytes;
    assert_eq!(leaf_calls(&called).len(), 11, "{:?}", leaf_calls(&called));

    // Linked apart, fused and inlined, fused as a library: the same results and the same trap.
    let mut results = Vec::new();
    let mut run_all = |component: &[u8]| {
        let mut run = Running::new(component).unwrap_or_else(|e| panic!("{e:#}"));
        let check = |run: &mut Running, n| {
            run.call_s32("check", &[wasmtime::component::Val::S32(n)])
                .unwrap()
        };
        let got = (check(&mut run, 1), check(&mut run, 7), check(&mut run, 7));
        let boom = run.call_s32("boom", &[wasmtime::component::Val::S32(-1)]);
        assert!(boom.is_err(), "check_positive(-1) traps");
        results.push(got);
    };
    for mode in weld_tests::MODES {
        run_all(&weld_tests::weld_link_in(mode, &libs).unwrap().component);
    }
    for fused in [&inlined, &called] {
        let mut linker = weld_component::Linker::default();
        linker.library("libboth.so", fused.as_slice());
        run_all(&linker.encode().unwrap_or_else(|e| panic!("{e}")).component);
    }
    // check(1): sub(0, 1) = -1 and the first tick (1) cancel out, early(0) = 7, nested(0) = -5,
    // every other call gives 0, the float sum truncates to 0, and the caller's own data still
    // holds 1234.
    assert_eq!(results[0].0, 1234 + 7 - 5);
    assert!(results.iter().all(|r| *r == results[0]), "{results:?}");
}

/// The non-empty active data segments of every core module of `component`: (whether the offset
/// is a constant, length).
fn active_data(component: &[u8]) -> Vec<(bool, usize)> {
    let mut out = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        if let wasmparser::Payload::DataSection(reader) = payload.unwrap() {
            for d in reader {
                let d = d.unwrap();
                if let wasmparser::DataKind::Active { offset_expr, .. } = d.kind
                    && !d.data.is_empty()
                {
                    let ops: Vec<_> = offset_expr
                        .get_operators_reader()
                        .into_iter()
                        .map(|op| op.unwrap())
                        .collect();
                    let constant = matches!(
                        ops[..],
                        [
                            wasmparser::Operator::I32Const { .. },
                            wasmparser::Operator::End
                        ]
                    );
                    out.push((constant, d.data.len()));
                }
            }
        }
    }
    out
}

#[test]
fn with_fuse_the_main_module_holds_every_librarys_data_at_constant_addresses() {
    let libs: Vec<(&str, Vec<u8>)> = PROGRAM.iter().map(|n| (*n, fixture(n))).collect();
    let apart = weld_tests::weld_link_in(weld_tests::Mode::Apart, &libs).unwrap();
    let fused = weld_tests::weld_link_in(weld_tests::Mode::Fused, &libs).unwrap();
    // Apart, each library writes its data at its `__memory_base` when it is instantiated.
    let apart_data = active_data(&apart.component);
    assert!(
        apart_data.iter().any(|&(constant, _)| !constant),
        "{apart_data:?}"
    );
    // Fused, every byte of it is in segments at constant addresses (of the main module, which
    // defines the memory: an engine can map them from a copy-on-write image), and as many.
    let fused_data = active_data(&fused.component);
    assert!(
        fused_data.iter().all(|&(constant, _)| constant),
        "{fused_data:?}"
    );
    let bytes = |d: &[(bool, usize)]| d.iter().map(|&(_, n)| n).sum::<usize>();
    assert_eq!(bytes(&fused_data), bytes(&apart_data));
    assert_eq!(check_program(&fused.component), "BAPQM");
}

use weld_graph::{LibrarySet, Options, resolve};
use weld_module::Library;

use super::*;
use crate::dlopen;
use crate::layout::{Layout, layout};
use crate::{SynthOptions, synthesize};

/// `a` (the root) defines `f` weakly and data `d`, NEEDS `q`; `b` defines `f` strongly;
/// `p` (dl-openable, NEEDED by nobody) and `q` (dl-openable, NEEDED by `a`) define `h`.
fn inputs(with_libdl: bool) -> Vec<(String, Vec<u8>, bool)> {
    let mut libs = vec![
        (
            "a",
            r#"(module (@dylink.0 (needed "q") (export-info "f" binding-weak))
                 (import "GOT.func" "f" (global (mut i32)))
                 (import "env" "dlopen" (func (param i32 i32) (result i32)))
                 (func (export "f") (result i32) i32.const 1)
                 (global (export "d") i32 (i32.const 8)))"#,
            false,
        ),
        (
            "b",
            r#"(module (@dylink.0) (func (export "f") (result i32) i32.const 2))"#,
            false,
        ),
        (
            "p",
            r#"(module (@dylink.0) (func (export "h")) (func (export "__wasm_call_ctors")))"#,
            true,
        ),
        (
            "q",
            r#"(module (@dylink.0) (func (export "h")) (func (export "__wasm_call_ctors")))"#,
            true,
        ),
    ]
    .into_iter()
    .map(|(n, w, dl)| (n.to_string(), wat::parse_str(w).unwrap(), dl))
    .collect::<Vec<_>>();
    if with_libdl {
        libs.push((
            crate::libdl::LIBDL_NAME.to_string(),
            crate::libdl::libdl_module(),
            false,
        ));
    } else {
        // The same import, from something else (as wasi-libc's libdl has it).
        libs.push((
            "other-libdl.so".to_string(),
            wat::parse_str(
                r#"(module (@dylink.0)
                     (import "GOT.mem" "__wasm_libdl_libraries" (global (mut i32)))
                     (func (export "dlopen") (param i32 i32) (result i32) i32.const 0))"#,
            )
            .unwrap(),
            false,
        ));
    }
    libs
}

fn set(inputs: &[(String, Vec<u8>, bool)]) -> LibrarySet<'_> {
    LibrarySet::new(
        inputs
            .iter()
            .map(|(n, b, dl)| (Library::parse(n, b).unwrap(), *dl)),
    )
}

fn link<'a>(set: &LibrarySet<'a>) -> Link<'a> {
    let roots = set.per_lib(|id, _| id.index() == 0);
    resolve(set, &roots, &Options::default()).unwrap()
}

fn lib(set: &LibrarySet<'_>, name: &str) -> LibId {
    set.ids().find(|&l| set.name(l) == name).unwrap()
}

#[test]
fn program_scope_is_the_linker_s_choice_among_libraries_loaded_at_start() {
    let inputs = inputs(true);
    let set = set(&inputs);
    let link = link(&set);
    let scope = Scope::decide(&set, &link, &[], &[]).unwrap();
    assert!(scope.is_deferred(lib(&set, "p")));
    assert!(!scope.is_deferred(lib(&set, "q")), "NEEDED by a");
    let program: Vec<(&str, &str)> = scope
        .program()
        .iter()
        .map(|&(name, r)| (name, set.name(r.library())))
        .collect();
    // Strong `f` of b over weak `f` of a; `h` from q (p is not loaded at start); sorted.
    assert_eq!(
        program,
        [
            ("d", "a"),
            ("dlclose", "libdl.so"),
            ("dlerror", "libdl.so"),
            ("dlopen", "libdl.so"),
            ("dlsym", "libdl.so"),
            ("f", "b"),
            ("h", "q"),
        ]
    );
    // `&f` (GOT.func) is what the program scope gives.
    let got_f = link.bindings[lib(&set, "a")]
        .iter()
        .find_map(|b| match b {
            weld_graph::Binding::FunctionAddress(r) => Some(*r),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        Some(got_f),
        scope.program().iter().find(|p| p.0 == "f").map(|p| p.1)
    );
}

#[test]
fn without_the_built_in_libdl_nothing_is_deferred_or_added() {
    let inputs = inputs(false);
    let set = set(&inputs);
    let link = link(&set);
    assert!(Scope::decide(&set, &link, &[], &[]).is_none());
    let out = synthesize(&set, &link, &SynthOptions::default(), &[], &[]).unwrap();
    let (start, size) = out.layout.dlopen_table.unwrap();
    // The root is the table's last record, as before weld's extension existed.
    assert_eq!(out.layout.dlopen_root, start + size - 8);
    // `&f`, and p's and q's `h` (dl-openable): no constructor has a slot.
    assert_eq!(out.layout.function_slots.len(), 3);
}

#[test]
fn a_library_reached_otherwise_than_by_dlopen_is_loaded_at_start() {
    // a (the root) calls r's `g` without NEEDing r; s implements the component's export `run`;
    // nothing but dlopen reaches p.
    let inputs: Vec<(String, Vec<u8>, bool)> = [
        (
            "a",
            r#"(module (@dylink.0)
                 (import "env" "g" (func))
                 (import "env" "dlopen" (func (param i32 i32) (result i32)))
                 (func (export "f") call 0))"#,
            false,
        ),
        ("r", r#"(module (@dylink.0) (func (export "g")))"#, true),
        ("s", r#"(module (@dylink.0) (func (export "run")))"#, true),
        ("p", r#"(module (@dylink.0) (func (export "h")))"#, true),
    ]
    .into_iter()
    .map(|(n, w, dl)| (n.to_string(), wat::parse_str(w).unwrap(), dl))
    .chain([(
        crate::libdl::LIBDL_NAME.to_string(),
        crate::libdl::libdl_module(),
        false,
    )])
    .collect();
    let set = set(&inputs);
    let link = link(&set);
    let (s, _) = set.export_named(lib(&set, "s"), "run").unwrap();
    let shims = [crate::ExportShim {
        name: "run".into(),
        target: s,
    }];
    let scope = Scope::decide(&set, &link, &shims, &[]).unwrap();
    let deferred: Vec<&str> = ["a", "r", "s", "p"]
        .into_iter()
        .filter(|n| scope.is_deferred(lib(&set, n)))
        .collect();
    assert_eq!(deferred, ["p"]);
}

/// A `Library` record as wasi-libc's libdl reads it: name and `(name, address)` per symbol.
type Record = (String, Vec<(String, u32)>);

/// Reads the table in `bytes` (at address `start`) from its root, as wasi-libc's libdl does.
fn read_as_wasi_libc(bytes: &[u8], start: u32, root: u32) -> Vec<Record> {
    let word = |addr: u32| {
        let at = (addr - start) as usize;
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    };
    let name = |addr: u32| {
        let (len, ptr) = (word(addr), word(addr + 4));
        let at = (ptr - start) as usize;
        String::from_utf8(bytes[at..at + len as usize].to_vec()).unwrap()
    };
    (0..word(root))
        .map(|i| {
            let record = word(root + 4) + 16 * i;
            let symbols = (0..word(record + 8))
                .map(|j| {
                    let symbol = word(record + 12) + 12 * j;
                    (name(symbol), word(symbol + 8))
                })
                .collect();
            (name(record), symbols)
        })
        .collect()
}

fn table(set: &LibrarySet<'_>, link: &Link<'_>) -> (Layout, Vec<u8>) {
    let layout = layout(set, link, &SynthOptions::default(), &[]).unwrap();
    let scope = Scope::decide(set, link, &[], &[]);
    let openables = crate::openable::openables(set, link, scope.as_ref(), &[]);
    let bytes = dlopen::table_bytes(set, &layout, &openables, scope.as_ref());
    (layout, bytes)
}

#[test]
fn wasi_libc_reads_the_table_with_the_extension_as_without() {
    let with = inputs(true);
    let without = inputs(false);
    let (set_with, set_without) = (set(&with), set(&without));
    let (link_with, link_without) = (link(&set_with), link(&set_without));
    let (layout, bytes) = table(&set_with, &link_with);
    let (layout0, bytes0) = table(&set_without, &link_without);
    let (start, size) = layout.dlopen_table.unwrap();
    assert_eq!(bytes.len(), size as usize);
    let read = read_as_wasi_libc(&bytes, start, layout.dlopen_root);
    let (start0, _) = layout0.dlopen_table.unwrap();
    let read0 = read_as_wasi_libc(&bytes0, start0, layout0.dlopen_root);
    let names = |r: &[Record]| -> Vec<(String, Vec<String>)> {
        r.iter()
            .map(|(n, s)| (n.clone(), s.iter().map(|s| s.0.clone()).collect()))
            .collect()
    };
    assert_eq!(names(&read), names(&read0));
    assert_eq!(
        names(&read),
        [
            ("p".to_string(), vec!["h".to_string()]),
            ("q".to_string(), vec!["h".to_string()])
        ]
    );
    // A function's address is its slot, shared with `&h`.
    let p = lib(&set_with, "p");
    let (h, _) = set_with.export_named(p, "h").unwrap();
    assert_eq!(read[0].1[0].1, layout.slot(h).unwrap());
    // wasi-libc's part is byte for byte the same up to the root (only slots may differ).
    let root = (layout.dlopen_root - start) as usize;
    assert_eq!(root, (layout0.dlopen_root - start0) as usize);
}

#[test]
fn the_extension_follows_the_root() {
    let inputs = inputs(true);
    let set = set(&inputs);
    let link = link(&set);
    let (layout, bytes) = table(&set, &link);
    let (start, _) = layout.dlopen_table.unwrap();
    let word = |addr: u32| {
        let at = (addr - start) as usize;
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    };
    let program = layout.dlopen_root + 8;
    // { count, symbols, states, globals_count, globals }
    assert_eq!(word(program), 7);
    let states = word(program + 8);
    assert_eq!(
        word(program + 12),
        0,
        "no library opened with RTLD_GLOBAL yet"
    );
    // Library records are sorted by name: p (deferred), then q (loaded at start).
    let p = lib(&set, "p");
    let (ctor, _) = set.export_named(p, "__wasm_call_ctors").unwrap();
    assert_eq!(word(states), layout.slot(ctor).unwrap());
    assert_eq!(word(states + 4), 0);
    assert_eq!(word(states + 8), 0, "q's constructor runs at start");
    assert_eq!(word(states + 12), dlopen::LOADED | dlopen::GLOBAL);
    // Room for one handle (one deferred library), ending the region.
    assert_eq!(word(program + 16), states + 16);
    assert_eq!(bytes.len() as u32, states + 16 + 4 - start);
}

#[test]
fn the_init_module_leaves_deferred_constructors_to_libdl() {
    let inputs = inputs(true);
    let set = set(&inputs);
    let link = link(&set);
    let out = synthesize(&set, &link, &SynthOptions::default(), &[], &[]).unwrap();
    wasmparser::validate(&out.main).unwrap();
    wasmparser::validate(&out.init).unwrap();
    let (p, q) = (lib(&set, "p"), lib(&set, "q"));
    // Function imports of the init module, and the functions its start function calls.
    let mut imports = Vec::new();
    let mut calls = Vec::new();
    let mut start = None;
    for payload in wasmparser::Parser::new(0).parse_all(&out.init) {
        match payload.unwrap() {
            wasmparser::Payload::ImportSection(r) => {
                for import in r.into_imports() {
                    let import = import.unwrap();
                    if matches!(import.ty, wasmparser::TypeRef::Func(_)) {
                        imports.push(format!("{}.{}", import.module, import.name));
                    }
                }
            }
            wasmparser::Payload::StartSection { func, .. } => start = Some(func),
            wasmparser::Payload::CodeSectionEntry(body) => {
                let index = imports.len() as u32 + calls.len() as u32;
                let mut ops = body.get_operators_reader().unwrap();
                let mut called = Vec::new();
                while !ops.eof() {
                    if let wasmparser::Operator::Call { function_index } = ops.read().unwrap() {
                        called.push(function_index);
                    }
                }
                calls.push((index, called));
            }
            _ => {}
        }
    }
    let start = start.unwrap();
    let called: Vec<&str> = calls
        .iter()
        .find(|(i, _)| *i == start)
        .unwrap()
        .1
        .iter()
        .map(|&f| imports[f as usize].as_str())
        .collect();
    let ctor = |l: LibId| format!("lib:{}.__wasm_call_ctors", l.index());
    assert!(called.contains(&ctor(q).as_str()), "{called:?}");
    assert!(!called.contains(&ctor(p).as_str()), "{called:?}");
    // p's constructor is imported all the same, for its table slot.
    assert!(imports.contains(&ctor(p)), "{imports:?}");
}

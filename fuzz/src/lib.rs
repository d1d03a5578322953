//! Generator of random but valid sets of WebAssembly dynamic libraries, for the `link` fuzz
//! target (and the `dump_link` example, which writes a generated set to disk).
//!
//! Every generated module is a *valid core module* (checked with `wasmparser` by the fuzz target
//! before linking, so a generator bug shows up as a "generator bug" panic, never as a weld
//! finding). On top of that the set is *mostly* a well-formed dynamic-linking program — the
//! `dylink.0` section comes first, the ABI imports have the ABI types, imports name symbols that
//! other libraries export — but with small probabilities it also contains what a linker has to
//! reject or tolerate: mismatched signatures, missing strong symbols, duplicate definitions,
//! NEEDED cycles, unknown NEEDED names, over-large alignments, odd import limits, odd library
//! names, a library-defined memory, two `_start`s, tags imported from later libraries, and so on.
//! weld may return `Err` for any of those; it must not panic, and an `Ok` must validate.
//!
//! Everything is drawn from an [`Unstructured`]; once the fuzz input is exhausted every choice
//! reads as 0 / `false`, which still yields a small valid link.

use arbitrary::{Result, Unstructured};
use std::collections::HashSet;
use wasm_encoder::{
    CodeSection, ConstExpr, CustomSection, DataSection, ElementSection, Elements, EntityType,
    ExportKind, ExportSection, Function, FunctionSection, GlobalSection, GlobalType,
    Ieee32, Ieee64, ImportSection, MemArg, MemArgTarget, MemorySection, MemoryType, Module, RefType,
    StartSection, TableType, TagKind, TagSection, TagType, TypeSection, ValType,
};

use ValType::{F32, F64, I32, I64, V128};

/// One generated input of the linker.
#[derive(Clone, Debug)]
pub struct GeneratedLibrary {
    /// The name given to `Linker::library` (what NEEDED entries refer to).
    pub name: String,
    /// The module's bytes.
    pub bytes: Vec<u8>,
    /// Added with `Linker::dl_openable` instead of `Linker::library`.
    pub dl_openable: bool,
}

/// A generated link: the libraries in input order plus linker options.
#[derive(Clone, Debug)]
pub struct GeneratedLink {
    /// Libraries in input order.
    pub libraries: Vec<GeneratedLibrary>,
    /// `LinkOptions::stub_missing_functions`.
    pub stub_missing_functions: bool,
    /// `LinkOptions::stack_size` (`None`: the default).
    pub stack_size: Option<u32>,
    /// `LinkOptions::duplicate_symbols_are_errors`.
    pub duplicate_symbols_are_errors: bool,
    /// `LinkOptions::use_built_in_libdl`.
    pub use_built_in_libdl: bool,
    /// `LinkOptions::debug_names` (default true).
    pub debug_names: bool,
    /// `LinkOptions::return_call_ref`.
    pub return_call_ref: bool,
}

impl GeneratedLink {
    /// A link of `libraries` with default options.
    pub fn new(libraries: Vec<GeneratedLibrary>) -> Self {
        GeneratedLink {
            libraries,
            stub_missing_functions: false,
            stack_size: None,
            duplicate_symbols_are_errors: false,
            use_built_in_libdl: false,
            debug_names: true,
            return_call_ref: false,
        }
    }

    /// The options that differ from the defaults, as `--flag` words (what `link_files` reads).
    pub fn flags(&self) -> Vec<String> {
        let mut f = Vec::new();
        if self.stub_missing_functions {
            f.push("--stub".to_string());
        }
        if let Some(s) = self.stack_size {
            f.push(format!("--stack-size={s}"));
        }
        if self.duplicate_symbols_are_errors {
            f.push("--duplicate-symbols-are-errors".to_string());
        }
        if self.use_built_in_libdl {
            f.push("--built-in-libdl".to_string());
        }
        if !self.debug_names {
            f.push("--no-debug-names".to_string());
        }
        if self.return_call_ref {
            f.push("--return-call-ref".to_string());
        }
        f
    }

    /// Sets an option from one of the words [`GeneratedLink::flags`] produces; false if unknown.
    pub fn set_flag(&mut self, flag: &str) -> bool {
        match flag {
            "--stub" => self.stub_missing_functions = true,
            "--duplicate-symbols-are-errors" => self.duplicate_symbols_are_errors = true,
            "--built-in-libdl" => self.use_built_in_libdl = true,
            "--no-debug-names" => self.debug_names = false,
            "--return-call-ref" => self.return_call_ref = true,
            _ => match flag.strip_prefix("--stack-size=").map(str::parse) {
                Some(Ok(n)) => self.stack_size = Some(n),
                _ => return false,
            },
        }
        true
    }
}

/// The signatures symbols are drawn from.
fn signature(i: usize) -> (Vec<ValType>, Vec<ValType>) {
    match i % SIGNATURES {
        0 => (vec![], vec![]),
        1 => (vec![I32], vec![I32]),
        2 => (vec![I32, I32], vec![I32]),
        3 => (vec![], vec![I32]),
        4 => (vec![I64], vec![]),
        5 => (vec![F32, F64], vec![F64]),
        6 => (vec![I32, I64, F32], vec![I32, I64]),
        7 => (vec![V128], vec![V128]),
        8 => (vec![ValType::EXTERNREF], vec![ValType::FUNCREF]),
        _ => (vec![I32; 9], vec![I32]),
    }
}
const SIGNATURES: usize = 10;
/// Signatures of tags: no results.
const TAG_SIGNATURES: [usize; 2] = [0, 4];

/// Linker-provided data symbols that `GOT.mem` may name.
const LINKER_DATA: [&str; 4] = ["__heap_base", "__heap_end", "__stack_low", "__stack_high"];

/// Symbols shared by all libraries of one link.
struct Plan {
    /// Library names, in input order.
    names: Vec<String>,
    /// Function symbol `f{k}` has signature `func_sigs[k]`.
    func_sigs: Vec<usize>,
    /// Number of data symbols `d{k}`.
    data_syms: usize,
    /// Tag symbol `t{k}` has signature `tag_sigs[k]`.
    tag_sigs: Vec<usize>,
    /// Which library exports `_start` (at most one, except when `second_start` is set).
    start_lib: Option<usize>,
    second_start: Option<usize>,
    /// Which libraries define `f{k}`, `d{k}`, `t{k}` (usually one, sometimes none or two).
    func_homes: Vec<Vec<usize>>,
    data_homes: Vec<Vec<usize>>,
    tag_homes: Vec<Vec<usize>>,
}

/// The libraries defining one symbol: usually one; rarely none, sometimes a second one.
fn homes(u: &mut Unstructured<'_>, n: usize) -> Result<Vec<usize>> {
    if p(u, 1, 16)? {
        return Ok(Vec::new());
    }
    let mut v = vec![u.choose_index(n)?];
    if p(u, 1, 6)? {
        let second = u.choose_index(n)?;
        if !v.contains(&second) {
            v.push(second);
        }
    }
    Ok(v)
}

/// Generates a link from fuzz input.
pub fn generate(u: &mut Unstructured<'_>) -> Result<GeneratedLink> {
    let n = u.int_in_range(1..=8usize)?;
    let mut names = Vec::with_capacity(n);
    for i in 0..n {
        let name = if p(u, 1, 16)? {
            // Odd names: weld must never build identifiers from them.
            match u.int_in_range(0..=6u8)? {
                0 => format!("lib {i}.so"),
                1 => String::new(),
                2 => format!("lib:{i}"),
                3 => format!("lib{i}/x.so"),
                4 => format!("ライブラリ{i}.so"),
                5 => "lib0.so".to_string(), // possibly a duplicate
                _ => format!("weld:main{i}"),
            }
        } else {
            format!("lib{i}.so")
        };
        names.push(name);
    }
    let func_count = u.int_in_range(1..=8usize)?;
    let mut func_sigs = Vec::with_capacity(func_count);
    for _ in 0..func_count {
        func_sigs.push(u.int_in_range(0..=SIGNATURES - 1)?);
    }
    let data_syms = u.int_in_range(0..=6usize)?;
    let tag_count = if p(u, 1, 8)? {
        u.int_in_range(1..=2usize)?
    } else {
        0
    };
    let mut tag_sigs = Vec::with_capacity(tag_count);
    for _ in 0..tag_count {
        tag_sigs.push(*u.choose(&TAG_SIGNATURES)?);
    }
    let start_lib = if p(u, 1, 2)? {
        Some(u.choose_index(n)?)
    } else {
        None
    };
    let second_start = if start_lib.is_some() && p(u, 1, 32)? {
        Some(u.choose_index(n)?)
    } else {
        None
    };
    let mut func_homes = Vec::new();
    for _ in 0..func_sigs.len() {
        func_homes.push(homes(u, n)?);
    }
    let mut data_homes = Vec::new();
    for _ in 0..data_syms {
        data_homes.push(homes(u, n)?);
    }
    let mut tag_homes = Vec::new();
    for _ in 0..tag_sigs.len() {
        tag_homes.push(homes(u, n)?);
    }
    let plan = Plan {
        func_homes,
        data_homes,
        tag_homes,
        names,
        func_sigs,
        data_syms,
        tag_sigs,
        start_lib,
        second_start,
    };

    let mut libraries = Vec::with_capacity(n);
    for i in 0..n {
        let bytes = library(u, &plan, i)?;
        let dl_openable = p(u, 1, 8)?;
        libraries.push(GeneratedLibrary {
            name: plan.names[i].clone(),
            bytes,
            dl_openable,
        });
    }
    let stub_missing_functions = p(u, 1, 4)?;
    let stack_size = if p(u, 1, 8)? {
        Some(match u.int_in_range(0..=5u8)? {
            0 => 0,
            1 => 1,
            2 => 17,
            3 => 65536,
            4 => u32::MAX,
            _ => u.arbitrary()?,
        })
    } else {
        None
    };
    Ok(GeneratedLink {
        libraries,
        stub_missing_functions,
        stack_size,
        duplicate_symbols_are_errors: p(u, 1, 8)?,
        use_built_in_libdl: p(u, 1, 6)?,
        debug_names: !p(u, 1, 4)?,
        return_call_ref: p(u, 1, 8)?,
    })
}

/// `num` chances in `den`. Unlike `Unstructured::ratio`, an exhausted input reads as `false`, so
/// a short fuzz input means "the common case" everywhere.
fn p(u: &mut Unstructured<'_>, num: u32, den: u32) -> Result<bool> {
    Ok(u.int_in_range(0..=den - 1)? >= den - num)
}

/// Appends an unsigned LEB128.
fn leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    leb(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn subsection(out: &mut Vec<u8>, ty: u8, payload: &[u8]) {
    out.push(ty);
    leb(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// A value of type `ty` on the stack.
fn push_default(f: &mut Function, ty: ValType) {
    let mut ins = f.instructions();
    match ty {
        I32 => ins.i32_const(0),
        I64 => ins.i64_const(0),
        F32 => ins.f32_const(Ieee32::new(0)),
        F64 => ins.f64_const(Ieee64::new(0)),
        V128 => ins.v128_const(0),
        ValType::Ref(rt) => ins.ref_null(rt.heap_type),
    };
}

/// Small helper for a module's type section with deduplication.
#[derive(Default)]
struct Types {
    list: Vec<(Vec<ValType>, Vec<ValType>)>,
}

impl Types {
    fn index(&mut self, sig: &(Vec<ValType>, Vec<ValType>)) -> u32 {
        if let Some(i) = self.list.iter().position(|s| s == sig) {
            return i as u32;
        }
        self.list.push(sig.clone());
        (self.list.len() - 1) as u32
    }
}

/// A function of the module (imported or defined), with its signature.
struct Func {
    sig: (Vec<ValType>, Vec<ValType>),
}

/// One imported or defined global's index and type.
#[derive(Clone, Copy)]
struct Global {
    index: u32,
    mutable: bool,
}

/// Generates library `me` of the plan.
fn library(u: &mut Unstructured<'_>, plan: &Plan, me: usize) -> Result<Vec<u8>> {
    let n = plan.names.len();
    let mut types = Types::default();
    let mut imports = ImportSection::new();
    // (module, field, flags) for IMPORT_INFO.
    let mut import_info: Vec<(String, String, u32)> = Vec::new();
    let mut funcs: Vec<Func> = Vec::new();
    let mut globals = 0u32;
    let mut tags = 0u32;

    // --- MEM_INFO -------------------------------------------------------------------------
    let has_mem_info = !p(u, 1, 16)?;
    let memory_size: u32 = match u.int_in_range(0..=15u8)? {
        0..=3 => 0,
        4..=11 => u.int_in_range(1..=256)?,
        12..=13 => u.int_in_range(257..=70000)?,
        14 => u.int_in_range(0..=(1u32 << 24))?,
        _ => u.arbitrary()?, // may overflow the layout
    };
    let memory_align: u32 = if p(u, 1, 32)? {
        u.int_in_range(5..=40)?
    } else {
        u.int_in_range(0..=4)?
    };
    let table_size: u32 = if p(u, 1, 32)? {
        u.arbitrary()?
    } else {
        u.int_in_range(0..=4)?
    };
    let table_align: u32 = if p(u, 1, 32)? {
        u.int_in_range(3..=40)?
    } else {
        u.int_in_range(0..=2)?
    };
    let memory_size = if has_mem_info { memory_size } else { 0 };
    let table_size_eff = if has_mem_info { table_size } else { 0 };

    // --- NEEDED ---------------------------------------------------------------------------
    let mut needed: Vec<String> = Vec::new();
    if n > 1 || p(u, 1, 16)? {
        let count = u.int_in_range(0..=3usize)?;
        for _ in 0..count {
            let name = match u.int_in_range(0..=31u8)? {
                31 => "libmissing.so".to_string(),
                30 => plan.names[me].clone(), // self
                _ => {
                    let j = u.choose_index(n)?;
                    if j == me {
                        continue;
                    }
                    plan.names[j].clone()
                }
            };
            needed.push(name);
        }
    }

    // --- ABI imports ----------------------------------------------------------------------
    let import_memory = !p(u, 1, 16)?;
    let mut memory64 = false;
    if import_memory {
        let minimum = match u.int_in_range(0..=31u8)? {
            0..=14 => 0,
            31 => u.int_in_range(2..=100)?,
            30 => 65536,
            _ => 1,
        };
        let maximum = if p(u, 1, 16)? {
            Some(u.int_in_range(minimum..=(minimum + 100).min(65536))?)
        } else {
            None
        };
        let shared = maximum.is_some() && p(u, 1, 4)?;
        memory64 = p(u, 1, 64)?;
        imports.import(
            "env",
            "memory",
            MemoryType {
                minimum,
                maximum,
                memory64,
                shared,
                page_size_log2: None,
            },
        );
    }
    let defines_memory = !import_memory && p(u, 1, 4)?;
    let import_table = !p(u, 1, 8)?;
    if import_table {
        let minimum = match u.int_in_range(0..=15u8)? {
            15 => u.int_in_range(1..=20)?,
            14 => 1 << 20,
            _ => 0,
        };
        let maximum = if p(u, 1, 16)? {
            Some(u.int_in_range(minimum..=minimum + 10)?)
        } else {
            None
        };
        imports.import(
            "env",
            "__indirect_function_table",
            TableType {
                element_type: RefType::FUNCREF,
                table64: false,
                minimum,
                maximum,
                shared: false,
            },
        );
    }
    let import_global = |imports: &mut ImportSection,
                             globals: &mut u32,
                             module: &str,
                             field: &str,
                             mutable: bool|
     -> Global {
        imports.import(
            module,
            field,
            GlobalType {
                val_type: I32,
                mutable,
                shared: false,
            },
        );
        *globals += 1;
        Global {
            index: *globals - 1,
            mutable,
        }
    };
    // Occasionally an ABI global with the wrong mutability: weld must reject it cleanly.
    let memory_base = if !p(u, 1, 16)? {
        let m = p(u, 1, 64)?;
        Some(import_global(
            &mut imports,
            &mut globals,
            "env",
            "__memory_base",
            m,
        ))
    } else {
        None
    };
    let table_base = if !p(u, 1, 4)? {
        let m = p(u, 1, 64)?;
        Some(import_global(
            &mut imports,
            &mut globals,
            "env",
            "__table_base",
            m,
        ))
    } else {
        None
    };
    let stack_pointer = if p(u, 1, 2)? {
        let m = !p(u, 1, 64)?;
        Some(import_global(
            &mut imports,
            &mut globals,
            "env",
            "__stack_pointer",
            m,
        ))
    } else {
        None
    };
    if p(u, 1, 32)? {
        let m = u.arbitrary()?;
        import_global(
            &mut imports,
            &mut globals,
            "env",
            "__init_stack_pointer",
            m,
        );
    }
    if p(u, 1, 64)? {
        let m = u.arbitrary()?;
        import_global(&mut imports, &mut globals, "env", "__tls_base", m);
    }

    // --- env function imports -------------------------------------------------------------
    let mut imported_names: HashSet<(String, String)> = HashSet::new();
    let func_imports = u.int_in_range(0..=4usize)?;
    for _ in 0..func_imports {
        let (name, mut sig) = if p(u, 1, 16)? {
            // libdl's functions (weld can provide a built-in libdl.so).
            let (name, sig) =
                *u.choose(&[("dlopen", 2), ("dlsym", 2), ("dlclose", 1), ("dlerror", 3)])?;
            (name.to_string(), sig)
        } else if p(u, 1, 8)? {
            let k = u.int_in_range(0..=3u8)?;
            (format!("missing{k}"), u.int_in_range(0..=SIGNATURES - 1)?)
        } else if p(u, 1, 32)? && plan.start_lib.is_some() {
            ("_start".to_string(), 0)
        } else {
            let k = u.choose_index(plan.func_sigs.len())?;
            (format!("f{k}"), plan.func_sigs[k])
        };
        if p(u, 1, 10)? {
            sig = u.int_in_range(0..=SIGNATURES - 1)?; // possibly mismatched
        }
        // A repeated import of the same name is rare; keep it so (weld must cope with it).
        if !imported_names.insert(("env".into(), name.clone())) && !p(u, 1, 4)? {
            continue;
        }
        let sig = signature(sig);
        let ty = types.index(&sig);
        imports.import("env", &name, EntityType::Function(ty));
        funcs.push(Func { sig });
        if p(u, 1, 4)? {
            import_info.push(("env".into(), name, 1));
        }
    }
    let imported_funcs = funcs.len() as u32;
    if p(u, 1, 64)? {
        // An import from outside the dynamic-linking ABI (left to the component layer).
        let ty = types.index(&signature(1));
        imports.import("wasi:cli/environment", "get-x", EntityType::Function(ty));
        funcs.push(Func { sig: signature(1) });
    }
    let imported_funcs = imported_funcs.max(funcs.len() as u32);

    // --- tag imports ----------------------------------------------------------------------
    let mut tag_sig_of: Vec<usize> = Vec::new();
    if !plan.tag_sigs.is_empty() && p(u, 1, 3)? {
        let k = u.choose_index(plan.tag_sigs.len())?;
        let mut s = plan.tag_sigs[k];
        if p(u, 1, 8)? {
            s = *u.choose(&TAG_SIGNATURES)?;
        }
        let ty = types.index(&signature(s));
        imports.import(
            "env",
            &format!("t{k}"),
            TagType {
                kind: TagKind::Exception,
                func_type_idx: ty,
            },
        );
        tags += 1;
        tag_sig_of.push(s);
    }

    // --- GOT imports ----------------------------------------------------------------------
    let mut got: Vec<Global> = Vec::new();
    let got_mem = u.int_in_range(0..=3usize)?;
    for _ in 0..got_mem {
        let name = match u.int_in_range(0..=15u8)? {
            15 => format!("missingd{}", u.int_in_range(0..=1u8)?),
            14 => u.choose(&LINKER_DATA)?.to_string(),
            13 => format!("f{}", u.choose_index(plan.func_sigs.len())?), // a function, not data
            _ if plan.data_syms > 0 => format!("d{}", u.choose_index(plan.data_syms)?),
            _ => "missingd0".to_string(),
        };
        if !imported_names.insert(("GOT.mem".into(), name.clone())) {
            continue;
        }
        let m = !p(u, 1, 16)?;
        got.push(import_global(&mut imports, &mut globals, "GOT.mem", &name, m));
        if p(u, 1, 4)? {
            // wasm-ld records the weak flag of GOT imports under `env`.
            let module = if p(u, 1, 2)? { "env" } else { "GOT.mem" };
            import_info.push((module.into(), name, 1));
        }
    }
    let got_func = u.int_in_range(0..=3usize)?;
    for _ in 0..got_func {
        let name = match u.int_in_range(0..=15u8)? {
            15 => format!("missing{}", u.int_in_range(0..=1u8)?),
            14 if plan.data_syms > 0 => format!("d{}", u.choose_index(plan.data_syms)?),
            13 => "_start".to_string(),
            _ => format!("f{}", u.choose_index(plan.func_sigs.len())?),
        };
        if !imported_names.insert(("GOT.func".into(), name.clone())) {
            continue;
        }
        let m = !p(u, 1, 16)?;
        got.push(import_global(&mut imports, &mut globals, "GOT.func", &name, m));
        if p(u, 1, 4)? {
            let module = if p(u, 1, 2)? { "env" } else { "GOT.func" };
            import_info.push((module.into(), name, 1));
        }
    }

    // --- defined functions ----------------------------------------------------------------
    // (export name, function index, weak)
    let mut func_exports: Vec<(String, u32, bool)> = Vec::new();
    let mut export_names: HashSet<String> = HashSet::new();
    let mut defined: Vec<(Vec<ValType>, Vec<ValType>)> = Vec::new();
    let mut define = |funcs: &mut Vec<Func>, sig: (Vec<ValType>, Vec<ValType>)| -> u32 {
        funcs.push(Func { sig: sig.clone() });
        defined.push(sig);
        (funcs.len() - 1) as u32
    };
    for (k, &s) in plan.func_sigs.iter().enumerate() {
        if !plan.func_homes[k].contains(&me) {
            continue;
        }
        let s = if p(u, 1, 16)? {
            u.int_in_range(0..=SIGNATURES - 1)?
        } else {
            s
        };
        let name = format!("f{k}");
        export_names.insert(name.clone());
        let idx = define(&mut funcs, signature(s));
        let weak = p(u, 1, 6)?;
        func_exports.push((name, idx, weak));
    }
    let thunk = || signature(0);
    let wrong = |u: &mut Unstructured<'_>| -> Result<(Vec<ValType>, Vec<ValType>)> {
        Ok(if p(u, 1, 32)? {
            signature(1)
        } else {
            thunk()
        })
    };
    for (special, den) in [
        ("__wasm_call_ctors", 2u32),
        ("__wasm_apply_data_relocs", 3),
        ("_initialize", 16),
    ] {
        if p(u, 1, den)? {
            let sig = wrong(u)?;
            let idx = define(&mut funcs, sig);
            export_names.insert(special.into());
            func_exports.push((special.into(), idx, false));
        }
    }
    if plan.start_lib == Some(me) || plan.second_start == Some(me) {
        let sig = wrong(u)?;
        let idx = define(&mut funcs, sig);
        export_names.insert("_start".into());
        func_exports.push(("_start".into(), idx, false));
    }
    // Re-export of an imported function under a symbol name.
    if imported_funcs > 0 && p(u, 1, 16)? {
        let i = u.int_in_range(0..=imported_funcs - 1)?;
        let k = u.choose_index(plan.func_sigs.len())?;
        let name = format!("f{k}");
        if export_names.insert(name.clone()) {
            func_exports.push((name, i, false));
        }
    }
    let private = u.int_in_range(0..=2usize)?;
    for _ in 0..private {
        let s = u.int_in_range(0..=SIGNATURES - 1)?;
        define(&mut funcs, signature(s));
    }
    let start_fn = if p(u, 1, 32)? {
        Some(define(&mut funcs, thunk()))
    } else {
        None
    };

    // Bodies.
    let mut code = CodeSection::new();
    let total_funcs = funcs.len() as u32;
    for f in imported_funcs..total_funcs {
        let mut body = Function::new([]);
        let calls = u.int_in_range(0..=3usize)?;
        for _ in 0..calls {
            let callee = u.int_in_range(0..=total_funcs - 1)?;
            let (params, results) = &funcs[callee as usize].sig;
            for &p in params {
                push_default(&mut body, p);
            }
            body.instructions().call(callee);
            for _ in results {
                body.instructions().drop();
            }
        }
        if !got.is_empty() && p(u, 1, 2)? {
            let g = got[u.choose_index(got.len())?];
            if import_memory && !memory64 && p(u, 1, 2)? {
                // Store through the GOT entry, like `__wasm_apply_data_relocs` does.
                body.instructions()
                    .global_get(g.index)
                    .i32_const(0)
                    .i32_store(MemArg {
                        offset: 0,
                        align: 2,
                        target: MemArgTarget::Memory(0),
                        ordering: None,
                    });
            } else {
                body.instructions().global_get(g.index).drop();
            }
        }
        if let Some(sp) = stack_pointer.filter(|g| g.mutable)
            && p(u, 1, 4)?
        {
            body.instructions()
                .global_get(sp.index)
                .i32_const(16)
                .i32_sub()
                .global_set(sp.index);
        }
        if tags > 0 && p(u, 1, 8)? {
            let (params, _) = signature(tag_sig_of[0]);
            for &p in &params {
                push_default(&mut body, p);
            }
            body.instructions().throw(0);
        }
        for &r in &funcs[f as usize].sig.1 {
            push_default(&mut body, r);
        }
        body.instructions().end();
        code.function(&body);
    }
    let mut functions = FunctionSection::new();
    for sig in &defined {
        functions.function(types.index(sig));
    }

    // --- defined memory / tags / globals --------------------------------------------------
    let mut memories = MemorySection::new();
    if defines_memory {
        memories.memory(MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
    }
    let has_memory = import_memory || defines_memory;
    let mem32 = (import_memory && !memory64) || defines_memory;

    let mut tag_section = TagSection::new();
    let mut tag_exports: Vec<(String, u32)> = Vec::new();
    for (k, &s) in plan.tag_sigs.iter().enumerate() {
        if !plan.tag_homes[k].contains(&me) {
            continue;
        }
        let name = format!("t{k}");
        if imported_names.contains(&("env".to_string(), name.clone())) || !export_names.insert(name.clone()) {
            continue;
        }
        let ty = types.index(&signature(s));
        tag_section.tag(TagType {
            kind: TagKind::Exception,
            func_type_idx: ty,
        });
        tag_exports.push((name, tags));
        tags += 1;
    }

    let mut global_section = GlobalSection::new();
    // (name, global index, weak)
    let mut data_exports: Vec<(String, u32, bool)> = Vec::new();
    for k in 0..plan.data_syms {
        if !plan.data_homes[k].contains(&me) {
            continue;
        }
        let name = if p(u, 1, 32)? {
            format!("f{}", u.choose_index(plan.func_sigs.len())?) // a data symbol named like a function
        } else {
            format!("d{k}")
        };
        if !export_names.insert(name.clone()) {
            continue;
        }
        let offset = if memory_size == 0 {
            0
        } else {
            u.int_in_range(0..=memory_size - 1)?
        };
        let (ty, init) = match u.int_in_range(0..=31u8)? {
            31 => (
                GlobalType {
                    val_type: I32,
                    mutable: true,
                    shared: false,
                },
                ConstExpr::i32_const(offset as i32),
            ),
            30 => (
                GlobalType {
                    val_type: I64,
                    mutable: false,
                    shared: false,
                },
                ConstExpr::i64_const(offset as i64),
            ),
            29 if memory_base.is_some_and(|g| !g.mutable) => (
                GlobalType {
                    val_type: I32,
                    mutable: false,
                    shared: false,
                },
                ConstExpr::global_get(memory_base.map_or(0, |g| g.index)),
            ),
            _ => (
                GlobalType {
                    val_type: I32,
                    mutable: false,
                    shared: false,
                },
                ConstExpr::i32_const(offset as i32),
            ),
        };
        global_section.global(ty, &init);
        let weak = p(u, 1, 6)?;
        data_exports.push((name, globals, weak));
        globals += 1;
    }

    // --- exports --------------------------------------------------------------------------
    let mut exports = ExportSection::new();
    let mut export_info: Vec<(String, u32)> = Vec::new();
    for (name, idx, weak) in &func_exports {
        exports.export(name, ExportKind::Func, *idx);
        if *weak {
            export_info.push((name.clone(), 1));
        } else if p(u, 1, 32)? {
            export_info.push((name.clone(), 4)); // hidden
        }
    }
    for (name, idx, weak) in &data_exports {
        exports.export(name, ExportKind::Global, *idx);
        if *weak {
            export_info.push((name.clone(), 1));
        }
    }
    for (name, idx) in &tag_exports {
        exports.export(name, ExportKind::Tag, *idx);
    }
    if has_memory && p(u, 1, 32)? && export_names.insert("memory".into()) {
        exports.export("memory", ExportKind::Memory, 0);
    }
    if import_table && p(u, 1, 32)? && export_names.insert("__indirect_function_table".into())
    {
        exports.export("__indirect_function_table", ExportKind::Table, 0);
    }
    if let Some(g) = got.first()
        && p(u, 1, 32)?
        && export_names.insert("reexported_got".into())
    {
        exports.export("reexported_got", ExportKind::Global, g.index);
    }

    // --- element and data segments --------------------------------------------------------
    let mut elements = ElementSection::new();
    let defined_count = defined.len() as u32;
    if import_table
        && let Some(tb) = table_base.filter(|g| !g.mutable)
        && table_size_eff > 0
        && defined_count > 0
        && p(u, 3, 4)?
    {
        let count = table_size_eff.min(defined_count).min(4);
        let fs: Vec<u32> = (0..count).map(|i| imported_funcs + i).collect();
        elements.active(
            None,
            &ConstExpr::global_get(tb.index),
            Elements::Functions(fs.into()),
        );
    }
    let mut data = DataSection::new();
    if mem32
        && let Some(mb) = memory_base.filter(|g| !g.mutable)
        && memory_size > 0
        && p(u, 3, 4)?
    {
        let len = memory_size.min(16) as usize;
        let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
        data.active(0, &ConstExpr::global_get(mb.index), bytes);
    }

    // --- dylink.0 -------------------------------------------------------------------------
    let mut dylink = Vec::new();
    if has_mem_info {
        let mut p = Vec::new();
        leb(&mut p, memory_size.into());
        leb(&mut p, memory_align.into());
        leb(&mut p, table_size.into());
        leb(&mut p, table_align.into());
        subsection(&mut dylink, 1, &p);
    }
    if !needed.is_empty() {
        let mut p = Vec::new();
        leb(&mut p, needed.len() as u64);
        for s in &needed {
            string(&mut p, s);
        }
        subsection(&mut dylink, 2, &p);
    }
    if !export_info.is_empty() {
        let mut p = Vec::new();
        leb(&mut p, export_info.len() as u64);
        for (name, flags) in &export_info {
            string(&mut p, name);
            leb(&mut p, (*flags).into());
        }
        subsection(&mut dylink, 3, &p);
    }
    if !import_info.is_empty() {
        let mut p = Vec::new();
        leb(&mut p, import_info.len() as u64);
        for (module, field, flags) in &import_info {
            string(&mut p, module);
            string(&mut p, field);
            leb(&mut p, (*flags).into());
        }
        subsection(&mut dylink, 4, &p);
    }
    if p(u, 1, 32)? {
        // RUNTIME_PATH
        let mut p = Vec::new();
        leb(&mut p, 1);
        string(&mut p, "$ORIGIN");
        subsection(&mut dylink, 5, &p);
    }
    if p(u, 1, 64)? {
        subsection(&mut dylink, 0x42, b"unknown");
    }
    let dylink_section = CustomSection {
        name: "dylink.0".into(),
        data: dylink.into(),
    };

    // --- assemble -------------------------------------------------------------------------
    // Mostly `dylink.0` first; rarely after the type section, or twice.
    let placement = u.int_in_range(0..=63u8)?;
    let mut module = Module::new();
    if placement != 63 {
        module.section(&dylink_section);
    }
    if placement == 62 {
        module.section(&dylink_section);
    }
    let mut type_section = TypeSection::new();
    for (params, results) in &types.list {
        type_section
            .ty()
            .function(params.iter().copied(), results.iter().copied());
    }
    if !type_section.is_empty() {
        module.section(&type_section);
    }
    if placement == 63 {
        module.section(&dylink_section);
    }
    if !imports.is_empty() {
        module.section(&imports);
    }
    if !functions.is_empty() {
        module.section(&functions);
    }
    if !memories.is_empty() {
        module.section(&memories);
    }
    // The tag section comes after the memory section and before the global section.
    if !tag_section.is_empty() {
        module.section(&tag_section);
    }
    if !global_section.is_empty() {
        module.section(&global_section);
    }
    if !exports.is_empty() {
        module.section(&exports);
    }
    if let Some(s) = start_fn {
        module.section(&StartSection {
            function_index: s,
        });
    }
    if !elements.is_empty() {
        module.section(&elements);
    }
    if !code.is_empty() {
        module.section(&code);
    }
    if !data.is_empty() {
        module.section(&data);
    }
    if p(u, 1, 32)? {
        module.section(&CustomSection {
            name: "name".into(),
            data: (&[][..]).into(),
        });
    }
    Ok(module.finish())
}

/// Validates every generated library as a core module (all features). A failure is a bug of
/// this generator, not of weld.
pub fn check_generated(link: &GeneratedLink) {
    for lib in &link.libraries {
        if let Err(e) =
            wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                .validate_all(&lib.bytes)
        {
            panic!(
                "generator bug: library `{}` does not validate: {e}",
                lib.name
            );
        }
    }
}

/// Links a generated set with weld and checks the property: no panic, and every `Ok` validates.
pub fn link_and_check(link: &GeneratedLink) {
    let mut linker = weld_component::Linker::default();
    // Validation is done below, so that an invalid output is a failure rather than an `Err`.
    linker.validate(false);
    configure(&mut linker, link);
    match linker.encode() {
        Ok(linked) => {
            let _ = linked.report.lines();
            if let Err(e) = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                .validate_all(&linked.component)
            {
                panic!("weld returned Ok with a component that does not validate: {e}");
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Adds the libraries and options of `link` to `linker`.
pub fn configure<'a>(linker: &mut weld_component::Linker<'a>, link: &'a GeneratedLink) {
    linker.stub_missing_functions(link.stub_missing_functions);
    if let Some(s) = link.stack_size {
        linker.stack_size(s);
    }
    linker.duplicate_symbols_are_errors(link.duplicate_symbols_are_errors);
    linker.use_built_in_libdl(link.use_built_in_libdl);
    linker.options_mut().debug_names = link.debug_names;
    linker.options_mut().return_call_ref = link.return_call_ref;
    for lib in &link.libraries {
        if lib.dl_openable {
            linker.dl_openable(lib.name.clone(), lib.bytes.as_slice());
        } else {
            linker.library(lib.name.clone(), lib.bytes.as_slice());
        }
    }
}

/// Writes a generated link to `dir` as `{prefix}-{i}.so` plus `{prefix}.txt` (input order, the
/// names to give the linker, and the options).
pub fn dump(link: &GeneratedLink, dir: &std::path::Path, prefix: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    // One line: the `link_files` command line that reproduces the link.
    let mut words = vec!["link_files".to_string()];
    words.extend(link.flags());
    for (i, lib) in link.libraries.iter().enumerate() {
        let file = format!("{prefix}-{i}.so");
        std::fs::write(dir.join(&file), &lib.bytes)?;
        let dl = if lib.dl_openable { "--dl-openable " } else { "" };
        words.push(format!("{dl}{:?}={file}", lib.name));
    }
    std::fs::write(dir.join(format!("{prefix}.txt")), words.join(" ") + "\n")
}

/// Substrings of panic messages of failures already found and recorded, taken from the
/// environment variable `WELD_FUZZ_KNOWN` (separated by `|`). Empty by default.
fn known_failures() -> &'static [String] {
    static KNOWN: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| {
        std::env::var("WELD_FUZZ_KNOWN")
            .unwrap_or_default()
            .split('|')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    })
}

/// Runs `f`. When `WELD_FUZZ_KNOWN` is set, a panic whose message contains one of its
/// substrings is swallowed (so a long run keeps looking for *new* failures); every other panic
/// goes to the previous panic hook, which under libFuzzer reports the crash and aborts.
pub fn run_filtered(f: impl FnOnce()) {
    let known = known_failures();
    if known.is_empty() {
        f();
        return;
    }
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info.payload_as_str().unwrap_or("");
            if !known.iter().any(|k| msg.contains(k.as_str())) {
                previous(info);
            }
        }));
    });
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
}

/// The byte stream of one seed (splitmix64), `len` bytes: what the examples feed the generator,
/// so that a seed names the same generated link in all of them.
pub fn seed_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

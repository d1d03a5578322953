//! Parsing of WebAssembly dynamic libraries for the weld linker.
//!
//! A *dynamic library* here is a core WebAssembly module following the tool-conventions
//! `DynamicLinking.md` ABI: a `dylink.0` custom section describing how much memory and table space
//! the library needs and which other libraries it depends on, plus imports from `env`, `GOT.mem`
//! and `GOT.func` through which it reaches the shared memory, table, stack pointer and other
//! libraries' symbols.
//!
//! [`Library::parse`] reads exactly what linking needs — the `dylink.0` section, the type, import,
//! function, global and export sections, and the names of `component-type*` custom sections — and
//! skips function bodies and data without decoding them. Everything it returns borrows from the
//! input bytes: no section is copied.
//!
//! ```
//! use weld_module::{ImportClass, Library};
//!
//! let wasm = wat::parse_str(r#"
//!     (module
//!       (@dylink.0 (mem-info (memory 16 2)) (needed "libc.so"))
//!       (import "env" "memory" (memory 1))
//!       (import "env" "__memory_base" (global i32))
//!       (import "env" "puts" (func $puts (param i32) (result i32)))
//!       (import "GOT.mem" "errno" (global (mut i32)))
//!       (func (export "hello") (result i32) i32.const 42)
//!     )
//! "#).unwrap();
//! let lib = Library::parse("libhello.so", &wasm).unwrap();
//! assert_eq!(lib.mem_info.memory_size, 16);
//! assert_eq!(lib.mem_info.memory_alignment, 4); // stored as 2^2
//! assert_eq!(lib.needed, ["libc.so"]);
//! assert!(matches!(lib.imports[2].class, ImportClass::Function(_)));
//! assert!(matches!(lib.imports[3].class, ImportClass::GotMem));
//! assert_eq!(lib.exports[0].name, "hello");
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![warn(missing_docs)]

use std::collections::HashMap;
use std::fmt;

pub use wasmparser::ValType;
use wasmparser::{
    Chunk, CompositeInnerType, Dylink0Subsection, Encoding, ExternalKind, KnownCustom, Operator,
    Parser, Payload, TypeRef,
};

/// `WASM_SYM_BINDING_WEAK` from the tool-conventions symbol flags.
pub const SYM_BINDING_WEAK: u32 = 0x1;
/// `WASM_SYM_BINDING_LOCAL` from the tool-conventions symbol flags.
pub const SYM_BINDING_LOCAL: u32 = 0x2;
/// `WASM_SYM_VISIBILITY_HIDDEN` from the tool-conventions symbol flags.
pub const SYM_VISIBILITY_HIDDEN: u32 = 0x4;
/// `WASM_SYM_TLS` from the tool-conventions symbol flags.
pub const SYM_TLS: u32 = 0x100;

/// Names of the `env` imports and exports with a fixed meaning in the dynamic-linking ABI.
pub mod names {
    /// The module name of most linker-provided imports.
    pub const ENV: &str = "env";
    /// The module name of imports that yield the address of a data symbol.
    pub const GOT_MEM: &str = "GOT.mem";
    /// The module name of imports that yield the table index of a function.
    pub const GOT_FUNC: &str = "GOT.func";
    /// The shared linear memory.
    pub const MEMORY: &str = "memory";
    /// The shared function table.
    pub const TABLE: &str = "__indirect_function_table";
    /// The shared stack pointer global.
    pub const STACK_POINTER: &str = "__stack_pointer";
    /// Where this library's data region starts.
    pub const MEMORY_BASE: &str = "__memory_base";
    /// Where this library's table region starts.
    pub const TABLE_BASE: &str = "__table_base";
    /// Applies data relocations; run before any constructor.
    pub const APPLY_DATA_RELOCS: &str = "__wasm_apply_data_relocs";
    /// Runs the library's constructors.
    pub const CALL_CTORS: &str = "__wasm_call_ctors";
    /// A reactor's initialisation function (used instead of `__wasm_call_ctors`).
    pub const INITIALIZE: &str = "_initialize";
    /// A command's entry point.
    pub const START: &str = "_start";
    /// The canonical-ABI allocator.
    pub const CABI_REALLOC: &str = "cabi_realloc";
}

/// A function signature: parameter and result types.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct FuncSig {
    /// Parameter types.
    pub params: Vec<ValType>,
    /// Result types.
    pub results: Vec<ValType>,
}

impl FuncSig {
    /// Builds a signature from parameter and result lists.
    pub fn new(params: impl Into<Vec<ValType>>, results: impl Into<Vec<ValType>>) -> Self {
        FuncSig {
            params: params.into(),
            results: results.into(),
        }
    }

    /// Whether this is `[] -> []`.
    pub fn is_thunk(&self) -> bool {
        self.params.is_empty() && self.results.is_empty()
    }
}

impl fmt::Display for FuncSig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, tys: &[ValType]) -> fmt::Result {
            f.write_str("[")?;
            for (i, t) in tys.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{t}")?;
            }
            f.write_str("]")
        }
        list(f, &self.params)?;
        f.write_str(" -> ")?;
        list(f, &self.results)
    }
}

/// The `dylink.0` MEM_INFO subsection: how much memory and table the library needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MemInfo {
    /// Bytes of linear memory the library's data needs, starting at its `__memory_base`.
    pub memory_size: u32,
    /// Required alignment of the data region in bytes (a power of two; 1 when absent).
    pub memory_alignment: u32,
    /// Table slots the library needs, starting at its `__table_base`.
    pub table_size: u32,
    /// Required alignment of the table region in slots (a power of two; 1 when absent).
    pub table_alignment: u32,
}

/// The type of an imported or exported entity.
#[derive(Clone, Debug, PartialEq)]
pub enum EntityType {
    /// A function with this signature.
    Func(FuncSig),
    /// A global.
    Global(wasmparser::GlobalType),
    /// A memory.
    Memory(wasmparser::MemoryType),
    /// A table.
    Table(wasmparser::TableType),
    /// An exception tag whose payload is the signature's parameters.
    Tag(FuncSig),
}

impl EntityType {
    /// A short word for the kind of entity ("function", "global", ...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            EntityType::Func(_) => "function",
            EntityType::Global(_) => "global",
            EntityType::Memory(_) => "memory",
            EntityType::Table(_) => "table",
            EntityType::Tag(_) => "tag",
        }
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntityType::Func(sig) => write!(f, "function {sig}"),
            EntityType::Global(g) => write!(
                f,
                "global {}{}{}",
                if g.shared { "shared " } else { "" },
                if g.mutable { "mut " } else { "" },
                g.content_type
            ),
            EntityType::Memory(m) => write!(
                f,
                "memory{}{} min {} pages",
                if m.memory64 { " i64" } else { "" },
                if m.shared { " shared" } else { "" },
                m.initial
            ),
            EntityType::Table(t) => write!(
                f,
                "table{}{} {} min {}",
                if t.table64 { " i64" } else { "" },
                if t.shared { " shared" } else { "" },
                t.element_type,
                t.initial
            ),
            EntityType::Tag(sig) => write!(f, "tag {sig}"),
        }
    }
}

/// What an import means to the linker.
#[derive(Clone, Debug, PartialEq)]
pub enum ImportClass {
    /// `env.memory`: the shared linear memory.
    Memory,
    /// `env.__indirect_function_table`: the shared function table.
    Table,
    /// `env.__stack_pointer`.
    StackPointer,
    /// `env.__memory_base`: start of this library's data region.
    MemoryBase,
    /// `env.__table_base`: start of this library's table region.
    TableBase,
    /// Another `env` function: a symbol defined by some other library.
    Function(FuncSig),
    /// Another `env` global (for example `__init_stack_pointer`), provided by the linker.
    EnvGlobal,
    /// An `env` exception tag, bound to another library's tag.
    EnvTag(FuncSig),
    /// `GOT.mem.X`: a global holding the absolute address of data symbol X.
    GotMem,
    /// `GOT.func.X`: a global holding the table index of function X.
    GotFunc,
    /// Any other import (WIT functions, canonical-ABI intrinsics, adapter functions); resolved by
    /// the component layer.
    Other,
}

/// One import of a library.
#[derive(Clone, Debug)]
pub struct Import<'a> {
    /// Module name.
    pub module: &'a str,
    /// Field name.
    pub name: &'a str,
    /// The imported entity's type.
    pub ty: EntityType,
    /// The linker's reading of the import.
    pub class: ImportClass,
    /// Whether `dylink.0` IMPORT_INFO marks the import weak (`binding-weak`): it may stay undefined.
    pub weak: bool,
}

/// Exports with a fixed role in the dynamic-linking ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecialExport {
    /// `__wasm_apply_data_relocs`.
    ApplyDataRelocs,
    /// `__wasm_call_ctors`.
    CallCtors,
    /// `_initialize`.
    Initialize,
    /// `_start`.
    Start,
}

/// One export of a library.
#[derive(Clone, Debug)]
pub struct Export<'a> {
    /// Export name (the symbol name).
    pub name: &'a str,
    /// The exported entity's type.
    pub ty: EntityType,
    /// Index of the entity in its index space within the library.
    pub index: u32,
    /// For a global defined by the library with a constant `i32.const` initialiser, that value.
    /// For a data symbol this is the offset from the library's `__memory_base`.
    pub const_i32: Option<i32>,
    /// Symbol flags from `dylink.0` EXPORT_INFO (0 when absent).
    pub flags: u32,
    /// The ABI role of the export, if any.
    pub special: Option<SpecialExport>,
}

impl Export<'_> {
    /// Whether EXPORT_INFO marks the definition weak.
    pub fn is_weak(&self) -> bool {
        self.flags & SYM_BINDING_WEAK != 0
    }

    /// Whether this export is an ordinary symbol other libraries may bind to.
    pub fn is_symbol(&self) -> bool {
        self.special.is_none()
            && matches!(
                self.ty,
                EntityType::Func(_) | EntityType::Global(_) | EntityType::Tag(_)
            )
    }

    /// Whether this export can be the target of `GOT.mem`: an immutable `i32` global (its value
    /// is the symbol's offset from the library's `__memory_base`).
    pub fn is_data(&self) -> bool {
        matches!(&self.ty, EntityType::Global(g) if g.content_type == ValType::I32 && !g.mutable)
    }
}

/// A custom section, borrowed from the input.
#[derive(Clone, Copy, Debug)]
pub struct CustomSection<'a> {
    /// Section name.
    pub name: &'a str,
    /// Section payload.
    pub data: &'a [u8],
}

/// Something odd about a library that does not stop linking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Byte offset in the input, where known.
    pub offset: Option<u64>,
    /// What is odd.
    pub message: String,
}

/// Why a library could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The library's name as given to [`Library::parse`].
    pub library: String,
    /// Byte offset in the input where the problem is, where known.
    pub offset: Option<u64>,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(off) => write!(
                f,
                "{}: at byte offset {off:#x}: {}",
                self.library, self.message
            ),
            None => write!(f, "{}: {}", self.library, self.message),
        }
    }
}

impl std::error::Error for ParseError {}

/// A parsed dynamic library. Borrows from the bytes it was parsed from.
#[derive(Clone, Debug)]
pub struct Library<'a> {
    /// The library's name (what NEEDED entries and `dlopen` refer to).
    pub name: &'a str,
    /// The whole input module.
    pub bytes: &'a [u8],
    /// Whether the module has a `dylink.0` section at all.
    pub has_dylink: bool,
    /// MEM_INFO (zero sizes, alignment 1 when absent).
    pub mem_info: MemInfo,
    /// NEEDED: names of libraries this one depends on.
    pub needed: Vec<&'a str>,
    /// RUNTIME_PATH entries.
    pub runtime_path: Vec<&'a str>,
    /// TARGET_ARCH, if present.
    pub target_arch: Option<&'a str>,
    /// EXPORT_INFO entries (name, flags).
    pub export_info: Vec<(&'a str, u32)>,
    /// IMPORT_INFO entries (module, field, flags).
    pub import_info: Vec<(&'a str, &'a str, u32)>,
    /// All imports, in module order.
    pub imports: Vec<Import<'a>>,
    /// All exports, in module order.
    pub exports: Vec<Export<'a>>,
    /// `component-type*` custom sections carrying the library's WIT world.
    pub component_types: Vec<CustomSection<'a>>,
    /// Memories the module defines itself (a dynamic library should define none).
    pub defined_memories: u32,
    /// Tables the module defines itself.
    pub defined_tables: u32,
    /// Whether the module has a `start` section.
    pub has_start_section: bool,
    /// Non-fatal observations.
    pub warnings: Vec<Warning>,
}

struct Ctx<'n> {
    library: &'n str,
}

impl Ctx<'_> {
    fn err(&self, offset: Option<u64>, message: impl Into<String>) -> ParseError {
        ParseError {
            library: self.library.to_string(),
            offset,
            message: message.into(),
        }
    }

    fn wasm(&self, e: wasmparser::BinaryReaderError) -> ParseError {
        self.err(Some(e.offset()), e.message().to_string())
    }
}

/// Why a function type cannot be described by a [`FuncSig`] (so that two modules agreeing on the
/// `FuncSig` could still disagree on the type), or `None` when it can. `in_group` is the number of
/// types in its recursion group.
fn unlinkable_type(sub: &wasmparser::SubType, in_group: usize) -> Option<&'static str> {
    let CompositeInnerType::Func(f) = &sub.composite_type.inner else {
        return None;
    };
    if in_group > 1 {
        Some("it is defined in a recursion group with other types")
    } else if !sub.is_final || !sub.supertype_idxs.is_empty() {
        Some("it is not final or declares a supertype")
    } else if sub.composite_type.shared {
        Some("it is a shared type")
    } else if f
        .params()
        .iter()
        .chain(f.results())
        .any(|t| matches!(t, ValType::Ref(r) if r.type_index().is_some()))
    {
        Some("a parameter or result is a reference to a type defined in the module")
    } else {
        None
    }
}

fn unlinkable_message(what: &str, idx: u32, issue: &str) -> String {
    format!(
        "{what} has type {idx}, which weld cannot link across modules: {issue} \
         (weld matches function types by their parameter and result lists)"
    )
}

/// The signature of function type `idx`, borrowed: most callers only check that it exists.
fn func_sig<'t>(
    cx: &Ctx<'_>,
    types: &'t [Option<FuncSig>],
    idx: u32,
    off: u64,
) -> Result<&'t FuncSig, ParseError> {
    match types.get(idx as usize) {
        Some(Some(sig)) => Ok(sig),
        Some(None) => Err(cx.err(
            Some(off),
            format!("type index {idx} is not a function type"),
        )),
        None => Err(cx.err(
            Some(off),
            format!(
                "type index {idx} out of bounds (the type section has {} entries)",
                types.len()
            ),
        )),
    }
}

fn sig_of(ty: &wasmparser::FuncType) -> FuncSig {
    FuncSig::new(ty.params(), ty.results())
}

impl<'a> Library<'a> {
    /// Parses a dynamic library named `name` from `bytes`.
    ///
    /// Function bodies and data segments are skipped, not decoded. Errors carry the byte offset of
    /// the problem.
    pub fn parse(name: &'a str, bytes: &'a [u8]) -> Result<Library<'a>, ParseError> {
        let cx = Ctx { library: name };
        check_header(&cx, bytes)?;
        let mut lib = Library {
            name,
            bytes,
            has_dylink: false,
            mem_info: MemInfo {
                memory_alignment: 1,
                table_alignment: 1,
                ..MemInfo::default()
            },
            needed: Vec::new(),
            runtime_path: Vec::new(),
            target_arch: None,
            export_info: Vec::new(),
            import_info: Vec::new(),
            imports: Vec::new(),
            exports: Vec::new(),
            component_types: Vec::new(),
            defined_memories: 0,
            defined_tables: 0,
            has_start_section: false,
            warnings: Vec::new(),
        };

        // Types of the module's type section, by index (`None` for non-function types).
        let mut types: Vec<Option<FuncSig>> = Vec::new();
        // Per type: why a [`FuncSig`] would not describe it faithfully, if it would not.
        let mut type_issues: Vec<Option<&'static str>> = Vec::new();
        // Type index of every function (imported first, then defined).
        let mut funcs: Vec<u32> = Vec::new();
        // Type of every global (imported first) and its constant value if it has one.
        let mut globals: Vec<(wasmparser::GlobalType, Option<i32>)> = Vec::new();
        let mut memories: Vec<wasmparser::MemoryType> = Vec::new();
        let mut tables: Vec<wasmparser::TableType> = Vec::new();
        let mut tags: Vec<u32> = Vec::new();
        // Raw imports; classified once IMPORT_INFO is known (dylink.0 comes first, but be lenient).
        let mut raw_imports: Vec<(u64, wasmparser::Import<'a>)> = Vec::new();
        let mut raw_exports: Vec<(u64, wasmparser::Export<'a>)> = Vec::new();

        // A function type other libraries or the glue modules may have to match: a `FuncSig`
        // compares parameter and result lists only, so it must be all there is to the type.
        // `what` names the item; it is formatted only when there is an error to report.
        let linkable_sig = |types: &[Option<FuncSig>],
                            issues: &[Option<&str>],
                            idx: u32,
                            off: u64,
                            what: &dyn Fn() -> String| {
            let sig = func_sig(&cx, types, idx, off)?;
            match issues.get(idx as usize).copied().flatten() {
                None => Ok(sig.clone()),
                Some(issue) => Err(cx.err(Some(off), unlinkable_message(&what(), idx, issue))),
            }
        };

        let mut parser = Parser::new(0);
        let mut offset = 0usize;
        let mut section_count = 0usize;
        loop {
            let rest = bytes.get(offset..).unwrap_or(&[]);
            let (payload, consumed) = match parser.parse(rest, true).map_err(|e| cx.wasm(e))? {
                Chunk::NeedMoreData(_) => {
                    return Err(cx.err(Some(bytes.len() as u64), "unexpected end of input"));
                }
                Chunk::Parsed { consumed, payload } => (payload, consumed),
            };
            offset += consumed;
            let is_version = matches!(payload, Payload::Version { .. });
            match payload {
                Payload::Version {
                    encoding, range, ..
                } if encoding != Encoding::Module => {
                    return Err(cx.err(
                        Some(range.start),
                        "expected a core WebAssembly module, found a component",
                    ));
                }
                Payload::TypeSection(reader) => {
                    for group in reader {
                        let group = group.map_err(|e| cx.wasm(e))?;
                        let in_group = group.types().len();
                        for sub in group.into_types() {
                            type_issues.push(unlinkable_type(&sub, in_group));
                            types.push(match &sub.composite_type.inner {
                                CompositeInnerType::Func(f) => Some(sig_of(f)),
                                _ => None,
                            });
                        }
                    }
                }
                Payload::ImportSection(reader) => {
                    for item in reader.into_imports_with_offsets() {
                        let (off, import) = item.map_err(|e| cx.wasm(e))?;
                        match import.ty {
                            TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                                func_sig(&cx, &types, t, off)?;
                                funcs.push(t);
                            }
                            TypeRef::Global(g) => globals.push((g, None)),
                            TypeRef::Memory(m) => memories.push(m),
                            TypeRef::Table(t) => tables.push(t),
                            TypeRef::Tag(t) => tags.push(t.func_type_idx),
                        }
                        raw_imports.push((off, import));
                    }
                }
                Payload::FunctionSection(reader) => {
                    for t in reader.into_iter_with_offsets() {
                        let (off, t) = t.map_err(|e| cx.wasm(e))?;
                        func_sig(&cx, &types, t, off)?;
                        funcs.push(t);
                    }
                }
                Payload::TableSection(reader) => {
                    for t in reader {
                        tables.push(t.map_err(|e| cx.wasm(e))?.ty);
                        lib.defined_tables += 1;
                    }
                }
                Payload::MemorySection(reader) => {
                    for m in reader {
                        memories.push(m.map_err(|e| cx.wasm(e))?);
                        lib.defined_memories += 1;
                    }
                }
                Payload::TagSection(reader) => {
                    for t in reader {
                        tags.push(t.map_err(|e| cx.wasm(e))?.func_type_idx);
                    }
                }
                Payload::GlobalSection(reader) => {
                    for g in reader {
                        let g = g.map_err(|e| cx.wasm(e))?;
                        globals.push((g.ty, const_i32(&g.init_expr)));
                    }
                }
                Payload::ExportSection(reader) => {
                    for e in reader.into_iter_with_offsets() {
                        let (off, e) = e.map_err(|e| cx.wasm(e))?;
                        raw_exports.push((off, e));
                    }
                }
                Payload::StartSection { .. } => lib.has_start_section = true,
                Payload::CodeSectionStart {
                    size,
                    unchecked_range,
                    ..
                } => {
                    parser.skip_section();
                    let size = usize::try_from(size).unwrap_or(usize::MAX);
                    offset = offset.saturating_add(size);
                    if offset > bytes.len() {
                        // Point at the section, which is in the input, not at its declared end.
                        return Err(cx.err(
                            Some(unchecked_range.start),
                            format!(
                                "the code section (bytes {:#x}..{:#x}) runs past the end of the input ({} bytes)",
                                unchecked_range.start,
                                unchecked_range.end,
                                bytes.len()
                            ),
                        ));
                    }
                }
                Payload::CustomSection(reader) => {
                    let name_ = reader.name();
                    if name_ == "dylink.0" {
                        if lib.has_dylink {
                            lib.warnings.push(Warning {
                                offset: Some(reader.range().start),
                                message: "a second dylink.0 section; its subsections are merged"
                                    .into(),
                            });
                        }
                        if section_count != 0 {
                            lib.warnings.push(Warning {
                                offset: Some(reader.range().start),
                                message: "dylink.0 is not the first section of the module".into(),
                            });
                        }
                        lib.has_dylink = true;
                        if let KnownCustom::Dylink0(reader) = reader.as_known() {
                            lib.read_dylink(&cx, reader)?;
                        }
                    } else if name_.starts_with("component-type") {
                        lib.component_types.push(CustomSection {
                            name: name_,
                            data: reader.data(),
                        });
                    }
                }
                Payload::End(_) => break,
                _ => {}
            }
            if !is_version {
                section_count += 1;
            }
        }

        // IMPORT_INFO flags by field name: wasm-ld records the flags of a `GOT.mem` import under
        // module `env`, so an entry under `env` also applies to the GOT imports of that field.
        let mut import_flags: HashMap<(&str, &str), u32> = HashMap::new();
        for &(module, field, flags) in &lib.import_info {
            *import_flags.entry((module, field)).or_default() |= flags;
        }
        let export_flags: HashMap<&str, u32> = lib.export_info.iter().copied().collect();

        let mut func_idx = 0u32;
        let mut global_idx = 0usize;
        // Components do not allow a module to import the same name twice.
        let mut first_import: HashMap<(&str, &str), u64> =
            HashMap::with_capacity(raw_imports.len());
        for (off, import) in raw_imports {
            if let Some(first) = first_import.insert((import.module, import.name), off) {
                return Err(cx.err(
                    Some(off),
                    format!(
                        "import `{}.{}` appears twice (first at byte offset {first:#x}); a module inside a component cannot import the same name twice",
                        import.module, import.name
                    ),
                ));
            }
            let what = || format!("import `{}.{}`", import.module, import.name);
            let ty = match import.ty {
                TypeRef::Func(t) => {
                    func_idx += 1;
                    EntityType::Func(linkable_sig(&types, &type_issues, t, off, &what)?)
                }
                TypeRef::FuncExact(_) => {
                    return Err(cx.err(
                        Some(off),
                        format!(
                            "{} is an exact function import (`(func (exact ...))`), which weld does not support",
                            what()
                        ),
                    ));
                }
                TypeRef::Global(g) => {
                    global_idx += 1;
                    EntityType::Global(g)
                }
                TypeRef::Memory(m) => EntityType::Memory(m),
                TypeRef::Table(t) => EntityType::Table(t),
                TypeRef::Tag(t) => EntityType::Tag(linkable_sig(
                    &types,
                    &type_issues,
                    t.func_type_idx,
                    off,
                    &what,
                )?),
            };
            let class = classify_import(&cx, off, &import, &ty)?;
            let mut flags = import_flags
                .get(&(import.module, import.name))
                .copied()
                .unwrap_or(0);
            if matches!(class, ImportClass::GotMem | ImportClass::GotFunc) {
                flags |= import_flags
                    .get(&(names::ENV, import.name))
                    .copied()
                    .unwrap_or(0);
            }
            lib.imports.push(Import {
                module: import.module,
                name: import.name,
                ty,
                class,
                weak: flags & SYM_BINDING_WEAK != 0,
            });
        }
        let _ = (func_idx, global_idx);

        for (off, export) in raw_exports {
            let idx = export.index as usize;
            let missing = |what: &str, len: usize| {
                cx.err(
                    Some(off),
                    format!(
                        "export `{}` refers to {what} {idx}, but the module has only {len}",
                        export.name
                    ),
                )
            };
            let what = || format!("export `{}`", export.name);
            let (ty, const_val) = match export.kind {
                ExternalKind::Func | ExternalKind::FuncExact => {
                    let t = *funcs
                        .get(idx)
                        .ok_or_else(|| missing("function", funcs.len()))?;
                    (
                        EntityType::Func(linkable_sig(&types, &type_issues, t, off, &what)?),
                        None,
                    )
                }
                ExternalKind::Global => {
                    let (g, v) = *globals
                        .get(idx)
                        .ok_or_else(|| missing("global", globals.len()))?;
                    (EntityType::Global(g), v)
                }
                ExternalKind::Memory => (
                    EntityType::Memory(
                        *memories
                            .get(idx)
                            .ok_or_else(|| missing("memory", memories.len()))?,
                    ),
                    None,
                ),
                ExternalKind::Table => (
                    EntityType::Table(
                        *tables
                            .get(idx)
                            .ok_or_else(|| missing("table", tables.len()))?,
                    ),
                    None,
                ),
                ExternalKind::Tag => {
                    let t = *tags.get(idx).ok_or_else(|| missing("tag", tags.len()))?;
                    (
                        EntityType::Tag(linkable_sig(&types, &type_issues, t, off, &what)?),
                        None,
                    )
                }
            };
            let special = match (export.name, &ty) {
                (names::APPLY_DATA_RELOCS, EntityType::Func(_)) => {
                    Some(SpecialExport::ApplyDataRelocs)
                }
                (names::CALL_CTORS, EntityType::Func(_)) => Some(SpecialExport::CallCtors),
                (names::INITIALIZE, EntityType::Func(_)) => Some(SpecialExport::Initialize),
                (names::START, EntityType::Func(_)) => Some(SpecialExport::Start),
                _ => None,
            };
            lib.exports.push(Export {
                name: export.name,
                ty,
                index: export.index,
                const_i32: const_val,
                flags: export_flags.get(export.name).copied().unwrap_or(0),
                special,
            });
        }
        Ok(lib)
    }

    fn read_dylink(
        &mut self,
        cx: &Ctx<'_>,
        mut reader: wasmparser::Dylink0SectionReader<'a>,
    ) -> Result<(), ParseError> {
        loop {
            // Where this subsection starts (its id byte), for errors and warnings about it.
            let at = reader.original_position();
            let Some(sub) = reader.next() else { break };
            let what = usize::try_from(at)
                .ok()
                .and_then(|i| self.bytes.get(i))
                .map_or("dylink.0 subsection", |&id| dylink_subsection_name(id));
            // wasmparser's message ("unexpected end-of-file", "malformed UTF-8 encoding") says
            // what is wrong; say where, too.
            let sub =
                sub.map_err(|e| cx.err(Some(e.offset()), format!("{what}: {}", e.message())))?;
            match sub {
                Dylink0Subsection::MemInfo(m) => {
                    let pow = |p: u32, field: &str| {
                        1u32.checked_shl(p).ok_or_else(|| {
                            cx.err(
                                Some(at),
                                format!("{what}: {field} alignment 2^{p} does not fit in 32 bits"),
                            )
                        })
                    };
                    self.mem_info = MemInfo {
                        memory_size: m.memory_size,
                        memory_alignment: pow(m.memory_alignment, "memory")?,
                        table_size: m.table_size,
                        table_alignment: pow(m.table_alignment, "table")?,
                    };
                }
                Dylink0Subsection::Needed(n) => self.needed.extend(n),
                Dylink0Subsection::ExportInfo(e) => self
                    .export_info
                    .extend(e.iter().map(|e| (e.name, e.flags.bits()))),
                Dylink0Subsection::ImportInfo(i) => self
                    .import_info
                    .extend(i.iter().map(|i| (i.module, i.field, i.flags.bits()))),
                Dylink0Subsection::RuntimePath(r) => self.runtime_path.extend(r),
                Dylink0Subsection::TargetArch(a) => self.target_arch = Some(a),
                Dylink0Subsection::Unknown { ty, .. } => self.warnings.push(Warning {
                    offset: Some(at),
                    message: format!("unknown dylink.0 subsection type {ty} ignored"),
                }),
            }
        }
        Ok(())
    }

    /// The export named `name`, if any.
    pub fn export(&self, name: &str) -> Option<&Export<'a>> {
        self.exports.iter().find(|e| e.name == name)
    }

    /// The export with the given ABI role, if any.
    pub fn special(&self, which: SpecialExport) -> Option<&Export<'a>> {
        self.exports.iter().find(|e| e.special == Some(which))
    }
}

/// Rejects inputs that are not WebAssembly binaries at all with a message that says what they
/// look like (wasmparser's own messages dump the magic bytes as multi-line arrays).
fn check_header(cx: &Ctx<'_>, bytes: &[u8]) -> Result<(), ParseError> {
    const MAGIC: &[u8] = b"\0asm";
    if bytes.is_empty() {
        return Err(cx.err(
            None,
            "the input is empty (0 bytes); expected a WebAssembly module",
        ));
    }
    let head = bytes.get(..MAGIC.len()).unwrap_or(bytes);
    if !MAGIC.starts_with(head) {
        let found: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
        let text = bytes.trim_ascii_start();
        let hint = if bytes.starts_with(b"\x7fELF") {
            " (an ELF file: a native library, not a WebAssembly one?)"
        } else if text.starts_with(b"(") || text.starts_with(b";;") {
            " (WebAssembly text? weld links binary modules)"
        } else {
            ""
        };
        return Err(cx.err(
            Some(0),
            format!(
                "not a WebAssembly module: it starts with {}{hint}, not with the magic bytes 00 61 73 6d (\"\\0asm\")",
                found.join(" ")
            ),
        ));
    }
    if bytes.len() < 8 {
        return Err(cx.err(
            Some(bytes.len() as u64),
            format!(
                "the input ends inside the 8-byte module header ({} bytes)",
                bytes.len()
            ),
        ));
    }
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .and_then(|v| <[u8; 2]>::try_from(v).ok())
            .map_or(0, u16::from_le_bytes)
    };
    let (version, layer) = (u16_at(4), u16_at(6));
    if layer == 0 && version != 1 {
        return Err(cx.err(
            Some(4),
            format!("unsupported binary version {version} (weld reads version 1 core modules)"),
        ));
    }
    Ok(())
}

/// How errors name a `dylink.0` subsection, by id.
fn dylink_subsection_name(id: u8) -> &'static str {
    match id {
        1 => "dylink.0 MEM_INFO subsection",
        2 => "dylink.0 NEEDED subsection",
        3 => "dylink.0 EXPORT_INFO subsection",
        4 => "dylink.0 IMPORT_INFO subsection",
        5 => "dylink.0 RUNTIME_PATH subsection",
        6 => "dylink.0 TARGET_ARCH subsection",
        _ => "dylink.0 subsection",
    }
}

/// The value of a constant expression that is exactly `i32.const N`.
fn const_i32(expr: &wasmparser::ConstExpr<'_>) -> Option<i32> {
    let mut ops = expr.get_operators_reader();
    let v = match ops.read().ok()? {
        Operator::I32Const { value } => value,
        _ => return None,
    };
    match ops.read().ok()? {
        Operator::End => Some(v),
        _ => None,
    }
}

fn classify_import(
    cx: &Ctx<'_>,
    off: u64,
    import: &wasmparser::Import<'_>,
    ty: &EntityType,
) -> Result<ImportClass, ParseError> {
    let expected = |what: &str| {
        let note = match ty {
            EntityType::Global(g) if g.shared => " (the globals weld provides are not shared)",
            _ => "",
        };
        cx.err(
            Some(off),
            format!(
                "import `{}.{}` must be {what}, found {ty}{note}",
                import.module, import.name
            ),
        )
    };
    // Shared globals (shared-everything threads) are a different type: the linker's globals are
    // not shared.
    let i32_global = |mutable: Option<bool>| match ty {
        EntityType::Global(g) if g.content_type == ValType::I32 && !g.shared => {
            mutable.is_none_or(|m| m == g.mutable)
        }
        _ => false,
    };
    Ok(match (import.module, import.name) {
        (names::ENV, names::MEMORY) => match ty {
            EntityType::Memory(_) => ImportClass::Memory,
            _ => return Err(expected("a memory")),
        },
        (names::ENV, names::TABLE) => match ty {
            EntityType::Table(t) if t.element_type == wasmparser::RefType::FUNCREF => {
                ImportClass::Table
            }
            _ => return Err(expected("a funcref table")),
        },
        (names::ENV, names::STACK_POINTER) => {
            if !i32_global(Some(true)) {
                return Err(expected("a mutable i32 global"));
            }
            ImportClass::StackPointer
        }
        (names::ENV, names::MEMORY_BASE) => {
            if !i32_global(Some(false)) {
                return Err(expected("an immutable i32 global"));
            }
            ImportClass::MemoryBase
        }
        (names::ENV, names::TABLE_BASE) => {
            if !i32_global(Some(false)) {
                return Err(expected("an immutable i32 global"));
            }
            ImportClass::TableBase
        }
        (names::ENV, _) => match ty {
            EntityType::Func(sig) => ImportClass::Function(sig.clone()),
            EntityType::Global(g) if !g.shared => ImportClass::EnvGlobal,
            EntityType::Global(_) => {
                return Err(expected("a function, a non-shared global or a tag"));
            }
            EntityType::Tag(sig) => ImportClass::EnvTag(sig.clone()),
            _ => return Err(expected("a function, global or tag")),
        },
        (names::GOT_MEM, _) => {
            if !i32_global(None) {
                return Err(expected("an i32 global"));
            }
            ImportClass::GotMem
        }
        (names::GOT_FUNC, _) => {
            if !i32_global(None) {
                return Err(expected("an i32 global"));
            }
            ImportClass::GotFunc
        }
        _ => ImportClass::Other,
    })
}

#[cfg(test)]
mod tests;

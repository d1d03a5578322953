//! Synthesis of the glue modules that tie dynamic libraries together, with `wasm-encoder`.
//!
//! Given parsed libraries ([`weld_module`]) and their resolution ([`weld_graph`]), [`synthesize`]
//! computes the memory and table [`Layout`] and builds three small core modules:
//!
//! * the **main module**, which defines the one linear memory, the one function table, the stack
//!   pointer and every linker-provided global (each library's `__memory_base`/`__table_base`, the
//!   `GOT.mem`/`GOT.func` entries, heap and stack bounds), imports every non-dynamic-linking
//!   function the libraries import (WIT functions, intrinsics) and re-exports it under a private
//!   name, and exports `call_indirect` shims: for imports whose exporter is instantiated later,
//!   and for the component's own exports;
//! * the **init module**, whose active element segment fills the table slots of functions whose
//!   address is taken or that are reached through a shim, and whose start function runs every
//!   `__wasm_apply_data_relocs` and then every constructor, in initialization order;
//! * a **stubs module** of trapping functions for unresolved weak functions, when there are any.
//!
//! Library code is never re-encoded: libraries are instantiated as they are, with the
//! [`LibraryInstance`] argument lists this crate computes.
//!
//! ```
//! use weld_graph::{resolve, Options};
//! use weld_module::Library;
//! use weld_synth::{synthesize, SynthOptions};
//!
//! let wasm = wat::parse_str(r#"(module
//!     (@dylink.0 (mem-info (memory 100 4)))
//!     (import "env" "memory" (memory 0))
//!     (import "env" "__memory_base" (global i32))
//!     (func (export "f")))"#).unwrap();
//! let libs = [Library::parse("liba.so", &wasm).unwrap()];
//! let link = resolve(&libs, &[true], &Options::default()).unwrap();
//! let out = synthesize(&libs, &link, &SynthOptions::default(), &[], &[]).unwrap();
//! assert_eq!(out.layout.memory_base[0], 1024 * 1024); // right after the 1 MiB stack
//! assert_eq!(out.layout.heap_base, 1024 * 1024 + 112); // 100 bytes, 16-aligned
//! wasmparser::validate(&out.main).unwrap();
//! wasmparser::validate(&out.init).unwrap();
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

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use indexmap::IndexMap;
use wasm_encoder::{
    CodeSection, ConstExpr, ElementSection, Elements, EntityType as EncEntity, ExportKind,
    ExportSection, Function, FunctionSection, GlobalSection, GlobalType, ImportSection,
    MemorySection, MemoryType, Module, RefType, StartSection, TableSection, TableType, TypeSection,
};
use weld_graph::{Binding, Link};
use weld_module::{
    CustomSection, EntityType, FuncSig, ImportClass, Library, SpecialExport, ValType, names,
};

/// The default stack size: 1 MiB, as LLVM and wasm-tools use.
pub const DEFAULT_STACK_SIZE: u32 = 1024 * 1024;

const PAGE: u64 = 65536;

/// Options for synthesis.
#[derive(Clone, Debug)]
pub struct SynthOptions {
    /// Bytes of stack, placed first in memory (`[0, stack_size)`, growing down).
    pub stack_size: u32,
    /// Per library (input order): whether it can be opened with `dlopen`, so that it and its
    /// symbols go into the dlopen table. Missing entries count as `false`.
    pub dl_openable: Vec<bool>,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            stack_size: DEFAULT_STACK_SIZE,
            dl_openable: Vec::new(),
        }
    }
}

pub mod libdl;

/// A function the main module must export under an exact name (for the component's exports),
/// implemented by `exports[export]` of library `library`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportShim {
    /// The exact core export name.
    pub name: String,
    /// The library implementing it.
    pub library: usize,
    /// Index into that library's exports.
    pub export: usize,
}

/// Where memory and table space went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Stack size in bytes; the stack is `[0, stack_size)`.
    pub stack_size: u32,
    /// Each library's `__memory_base` (0 for pruned libraries).
    pub memory_base: Vec<u32>,
    /// Each library's `__table_base` (0 for pruned libraries).
    pub table_base: Vec<u32>,
    /// First byte after all data, 16-aligned.
    pub heap_base: u32,
    /// `heap_base` rounded up to a 64 KiB page.
    pub heap_end: u32,
    /// Initial memory size in pages.
    pub memory_pages: u32,
    /// First table slot after the libraries' own table regions.
    pub first_function_slot: u32,
    /// Table size (slot 0 is the null function pointer).
    pub table_size: u32,
    /// Table slot of every function whose address is needed: `(library, export) -> slot`, in slot
    /// order. The export is the library's first export of that function, so a function exported
    /// under several names still has one slot.
    pub function_slots: IndexMap<(usize, usize), u32>,
    /// The slot of every `(library, export)` pair that asked for one (any of a function's names).
    pub slot_by_export: HashMap<(usize, usize), u32>,
    /// Table slots of trapping stubs whose address is taken (`GOT.func` with
    /// `--stub-missing-functions`): `stub index -> slot`, after all function slots.
    pub stub_slots: IndexMap<usize, u32>,
    /// The dlopen table's region `[start, start + size)`, right after the stack, when there is
    /// one (some library is dl-openable or imports `GOT.mem.__wasm_libdl_libraries`).
    pub dlopen_table: Option<(u32, u32)>,
    /// Address of the dlopen table's root record (`__wasm_libdl_libraries`), 0 when absent.
    pub dlopen_root: u32,
    /// Thread-local storage bookkeeping, when some library needs it.
    pub tls: Option<TlsLayout>,
}

/// Where the thread-local-storage bookkeeping lives (see docs/abi.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsLayout {
    /// Array of each TLS-owning library's TLS base for the main thread (`u32` per slot).
    pub main_thread_tls_base: u32,
    /// Array of pointers to each TLS-owning library's `__wasm_library_tls_info` (0 if unused).
    pub library_info: u32,
    /// The `__wasm_program_tls_info` record `{count, library_info, main_thread_tls_base}` (0 if
    /// no library asks for it).
    pub program_info: u32,
    /// Per library: its slot in the arrays (libraries exporting `__wasm_library_tls_info`).
    pub slots: Vec<Option<u32>>,
    /// Number of slots.
    pub count: u32,
    /// Whether some library spawns threads (`[thread-new-indirect-v0]`), so the TLS base of the
    /// running thread is read through `context.get 1`.
    pub threads: bool,
}

/// Where an item passed to a library's import comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// An export of the main module.
    Main(String),
    /// An export of an earlier library instance.
    Library(usize, String),
    /// An export of the stubs module.
    Stubs(String),
}

/// The kind of an instantiation argument item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// A function.
    Func,
    /// A global.
    Global,
    /// A memory.
    Memory,
    /// A table.
    Table,
    /// A tag.
    Tag,
}

/// One item of an instantiation argument: the import's field name and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ArgItem {
    /// Import field name.
    pub name: String,
    /// Kind of the item.
    pub kind: ItemKind,
    /// Where it comes from.
    pub source: Source,
}

/// How to instantiate one library: for each import module name, the items to provide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryInstance {
    /// The library (input index).
    pub library: usize,
    /// Import module name -> items, in first-import order.
    pub args: Vec<(String, Arg)>,
}

/// One instantiation argument of a library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Items for this library alone.
    Items(Vec<ArgItem>),
    /// An argument shared by several libraries: an index into [`Synthesized::shared_args`].
    Shared(usize),
}

/// A `call_indirect` shim in the main module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShimInfo {
    /// The main module's export name for the shim.
    pub export_name: String,
    /// The library whose function it calls.
    pub library: usize,
    /// That function's export index.
    pub export: usize,
    /// The table slot it calls through.
    pub slot: u32,
}

/// Instance arguments of the init module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitArg {
    /// The main module's instance.
    Main,
    /// A library's instance.
    Library(usize),
    /// The stubs module's instance.
    Stubs,
}

impl Synthesized {
    /// The items library instance `inst` gets for import module `module`.
    pub fn arg_items<'s>(
        &'s self,
        inst: &'s LibraryInstance,
        module: &str,
    ) -> Option<&'s [ArgItem]> {
        let (_, arg) = inst.args.iter().find(|(m, _)| m == module)?;
        match arg {
            Arg::Items(items) => Some(items),
            Arg::Shared(i) => self.shared_args.get(*i).map(Vec::as_slice),
        }
    }
}

/// Everything [`synthesize`] produces.
#[derive(Clone, Debug)]
pub struct Synthesized {
    /// Memory and table layout.
    pub layout: Layout,
    /// The main module.
    pub main: Vec<u8>,
    /// The init module (element segments + start function).
    pub init: Vec<u8>,
    /// Arguments of the init module: import module name -> instance.
    pub init_args: Vec<(String, InitArg)>,
    /// The stubs module, when some function is stubbed.
    pub stubs: Option<Vec<u8>>,
    /// Library instances in instantiation order.
    pub instances: Vec<LibraryInstance>,
    /// Arguments shared by several libraries (all items from the main module or the stubs, so
    /// they can be built before any library is instantiated).
    pub shared_args: Vec<Vec<ArgItem>>,
    /// The import shims created (calls to libraries instantiated later).
    pub import_shims: Vec<ShimInfo>,
    /// The export shims created.
    pub export_shims: Vec<ShimInfo>,
}

/// Why synthesis failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthError {
    /// The problems found.
    pub problems: Vec<String>,
}

impl fmt::Display for SynthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [only] = self.problems.as_slice() {
            return f.write_str(only);
        }
        write!(f, "{} problems:", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SynthError {}

/// The main module's export name of a marker global identifying it inside a component.
pub const MAIN_MARKER: &str = "weld:main";

// Private export names of the main module are built from indices, never from library or symbol
// names, so that no two can collide whatever characters the inputs' names contain.
fn memory_base_name(lib: usize) -> String {
    format!("weld:memory-base:{lib}")
}
fn table_base_name(lib: usize) -> String {
    format!("weld:table-base:{lib}")
}

fn align_up(value: u64, align: u64) -> u64 {
    if align <= 1 {
        value
    } else {
        value.div_ceil(align).saturating_mul(align)
    }
}

/// Computes the layout: stack first, then each kept library's data region at its alignment (in
/// instantiation order), then the heap; table slot 0 null, each library's table region, then one
/// slot per function whose address is needed.
pub fn layout(
    libs: &[Library<'_>],
    link: &Link<'_>,
    options: &SynthOptions,
    export_shims: &[ExportShim],
) -> Result<Layout, SynthError> {
    let mut problems = Vec::new();
    if !options.stack_size.is_multiple_of(16) {
        problems.push(format!(
            "stack size {} is not a multiple of 16 (the C ABI keeps the stack pointer 16-byte aligned)",
            options.stack_size
        ));
        return Err(SynthError { problems });
    }
    let mut layout = Layout {
        stack_size: options.stack_size,
        memory_base: vec![0; libs.len()],
        table_base: vec![0; libs.len()],
        ..Layout::default()
    };
    let mut mem = align_up(u64::from(options.stack_size), 16);
    let mut table: u64 = 1;
    if needs_dlopen_table(libs, link, options) {
        let size = dlopen_table_size(libs, link, options);
        layout.dlopen_table = Some((u32::try_from(mem).unwrap_or(u32::MAX), size));
        layout.dlopen_root = u32::try_from(mem + u64::from(size) - 8).unwrap_or(u32::MAX);
        mem = align_up(mem + u64::from(size), 16);
    }
    if let Some(mut tls) = tls_needs(libs, link) {
        mem = align_up(mem, 4);
        tls.main_thread_tls_base = u32::try_from(mem).unwrap_or(u32::MAX);
        mem += u64::from(tls.count) * 4;
        if tls.program_info != 0 {
            tls.library_info = u32::try_from(mem).unwrap_or(u32::MAX);
            mem += u64::from(tls.count) * 4;
            tls.program_info = u32::try_from(mem).unwrap_or(u32::MAX);
            mem += 12;
        }
        mem = align_up(mem, 16);
        layout.tls = Some(tls);
    }
    for &l in &link.instantiation_order {
        let Some(lib) = libs.get(l) else { continue };
        let mi = lib.mem_info;
        mem = align_up(mem, u64::from(mi.memory_alignment));
        table = align_up(table, u64::from(mi.table_alignment));
        if let Some(b) = layout.memory_base.get_mut(l) {
            *b = u32::try_from(mem).unwrap_or(u32::MAX);
        }
        if let Some(b) = layout.table_base.get_mut(l) {
            *b = u32::try_from(table).unwrap_or(u32::MAX);
        }
        mem += u64::from(mi.memory_size);
        table += u64::from(mi.table_size);
        if mem > u64::from(u32::MAX) {
            problems.push(format!(
                "memory layout overflow: placing `{}` ({} bytes of data at alignment {}) goes past the 4 GiB of a 32-bit memory",
                lib.name, mi.memory_size, mi.memory_alignment
            ));
            return Err(SynthError { problems });
        }
    }
    let heap_base = align_up(mem, 16);
    let heap_end = align_up(heap_base, PAGE);
    if heap_end > u64::from(u32::MAX) {
        problems.push(format!(
            "memory layout overflow: the stack ({} bytes) and all libraries' data need {heap_base} bytes, more than a 32-bit memory holds",
            options.stack_size
        ));
        return Err(SynthError { problems });
    }
    layout.heap_base = u32::try_from(heap_base).unwrap_or(u32::MAX);
    layout.heap_end = u32::try_from(heap_end.min(u64::from(u32::MAX))).unwrap_or(u32::MAX);
    layout.memory_pages = u32::try_from(heap_end / PAGE).unwrap_or(u32::MAX);
    layout.first_function_slot = u32::try_from(table).unwrap_or(u32::MAX);

    // Function slots: GOT.func targets and shim targets, in instantiation order of the importer,
    // then the component's exports.
    // Each function gets one slot, whichever of its export names asks: canonicalise to the
    // library's first export of that function index.
    let mut canonical: HashMap<(usize, u32), usize> = HashMap::new();
    for &l in &link.instantiation_order {
        for (e, export) in libs
            .get(l)
            .map_or(&[][..], |x| &x.exports[..])
            .iter()
            .enumerate()
        {
            if matches!(export.ty, EntityType::Func(_)) {
                canonical.entry((l, export.index)).or_insert(e);
            }
        }
    }
    let mut next = table;
    let mut slot_for = |key: (usize, usize), layout: &mut Layout| {
        if layout.slot_by_export.contains_key(&key) {
            return;
        }
        let (l, e) = key;
        let func = libs.get(l).and_then(|x| x.exports.get(e)).map(|x| x.index);
        let canon = func
            .and_then(|f| canonical.get(&(l, f)).copied())
            .map_or(key, |ce| (l, ce));
        let slot = match layout.function_slots.get(&canon) {
            Some(&slot) => slot,
            None => {
                let slot = u32::try_from(next).unwrap_or(u32::MAX);
                layout.function_slots.insert(canon, slot);
                next += 1;
                slot
            }
        };
        layout.slot_by_export.insert(key, slot);
    };
    for &l in &link.instantiation_order {
        for b in link.bindings.get(l).into_iter().flatten() {
            match *b {
                Binding::FunctionAddress { library, export }
                | Binding::Function {
                    library,
                    export,
                    shim: true,
                } => slot_for((library, export), &mut layout),
                _ => {}
            }
        }
    }
    for shim in export_shims {
        slot_for((shim.library, shim.export), &mut layout);
    }
    // Every function a dl-openable library exports: `dlsym` yields the same slot as `&f`.
    for &l in &link.instantiation_order {
        if !options.dl_openable.get(l).copied().unwrap_or(false) {
            continue;
        }
        for (e, export) in dl_symbols(libs, l) {
            if matches!(export.ty, EntityType::Func(_)) {
                slot_for((l, e), &mut layout);
            }
        }
    }
    for &l in &link.instantiation_order {
        for b in link.bindings.get(l).into_iter().flatten() {
            if let Binding::StubAddress(s) = *b
                && !layout.stub_slots.contains_key(&s)
            {
                layout
                    .stub_slots
                    .insert(s, u32::try_from(next).unwrap_or(u32::MAX));
                next += 1;
            }
        }
    }
    if next > u64::from(u32::MAX) {
        problems.push(format!(
            "table layout overflow: {next} slots needed, more than a 32-bit table index holds"
        ));
        return Err(SynthError { problems });
    }
    layout.table_size = u32::try_from(next).unwrap_or(u32::MAX);
    Ok(layout)
}

/// Gives every library the same argument for each import module other than `env` (`GOT.mem`,
/// `GOT.func`, WIT interfaces, …) when that is possible: the union of what all libraries import
/// from it, provided every item comes from the main module or the stubs (so it exists before any
/// library) and no name means two different things. Each such argument is then one core
/// instance in the component instead of one per library (wasmtime loads components of at most
/// 1000 instances).
fn share_arguments(instances: &mut [LibraryInstance]) -> Vec<Vec<ArgItem>> {
    let mut unions: IndexMap<String, IndexMap<String, ArgItem>> = IndexMap::new();
    let mut unshareable: HashSet<String> = HashSet::new();
    for inst in instances.iter() {
        for (module, arg) in &inst.args {
            let Arg::Items(items) = arg else { continue };
            if module == names::ENV || unshareable.contains(module) {
                continue;
            }
            let union = unions.entry(module.clone()).or_default();
            for item in items {
                let from_main = matches!(item.source, Source::Main(_) | Source::Stubs(_));
                match union.get(&item.name) {
                    _ if !from_main => {
                        unshareable.insert(module.clone());
                    }
                    Some(existing) if existing != item => {
                        unshareable.insert(module.clone());
                    }
                    Some(_) => {}
                    None => {
                        union.insert(item.name.clone(), item.clone());
                    }
                }
            }
        }
    }
    let mut shared = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (module, union) in unions {
        if !unshareable.contains(&module) {
            index.insert(module, shared.len());
            shared.push(union.into_values().collect());
        }
    }
    for inst in instances.iter_mut() {
        for (module, arg) in &mut inst.args {
            if let Some(&i) = index.get(module) {
                *arg = Arg::Shared(i);
            }
        }
    }
    shared
}

/// Whether some kept library imports `module.name`.
fn imports_any(libs: &[Library<'_>], link: &Link<'_>, module: &str, name: &str) -> bool {
    link.instantiation_order.iter().any(|&l| {
        libs.get(l).is_some_and(|lib| {
            lib.imports
                .iter()
                .any(|i| i.module == module && i.name == name)
        })
    })
}

/// The TLS bookkeeping the link needs, with slots assigned (addresses still 0;
/// `program_info` is 1 when the record is needed).
fn tls_needs(libs: &[Library<'_>], link: &Link<'_>) -> Option<TlsLayout> {
    let needs_base = imports_any(libs, link, names::ENV, "__wasm_get_tls_base")
        || imports_any(libs, link, names::ENV, "__wasm_set_tls_base");
    let needs_program = imports_any(libs, link, names::GOT_MEM, "__wasm_program_tls_info");
    if !needs_base && !needs_program {
        return None;
    }
    let mut tls = TlsLayout {
        slots: vec![None; libs.len()],
        program_info: u32::from(needs_program),
        threads: imports_any(libs, link, "$root", "[thread-new-indirect-v0]"),
        ..TlsLayout::default()
    };
    for &l in &link.instantiation_order {
        let has_info = libs
            .get(l)
            .and_then(|lib| lib.export("__wasm_library_tls_info"))
            .is_some_and(|e| e.is_data());
        if has_info && let Some(slot) = tls.slots.get_mut(l) {
            *slot = Some(tls.count);
            tls.count += 1;
        }
    }
    Some(tls)
}

/// Whether the link needs a dlopen table.
fn needs_dlopen_table(libs: &[Library<'_>], link: &Link<'_>, options: &SynthOptions) -> bool {
    link.instantiation_order.iter().any(|&l| {
        options.dl_openable.get(l).copied().unwrap_or(false)
            || libs.get(l).is_some_and(|lib| {
                lib.imports
                    .iter()
                    .any(|i| i.class == ImportClass::GotMem && i.name == "__wasm_libdl_libraries")
            })
    })
}

/// The symbols of library `l` that go into the dlopen table: functions and data symbols with a
/// constant offset, with their export indices.
fn dl_symbols<'l, 'a>(
    libs: &'l [Library<'a>],
    l: usize,
) -> impl Iterator<Item = (usize, &'l weld_module::Export<'a>)> {
    libs.get(l)
        .map_or(&[][..], |lib| &lib.exports[..])
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            e.is_symbol()
                && match &e.ty {
                    EntityType::Func(_) => true,
                    EntityType::Global(_) => e.is_data() && e.const_i32.is_some(),
                    _ => false,
                }
        })
}

fn padded(len: usize) -> u64 {
    align_up(len as u64, 4)
}

fn dlopen_libraries(link: &Link<'_>, options: &SynthOptions) -> Vec<usize> {
    link.instantiation_order
        .iter()
        .copied()
        .filter(|&l| options.dl_openable.get(l).copied().unwrap_or(false))
        .collect()
}

/// Bytes of the dlopen table: names, symbol records, library records, root.
fn dlopen_table_size(libs: &[Library<'_>], link: &Link<'_>, options: &SynthOptions) -> u32 {
    let mut size = 8u64;
    for l in dlopen_libraries(link, options) {
        size += padded(libs.get(l).map_or(0, |x| x.name.len())) + 16;
        for (_, e) in dl_symbols(libs, l) {
            size += padded(e.name.len()) + 12;
        }
    }
    u32::try_from(size).unwrap_or(u32::MAX)
}

/// Writes the dlopen table (see docs/abi.md): all little-endian `u32`s.
fn dlopen_table_bytes(
    libs: &[Library<'_>],
    link: &Link<'_>,
    options: &SynthOptions,
    layout: &Layout,
) -> Vec<u8> {
    let Some((start, size)) = layout.dlopen_table else {
        return Vec::new();
    };
    let mut buf: Vec<u8> = Vec::with_capacity(size as usize);
    let addr = |buf: &Vec<u8>| start.wrapping_add(u32::try_from(buf.len()).unwrap_or(0));
    let put = |buf: &mut Vec<u8>, v: u32| buf.extend_from_slice(&v.to_le_bytes());
    let put_name = |buf: &mut Vec<u8>, name: &str| {
        buf.extend_from_slice(name.as_bytes());
        while !buf.len().is_multiple_of(4) {
            buf.push(0);
        }
    };
    let mut records: Vec<(&str, u32, u32, u32)> = Vec::new();
    for l in dlopen_libraries(link, options) {
        let Some(lib) = libs.get(l) else { continue };
        let lib_name_addr = addr(&buf);
        put_name(&mut buf, lib.name);
        let mut symbols: Vec<(&str, u32, u32)> = Vec::new();
        for (e, export) in dl_symbols(libs, l) {
            let name_addr = addr(&buf);
            put_name(&mut buf, export.name);
            let address = match export.ty {
                EntityType::Func(_) => layout.slot_by_export.get(&(l, e)).copied().unwrap_or(0),
                _ => layout
                    .memory_base
                    .get(l)
                    .copied()
                    .unwrap_or(0)
                    .wrapping_add(export.const_i32.unwrap_or(0) as u32),
            };
            symbols.push((export.name, name_addr, address));
        }
        symbols.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let symbols_addr = addr(&buf);
        for (name, name_addr, address) in &symbols {
            put(&mut buf, u32::try_from(name.len()).unwrap_or(0));
            put(&mut buf, *name_addr);
            put(&mut buf, *address);
        }
        records.push((
            lib.name,
            lib_name_addr,
            u32::try_from(symbols.len()).unwrap_or(0),
            symbols_addr,
        ));
    }
    records.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let libraries_addr = addr(&buf);
    for (name, name_addr, count, symbols_addr) in &records {
        put(&mut buf, u32::try_from(name.len()).unwrap_or(0));
        put(&mut buf, *name_addr);
        put(&mut buf, *count);
        put(&mut buf, *symbols_addr);
    }
    put(&mut buf, u32::try_from(records.len()).unwrap_or(0));
    put(&mut buf, libraries_addr);
    buf
}

fn enc_val(t: ValType) -> wasm_encoder::ValType {
    match t {
        ValType::I32 => wasm_encoder::ValType::I32,
        ValType::I64 => wasm_encoder::ValType::I64,
        ValType::F32 => wasm_encoder::ValType::F32,
        ValType::F64 => wasm_encoder::ValType::F64,
        ValType::V128 => wasm_encoder::ValType::V128,
        ValType::Ref(r) => wasm_encoder::RefType::try_from(r)
            .map(wasm_encoder::ValType::Ref)
            .unwrap_or(wasm_encoder::ValType::Ref(RefType::FUNCREF)),
    }
}

/// Function types of a module under construction, deduplicated.
#[derive(Default)]
struct Types {
    section: TypeSection,
    map: HashMap<FuncSig, u32>,
}

impl Types {
    fn of(&mut self, sig: &FuncSig) -> u32 {
        if let Some(&i) = self.map.get(sig) {
            return i;
        }
        let i = self.section.len();
        self.section.ty().function(
            sig.params.iter().copied().map(enc_val),
            sig.results.iter().copied().map(enc_val),
        );
        self.map.insert(sig.clone(), i);
        i
    }
}

/// Builds the main module's globals, deduplicated by export name.
#[derive(Default)]
struct Globals {
    section: GlobalSection,
    exports: Vec<(String, u32)>,
    by_name: HashMap<String, u32>,
}

impl Globals {
    /// Defines (once) an i32 global exported as `name` (with `:const` appended when immutable).
    fn get(&mut self, name: &str, mutable: bool, value: i32) -> String {
        let export = if mutable {
            name.to_string()
        } else {
            format!("{name}:const")
        };
        if !self.by_name.contains_key(&export) {
            let idx = self.section.len();
            self.section.global(
                GlobalType {
                    val_type: wasm_encoder::ValType::I32,
                    mutable,
                    shared: false,
                },
                &ConstExpr::i32_const(value),
            );
            self.by_name.insert(export.clone(), idx);
            self.exports.push((export.clone(), idx));
        }
        export
    }

    fn index(&self, export: &str) -> Option<u32> {
        self.by_name.get(export).copied()
    }
}

fn import_mutability(ty: &EntityType) -> bool {
    matches!(ty, EntityType::Global(g) if g.mutable)
}

fn item_kind(ty: &EntityType) -> ItemKind {
    match ty {
        EntityType::Func(_) => ItemKind::Func,
        EntityType::Global(_) => ItemKind::Global,
        EntityType::Memory(_) => ItemKind::Memory,
        EntityType::Table(_) => ItemKind::Table,
        EntityType::Tag(_) => ItemKind::Tag,
    }
}

fn wrap_i32(v: u32) -> i32 {
    i32::from_ne_bytes(v.to_ne_bytes())
}

/// Synthesizes the main, init and stubs modules and the instantiation arguments of every kept
/// library.
///
/// `export_shims` are the functions the main module must export under exact names (the
/// component's exports, `cabi_realloc`); `custom_sections` are appended to the main module (the
/// libraries' `component-type*` sections).
pub fn synthesize(
    libs: &[Library<'_>],
    link: &Link<'_>,
    options: &SynthOptions,
    export_shims: &[ExportShim],
    custom_sections: &[CustomSection<'_>],
) -> Result<Synthesized, SynthError> {
    let layout = layout(libs, link, options, export_shims)?;
    let mut problems = Vec::new();
    let lib_name = |l: usize| libs.get(l).map_or("?", |lib| lib.name);
    let export_of = |l: usize, e: usize| libs.get(l).and_then(|lib| lib.exports.get(e));
    let slot_of = |l: usize, e: usize| layout.slot_by_export.get(&(l, e)).copied();

    // --- Stubs module -------------------------------------------------------------------------
    let mut stub_names: Vec<String> = Vec::with_capacity(link.stubs.len());
    let stubs = if link.stubs.is_empty() {
        None
    } else {
        let mut types = Types::default();
        let mut funcs = FunctionSection::new();
        let mut code = CodeSection::new();
        let mut exports = ExportSection::new();
        let mut used: HashMap<&str, u32> = HashMap::new();
        for (i, stub) in link.stubs.iter().enumerate() {
            let n = used.entry(stub.name).or_default();
            let name = if *n == 0 {
                stub.name.to_string()
            } else {
                format!("{}:{n}", stub.name)
            };
            *n += 1;
            funcs.function(types.of(&stub.sig));
            let mut f = Function::new([]);
            f.instructions().unreachable().end();
            code.function(&f);
            exports.export(
                &name,
                ExportKind::Func,
                u32::try_from(i).unwrap_or(u32::MAX),
            );
            stub_names.push(name);
        }
        let mut m = Module::new();
        m.section(&types.section)
            .section(&funcs)
            .section(&exports)
            .section(&code);
        Some(m.finish())
    };

    // --- Main module --------------------------------------------------------------------------
    let mut types = Types::default();
    let mut imports = ImportSection::new();
    let mut passthrough: IndexMap<(&str, &str), (String, FuncSig)> = IndexMap::new();
    let mut globals = Globals::default();
    let sp = globals.get(names::STACK_POINTER, true, wrap_i32(layout.stack_size));
    // The marker lets the component layer find this module inside the encoded component.
    let marker = globals.get(MAIN_MARKER, true, 0);
    let _ = marker;
    let linker_data = |name: &str| -> Option<u32> {
        Some(match name {
            "__heap_base" => layout.heap_base,
            "__heap_end" => layout.heap_end,
            "__stack_low" => 0,
            "__stack_high" => layout.stack_size,
            "__init_stack_pointer" => layout.stack_size,
            "__wasm_libdl_libraries" => layout.dlopen_root,
            "__asyncify_state" | "__asyncify_data" => 0,
            "__wasm_program_tls_info" => layout.tls.as_ref().map_or(0, |t| t.program_info),
            _ => return None,
        })
    };

    // Runtime GOT.mem fixups the init module performs:
    // (M's GOT global, M's memory-base global of the exporter, exporter, symbol).
    let mut runtime_got: Vec<(String, String, usize, String)> = Vec::new();
    // Import shims: target -> export name.
    let mut import_shims: IndexMap<(usize, usize), String> = IndexMap::new();
    let mut instances = Vec::new();
    // TLS base functions the main module defines: (library, getter?).
    let mut tls_functions: Vec<(usize, bool)> = Vec::new();

    for &l in &link.instantiation_order {
        let Some(lib) = libs.get(l) else { continue };
        let mut args: IndexMap<String, Vec<ArgItem>> = IndexMap::new();
        let mut seen_fields: HashSet<(&str, &str)> = HashSet::new();
        let lib_bindings = link.bindings.get(l).map_or(&[][..], |b| &b[..]);
        for (import, binding) in lib.imports.iter().zip(lib_bindings) {
            let kind = item_kind(&import.ty);
            let mutable = import_mutability(&import.ty);
            let source = match binding {
                Binding::Linker => match &import.class {
                    ImportClass::Function(_)
                        if matches!(import.name, "__wasm_get_tls_base" | "__wasm_set_tls_base") =>
                    {
                        let get = import.name == "__wasm_get_tls_base";
                        if !tls_functions.contains(&(l, get)) {
                            tls_functions.push((l, get));
                        }
                        Source::Main(format!("weld:tls-{}:{l}", if get { "get" } else { "set" }))
                    }
                    ImportClass::Memory => Source::Main(names::MEMORY.into()),
                    ImportClass::Table => Source::Main(names::TABLE.into()),
                    ImportClass::StackPointer => Source::Main(sp.clone()),
                    ImportClass::MemoryBase => Source::Main(globals.get(
                        &memory_base_name(l),
                        mutable,
                        wrap_i32(layout.memory_base.get(l).copied().unwrap_or(0)),
                    )),
                    ImportClass::TableBase => Source::Main(globals.get(
                        &table_base_name(l),
                        mutable,
                        wrap_i32(layout.table_base.get(l).copied().unwrap_or(0)),
                    )),
                    _ => match linker_data(import.name) {
                        Some(v) => Source::Main(globals.get(
                            &format!("weld:linker:{}", import.name),
                            mutable,
                            wrap_i32(v),
                        )),
                        None => {
                            problems.push(format!(
                                "library `{}` imports `{}.{}`, which weld does not provide",
                                lib.name, import.module, import.name
                            ));
                            continue;
                        }
                    },
                },
                Binding::Function {
                    library,
                    export,
                    shim,
                } => {
                    let Some(target) = export_of(*library, *export) else {
                        continue;
                    };
                    if *shim {
                        let name = import_shims
                            .entry((*library, *export))
                            .or_insert_with(|| format!("weld:shim:{library}:{export}"))
                            .clone();
                        Source::Main(name)
                    } else {
                        Source::Library(*library, target.name.to_string())
                    }
                }
                Binding::Tag { library, export } => {
                    let Some(target) = export_of(*library, *export) else {
                        continue;
                    };
                    Source::Library(*library, target.name.to_string())
                }
                Binding::Stub(s) => Source::Stubs(stub_names.get(*s).cloned().unwrap_or_default()),
                Binding::Null => Source::Main(globals.get("weld:null", mutable, 0)),
                Binding::Data { library, export } => {
                    let Some(target) = export_of(*library, *export) else {
                        continue;
                    };
                    let name = format!("weld:got.mem:{library}:{export}");
                    let base = layout.memory_base.get(*library).copied().unwrap_or(0);
                    match target.const_i32 {
                        Some(off) => Source::Main(globals.get(
                            &name,
                            mutable,
                            wrap_i32(base.wrapping_add(off as u32)),
                        )),
                        None if mutable => {
                            let existed = globals.index(&name).is_some();
                            let g = globals.get(&name, true, 0);
                            if !existed {
                                let base_global =
                                    globals.get(&memory_base_name(*library), false, wrap_i32(base));
                                runtime_got.push((
                                    g.clone(),
                                    base_global,
                                    *library,
                                    target.name.to_string(),
                                ));
                            }
                            Source::Main(g)
                        }
                        None => {
                            problems.push(format!(
                                "library `{}` imports `GOT.mem.{}` as an immutable global, but `{}` does not give the symbol a constant offset, so its address is only known at run time",
                                lib.name,
                                import.name,
                                lib_name(*library)
                            ));
                            continue;
                        }
                    }
                }
                Binding::StubAddress(s) => {
                    let slot = layout.stub_slots.get(s).copied().unwrap_or(0);
                    Source::Main(globals.get(
                        &format!("weld:got.func:{slot}"),
                        mutable,
                        wrap_i32(slot),
                    ))
                }
                Binding::FunctionAddress { library, export } => {
                    let slot = slot_of(*library, *export).unwrap_or(0);
                    Source::Main(globals.get(
                        &format!("weld:got.func:{slot}"),
                        mutable,
                        wrap_i32(slot),
                    ))
                }
                Binding::Component => {
                    let EntityType::Func(sig) = &import.ty else {
                        problems.push(format!(
                            "library `{}` imports {} `{}.{}`; only functions can be imported from outside the dynamic-linking ABI",
                            lib.name,
                            import.ty.kind_name(),
                            import.module,
                            import.name
                        ));
                        continue;
                    };
                    let key = (import.module, import.name);
                    match passthrough.get(&key) {
                        Some((name, existing)) => {
                            if existing != sig {
                                problems.push(format!(
                                    "libraries import `{}.{}` with different types: {existing} and {sig} (in `{}`)",
                                    import.module, import.name, lib.name
                                ));
                            }
                            Source::Main(name.clone())
                        }
                        None => {
                            let name = format!("weld:import:{}", passthrough.len());
                            passthrough.insert(key, (name.clone(), sig.clone()));
                            Source::Main(name)
                        }
                    }
                }
            };
            let items = args.entry(import.module.to_string()).or_default();
            if seen_fields.insert((import.module, import.name)) {
                items.push(ArgItem {
                    name: import.name.to_string(),
                    kind,
                    source,
                });
            }
        }
        instances.push(LibraryInstance {
            library: l,
            args: args.into_iter().map(|(m, v)| (m, Arg::Items(v))).collect(),
        });
    }
    let shared_args = share_arguments(&mut instances);

    // TLS functions read `context.get 1` when threads may exist.
    let threads = layout.tls.as_ref().is_some_and(|t| t.threads) && !tls_functions.is_empty();
    if threads && !passthrough.contains_key(&("$root", "[context-get-1]")) {
        let n = passthrough.len();
        passthrough.insert(
            ("$root", "[context-get-1]"),
            (format!("weld:import:{n}"), FuncSig::new([], [ValType::I32])),
        );
    }
    let context_get_1 = passthrough
        .get_index_of(&("$root", "[context-get-1]"))
        .and_then(|i| u32::try_from(i).ok());

    // Imports of the main module: the pass-through functions.
    for ((module, name), (_, sig)) in &passthrough {
        let ty = types.of(sig);
        imports.import(module, name, EncEntity::Function(ty));
    }
    let imported_funcs = u32::try_from(passthrough.len()).unwrap_or(u32::MAX);

    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut exports = ExportSection::new();
    let mut next_func = imported_funcs;
    let mut shim_fn = |sig: &FuncSig, slot: u32, types: &mut Types| -> u32 {
        let ty = types.of(sig);
        funcs.function(ty);
        let mut f = Function::new([]);
        let mut ins = f.instructions();
        for p in 0..sig.params.len() {
            ins.local_get(u32::try_from(p).unwrap_or(u32::MAX));
        }
        ins.i32_const(wrap_i32(slot)).call_indirect(0, ty).end();
        code.function(&f);
        next_func += 1;
        next_func - 1
    };
    let mut import_shim_info = Vec::new();
    for (&(l, e), name) in &import_shims {
        let (Some(target), Some(slot)) = (export_of(l, e), slot_of(l, e)) else {
            continue;
        };
        let EntityType::Func(sig) = &target.ty else {
            continue;
        };
        let f = shim_fn(sig, slot, &mut types);
        exports.export(name, ExportKind::Func, f);
        import_shim_info.push(ShimInfo {
            export_name: name.clone(),
            library: l,
            export: e,
            slot,
        });
    }
    let mut export_shim_info = Vec::new();
    for shim in export_shims {
        let (Some(target), Some(slot)) = (
            export_of(shim.library, shim.export),
            slot_of(shim.library, shim.export),
        ) else {
            continue;
        };
        let EntityType::Func(sig) = &target.ty else {
            problems.push(format!(
                "`{}` exports `{}` as a {}, but the component needs a function",
                lib_name(shim.library),
                shim.name,
                target.ty.kind_name()
            ));
            continue;
        };
        let f = shim_fn(sig, slot, &mut types);
        exports.export(&shim.name, ExportKind::Func, f);
        export_shim_info.push(ShimInfo {
            export_name: shim.name.clone(),
            library: shim.library,
            export: shim.export,
            slot,
        });
    }
    if let Some(tls) = &layout.tls {
        for &(l, get) in &tls_functions {
            let sig = if get {
                FuncSig::new([], [ValType::I32])
            } else {
                FuncSig::new([ValType::I32], [])
            };
            let ty = types.of(&sig);
            funcs.function(ty);
            let mut f = Function::new([(1, wasm_encoder::ValType::I32)]);
            let ins = &mut f.instructions();
            let base = wrap_i32(tls.main_thread_tls_base);
            match tls.slots.get(l).copied().flatten() {
                // A library without TLS of its own has no slot; it never calls these.
                None => {
                    ins.unreachable();
                }
                Some(slot) => {
                    let arg = wasm_encoder::MemArg {
                        offset: u64::from(slot) * 4,
                        align: 2,
                        target: wasm_encoder::MemArgTarget::Memory(0),
                        ordering: None,
                    };
                    match (get, threads.then_some(context_get_1).flatten()) {
                        (true, Some(ctx)) => {
                            ins.call(ctx).i32_load(arg);
                        }
                        (true, None) => {
                            ins.i32_const(base).i32_load(arg);
                        }
                        // Before the thread machinery has set up `context.get 1` (it is 0),
                        // the main thread's base is written to the main-thread array.
                        (false, Some(ctx)) => {
                            ins.call(ctx)
                                .local_tee(1)
                                .i32_eqz()
                                .if_(wasm_encoder::BlockType::Empty)
                                .i32_const(base)
                                .local_get(0)
                                .i32_store(arg)
                                .else_()
                                .local_get(1)
                                .local_get(0)
                                .i32_store(arg)
                                .end();
                        }
                        (false, None) => {
                            ins.i32_const(base).local_get(0).i32_store(arg);
                        }
                    }
                }
            }
            ins.end();
            code.function(&f);
            exports.export(
                &format!("weld:tls-{}:{l}", if get { "get" } else { "set" }),
                ExportKind::Func,
                next_func,
            );
            next_func += 1;
        }
    }
    for (i, ((_, _), (name, _))) in passthrough.iter().enumerate() {
        exports.export(name, ExportKind::Func, u32::try_from(i).unwrap_or(u32::MAX));
    }
    // Globals every library may want, exported under their ABI names as well.
    globals.get("__stack_low", true, 0);
    globals.get("__stack_high", true, wrap_i32(layout.stack_size));
    globals.get("__heap_base", true, wrap_i32(layout.heap_base));
    globals.get("__heap_end", true, wrap_i32(layout.heap_end));
    for (name, idx) in &globals.exports {
        exports.export(name, ExportKind::Global, *idx);
    }
    exports.export(names::MEMORY, ExportKind::Memory, 0);
    exports.export(names::TABLE, ExportKind::Table, 0);

    // The shared memory and table must satisfy every library's import limits.
    let mut mem_min = u64::from(layout.memory_pages);
    // Who asks for the minimum: `None` for the stack and data, else the library's import.
    let mut mem_min_by: Option<&str> = None;
    let mut mem_max: Option<(u64, &str)> = None;
    let mut table_min = u64::from(layout.table_size);
    let mut table_max: Option<(u64, &str)> = None;
    for &l in &link.instantiation_order {
        let Some(lib) = libs.get(l) else { continue };
        for import in &lib.imports {
            match (&import.class, &import.ty) {
                (ImportClass::Memory, EntityType::Memory(m)) => {
                    if m.initial > mem_min {
                        mem_min = m.initial;
                        mem_min_by = Some(lib.name);
                    }
                    if let Some(max) = m.maximum
                        && mem_max.is_none_or(|(x, _)| max < x)
                    {
                        mem_max = Some((max, lib.name));
                    }
                }
                (ImportClass::Table, EntityType::Table(t)) => {
                    table_min = table_min.max(t.initial);
                    if let Some(max) = t.maximum
                        && table_max.is_none_or(|(x, _)| max < x)
                    {
                        table_max = Some((max, lib.name));
                    }
                }
                _ => {}
            }
        }
    }
    if let Some((max, lib)) = mem_max
        && max < mem_min
    {
        let pages = |n: u64| format!("{n} page{}", if n == 1 { "" } else { "s" });
        problems.push(match mem_min_by {
            Some(other) => format!(
                "library `{lib}` imports `env.memory` with at most {}, but library `{other}` imports it with at least {}",
                pages(max),
                pages(mem_min)
            ),
            None => format!(
                "library `{lib}` imports `env.memory` with at most {}, but the stack and all libraries' data need {}",
                pages(max),
                pages(mem_min)
            ),
        });
    }
    if let Some((max, lib)) = table_max
        && max < table_min
    {
        problems.push(format!(
            "library `{lib}` imports `env.__indirect_function_table` with at most {max} slots, but the link needs {table_min}"
        ));
    }

    let mut tables = TableSection::new();
    tables.table(TableType {
        element_type: RefType::FUNCREF,
        minimum: table_min,
        maximum: table_max.map(|(m, _)| m),
        table64: false,
        shared: false,
    });
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: mem_min,
        maximum: mem_max.map(|(m, _)| m),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });

    let mut data = wasm_encoder::DataSection::new();
    if let Some(tls) = &layout.tls
        && tls.program_info != 0
    {
        // `library_info[slot]` = address of each library's `__wasm_library_tls_info`, then the
        // `__wasm_program_tls_info` record right after it.
        let mut bytes = vec![0u8; tls.count as usize * 4];
        for &l in &link.instantiation_order {
            let (Some(slot), Some(lib)) = (tls.slots.get(l).copied().flatten(), libs.get(l)) else {
                continue;
            };
            let value = lib
                .export("__wasm_library_tls_info")
                .and_then(|e| e.const_i32)
                .unwrap_or(0);
            let address = layout
                .memory_base
                .get(l)
                .copied()
                .unwrap_or(0)
                .wrapping_add(value as u32);
            if let Some(dst) = bytes.get_mut(slot as usize * 4..slot as usize * 4 + 4) {
                dst.copy_from_slice(&address.to_le_bytes());
            }
        }
        bytes.extend_from_slice(&tls.count.to_le_bytes());
        bytes.extend_from_slice(&tls.library_info.to_le_bytes());
        bytes.extend_from_slice(&tls.main_thread_tls_base.to_le_bytes());
        data.active(0, &ConstExpr::i32_const(wrap_i32(tls.library_info)), bytes);
    }
    if let Some((start, _)) = layout.dlopen_table {
        data.active(
            0,
            &ConstExpr::i32_const(wrap_i32(start)),
            dlopen_table_bytes(libs, link, options, &layout),
        );
    }

    let mut main = Module::new();
    main.section(&types.section)
        .section(&imports)
        .section(&funcs)
        .section(&tables)
        .section(&memories)
        .section(&globals.section)
        .section(&exports)
        .section(&code)
        .section(&data);
    for c in custom_sections {
        main.section(&wasm_encoder::CustomSection {
            name: Cow::Borrowed(c.name),
            data: Cow::Borrowed(c.data),
        });
    }

    // --- Init module --------------------------------------------------------------------------
    let mut itypes = Types::default();
    let mut iimports = ImportSection::new();
    let mut init_args: Vec<(String, InitArg)> = vec![("weld:main".into(), InitArg::Main)];
    let mut init_arg_libs: HashSet<usize> = HashSet::new();
    let mut lib_arg = |l: usize, init_args: &mut Vec<(String, InitArg)>| -> String {
        let name = format!("lib:{l}");
        if init_arg_libs.insert(l) {
            init_args.push((name.clone(), InitArg::Library(l)));
        }
        name
    };
    iimports.import(
        "weld:main",
        names::TABLE,
        EncEntity::Table(TableType {
            element_type: RefType::FUNCREF,
            minimum: table_min,
            maximum: table_max.map(|(m, _)| m),
            table64: false,
            shared: false,
        }),
    );
    // Imports of the init module, each (module, name) once: components reject duplicates.
    let mut ifunc = 0u32;
    let mut iglobal = 0u32;
    let mut seen_funcs: HashMap<(String, String), u32> = HashMap::new();
    let mut seen_globals: HashMap<(String, String), u32> = HashMap::new();
    let mut import_func = |iimports: &mut ImportSection, module: &str, name: &str, ty: u32| {
        *seen_funcs
            .entry((module.to_string(), name.to_string()))
            .or_insert_with(|| {
                iimports.import(module, name, EncEntity::Function(ty));
                ifunc += 1;
                ifunc - 1
            })
    };
    let mut import_global = |iimports: &mut ImportSection, module: &str, name: &str, mutable| {
        *seen_globals
            .entry((module.to_string(), name.to_string()))
            .or_insert_with(|| {
                iimports.import(
                    module,
                    name,
                    EncEntity::Global(GlobalType {
                        val_type: wasm_encoder::ValType::I32,
                        mutable,
                        shared: false,
                    }),
                );
                iglobal += 1;
                iglobal - 1
            })
    };
    // Element segment functions, in slot order.
    let mut elem_funcs = Vec::with_capacity(layout.function_slots.len());
    for &(l, e) in layout.function_slots.keys() {
        let Some(EntityType::Func(sig)) = export_of(l, e).map(|x| &x.ty) else {
            continue;
        };
        let module = lib_arg(l, &mut init_args);
        let ty = itypes.of(sig);
        let f = import_func(
            &mut iimports,
            &module,
            export_of(l, e).map_or("", |x| x.name),
            ty,
        );
        elem_funcs.push(f);
    }
    // Then the stubs whose address is taken.
    if !layout.stub_slots.is_empty() {
        init_args.push(("weld:stubs".into(), InitArg::Stubs));
    }
    for &s in layout.stub_slots.keys() {
        let (Some(stub), Some(name)) = (link.stubs.get(s), stub_names.get(s)) else {
            continue;
        };
        let ty = itypes.of(&stub.sig);
        let f = import_func(&mut iimports, "weld:stubs", name, ty);
        elem_funcs.push(f);
    }
    // Runtime GOT.mem fixups.
    let mut fixups = Vec::new();
    for (got, base_global, exporter, sym) in &runtime_got {
        let module = lib_arg(*exporter, &mut init_args);
        let g = import_global(&mut iimports, "weld:main", got, true);
        let b = import_global(&mut iimports, "weld:main", base_global, false);
        let o = import_global(&mut iimports, &module, sym, false);
        fixups.push((g, b, o));
    }
    let thunk = itypes.of(&FuncSig::default());
    let mut calls = Vec::new();
    let mut ctor_calls = Vec::new();
    for phase in [0, 1] {
        for &l in &link.init_order {
            let Some(lib) = libs.get(l) else { continue };
            let which: &[SpecialExport] = if phase == 0 {
                &[SpecialExport::ApplyDataRelocs]
            } else {
                &[SpecialExport::CallCtors, SpecialExport::Initialize]
            };
            for &w in which {
                if let Some(export) = lib.special(w) {
                    let module = lib_arg(l, &mut init_args);
                    let f = import_func(&mut iimports, &module, export.name, thunk);
                    if phase == 0 {
                        calls.push(f);
                    } else {
                        ctor_calls.push(f);
                    }
                }
            }
        }
    }
    // A task hook (`__wasm_task_hook`, as wasip3 libcs export) is told when constructors start
    // and finish (codes 6 and 7 of the component model's task hooks).
    let hook_sig = FuncSig::new([ValType::I32], []);
    let task_hook = link.instantiation_order.iter().find_map(|&l| {
        let e = libs.get(l)?.export("__wasm_task_hook")?;
        matches!(&e.ty, EntityType::Func(s) if *s == hook_sig).then_some((l, e.name))
    });
    let task_hook = match task_hook {
        Some((l, name)) if !ctor_calls.is_empty() => {
            let module = lib_arg(l, &mut init_args);
            let ty = itypes.of(&hook_sig);
            Some(import_func(&mut iimports, &module, name, ty))
        }
        _ => None,
    };
    let mut ifuncs = FunctionSection::new();
    let mut icode = CodeSection::new();
    ifuncs.function(thunk);
    let start_index = u32::try_from(seen_funcs.len()).unwrap_or(u32::MAX);
    let mut f = Function::new([]);
    {
        let mut ins = f.instructions();
        for &(got, base, off) in &fixups {
            ins.global_get(base)
                .global_get(off)
                .i32_add()
                .global_set(got);
        }
        for &c in &calls {
            ins.call(c);
        }
        if let Some(hook) = task_hook {
            ins.i32_const(6).call(hook);
        }
        for &c in &ctor_calls {
            ins.call(c);
        }
        if let Some(hook) = task_hook {
            ins.i32_const(7).call(hook);
        }
        ins.end();
    }
    icode.function(&f);
    let mut elems = ElementSection::new();
    if !elem_funcs.is_empty() {
        elems.active(
            Some(0),
            &ConstExpr::i32_const(wrap_i32(layout.first_function_slot)),
            Elements::Functions(Cow::Borrowed(&elem_funcs)),
        );
    }
    let mut init = Module::new();
    init.section(&itypes.section)
        .section(&iimports)
        .section(&ifuncs)
        .section(&StartSection {
            function_index: start_index,
        })
        .section(&elems)
        .section(&icode);

    if !problems.is_empty() {
        return Err(SynthError { problems });
    }
    Ok(Synthesized {
        layout,
        main: main.finish(),
        init: init.finish(),
        init_args,
        stubs,
        instances,
        shared_args,
        import_shims: import_shim_info,
        export_shims: export_shim_info,
    })
}

#[cfg(test)]
mod tests;

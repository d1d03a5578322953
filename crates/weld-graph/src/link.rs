//! What resolution decides: [`Link`] and the types it is made of.

use std::ops::Index;

use weld_module::FuncSig;
use weld_module::abi::{LinkerData, LinkerFunction, LinkerGlobal};

use crate::{ExportRef, LibId, PerLib};

/// Linking options that affect resolution.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Options {
    /// Bind unresolved strong function imports to trapping stubs instead of failing.
    pub stub_missing_functions: bool,
    /// Treat a symbol defined strongly by several libraries as an error instead of a warning.
    pub duplicate_symbols_are_errors: bool,
}

/// What one import of a library is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// An `env` function import bound to another library's function export.
    Function {
        /// The function.
        target: ExportRef,
        /// Whether the exporter is instantiated after the importer (or is the importer), so the
        /// import must go through a `call_indirect` shim.
        shim: bool,
    },
    /// A weak (or, with `stub_missing_functions`, any) unresolved function: a trapping stub.
    Stub(StubId),
    /// `GOT.func` of an unresolved function with `stub_missing_functions`: the table slot of a
    /// trapping stub.
    StubAddress(StubId),
    /// `GOT.mem`: the address of a data symbol.
    Data(ExportRef),
    /// `GOT.func`: the table slot of a function.
    FunctionAddress(ExportRef),
    /// An `env` tag import bound to another library's tag.
    Tag(ExportRef),
    /// A weak unresolved `GOT.mem` or `GOT.func` entry: address 0.
    Null,
    /// Provided by the linker.
    Linker(LinkerItem),
    /// Not a dynamic-linking import (WIT functions, canonical-ABI intrinsics, adapter functions):
    /// provided by the component layer.
    Component,
}

/// What the linker provides to an import bound to [`Binding::Linker`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkerItem {
    /// `env.memory`.
    Memory,
    /// `env.__indirect_function_table`.
    Table,
    /// `env.__stack_pointer`.
    StackPointer,
    /// `env.__memory_base`: the importer's data region.
    MemoryBase,
    /// `env.__table_base`: the importer's table region.
    TableBase,
    /// A `GOT.mem` import of an address the linker knows (heap and stack bounds, the dlopen
    /// table, the TLS record).
    Data(LinkerData),
    /// An `env` global the linker defines.
    Global(LinkerGlobal),
    /// An `env` function the linker defines (the importer's own TLS base accessors).
    Function(LinkerFunction),
}

/// A trapping stub's position in [`Link::stubs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StubId(pub(crate) u32);

impl StubId {
    /// The position in [`Link::stubs`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A trapping stub function synthesized for unresolved functions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stub<'a> {
    /// Symbol name.
    pub name: &'a str,
    /// Signature.
    pub sig: FuncSig,
}

/// A symbol defined strongly by more than one library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duplicate<'a> {
    /// Symbol name.
    pub name: &'a str,
    /// The library whose definition is used.
    pub winner: LibId,
    /// Libraries whose definitions are ignored.
    pub losers: Vec<LibId>,
}

/// Why a library was kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepReason {
    /// A root of pruning.
    Root(RootReason),
    /// Reached from another kept library (the first one found, in breadth-first order).
    ReferencedBy(LibId),
}

/// Why a library is a root of pruning (the first that applies, in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootReason {
    /// The caller made it one (weld-component: the library's world has exports).
    ComponentExports,
    /// It is dl-openable.
    DlOpenable,
    /// It exports `_start`.
    Start,
}

/// Something resolution did that the user should know about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkWarning {
    /// With `stub_missing_functions`, a function import whose name is defined only with other
    /// types was bound to a trapping stub.
    StubbedTypeMismatch {
        /// The importing library.
        library: String,
        /// The function.
        name: String,
        /// The signature it is imported with.
        imported: FuncSig,
        /// The definitions of the name (at most 8) and their types.
        definitions: Vec<crate::Candidate>,
    },
    /// A library's active data segments write past the data region its MEM_INFO declares; the
    /// linker reserves what they write.
    DataPastRegion {
        /// The library.
        library: String,
        /// MEM_INFO's memory size.
        declared: u32,
        /// The bytes the segments write from `__memory_base` (reserved instead).
        written: u64,
    },
    /// A data symbol's offset lies past the library's data region: its address is in the next
    /// library's data.
    SymbolPastRegion {
        /// The library.
        library: String,
        /// The symbol.
        symbol: String,
        /// Its offset from `__memory_base`.
        offset: i32,
        /// MEM_INFO's memory size.
        size: u32,
    },
}

impl std::fmt::Display for LinkWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use weld_module::text::escape;
        match self {
            LinkWarning::StubbedTypeMismatch {
                library,
                name,
                imported,
                definitions,
            } => {
                write!(
                    f,
                    "library `{}` imports `env.{}` as function {imported}, but it is defined only with another type (",
                    escape(library),
                    escape(name)
                )?;
                for (i, d) in definitions.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{}` exports {}", escape(&d.library), d.ty)?;
                }
                f.write_str("); it is a stub that traps when called (--stub-missing-functions)")
            }
            LinkWarning::DataPastRegion {
                library,
                declared,
                written,
            } => write!(
                f,
                "library `{}` declares {declared} bytes of data (dylink.0 MEM_INFO) but its data segments write {written}; weld reserves {written}",
                escape(library)
            ),
            LinkWarning::SymbolPastRegion {
                library,
                symbol,
                offset,
                size,
            } => write!(
                f,
                "library `{}` exports data symbol `{}` at offset {offset}, past its data region of {size} bytes (dylink.0 MEM_INFO): its address is in memory that is not its own",
                escape(library),
                escape(symbol)
            ),
        }
    }
}

/// The result of resolution and ordering.
#[derive(Clone, Debug)]
pub struct Link<'a> {
    /// What each import of each library binds to, in the library's import order. Pruned
    /// libraries' bindings are kept for diagnostics.
    pub bindings: PerLib<Vec<Binding>>,
    /// Stubs for unresolved functions, referenced by [`Binding::Stub`] and
    /// [`Binding::StubAddress`].
    pub stubs: Vec<Stub<'a>>,
    /// For each library, `Some(reason)` if kept, `None` if pruned.
    pub kept: PerLib<Option<KeepReason>>,
    /// Kept libraries in instantiation order.
    pub instantiation_order: Vec<LibId>,
    /// Kept libraries in initialization order (relocations, then constructors).
    pub init_order: Vec<LibId>,
    /// Strongly connected components of the dependency graph with more than one library (or a
    /// library importing its own export), in instantiation order.
    pub cycles: Vec<Vec<LibId>>,
    /// Symbols that kept libraries are bound to and that other libraries define strongly too.
    pub duplicates: Vec<Duplicate<'a>>,
    /// The library exporting `_start`, if any.
    pub start: Option<LibId>,
    /// What the user should know about the kept libraries' bindings.
    pub warnings: Vec<LinkWarning>,
}

impl<'a> Link<'a> {
    /// Whether library `lib` is kept.
    pub fn is_kept(&self, lib: LibId) -> bool {
        self.kept[lib].is_some()
    }

    /// The stub `id` refers to.
    pub fn stub(&self, id: StubId) -> &Stub<'a> {
        self.stubs.index(id)
    }

    /// Every stub with its id.
    pub fn stub_ids(&self) -> impl Iterator<Item = (StubId, &Stub<'a>)> {
        (0u32..).zip(&self.stubs).map(|(i, s)| (StubId(i), s))
    }
}

impl<'a> Index<StubId> for Vec<Stub<'a>> {
    type Output = Stub<'a>;

    #[expect(
        clippy::indexing_slicing,
        reason = "stub ids are made by the resolution that made the stub list"
    )]
    fn index(&self, id: StubId) -> &Stub<'a> {
        &self.as_slice()[id.index()]
    }
}

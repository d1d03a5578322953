//! What the linker decided, as typed rows: [`Report`], built from the resolution and synthesis
//! once the component exists (`build`), formatted by [`Report::lines`] for `weld link -v`.

mod build;

use std::collections::HashMap;
use std::fmt;

use weld_graph::{LinkWarning, RootReason};
use weld_module::text::escape;
use weld_module::{FuncSig, WarningKind};

pub(crate) use build::{Facts, fused, make};

/// What the linker decided, for `-v` output and tooling.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Report {
    /// Every input library, in input order.
    pub libraries: Vec<LibraryRow>,
    /// Kept libraries in instantiation order.
    pub instantiation_order: Vec<String>,
    /// Kept libraries in initialization order.
    pub init_order: Vec<String>,
    /// Dependency cycles (library names, in instantiation order).
    pub cycles: Vec<Vec<String>>,
    /// Every symbol kept libraries are bound to, by name.
    pub symbols: Vec<SymbolRow>,
    /// Imports routed through a `call_indirect` shim.
    pub import_shims: Vec<ShimRow>,
    /// Component exports and the libraries implementing them.
    pub exports: Vec<ExportRow>,
    /// Symbols strongly defined by several libraries.
    pub duplicates: Vec<DuplicateRow>,
    /// Functions replaced by trapping stubs.
    pub stubs: Vec<StubRow>,
    /// Memory and table figures.
    pub layout: LayoutRow,
    /// Non-fatal warnings (library oddities, duplicates).
    pub warnings: Vec<ReportWarning>,
    /// With [`crate::LinkOptions::fuse`]: the fused library and its parts.
    pub fusion: Option<FusionRow>,
}

/// The library the kept libraries were fused into.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct FusionRow {
    /// Its name in the component.
    pub library: String,
    /// The libraries fused, in the order of their regions inside it (instantiation order).
    pub parts: Vec<String>,
    /// The kept libraries linked apart: weld's built-in libdl, and each library with
    /// thread-local storage after the first (a TLS slot is a library's own).
    pub apart: Vec<String>,
}

/// One input library.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct LibraryRow {
    /// Its name.
    pub name: String,
    /// Why it was kept, or `None` when it was pruned.
    pub kept: Option<Kept>,
    /// Its `__memory_base` and `__table_base`, when kept.
    pub bases: Option<(u32, u32)>,
    /// The bytes of its data region (MEM_INFO's size, or what its data segments write).
    pub memory_size: u64,
    /// The slots of its table region (MEM_INFO).
    pub table_size: u32,
    /// When kept, the index of its module in the component's core module index space (its
    /// bytes, verbatim) and of its core instance.
    pub core: Option<(u32, u32)>,
    /// Whether it has a start function (it runs when the library is instantiated, before
    /// relocations and constructors).
    pub has_start_function: bool,
    /// The libraries it needs (its `dylink.0` NEEDED entries, in order).
    pub needed: Vec<String>,
}

/// Why a library was kept.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Kept {
    /// A root of pruning.
    Root(
        #[cfg_attr(feature = "serde", serde(serialize_with = "serde_impl::root_reason"))]
        RootReason,
    ),
    /// Referred to by this kept library (the first found).
    ReferencedBy(String),
}

/// How a library reaches a symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Via {
    /// An `env` import: a call (function) or a tag.
    Env,
    /// A `GOT.mem` import: the address of a data symbol.
    GotMem,
    /// A `GOT.func` import: the table slot of a function.
    GotFunc,
}

/// What a bound symbol is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum SymbolKind {
    /// A function.
    Function,
    /// A data symbol.
    Data,
    /// An exception tag.
    Tag,
}

/// A symbol kept libraries are bound to, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct SymbolRow {
    /// The symbol's name.
    pub name: String,
    /// What it is.
    pub kind: SymbolKind,
    /// How the importers reach it.
    pub via: Via,
    /// The library defining it, or `None` for a stub (or a weak `GOT` entry bound to 0).
    pub provider: Option<String>,
    /// The kept libraries importing it this way, in input order.
    pub importers: Vec<String>,
    /// Whether some importer calls it through a shim.
    pub shim: bool,
    /// The importers calling it through a shim (a subset of `importers`, in input order).
    pub shim_importers: Vec<String>,
}

/// An import routed through a `call_indirect` shim.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ShimRow {
    /// The function's name.
    pub symbol: String,
    /// The library defining it.
    pub exporter: String,
    /// The table slot the shim calls through.
    pub slot: u32,
}

/// A component export's core function.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ExportRow {
    /// The core export name.
    pub name: String,
    /// The library implementing it.
    pub library: String,
}

/// A symbol strongly defined by several libraries.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DuplicateRow {
    /// The symbol.
    pub symbol: String,
    /// The library whose definition is used.
    pub winner: String,
    /// The other libraries defining it.
    pub losers: Vec<String>,
}

/// A trapping stub.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct StubRow {
    /// The function's name.
    pub name: String,
    /// Its signature.
    #[cfg_attr(feature = "serde", serde(serialize_with = "serde_impl::display"))]
    pub signature: FuncSig,
}

/// Memory and table figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct LayoutRow {
    /// Bytes of stack (`[0, stack_size)`).
    pub stack_size: u32,
    /// `__heap_base`: the first byte after all libraries' data.
    pub heap_base: u32,
    /// End of the initial heap (page-aligned).
    pub heap_end: u32,
    /// Initial memory size in pages.
    pub memory_pages: u32,
    /// Table size.
    pub table_size: u32,
    /// The first table slot after the libraries' own table regions.
    pub first_function_slot: u32,
}

/// A warning about the link.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum ReportWarning {
    /// Something odd about one library (see [`weld_module::Warning`]).
    Library {
        /// The library.
        library: String,
        /// Where, if known.
        offset: Option<u64>,
        /// What kind of oddity.
        #[cfg_attr(feature = "serde", serde(serialize_with = "serde_impl::warning_kind"))]
        kind: WarningKind,
        /// What is odd.
        message: String,
    },
    /// A symbol defined strongly by several libraries; the first in input order is used.
    Duplicate(DuplicateRow),
    /// A kept library without `dylink.0`: linked as a dynamic library with no data or table
    /// region of its own.
    NotDynamic {
        /// The library.
        library: String,
    },
    /// The component has no exports; a library's `_start` is exported only by the main module,
    /// where a command adapter would find it.
    StartNotExported {
        /// The library exporting `_start`.
        library: String,
    },
    /// Something resolution did (see [`weld_graph::LinkWarning`]).
    Resolution(
        #[cfg_attr(feature = "serde", serde(serialize_with = "serde_impl::display"))] LinkWarning,
    ),
}

impl fmt::Display for ReportWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportWarning::Library {
                library,
                offset: Some(o),
                message,
                ..
            } => write!(f, "{}: at byte offset {o:#x}: {message}", escape(library)),
            ReportWarning::Library {
                library, message, ..
            } => write!(f, "{}: {message}", escape(library)),
            ReportWarning::Duplicate(d) => {
                let winner = escape(&d.winner);
                write!(
                    f,
                    "symbol `{}` is defined by {winner} and also by {}; using the definition in {winner} (first in input order)",
                    escape(&d.symbol),
                    names(&d.losers)
                )
            }
            ReportWarning::NotDynamic { library } => write!(
                f,
                "{}: no dylink.0 section, so not a dynamic library; it is linked as one with no data or table region of its own",
                escape(library)
            ),
            ReportWarning::StartNotExported { library } => write!(
                f,
                "the component exports nothing: `_start` of {} is reachable only through a command adapter (--adapt wasi_snapshot_preview1=FILE), which makes it `wasi:cli/run`",
                escape(library)
            ),
            ReportWarning::Resolution(w) => write!(f, "{w}"),
        }
    }
}

/// Names separated by ", ", safe to print; at most 8, then "and N more".
fn names(list: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut out: Vec<String> = list
        .iter()
        .take(SHOWN)
        .map(|n| escape(n).into_owned())
        .collect();
    if list.len() > SHOWN {
        out.push(format!("… and {} more", list.len() - SHOWN));
    }
    out.join(", ")
}

impl Report {
    /// The report as human-readable lines.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for lib in &self.libraries {
            out.push(match &lib.kept {
                Some(Kept::Root(_)) => format!(
                    "keep  {}: root (component exports, `_start`, or dl-openable)",
                    lib.name
                ),
                Some(Kept::ReferencedBy(by)) => format!("keep  {}: referenced by {by}", lib.name),
                None => format!(
                    "prune {}: no component export, no `_start`, and no kept library refers to it",
                    lib.name
                ),
            });
        }
        out.push(format!(
            "instantiation order: {}",
            self.instantiation_order.join(", ")
        ));
        out.push(format!(
            "initialization order (NEEDED dependencies first): {}",
            self.init_order.join(", ")
        ));
        if let Some(f) = &self.fusion {
            out.push(format!(
                "fuse  {} libraries into {}: {}",
                f.parts.len(),
                f.library,
                f.parts.join(", ")
            ));
            if !f.apart.is_empty() {
                out.push(format!(
                    "apart {} (the built-in libdl, or thread-local storage of its own)",
                    f.apart.join(", ")
                ));
            }
        }
        for c in &self.cycles {
            out.push(match c.as_slice() {
                [one] => {
                    format!("self-reference: {one} calls its own exports through `env` (via shims)")
                }
                _ => format!("dependency cycle: {}", c.join(" <-> ")),
            });
        }
        for lib in &self.libraries {
            if lib.has_start_function && lib.kept.is_some() {
                out.push(format!(
                    "start {}: has a start function, which runs when it is instantiated (before relocations and constructors)",
                    lib.name
                ));
            }
        }
        for s in &self.import_shims {
            out.push(format!(
                "shim  `{}` from {} (not instantiated before a library calling it) via table slot {}",
                s.symbol, s.exporter, s.slot
            ));
        }
        for e in &self.exports {
            out.push(format!("export `{}` from {}", e.name, e.library));
        }
        for s in &self.stubs {
            out.push(format!(
                "stub  `{}` traps when called (weak or --stub-missing-functions)",
                s.name
            ));
        }
        let bases: HashMap<&str, (u32, u32)> = self
            .libraries
            .iter()
            .filter_map(|l| Some((l.name.as_str(), l.bases?)))
            .collect();
        for name in &self.instantiation_order {
            if let Some((mem, table)) = bases.get(name.as_str()) {
                out.push(format!(
                    "layout {name}: __memory_base {mem:#x}, __table_base {table}"
                ));
            }
        }
        out.push(format!(
            "layout heap: __heap_base {:#x}, __heap_end {:#x}, table size {}",
            self.layout.heap_base, self.layout.heap_end, self.layout.table_size
        ));
        // Every line holds only input-derived control characters, if any.
        out.into_iter()
            .map(|line| escape(&line).into_owned())
            .collect()
    }
}

/// How the types of the lower crates in the report are serialized.
#[cfg(feature = "serde")]
mod serde_impl {
    use std::fmt::Display;

    use serde::Serializer;
    use weld_graph::RootReason;
    use weld_module::WarningKind;

    pub(super) fn root_reason<S: Serializer>(r: &RootReason, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match r {
            RootReason::ComponentExports => "component_exports",
            RootReason::DlOpenable => "dl_openable",
            RootReason::Start => "start",
        })
    }

    pub(super) fn warning_kind<S: Serializer>(k: &WarningKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match k {
            WarningKind::SecondDylink => "second_dylink",
            WarningKind::DylinkNotFirst => "dylink_not_first",
            WarningKind::UnknownDylinkSubsection(_) => "unknown_dylink_subsection",
            _ => "other",
        })
    }

    pub(super) fn display<S: Serializer>(v: &impl Display, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }
}

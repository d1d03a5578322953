//! `weld link --report FILE.json`: the link report as a versioned JSON document (the schema is
//! in docs/report.md), built field by field from [`weld_component::Report`]'s typed rows plus
//! what only the command knows: which file each library was read from, and where `-L` found it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use weld_component::{Kept, Report, RootReason, SymbolKind, Via};

use crate::diagnostic::{self, Diagnostic};

/// The document's `format`.
pub(crate) const FORMAT: &str = "weld-link-report";
/// The document's `version`; raised when a field changes meaning or goes away (adding fields
/// does not raise it).
pub(crate) const VERSION: u32 = 1;

/// Where a library came from.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    /// The file it was read from.
    pub(crate) file: PathBuf,
    /// When a NEEDED entry was looked up for it: who needed it and where it was found.
    pub(crate) found: Option<Found>,
}

/// Where the search (`-L`, `RUNTIME_PATH`) found a library.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    /// The library whose NEEDED entry named it.
    pub(crate) needed_by: String,
    /// The `-L` directory it was found in, or `None` when it was a `RUNTIME_PATH` entry.
    pub(crate) search_dir: Option<PathBuf>,
    /// The `RUNTIME_PATH` entry (as written, `$ORIGIN` included) it was found through.
    pub(crate) runtime_path: Option<String>,
}

/// What the command knows besides the report: the files, by library name, and the output.
#[derive(Default)]
pub(crate) struct Sources {
    pub(crate) origins: HashMap<String, Origin>,
    /// The component's path, or `None` for standard output.
    pub(crate) output: Option<PathBuf>,
}

impl Sources {
    /// The file of library `name`, or `None` for a built-in one (weld's libdl).
    pub(crate) fn file(&self, name: &str) -> Option<&Path> {
        self.origins.get(name).map(|o| o.file.as_path())
    }
}

/// Why a library was kept or pruned, as the report's `reason` string.
pub(crate) fn reason(kept: Option<&Kept>) -> &'static str {
    match kept {
        None => "pruned",
        Some(Kept::Root(RootReason::ComponentExports)) => "component_exports",
        Some(Kept::Root(RootReason::DlOpenable)) => "dl_openable",
        Some(Kept::Root(RootReason::Start)) => "start",
        Some(Kept::ReferencedBy(_)) => "referenced_by",
        Some(_) => "kept",
    }
}

/// Why a library was kept or pruned, in words ("component exports", "referenced by libx.so").
pub(crate) fn why(kept: Option<&Kept>) -> String {
    match referenced_by(kept) {
        Some(by) => format!("referenced by {by}"),
        None => reason(kept).replace('_', " "),
    }
}

/// The library a kept library was kept for, when it was referred to.
pub(crate) fn referenced_by(kept: Option<&Kept>) -> Option<&str> {
    match kept {
        Some(Kept::ReferencedBy(by)) => Some(by),
        _ => None,
    }
}

/// `env`, `GOT.mem` or `GOT.func`.
pub(crate) fn via(v: Via) -> &'static str {
    match v {
        Via::Env => "env",
        Via::GotMem => "GOT.mem",
        Via::GotFunc => "GOT.func",
        _ => "other",
    }
}

/// `function`, `data` or `tag`.
pub(crate) fn kind(k: SymbolKind) -> &'static str {
    match k {
        SymbolKind::Function => "function",
        SymbolKind::Data => "data",
        SymbolKind::Tag => "tag",
        _ => "other",
    }
}

#[derive(Serialize)]
struct Document<'r> {
    format: &'static str,
    version: u32,
    output: Option<String>,
    libraries: Vec<LibraryDoc<'r>>,
    instantiation_order: &'r [String],
    init_order: &'r [String],
    cycles: &'r [Vec<String>],
    exports: Vec<ExportDoc<'r>>,
    symbols: Vec<SymbolDoc<'r>>,
    shims: Vec<ShimDoc<'r>>,
    duplicates: Vec<DuplicateDoc<'r>>,
    stubs: Vec<StubDoc<'r>>,
    layout: LayoutDoc,
    warnings: Vec<Diagnostic>,
    fusion: Option<FusionDoc<'r>>,
}

#[derive(Serialize)]
struct LibraryDoc<'r> {
    name: &'r str,
    file: Option<String>,
    found: Option<FoundDoc<'r>>,
    kept: bool,
    reason: &'static str,
    referenced_by: Option<&'r str>,
    needed: &'r [String],
    memory_base: Option<u32>,
    memory_size: u64,
    table_base: Option<u32>,
    table_size: u32,
    core_module: Option<u32>,
    core_instance: Option<u32>,
    start_function: bool,
}

#[derive(Serialize)]
struct FoundDoc<'r> {
    needed_by: &'r str,
    search_dir: Option<String>,
    runtime_path: Option<&'r str>,
}

#[derive(Serialize)]
struct ExportDoc<'r> {
    name: &'r str,
    library: &'r str,
}

#[derive(Serialize)]
struct SymbolDoc<'r> {
    name: &'r str,
    kind: &'static str,
    via: &'static str,
    provider: Option<&'r str>,
    importers: &'r [String],
    shim: bool,
    shim_importers: &'r [String],
}

#[derive(Serialize)]
struct ShimDoc<'r> {
    symbol: &'r str,
    provider: &'r str,
    slot: u32,
}

#[derive(Serialize)]
struct DuplicateDoc<'r> {
    symbol: &'r str,
    winner: &'r str,
    losers: &'r [String],
}

#[derive(Serialize)]
struct StubDoc<'r> {
    name: &'r str,
    signature: String,
}

#[derive(Serialize)]
struct LayoutDoc {
    stack_size: u32,
    heap_base: u32,
    heap_end: u32,
    memory_pages: u32,
    table_size: u32,
    first_function_slot: u32,
}

#[derive(Serialize)]
struct FusionDoc<'r> {
    library: &'r str,
    parts: &'r [String],
    apart: &'r [String],
}

/// The report as the JSON document of docs/report.md, pretty-printed, ending with a newline.
pub(crate) fn json(report: &Report, sources: &Sources) -> String {
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let libraries = report
        .libraries
        .iter()
        .map(|l| {
            let origin = sources.origins.get(&l.name);
            LibraryDoc {
                name: &l.name,
                file: origin.map(|o| path(&o.file)),
                found: origin.and_then(|o| o.found.as_ref()).map(|f| FoundDoc {
                    needed_by: &f.needed_by,
                    search_dir: f.search_dir.as_deref().map(path),
                    runtime_path: f.runtime_path.as_deref(),
                }),
                kept: l.kept.is_some(),
                reason: reason(l.kept.as_ref()),
                referenced_by: referenced_by(l.kept.as_ref()),
                needed: &l.needed,
                memory_base: l.bases.map(|b| b.0),
                memory_size: l.memory_size,
                table_base: l.bases.map(|b| b.1),
                table_size: l.table_size,
                core_module: l.core.map(|c| c.0),
                core_instance: l.core.map(|c| c.1),
                start_function: l.has_start_function,
            }
        })
        .collect();
    let files = diagnostic::Files(
        sources
            .origins
            .iter()
            .map(|(n, o)| (n.clone(), o.file.clone()))
            .collect(),
    );
    let document = Document {
        format: FORMAT,
        version: VERSION,
        output: sources.output.as_deref().map(path),
        libraries,
        instantiation_order: &report.instantiation_order,
        init_order: &report.init_order,
        cycles: &report.cycles,
        exports: report
            .exports
            .iter()
            .map(|e| ExportDoc {
                name: &e.name,
                library: &e.library,
            })
            .collect(),
        symbols: report
            .symbols
            .iter()
            .map(|s| SymbolDoc {
                name: &s.name,
                kind: kind(s.kind),
                via: via(s.via),
                provider: s.provider.as_deref(),
                importers: &s.importers,
                shim: s.shim,
                shim_importers: &s.shim_importers,
            })
            .collect(),
        shims: report
            .import_shims
            .iter()
            .map(|s| ShimDoc {
                symbol: &s.symbol,
                provider: &s.exporter,
                slot: s.slot,
            })
            .collect(),
        duplicates: report
            .duplicates
            .iter()
            .map(|d| DuplicateDoc {
                symbol: &d.symbol,
                winner: &d.winner,
                losers: &d.losers,
            })
            .collect(),
        stubs: report
            .stubs
            .iter()
            .map(|s| StubDoc {
                name: &s.name,
                signature: s.signature.to_string(),
            })
            .collect(),
        layout: LayoutDoc {
            stack_size: report.layout.stack_size,
            heap_base: report.layout.heap_base,
            heap_end: report.layout.heap_end,
            memory_pages: report.layout.memory_pages,
            table_size: report.layout.table_size,
            first_function_slot: report.layout.first_function_slot,
        },
        warnings: report
            .warnings
            .iter()
            .map(|w| files.locate(diagnostic::warning(w)))
            .collect(),
        fusion: report.fusion.as_ref().map(|f| FusionDoc {
            library: &f.library,
            parts: &f.parts,
            apart: &f.apart,
        }),
    };
    // Serializing strings, numbers, options and sequences cannot fail.
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

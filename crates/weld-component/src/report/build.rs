//! Building a [`Report`]: from a link's resolution and synthesis (`make`), and in terms of the
//! inputs after a link of fused libraries (`fused`).

use std::collections::{BTreeMap, HashMap};

use weld_graph::{Binding, Duplicate, KeepReason, LibrarySet, Link, PerLib};
use weld_module::abi;
use weld_synth::Synthesized;

use super::{
    DuplicateRow, ExportRow, FusionRow, Kept, LayoutRow, LibraryRow, Report, ReportWarning,
    ShimRow, StubRow, SymbolKind, SymbolRow, Via,
};

/// What a successful link decided, for [`make`].
pub(crate) struct Facts<'f, 'a> {
    pub(crate) set: &'f LibrarySet<'a>,
    pub(crate) link: &'f Link<'a>,
    pub(crate) synth: &'f Synthesized,
    /// Component exports defined strongly by several libraries.
    pub(crate) export_duplicates: &'f [Duplicate<'a>],
    /// Each kept library's core module and core instance indices.
    pub(crate) placement: &'f PerLib<Option<(u32, u32)>>,
}

/// Builds the report of a successful link.
pub(crate) fn make(facts: &Facts<'_, '_>) -> Report {
    let Facts {
        set,
        link,
        synth,
        export_duplicates,
        placement,
    } = *facts;
    let name = |id| set.name(id).to_string();
    let layout = &synth.layout;
    let libraries = library_rows(
        set,
        link,
        |id| (layout.memory_base[id], layout.table_base[id]),
        |id| placement[id],
    );
    let duplicates = duplicate_rows(set, link.duplicates.iter().chain(export_duplicates));
    let warnings = input_warnings(set, link, &duplicates);
    Report {
        libraries,
        instantiation_order: names_of(set, &link.instantiation_order),
        init_order: names_of(set, &link.init_order),
        cycles: link.cycles.iter().map(|c| names_of(set, c)).collect(),
        symbols: symbols(set, link),
        import_shims: synth
            .import_shims
            .iter()
            .map(|s| ShimRow {
                symbol: set.export(s.target).name.to_string(),
                exporter: name(s.target.library()),
                slot: s.slot,
            })
            .collect(),
        exports: synth
            .export_shims
            .iter()
            .map(|s| ExportRow {
                name: s.export_name.clone(),
                library: name(s.target.library()),
            })
            .collect(),
        duplicates,
        stubs: link
            .stubs
            .iter()
            .map(|s| StubRow {
                name: s.name.to_string(),
                signature: s.sig.clone(),
            })
            .collect(),
        layout: LayoutRow {
            stack_size: layout.stack_size,
            heap_base: layout.heap_base,
            heap_end: layout.heap_end,
            memory_pages: layout.memory_pages,
            table_size: layout.table_size,
            first_function_slot: layout.first_function_slot,
        },
        warnings,
        fusion: None,
    }
}

/// The report of a link with fusion, in terms of the inputs: their resolution (`link` over
/// `set`), where each part went inside the fused library, and what linking the fused library
/// (`linked`, whose report names it `fused_name`) synthesized.
pub(crate) fn fused(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    fused: &weld_fuse::Fused,
    fused_name: &str,
    apart: &[weld_graph::LibId],
    linked: Report,
) -> Report {
    let row = |name: &str| linked.libraries.iter().find(|l| l.name == name);
    let fused_row = row(fused_name);
    let placement: HashMap<&str, &weld_fuse::PartPlacement> =
        fused.parts.iter().map(|p| (p.name.as_str(), p)).collect();
    let bases = |id| {
        let name = set.name(id);
        match (placement.get(name), fused_row.and_then(|r| r.bases)) {
            (Some(p), Some((memory, table))) => (
                memory.wrapping_add(p.data_offset),
                table.wrapping_add(p.table_offset),
            ),
            _ => row(name).and_then(|r| r.bases).unwrap_or_default(),
        }
    };
    let core = |id| {
        let name = set.name(id);
        match placement.contains_key(name) {
            true => fused_row.and_then(|r| r.core),
            false => row(name).and_then(|r| r.core),
        }
    };
    let libraries = library_rows(set, link, bases, core);
    // What the fused library exports, by the part defining it.
    let part_of: HashMap<&str, &str> = fused
        .exports
        .iter()
        .filter_map(|(name, part)| Some((name.as_str(), fused.parts.get(*part)?.name.as_str())))
        .collect();
    let definer = |symbol: &str, library: String| match library == fused_name {
        true => part_of.get(symbol).map_or(library, |p| p.to_string()),
        false => library,
    };
    let duplicates = duplicate_rows(set, link.duplicates.iter());
    let mut warnings = input_warnings(set, link, &duplicates);
    warnings.extend(
        linked
            .warnings
            .into_iter()
            .filter(|w| matches!(w, ReportWarning::StartNotExported { .. })),
    );
    Report {
        libraries,
        instantiation_order: names_of(set, &link.instantiation_order),
        init_order: names_of(set, &link.init_order),
        cycles: link.cycles.iter().map(|c| names_of(set, c)).collect(),
        symbols: symbols(set, link),
        import_shims: linked
            .import_shims
            .into_iter()
            .map(|s| ShimRow {
                exporter: definer(&s.symbol, s.exporter),
                ..s
            })
            .collect(),
        exports: linked
            .exports
            .into_iter()
            .map(|e| ExportRow {
                library: definer(&e.name, e.library),
                ..e
            })
            .collect(),
        duplicates,
        stubs: linked.stubs,
        layout: linked.layout,
        warnings,
        fusion: Some(FusionRow {
            library: fused_name.to_string(),
            parts: fused.parts.iter().map(|p| p.name.clone()).collect(),
            apart: names_of(set, apart),
        }),
    }
}

/// The names of `ids`.
fn names_of(set: &LibrarySet<'_>, ids: &[weld_graph::LibId]) -> Vec<String> {
    ids.iter().map(|&i| set.name(i).to_string()).collect()
}

/// One row per input library, with the bases and core indices of the kept ones.
fn library_rows(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    bases: impl Fn(weld_graph::LibId) -> (u32, u32),
    core: impl Fn(weld_graph::LibId) -> Option<(u32, u32)>,
) -> Vec<LibraryRow> {
    set.iter()
        .map(|(id, lib)| LibraryRow {
            name: lib.name.to_string(),
            kept: link.kept[id].map(|k| match k {
                KeepReason::Root(r) => Kept::Root(r),
                KeepReason::ReferencedBy(by) => Kept::ReferencedBy(set.name(by).to_string()),
            }),
            bases: link.is_kept(id).then(|| bases(id)),
            memory_size: lib.data_extent(),
            table_size: lib.mem_info.table_size,
            core: core(id),
            has_start_function: lib.has_start_section,
            needed: lib.needed.iter().map(|n| n.to_string()).collect(),
        })
        .collect()
}

fn duplicate_rows<'d, 'a: 'd>(
    set: &LibrarySet<'a>,
    duplicates: impl Iterator<Item = &'d Duplicate<'a>>,
) -> Vec<DuplicateRow> {
    duplicates
        .map(|d| DuplicateRow {
            symbol: d.name.to_string(),
            winner: set.name(d.winner).to_string(),
            losers: d.losers.iter().map(|&l| set.name(l).to_string()).collect(),
        })
        .collect()
}

/// The warnings about the inputs: each library's oddities, kept libraries without `dylink.0`,
/// resolution's warnings and the duplicates.
fn input_warnings(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    duplicates: &[DuplicateRow],
) -> Vec<ReportWarning> {
    let mut warnings: Vec<ReportWarning> = set
        .iter()
        .flat_map(|(_, lib)| {
            lib.warnings.iter().map(|w| ReportWarning::Library {
                library: lib.name.to_string(),
                offset: w.offset,
                kind: w.kind,
                message: w.message.clone(),
            })
        })
        .collect();
    warnings.extend(
        set.iter()
            .filter(|&(id, lib)| link.is_kept(id) && !lib.has_dylink)
            .map(|(_, lib)| ReportWarning::NotDynamic {
                library: lib.name.to_string(),
            }),
    );
    warnings.extend(link.warnings.iter().cloned().map(ReportWarning::Resolution));
    warnings.extend(duplicates.iter().cloned().map(ReportWarning::Duplicate));
    warnings
}

/// Every symbol kept libraries are bound to, sorted by name, then by how it is reached.
fn symbols(set: &LibrarySet<'_>, link: &Link<'_>) -> Vec<SymbolRow> {
    let mut rows: BTreeMap<(&str, Via, Option<&str>), SymbolRow> = BTreeMap::new();
    // Importers in input order.
    for importer in set.ids().filter(|&id| link.is_kept(id)) {
        let imports = &set[importer].imports;
        for (import, binding) in imports.iter().zip(&link.bindings[importer]) {
            let (kind, via, provider, shim) = match *binding {
                Binding::Function { target, shim } => {
                    (SymbolKind::Function, Via::Env, Some(target.library()), shim)
                }
                Binding::Stub(_) => (SymbolKind::Function, Via::Env, None, false),
                Binding::Tag(target) => (SymbolKind::Tag, Via::Env, Some(target.library()), false),
                Binding::Data(target) => {
                    (SymbolKind::Data, Via::GotMem, Some(target.library()), false)
                }
                Binding::FunctionAddress(target) => (
                    SymbolKind::Function,
                    Via::GotFunc,
                    Some(target.library()),
                    false,
                ),
                Binding::StubAddress(_) => (SymbolKind::Function, Via::GotFunc, None, false),
                Binding::Null if import.module == abi::GOT_MEM => {
                    (SymbolKind::Data, Via::GotMem, None, false)
                }
                Binding::Null if import.module == abi::GOT_FUNC => {
                    (SymbolKind::Function, Via::GotFunc, None, false)
                }
                _ => continue,
            };
            let provider = provider.map(|p| set.name(p));
            let row = rows
                .entry((import.name, via, provider))
                .or_insert_with(|| SymbolRow {
                    name: import.name.to_string(),
                    kind,
                    via,
                    provider: provider.map(str::to_string),
                    importers: Vec::new(),
                    shim: false,
                    shim_importers: Vec::new(),
                });
            row.importers.push(set.name(importer).to_string());
            if shim {
                row.shim = true;
                row.shim_importers.push(set.name(importer).to_string());
            }
        }
    }
    rows.into_values().collect()
}

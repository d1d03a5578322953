//! The checks that need no symbol resolution: library names and their NEEDED entries, each
//! library's use of the ABI, and the program's entry point.

use std::collections::HashMap;

use weld_module::{EntityType, ImportClass, Library, SYM_TLS, SpecialExport};

use crate::problems::{Requirement, Unsupported};
use crate::suggest::similar_names;
use crate::{KeepReason, LibId, LibrarySet, LinkWarning, PerLib, Problem};

/// Checks that library names (and the names of fused libraries' parts) are unique and that
/// every NEEDED entry names an input; returns each library's NEEDED dependencies (itself
/// excluded).
pub(crate) fn needed(set: &LibrarySet<'_>, problems: &mut Vec<Problem>) -> PerLib<Vec<LibId>> {
    let mut by_name: HashMap<&str, LibId> = HashMap::with_capacity(set.len());
    for (id, lib) in set.iter() {
        if by_name.insert(lib.name, id).is_some() {
            problems.push(Problem::DuplicateLibraryName {
                name: lib.name.to_string(),
            });
        }
    }
    // A library fused from others answers to their names too.
    for (id, lib) in set.iter() {
        for &name in &lib.fused_parts {
            if by_name.insert(name, id).is_some_and(|other| other != id) {
                problems.push(Problem::FusedPartTwice {
                    name: name.to_string(),
                    fused: lib.name.to_string(),
                });
            }
        }
    }
    // Suggestions are computed once per missing name, whatever the number of libraries needing
    // it.
    let mut suggestions: HashMap<&str, Vec<&str>> = HashMap::new();
    set.per_lib(|id, lib| {
        let mut deps = Vec::new();
        for &n in &lib.needed {
            match by_name.get(n) {
                // A library naming itself in NEEDED depends on nothing new.
                Some(&dep) if dep == id => {}
                Some(&dep) => deps.push(dep),
                None => {
                    let similar = suggestions
                        .entry(n)
                        .or_insert_with(|| similar_names(n, set.iter().map(|(_, l)| l.name)));
                    problems.push(Problem::MissingNeeded {
                        library: lib.name.to_string(),
                        needed: n.to_string(),
                        // Not the library that needs it.
                        similar: similar
                            .iter()
                            .filter(|s| **s != lib.name)
                            .map(|s| s.to_string())
                            .collect(),
                    });
                }
            }
        }
        deps
    })
}

/// Checks each library's ABI exports and what it declares: one initializer, `[] -> []`
/// relocation and constructor functions, no memory of its own, a `wasm32` target.
pub(crate) fn abi(set: &LibrarySet<'_>, problems: &mut Vec<Problem>) {
    for (_, lib) in set.iter() {
        if lib.special(SpecialExport::Initialize).is_some()
            && lib.special(SpecialExport::CallCtors).is_some()
        {
            problems.push(Problem::BothInitializers {
                library: lib.name.to_string(),
            });
        }
        for export in &lib.exports {
            let must_be_thunk = matches!(
                export.special,
                Some(
                    SpecialExport::ApplyDataRelocs
                        | SpecialExport::CallCtors
                        | SpecialExport::Initialize
                )
            );
            if must_be_thunk && !matches!(&export.ty, EntityType::Func(s) if s.is_thunk()) {
                problems.push(Problem::BadAbiSignature {
                    library: lib.name.to_string(),
                    name: export.name.to_string(),
                    import: false,
                    found: export.ty.clone(),
                    required: Requirement::Function(Default::default()),
                });
            }
        }
        let imports_memory = lib.imports.iter().any(|i| i.class == ImportClass::Memory);
        // A private memory next to the shared one concerns no one else.
        if lib.defined_memories > 0 && !imports_memory {
            problems.push(Problem::Unsupported {
                library: lib.name.to_string(),
                feature: Unsupported::OwnMemory,
            });
        }
        if let Some(arch) = lib.target_arch
            && arch != "wasm32"
        {
            problems.push(Problem::Unsupported {
                library: lib.name.to_string(),
                feature: Unsupported::TargetArch(arch.to_string()),
            });
        }
    }
}

/// The libraries exporting `_start`; more than one is a problem.
pub(crate) fn starts(set: &LibrarySet<'_>, problems: &mut Vec<Problem>) -> Vec<LibId> {
    let starts: Vec<LibId> = set
        .iter()
        .filter(|(_, l)| l.special(SpecialExport::Start).is_some())
        .map(|(id, _)| id)
        .collect();
    if starts.len() > 1 {
        problems.push(Problem::MultipleStart {
            libraries: starts.iter().map(|&id| set.name(id).to_string()).collect(),
        });
    }
    starts
}

/// Checks that each kept library writes and names only its own data region. An active data
/// segment at `__memory_base` + a constant, or a data symbol, before the region's start is a
/// problem (it would be another library's memory, or the stack). Past MEM_INFO's size is a
/// warning: the linker reserves what the segments write (see `Library::data_extent`), and a
/// symbol past the region points at the next library's data. Thread-local symbols (EXPORT_INFO
/// `TLS`) are offsets into the thread-local block, not into the data region, and are not checked.
pub(crate) fn data_regions(
    set: &LibrarySet<'_>,
    kept: &PerLib<Option<KeepReason>>,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<LinkWarning>,
) {
    for (id, lib) in set.iter() {
        if kept[id].is_some() && lib.has_dylink {
            data_region(lib, problems, warnings);
        }
    }
}

fn data_region(lib: &Library<'_>, problems: &mut Vec<Problem>, warnings: &mut Vec<LinkWarning>) {
    let size = lib.mem_info.memory_size;
    for seg in &lib.data_segments {
        if seg.start < 0 {
            problems.push(Problem::DataOutsideRegion {
                library: lib.name.to_string(),
                at: seg.at,
                start: seg.start,
                len: seg.len,
                size,
            });
        }
    }
    let extent = lib.data_extent();
    if extent > u64::from(size) {
        warnings.push(LinkWarning::DataPastRegion {
            library: lib.name.to_string(),
            declared: size,
            written: extent,
        });
    }
    for e in &lib.exports {
        let Some(offset) = e.const_i32 else { continue };
        if !e.is_symbol() || !e.is_data() || e.flags & SYM_TLS != 0 {
            continue;
        }
        if offset < 0 {
            problems.push(Problem::SymbolOutsideRegion {
                library: lib.name.to_string(),
                symbol: e.name.to_string(),
                offset,
                size,
            });
        } else if u64::from(offset.unsigned_abs()) > extent {
            warnings.push(LinkWarning::SymbolPastRegion {
                library: lib.name.to_string(),
                symbol: e.name.to_string(),
                offset,
                size,
            });
        }
    }
}

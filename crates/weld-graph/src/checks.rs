//! The checks that need no symbol resolution: library names and their NEEDED entries, each
//! library's use of the ABI, and the program's entry point.

use std::collections::HashMap;

use weld_module::{EntityType, SpecialExport};

use crate::problems::{Requirement, Unsupported};
use crate::suggest::similar_names;
use crate::{LibId, LibrarySet, PerLib, Problem};

/// Checks that library names are unique and that every NEEDED entry names an input; returns
/// each library's NEEDED dependencies (itself excluded).
pub(crate) fn needed(set: &LibrarySet<'_>, problems: &mut Vec<Problem>) -> PerLib<Vec<LibId>> {
    let mut by_name: HashMap<&str, LibId> = HashMap::with_capacity(set.len());
    for (id, lib) in set.iter() {
        if by_name.insert(lib.name, id).is_some() {
            problems.push(Problem::DuplicateLibraryName {
                name: lib.name.to_string(),
            });
        }
    }
    set.per_lib(|id, lib| {
        let mut deps = Vec::new();
        for &n in &lib.needed {
            match by_name.get(n) {
                // A library naming itself in NEEDED depends on nothing new.
                Some(&dep) if dep == id => {}
                Some(&dep) => deps.push(dep),
                None => problems.push(Problem::MissingNeeded {
                    library: lib.name.to_string(),
                    needed: n.to_string(),
                    similar: similar_names(n, set.iter().map(|(_, l)| l.name)),
                    given: set.iter().map(|(_, l)| l.name.to_string()).collect(),
                }),
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
        if lib.defined_memories > 0 {
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

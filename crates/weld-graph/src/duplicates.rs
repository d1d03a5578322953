//! Duplicate definitions: for every symbol a kept library is bound to, the other libraries that
//! define it strongly with a type that would have fitted too. They are warnings, or problems with
//! [`Options::duplicate_symbols_are_errors`](crate::Options).

use std::collections::BTreeMap;

use weld_module::EntityType;

use crate::{
    Binding, Duplicate, ExportRef, KeepReason, LibId, LibrarySet, PerLib, Problem, SymbolTable,
};

/// The duplicates among the symbols kept libraries are bound to, by symbol name.
pub(crate) fn find<'a>(
    set: &LibrarySet<'a>,
    table: &SymbolTable<'a>,
    bindings: &PerLib<Vec<Binding>>,
    kept: &PerLib<Option<KeepReason>>,
) -> Vec<Duplicate<'a>> {
    let mut bound: BTreeMap<&'a str, ExportRef> = BTreeMap::new();
    for (id, lib_bindings) in bindings.iter() {
        if kept[id].is_none() {
            continue;
        }
        for b in lib_bindings {
            if let Binding::Function { target, .. }
            | Binding::Data(target)
            | Binding::FunctionAddress(target)
            | Binding::Tag(target) = *b
            {
                bound.entry(set.export(target).name).or_insert(target);
            }
        }
    }
    let mut duplicates = Vec::new();
    for (name, winner) in bound {
        let export = set.export(winner);
        if export.is_weak() {
            continue;
        }
        let same_kind = |t: &EntityType| match (&export.ty, t) {
            (EntityType::Func(a), EntityType::Func(b)) => a == b,
            (EntityType::Global(_), EntityType::Global(_)) => true,
            (EntityType::Tag(a), EntityType::Tag(b)) => a == b,
            _ => false,
        };
        let losers: Vec<LibId> = table
            .definitions(name)
            .iter()
            .filter(|&&r| {
                let other = set.export(r);
                r.library() != winner.library() && !other.is_weak() && same_kind(&other.ty)
            })
            .map(|r| r.library())
            .collect();
        if !losers.is_empty() {
            duplicates.push(Duplicate {
                name,
                winner: winner.library(),
                losers,
            });
        }
    }
    duplicates
}

impl Duplicate<'_> {
    /// The duplicate as a problem (with `--duplicate-symbols=error`).
    pub fn problem(&self, set: &LibrarySet<'_>) -> Problem {
        Problem::DuplicateSymbol {
            name: self.name.to_string(),
            winner: set.name(self.winner).to_string(),
            others: self
                .losers
                .iter()
                .map(|&l| set.name(l).to_string())
                .collect(),
        }
    }
}

//! The symbol table and the one rule that chooses among definitions of a name: a strong
//! definition beats a weak one whatever the input order; among definitions of the same strength
//! the first in input order wins. Only definitions that fit the use are considered.
//!
//! Resolution builds a table over every library; weld-component builds one over the kept
//! libraries to choose who implements each export of the component's world, with the same rule.

use std::collections::HashMap;

use weld_module::Export;

use crate::{ExportRef, LibId, LibrarySet};

/// Every symbol export of some libraries, by name, in input order.
#[derive(Clone, Debug, Default)]
pub struct SymbolTable<'a> {
    definitions: HashMap<&'a str, Vec<ExportRef>>,
}

impl<'a> SymbolTable<'a> {
    /// The table of the symbol exports ([`Export::is_symbol`]) of the libraries for which
    /// `include` is true.
    pub fn new(set: &LibrarySet<'a>, include: impl Fn(LibId) -> bool) -> Self {
        let mut definitions: HashMap<&'a str, Vec<ExportRef>> = HashMap::new();
        for id in set.ids().filter(|&id| include(id)) {
            for (r, export) in set.exports(id) {
                if export.is_symbol() {
                    definitions.entry(export.name).or_default().push(r);
                }
            }
        }
        SymbolTable { definitions }
    }

    /// Every definition of `name`, in input order.
    pub fn definitions(&self, name: &str) -> &[ExportRef] {
        self.definitions.get(name).map_or(&[], Vec::as_slice)
    }

    /// The definition of `name` that a use accepting the exports for which `fits` is true binds
    /// to: the first strong one in input order, else the first weak one.
    pub fn pick(
        &self,
        set: &LibrarySet<'a>,
        name: &str,
        fits: impl Fn(&Export<'a>) -> bool,
    ) -> Option<ExportRef> {
        let mut weak = None;
        for &r in self.definitions(name) {
            let export = set.export(r);
            if !fits(export) {
                continue;
            }
            if !export.is_weak() {
                return Some(r);
            }
            weak.get_or_insert(r);
        }
        weak
    }

    /// The libraries other than the winner's that define `name` strongly with an export for
    /// which `fits` is true (duplicates of a strong `winner`; none when the winner is weak).
    pub fn rivals(
        &self,
        set: &LibrarySet<'a>,
        name: &str,
        winner: ExportRef,
        fits: impl Fn(&Export<'a>) -> bool,
    ) -> Vec<LibId> {
        if set.export(winner).is_weak() {
            return Vec::new();
        }
        self.definitions(name)
            .iter()
            .filter(|&&r| r.library() != winner.library())
            .filter(|&&r| {
                let e = set.export(r);
                !e.is_weak() && fits(e)
            })
            .map(|r| r.library())
            .collect()
    }
}

//! What weld's built-in libdl needs decided at link time (see docs/abi.md, "Built-in libdl"):
//! which dl-openable libraries are loaded only by their first `dlopen` (those only `dlopen`
//! reaches; their constructors run then, not at start), and the **program scope** that
//! `dlsym(RTLD_DEFAULT, …)` and the handle of `dlopen(NULL, …)` search: for every name the
//! libraries loaded at start export, the definition the linker's choice rule
//! ([`SymbolTable::pick`]) gives it.
//!
//! None of this exists without the built-in libdl: a link with wasi-libc's libdl, or no libdl,
//! runs every constructor at start and pays for no program scope.

use std::collections::HashSet;

use weld_graph::{Binding, ExportRef, LibId, LibrarySet, Link, PerLib, SymbolTable};
use weld_module::{EntityType, Export, SpecialExport};

use crate::{ExportShim, libdl};

/// The built-in libdl's link-time decisions; present only when the built-in libdl is kept.
pub(crate) struct Scope<'a> {
    /// Libraries loaded by their first `dlopen`: kept, dl-openable, and reached only through
    /// `dlopen` (see [`deferred`]).
    deferred: PerLib<bool>,
    /// The program scope: each name with the definition it resolves to, sorted by name bytes.
    program: Vec<(&'a str, ExportRef)>,
}

impl<'a> Scope<'a> {
    /// The decisions for `link`, or `None` when the built-in libdl is not among its kept
    /// libraries.
    pub(crate) fn decide(
        set: &LibrarySet<'a>,
        link: &Link<'a>,
        export_shims: &[ExportShim],
    ) -> Option<Self> {
        let has_libdl = link
            .instantiation_order
            .iter()
            .any(|&l| set[l].bytes == libdl::built_in());
        if !has_libdl {
            return None;
        }
        let deferred = deferred(set, link, export_shims);
        let program = program(set, link, &deferred);
        Some(Scope { deferred, program })
    }

    /// Whether library `l` is loaded by its first `dlopen` rather than at start.
    pub(crate) fn is_deferred(&self, l: LibId) -> bool {
        self.deferred[l]
    }

    /// The program scope, sorted by name bytes.
    pub(crate) fn program(&self) -> &[(&'a str, ExportRef)] {
        &self.program
    }

    /// How many libraries are deferred.
    pub(crate) fn deferred_count(&self) -> usize {
        self.deferred.values().filter(|&&d| d).count()
    }

    /// The functions that need a table slot for the built-in libdl: the program scope's
    /// functions (in name order), then each deferred library's constructor (in instantiation
    /// order), which libdl calls through its slot.
    pub(crate) fn slot_functions<'s>(
        &'s self,
        set: &'s LibrarySet<'a>,
        link: &'s Link<'a>,
    ) -> impl Iterator<Item = ExportRef> + 's {
        let program = self
            .program
            .iter()
            .filter(|(_, r)| matches!(set.export(*r).ty, EntityType::Func(_)))
            .map(|&(_, r)| r);
        let ctors = link
            .instantiation_order
            .iter()
            .filter(|&&l| self.deferred[l])
            .filter_map(|&l| constructor(set, l));
        program.chain(ctors)
    }
}

/// Library `l`'s constructor export (`__wasm_call_ctors` or `_initialize`; weld-graph allows at
/// most one of them).
pub(crate) fn constructor(set: &LibrarySet<'_>, l: LibId) -> Option<ExportRef> {
    set.exports(l)
        .find(|(_, e)| {
            matches!(
                e.special,
                Some(SpecialExport::CallCtors | SpecialExport::Initialize)
            )
        })
        .map(|(r, _)| r)
}

/// The kept dl-openable libraries that only `dlopen` reaches: no kept library lists them in
/// NEEDED or has an import bound to them, they implement none of the component's exports and
/// do not export `_start`. (Code reached otherwise could run before their constructors.)
fn deferred(set: &LibrarySet<'_>, link: &Link<'_>, export_shims: &[ExportShim]) -> PerLib<bool> {
    let mut needed: HashSet<&str> = HashSet::new();
    let mut referenced = set.per_lib(|_, _| false);
    for &l in &link.instantiation_order {
        needed.extend(set[l].needed.iter().copied());
        for binding in &link.bindings[l] {
            if let Some(target) = target(binding)
                && target.library() != l
            {
                referenced[target.library()] = true;
            }
        }
    }
    for shim in export_shims {
        referenced[shim.target.library()] = true;
    }
    set.per_lib(|l, lib| {
        link.is_kept(l)
            && set.is_dl_openable(l)
            && !needed.contains(lib.name)
            && !referenced[l]
            && link.start != Some(l)
    })
}

/// The export an import is bound to, if it is another library's.
fn target(binding: &Binding) -> Option<ExportRef> {
    match *binding {
        Binding::Function { target, .. }
        | Binding::Tag(target)
        | Binding::Data(target)
        | Binding::FunctionAddress(target) => Some(target),
        Binding::Stub(_)
        | Binding::StubAddress(_)
        | Binding::Null
        | Binding::Linker(_)
        | Binding::Component => None,
    }
}

/// Whether `dlsym` can return export `e`: a function, or a data symbol.
fn fits(e: &Export<'_>) -> bool {
    matches!(e.ty, EntityType::Func(_)) || e.is_data()
}

/// For every name a library loaded at start exports, the definition the linker's rule picks
/// among those libraries (strong before weak, then input order). A data symbol without a
/// constant offset has no link-time address and is left out. Sorted by name bytes.
fn program<'a>(
    set: &LibrarySet<'a>,
    link: &Link<'a>,
    deferred: &PerLib<bool>,
) -> Vec<(&'a str, ExportRef)> {
    let at_start = |l: LibId| link.is_kept(l) && !deferred[l];
    let table = SymbolTable::new(set, at_start);
    let mut seen: HashSet<&'a str> = HashSet::new();
    let mut program = Vec::new();
    for l in set.ids().filter(|&l| at_start(l)) {
        for (_, export) in set.exports(l) {
            if !export.is_symbol() || !fits(export) || !seen.insert(export.name) {
                continue;
            }
            let Some(r) = table.pick(set, export.name, fits) else {
                continue;
            };
            let winner = set.export(r);
            if matches!(winner.ty, EntityType::Func(_)) || winner.const_i32.is_some() {
                program.push((export.name, r));
            }
        }
    }
    program.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    program
}

#[cfg(test)]
mod tests;

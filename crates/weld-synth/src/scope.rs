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

use crate::openable::{self, Openable};
use crate::{ExportShim, FusedPart, libdl};

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
        fused: &[FusedPart],
    ) -> Option<Self> {
        if !has_built_in_libdl(set, link) {
            return None;
        }
        let deferred = deferred(set, link, export_shims);
        let hidden = openable::hidden(set, fused);
        let program = program(set, link, &deferred, &hidden);
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

    /// The functions that need a table slot for the built-in libdl: the program scope's
    /// functions (in name order), then each deferred library's constructor (in dlopen-table
    /// order), which libdl calls through its slot.
    pub(crate) fn slot_functions<'s>(
        &'s self,
        set: &'s LibrarySet<'a>,
        openables: &'s [Openable<'_>],
    ) -> impl Iterator<Item = ExportRef> + 's {
        let program = self
            .program
            .iter()
            .filter(|(_, r)| matches!(set.export(*r).ty, EntityType::Func(_)))
            .map(|&(_, r)| r);
        let ctors = openables.iter().filter_map(|o| o.constructor);
        program.chain(ctors)
    }
}

/// Whether weld's built-in libdl is among the kept libraries.
fn has_built_in_libdl(set: &LibrarySet<'_>, link: &Link<'_>) -> bool {
    link.instantiation_order
        .iter()
        .any(|&l| set[l].bytes == libdl::built_in())
}

/// The kept dl-openable libraries whose constructors wait for their first `dlopen` when the
/// built-in libdl is linked (all `false` without it): those only `dlopen` reaches (see
/// docs/abi.md, "Built-in libdl"). `export_shims` are the component's exports.
pub fn deferred_libraries(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    export_shims: &[ExportShim],
) -> PerLib<bool> {
    match has_built_in_libdl(set, link) {
        true => deferred(set, link, export_shims),
        false => set.per_lib(|_, _| false),
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
/// among those libraries (strong before weak, then input order), unless only `dlopen` may reach
/// it (`hidden`: what fused parts bring, see [`openable::hidden`]). A data symbol without a
/// constant offset has no link-time address and is left out. Sorted by name bytes.
fn program<'a>(
    set: &LibrarySet<'a>,
    link: &Link<'a>,
    deferred: &PerLib<bool>,
    hidden: &HashSet<ExportRef>,
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
            if hidden.contains(&r) {
                continue;
            }
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

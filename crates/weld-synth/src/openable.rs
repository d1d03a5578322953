//! The libraries `dlopen` opens, as the dlopen table lists them: every kept dl-openable library,
//! then every dl-openable library fused into another one ([`FusedPart`], the weld-fuse crate),
//! each with its name, its symbols (the exports holding them) and whether its constructors wait
//! for its first `dlopen`.

use std::collections::HashSet;

use weld_graph::{ExportRef, LibrarySet, Link};
use weld_module::{EntityType, Export};

use crate::FusedPart;
use crate::scope::{self, Scope};

/// One library `dlopen` opens.
#[derive(Clone, Debug)]
pub(crate) struct Openable<'s> {
    /// The name `dlopen` is given.
    pub(crate) name: &'s str,
    /// Its symbols, in export order: (name, the export holding its definition).
    pub(crate) symbols: Vec<(&'s str, ExportRef)>,
    /// Whether it is loaded by its first `dlopen` (only with the built-in libdl).
    pub(crate) deferred: bool,
    /// Its constructor export, which libdl runs at its first `dlopen` when it is deferred.
    pub(crate) constructor: Option<ExportRef>,
}

/// Whether a dlopen table lists export `e`: a function, or a data symbol with a constant offset.
pub(crate) fn in_table(e: &Export<'_>) -> bool {
    e.is_symbol()
        && match &e.ty {
            EntityType::Func(_) => true,
            EntityType::Global(_) => e.is_data() && e.const_i32.is_some(),
            _ => false,
        }
}

/// The libraries `dlopen` opens: the kept dl-openable libraries in instantiation order, then
/// `fused` in the order given. A fused part's symbol whose export is missing from its host is
/// left out (weld-fuse exports every one, so this does not happen).
pub(crate) fn openables<'s>(
    set: &'s LibrarySet<'_>,
    link: &'s Link<'_>,
    scope: Option<&Scope<'_>>,
    fused: &'s [FusedPart],
) -> Vec<Openable<'s>> {
    let mut out: Vec<Openable<'s>> = link
        .instantiation_order
        .iter()
        .copied()
        .filter(|&l| set.is_dl_openable(l))
        .map(|l| {
            let deferred = scope.is_some_and(|s| s.is_deferred(l));
            Openable {
                name: set.name(l),
                symbols: set
                    .exports(l)
                    .filter(|(_, e)| in_table(e))
                    .map(|(r, e)| (e.name, r))
                    .collect(),
                deferred,
                constructor: deferred.then(|| scope::constructor(set, l)).flatten(),
            }
        })
        .collect();
    for part in fused.iter().filter(|p| link.is_kept(p.host)) {
        let export = |name: &str| set.export_named(part.host, name).map(|(r, _)| r);
        let deferred = scope.is_some() && part.deferred;
        debug_assert!(
            part.symbols.iter().all(|(_, e)| export(e).is_some()),
            "a symbol of fused part {} is not exported by its host",
            part.name
        );
        out.push(Openable {
            name: &part.name,
            symbols: part
                .symbols
                .iter()
                .filter_map(|(s, e)| Some((s.as_str(), export(e)?)))
                .collect(),
            deferred,
            constructor: deferred
                .then(|| part.constructor.as_deref().and_then(export))
                .flatten(),
        });
    }
    out
}

/// The exports of fused parts that only `dlopen` may reach: every symbol of a deferred part,
/// each private export (one not named after its symbol) and each deferred constructor. They are
/// not in the program scope, as the libraries they came from would not be.
pub(crate) fn hidden(set: &LibrarySet<'_>, fused: &[FusedPart]) -> HashSet<ExportRef> {
    let mut hidden = HashSet::new();
    for part in fused {
        let export = |name: &str| set.export_named(part.host, name).map(|(r, _)| r);
        for (symbol, name) in &part.symbols {
            if part.deferred || symbol != name {
                hidden.extend(export(name));
            }
        }
        hidden.extend(part.constructor.as_deref().and_then(export));
    }
    hidden
}

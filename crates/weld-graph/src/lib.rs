//! Symbol resolution and dependency ordering for the weld linker.
//!
//! [`resolve`] takes parsed dynamic libraries (see [`weld_module`]) as a [`LibrarySet`] and
//! decides:
//!
//! * what every import binds to ([`Binding`]): another library's export, a trapping stub, a null
//!   address, something the linker provides ([`LinkerItem`]), or something the component layer
//!   provides;
//! * which libraries are kept (reachable from the roots through NEEDED and every resolved
//!   reference) and which are pruned, and why ([`KeepReason`]);
//! * the instantiation order — dependencies first, strongly connected components ordered so that
//!   as few imports as possible have to go through a `call_indirect` shim — and which imports do;
//! * the initialization order: NEEDED dependencies before their dependants (ELF `DT_INIT` order),
//!   ties and NEEDED cycles broken by input order.
//!
//! Resolution rules ([`SymbolTable::pick`]): a strong definition beats a weak one whatever the
//! order; between two strong definitions the first in input order wins and the other is recorded
//! in [`Link::duplicates`]; an import whose only candidates have another type is an error naming
//! every type; weak unresolved functions bind to a trapping stub and weak unresolved `GOT.mem` /
//! `GOT.func` entries to 0. All problems are reported together in one [`ResolveError`].
//!
//! # What is where
//!
//! | module | stage or content |
//! | --- | --- |
//! | `set` | [`LibrarySet`], [`LibId`], [`PerLib`], [`ExportRef`]: the libraries and typed positions |
//! | `checks` | stage 1: library names and NEEDED, ABI exports, `_start` |
//! | `symbols` | [`SymbolTable`] and the one rule choosing among definitions |
//! | `bind` | stage 2: every import's [`Binding`], the references between libraries, stubs |
//! | `order` | stage 3: dependency graph, pruning, instantiation order and cycles, shims, init order |
//! | `duplicates` | stage 4: symbols defined strongly more than once |
//! | `link` | the result: [`Link`], [`Binding`], [`LinkerItem`], [`Stub`], [`KeepReason`], [`Options`] |
//! | `problems` | [`Problem`]: what can stop resolution, each with its message |
//! | `resolve_error` | [`ResolveError`]: every problem at once, arranged for one message |
//!
//! ```
//! use weld_graph::{resolve, Binding, LibrarySet, Options};
//! use weld_module::Library;
//!
//! let base = wat::parse_str(r#"(module (@dylink.0)
//!     (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#).unwrap();
//! let app = wat::parse_str(r#"(module (@dylink.0 (needed "libbase.so"))
//!     (import "env" "add" (func (param i32 i32) (result i32)))
//!     (func (export "run") (result i32) i32.const 1 i32.const 2 call 0))"#).unwrap();
//! let set = LibrarySet::new([
//!     (Library::parse("libapp.so", &app).unwrap(), false),
//!     (Library::parse("libbase.so", &base).unwrap(), false),
//! ]);
//! let [app, base] = [0, 1].map(|i| set.id_at(i).unwrap());
//! let roots = set.per_lib(|id, _| id == app); // libapp has the component's exports
//! let link = resolve(&set, &roots, &Options::default()).unwrap();
//! assert_eq!(link.instantiation_order, [base, app]); // base first
//! assert_eq!(link.init_order, [base, app]);
//! let Binding::Function { target, shim: false } = link.bindings[app][0] else { panic!() };
//! assert_eq!(set.export(target).name, "add");
//! assert_eq!(target.library(), base);
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![warn(missing_docs)]

mod bind;
mod checks;
mod duplicates;
mod link;
mod order;
mod problems;
mod resolve_error;
mod set;
mod suggest;
mod symbols;

pub use link::{
    Binding, Duplicate, KeepReason, Link, LinkWarning, LinkerItem, Options, RootReason, Stub,
    StubId,
};
pub use problems::{Candidate, Expected, Problem, Requirement, Unsupported};
pub use resolve_error::ResolveError;
pub use set::{ExportRef, LibId, LibrarySet, PerLib};
pub use symbols::SymbolTable;

/// Resolves symbols, prunes, and orders the libraries of `set`.
///
/// `component_roots` says which libraries are pruning roots because of their component exports;
/// dl-openable libraries and libraries exporting `_start` are roots too.
pub fn resolve<'a>(
    set: &LibrarySet<'a>,
    component_roots: &PerLib<bool>,
    options: &Options,
) -> Result<Link<'a>, ResolveError> {
    // Problems found before pruning do not stop the graph from being built: pruning decides which
    // unresolved imports matter, and everything is reported together.
    let mut problems = Vec::new();
    let needed = checks::needed(set, &mut problems);
    checks::abi(set, &mut problems);
    let table = SymbolTable::new(set, |_| true);
    let bound = bind::bind(set, &table, options, &mut problems);
    let starts = checks::starts(set, &mut problems);

    let graph = order::Dependencies::new(set, &needed, &bound.references);
    let kept = graph.prune(set, component_roots, &starts);
    problems.extend(
        bound
            .unresolved
            .into_iter()
            .filter(|(id, _)| kept[*id].is_some())
            .map(|(_, p)| p),
    );
    let mut warnings: Vec<LinkWarning> = Vec::new();
    checks::data_regions(set, &kept, &mut problems, &mut warnings);
    stop_if_any(set, &mut problems)?;

    let instantiation = graph.instantiation(&kept);
    let mut bindings = bound.bindings;
    order::mark_shims(set, &mut bindings, &instantiation.order, &mut problems);
    stop_if_any(set, &mut problems)?;

    let duplicates = duplicates::find(set, &table, &bindings, &kept);
    if options.duplicate_symbols_are_errors {
        problems.extend(duplicates.iter().map(|d| d.problem(set)));
        stop_if_any(set, &mut problems)?;
    }
    warnings.extend(
        bound
            .warnings
            .into_iter()
            .filter(|(id, _)| kept[*id].is_some())
            .map(|(_, w)| w),
    );

    Ok(Link {
        init_order: order::initialization(set, &needed, &kept),
        bindings,
        stubs: bound.stubs,
        kept,
        instantiation_order: instantiation.order,
        cycles: instantiation.cycles,
        duplicates,
        start: starts.first().copied(),
        warnings,
    })
}

/// The initialization order of `members` (libraries of `set`): NEEDED dependencies first, ties
/// and the members of a NEEDED cycle in input order — what [`Link::init_order`] is for the kept
/// libraries.
pub fn init_order(set: &LibrarySet<'_>, members: &[LibId]) -> Vec<LibId> {
    let mut problems = Vec::new();
    let needed = checks::needed(set, &mut problems);
    let mut kept = set.per_lib(|_, _| None);
    for &id in members {
        kept[id] = Some(KeepReason::Root(RootReason::ComponentExports));
    }
    order::initialization(set, &needed, &kept)
}

/// Ends resolution with every problem found so far, if there is any.
fn stop_if_any(set: &LibrarySet<'_>, problems: &mut Vec<Problem>) -> Result<(), ResolveError> {
    if problems.is_empty() {
        Ok(())
    } else {
        let inputs = set.iter().map(|(_, l)| l.name.to_string()).collect();
        Err(ResolveError::new(std::mem::take(problems), inputs))
    }
}

#[cfg(test)]
mod tests;

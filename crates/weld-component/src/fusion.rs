//! Linking with fusion ([`LinkOptions::fuse`]), as its stages: the inputs are parsed and
//! resolved as for any link; the plugins whose constructors wait for their first `dlopen` are
//! decided; the kept libraries — all but weld's built-in libdl and each library with
//! thread-local storage after the first, which stay libraries of their own — are fused into one
//! library by weld-fuse, in instantiation order and initialized in the link's initialization
//! order; that library is linked with the others as usual; the report describes the inputs,
//! with the fused library's placement and the link's synthesis.
//!
//! The inputs' code is not validated on its own: the fused library's is, as any input's. Only
//! when fusion or that validation fails are the inputs validated, to say which are at fault.

use std::borrow::Cow;

use weld_fuse::{FuseOptions, Fused};
use weld_graph::{LibId, LibrarySet, Link, PerLib};
use wit_component::metadata::Bindgen;

use crate::pipeline::{self, Early, Hosting, Input};
use crate::{InvalidInput, InvalidOutput, LinkError, LinkOptions, Linked, report, validate, world};

/// The fused library's name in the component.
pub(crate) const FUSED_NAME: &str = "weld-fused.so";

/// Links `all` (`(name, bytes, dl-openable)`, weld's built-in libdl last when `builtin_libdl`)
/// with fusion.
pub(crate) fn link(
    all: &[(&str, &[u8], bool)],
    builtin_libdl: bool,
    options: &LinkOptions,
    early: Option<Early<'_>>,
) -> Result<Linked, LinkError> {
    let set = pipeline::parse(all)?;
    let worlds = world::decode(&set)?;
    let link = pipeline::resolve(&set, &worlds, options)?;
    let libdl = builtin_libdl.then(|| set.ids().last()).flatten();
    let summary = world::summary(&worlds);
    let deferred = deferred(&set, &link, worlds)?;
    let apart = apart(&set, &link, libdl);
    let fused = fuse(&set, &link, &apart, &deferred).map_err(|e| {
        // Fusion reads every body: invalid input usually stops it first.
        let bad = invalid_inputs(&set, &link);
        if bad.is_empty() {
            LinkError::Fuse(e)
        } else {
            LinkError::InvalidInput(bad)
        }
    })?;
    let mut linked = link_fused(&set, &link, &fused, &apart, &deferred, options, early).map_err(
        |e| match e {
            // Said of the inputs, not of the fused library.
            LinkError::NothingExported(_) => {
                LinkError::NothingExported(world::nothing_exported(&set, &link, &summary))
            }
            e => e,
        },
    )?;
    linked.report = report::fused(&set, &link, &fused, FUSED_NAME, &apart, linked.report);
    Ok(linked)
}

/// The kept libraries linked apart: weld's built-in libdl, and each library with thread-local
/// storage after the first (a TLS slot belongs to a library; see [`weld_fuse::FuseError`]).
fn apart(set: &LibrarySet<'_>, link: &Link<'_>, libdl: Option<LibId>) -> Vec<LibId> {
    let tls_owners = link
        .instantiation_order
        .iter()
        .copied()
        .filter(|&id| Some(id) != libdl && set[id].owns_tls());
    libdl.into_iter().chain(tls_owners.skip(1)).collect()
}

/// The dl-openable libraries whose constructors wait for their first `dlopen` (with the
/// built-in libdl), decided on the inputs as the link without fusion decides.
fn deferred(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    worlds: PerLib<Option<Bindgen>>,
) -> Result<PerLib<bool>, LinkError> {
    let merged = world::merge(set, link, worlds)?;
    let exports = world::exports(set, link, merged.as_ref());
    Ok(weld_synth::deferred_libraries(set, link, &exports.shims))
}

/// Fuses the kept libraries but those in `apart`.
fn fuse(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    apart: &[LibId],
    deferred: &PerLib<bool>,
) -> Result<Fused, weld_fuse::FuseError> {
    let apart: std::collections::HashSet<LibId> = apart.iter().copied().collect();
    let fused = |id: &&LibId| !apart.contains(id);
    let parts: Vec<LibId> = link
        .instantiation_order
        .iter()
        .filter(fused)
        .copied()
        .collect();
    let mut options = FuseOptions::new(FUSED_NAME);
    options.closed = true;
    options.outside = link
        .instantiation_order
        .iter()
        .copied()
        .filter(|id| apart.contains(id))
        .collect();
    options.init_order = Some(link.init_order.iter().filter(fused).copied().collect());
    options.dl_openable = parts
        .iter()
        .copied()
        .filter(|&id| set.is_dl_openable(id))
        .collect();
    options.deferred = parts.iter().copied().filter(|&id| deferred[id]).collect();
    // The second link fixes the fused library's base, so its main module can hold the data.
    options.data_to_linker = true;
    weld_fuse::fuse(set, &parts, &options)
}

/// Links the fused library with the libraries kept apart (the built-in libdl is added by the
/// link itself). When the fused library's code does not validate, the parts are validated to
/// name the inputs at fault.
fn link_fused(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    fused: &Fused,
    apart: &[LibId],
    deferred: &PerLib<bool>,
    options: &LinkOptions,
    early: Option<Early<'_>>,
) -> Result<Linked, LinkError> {
    let libdl = options
        .use_built_in_libdl
        .then(|| set.ids().last())
        .flatten();
    let mut inputs = vec![Input {
        name: FUSED_NAME.to_string(),
        bytes: Cow::Borrowed(&fused.bytes),
        dl_openable: false,
    }];
    inputs.extend(
        apart
            .iter()
            .filter(|&&id| Some(id) != libdl)
            .map(|&id| Input {
                name: set.name(id).to_string(),
                bytes: Cow::Borrowed(set[id].bytes),
                dl_openable: set.is_dl_openable(id),
            }),
    );
    // The fused library holds its dl-openable parts (and answers to its parts' names, which
    // libraries kept apart may need, by its `weld.fused-parts` section).
    let deferred_names: std::collections::HashSet<&str> = set
        .ids()
        .filter(|&id| deferred[id])
        .map(|id| set.name(id))
        .collect();
    let is_deferred = |name: &str| deferred_names.contains(name);
    let hosting = Hosting {
        dlopen: fused
            .dlopen
            .iter()
            .map(|p| (0, p, is_deferred(&p.name)))
            .collect(),
        data: left_data(set, fused),
    };
    let mut plain = options.clone();
    plain.fuse = false;
    match pipeline::link_hosting(&inputs, &hosting, &plain, early) {
        Err(LinkError::InvalidInput(errors)) => Err(blame(set, link, errors)),
        other => other,
    }
}

/// The data the fused library left to the linker, as (its position among the second link's
/// inputs, the offset in its region, the bytes in the part's input).
fn left_data<'s>(set: &'s LibrarySet<'_>, fused: &Fused) -> Vec<(usize, u32, &'s [u8])> {
    fused
        .data
        .iter()
        .filter_map(|d| {
            let bytes = set[d.library].bytes.get(d.range.clone());
            debug_assert!(bytes.is_some(), "left data outside its part: {d:?}");
            Some((0, d.offset, bytes?))
        })
        .collect()
}

/// The kept inputs that do not validate, each with its first error.
fn invalid_inputs(set: &LibrarySet<'_>, link: &Link<'_>) -> Vec<InvalidInput> {
    link.instantiation_order
        .iter()
        .filter_map(|&id| {
            let e = validate::validate(set[id].bytes).err()?;
            Some(InvalidInput {
                library: set.name(id).to_string(),
                offset: e.offset(),
                message: e.message().to_string(),
            })
        })
        .collect()
}

/// The error for a fused library that does not validate: the kept inputs that do not, or, when
/// they all do, the fused library's error as weld's own.
fn blame(set: &LibrarySet<'_>, link: &Link<'_>, fused_errors: Vec<InvalidInput>) -> LinkError {
    let bad = invalid_inputs(set, link);
    if !bad.is_empty() {
        return LinkError::InvalidInput(bad);
    }
    let first = fused_errors.into_iter().next();
    LinkError::Invalid(InvalidOutput {
        offset: first.as_ref().map_or(0, |e| e.offset),
        message: first.map_or_else(
            || "the fused library does not validate".to_string(),
            |e| format!("the fused library does not validate: {}", e.message),
        ),
    })
}

//! The component encoder's part: `wit_component::ComponentEncoder` turns the main module (which
//! carries the merged world and imports and exports everything the world needs) and the adapters
//! into a component. When it refuses, its message speaks of weld's main module; the notes say
//! which libraries the names in it come from.

use weld_graph::{LibrarySet, Link};
use weld_module::abi;

use crate::{EncodeError, EncodeErrorKind, LinkError, LinkOptions};

/// Encodes the main module `main` with the adapters and encoder options of `options`.
pub(crate) fn main_component(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    main: &[u8],
    options: &LinkOptions,
) -> Result<Vec<u8>, LinkError> {
    let refused = |e: anyhow::Error| {
        let message = format!("{e:#}");
        LinkError::Encode(EncodeError {
            kind: EncodeErrorKind::Component,
            notes: notes(set, link, &message),
            message,
        })
    };
    let mut encoder = wit_component::ComponentEncoder::default();
    encoder
        .module(main)
        .map_err(refused)?
        .validate(false)
        .debug_names(options.debug_names)
        .shim_return_call_ref(options.return_call_ref)
        .realloc_via_memory_grow(options.realloc_via_memory_grow)
        .reject_legacy_names(options.reject_legacy_names)
        .emit_canonical_names(options.emit_canonical_names);
    if let Some(merge) = options.merge_imports_based_on_semver {
        encoder.merge_imports_based_on_semver(merge);
    }
    for (name, bytes) in &options.adapters {
        encoder.adapter(name, bytes).map_err(|e| {
            LinkError::Encode(EncodeError {
                kind: EncodeErrorKind::Adapter { name: name.clone() },
                message: format!("{e:#}"),
                notes: Vec::new(),
            })
        })?;
    }
    encoder.encode().map_err(refused)
}

/// Which kept libraries import the modules and names quoted in the encoder's message, and, for
/// a problem with exports, which libraries' worlds make up the component's.
fn notes(set: &LibrarySet<'_>, link: &Link<'_>, msg: &str) -> Vec<String> {
    let mut notes = Vec::new();
    let tokens: Vec<&str> = msg.split('`').skip(1).step_by(2).collect();
    let kept = || link.instantiation_order.iter().map(|&i| &set[i]);
    for t in &tokens {
        let (module, name) = match t.split_once("::") {
            Some((m, n)) => (m, Some(n)),
            None => (*t, None),
        };
        let importers: Vec<String> = kept()
            .filter(|lib| {
                lib.imports.iter().any(|i| {
                    i.module == module
                        && name.is_none_or(|n| i.name == n)
                        && !matches!(i.module, abi::ENV | abi::GOT_MEM | abi::GOT_FUNC)
                })
            })
            .map(|lib| format!("`{}`", lib.name))
            .collect();
        if !importers.is_empty() {
            let what = match name {
                Some(n) => format!("`{module}.{n}`"),
                None => format!("module `{module}`"),
            };
            notes.push(format!(
                "{what} is imported by library {}",
                importers.join(", ")
            ));
        }
    }
    if msg.contains("export") || notes.is_empty() {
        let worlds: Vec<String> = kept()
            .filter(|lib| !lib.component_types.is_empty())
            .map(|lib| format!("`{}`", lib.name))
            .collect();
        if !worlds.is_empty() {
            notes.push(format!(
                "the component's WIT world is the union of the component-type sections of {}; every world export must be a core function exported by a kept library",
                worlds.join(", ")
            ));
        }
    }
    notes.dedup();
    notes
}

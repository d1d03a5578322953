//! The component's WIT world: each library's `component-type` sections decoded (which makes the
//! libraries with exports pruning roots), the kept libraries' worlds merged, and every core
//! export name the merged world may use mapped to the kept library function implementing it.

use weld_graph::{Duplicate, LibrarySet, Link, PerLib, SymbolTable};
use weld_module::{EntityType, Export, Library, abi};
use weld_synth::ExportShim;
use wit_component::metadata::Bindgen;
use wit_parser::{
    LiftLowerAbi, ManglingAndAbi, Resolve, TypeDefKind, WasmExport, WasmExportKind, WorldItem,
};

use crate::{InputSummary, LinkError, NothingExported, WorldError, WorldErrorKind};

/// Every library's world, if it has `component-type` sections; all decoding errors at once.
pub(crate) fn decode(set: &LibrarySet<'_>) -> Result<PerLib<Option<Bindgen>>, LinkError> {
    let mut errors = Vec::new();
    let worlds = set.per_lib(|_, lib| {
        decode_one(lib).unwrap_or_else(|e| {
            errors.push(e);
            None
        })
    });
    if errors.is_empty() {
        Ok(worlds)
    } else {
        Err(LinkError::World(errors))
    }
}

/// Decodes a library's `component-type*` sections into one [`Bindgen`].
fn decode_one(lib: &Library<'_>) -> Result<Option<Bindgen>, WorldError> {
    if lib.component_types.is_empty() {
        return Ok(None);
    }
    // wit-component decodes custom sections from a module: a throw-away one holds them.
    let mut module = wasm_encoder::Module::new();
    for c in &lib.component_types {
        module.section(&wasm_encoder::CustomSection {
            name: c.name.into(),
            data: c.data.into(),
        });
    }
    let bytes = module.finish();
    let (_, bindgen) = wit_component::metadata::decode(&bytes).map_err(|e| WorldError {
        library: lib.name.to_string(),
        kind: WorldErrorKind::Decode,
        detail: one_line(&format!("{e:#}")),
    })?;
    Ok(Some(bindgen))
}

/// Per library: `None` without a world, else whether its world has exports (the libraries
/// with exports are the pruning roots).
pub(crate) fn summary(worlds: &PerLib<Option<Bindgen>>) -> PerLib<Option<bool>> {
    worlds.map(|_, w| {
        w.as_ref().map(|b| {
            b.resolve
                .worlds
                .get(b.world)
                .is_some_and(|w| !w.exports.is_empty())
        })
    })
}

/// The merged world of the kept libraries, in input order.
pub(crate) fn merge(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    worlds: PerLib<Option<Bindgen>>,
) -> Result<Option<Bindgen>, LinkError> {
    let mut merged: Option<Bindgen> = None;
    for (w, id) in worlds.into_values().zip(set.ids()) {
        let (true, Some(w)) = (link.is_kept(id), w) else {
            continue;
        };
        let Some(m) = &mut merged else {
            merged = Some(w);
            continue;
        };
        m.merge(w).map_err(|e| {
            let detail = one_line(&format!("{e:#}"));
            let kind = if detail.contains("string encoding") {
                WorldErrorKind::StringEncoding
            } else {
                WorldErrorKind::Merge
            };
            LinkError::World(vec![WorldError {
                library: set.name(id).to_string(),
                kind,
                detail,
            }])
        })?;
    }
    Ok(merged)
}

/// The component's exports: the functions the main module must export under exact core names,
/// and the duplicates among their definitions.
pub(crate) struct Exports<'a> {
    pub(crate) shims: Vec<ExportShim>,
    /// Export names defined strongly by several kept libraries (the first in input order is
    /// used), other than the symbols resolution already reported.
    pub(crate) duplicates: Vec<Duplicate<'a>>,
}

/// Each name the merged world may use that a kept library exports as a function (chosen as
/// symbols are: [`SymbolTable::pick`]), and `_start`.
pub(crate) fn exports<'a>(
    set: &LibrarySet<'a>,
    link: &Link<'a>,
    merged: Option<&Bindgen>,
) -> Exports<'a> {
    let mut shims = Vec::new();
    let mut duplicates = Vec::new();
    if let Some(m) = merged {
        let table = SymbolTable::new(set, |id| link.is_kept(id));
        let realloc = abi::realloc_signature();
        let fits = |e: &Export<'_>| match &e.ty {
            EntityType::Func(sig) => e.name != abi::CABI_REALLOC || *sig == realloc,
            _ => false,
        };
        for name in export_names(&m.resolve, m.world) {
            let Some(target) = table.pick(set, &name, fits) else {
                continue;
            };
            let losers = table.rivals(set, &name, target, fits);
            let export = set.export(target);
            if !losers.is_empty() && !link.duplicates.iter().any(|d| d.name == export.name) {
                duplicates.push(Duplicate {
                    name: export.name,
                    winner: target.library(),
                    losers,
                });
            }
            shims.push(ExportShim { name, target });
        }
    }
    // `_start` goes through the main module too, where a command adapter (which imports
    // `__main_module__._start`) finds it.
    if let Some(l) = link.start
        && let Some((target, _)) = set.export_named(l, abi::START)
        && !shims.iter().any(|s| s.name == abi::START)
    {
        shims.push(ExportShim {
            name: abi::START.into(),
            target,
        });
    }
    Exports { shims, duplicates }
}

/// The core export names the world's exports may use, per mangling and ABI, sorted.
fn export_names(resolve: &Resolve, world: wit_parser::WorldId) -> Vec<String> {
    let mut names = Vec::new();
    let Some(w) = resolve.worlds.get(world) else {
        return names;
    };
    for (key, item) in &w.exports {
        match item {
            WorldItem::Function(f) => function_names(resolve, &mut names, None, f),
            WorldItem::Interface { id, .. } => {
                let Some(iface) = resolve.interfaces.get(*id) else {
                    continue;
                };
                for f in iface.functions.values() {
                    function_names(resolve, &mut names, Some(key), f);
                }
                for &ty in iface.types.values() {
                    let is_resource = resolve
                        .types
                        .get(ty)
                        .is_some_and(|t| matches!(t.kind, TypeDefKind::Resource));
                    if is_resource {
                        for m in MANGLINGS {
                            names.push(resolve.wasm_export_name(
                                m,
                                WasmExport::ResourceDtor {
                                    interface: key,
                                    resource: ty,
                                },
                            ));
                        }
                    }
                }
            }
            WorldItem::Type { .. } => {}
        }
    }
    for name in [
        abi::CABI_REALLOC,
        abi::CABI_EXPORT_REALLOC,
        abi::CABI_IMPORT_REALLOC,
        abi::TASK_HOOK,
    ] {
        names.push(name.into());
    }
    names.sort();
    names.dedup();
    names
}

/// The manglings a library may use for the world's exports.
const MANGLINGS: [ManglingAndAbi; 4] = [
    ManglingAndAbi::Legacy(LiftLowerAbi::Sync),
    ManglingAndAbi::Legacy(LiftLowerAbi::AsyncCallback),
    ManglingAndAbi::Legacy(LiftLowerAbi::AsyncStackful),
    ManglingAndAbi::Standard32,
];

/// The names of exported function `func` (of interface `key`, if any): every kind (normal,
/// post-return, and callback for the async-callback ABI) in every mangling.
fn function_names(
    resolve: &Resolve,
    names: &mut Vec<String>,
    key: Option<&wit_parser::WorldKey>,
    func: &wit_parser::Function,
) {
    for m in MANGLINGS {
        let callback = matches!(m, ManglingAndAbi::Legacy(LiftLowerAbi::AsyncCallback));
        let kinds: &[fn() -> WasmExportKind] = if callback {
            &[
                || WasmExportKind::Normal,
                || WasmExportKind::PostReturn,
                || WasmExportKind::Callback,
            ]
        } else {
            &[|| WasmExportKind::Normal, || WasmExportKind::PostReturn]
        };
        for kind in kinds {
            names.push(resolve.wasm_export_name(
                m,
                WasmExport::Func {
                    interface: key,
                    func,
                    kind: kind(),
                },
            ));
        }
    }
}

/// Why the component exports nothing, input by input.
pub(crate) fn nothing_exported(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    worlds: &PerLib<Option<bool>>,
) -> NothingExported {
    NothingExported {
        libraries: set
            .iter()
            .map(|(id, lib)| InputSummary {
                library: lib.name.to_string(),
                kept: link.is_kept(id),
                dynamic: lib.has_dylink,
                world: worlds[id],
                start: lib.special(weld_module::SpecialExport::Start).is_some(),
                dl_openable: set.is_dl_openable(id),
            })
            .collect(),
    }
}

/// wit-component's message on one line, short: some of its messages hold multi-line debug
/// dumps (`expected=[\n    0x0,\n …`).
fn one_line(message: &str) -> String {
    const MAX: usize = 400;
    let mut out = message.split_whitespace().collect::<Vec<_>>().join(" ");
    out = out
        .replace("[ ", "[")
        .replace(", ]", "]")
        .replace(" ]", "]");
    if out.chars().count() > MAX {
        out = out.chars().take(MAX).collect::<String>() + " …";
    }
    out
}

//! Links WebAssembly dynamic libraries into one component.
//!
//! This is weld's library entry point: add libraries with [`Linker::library`], set options, and
//! call [`Linker::encode`]. The pipeline:
//!
//! 1. every library is parsed by [`weld_module`] (function bodies skipped);
//! 2. each library's `component-type*` sections are decoded to learn which libraries have
//!    component exports (the pruning roots) and, merged over the kept libraries, the component's
//!    world;
//! 3. [`weld_graph`] resolves symbols and orders the libraries;
//! 4. [`weld_synth`] builds the main module — which carries the world, imports what the libraries
//!    import from outside the dynamic-linking ABI, and exports a `call_indirect` shim under the
//!    exact core name of every world export — plus the init and stubs modules;
//! 5. `wit_component::ComponentEncoder` turns the (small) main module into a component, and
//!    weld appends the libraries, the stubs and init modules, and the core instances wiring them
//!    together, reading the encoder's output to find the main module's instance and the sizes
//!    of the core index spaces;
//! 6. the result is validated (unless turned off). The costly part, checking the libraries'
//!    function bodies, runs from the start on other threads, on the libraries' own bytes;
//!    the output's structure is checked once it exists.
//!
//! Library bytes are copied exactly once, into the output.
//!
//! ```no_run
//! let mut linker = weld_component::Linker::default();
//! linker.library("libc.so", std::fs::read("libc.so")?);
//! linker.library("libapp.so", std::fs::read("libapp.so")?);
//! let linked = linker.encode()?;
//! std::fs::write("app.wasm", &linked.component)?;
//! for line in linked.report.lines() {
//!     eprintln!("{line}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
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

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use wasm_encoder::{
    Alias, ComponentAliasSection, ComponentSection, ComponentSectionId, ExportKind,
    InstanceSection, ModuleArg, RawSection,
};
use wasmparser::{Parser, Payload, Validator, WasmFeatures};
use weld_graph::{KeepReason, Link, Options as GraphOptions};
use weld_module::{EntityType, Library, ValType};
use weld_synth::{
    Arg, ArgItem, ExportShim, InitArg, ItemKind, MAIN_MARKER, Source, SynthOptions, Synthesized,
};
use wit_component::metadata::Bindgen;

mod validate;
pub use validate::validate;
use wit_parser::{
    LiftLowerAbi, ManglingAndAbi, Resolve, TypeDefKind, WasmExport, WasmExportKind, WorldItem,
};

pub use weld_synth::DEFAULT_STACK_SIZE;

/// Options of a link.
#[derive(Clone, Debug)]
pub struct LinkOptions {
    /// Stack size in bytes (default 1 MiB).
    pub stack_size: u32,
    /// Validate the output component (default true).
    pub validate: bool,
    /// Bind unresolved strong function imports to trapping stubs.
    pub stub_missing_functions: bool,
    /// Make symbols defined strongly by several libraries an error (default: a warning, and the
    /// first definition in input order is used).
    pub duplicate_symbols_are_errors: bool,
    /// Adapter modules (for example `wasi_snapshot_preview1`): `(name, bytes)`. Library imports
    /// from a module of that name are satisfied by the adapter.
    pub adapters: Vec<(String, Vec<u8>)>,
    /// Adapters allocate with `memory.grow` instead of importing `cabi_realloc`.
    pub realloc_via_memory_grow: bool,
    /// Merge semver-compatible interface imports (`None`: the encoder's default, on).
    pub merge_imports_based_on_semver: Option<bool>,
    /// Reject core names from before the component model's standard name mangling.
    pub reject_legacy_names: bool,
    /// Emit canonical (`@0.2`-style) interface names.
    pub emit_canonical_names: bool,
    /// Add name sections (default true).
    pub debug_names: bool,
    /// Make the encoder's indirect-call shims use `return_call_ref`.
    pub return_call_ref: bool,
    /// Link weld's built-in `libdl.so` as an extra library.
    pub use_built_in_libdl: bool,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            stack_size: DEFAULT_STACK_SIZE,
            validate: true,
            stub_missing_functions: false,
            duplicate_symbols_are_errors: false,
            adapters: Vec::new(),
            realloc_via_memory_grow: false,
            merge_imports_based_on_semver: None,
            reject_legacy_names: false,
            emit_canonical_names: false,
            debug_names: true,
            return_call_ref: false,
            use_built_in_libdl: false,
        }
    }
}

/// Why a link failed. Every variant lists all the problems found at that stage.
#[derive(Debug)]
pub enum LinkError {
    /// Some inputs could not be parsed.
    Parse(Vec<weld_module::ParseError>),
    /// A library's `component-type` section could not be decoded, or worlds could not be merged.
    World(String),
    /// Symbol resolution or ordering failed.
    Resolve(weld_graph::LinkError),
    /// Layout or glue synthesis failed.
    Synth(weld_synth::SynthError),
    /// The component encoder rejected the main module.
    Encode(String),
    /// A kept input library is not valid WebAssembly (its code is checked while linking, unless
    /// validation is off).
    InvalidInput(Vec<String>),
    /// The output did not validate, though every input does: a weld bug.
    Invalid(String),
    /// The component would exceed a limit of the component model's binary format.
    Limit(String),
}

/// Most core modules one component may contain.
pub const MAX_MODULES: usize = 1000;
/// Most instances (core and component) one component may contain.
pub const MAX_INSTANCES: usize = 4096;

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Parse(errors) => {
                if let [only] = errors.as_slice() {
                    return write!(f, "malformed input: {only}");
                }
                write!(f, "{} inputs are malformed:", errors.len())?;
                for e in errors {
                    write!(f, "\n  - {e}")?;
                }
                Ok(())
            }
            LinkError::World(m) => write!(f, "{m}"),
            LinkError::Resolve(e) => write!(f, "{e}"),
            LinkError::Synth(e) => write!(f, "{e}"),
            LinkError::Encode(m) => write!(f, "component encoding failed: {m}"),
            LinkError::Limit(m) => write!(f, "{m}"),
            LinkError::InvalidInput(problems) => write!(f, "{}", problems.join("\n")),
            LinkError::Invalid(m) => write!(
                f,
                "the linked component does not validate (this is a weld bug; please report it with the inputs): {m}"
            ),
        }
    }
}

impl std::error::Error for LinkError {}

/// A linked component and an account of the decisions taken.
#[derive(Clone, Debug)]
pub struct Linked {
    /// The component's bytes.
    pub component: Vec<u8>,
    /// What the linker did.
    pub report: Report,
}

/// What the linker decided, for `-v` output and tooling.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Library names in input order.
    pub libraries: Vec<String>,
    /// Per library: `Some(reason)` when kept, `None` when pruned.
    pub kept: Vec<Option<String>>,
    /// Kept libraries in instantiation order.
    pub instantiation_order: Vec<String>,
    /// Kept libraries in initialization order.
    pub init_order: Vec<String>,
    /// Dependency cycles (library names, in instantiation order).
    pub cycles: Vec<Vec<String>>,
    /// Imports routed through a `call_indirect` shim: (symbol, exporter, slot).
    pub import_shims: Vec<(String, String, u32)>,
    /// Component exports: (core export name, implementing library).
    pub exports: Vec<(String, String)>,
    /// Symbols strongly defined by several libraries: (symbol, winner, losers).
    pub duplicates: Vec<(String, String, Vec<String>)>,
    /// Functions replaced by trapping stubs.
    pub stubs: Vec<String>,
    /// Memory and table layout: (library, memory base, table base).
    pub layout: Vec<(String, u32, u32)>,
    /// `__heap_base`: the first byte after all libraries' data.
    pub heap_base: u32,
    /// End of the initial heap (page-aligned).
    pub heap_end: u32,
    /// Table size.
    pub table_size: u32,
    /// Non-fatal warnings (duplicates, dylink oddities).
    pub warnings: Vec<String>,
    /// Facts worth knowing with `-v` (for example libraries with a start function).
    pub notes: Vec<String>,
}

impl Report {
    /// The report as human-readable lines.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, kept) in self.libraries.iter().zip(&self.kept) {
            match kept {
                Some(reason) => out.push(format!("keep  {name}: {reason}")),
                None => out.push(format!(
                    "prune {name}: no component export, no `_start`, and no kept library refers to it"
                )),
            }
        }
        out.push(format!(
            "instantiation order: {}",
            self.instantiation_order.join(", ")
        ));
        out.push(format!(
            "initialization order (NEEDED dependencies first): {}",
            self.init_order.join(", ")
        ));
        for c in &self.cycles {
            match c.as_slice() {
                [one] => out.push(format!(
                    "self-reference: {one} calls its own exports through `env` (via shims)"
                )),
                _ => out.push(format!("dependency cycle: {}", c.join(" <-> "))),
            }
        }
        for note in &self.notes {
            out.push(note.clone());
        }
        for (sym, exporter, slot) in &self.import_shims {
            out.push(format!(
                "shim  `{sym}` from {exporter} (not instantiated before a library calling it) via table slot {slot}"
            ));
        }
        for (name, lib) in &self.exports {
            out.push(format!("export `{name}` from {lib}"));
        }
        for s in &self.stubs {
            out.push(format!(
                "stub  `{s}` traps when called (weak or --stub-missing-functions)"
            ));
        }
        for (lib, mem, table) in &self.layout {
            out.push(format!(
                "layout {lib}: __memory_base {mem:#x}, __table_base {table}"
            ));
        }
        out.push(format!(
            "layout heap: __heap_base {:#x}, __heap_end {:#x}, table size {}",
            self.heap_base, self.heap_end, self.table_size
        ));
        out
    }
}

/// Links dynamic libraries into a component.
///
/// Library bytes may be owned (`Vec<u8>`) or borrowed (`&[u8]`, for example a memory-mapped
/// file); either way they are copied once, into the output.
#[derive(Clone, Debug, Default)]
pub struct Linker<'a> {
    libraries: Vec<(String, Cow<'a, [u8]>, bool)>,
    options: LinkOptions,
}

impl<'a> Linker<'a> {
    /// Adds a library named `name` (what NEEDED entries refer to).
    pub fn library(
        &mut self,
        name: impl Into<String>,
        bytes: impl Into<Cow<'a, [u8]>>,
    ) -> &mut Self {
        self.libraries.push((name.into(), bytes.into(), false));
        self
    }

    /// Adds a library that can be opened with `dlopen(name)`: it and all its function and data
    /// symbols go into the dlopen table, and it is kept even if nothing refers to it.
    pub fn dl_openable(
        &mut self,
        name: impl Into<String>,
        bytes: impl Into<Cow<'a, [u8]>>,
    ) -> &mut Self {
        self.libraries.push((name.into(), bytes.into(), true));
        self
    }

    /// Adds weld's built-in `libdl.so` (`dlopen`, `dlsym`, `dlclose`, `dlerror` over the dlopen
    /// table), generated by weld; it needs no libc.
    pub fn use_built_in_libdl(&mut self, yes: bool) -> &mut Self {
        self.options.use_built_in_libdl = yes;
        self
    }

    /// Sets all options at once.
    pub fn options(&mut self, options: LinkOptions) -> &mut Self {
        self.options = options;
        self
    }

    /// Sets the stack size in bytes.
    pub fn stack_size(&mut self, bytes: u32) -> &mut Self {
        self.options.stack_size = bytes;
        self
    }

    /// Turns output validation on or off.
    pub fn validate(&mut self, validate: bool) -> &mut Self {
        self.options.validate = validate;
        self
    }

    /// Stubs unresolved strong function imports with trapping functions.
    pub fn stub_missing_functions(&mut self, stub: bool) -> &mut Self {
        self.options.stub_missing_functions = stub;
        self
    }

    /// Makes duplicate strong definitions an error instead of a warning.
    pub fn duplicate_symbols_are_errors(&mut self, error: bool) -> &mut Self {
        self.options.duplicate_symbols_are_errors = error;
        self
    }

    /// Adds an adapter module named `name` (for example `wasi_snapshot_preview1`).
    pub fn adapter(&mut self, name: impl Into<String>, bytes: Vec<u8>) -> &mut Self {
        self.options.adapters.push((name.into(), bytes));
        self
    }

    /// Options, for settings without a builder method of their own.
    pub fn options_mut(&mut self) -> &mut LinkOptions {
        &mut self.options
    }

    /// Links the libraries.
    pub fn encode(&self) -> Result<Linked, LinkError> {
        link(&self.libraries, &self.options, None)
    }

    /// Links the libraries like [`Linker::encode`], and hands the component's bytes to `early`
    /// as soon as they are assembled — on another thread, while validation finishes — so that
    /// writing the output overlaps with validating it.
    ///
    /// `early` is called at most once: not at all when linking fails before the component
    /// exists. When it has been called and this then returns an error, the bytes it saw are not
    /// a valid component and whatever it did with them must be undone (the `weld` command
    /// writes to a temporary file and renames it only on success).
    pub fn encode_with(&self, early: impl FnOnce(&[u8]) + Send) -> Result<Linked, LinkError> {
        link(&self.libraries, &self.options, Some(Box::new(early)))
    }
}

/// Decodes a library's `component-type*` sections into one [`Bindgen`].
fn decode_world(lib: &Library<'_>) -> Result<Option<Bindgen>, LinkError> {
    if lib.component_types.is_empty() {
        return Ok(None);
    }
    let mut module = wasm_encoder::Module::new();
    for c in &lib.component_types {
        module.section(&wasm_encoder::CustomSection {
            name: c.name.into(),
            data: c.data.into(),
        });
    }
    let bytes = module.finish();
    let (_, bindgen) = wit_component::metadata::decode(&bytes).map_err(|e| {
        LinkError::World(format!(
            "library `{}`: its component-type section does not decode: {e:#}",
            lib.name
        ))
    })?;
    Ok(Some(bindgen))
}

/// The core export names the world's exports may use, per mangling and ABI.
fn world_export_names(resolve: &Resolve, world: wit_parser::WorldId) -> Vec<String> {
    let manglings = [
        ManglingAndAbi::Legacy(LiftLowerAbi::Sync),
        ManglingAndAbi::Legacy(LiftLowerAbi::AsyncCallback),
        ManglingAndAbi::Legacy(LiftLowerAbi::AsyncStackful),
        ManglingAndAbi::Standard32,
    ];
    let mut names = Vec::new();
    let Some(w) = resolve.worlds.get(world) else {
        return names;
    };
    let func_names = |names: &mut Vec<String>, key: Option<&wit_parser::WorldKey>, func| {
        for m in manglings {
            let kinds: &[fn() -> WasmExportKind] = match m {
                ManglingAndAbi::Legacy(LiftLowerAbi::AsyncCallback) => &[
                    || WasmExportKind::Normal,
                    || WasmExportKind::PostReturn,
                    || WasmExportKind::Callback,
                ],
                _ => &[|| WasmExportKind::Normal, || WasmExportKind::PostReturn],
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
    };
    for (key, item) in &w.exports {
        match item {
            WorldItem::Function(f) => func_names(&mut names, None, f),
            WorldItem::Interface { id, .. } => {
                let Some(iface) = resolve.interfaces.get(*id) else {
                    continue;
                };
                for f in iface.functions.values() {
                    func_names(&mut names, Some(key), f);
                }
                for &ty in iface.types.values() {
                    let is_resource = resolve
                        .types
                        .get(ty)
                        .is_some_and(|t| matches!(t.kind, TypeDefKind::Resource));
                    if is_resource {
                        for m in manglings {
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
    names.push("cabi_realloc".into());
    names.push("cabi_export_realloc".into());
    names.push("cabi_import_realloc".into());
    names.push("__wasm_task_hook".into());
    names.sort();
    names.dedup();
    names
}

/// What [`Linker::encode_with`] runs on the assembled bytes.
type Early<'e> = Box<dyn FnOnce(&[u8]) + Send + 'e>;

fn link(
    inputs: &[(String, Cow<'_, [u8]>, bool)],
    options: &LinkOptions,
    early: Option<Early<'_>>,
) -> Result<Linked, LinkError> {
    let libdl = options
        .use_built_in_libdl
        .then(weld_synth::libdl::libdl_module);
    let mut dl_openable: Vec<bool> = inputs.iter().map(|(_, _, d)| *d).collect();
    if libdl.is_some() {
        dl_openable.push(false);
    }
    let all: Vec<(&str, &[u8])> = inputs
        .iter()
        .map(|(n, b, _)| (n.as_str(), b.as_ref()))
        .chain(libdl.as_deref().map(|b| (weld_synth::libdl::LIBDL_NAME, b)))
        .collect();
    // Checking the libraries' code is most of validation's cost; it starts at once, on other
    // threads, and overlaps with everything else (see `validate`).
    let queue = validate::Queue::new(all.len());
    std::thread::scope(|scope| {
        let background = options.validate.then(|| {
            validate::InputValidation::start(scope, &queue, all.iter().map(|(_, b)| *b).collect())
        });
        link_in_scope(&all, &dl_openable, options, early, background)
    })
}

/// The link proper, with the inputs' validation (if any) under way.
fn link_in_scope<'s>(
    all: &[(&str, &[u8])],
    dl_openable: &[bool],
    options: &LinkOptions,
    early: Option<Early<'_>>,
    background: Option<validate::InputValidation<'s, '_>>,
) -> Result<Linked, LinkError> {
    // 1. Parse.
    let mut libs = Vec::with_capacity(all.len());
    let mut parse_errors = Vec::new();
    for &(name, bytes) in all {
        match Library::parse(name, bytes) {
            Ok(lib) => libs.push(lib),
            Err(e) => parse_errors.push(e),
        }
    }
    if !parse_errors.is_empty() {
        return Err(LinkError::Parse(parse_errors));
    }

    // 2. Worlds.
    let mut worlds = Vec::with_capacity(libs.len());
    let mut world_errors = Vec::new();
    for lib in &libs {
        match decode_world(lib) {
            Ok(w) => worlds.push(w),
            Err(e) => {
                world_errors.push(e.to_string());
                worlds.push(None);
            }
        }
    }
    if !world_errors.is_empty() {
        return Err(LinkError::World(world_errors.join("\n")));
    }
    // Pruning roots: libraries with component exports, and dl-openable ones.
    let roots: Vec<bool> = worlds
        .iter()
        .zip(dl_openable)
        .map(|(w, &dl)| {
            dl || w.as_ref().is_some_and(|b| {
                b.resolve
                    .worlds
                    .get(b.world)
                    .is_some_and(|w| !w.exports.is_empty())
            })
        })
        .collect();

    // 3. Resolve.
    let graph_options = GraphOptions {
        stub_missing_functions: options.stub_missing_functions,
        duplicate_symbols_are_errors: options.duplicate_symbols_are_errors,
    };
    let link = weld_graph::resolve(&libs, &roots, &graph_options).map_err(LinkError::Resolve)?;

    if let Some(v) = &background {
        v.prune(|i| link.is_kept(i));
    }
    let assembled = assemble(&libs, worlds, &link, dl_openable, options);
    // Once the component exists: hand it out, check its structure and weld's own modules
    // (every input's bodies, and the encoder's output, see `scan`, are checked elsewhere),
    // then help with the inputs' bodies.
    let (input_errors, structure) = std::thread::scope(|inner| {
        let mut structure = Ok(());
        if let Ok(Assembled {
            component, checked, ..
        }) = &assembled
        {
            if let Some(early) = early {
                inner.spawn(move || early(component));
            }
            if options.validate {
                structure = validate::validate_skipping(component, checked);
            }
        }
        let errors: Vec<_> = background
            .map(|b| b.finish())
            .unwrap_or_default()
            .into_iter()
            .filter(|(i, _)| link.is_kept(*i))
            .collect();
        (errors, structure)
    });
    if !input_errors.is_empty() {
        let bad = input_errors
            .into_iter()
            .filter_map(|(i, e)| {
                let lib = libs.get(i)?;
                Some(format!(
                    "library `{}` is not a valid WebAssembly module: at byte offset {:#x}: {}",
                    lib.name,
                    e.offset(),
                    e.message()
                ))
            })
            .collect();
        return Err(LinkError::InvalidInput(bad));
    }
    let Assembled {
        component, synth, ..
    } = assembled?;
    if let Err(e) = structure {
        return Err(LinkError::Invalid(e.to_string()));
    }

    let report = make_report(&libs, &link, &synth);
    Ok(Linked { component, report })
}

/// The output of [`assemble`].
struct Assembled {
    component: Vec<u8>,
    /// Byte ranges of `component` whose function bodies are validated already: the encoder's
    /// output and each library.
    checked: Vec<std::ops::Range<usize>>,
    /// The synthesized modules, for the report.
    synth: Synthesized,
}

/// Steps 4–6: the merged world, the synthesized modules and the component.
fn assemble(
    libs: &[Library<'_>],
    worlds: Vec<Option<Bindgen>>,
    link: &Link<'_>,
    dl_openable: &[bool],
    options: &LinkOptions,
) -> Result<Assembled, LinkError> {
    // 4. The merged world of the kept libraries, and who implements each export.
    let mut merged: Option<Bindgen> = None;
    for (i, w) in worlds.into_iter().enumerate() {
        let (true, Some(w)) = (link.is_kept(i), w) else {
            continue;
        };
        match &mut merged {
            None => merged = Some(w),
            Some(m) => {
                m.merge(w).map_err(|e| {
                let msg = format!("{e:#}");
                let name = libs.get(i).map_or("?", |l| l.name);
                if msg.contains("string encoding") {
                    LinkError::World(format!(
                        "library `{name}` uses a different string encoding for an interface than an earlier library ({msg}); weld links all libraries through one main module, so mixed string encodings for the same interface are not supported yet"
                    ))
                } else {
                    LinkError::World(format!(
                        "library `{name}`: its WIT world cannot be merged with the earlier libraries' worlds: {msg}"
                    ))
                }
            })?;
            }
        }
    }
    let mut export_shims = Vec::new();
    if let Some(m) = &merged {
        let candidates = world_export_names(&m.resolve, m.world);
        let realloc_sig = weld_module::FuncSig::new([ValType::I32; 4], [ValType::I32]);
        // Function exports of kept libraries by name; the first in input order wins.
        let mut by_name: HashMap<&str, (usize, usize)> = HashMap::new();
        for (l, lib) in libs.iter().enumerate() {
            if !link.is_kept(l) {
                continue;
            }
            for (e, export) in lib.exports.iter().enumerate() {
                let EntityType::Func(sig) = &export.ty else {
                    continue;
                };
                if export.name == "cabi_realloc" && *sig != realloc_sig {
                    continue;
                }
                // Strong beats weak, then input order.
                match by_name.get(export.name) {
                    Some(&(pl, pe))
                        if export.is_weak()
                            || !libs
                                .get(pl)
                                .and_then(|x| x.exports.get(pe))
                                .is_some_and(|x| x.is_weak()) => {}
                    _ => {
                        by_name.insert(export.name, (l, e));
                    }
                }
            }
        }
        for name in candidates {
            if let Some(&(library, export)) = by_name.get(name.as_str()) {
                export_shims.push(ExportShim {
                    name,
                    library,
                    export,
                });
            }
        }
    }

    // `_start` goes through the main module too, where a command adapter (which imports
    // `__main_module__._start`) finds it.
    if let Some(l) = link.start
        && let Some(e) = libs
            .get(l)
            .and_then(|lib| lib.exports.iter().position(|e| e.name == "_start"))
        && !export_shims.iter().any(|s| s.name == "_start")
    {
        export_shims.push(ExportShim {
            name: "_start".into(),
            library: l,
            export: e,
        });
    }

    // 5. Synthesize.
    // In instantiation order, as the reference merges worlds (this orders the world's items).
    let custom: Vec<_> = link
        .instantiation_order
        .iter()
        .filter_map(|&i| libs.get(i))
        .flat_map(|l| l.component_types.iter().copied())
        .collect();
    let synth = weld_synth::synthesize(
        libs,
        link,
        &SynthOptions {
            stack_size: options.stack_size,
            dl_openable: dl_openable.to_vec(),
        },
        &export_shims,
        &custom,
    )
    .map_err(LinkError::Synth)?;

    // 6. Encode the main module and append the rest.
    let mut encoder = wit_component::ComponentEncoder::default();
    let enc = |e: anyhow::Error| {
        let msg = format!("{e:#}");
        let notes = encoder_error_notes(libs, link, &msg);
        LinkError::Encode(format!("{msg}{notes}"))
    };
    encoder
        .module(&synth.main)
        .map_err(enc)?
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
        encoder
            .adapter(name, bytes)
            .map_err(|e| LinkError::Encode(format!("adapter `{name}` cannot be used: {e:#}")))?;
    }
    let c0 = encoder.encode().map_err(enc)?;
    let (component, checked) = append_libraries(c0, libs, &synth)?;
    Ok(Assembled {
        component,
        checked,
        synth,
    })
}

/// The component encoder speaks of weld's main module; these notes say which libraries the
/// names in its message come from.
fn encoder_error_notes(libs: &[Library<'_>], link: &Link<'_>, msg: &str) -> String {
    let mut notes = Vec::new();
    let tokens: Vec<&str> = msg.split('`').skip(1).step_by(2).collect();
    let kept = || link.instantiation_order.iter().filter_map(|&i| libs.get(i));
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
                        && !matches!(i.module, "env" | "GOT.mem" | "GOT.func")
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
    notes.iter().map(|n| format!("\nnote: {n}")).collect()
}

/// Counts of the component-level index spaces in the encoder's output.
#[derive(Default, Debug)]
struct Spaces {
    modules: u32,
    instances: u32,
    funcs: u32,
    globals: u32,
    memories: u32,
    tables: u32,
    tags: u32,
    main_instance: Option<u32>,
}

fn scan(c0: &[u8]) -> Result<Spaces, LinkError> {
    let bad = |e: wasmparser::BinaryReaderError| {
        LinkError::Encode(format!("cannot read the encoder's output: {e}"))
    };
    let types = Validator::new_with_features(WasmFeatures::all())
        .validate_all(c0)
        .map_err(|e| LinkError::Encode(format!("the encoder's output does not validate: {e}")))?;
    let t = types.as_ref();
    let mut s = Spaces {
        funcs: t.function_count(),
        globals: t.global_count(),
        memories: t.memory_count(),
        tables: t.table_count(),
        tags: t.tag_count(),
        ..Spaces::default()
    };
    let mut main_module = None;
    let mut depth = 0u32;
    for payload in Parser::new(0).parse_all(c0) {
        let payload = payload.map_err(bad)?;
        match payload {
            Payload::ModuleSection { .. } => {
                // Nested modules' export sections tell whether it is the main module (by the
                // marker export); only top-level modules count.
                if depth == 0 {
                    s.modules += 1;
                }
                depth += 1;
            }
            Payload::ComponentSection { .. } => depth += 1,
            Payload::ExportSection(reader) if depth == 1 && s.modules > 0 => {
                for e in reader {
                    if e.map_err(bad)?.name == MAIN_MARKER {
                        main_module = Some(s.modules - 1);
                    }
                }
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::InstanceSection(reader) if depth == 0 => {
                for inst in reader {
                    if let wasmparser::Instance::Instantiate { module_index, .. } =
                        inst.map_err(bad)?
                        && Some(module_index) == main_module
                        && s.main_instance.is_none()
                    {
                        s.main_instance = Some(s.instances);
                    }
                    s.instances += 1;
                }
            }
            _ => {}
        }
    }
    if s.main_instance.is_none() {
        return Err(LinkError::Encode(
            "the encoder's output has no instance of weld's main module".into(),
        ));
    }
    Ok(s)
}

fn append_libraries(
    c0: Vec<u8>,
    libs: &[Library<'_>],
    synth: &Synthesized,
) -> Result<(Vec<u8>, Vec<std::ops::Range<usize>>), LinkError> {
    let mut sp = scan(&c0)?;
    let main_instance = sp.main_instance.unwrap_or(0);

    // A component holds at most 1000 core modules and 4096 instances (wasmparser's limits, which
    // runtimes share): check before building something nobody can load.
    let stubs = usize::from(synth.stubs.is_some());
    let modules = sp.modules as usize + stubs + synth.instances.len() + 1;
    let own_args: usize = synth
        .instances
        .iter()
        .flat_map(|i| i.args.iter())
        .filter(|(_, arg)| matches!(arg, Arg::Items(_)))
        .count();
    let instances = sp.instances as usize
        + stubs
        + synth.shared_args.len()
        + synth.instances.len()
        + own_args
        + 1;
    if modules > MAX_MODULES || instances > MAX_INSTANCES {
        return Err(LinkError::Limit(format!(
            "the component would hold {modules} core modules (at most {MAX_MODULES}) and {instances} core instances (at most {MAX_INSTANCES}) for {} libraries; a component cannot hold more, so link fewer libraries (unused ones are pruned automatically)",
            synth.instances.len()
        )));
    }
    // `scan` validated the encoder's output in full.
    let mut checked = Vec::with_capacity(synth.instances.len() + 1);
    checked.push(0..c0.len());
    let mut out = c0;
    out.reserve(
        libs.iter().map(|l| l.bytes.len() + 16).sum::<usize>()
            + synth.init.len()
            + synth.stubs.as_ref().map_or(0, Vec::len)
            + 4096,
    );
    let append = |section: &dyn wasm_encoder::ComponentSection, out: &mut Vec<u8>| {
        section.append_to_component(out);
    };

    // Modules: stubs, libraries (instantiation order), init.
    let module_section = |data: &[u8], out: &mut Vec<u8>| {
        RawSection {
            id: ComponentSectionId::CoreModule as u8,
            data,
        }
        .append_to_component(out);
    };
    let stubs_module = synth.stubs.as_ref().map(|s| {
        module_section(s, &mut out);
        sp.modules += 1;
        sp.modules - 1
    });
    let mut lib_module = HashMap::new();
    for inst in &synth.instances {
        if let Some(lib) = libs.get(inst.library) {
            module_section(lib.bytes, &mut out);
            checked.push(out.len().saturating_sub(lib.bytes.len())..out.len());
            lib_module.insert(inst.library, sp.modules);
            sp.modules += 1;
        }
    }
    module_section(&synth.init, &mut out);
    let init_module = sp.modules;
    sp.modules += 1;

    let mut lib_instance: HashMap<usize, u32> = HashMap::new();
    let stubs_instance = stubs_module.map(|m| {
        let mut s = InstanceSection::new();
        s.instantiate(m, Vec::<(&str, ModuleArg)>::new());
        append(&s, &mut out);
        sp.instances += 1;
        sp.instances - 1
    });

    let mut alias_cache: HashMap<(u32, String), u32> = HashMap::new();
    // Arguments shared by several libraries (`GOT.mem`, `GOT.func`, WIT interfaces, …): one
    // core instance each, built before any library.
    let mut shared_instances = Vec::with_capacity(synth.shared_args.len());
    if !synth.shared_args.is_empty() {
        let mut aliases = ComponentAliasSection::new();
        let mut instances = InstanceSection::new();
        for items in &synth.shared_args {
            let i = argument_instance(
                items,
                &ArgContext {
                    main_instance,
                    stubs_instance,
                    lib_instance: &lib_instance,
                },
                &mut alias_cache,
                &mut aliases,
                &mut instances,
                &mut sp,
            )
            .map_err(|l| internal_order_error(libs, l))?;
            shared_instances.push(i);
        }
        if !aliases.is_empty() {
            append(&aliases, &mut out);
        }
        append(&instances, &mut out);
    }
    for inst in &synth.instances {
        let mut aliases = ComponentAliasSection::new();
        let mut instances = InstanceSection::new();
        let mut args: Vec<(&str, u32)> = Vec::with_capacity(inst.args.len());
        for (module, arg) in &inst.args {
            let index = match arg {
                Arg::Shared(i) => shared_instances.get(*i).copied().unwrap_or(0),
                Arg::Items(items) => argument_instance(
                    items,
                    &ArgContext {
                        main_instance,
                        stubs_instance,
                        lib_instance: &lib_instance,
                    },
                    &mut alias_cache,
                    &mut aliases,
                    &mut instances,
                    &mut sp,
                )
                .map_err(|l| internal_order_error(libs, l))?,
            };
            args.push((module.as_str(), index));
        }
        let module = lib_module.get(&inst.library).copied().unwrap_or(0);
        instances.instantiate(
            module,
            args.iter().map(|(n, i)| (*n, ModuleArg::Instance(*i))),
        );
        lib_instance.insert(inst.library, sp.instances);
        sp.instances += 1;
        if !aliases.is_empty() {
            append(&aliases, &mut out);
        }
        append(&instances, &mut out);
    }

    let mut init = InstanceSection::new();
    let init_args: Vec<(&str, ModuleArg)> = synth
        .init_args
        .iter()
        .map(|(name, arg)| {
            let i = match arg {
                InitArg::Main => main_instance,
                InitArg::Library(l) => lib_instance.get(l).copied().unwrap_or(0),
                InitArg::Stubs => stubs_instance.unwrap_or(0),
            };
            (name.as_str(), ModuleArg::Instance(i))
        })
        .collect();
    init.instantiate(init_module, init_args);
    append(&init, &mut out);
    Ok((out, checked))
}

/// Where the sources of instantiation arguments live.
struct ArgContext<'a> {
    main_instance: u32,
    stubs_instance: Option<u32>,
    lib_instance: &'a HashMap<usize, u32>,
}

fn internal_order_error(libs: &[Library<'_>], l: usize) -> LinkError {
    LinkError::Encode(format!(
        "internal ordering error: library `{}` is needed before it is instantiated",
        libs.get(l).map_or("?", |x| x.name)
    ))
}

/// Adds the aliases and the core instance (from exports) for one argument; returns the
/// instance's index, or the library whose instance is missing.
fn argument_instance(
    items: &[ArgItem],
    cx: &ArgContext<'_>,
    alias_cache: &mut HashMap<(u32, String), u32>,
    aliases: &mut ComponentAliasSection,
    instances: &mut InstanceSection,
    sp: &mut Spaces,
) -> Result<u32, usize> {
    let mut exports = Vec::with_capacity(items.len());
    for item in items {
        let (instance, name) = match &item.source {
            Source::Main(n) => (cx.main_instance, n),
            Source::Library(l, n) => (*cx.lib_instance.get(l).ok_or(*l)?, n),
            Source::Stubs(n) => (cx.stubs_instance.unwrap_or(0), n),
        };
        let (kind, counter) = match item.kind {
            ItemKind::Func => (ExportKind::Func, &mut sp.funcs),
            ItemKind::Global => (ExportKind::Global, &mut sp.globals),
            ItemKind::Memory => (ExportKind::Memory, &mut sp.memories),
            ItemKind::Table => (ExportKind::Table, &mut sp.tables),
            ItemKind::Tag => (ExportKind::Tag, &mut sp.tags),
        };
        let index = *alias_cache
            .entry((instance, name.clone()))
            .or_insert_with(|| {
                aliases.alias(Alias::CoreInstanceExport {
                    instance,
                    kind,
                    name,
                });
                *counter += 1;
                *counter - 1
            });
        exports.push((item.name.as_str(), kind, index));
    }
    instances.export_items(exports);
    sp.instances += 1;
    Ok(sp.instances - 1)
}

fn make_report(libs: &[Library<'_>], link: &Link<'_>, synth: &Synthesized) -> Report {
    let name = |i: usize| libs.get(i).map_or("?".to_string(), |l| l.name.to_string());
    let export_name = |l: usize, e: usize| {
        libs.get(l)
            .and_then(|lib| lib.exports.get(e))
            .map_or("?".to_string(), |e| e.name.to_string())
    };
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    for (i, lib) in libs.iter().enumerate() {
        // wasm-ld gives libraries with passive data a start function (`__wasm_init_memory`)
        // that copies it to `__memory_base`; worth knowing, not worth a warning.
        if lib.has_start_section && link.is_kept(i) {
            notes.push(format!(
                "start {}: has a start function, which runs when it is instantiated (before relocations and constructors)",
                lib.name
            ));
        }
        for w in &lib.warnings {
            warnings.push(match w.offset {
                Some(o) => format!("{}: at byte offset {o:#x}: {}", lib.name, w.message),
                None => format!("{}: {}", lib.name, w.message),
            });
        }
    }
    let duplicates: Vec<(String, String, Vec<String>)> = link
        .duplicates
        .iter()
        .map(|d| {
            (
                d.name.to_string(),
                name(d.winner),
                d.losers.iter().map(|&l| name(l)).collect(),
            )
        })
        .collect();
    for (sym, winner, losers) in &duplicates {
        warnings.push(format!(
            "symbol `{sym}` is defined by {winner} and also by {}; using the definition in {winner} (first in input order)",
            losers.join(", ")
        ));
    }
    Report {
        libraries: libs.iter().map(|l| l.name.to_string()).collect(),
        kept: link
            .kept
            .iter()
            .map(|k| {
                k.as_ref().map(|k| match k {
                    KeepReason::Root => {
                        "root (component exports, `_start`, or dl-openable)".to_string()
                    }
                    KeepReason::NeededBy(by) => format!("referenced by {}", name(*by)),
                })
            })
            .collect(),
        instantiation_order: link.instantiation_order.iter().map(|&i| name(i)).collect(),
        init_order: link.init_order.iter().map(|&i| name(i)).collect(),
        cycles: link
            .cycles
            .iter()
            .map(|c| c.iter().map(|&i| name(i)).collect())
            .collect(),
        import_shims: synth
            .import_shims
            .iter()
            .map(|s| (export_name(s.library, s.export), name(s.library), s.slot))
            .collect(),
        exports: synth
            .export_shims
            .iter()
            .map(|s| (s.export_name.clone(), name(s.library)))
            .collect(),
        duplicates,
        stubs: link.stubs.iter().map(|s| s.name.to_string()).collect(),
        layout: link
            .instantiation_order
            .iter()
            .map(|&i| {
                (
                    name(i),
                    synth.layout.memory_base.get(i).copied().unwrap_or(0),
                    synth.layout.table_base.get(i).copied().unwrap_or(0),
                )
            })
            .collect(),
        heap_base: synth.layout.heap_base,
        heap_end: synth.layout.heap_end,
        table_size: synth.layout.table_size,
        warnings,
        notes,
    }
}

//! Appending the libraries to the encoder's component: the stubs module, every kept library
//! module (verbatim) and the init module; then the core instances wiring them — the stubs
//! instance, the shared arguments, each library's own arguments and instance, the init
//! instance. Every index appended is derived from the encoder's output, which is read first
//! ([`scan`]).

use std::collections::HashMap;
use std::ops::Range;

use wasm_encoder::{
    Alias, ComponentAliasSection, ComponentSection, ComponentSectionId, ExportKind,
    InstanceSection, ModuleArg, RawSection,
};
use wasmparser::{Parser, Payload, Validator, WasmFeatures};
use weld_graph::{LibrarySet, PerLib};
use weld_synth::{
    Arg, ArgItem, InitArg, ItemKind, LibraryInstance, MAIN_MARKER, Source, Synthesized,
};

use crate::{EncodeError, LimitError, LinkError, MAX_INSTANCES, MAX_MODULES};

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
    main_instance: u32,
    /// The component's own exports.
    exports: u32,
}

/// Validates the encoder's output `c0` (always, whatever the `validate` option: weld relies on
/// it) and reads the sizes of its core index spaces, its core module count, and which core
/// instance is the main module's (the module exporting [`MAIN_MARKER`]).
fn scan(c0: &[u8]) -> Result<Spaces, LinkError> {
    let bad = |e: wasmparser::BinaryReaderError| {
        EncodeError::internal(format!("cannot read the encoder's output: {e}"))
    };
    let types = Validator::new_with_features(WasmFeatures::all())
        .validate_all(c0)
        .map_err(|e| {
            EncodeError::internal(format!("the encoder's output does not validate: {e}"))
        })?;
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
    let mut main_instance = None;
    let mut depth = 0u32;
    for payload in Parser::new(0).parse_all(c0) {
        match payload.map_err(bad)? {
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
            Payload::ComponentExportSection(reader) if depth == 0 => s.exports += reader.count(),
            Payload::InstanceSection(reader) if depth == 0 => {
                for inst in reader {
                    if let wasmparser::Instance::Instantiate { module_index, .. } =
                        inst.map_err(bad)?
                        && Some(module_index) == main_module
                        && main_instance.is_none()
                    {
                        main_instance = Some(s.instances);
                    }
                    s.instances += 1;
                }
            }
            _ => {}
        }
    }
    s.main_instance = main_instance.ok_or_else(|| {
        EncodeError::internal("the encoder's output has no instance of weld's main module")
    })?;
    Ok(s)
}

/// Most items of a core instance built from exports, and most arguments of a core
/// instantiation (wasmparser's limits, which runtimes share).
const MAX_INSTANCE_ITEMS: usize = 100_000;
/// Most items of one of a component's core index spaces.
const MAX_INDEX_SPACE_ITEMS: usize = 1_000_000;

/// The component format's limits, checked before building something nobody can load: at most
/// 1000 core modules and 4096 instances, and per instance and instantiation at most 100,000
/// items.
fn check_limits(s: &Spaces, set: &LibrarySet<'_>, synth: &Synthesized) -> Result<(), LinkError> {
    check_counts(s, synth)?;
    for inst in &synth.instances {
        let library = || Some(set.name(inst.library).to_string());
        if inst.args.len() > MAX_INSTANCE_ITEMS {
            return Err(LinkError::Limit(LimitError::Arguments {
                library: set.name(inst.library).to_string(),
                modules: inst.args.len(),
                max: MAX_INSTANCE_ITEMS,
            }));
        }
        for (module, arg) in &inst.args {
            if let Arg::Items(items) = arg {
                check_items(library(), module, items.len())?;
            }
        }
    }
    for (module, items) in shared_modules(synth) {
        check_items(None, module, items)?;
    }
    Ok(())
}

/// The shared arguments' module names and sizes.
fn shared_modules(synth: &Synthesized) -> impl Iterator<Item = (&str, usize)> {
    synth.instances.iter().flat_map(|inst| {
        inst.args.iter().filter_map(|(module, arg)| match arg {
            Arg::Shared(i) => Some((module.as_str(), synth.shared_args.get(*i)?.len())),
            Arg::Items(_) => None,
        })
    })
}

fn check_items(library: Option<String>, module: &str, items: usize) -> Result<(), LinkError> {
    if items > MAX_INSTANCE_ITEMS {
        return Err(LinkError::Limit(LimitError::ArgumentItems {
            library,
            module: module.to_string(),
            items,
            max: MAX_INSTANCE_ITEMS,
        }));
    }
    Ok(())
}

/// Core modules and instances in all.
fn check_counts(s: &Spaces, synth: &Synthesized) -> Result<(), LinkError> {
    let stubs = usize::from(synth.stubs.is_some());
    let libraries = synth.instances.len();
    let modules = s.modules as usize + stubs + libraries + 1;
    let own_args = synth
        .instances
        .iter()
        .flat_map(|i| i.args.iter())
        .filter(|(_, arg)| matches!(arg, Arg::Items(_)))
        .count();
    let instances =
        s.instances as usize + stubs + synth.shared_args.len() + libraries + own_args + 1;
    if modules > MAX_MODULES || instances > MAX_INSTANCES {
        return Err(LinkError::Limit(LimitError::Component {
            modules,
            max_modules: MAX_MODULES,
            instances,
            max_instances: MAX_INSTANCES,
            libraries,
        }));
    }
    Ok(())
}

/// The core index spaces after appending: each at most 1,000,000 items.
fn check_index_spaces(s: &Spaces) -> Result<(), LinkError> {
    for (kind, items) in [
        ("functions", s.funcs),
        ("globals", s.globals),
        ("memories", s.memories),
        ("tables", s.tables),
        ("tags", s.tags),
    ] {
        let items = items as usize;
        if items > MAX_INDEX_SPACE_ITEMS {
            return Err(LinkError::Limit(LimitError::IndexSpace {
                kind,
                items,
                max: MAX_INDEX_SPACE_ITEMS,
            }));
        }
    }
    Ok(())
}

/// The component and the byte ranges whose function bodies are validated already (the
/// encoder's output, which [`scan`] validated, and each library's module).
pub(crate) struct Appended {
    pub(crate) component: Vec<u8>,
    pub(crate) checked: Vec<Range<usize>>,
    /// How many exports the component has.
    pub(crate) component_exports: u32,
    /// Per kept library: its index in the component's core module index space, and its core
    /// instance's index.
    pub(crate) placement: PerLib<Option<(u32, u32)>>,
}

/// Appends the libraries of `synth` to the encoder's output `c0`.
pub(crate) fn libraries(
    c0: Vec<u8>,
    set: &LibrarySet<'_>,
    synth: &Synthesized,
) -> Result<Appended, LinkError> {
    let spaces = scan(&c0)?;
    let component_exports = spaces.exports;
    check_limits(&spaces, set, synth)?;
    let mut checked = Vec::with_capacity(synth.instances.len() + 1);
    checked.push(0..c0.len());
    let mut out = c0;
    out.reserve(
        synth
            .instances
            .iter()
            .map(|i| set[i.library].bytes.len() + 16)
            .sum::<usize>()
            + synth.init.len()
            + synth.stubs.as_ref().map_or(0, Vec::len)
            + 4096,
    );
    let mut a = Appender {
        out,
        s: spaces,
        aliases: HashMap::new(),
        library_instances: set.per_lib(|_, _| None),
        stubs_instance: None,
    };
    let modules = a.modules(set, synth, &mut checked);
    a.stubs_instance = modules.stubs.map(|m| a.instantiate_alone(m));
    let shared = a.shared_arguments(set, synth)?;
    for inst in &synth.instances {
        let module = modules.libraries[inst.library];
        debug_assert!(module.is_some(), "no module for {:?}", inst.library);
        let instance = a.library_instance(set, inst, module.unwrap_or(0), &shared)?;
        a.library_instances[inst.library] = Some(instance);
    }
    let init_args: Vec<(&str, u32)> = synth
        .init_args
        .iter()
        .map(|(name, arg)| {
            let i = match arg {
                InitArg::Main => Some(a.s.main_instance),
                InitArg::Library(l) => a.library_instances[*l],
                InitArg::Stubs => a.stubs_instance,
            };
            debug_assert!(i.is_some(), "init argument {arg:?} has no instance");
            (name.as_str(), i.unwrap_or(0))
        })
        .collect();
    a.instantiate(modules.init, &init_args, None);
    check_index_spaces(&a.s)?;
    let placement = modules
        .libraries
        .map(|id, m| m.zip(a.library_instances[id]));
    Ok(Appended {
        component: a.out,
        checked,
        component_exports,
        placement,
    })
}

/// Module indices of what [`Appender::modules`] appended.
struct Modules {
    stubs: Option<u32>,
    libraries: PerLib<Option<u32>>,
    init: u32,
}

/// The component being extended.
struct Appender {
    out: Vec<u8>,
    s: Spaces,
    /// Core alias indices of the exports aliased so far, by (instance, name).
    aliases: HashMap<(u32, String), u32>,
    library_instances: PerLib<Option<u32>>,
    stubs_instance: Option<u32>,
}

impl Appender {
    fn append(&mut self, section: &dyn ComponentSection) {
        section.append_to_component(&mut self.out);
    }

    /// Appends a core module section with `bytes` verbatim; returns its module index.
    fn module(&mut self, bytes: &[u8]) -> u32 {
        RawSection {
            id: ComponentSectionId::CoreModule as u8,
            data: bytes,
        }
        .append_to_component(&mut self.out);
        self.s.modules += 1;
        self.s.modules - 1
    }

    /// The stubs module, the library modules in instantiation order, the init module.
    fn modules(
        &mut self,
        set: &LibrarySet<'_>,
        synth: &Synthesized,
        checked: &mut Vec<Range<usize>>,
    ) -> Modules {
        let stubs = synth.stubs.as_ref().map(|s| self.module(s));
        let mut libraries = set.per_lib(|_, _| None);
        for inst in &synth.instances {
            let bytes = set[inst.library].bytes;
            libraries[inst.library] = Some(self.module(bytes));
            checked.push(self.out.len().saturating_sub(bytes.len())..self.out.len());
        }
        let init = self.module(&synth.init);
        Modules {
            stubs,
            libraries,
            init,
        }
    }

    /// Instantiates a module that imports nothing.
    fn instantiate_alone(&mut self, module: u32) -> u32 {
        self.instantiate(module, &[], None);
        self.s.instances - 1
    }

    /// Appends the instantiation of `module` with instance arguments `args`, after the alias
    /// and instance sections that build them (`prelude`).
    fn instantiate(
        &mut self,
        module: u32,
        args: &[(&str, u32)],
        prelude: Option<(ComponentAliasSection, InstanceSection)>,
    ) {
        let (aliases, mut instances) = prelude.unwrap_or_default();
        instances.instantiate(
            module,
            args.iter().map(|&(n, i)| (n, ModuleArg::Instance(i))),
        );
        self.s.instances += 1;
        if !aliases.is_empty() {
            self.append(&aliases);
        }
        self.append(&instances);
    }

    /// Arguments shared by several libraries (`GOT.mem`, `GOT.func`, WIT interfaces, …): one
    /// core instance each, built before any library.
    fn shared_arguments(
        &mut self,
        set: &LibrarySet<'_>,
        synth: &Synthesized,
    ) -> Result<Vec<u32>, LinkError> {
        let mut shared = Vec::with_capacity(synth.shared_args.len());
        if synth.shared_args.is_empty() {
            return Ok(shared);
        }
        let mut aliases = ComponentAliasSection::new();
        let mut instances = InstanceSection::new();
        for items in &synth.shared_args {
            shared.push(self.argument_instance(set, items, &mut aliases, &mut instances)?);
        }
        if !aliases.is_empty() {
            self.append(&aliases);
        }
        self.append(&instances);
        Ok(shared)
    }

    /// Instantiates one library: each of its import modules gets a shared argument or an
    /// instance built from its items, whose alias and instance sections come first. Returns
    /// the library's instance.
    fn library_instance(
        &mut self,
        set: &LibrarySet<'_>,
        inst: &LibraryInstance,
        module: u32,
        shared: &[u32],
    ) -> Result<u32, LinkError> {
        let mut aliases = ComponentAliasSection::new();
        let mut instances = InstanceSection::new();
        let mut args = Vec::with_capacity(inst.args.len());
        for (name, arg) in &inst.args {
            let index = match arg {
                Arg::Shared(i) => {
                    let index = shared.get(*i).copied();
                    debug_assert!(index.is_some(), "no shared argument {i}");
                    index.unwrap_or(0)
                }
                Arg::Items(items) => {
                    self.argument_instance(set, items, &mut aliases, &mut instances)?
                }
            };
            args.push((name.as_str(), index));
        }
        self.instantiate(module, &args, Some((aliases, instances)));
        Ok(self.s.instances - 1)
    }

    /// Adds the aliases and the core instance (from exports) for one argument; returns the
    /// instance's index.
    fn argument_instance(
        &mut self,
        set: &LibrarySet<'_>,
        items: &[ArgItem],
        aliases: &mut ComponentAliasSection,
        instances: &mut InstanceSection,
    ) -> Result<u32, LinkError> {
        let mut exports = Vec::with_capacity(items.len());
        for item in items {
            let (instance, name) = match &item.source {
                Source::Main(n) => (self.s.main_instance, n),
                Source::Library(l, n) => {
                    let Some(i) = self.library_instances[*l] else {
                        return Err(EncodeError::internal(format!(
                            "internal ordering error: library `{}` is needed before it is instantiated",
                            set.name(*l)
                        )));
                    };
                    (i, n)
                }
                Source::Stubs(n) => {
                    debug_assert!(self.stubs_instance.is_some(), "a stub without stubs module");
                    (self.stubs_instance.unwrap_or(0), n)
                }
            };
            let s = &mut self.s;
            let (kind, counter) = match item.kind {
                ItemKind::Func => (ExportKind::Func, &mut s.funcs),
                ItemKind::Global => (ExportKind::Global, &mut s.globals),
                ItemKind::Memory => (ExportKind::Memory, &mut s.memories),
                ItemKind::Table => (ExportKind::Table, &mut s.tables),
                ItemKind::Tag => (ExportKind::Tag, &mut s.tags),
            };
            let index = *self
                .aliases
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
        self.s.instances += 1;
        Ok(self.s.instances - 1)
    }
}

//! Planning: for every kept library, in instantiation order, where each of its imports comes
//! from — and, on the way, everything the main and init modules must provide for that: the
//! main module's globals (bases, `GOT` entries, linker values), the functions it imports on the
//! libraries' behalf, its `call_indirect` shims and TLS accessors, and the `GOT.mem` entries the
//! init module fixes up at run time. Nothing is encoded here.

use indexmap::IndexMap;
use weld_graph::{Binding, ExportRef, LibId, LibrarySet, Link, LinkerItem, StubId};
use weld_module::abi::{self, LinkerData, LinkerFunction, LinkerGlobal};
use weld_module::{EntityType, FuncSig, Import, Library, ValType};

use crate::args::{self, Arg, ArgItem, ItemKind, LibraryInstance, Source};
use crate::layout::Layout;
use crate::{MAIN_MARKER, SynthProblem, names, wrap_i32};

/// Everything planning decided.
pub(crate) struct Plan<'a> {
    /// Library instances in instantiation order.
    pub(crate) instances: Vec<LibraryInstance>,
    /// Arguments shared by several libraries.
    pub(crate) shared_args: Vec<Vec<ArgItem>>,
    /// The main module's globals, in definition order.
    pub(crate) globals: MainGlobals,
    /// Functions the main module imports and re-exports (`weld:import:N`): `(module, name)` ->
    /// (export name, type), in import order.
    pub(crate) passthrough: IndexMap<(&'a str, &'a str), (String, FuncSig)>,
    /// Calls to libraries instantiated later: target -> the shim's export name.
    pub(crate) import_shims: IndexMap<ExportRef, String>,
    /// TLS accessors the main module defines, per library.
    pub(crate) tls_accessors: Vec<(LibId, LinkerFunction)>,
    /// The main module's function index of `[context-get-1]`, when imported.
    pub(crate) context_get_1: Option<u32>,
    /// `GOT.mem` entries computed at run time by the init module.
    pub(crate) fixups: Vec<GotFixup<'a>>,
}

/// A `GOT.mem` entry whose offset is only known at run time: the init module sets the main
/// module's global `got` to the global `base` plus the exporter's global `symbol`.
pub(crate) struct GotFixup<'a> {
    pub(crate) got: String,
    pub(crate) base: String,
    pub(crate) exporter: LibId,
    pub(crate) symbol: &'a str,
}

/// The main module's `i32` globals, each defined once per export name.
#[derive(Default)]
pub(crate) struct MainGlobals {
    /// Export name -> (mutable, initial value), in definition order.
    globals: IndexMap<String, (bool, i32)>,
}

impl MainGlobals {
    /// Defines (once) an `i32` global exported as `name` (with `:const` appended when
    /// immutable); returns the export name. The first definition's value is kept.
    pub(crate) fn get(&mut self, name: &str, mutable: bool, value: i32) -> String {
        let export = if mutable {
            name.to_string()
        } else {
            format!("{name}:const")
        };
        self.globals
            .entry(export.clone())
            .or_insert((mutable, value));
        export
    }

    /// `(export name, mutable, value)` in definition order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, bool, i32)> {
        self.globals.iter().map(|(n, &(m, v))| (n.as_str(), m, v))
    }
}

/// Plans the instantiation of every kept library of `link`. `stub_names` are the stubs
/// module's export names, by stub index.
pub(crate) fn plan<'a>(
    set: &LibrarySet<'a>,
    link: &Link<'a>,
    layout: &Layout,
    stub_names: &[String],
    problems: &mut Vec<SynthProblem>,
) -> Plan<'a> {
    let mut planner = Planner {
        set,
        layout,
        stub_names,
        problems,
        globals: MainGlobals::default(),
        passthrough: IndexMap::new(),
        import_shims: IndexMap::new(),
        tls_accessors: Vec::new(),
        fixups: Vec::new(),
    };
    planner
        .globals
        .get(abi::STACK_POINTER, true, wrap_i32(layout.stack_size));
    // The marker lets the component layer find this module inside the encoded component.
    planner.globals.get(MAIN_MARKER, true, 0);
    let mut instances: Vec<LibraryInstance> = link
        .instantiation_order
        .iter()
        .map(|&l| planner.instance(l, &set[l], &link.bindings[l]))
        .collect();
    let shared_args = args::share(&mut instances);
    let context_get_1 = planner.context_get_1();
    // Globals every library may want, exported under their ABI names as well.
    for (data, value) in [
        (LinkerData::StackLow, 0),
        (LinkerData::StackHigh, layout.stack_size),
        (LinkerData::HeapBase, layout.heap_base),
        (LinkerData::HeapEnd, layout.heap_end),
    ] {
        planner.globals.get(data.name(), true, wrap_i32(value));
    }
    Plan {
        instances,
        shared_args,
        globals: planner.globals,
        passthrough: planner.passthrough,
        import_shims: planner.import_shims,
        tls_accessors: planner.tls_accessors,
        context_get_1,
        fixups: planner.fixups,
    }
}

struct Planner<'p, 'a> {
    set: &'p LibrarySet<'a>,
    layout: &'p Layout,
    stub_names: &'p [String],
    problems: &'p mut Vec<SynthProblem>,
    globals: MainGlobals,
    passthrough: IndexMap<(&'a str, &'a str), (String, FuncSig)>,
    import_shims: IndexMap<ExportRef, String>,
    tls_accessors: Vec<(LibId, LinkerFunction)>,
    fixups: Vec<GotFixup<'a>>,
}

impl<'a> Planner<'_, 'a> {
    /// The arguments of library `l`: for each import module, in first-import order, the items.
    fn instance(&mut self, l: LibId, lib: &Library<'a>, bindings: &[Binding]) -> LibraryInstance {
        let mut args: IndexMap<String, Vec<ArgItem>> = IndexMap::new();
        for (import, binding) in lib.imports.iter().zip(bindings) {
            // An import that cannot be provided is a problem; it gets no item.
            let Some(source) = self.source(l, lib, import, binding) else {
                continue;
            };
            args.entry(import.module.to_string())
                .or_default()
                .push(ArgItem {
                    name: import.name.to_string(),
                    kind: ItemKind::of(&import.ty),
                    source,
                });
        }
        LibraryInstance {
            library: l,
            args: args.into_iter().map(|(m, v)| (m, Arg::Items(v))).collect(),
        }
    }

    /// Where the item for `import` (bound to `binding`) comes from.
    fn source(
        &mut self,
        l: LibId,
        lib: &Library<'a>,
        import: &Import<'a>,
        binding: &Binding,
    ) -> Option<Source> {
        let mutable = matches!(&import.ty, EntityType::Global(g) if g.mutable);
        let set = self.set;
        Some(match *binding {
            Binding::Linker(item) => self.linker(l, item, mutable),
            Binding::Function { target, shim } => {
                if shim {
                    let name = self
                        .import_shims
                        .entry(target)
                        .or_insert_with(|| names::shim(target));
                    Source::Main(name.clone())
                } else {
                    Source::Library(target.library(), set.export(target).name.to_string())
                }
            }
            Binding::Tag(target) => {
                Source::Library(target.library(), set.export(target).name.to_string())
            }
            Binding::Stub(s) => Source::Stubs(self.stub_name(s)),
            Binding::Null => Source::Main(self.globals.get(names::NULL, mutable, 0)),
            Binding::Data(target) => return self.data(lib, import, target, mutable),
            Binding::StubAddress(s) => {
                let slot = self.layout.stub_slots.get(&s).copied();
                debug_assert!(
                    slot.is_some(),
                    "stub {s:?} whose address is taken has no slot"
                );
                self.function_address(slot.unwrap_or(0), mutable)
            }
            Binding::FunctionAddress(target) => {
                let slot = self.layout.slot(target);
                debug_assert!(
                    slot.is_some(),
                    "{target:?} whose address is taken has no slot"
                );
                self.function_address(slot.unwrap_or(0), mutable)
            }
            Binding::Component => return self.component(lib, import),
        })
    }

    /// What the linker provides: the shared memory, table and stack pointer, the library's own
    /// bases and TLS accessors, and the linker's values.
    fn linker(&mut self, l: LibId, item: LinkerItem, mutable: bool) -> Source {
        let layout = self.layout;
        let value = |v: u32| wrap_i32(v);
        match item {
            LinkerItem::Memory => Source::Main(abi::MEMORY.into()),
            LinkerItem::Table => Source::Main(abi::TABLE.into()),
            LinkerItem::StackPointer => Source::Main(abi::STACK_POINTER.into()),
            LinkerItem::MemoryBase => Source::Main(self.globals.get(
                &names::memory_base(l),
                mutable,
                value(layout.memory_base[l]),
            )),
            LinkerItem::TableBase => Source::Main(self.globals.get(
                &names::table_base(l),
                mutable,
                value(layout.table_base[l]),
            )),
            LinkerItem::Function(f) => {
                if !self.tls_accessors.contains(&(l, f)) {
                    self.tls_accessors.push((l, f));
                }
                Source::Main(names::tls_accessor(l, f))
            }
            LinkerItem::Data(d) => {
                let v = match d {
                    LinkerData::HeapBase => layout.heap_base,
                    LinkerData::HeapEnd => layout.heap_end,
                    LinkerData::StackLow => 0,
                    LinkerData::StackHigh => layout.stack_size,
                    LinkerData::LibdlLibraries => layout.dlopen_root,
                    LinkerData::ProgramTlsInfo => layout.tls.as_ref().map_or(0, |t| t.program_info),
                };
                self.linker_global(d.name(), mutable, v)
            }
            LinkerItem::Global(g) => {
                let v = match g {
                    LinkerGlobal::InitStackPointer => layout.stack_size,
                    LinkerGlobal::AsyncifyState | LinkerGlobal::AsyncifyData => 0,
                };
                self.linker_global(g.name(), mutable, v)
            }
        }
    }

    fn linker_global(&mut self, name: &str, mutable: bool, value: u32) -> Source {
        Source::Main(
            self.globals
                .get(&names::linker(name), mutable, wrap_i32(value)),
        )
    }

    fn stub_name(&self, s: StubId) -> String {
        let name = self.stub_names.get(s.index());
        debug_assert!(name.is_some(), "stub {s:?} has no name in the stubs module");
        name.cloned().unwrap_or_default()
    }

    /// A `GOT.func` entry: the slot number, constant.
    fn function_address(&mut self, slot: u32, mutable: bool) -> Source {
        Source::Main(
            self.globals
                .get(&names::got_func(slot), mutable, wrap_i32(slot)),
        )
    }

    /// A `GOT.mem` entry: the exporter's base plus the symbol's offset, constant when the
    /// offset is; else (for a mutable import) fixed up by the init module.
    fn data(
        &mut self,
        lib: &Library<'a>,
        import: &Import<'a>,
        target: ExportRef,
        mutable: bool,
    ) -> Option<Source> {
        let exporter = target.library();
        let export = self.set.export(target);
        let name = names::got_mem(target);
        let base = self.layout.memory_base[exporter];
        match export.const_i32 {
            Some(off) => Some(Source::Main(self.globals.get(
                &name,
                mutable,
                wrap_i32(base.wrapping_add(off as u32)),
            ))),
            None if mutable => {
                let existed = self.globals.globals.contains_key(&name);
                let got = self.globals.get(&name, true, 0);
                if !existed {
                    let base =
                        self.globals
                            .get(&names::memory_base(exporter), false, wrap_i32(base));
                    self.fixups.push(GotFixup {
                        got: got.clone(),
                        base,
                        exporter,
                        symbol: export.name,
                    });
                }
                Some(Source::Main(got))
            }
            None => {
                self.problems.push(SynthProblem::GotMemNotConstant {
                    library: lib.name.to_string(),
                    symbol: import.name.to_string(),
                    exporter: self.set.name(exporter).to_string(),
                });
                None
            }
        }
    }

    /// A function from outside the dynamic-linking ABI: imported by the main module once, and
    /// passed on to every library that imports it.
    fn component(&mut self, lib: &Library<'a>, import: &Import<'a>) -> Option<Source> {
        let EntityType::Func(sig) = &import.ty else {
            self.problems
                .push(SynthProblem::ComponentImportNotFunction {
                    library: lib.name.to_string(),
                    module: import.module.to_string(),
                    name: import.name.to_string(),
                    kind: import.ty.kind_name(),
                });
            return None;
        };
        let key = (import.module, import.name);
        match self.passthrough.get(&key) {
            Some((name, existing)) => {
                if existing != sig {
                    self.problems.push(SynthProblem::ComponentImportTypes {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                        first: existing.clone(),
                        second: sig.clone(),
                        library: lib.name.to_string(),
                    });
                }
                Some(Source::Main(name.clone()))
            }
            None => {
                let name = names::import(self.passthrough.len());
                self.passthrough.insert(key, (name.clone(), sig.clone()));
                Some(Source::Main(name))
            }
        }
    }

    /// TLS accessors read `context.get 1` when threads may exist: it is imported (if no library
    /// imports it already). Returns its function index in the main module.
    fn context_get_1(&mut self) -> Option<u32> {
        let threads =
            self.layout.tls.as_ref().is_some_and(|t| t.threads) && !self.tls_accessors.is_empty();
        let key = (abi::ROOT, abi::CONTEXT_GET_1);
        if threads && !self.passthrough.contains_key(&key) {
            let n = self.passthrough.len();
            self.passthrough
                .insert(key, (names::import(n), FuncSig::new([], [ValType::I32])));
        }
        self.passthrough
            .get_index_of(&key)
            .and_then(|i| u32::try_from(i).ok())
    }
}

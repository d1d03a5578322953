//! Binding: what every import of every library (pruned or not) binds to, following the rules of
//! [`crate::symbols`]; the references between libraries that the binding makes (the dependency
//! graph's edges); the stubs it needs.

use std::collections::HashMap;

use weld_module::abi::{self, Intrinsic, LinkerData, LinkerFunction, LinkerGlobal};
use weld_module::{EntityType, Export, FuncSig, Import, ImportClass, Library, ValType};

use crate::problems::{CANDIDATES_KEPT, Candidate, Expected, Requirement, Unsupported};
use crate::{
    Binding, ExportRef, LibId, LibrarySet, LinkWarning, LinkerItem, Options, PerLib, Problem, Stub,
    StubId, SymbolTable,
};

/// Edge weight of a tag import in the ordering of a dependency cycle (a function import weighs
/// 1): tags cannot be reached through a shim, so their exporter must come first.
const TAG_WEIGHT: u32 = 1 << 20;

/// What binding produced.
pub(crate) struct Bound<'a> {
    /// What each import of each library binds to (shims not decided yet).
    pub(crate) bindings: PerLib<Vec<Binding>>,
    /// Stubs for unresolved functions.
    pub(crate) stubs: Vec<Stub<'a>>,
    /// Imports nothing fits, per importer: they matter only if the importer is kept.
    pub(crate) unresolved: Vec<(LibId, Problem)>,
    /// Warnings, per importer: they matter only if the importer is kept.
    pub(crate) warnings: Vec<(LibId, LinkWarning)>,
    /// Per importer: the libraries it refers to, each with the number of direct `env` function
    /// and tag imports from it (`GOT` references weigh 0).
    pub(crate) references: PerLib<HashMap<LibId, u32>>,
}

/// Binds every import of every library. Problems that do not depend on pruning (unsupported
/// imports, ABI types) go to `problems`.
pub(crate) fn bind<'a>(
    set: &LibrarySet<'a>,
    table: &SymbolTable<'a>,
    options: &Options,
    problems: &mut Vec<Problem>,
) -> Bound<'a> {
    let mut binder = Binder {
        set,
        table,
        options,
        env_import_sigs: env_import_sigs(set),
        stub_index: HashMap::new(),
        stubs: Vec::new(),
        problems,
        unresolved: Vec::new(),
        warnings: Vec::new(),
        references: set.per_lib(|_, _| HashMap::new()),
    };
    let bindings = set.per_lib(|id, lib| {
        lib.imports
            .iter()
            .map(|import| binder.import(id, lib, import))
            .collect()
    });
    Bound {
        bindings,
        stubs: binder.stubs,
        unresolved: binder.unresolved,
        warnings: binder.warnings,
        references: binder.references,
    }
}

/// The signature each `env` function name is imported with first (for stubs of functions only
/// referenced through `GOT.func`).
fn env_import_sigs<'s, 'a>(set: &'s LibrarySet<'a>) -> HashMap<&'a str, &'s FuncSig> {
    let mut sigs = HashMap::new();
    for (_, lib) in set.iter() {
        for import in &lib.imports {
            if let ImportClass::Function(sig) = &import.class {
                sigs.entry(import.name).or_insert(sig);
            }
        }
    }
    sigs
}

struct Binder<'s, 'a> {
    set: &'s LibrarySet<'a>,
    table: &'s SymbolTable<'a>,
    options: &'s Options,
    env_import_sigs: HashMap<&'a str, &'s FuncSig>,
    stub_index: HashMap<(&'a str, FuncSig), StubId>,
    stubs: Vec<Stub<'a>>,
    problems: &'s mut Vec<Problem>,
    unresolved: Vec<(LibId, Problem)>,
    warnings: Vec<(LibId, LinkWarning)>,
    references: PerLib<HashMap<LibId, u32>>,
}

impl<'s, 'a> Binder<'s, 'a> {
    /// One import, by its class.
    fn import(&mut self, id: LibId, lib: &Library<'a>, import: &Import<'a>) -> Binding {
        match &import.class {
            ImportClass::Memory => self.memory(lib, import),
            ImportClass::Table => self.table(lib, import),
            ImportClass::StackPointer => Binding::Linker(LinkerItem::StackPointer),
            ImportClass::MemoryBase => Binding::Linker(LinkerItem::MemoryBase),
            ImportClass::TableBase => Binding::Linker(LinkerItem::TableBase),
            ImportClass::EnvGlobal => self.env_global(id, lib, import),
            ImportClass::Function(sig) => self.function(id, lib, import, sig),
            ImportClass::EnvTag(sig) => self.tag(id, lib, import, sig),
            ImportClass::GotMem => self.got_mem(id, lib, import),
            ImportClass::GotFunc => self.got_func(id, lib, import),
            ImportClass::Other if abi::RESERVED_MODULES.contains(&import.module) => {
                self.unresolved.push((
                    id,
                    Problem::ReservedModule {
                        library: lib.name.to_string(),
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                    },
                ));
                Binding::Null
            }
            ImportClass::Other => Binding::Component,
        }
    }

    fn memory(&mut self, lib: &Library<'a>, import: &Import<'a>) -> Binding {
        if let EntityType::Memory(m) = &import.ty {
            if m.memory64 {
                self.unsupported(lib, Unsupported::Memory64);
            }
            if m.shared {
                self.unsupported(lib, Unsupported::SharedMemory);
            }
            if let Some(log2) = m.page_size_log2.filter(|&p| p != 16) {
                self.unsupported(lib, Unsupported::CustomPageSize(log2));
            }
        }
        Binding::Linker(LinkerItem::Memory)
    }

    fn table(&mut self, lib: &Library<'a>, import: &Import<'a>) -> Binding {
        if let EntityType::Table(t) = &import.ty
            && t.table64
        {
            self.unsupported(lib, Unsupported::Table64);
        }
        Binding::Linker(LinkerItem::Table)
    }

    /// `__init_stack_pointer` and the asyncify state are the linker's; `__tls_base` is not
    /// supported; any other `env` global is unresolved.
    fn env_global(&mut self, id: LibId, lib: &Library<'a>, import: &Import<'a>) -> Binding {
        if let Some(global) = LinkerGlobal::from_name(import.name) {
            let fits = matches!(&import.ty, EntityType::Global(g)
                if g.content_type == ValType::I32 && (g.mutable || !global.must_be_mutable()));
            if !fits {
                let required = if global.must_be_mutable() {
                    Requirement::MutableI32Global
                } else {
                    Requirement::I32Global
                };
                self.bad_abi_import(lib, import, required);
            }
            Binding::Linker(LinkerItem::Global(global))
        } else if import.name == abi::TLS_BASE {
            self.unsupported(lib, Unsupported::ClassicTls);
            Binding::Null
        } else {
            self.unresolved(id, lib, import, Expected::Entity(import.ty.clone()))
        }
    }

    /// An `env` function: another library's function of the same signature, else the linker's
    /// or the component model's intrinsic of that name, else a stub if allowed.
    fn function(
        &mut self,
        id: LibId,
        lib: &Library<'a>,
        import: &Import<'a>,
        sig: &FuncSig,
    ) -> Binding {
        let linker_function = LinkerFunction::from_name(import.name);
        let intrinsic = Intrinsic::from_name(import.name);
        let required = linker_function
            .map(LinkerFunction::signature)
            .or_else(|| intrinsic.map(Intrinsic::signature));
        if let Some(required) = required
            && required != *sig
        {
            self.bad_abi_import(lib, import, Requirement::Function(required));
        }
        let fits = |e: &Export<'_>| matches!(&e.ty, EntityType::Func(s) if s == sig);
        match self.table.pick(self.set, import.name, fits) {
            Some(target) => {
                self.refer(id, target, 1);
                Binding::Function {
                    target,
                    shim: false,
                }
            }
            None => match (linker_function, intrinsic) {
                (Some(f), _) => Binding::Linker(LinkerItem::Function(f)),
                // Provided by the component model (the main module imports it).
                (None, Some(_)) => Binding::Component,
                (None, None)
                    if (import.weak || self.options.stub_missing_functions)
                        && self.undefined(import.name) =>
                {
                    Binding::Stub(self.stub(import.name, sig))
                }
                // Defined only with other types: a stub too, with a warning (wasm-ld's static
                // link does the same).
                (None, None)
                    if self.options.stub_missing_functions && self.only_functions(import.name) =>
                {
                    let definitions = self.candidates(import.name).0;
                    self.warnings.push((
                        id,
                        LinkWarning::StubbedTypeMismatch {
                            library: lib.name.to_string(),
                            name: import.name.to_string(),
                            imported: sig.clone(),
                            definitions,
                        },
                    ));
                    Binding::Stub(self.stub(import.name, sig))
                }
                (None, None) => {
                    self.unresolved(id, lib, import, Expected::Entity(import.ty.clone()))
                }
            },
        }
    }

    fn tag(&mut self, id: LibId, lib: &Library<'a>, import: &Import<'a>, sig: &FuncSig) -> Binding {
        let fits = |e: &Export<'_>| matches!(&e.ty, EntityType::Tag(s) if s == sig);
        match self.table.pick(self.set, import.name, fits) {
            Some(target) => {
                // A tag cannot go through a shim: weigh it so heavily that a cycle is ordered to
                // satisfy it whenever that is possible.
                self.refer(id, target, TAG_WEIGHT);
                Binding::Tag(target)
            }
            None => self.unresolved(id, lib, import, Expected::Entity(import.ty.clone())),
        }
    }

    /// `GOT.mem`: a linker-provided address, else a data symbol (an immutable `i32` global
    /// holding an offset from the exporter's `__memory_base`), else 0 when weak.
    fn got_mem(&mut self, id: LibId, lib: &Library<'a>, import: &Import<'a>) -> Binding {
        if let Some(data) = LinkerData::from_name(import.name) {
            return Binding::Linker(LinkerItem::Data(data));
        }
        match self.table.pick(self.set, import.name, Export::is_data) {
            Some(target) => {
                self.refer(id, target, 0);
                Binding::Data(target)
            }
            None if import.weak && self.undefined(import.name) => Binding::Null,
            None => self.unresolved(id, lib, import, Expected::DataAddress),
        }
    }

    /// `GOT.func`: a function's table slot, else 0 when weak, else a stub's slot if allowed.
    fn got_func(&mut self, id: LibId, lib: &Library<'a>, import: &Import<'a>) -> Binding {
        let fits = |e: &Export<'_>| matches!(e.ty, EntityType::Func(_));
        match self.table.pick(self.set, import.name, fits) {
            Some(target) => {
                self.refer(id, target, 0);
                Binding::FunctionAddress(target)
            }
            None if import.weak && self.undefined(import.name) => Binding::Null,
            None if self.options.stub_missing_functions && self.undefined(import.name) => {
                // Its type is the one some library imports it with, if any; calling it traps
                // either way.
                let sig = self
                    .env_import_sigs
                    .get(import.name)
                    .map_or_else(FuncSig::default, |s| (*s).clone());
                Binding::StubAddress(self.stub(import.name, &sig))
            }
            None => self.unresolved(id, lib, import, Expected::FunctionAddress),
        }
    }

    /// Whether every definition of `name` is a function.
    fn only_functions(&self, name: &str) -> bool {
        let defs = self.table.definitions(name);
        defs.iter()
            .all(|&r| matches!(self.set.export(r).ty, EntityType::Func(_)))
    }

    /// Whether no library defines `name` at all.
    fn undefined(&self, name: &str) -> bool {
        self.table.definitions(name).is_empty()
    }

    /// Records that library `from` refers to `target` with `weight`.
    fn refer(&mut self, from: LibId, target: ExportRef, weight: u32) {
        let w = self.references[from].entry(target.library()).or_default();
        *w = w.saturating_add(weight);
    }

    /// The stub for `name` with signature `sig`, created on first use (one per name and
    /// signature).
    fn stub(&mut self, name: &'a str, sig: &FuncSig) -> StubId {
        let stubs = &mut self.stubs;
        *self
            .stub_index
            .entry((name, sig.clone()))
            .or_insert_with(|| {
                stubs.push(Stub {
                    name,
                    sig: sig.clone(),
                });
                StubId(u32::try_from(stubs.len() - 1).unwrap_or(u32::MAX))
            })
    }

    /// The first definitions of `name` (at most [`CANDIDATES_KEPT`]) and how many more there
    /// are.
    fn candidates(&self, name: &str) -> (Vec<Candidate>, usize) {
        let all = self.table.definitions(name);
        let kept = all
            .iter()
            .take(CANDIDATES_KEPT)
            .map(|&r| Candidate {
                library: self.set.name(r.library()).to_string(),
                ty: self.set.export(r).ty.clone(),
            })
            .collect();
        (kept, all.len().saturating_sub(CANDIDATES_KEPT))
    }

    /// An import nothing fits: reported if the importer is kept. Binds to [`Binding::Null`].
    fn unresolved(
        &mut self,
        id: LibId,
        lib: &Library<'a>,
        import: &Import<'a>,
        expected: Expected,
    ) -> Binding {
        let (library, module, name) = (
            lib.name.to_string(),
            import.module.to_string(),
            import.name.to_string(),
        );
        let data_exporter = (import.class == ImportClass::EnvGlobal)
            .then(|| {
                let r = *self
                    .table
                    .definitions(import.name)
                    .iter()
                    .find(|&&r| self.set.export(r).is_data())?;
                Some(self.set.name(r.library()).to_string())
            })
            .flatten();
        let (candidates, more_candidates) = self.candidates(import.name);
        let problem = if let Some(exporter) = data_exporter {
            Problem::DataThroughEnv {
                library,
                name,
                exporter,
            }
        } else if candidates.is_empty() {
            Problem::Unresolved {
                library,
                module,
                name,
                expected,
            }
        } else {
            Problem::TypeMismatch {
                library,
                module,
                name,
                expected,
                candidates,
                more_candidates,
            }
        };
        self.unresolved.push((id, problem));
        Binding::Null
    }

    fn unsupported(&mut self, lib: &Library<'a>, feature: Unsupported) {
        self.problems.push(Problem::Unsupported {
            library: lib.name.to_string(),
            feature,
        });
    }

    fn bad_abi_import(&mut self, lib: &Library<'a>, import: &Import<'a>, required: Requirement) {
        self.problems.push(Problem::BadAbiSignature {
            library: lib.name.to_string(),
            name: format!("{}.{}", import.module, import.name),
            import: true,
            found: import.ty.clone(),
            required,
        });
    }
}

//! Symbol resolution and dependency ordering for the weld linker.
//!
//! [`resolve`] takes parsed dynamic libraries (see [`weld_module`]) in input order and decides:
//!
//! * what every import binds to ([`Binding`]): another library's export, a trapping stub, a null
//!   address, something the linker provides, or something the component layer provides;
//! * which libraries are kept (reachable from the roots through NEEDED and every resolved
//!   reference) and which are pruned, and why;
//! * the instantiation order — dependencies first, strongly connected components ordered so that
//!   as few imports as possible have to go through a `call_indirect` shim — and which imports do;
//! * the initialization order: NEEDED dependencies before their dependants (ELF `DT_INIT` order),
//!   ties and NEEDED cycles broken by input order.
//!
//! Resolution rules: a strong definition beats a weak one whatever the order; between two strong
//! definitions the first in input order wins and the other is recorded in
//! [`Link::duplicates`]; an import whose only candidates have another type is an error naming
//! every type; weak unresolved functions bind to a trapping stub and weak unresolved `GOT.mem` /
//! `GOT.func` entries to 0. All problems are reported together in one [`LinkError`].
//!
//! ```
//! use weld_graph::{resolve, Binding, Options};
//! use weld_module::Library;
//!
//! let base = wat::parse_str(r#"(module (@dylink.0)
//!     (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#).unwrap();
//! let app = wat::parse_str(r#"(module (@dylink.0 (needed "libbase.so"))
//!     (import "env" "add" (func (param i32 i32) (result i32)))
//!     (func (export "run") (result i32) i32.const 1 i32.const 2 call 0))"#).unwrap();
//! let libs = [Library::parse("libapp.so", &app).unwrap(), Library::parse("libbase.so", &base).unwrap()];
//! let link = resolve(&libs, &[true, false], &Options::default()).unwrap();
//! assert_eq!(link.instantiation_order, [1, 0]); // base first
//! assert_eq!(link.init_order, [1, 0]);
//! assert!(matches!(link.bindings[0][0], Binding::Function { library: 1, shim: false, .. }));
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

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::fmt;

use petgraph::graph::{DiGraph, NodeIndex};
use weld_module::{EntityType, FuncSig, ImportClass, Library, SpecialExport, ValType};

/// Linking options that affect resolution.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Bind unresolved strong function imports to trapping stubs instead of failing.
    pub stub_missing_functions: bool,
    /// Treat a symbol defined strongly by several libraries as an error instead of a warning.
    pub duplicate_symbols_are_errors: bool,
}

/// Linker-provided data addresses that `GOT.mem` imports may ask for.
pub const LINKER_DATA_SYMBOLS: &[&str] = &[
    "__heap_base",
    "__heap_end",
    "__stack_low",
    "__stack_high",
    "__wasm_libdl_libraries",
    "__wasm_program_tls_info",
];

/// Edge weight of a tag import in the ordering of a dependency cycle (a function import weighs
/// 1): tags cannot be reached through a shim, so their exporter must come first.
const TAG_WEIGHT: u32 = 1 << 20;

/// Linker-provided `env` globals: the initial stack pointer, and the state Binaryen's asyncify
/// pass (with `asyncify-relocatable`) shares between libraries.
pub const LINKER_ENV_GLOBALS: &[&str] = &[
    "__init_stack_pointer",
    "__asyncify_state",
    "__asyncify_data",
];

/// `env` functions the component model provides when no library defines them: the stack
/// pointer of cooperative threads (`context.get`/`context.set` slot 0), with their required
/// signatures (`true`: `[] -> [i32]`; `false`: `[i32] -> []`).
pub const COMPONENT_INTRINSICS: &[(&str, bool)] = &[
    ("__wasm_get_stack_pointer", true),
    ("__wasm_set_stack_pointer", false),
];

/// `env` functions the linker provides when no library defines them: each library's own
/// thread-local-storage base (see docs/abi.md), with the same signature convention.
pub const LINKER_FUNCTIONS: &[(&str, bool)] = &[
    ("__wasm_get_tls_base", true),
    ("__wasm_set_tls_base", false),
];

/// What one import of a library is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binding {
    /// An `env` function import bound to `exports[export]` of `library`.
    Function {
        /// Index of the exporting library (input order).
        library: usize,
        /// Index into that library's `exports`.
        export: usize,
        /// Whether the exporter is instantiated after the importer (or is the importer), so the
        /// import must go through a `call_indirect` shim.
        shim: bool,
    },
    /// A weak (or, with `stub_missing_functions`, any) unresolved function: a trapping stub.
    Stub(usize),
    /// `GOT.func` of an unresolved function with `stub_missing_functions`: the table slot of
    /// trapping stub `stubs[i]`.
    StubAddress(usize),
    /// `GOT.mem`: the address of data symbol `exports[export]` of `library`.
    Data {
        /// Exporting library.
        library: usize,
        /// Index into its exports.
        export: usize,
    },
    /// `GOT.func`: the table slot of function `exports[export]` of `library`.
    FunctionAddress {
        /// Exporting library.
        library: usize,
        /// Index into its exports.
        export: usize,
    },
    /// An `env` tag import bound to `exports[export]` of `library`.
    Tag {
        /// Exporting library.
        library: usize,
        /// Index into its exports.
        export: usize,
    },
    /// A weak unresolved `GOT.mem` or `GOT.func` entry: address 0.
    Null,
    /// Provided by the linker: memory, table, stack pointer, memory/table base, heap and stack
    /// bounds.
    Linker,
    /// Not a dynamic-linking import (WIT functions, intrinsics): provided by the component layer.
    Component,
}

/// A trapping stub function synthesized for unresolved functions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stub<'a> {
    /// Symbol name.
    pub name: &'a str,
    /// Signature.
    pub sig: FuncSig,
}

/// A symbol defined strongly by more than one library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duplicate<'a> {
    /// Symbol name.
    pub name: &'a str,
    /// The library whose definition is used.
    pub winner: usize,
    /// Libraries whose definitions are ignored.
    pub losers: Vec<usize>,
}

/// Why a library was kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeepReason {
    /// A root: it has component exports or exports `_start`.
    Root,
    /// Reached from another kept library (the first one found, in breadth-first order).
    NeededBy(usize),
}

/// The result of resolution and ordering.
#[derive(Clone, Debug)]
pub struct Link<'a> {
    /// `bindings[lib][import]`: what each import of each library binds to. Pruned libraries'
    /// bindings are kept for diagnostics.
    pub bindings: Vec<Vec<Binding>>,
    /// Stubs for unresolved functions, referenced by [`Binding::Stub`].
    pub stubs: Vec<Stub<'a>>,
    /// For each library, `Some(reason)` if kept, `None` if pruned.
    pub kept: Vec<Option<KeepReason>>,
    /// Kept libraries in instantiation order.
    pub instantiation_order: Vec<usize>,
    /// Kept libraries in initialization order (relocations, then constructors).
    pub init_order: Vec<usize>,
    /// Strongly connected components of the dependency graph with more than one library (or a
    /// library importing its own export), in instantiation order.
    pub cycles: Vec<Vec<usize>>,
    /// Symbols that kept libraries are bound to and that other libraries define strongly too.
    pub duplicates: Vec<Duplicate<'a>>,
    /// The library exporting `_start`, if any.
    pub start: Option<usize>,
}

impl Link<'_> {
    /// Whether library `lib` is kept.
    pub fn is_kept(&self, lib: usize) -> bool {
        matches!(self.kept.get(lib), Some(Some(_)))
    }
}

/// One problem found while resolving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Two inputs have the same library name.
    DuplicateLibraryName {
        /// The repeated name.
        name: String,
    },
    /// A NEEDED entry names no input.
    MissingNeeded {
        /// The library with the NEEDED entry.
        library: String,
        /// The missing name.
        needed: String,
        /// Input names that look similar.
        similar: Vec<String>,
        /// All input names (for the message; the first few are shown).
        given: Vec<String>,
    },
    /// An import nothing provides.
    Unresolved {
        /// The importing library.
        library: String,
        /// Import module.
        module: String,
        /// Import name.
        name: String,
        /// What the import expects.
        expected: String,
        /// Definitions of the same name that do not fit: (library, what it exports).
        candidates: Vec<(String, String)>,
    },
    /// More than one library exports `_start`.
    MultipleStart {
        /// Every library exporting `_start`.
        libraries: Vec<String>,
    },
    /// A library exports both `_initialize` and `__wasm_call_ctors`.
    BothInitializers {
        /// The library.
        library: String,
    },
    /// An ABI function with the wrong signature.
    BadAbiSignature {
        /// The library.
        library: String,
        /// The export or import.
        name: String,
        /// What it has.
        found: String,
        /// What the ABI requires.
        required: String,
    },
    /// An input weld does not support.
    Unsupported {
        /// The library.
        library: String,
        /// What is not supported.
        what: String,
    },
    /// A symbol defined strongly by several libraries, with `duplicate_symbols_are_errors`.
    DuplicateSymbol {
        /// The symbol.
        name: String,
        /// The library whose definition would be used.
        winner: String,
        /// The other libraries defining it.
        others: Vec<String>,
    },
    /// A tag import whose exporter is instantiated later (inside a dependency cycle).
    CircularTag {
        /// The importing library.
        library: String,
        /// The tag.
        name: String,
        /// The exporter.
        exporter: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::DuplicateLibraryName { name } => write!(
                f,
                "two inputs are named `{name}`: library names must be unique (rename one with NAME=FILE)"
            ),
            Problem::MissingNeeded {
                library,
                needed,
                similar,
                given,
            } => {
                write!(
                    f,
                    "library `{library}` needs `{needed}` (dylink.0 NEEDED), but no input has that name"
                )?;
                if !similar.is_empty() {
                    write!(f, "; did you mean ")?;
                    for (i, s) in similar.iter().enumerate() {
                        if i > 0 {
                            write!(f, " or ")?;
                        }
                        write!(f, "`{s}`")?;
                    }
                    write!(f, " (give it as `{needed}=FILE`)")?;
                }
                const SHOWN: usize = 8;
                write!(f, "; inputs are named ")?;
                for (i, g) in given.iter().take(SHOWN).enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "`{g}`")?;
                }
                if given.len() > SHOWN {
                    write!(f, " and {} more", given.len() - SHOWN)?;
                }
                Ok(())
            }
            Problem::Unresolved {
                library,
                module,
                name,
                expected,
                candidates,
            } => {
                if candidates.is_empty() {
                    write!(
                        f,
                        "library `{library}` imports `{module}.{name}` ({expected}), but no library defines `{name}`"
                    )
                } else {
                    write!(
                        f,
                        "library `{library}` imports `{module}.{name}` as {expected}, but `{name}` is defined with another type:"
                    )?;
                    for (lib, what) in candidates {
                        write!(f, " `{lib}` exports {what};")?;
                    }
                    Ok(())
                }
            }
            Problem::MultipleStart { libraries } => write!(
                f,
                "more than one library exports `_start`: {} (a component has one entry point)",
                libraries.join(", ")
            ),
            Problem::BothInitializers { library } => write!(
                f,
                "library `{library}` exports both `_initialize` and `__wasm_call_ctors`; weld would not know which one initializes it"
            ),
            Problem::BadAbiSignature {
                library,
                name,
                found,
                required,
            } => write!(
                f,
                "library `{library}` has `{name}` as {found}, but the dynamic-linking ABI requires `{required}`"
            ),
            Problem::Unsupported { library, what } => {
                write!(f, "library `{library}`: {what} is not supported")
            }
            Problem::DuplicateSymbol {
                name,
                winner,
                others,
            } => write!(
                f,
                "symbol `{name}` is defined by `{winner}` and also by {} (duplicate symbols are errors with --duplicate-symbols=error; without it the definition in `{winner}` is used)",
                others
                    .iter()
                    .map(|o| format!("`{o}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Problem::CircularTag {
                library,
                name,
                exporter,
            } => write!(
                f,
                "library `{library}` imports tag `{name}` from `{exporter}`, which is instantiated later because of a dependency cycle; tags cannot go through a shim"
            ),
        }
    }
}

/// Every problem that stopped resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkError {
    /// The problems, in a stable order.
    pub problems: Vec<Problem>,
}

impl Problem {
    /// For an unresolved import: whether `--stub-missing-functions` would fix it (a function
    /// nothing defines under any type).
    fn stub_would_help(&self) -> bool {
        matches!(self, Problem::Unresolved { expected, candidates, module, .. }
            if candidates.is_empty() && module == "env" && expected.starts_with("function"))
    }
}

const STUB_HINT: &str =
    "hint: --stub-missing-functions links unresolved functions to stubs that trap when called";

impl fmt::Display for LinkError {
    /// One problem is printed as it is; several are listed, unresolved imports grouped by the
    /// library that needs them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hint = self.problems.iter().any(Problem::stub_would_help);
        if let [only] = self.problems.as_slice() {
            write!(f, "{only}")?;
            if hint {
                write!(f, "\n{STUB_HINT}")?;
            }
            return Ok(());
        }
        write!(f, "{} problems:", self.problems.len())?;
        // Unresolved imports, grouped by library in order of first appearance.
        let mut groups: Vec<(&str, Vec<&Problem>)> = Vec::new();
        for p in &self.problems {
            match p {
                Problem::Unresolved { library, .. } => {
                    match groups.iter_mut().find(|(l, _)| *l == library.as_str()) {
                        Some((_, v)) => v.push(p),
                        None => groups.push((library.as_str(), vec![p])),
                    }
                }
                other => write!(f, "\n  - {other}")?,
            }
        }
        for (library, problems) in groups {
            let n = problems.len();
            write!(
                f,
                "\n  - library `{library}` has {n} unresolved import{}:",
                if n == 1 { "" } else { "s" }
            )?;
            for p in problems {
                if let Problem::Unresolved {
                    module,
                    name,
                    expected,
                    candidates,
                    ..
                } = p
                {
                    write!(f, "\n      `{module}.{name}` ({expected}): ")?;
                    if candidates.is_empty() {
                        write!(f, "no library defines `{name}`")?;
                    } else {
                        write!(f, "defined with another type:")?;
                        for (lib, what) in candidates {
                            write!(f, " `{lib}` exports {what};")?;
                        }
                    }
                }
            }
        }
        if hint {
            write!(f, "\n{STUB_HINT}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LinkError {}

/// Resolves symbols, prunes, and orders `libs` (in input order).
///
/// `roots[i]` says whether library `i` is a pruning root (for example because it has component
/// exports); libraries exporting `_start` are roots too. A missing entry counts as `false`.
pub fn resolve<'a>(
    libs: &[Library<'a>],
    roots: &[bool],
    options: &Options,
) -> Result<Link<'a>, LinkError> {
    let mut problems = Vec::new();

    // Library names and NEEDED.
    let mut by_name: HashMap<&str, usize> = HashMap::with_capacity(libs.len());
    for (i, lib) in libs.iter().enumerate() {
        if by_name.insert(lib.name, i).is_some() {
            problems.push(Problem::DuplicateLibraryName {
                name: lib.name.to_string(),
            });
        }
    }
    let mut needed_edges: Vec<Vec<usize>> = vec![Vec::new(); libs.len()];
    for (i, lib) in libs.iter().enumerate() {
        for &n in &lib.needed {
            match by_name.get(n) {
                Some(&j) => {
                    // A library naming itself in NEEDED depends on nothing new.
                    if j != i
                        && let Some(edges) = needed_edges.get_mut(i)
                    {
                        edges.push(j);
                    }
                }
                None => problems.push(Problem::MissingNeeded {
                    library: lib.name.to_string(),
                    needed: n.to_string(),
                    similar: similar_names(n, libs.iter().map(|l| l.name)),
                    given: libs.iter().map(|l| l.name.to_string()).collect(),
                }),
            }
        }
    }

    check_abi(libs, &mut problems);

    // The symbol table: every symbol export, in input order.
    let mut defs: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
    for (i, lib) in libs.iter().enumerate() {
        for (e, export) in lib.exports.iter().enumerate() {
            if export.is_symbol() {
                defs.entry(export.name).or_default().push((i, e));
            }
        }
    }
    let export_of = |(l, e): (usize, usize)| libs.get(l).and_then(|lib| lib.exports.get(e));
    // Strong first, then input order.
    let pick = |name: &str, fits: &dyn Fn(&EntityType) -> bool| -> Option<(usize, usize)> {
        let cands = defs.get(name)?;
        let mut weak = None;
        for &c in cands {
            let Some(export) = export_of(c) else { continue };
            if !fits(&export.ty) {
                continue;
            }
            if !export.is_weak() {
                return Some(c);
            }
            weak.get_or_insert(c);
        }
        weak
    };
    let describe_candidates = |name: &str| -> Vec<(String, String)> {
        defs.get(name)
            .into_iter()
            .flatten()
            .filter_map(|&c| {
                let lib = libs.get(c.0)?;
                Some((lib.name.to_string(), export_of(c)?.ty.to_string()))
            })
            .collect()
    };

    let mut stubs: Vec<Stub<'a>> = Vec::new();
    // The signature each `env` function name is imported with first (for stubs of functions
    // only referenced through `GOT.func`).
    let mut env_import_sigs: HashMap<&str, &FuncSig> = HashMap::new();
    for lib in libs {
        for import in &lib.imports {
            if let ImportClass::Function(sig) = &import.class {
                env_import_sigs.entry(import.name).or_insert(sig);
            }
        }
    }
    let mut stub_index: HashMap<(&'a str, FuncSig), usize> = HashMap::new();
    let mut bindings: Vec<Vec<Binding>> = Vec::with_capacity(libs.len());
    // Unresolved imports only matter for libraries that are kept; they are reported after
    // pruning (as wasm-tools does, which re-resolves after dropping unreachable libraries).
    let mut unresolved_problems: Vec<(usize, Problem)> = Vec::new();
    // Edges importer -> exporter, with the number of direct function/tag imports.
    let mut ref_edges: Vec<HashMap<usize, u32>> = vec![HashMap::new(); libs.len()];

    for (i, lib) in libs.iter().enumerate() {
        let mut lib_bindings = Vec::with_capacity(lib.imports.len());
        for import in &lib.imports {
            let unresolved = |expected: String, problems: &mut Vec<(usize, Problem)>| {
                problems.push((
                    i,
                    Problem::Unresolved {
                        library: lib.name.to_string(),
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                        expected,
                        candidates: describe_candidates(import.name),
                    },
                ));
                Binding::Null
            };
            let edge = |ref_edges: &mut Vec<HashMap<usize, u32>>, to: usize, weight: u32| {
                if let Some(m) = ref_edges.get_mut(i) {
                    let w = m.entry(to).or_default();
                    *w = w.saturating_add(weight);
                }
            };
            let binding = match &import.class {
                ImportClass::Memory => {
                    if let EntityType::Memory(m) = &import.ty {
                        if m.memory64 {
                            problems.push(Problem::Unsupported {
                                library: lib.name.to_string(),
                                what: "a 64-bit memory (memory64) in `env.memory`".into(),
                            });
                        }
                        if m.shared {
                            problems.push(Problem::Unsupported {
                                library: lib.name.to_string(),
                                what: "a shared memory in `env.memory`".into(),
                            });
                        }
                    }
                    Binding::Linker
                }
                ImportClass::Table => {
                    if let EntityType::Table(t) = &import.ty
                        && t.table64
                    {
                        problems.push(Problem::Unsupported {
                            library: lib.name.to_string(),
                            what: "a 64-bit table (table64) in `env.__indirect_function_table`"
                                .into(),
                        });
                    }
                    Binding::Linker
                }
                ImportClass::StackPointer | ImportClass::MemoryBase | ImportClass::TableBase => {
                    Binding::Linker
                }
                ImportClass::EnvGlobal => {
                    if LINKER_ENV_GLOBALS.contains(&import.name) {
                        // The linker's globals are i32; `__init_stack_pointer` may be imported
                        // either way, the asyncify state must be mutable.
                        let fits = match &import.ty {
                            EntityType::Global(g) => {
                                g.content_type == ValType::I32
                                    && (g.mutable || import.name == "__init_stack_pointer")
                            }
                            _ => false,
                        };
                        if !fits {
                            let required = if import.name == "__init_stack_pointer" {
                                "an i32 global"
                            } else {
                                "a mutable i32 global"
                            };
                            problems.push(Problem::BadAbiSignature {
                                library: lib.name.to_string(),
                                name: format!("env.{}", import.name),
                                found: format!("an import of type {}", import.ty),
                                required: required.into(),
                            });
                        }
                        Binding::Linker
                    } else if import.name == "__tls_base" {
                        problems.push(Problem::Unsupported {
                            library: lib.name.to_string(),
                            what: "classic thread-local storage (`env.__tls_base`)".into(),
                        });
                        Binding::Null
                    } else {
                        unresolved(import.ty.to_string(), &mut unresolved_problems)
                    }
                }
                ImportClass::Function(sig) => {
                    let fits = |t: &EntityType| matches!(t, EntityType::Func(s) if s == sig);
                    let linker_provided = LINKER_FUNCTIONS.iter().any(|(n, _)| *n == import.name);
                    let intrinsic = COMPONENT_INTRINSICS
                        .iter()
                        .chain(LINKER_FUNCTIONS)
                        .find(|(n, _)| *n == import.name)
                        .map(|&(_, getter)| {
                            if getter {
                                FuncSig::new([], [ValType::I32])
                            } else {
                                FuncSig::new([ValType::I32], [])
                            }
                        });
                    if let Some(required) = &intrinsic
                        && required != sig
                    {
                        problems.push(Problem::BadAbiSignature {
                            library: lib.name.to_string(),
                            name: format!("env.{}", import.name),
                            found: format!("an import of type {}", import.ty),
                            required: required.to_string(),
                        });
                    }
                    match pick(import.name, &fits) {
                        Some((l, e)) => {
                            edge(&mut ref_edges, l, 1);
                            Binding::Function {
                                library: l,
                                export: e,
                                shim: false,
                            }
                        }
                        // Provided by the component model (the main module imports it).
                        None if linker_provided => Binding::Linker,
                        None if intrinsic.is_some() => Binding::Component,
                        None if (import.weak || options.stub_missing_functions)
                            && describe_candidates(import.name).is_empty() =>
                        {
                            Binding::Stub(stub_for(import.name, sig, &mut stubs, &mut stub_index))
                        }
                        None => unresolved(import.ty.to_string(), &mut unresolved_problems),
                    }
                }
                ImportClass::EnvTag(sig) => {
                    let fits = |t: &EntityType| matches!(t, EntityType::Tag(s) if s == sig);
                    match pick(import.name, &fits) {
                        Some((l, e)) => {
                            // A tag cannot go through a shim: weigh it so heavily that a cycle
                            // is ordered to satisfy it whenever that is possible.
                            edge(&mut ref_edges, l, TAG_WEIGHT);
                            Binding::Tag {
                                library: l,
                                export: e,
                            }
                        }
                        None => unresolved(import.ty.to_string(), &mut unresolved_problems),
                    }
                }
                ImportClass::GotMem => {
                    if LINKER_DATA_SYMBOLS.contains(&import.name) {
                        Binding::Linker
                    } else {
                        // Data symbols are immutable i32 globals holding an offset from the
                        // exporter's `__memory_base`.
                        let fits = |t: &EntityType| {
                            matches!(t, EntityType::Global(g)
                                if g.content_type == ValType::I32 && !g.mutable)
                        };
                        match pick(import.name, &fits) {
                            Some((l, e)) => {
                                edge(&mut ref_edges, l, 0);
                                Binding::Data {
                                    library: l,
                                    export: e,
                                }
                            }
                            None if import.weak && describe_candidates(import.name).is_empty() => {
                                Binding::Null
                            }
                            None => unresolved(
                                "the address of a data symbol (an immutable i32 global)".into(),
                                &mut unresolved_problems,
                            ),
                        }
                    }
                }
                ImportClass::GotFunc => {
                    let fits = |t: &EntityType| matches!(t, EntityType::Func(_));
                    match pick(import.name, &fits) {
                        Some((l, e)) => {
                            edge(&mut ref_edges, l, 0);
                            Binding::FunctionAddress {
                                library: l,
                                export: e,
                            }
                        }
                        None if import.weak && describe_candidates(import.name).is_empty() => {
                            Binding::Null
                        }
                        None if options.stub_missing_functions
                            && describe_candidates(import.name).is_empty() =>
                        {
                            // Its type is the one some library imports it with, if any; calling
                            // it traps either way.
                            let sig = env_import_sigs
                                .get(import.name)
                                .map_or_else(FuncSig::default, |s| (*s).clone());
                            Binding::StubAddress(stub_for(
                                import.name,
                                &sig,
                                &mut stubs,
                                &mut stub_index,
                            ))
                        }
                        None => {
                            unresolved("the address of a function".into(), &mut unresolved_problems)
                        }
                    }
                }
                ImportClass::Other => Binding::Component,
            };
            lib_bindings.push(binding);
        }
        bindings.push(lib_bindings);
    }

    // `_start`.
    let starts: Vec<usize> = libs
        .iter()
        .enumerate()
        .filter(|(_, l)| l.special(SpecialExport::Start).is_some())
        .map(|(i, _)| i)
        .collect();
    if starts.len() > 1 {
        problems.push(Problem::MultipleStart {
            libraries: starts
                .iter()
                .filter_map(|&i| libs.get(i).map(|l| l.name.to_string()))
                .collect(),
        });
    }

    // Problems so far do not stop the graph from being built: pruning decides which unresolved
    // imports matter, and everything is reported together below.

    // The dependency graph over all libraries: NEEDED and every resolved reference.
    let mut graph: DiGraph<usize, u32> = DiGraph::with_capacity(libs.len(), 0);
    for i in 0..libs.len() {
        graph.add_node(i);
    }
    for (i, edges) in needed_edges.iter().enumerate() {
        for &j in edges {
            graph.update_edge(NodeIndex::new(i), NodeIndex::new(j), 0);
        }
    }
    for (i, edges) in ref_edges.iter().enumerate() {
        let mut sorted: Vec<_> = edges.iter().map(|(&j, &w)| (j, w)).collect();
        sorted.sort_unstable();
        for (j, w) in sorted {
            // A library reaching its own data or function addresses through the GOT (as every
            // `-fPIC` library with default visibility does) is no dependency; calling its own
            // export through `env` is (it needs a shim).
            if i == j && w == 0 {
                continue;
            }
            let e = graph.update_edge(NodeIndex::new(i), NodeIndex::new(j), 0);
            if let Some(weight) = graph.edge_weight_mut(e) {
                *weight = weight.saturating_add(w);
            }
        }
    }

    // Pruning: breadth-first from the roots.
    let mut kept: Vec<Option<KeepReason>> = vec![None; libs.len()];
    let mut queue = std::collections::VecDeque::new();
    for i in 0..libs.len() {
        if roots.get(i).copied().unwrap_or(false) || starts.contains(&i) {
            if let Some(k) = kept.get_mut(i) {
                *k = Some(KeepReason::Root);
            }
            queue.push_back(i);
        }
    }
    while let Some(i) = queue.pop_front() {
        let mut next: Vec<usize> = graph
            .neighbors(NodeIndex::new(i))
            .map(|n| n.index())
            .collect();
        next.sort_unstable();
        for j in next {
            if let Some(k @ None) = kept.get_mut(j) {
                *k = Some(KeepReason::NeededBy(i));
                queue.push_back(j);
            }
        }
    }
    let is_kept = |i: usize| matches!(kept.get(i), Some(Some(_)));
    problems.extend(
        unresolved_problems
            .into_iter()
            .filter(|(i, _)| is_kept(*i))
            .map(|(_, p)| p),
    );
    if !problems.is_empty() {
        return Err(LinkError { problems });
    }

    // Instantiation order over kept libraries.
    let kept_graph = graph.filter_map(|_, &lib| is_kept(lib).then_some(lib), |_, &w| Some(w));
    let sccs = ordered_sccs(&kept_graph);
    let mut instantiation_order = Vec::new();
    let mut cycles = Vec::new();
    for scc in &sccs {
        let ordered = order_within_scc(&kept_graph, scc);
        let self_loop =
            scc.len() == 1 && scc.first().is_some_and(|&n| kept_graph.contains_edge(n, n));
        let libs_of: Vec<usize> = ordered
            .iter()
            .filter_map(|&n| kept_graph.node_weight(n).copied())
            .collect();
        if scc.len() > 1 || self_loop {
            cycles.push(libs_of.clone());
        }
        instantiation_order.extend(libs_of);
    }

    // Shims: function imports whose exporter is not instantiated before the importer.
    let mut position = vec![usize::MAX; libs.len()];
    for (p, &lib) in instantiation_order.iter().enumerate() {
        if let Some(slot) = position.get_mut(lib) {
            *slot = p;
        }
    }
    let pos = |lib: usize| position.get(lib).copied().unwrap_or(usize::MAX);
    for (i, lib_bindings) in bindings.iter_mut().enumerate() {
        if !is_kept(i) {
            continue;
        }
        for (b, import) in lib_bindings
            .iter_mut()
            .zip(libs.get(i).map_or(&[][..], |l| &l.imports[..]))
        {
            match b {
                Binding::Function { library, shim, .. } => *shim = pos(*library) >= pos(i),
                Binding::Tag { library, .. } if pos(*library) >= pos(i) => {
                    problems.push(Problem::CircularTag {
                        library: libs.get(i).map_or(String::new(), |l| l.name.to_string()),
                        name: import.name.to_string(),
                        exporter: libs
                            .get(*library)
                            .map_or(String::new(), |l| l.name.to_string()),
                    });
                }
                _ => {}
            }
        }
    }
    if !problems.is_empty() {
        return Err(LinkError { problems });
    }

    // Duplicate strong definitions of symbols kept libraries are bound to: the other strong
    // definitions of the same name that would have fit the import too.
    let mut bound: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (i, lib_bindings) in bindings.iter().enumerate() {
        if !is_kept(i) {
            continue;
        }
        for b in lib_bindings {
            if let Binding::Function {
                library, export, ..
            }
            | Binding::Data { library, export }
            | Binding::FunctionAddress { library, export }
            | Binding::Tag { library, export } = *b
                && let Some(e) = export_of((library, export))
            {
                bound.entry(e.name).or_insert((library, export));
            }
        }
    }
    let mut duplicates = Vec::new();
    for (name, (wl, we)) in bound {
        let Some(winner) = export_of((wl, we)) else {
            continue;
        };
        if winner.is_weak() {
            continue;
        }
        let same_kind = |t: &EntityType| match (&winner.ty, t) {
            (EntityType::Func(a), EntityType::Func(b)) => a == b,
            (EntityType::Global(_), EntityType::Global(_)) => true,
            (EntityType::Tag(a), EntityType::Tag(b)) => a == b,
            _ => false,
        };
        let losers: Vec<usize> = defs
            .get(name)
            .into_iter()
            .flatten()
            .filter(|&&(l, e)| {
                l != wl && export_of((l, e)).is_some_and(|x| !x.is_weak() && same_kind(&x.ty))
            })
            .map(|&(l, _)| l)
            .collect();
        if !losers.is_empty() && options.duplicate_symbols_are_errors {
            problems.push(Problem::DuplicateSymbol {
                name: name.to_string(),
                winner: libs.get(wl).map_or(String::new(), |l| l.name.to_string()),
                others: losers
                    .iter()
                    .filter_map(|&l| libs.get(l).map(|x| x.name.to_string()))
                    .collect(),
            });
        }
        if !losers.is_empty() {
            duplicates.push(Duplicate {
                name,
                winner: wl,
                losers,
            });
        }
    }

    if !problems.is_empty() {
        return Err(LinkError { problems });
    }

    // Initialization order: NEEDED only, dependencies first, ties by input order.
    let mut needed_graph: DiGraph<usize, u32> = DiGraph::new();
    let mut node_of = vec![None; libs.len()];
    for i in (0..libs.len()).filter(|&i| is_kept(i)) {
        if let Some(slot) = node_of.get_mut(i) {
            *slot = Some(needed_graph.add_node(i));
        }
    }
    for (i, edges) in needed_edges.iter().enumerate() {
        for &j in edges {
            if let (Some(Some(a)), Some(Some(b))) = (node_of.get(i), node_of.get(j)) {
                needed_graph.update_edge(*a, *b, 0);
            }
        }
    }
    let mut init_order = Vec::new();
    for scc in ordered_sccs(&needed_graph) {
        let mut members: Vec<usize> = scc
            .iter()
            .filter_map(|&n| needed_graph.node_weight(n).copied())
            .collect();
        members.sort_unstable();
        init_order.extend(members);
    }

    Ok(Link {
        bindings,
        stubs,
        kept,
        instantiation_order,
        init_order,
        cycles,
        duplicates,
        start: starts.first().copied(),
    })
}

/// The stub for `name` with signature `sig`, created on first use (one per name and signature).
fn stub_for<'a>(
    name: &'a str,
    sig: &FuncSig,
    stubs: &mut Vec<Stub<'a>>,
    index: &mut HashMap<(&'a str, FuncSig), usize>,
) -> usize {
    *index.entry((name, sig.clone())).or_insert_with(|| {
        stubs.push(Stub {
            name,
            sig: sig.clone(),
        });
        stubs.len() - 1
    })
}

fn check_abi(libs: &[Library<'_>], problems: &mut Vec<Problem>) {
    for lib in libs {
        if lib.special(SpecialExport::Initialize).is_some()
            && lib.special(SpecialExport::CallCtors).is_some()
        {
            problems.push(Problem::BothInitializers {
                library: lib.name.to_string(),
            });
        }
        for export in &lib.exports {
            let must_be_thunk = matches!(
                export.special,
                Some(
                    SpecialExport::ApplyDataRelocs
                        | SpecialExport::CallCtors
                        | SpecialExport::Initialize
                )
            );
            if must_be_thunk && !matches!(&export.ty, EntityType::Func(s) if s.is_thunk()) {
                problems.push(Problem::BadAbiSignature {
                    library: lib.name.to_string(),
                    name: export.name.to_string(),
                    found: format!("an export of type {}", export.ty),
                    required: "function [] -> []".into(),
                });
            }
        }
        if lib.defined_memories > 0 {
            problems.push(Problem::Unsupported {
                library: lib.name.to_string(),
                what: "a library that defines its own memory (it must import `env.memory`)".into(),
            });
        }
        if let Some(arch) = lib.target_arch
            && arch != "wasm32"
        {
            problems.push(Problem::Unsupported {
                library: lib.name.to_string(),
                what: format!(
                    "target architecture `{arch}` (dylink.0 TARGET_ARCH; weld links wasm32)"
                ),
            });
        }
    }
}

/// Strongly connected components in dependency-first order (for an edge a→b, b's component comes
/// first), ties broken by the smallest library index in each component.
fn ordered_sccs<E>(graph: &DiGraph<usize, E>) -> Vec<Vec<NodeIndex>> {
    let sccs = petgraph::algo::tarjan_scc(graph);
    let mut comp_of = vec![0usize; graph.node_count()];
    for (c, scc) in sccs.iter().enumerate() {
        for n in scc {
            if let Some(slot) = comp_of.get_mut(n.index()) {
                *slot = c;
            }
        }
    }
    let key: Vec<usize> = sccs
        .iter()
        .map(|scc| {
            scc.iter()
                .filter_map(|&n| graph.node_weight(n).copied())
                .min()
                .unwrap_or(usize::MAX)
        })
        .collect();
    // Kahn's algorithm on the condensation, following edges backwards (dependencies first).
    let mut pending = vec![0usize; sccs.len()];
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); sccs.len()];
    for e in graph.edge_indices() {
        let Some((a, b)) = graph.edge_endpoints(e) else {
            continue;
        };
        let (ca, cb) = (
            comp_of.get(a.index()).copied().unwrap_or(0),
            comp_of.get(b.index()).copied().unwrap_or(0),
        );
        if ca != cb {
            if let Some(p) = pending.get_mut(ca) {
                *p += 1;
            }
            if let Some(d) = dependants.get_mut(cb) {
                d.push(ca);
            }
        }
    }
    let mut heap: BinaryHeap<Reverse<(usize, usize)>> = pending
        .iter()
        .enumerate()
        .filter(|(_, p)| **p == 0)
        .map(|(c, _)| Reverse((key.get(c).copied().unwrap_or(usize::MAX), c)))
        .collect();
    let mut out = Vec::with_capacity(sccs.len());
    while let Some(Reverse((_, c))) = heap.pop() {
        if let Some(scc) = sccs.get(c) {
            out.push(scc.clone());
        }
        for &d in dependants.get(c).map_or(&[][..], |v| &v[..]) {
            if let Some(p) = pending.get_mut(d) {
                *p -= 1;
                if *p == 0 {
                    heap.push(Reverse((key.get(d).copied().unwrap_or(usize::MAX), d)));
                }
            }
        }
    }
    out
}

/// Orders the members of one strongly connected component so that few function imports point at
/// a library instantiated later (a greedy feedback-arc-set heuristic after Eades, Lin and Smyth):
/// libraries whose remaining imports are all satisfied go next; libraries nobody remaining imports
/// from go last; otherwise the library that most others import from, relative to what it imports
/// itself, goes next. Ties go to the lowest input index.
fn order_within_scc(graph: &DiGraph<usize, u32>, scc: &[NodeIndex]) -> Vec<NodeIndex> {
    if scc.len() <= 1 {
        return scc.to_vec();
    }
    let mut members: Vec<NodeIndex> = scc.to_vec();
    members.sort_by_key(|&n| graph.node_weight(n).copied().unwrap_or(usize::MAX));
    let mut remaining: BTreeSet<usize> = (0..members.len()).collect();
    let idx_of: HashMap<NodeIndex, usize> =
        members.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    // out_w[i]: imports of i from remaining members; in_w[i]: imports of remaining members from i.
    let mut out_w = vec![0i64; members.len()];
    let mut in_w = vec![0i64; members.len()];
    let mut outs: Vec<Vec<(usize, i64)>> = vec![Vec::new(); members.len()];
    let mut ins: Vec<Vec<(usize, i64)>> = vec![Vec::new(); members.len()];
    for (i, &n) in members.iter().enumerate() {
        for e in graph.edges(n) {
            use petgraph::visit::EdgeRef;
            let t = e.target();
            if t == n {
                continue;
            }
            // Only edges inside the component matter here.
            let Some(&j) = idx_of.get(&t) else { continue };
            let w = i64::from(*e.weight());
            if let Some(v) = outs.get_mut(i) {
                v.push((j, w));
            }
            if let Some(v) = ins.get_mut(j) {
                v.push((i, w));
            }
            if let Some(x) = out_w.get_mut(i) {
                *x += w;
            }
            if let Some(x) = in_w.get_mut(j) {
                *x += w;
            }
        }
    }
    let mut front = Vec::new();
    let mut back = Vec::new();
    while !remaining.is_empty() {
        let get = |v: &[i64], i: usize| v.get(i).copied().unwrap_or(0);
        let chosen_front = remaining.iter().copied().find(|&i| get(&out_w, i) == 0);
        let (pick, to_front) = if let Some(i) = chosen_front {
            (i, true)
        } else if let Some(i) = remaining.iter().copied().find(|&i| get(&in_w, i) == 0) {
            (i, false)
        } else {
            let best = remaining
                .iter()
                .copied()
                .max_by_key(|&i| (get(&in_w, i) - get(&out_w, i), Reverse(i)))
                .unwrap_or(0);
            (best, true)
        };
        remaining.remove(&pick);
        for &(j, w) in outs.get(pick).map_or(&[][..], |v| &v[..]) {
            if let Some(x) = in_w.get_mut(j) {
                *x -= w;
            }
        }
        for &(j, w) in ins.get(pick).map_or(&[][..], |v| &v[..]) {
            if let Some(x) = out_w.get_mut(j) {
                *x -= w;
            }
        }
        if let Some(&n) = members.get(pick) {
            if to_front {
                front.push(n);
            } else {
                back.push(n);
            }
        }
    }
    back.reverse();
    front.extend(back);
    front
}

/// Input names within a small edit distance of `wanted` (or sharing its stem before a digit).
fn similar_names<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = names
        .filter(|n| *n != wanted)
        .filter(|n| {
            // Close enough to be a typo or another version: `libpython3.12.so` vs
            // `libpython3.14.so`, `libc.so` vs `libc.so.6`.
            let d = edit_distance(wanted, n);
            d <= 2 && d * 4 <= wanted.len()
        })
        .map(str::to_string)
        .collect();
    out.sort();
    out.truncate(3);
    out
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        if let Some(c) = cur.first_mut() {
            *c = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            if let Some(c) = cur.get_mut(j + 1) {
                *c = sub.min(del).min(ins);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests;

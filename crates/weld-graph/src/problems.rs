//! What can stop resolution: [`Problem`] and its parts, and [`ResolveError`], which reports them
//! all at once — the causes first (missing libraries), identical problems of many libraries
//! grouped, long lists cut short — so that the message stays short and costs time linear in the
//! problems, whatever the number of libraries.

use std::collections::HashMap;
use std::fmt;

use weld_module::text::escape;
use weld_module::{EntityType, FuncSig, abi};

/// How many items a list in a message shows before "and N more".
const SHOWN: usize = 8;

/// How many definitions of a name a [`Problem::TypeMismatch`] keeps.
pub(crate) const CANDIDATES_KEPT: usize = 8;

/// One problem found while resolving.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
        /// Input names that look similar (at most 3).
        similar: Vec<String>,
    },
    /// An import nothing defines.
    Unresolved {
        /// The importing library.
        library: String,
        /// Import module.
        module: String,
        /// Import name.
        name: String,
        /// What the import expects.
        expected: Expected,
    },
    /// An import whose name is defined, but only with other types.
    TypeMismatch {
        /// The importing library.
        library: String,
        /// Import module.
        module: String,
        /// Import name.
        name: String,
        /// What the import expects.
        expected: Expected,
        /// The first definitions of the name, in input order (at most 8).
        candidates: Vec<Candidate>,
        /// How many more definitions there are.
        more_candidates: usize,
    },
    /// An `env` global import of a name that is a data symbol: data symbols are imported
    /// through `GOT.mem`.
    DataThroughEnv {
        /// The importing library.
        library: String,
        /// The symbol.
        name: String,
        /// A library defining it as data.
        exporter: String,
    },
    /// An import from a module name the component encoder reserves for itself.
    ReservedModule {
        /// The importing library.
        library: String,
        /// Import module.
        module: String,
        /// Import name.
        name: String,
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
    /// An ABI function or global with the wrong type.
    BadAbiSignature {
        /// The library.
        library: String,
        /// The export, or the import as `module.name`.
        name: String,
        /// Whether `name` is an import (else an export).
        import: bool,
        /// What it has.
        found: EntityType,
        /// What the ABI requires.
        required: Requirement,
    },
    /// An input weld does not support.
    Unsupported {
        /// The library.
        library: String,
        /// What is not supported.
        feature: Unsupported,
    },
    /// An active data segment writes before the start of the library's data region.
    DataOutsideRegion {
        /// The library.
        library: String,
        /// The segment's byte offset in the input.
        at: u64,
        /// Where it starts, relative to `__memory_base`.
        start: i64,
        /// Its length.
        len: u64,
        /// The data region's size (MEM_INFO).
        size: u32,
    },
    /// A data symbol's offset lies before the start of the library's data region.
    SymbolOutsideRegion {
        /// The library.
        library: String,
        /// The symbol.
        symbol: String,
        /// Its offset from `__memory_base`.
        offset: i32,
        /// The data region's size (MEM_INFO).
        size: u32,
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

/// What an unresolved import expects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expected {
    /// A definition of this type (an `env` function, tag or global).
    Entity(EntityType),
    /// The address of a data symbol (`GOT.mem`).
    DataAddress,
    /// The address of a function (`GOT.func`).
    FunctionAddress,
}

/// A definition of a name that does not fit the import.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// The defining library.
    pub library: String,
    /// What it exports under the name.
    pub ty: EntityType,
}

/// The type the ABI requires of a function or global.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Requirement {
    /// A function of this signature.
    Function(FuncSig),
    /// An `i32` global, mutable or not.
    I32Global,
    /// A mutable `i32` global.
    MutableI32Global,
}

/// What weld does not support.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unsupported {
    /// A 64-bit `env.memory`.
    Memory64,
    /// A shared `env.memory`.
    SharedMemory,
    /// An `env.memory` with a page size other than 64 KiB.
    CustomPageSize(u32),
    /// A 64-bit `env.__indirect_function_table`.
    Table64,
    /// `env.__tls_base`.
    ClassicTls,
    /// A library defining a memory of its own instead of importing `env.memory`.
    OwnMemory,
    /// A `TARGET_ARCH` other than `wasm32`.
    TargetArch(String),
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Entity(ty) => write!(f, "{ty}"),
            Expected::DataAddress => {
                f.write_str("the address of a data symbol (an immutable i32 global)")
            }
            Expected::FunctionAddress => f.write_str("the address of a function"),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Function(sig) => write!(f, "function {sig}"),
            Requirement::I32Global => f.write_str("an i32 global"),
            Requirement::MutableI32Global => f.write_str("a mutable i32 global"),
        }
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::Memory64 => f.write_str("a 64-bit memory (memory64) in `env.memory`"),
            Unsupported::SharedMemory => f.write_str("a shared memory in `env.memory`"),
            Unsupported::CustomPageSize(log2) => write!(
                f,
                "an `env.memory` with pages of 2^{log2} bytes (the custom-page-sizes proposal; the shared memory has 64 KiB pages)"
            ),
            Unsupported::Table64 => {
                f.write_str("a 64-bit table (table64) in `env.__indirect_function_table`")
            }
            Unsupported::ClassicTls => {
                f.write_str("classic thread-local storage (`env.__tls_base`)")
            }
            Unsupported::OwnMemory => {
                f.write_str("a library that defines its own memory (it must import `env.memory`)")
            }
            Unsupported::TargetArch(arch) => write!(
                f,
                "target architecture `{}` (dylink.0 TARGET_ARCH; weld links wasm32)",
                escape(arch)
            ),
        }
    }
}

/// `` `a`, `b`, `c` `` for the first [`SHOWN`] names, then "… and N more" when there are
/// `total` in all.
fn write_names<'n>(
    f: &mut fmt::Formatter<'_>,
    names: impl IntoIterator<Item = &'n str>,
    total: usize,
) -> fmt::Result {
    let mut shown = 0;
    for name in names.into_iter().take(SHOWN) {
        if shown > 0 {
            f.write_str(", ")?;
        }
        write!(f, "`{}`", escape(name))?;
        shown += 1;
    }
    if total > shown {
        write!(f, ", … and {} more", total - shown)?;
    }
    Ok(())
}

/// `` `lib` exports TYPE, … `` for every candidate kept, then "and N more".
fn write_candidates(
    f: &mut fmt::Formatter<'_>,
    candidates: &[Candidate],
    more: usize,
) -> fmt::Result {
    for (i, c) in candidates.iter().enumerate() {
        let sep = if i > 0 { ", " } else { " " };
        write!(f, "{sep}`{}` exports {}", escape(&c.library), c.ty)?;
    }
    if more > 0 {
        write!(f, ", and {more} more")?;
    }
    Ok(())
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unresolved { .. }
            | Problem::TypeMismatch { .. }
            | Problem::DataThroughEnv { .. }
            | Problem::ReservedModule { .. }
            | Problem::DuplicateSymbol { .. }
            | Problem::CircularTag { .. } => self.fmt_symbol(f),
            _ => self.fmt_library(f),
        }
    }
}

impl Problem {
    /// A problem with one symbol: how it is imported or defined.
    fn fmt_symbol(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unresolved {
                library,
                module,
                name,
                expected,
            } => write!(
                f,
                "library `{}` imports `{}.{}` ({expected}), but no library defines `{}`",
                escape(library),
                escape(module),
                escape(name),
                escape(name)
            ),
            Problem::TypeMismatch {
                library,
                module,
                name,
                expected,
                candidates,
                more_candidates,
            } => {
                write!(
                    f,
                    "library `{}` imports `{}.{}` as {expected}, but `{}` is defined with another type:",
                    escape(library),
                    escape(module),
                    escape(name),
                    escape(name)
                )?;
                write_candidates(f, candidates, *more_candidates)
            }
            Problem::DataThroughEnv {
                library,
                name,
                exporter,
            } => write!(
                f,
                "library `{}` imports `env.{}` as a global, but `{}` is a data symbol (of `{}`): data symbols are imported through `GOT.mem.{}`, as code compiled with -fPIC does",
                escape(library),
                escape(name),
                escape(name),
                escape(exporter),
                escape(name)
            ),
            Problem::ReservedModule {
                library,
                module,
                name,
            } => write!(
                f,
                "library `{}` imports `{}.{}`: the module name `{}` is reserved (the component encoder's name for weld's main module)",
                escape(library),
                escape(module),
                escape(name),
                escape(module)
            ),
            Problem::DuplicateSymbol {
                name,
                winner,
                others,
            } => {
                write!(
                    f,
                    "symbol `{}` is defined by `{}` and also by ",
                    escape(name),
                    escape(winner)
                )?;
                write_names(f, others.iter().map(String::as_str), others.len())?;
                write!(
                    f,
                    " (duplicate symbols are errors with --duplicate-symbols=error; without it the definition in `{}` is used)",
                    escape(winner)
                )
            }
            Problem::CircularTag {
                library,
                name,
                exporter,
            } => write!(
                f,
                "library `{}` imports tag `{}` from `{}`, which is instantiated later because of a dependency cycle; tags cannot go through a shim",
                escape(library),
                escape(name),
                escape(exporter)
            ),
            _ => Ok(()),
        }
    }

    /// A problem with a library as a whole: its name, NEEDED entries, ABI or data region.
    fn fmt_library(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::DuplicateLibraryName { name } => write!(
                f,
                "two inputs are named `{}`: library names must be unique (rename one with NAME=FILE)",
                escape(name)
            ),
            Problem::MissingNeeded {
                library,
                needed,
                similar,
            } => {
                write!(
                    f,
                    "library `{}` needs `{}` (dylink.0 NEEDED), but no input has that name",
                    escape(library),
                    escape(needed)
                )?;
                write_similar(f, needed, similar)
            }
            Problem::MultipleStart { libraries } => {
                f.write_str("more than one library exports `_start`: ")?;
                write_names(f, libraries.iter().map(String::as_str), libraries.len())?;
                f.write_str(" (a component has one entry point)")
            }
            Problem::BothInitializers { library } => write!(
                f,
                "library `{}` exports both `_initialize` and `__wasm_call_ctors`; weld would not know which one initializes it",
                escape(library)
            ),
            Problem::BadAbiSignature {
                library,
                name,
                import,
                found,
                required,
            } => write!(
                f,
                "library `{}` has `{}` as an {} of type {found}, but the dynamic-linking ABI requires `{required}`",
                escape(library),
                escape(name),
                if *import { "import" } else { "export" }
            ),
            Problem::Unsupported { library, feature } => {
                write!(
                    f,
                    "library `{}`: {feature} is not supported",
                    escape(library)
                )
            }
            Problem::DataOutsideRegion {
                library,
                at,
                start,
                len,
                size,
            } => write!(
                f,
                "library `{}` has a data segment (at byte offset {at:#x}) writing bytes {start}..{} relative to its data region of {size} bytes (dylink.0 MEM_INFO): it would overwrite memory before the region, which is not its own",
                escape(library),
                i128::from(*start) + i128::from(*len)
            ),
            Problem::SymbolOutsideRegion {
                library,
                symbol,
                offset,
                size,
            } => write!(
                f,
                "library `{}` exports data symbol `{}` at offset {offset}, before the start of its data region of {size} bytes (dylink.0 MEM_INFO): its address would be in memory that is not its own",
                escape(library),
                escape(symbol)
            ),
            _ => Ok(()),
        }
    }
}

/// "; did you mean `x` (give it as `needed=FILE`)" when there are similar names.
fn write_similar(f: &mut fmt::Formatter<'_>, needed: &str, similar: &[String]) -> fmt::Result {
    if similar.is_empty() {
        return Ok(());
    }
    f.write_str("; did you mean ")?;
    for (i, s) in similar.iter().enumerate() {
        if i > 0 {
            f.write_str(" or ")?;
        }
        write!(f, "`{}`", escape(s))?;
    }
    write!(f, " (give it as `{}=FILE`)", escape(needed))
}

/// Every problem that stopped resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolveError {
    /// The problems, in a stable order.
    pub problems: Vec<Problem>,
    /// The names of all inputs (for the message, when a NEEDED name is missing).
    pub inputs: Vec<String>,
    /// The directories libraries were searched in, if any (for the same message).
    pub searched: Vec<String>,
}

impl ResolveError {
    /// An error with `problems`, in a link of the inputs named `inputs`.
    pub fn new(problems: Vec<Problem>, inputs: Vec<String>) -> Self {
        ResolveError {
            problems,
            inputs,
            searched: Vec::new(),
        }
    }
}

impl Problem {
    /// Whether `--stub-missing-functions` would fix it: an `env` function nothing defines under
    /// any type.
    fn stub_would_help(&self) -> bool {
        matches!(self, Problem::Unresolved { expected: Expected::Entity(EntityType::Func(_)), module, .. }
            if module == abi::ENV)
    }
}

const STUB_HINT: &str =
    "hint: --stub-missing-functions links unresolved functions to stubs that trap when called";

/// The problems arranged for the message: missing libraries by name, unresolved imports by
/// import (those of one library alone by library), the rest in order.
struct Arranged<'p> {
    /// Missing name -> (its first problem, every library needing it).
    missing: Vec<(&'p Problem, Vec<&'p str>)>,
    others: Vec<&'p Problem>,
    /// Unresolved imports of several libraries: (the first problem, every importer).
    shared: Vec<(&'p Problem, Vec<&'p str>)>,
    /// Unresolved imports of one library each, by library in order of first appearance.
    by_library: Vec<(&'p str, Vec<&'p Problem>)>,
}

impl<'p> Arranged<'p> {
    fn new(problems: &'p [Problem]) -> Self {
        let mut missing: Vec<(&Problem, Vec<&str>)> = Vec::new();
        let mut missing_at: HashMap<&str, usize> = HashMap::new();
        let mut imports: Vec<(&Problem, Vec<&str>)> = Vec::new();
        let mut import_at: HashMap<UnresolvedKey<'p>, usize> = HashMap::new();
        let mut others = Vec::new();
        for p in problems {
            match p {
                Problem::MissingNeeded {
                    library, needed, ..
                } => match missing_at.get(needed.as_str()) {
                    Some(&i) => push_at(&mut missing, i, library),
                    None => {
                        missing_at.insert(needed, missing.len());
                        missing.push((p, vec![library.as_str()]));
                    }
                },
                Problem::Unresolved { library, .. } | Problem::TypeMismatch { library, .. } => {
                    let key = UnresolvedKey::of(p);
                    match import_at.get(&key) {
                        Some(&i) => push_at(&mut imports, i, library),
                        None => {
                            import_at.insert(key, imports.len());
                            imports.push((p, vec![library.as_str()]));
                        }
                    }
                }
                other => others.push(other),
            }
        }
        let mut shared = Vec::new();
        let mut by_library: Vec<(&str, Vec<&Problem>)> = Vec::new();
        let mut library_at: HashMap<&str, usize> = HashMap::new();
        for (p, importers) in imports {
            match importers.as_slice() {
                [one] => match library_at.get(one) {
                    Some(&i) => {
                        if let Some((_, v)) = by_library.get_mut(i) {
                            v.push(p);
                        }
                    }
                    None => {
                        library_at.insert(one, by_library.len());
                        by_library.push((one, vec![p]));
                    }
                },
                _ => shared.push((p, importers)),
            }
        }
        Arranged {
            missing,
            others,
            shared,
            by_library,
        }
    }
}

fn push_at<'p>(groups: &mut [(&'p Problem, Vec<&'p str>)], i: usize, library: &'p str) {
    if let Some((_, v)) = groups.get_mut(i) {
        v.push(library);
    }
}

/// What makes two unresolved imports of different libraries the same problem.
#[derive(PartialEq, Eq, Hash)]
struct UnresolvedKey<'p> {
    module: &'p str,
    name: &'p str,
    expected: &'p Expected,
    candidates: &'p [Candidate],
    more: usize,
}

impl<'p> UnresolvedKey<'p> {
    fn of(p: &'p Problem) -> Self {
        match p {
            Problem::TypeMismatch {
                module,
                name,
                expected,
                candidates,
                more_candidates,
                ..
            } => UnresolvedKey {
                module,
                name,
                expected,
                candidates,
                more: *more_candidates,
            },
            Problem::Unresolved {
                module,
                name,
                expected,
                ..
            } => UnresolvedKey {
                module,
                name,
                expected,
                candidates: &[],
                more: 0,
            },
            _ => UnresolvedKey {
                module: "",
                name: "",
                expected: &Expected::DataAddress,
                candidates: &[],
                more: 0,
            },
        }
    }
}

impl ResolveError {
    /// "; inputs are named …" (and the directories searched) after a missing library.
    fn write_inputs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.searched.is_empty() {
            f.write_str("; it is in none of the search directories ")?;
            write_names(
                f,
                self.searched.iter().map(String::as_str),
                self.searched.len(),
            )?;
        }
        if self.inputs.is_empty() {
            return Ok(());
        }
        f.write_str("; inputs are named ")?;
        write_names(f, self.inputs.iter().map(String::as_str), self.inputs.len())
    }

    /// One missing library and the libraries needing it.
    fn write_missing(
        &self,
        f: &mut fmt::Formatter<'_>,
        first: &Problem,
        needers: &[&str],
    ) -> fmt::Result {
        let Problem::MissingNeeded {
            needed, similar, ..
        } = first
        else {
            return Ok(());
        };
        if needers.len() == 1 {
            write!(f, "{first}")?;
        } else {
            write!(
                f,
                "`{}` is not among the inputs; add it (it is in the dylink.0 NEEDED of {} libraries: ",
                escape(needed),
                needers.len()
            )?;
            write_names(f, needers.iter().copied(), needers.len())?;
            f.write_str(")")?;
            write_similar(f, needed, similar)?;
        }
        self.write_inputs(f)
    }
}

/// One unresolved import, as a line under its library or its group.
fn write_import(f: &mut fmt::Formatter<'_>, p: &Problem) -> fmt::Result {
    match p {
        Problem::Unresolved {
            module,
            name,
            expected,
            ..
        } => write!(
            f,
            "`{}.{}` ({expected}): no library defines `{}`",
            escape(module),
            escape(name),
            escape(name)
        ),
        Problem::TypeMismatch {
            module,
            name,
            expected,
            candidates,
            more_candidates,
            ..
        } => {
            write!(
                f,
                "`{}.{}` ({expected}): defined with another type:",
                escape(module),
                escape(name)
            )?;
            write_candidates(f, candidates, *more_candidates)
        }
        _ => Ok(()),
    }
}

impl fmt::Display for ResolveError {
    /// The causes first: missing libraries, each with every library needing it; then the other
    /// problems; then unresolved imports, grouped by import when several libraries share one,
    /// else by library. The stub hint only when no library is missing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hint = self.problems.iter().any(Problem::stub_would_help);
        let a = Arranged::new(&self.problems);
        let hint = hint && a.missing.is_empty();
        if let [only] = self.problems.as_slice() {
            match only {
                Problem::MissingNeeded { library, .. } => {
                    self.write_missing(f, only, &[library])?
                }
                _ => write!(f, "{only}")?,
            }
            if hint {
                write!(f, "\n{STUB_HINT}")?;
            }
            return Ok(());
        }
        write!(f, "{} problems:", self.problems.len())?;
        for (first, needers) in &a.missing {
            f.write_str("\n  - ")?;
            self.write_missing(f, first, needers)?;
        }
        for p in &a.others {
            write!(f, "\n  - {p}")?;
        }
        for (p, importers) in &a.shared {
            f.write_str("\n  - ")?;
            write_import(f, p)?;
            write!(f, "; imported by {} libraries: ", importers.len())?;
            write_names(f, importers.iter().copied(), importers.len())?;
        }
        for (library, problems) in &a.by_library {
            let n = problems.len();
            write!(
                f,
                "\n  - library `{}` has {n} unresolved import{}:",
                escape(library),
                if n == 1 { "" } else { "s" }
            )?;
            for p in problems {
                f.write_str("\n      ")?;
                write_import(f, p)?;
            }
        }
        if hint {
            write!(f, "\n{STUB_HINT}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ResolveError {}

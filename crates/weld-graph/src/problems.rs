//! What can stop resolution: [`Problem`] and its parts, and [`ResolveError`], which reports them
//! all at once (unresolved imports grouped by the library that needs them).

use std::fmt;

use weld_module::{EntityType, FuncSig, abi};

/// One problem found while resolving.
#[derive(Clone, Debug, PartialEq, Eq)]
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
        /// Input names that look similar.
        similar: Vec<String>,
        /// All input names (for the message; the first few are shown).
        given: Vec<String>,
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
        /// Every definition of the name, in input order.
        candidates: Vec<Candidate>,
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The defining library.
    pub library: String,
    /// What it exports under the name.
    pub ty: EntityType,
}

/// The type the ABI requires of a function or global.
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unsupported {
    /// A 64-bit `env.memory`.
    Memory64,
    /// A shared `env.memory`.
    SharedMemory,
    /// A 64-bit `env.__indirect_function_table`.
    Table64,
    /// `env.__tls_base`.
    ClassicTls,
    /// A library defining a memory of its own.
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
                "target architecture `{arch}` (dylink.0 TARGET_ARCH; weld links wasm32)"
            ),
        }
    }
}

/// ` `lib` exports TYPE;` for every candidate.
fn write_candidates(f: &mut fmt::Formatter<'_>, candidates: &[Candidate]) -> fmt::Result {
    for c in candidates {
        write!(f, " `{}` exports {};", c.library, c.ty)?;
    }
    Ok(())
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
            } => write_missing_needed(f, library, needed, similar, given),
            Problem::Unresolved {
                library,
                module,
                name,
                expected,
            } => write!(
                f,
                "library `{library}` imports `{module}.{name}` ({expected}), but no library defines `{name}`"
            ),
            Problem::TypeMismatch {
                library,
                module,
                name,
                expected,
                candidates,
            } => {
                write!(
                    f,
                    "library `{library}` imports `{module}.{name}` as {expected}, but `{name}` is defined with another type:"
                )?;
                write_candidates(f, candidates)
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
                import,
                found,
                required,
            } => write!(
                f,
                "library `{library}` has `{name}` as an {} of type {found}, but the dynamic-linking ABI requires `{required}`",
                if *import { "import" } else { "export" }
            ),
            Problem::Unsupported { library, feature } => {
                write!(f, "library `{library}`: {feature} is not supported")
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

fn write_missing_needed(
    f: &mut fmt::Formatter<'_>,
    library: &str,
    needed: &str,
    similar: &[String],
    given: &[String],
) -> fmt::Result {
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

/// Every problem that stopped resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolveError {
    /// The problems, in a stable order.
    pub problems: Vec<Problem>,
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

impl fmt::Display for ResolveError {
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
                Problem::Unresolved { library, .. } | Problem::TypeMismatch { library, .. } => {
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
                match p {
                    Problem::Unresolved {
                        module,
                        name,
                        expected,
                        ..
                    } => write!(
                        f,
                        "\n      `{module}.{name}` ({expected}): no library defines `{name}`"
                    )?,
                    Problem::TypeMismatch {
                        module,
                        name,
                        expected,
                        candidates,
                        ..
                    } => {
                        write!(
                            f,
                            "\n      `{module}.{name}` ({expected}): defined with another type:"
                        )?;
                        write_candidates(f, candidates)?;
                    }
                    _ => {}
                }
            }
        }
        if hint {
            write!(f, "\n{STUB_HINT}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ResolveError {}

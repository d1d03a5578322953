//! What can stop resolution: [`Problem`] and its parts, each with its message
//! ([`crate::ResolveError`] reports them all at once).

use std::fmt;

use weld_module::text::escape;
use weld_module::{EntityType, FuncSig};

/// How many items a list in a message shows before "and N more".
pub(crate) const SHOWN: usize = 8;

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
    /// A name is both an input's and a part's of a fused input (or a part of two fused inputs):
    /// the same library would be linked twice.
    FusedPartTwice {
        /// The part's name.
        name: String,
        /// The fused library holding it.
        fused: String,
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
pub(crate) fn write_names<'n>(
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
pub(crate) fn write_candidates(
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
            Problem::FusedPartTwice { name, fused } => write!(
                f,
                "`{}` is linked twice: it is a part of the fused library `{}` and also an input \
                 (or a part of another fused input); link either the fused library or its parts",
                escape(name),
                escape(fused)
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
pub(crate) fn write_similar(
    f: &mut fmt::Formatter<'_>,
    needed: &str,
    similar: &[String],
) -> fmt::Result {
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

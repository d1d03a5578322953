//! Why a link failed: [`LinkError`], one variant per stage, each listing every problem found at
//! that stage, with the lower crates' typed errors inside.

use std::fmt;

use weld_graph::ResolveError;
use weld_module::ParseError;
use weld_module::text::escape;
use weld_synth::SynthError;

/// Why a link failed. Every variant lists all the problems found at that stage.
#[derive(Debug)]
#[non_exhaustive]
pub enum LinkError {
    /// An input has the name of weld's built-in libdl, which the link was asked to add.
    LibdlNameTaken(LibdlNameTaken),
    /// Some inputs could not be parsed.
    Parse(Vec<ParseError>),
    /// A library's `component-type` section could not be decoded, or worlds could not be merged.
    World(Vec<WorldError>),
    /// Symbol resolution or ordering failed.
    Resolve(ResolveError),
    /// Layout or glue synthesis failed.
    Synth(SynthError),
    /// The component encoder rejected the main module or an adapter.
    Encode(EncodeError),
    /// Kept input libraries are not valid WebAssembly (their code is checked while linking,
    /// unless validation is off).
    InvalidInput(Vec<InvalidInput>),
    /// The component would exceed a limit of the component model's binary format.
    Limit(LimitError),
    /// The output did not validate, though every input does: a weld bug.
    Invalid(InvalidOutput),
    /// The component would export nothing.
    NothingExported(NothingExported),
    /// Fusing the kept libraries failed ([`crate::LinkOptions::fuse`]).
    Fuse(weld_fuse::FuseError),
}

/// The component would export nothing, so nothing could use it: why, input by input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NothingExported {
    /// Every input library, in input order.
    pub libraries: Vec<InputSummary>,
}

/// What one input brings to the component's exports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InputSummary {
    /// The library.
    pub library: String,
    /// Whether it was kept.
    pub kept: bool,
    /// Whether it has a `dylink.0` section.
    pub dynamic: bool,
    /// Whether it has a WIT world (`component-type` sections), and whether that has exports.
    pub world: Option<bool>,
    /// Whether it exports `_start`.
    pub start: bool,
    /// Whether it is dl-openable.
    pub dl_openable: bool,
}

/// An input named like weld's built-in libdl (`libdl.so`) in a link that adds the built-in one
/// (`--use-built-in-libdl`, [`crate::Linker::use_built_in_libdl`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LibdlNameTaken {
    /// The name.
    pub name: String,
    /// The input's position among the inputs.
    pub position: usize,
}

/// A problem with a library's WIT world.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorldError {
    /// The library.
    pub library: String,
    /// What went wrong.
    pub kind: WorldErrorKind,
    /// wit-component's explanation.
    pub detail: String,
}

/// The kinds of [`WorldError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorldErrorKind {
    /// A `component-type` section does not decode.
    Decode,
    /// The world cannot be merged with the earlier libraries' worlds.
    Merge,
    /// An interface is used with another string encoding than in an earlier library.
    StringEncoding,
}

/// The component encoder's refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncodeError {
    /// What was refused.
    pub kind: EncodeErrorKind,
    /// The encoder's message.
    pub message: String,
    /// Which libraries the names in the message come from.
    pub notes: Vec<String>,
}

/// The kinds of [`EncodeError`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeErrorKind {
    /// The main module (which carries the merged world) was refused.
    Component,
    /// An adapter module was refused.
    Adapter {
        /// The adapter's name.
        name: String,
    },
    /// The encoder's output is not what weld expects (a weld bug).
    Internal,
}

/// A kept library whose code does not validate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidInput {
    /// The library.
    pub library: String,
    /// Byte offset in the library of its first error.
    pub offset: u64,
    /// The validator's message.
    pub message: String,
}

/// The component would hold more than the component model's binary format allows.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitError {
    /// Too many core modules or core instances in all.
    Component {
        /// Core modules the component would hold.
        modules: usize,
        /// Most core modules a component may hold.
        max_modules: usize,
        /// Core instances it would hold.
        instances: usize,
        /// Most instances a component may hold.
        max_instances: usize,
        /// Libraries being linked.
        libraries: usize,
    },
    /// One instantiation argument of a library would have too many items (imports of one
    /// module, or for a shared argument the union of all libraries' imports of it).
    ArgumentItems {
        /// The library, or `None` for an argument shared by several libraries.
        library: Option<String>,
        /// The import module.
        module: String,
        /// Items it would have.
        items: usize,
        /// Most items an instance built from exports may have.
        max: usize,
    },
    /// A library imports from too many modules.
    Arguments {
        /// The library.
        library: String,
        /// Its import modules.
        modules: usize,
        /// Most arguments an instantiation may have.
        max: usize,
    },
    /// One of the component's core index spaces would hold too many items.
    IndexSpace {
        /// Which ("functions", "globals", …).
        kind: &'static str,
        /// Items it would hold.
        items: usize,
        /// Most items a core index space may hold.
        max: usize,
    },
}

/// The output's first validation error.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidOutput {
    /// Byte offset in the output.
    pub offset: u64,
    /// The validator's message.
    pub message: String,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::LibdlNameTaken(e) => write!(f, "{e}"),
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
            LinkError::World(errors) => write_lines(f, errors),
            LinkError::Resolve(e) => write!(f, "{e}"),
            LinkError::Synth(e) => write!(f, "{e}"),
            LinkError::Encode(e) => write!(f, "{e}"),
            LinkError::Limit(e) => write!(f, "{e}"),
            LinkError::InvalidInput(errors) => write_lines(f, errors),
            LinkError::NothingExported(e) => write!(f, "{e}"),
            LinkError::Fuse(e) => write!(f, "{e}"),
            LinkError::Invalid(e) => write!(
                f,
                "the linked component does not validate (this is a weld bug; please report it with the inputs): {e}"
            ),
        }
    }
}

/// Each item on a line of its own.
fn write_lines<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str("\n")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl std::error::Error for LinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LinkError::Resolve(e) => Some(e),
            LinkError::Synth(e) => Some(e),
            LinkError::Fuse(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for LibdlNameTaken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        write!(
            f,
            "the name `{name}` is taken by weld's built-in libdl (--use-built-in-libdl): leave out \
             the input named `{name}` to use the built-in libdl, or drop --use-built-in-libdl to \
             use that input"
        )
    }
}

impl fmt::Display for WorldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (library, detail) = (escape(&self.library), escape(&self.detail));
        match self.kind {
            WorldErrorKind::Decode => write!(
                f,
                "library `{library}`: its component-type section does not decode: {detail}"
            ),
            WorldErrorKind::Merge => write!(
                f,
                "library `{library}`: its WIT world cannot be merged with the earlier libraries' worlds: {detail}"
            ),
            WorldErrorKind::StringEncoding => write!(
                f,
                "library `{library}` uses a different string encoding for an interface than an earlier library ({detail}); weld links all libraries through one main module, so mixed string encodings for the same interface are not supported yet"
            ),
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            EncodeErrorKind::Adapter { name } => write!(
                f,
                "component encoding failed: adapter `{}` cannot be used: {}",
                escape(name),
                escape(&self.message)
            )?,
            EncodeErrorKind::Component | EncodeErrorKind::Internal => {
                write!(f, "component encoding failed: {}", escape(&self.message))?
            }
        }
        for note in &self.notes {
            write!(f, "\nnote: {}", escape(note))?;
        }
        Ok(())
    }
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "library `{}` is not a valid WebAssembly module: at byte offset {:#x}: {}",
            escape(&self.library),
            self.offset,
            escape(&self.message)
        )
    }
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::Component {
                modules,
                max_modules,
                instances,
                max_instances,
                libraries,
            } => write!(
                f,
                "the component would hold {modules} core modules (at most {max_modules}) and {instances} core instances (at most {max_instances}) for {libraries} libraries; a component cannot hold more, so link fewer libraries (unused ones are pruned automatically)"
            ),
            LimitError::ArgumentItems {
                library: Some(library),
                module,
                items,
                max,
            } => write!(
                f,
                "library `{}` imports {items} items from module `{}`, more than the {max} a component's core instance may pass to one import module",
                escape(library),
                escape(module)
            ),
            LimitError::ArgumentItems {
                library: None,
                module,
                items,
                max,
            } => write!(
                f,
                "the libraries import {items} different items from module `{}` in all, more than the {max} a component's core instance may hold",
                escape(module)
            ),
            LimitError::Arguments {
                library,
                modules,
                max,
            } => write!(
                f,
                "library `{}` imports from {modules} modules, more than the {max} arguments a component's core instantiation may have",
                escape(library)
            ),
            LimitError::IndexSpace { kind, items, max } => write!(
                f,
                "the component would alias {items} core {kind}, more than the {max} a component's core index space may hold"
            ),
        }
    }
}

impl fmt::Display for NothingExported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 8;
        f.write_str(
            "the component would export nothing, so nothing could use it: its exports come from the kept libraries' WIT worlds (component-type sections), and `_start` becomes `wasi:cli/run` only with a command adapter (--adapt wasi_snapshot_preview1=FILE); the inputs:",
        )?;
        for lib in self.libraries.iter().take(SHOWN) {
            write!(f, "\n  - {lib}")?;
        }
        if self.libraries.len() > SHOWN {
            write!(f, "\n  - … and {} more", self.libraries.len() - SHOWN)?;
        }
        Ok(())
    }
}

impl fmt::Display for InputSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` ({}): ",
            escape(&self.library),
            if self.kept { "kept" } else { "pruned" }
        )?;
        let mut facts = Vec::new();
        if !self.dynamic {
            facts.push("not a dynamic library (no dylink.0 section)");
        }
        facts.push(match self.world {
            None => "no WIT world",
            Some(false) => "its WIT world has no exports",
            Some(true) => "its WIT world has exports",
        });
        if self.start {
            facts.push("exports `_start`");
        }
        if self.dl_openable {
            facts.push("dl-openable");
        }
        f.write_str(&facts.join(", "))
    }
}

impl fmt::Display for InvalidOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at offset 0x{:x})", self.message, self.offset)
    }
}

impl EncodeError {
    /// A weld bug: the encoder's output is not as expected.
    pub(crate) fn internal(message: impl Into<String>) -> LinkError {
        LinkError::Encode(EncodeError {
            kind: EncodeErrorKind::Internal,
            message: message.into(),
            notes: Vec::new(),
        })
    }
}

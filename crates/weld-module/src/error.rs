//! What parsing reports: errors that stop it, and warnings that do not.

use std::fmt;

use crate::EntityType;
use crate::text::escape;

/// Why a library could not be parsed: which library, where, what kind of problem, and a message
/// saying what was expected and what was found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseError {
    /// The library's name as given to [`Library::parse`](crate::Library::parse).
    pub library: String,
    /// Byte offset in the input where the problem is, where known.
    pub offset: Option<u64>,
    /// What kind of problem it is.
    pub kind: ParseErrorKind,
    /// What was expected and what was found.
    pub message: String,
}

/// The kinds of [`ParseError`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input has no bytes.
    Empty,
    /// The input does not start with the WebAssembly magic bytes.
    NotWebAssembly,
    /// The input ends too early.
    Truncated,
    /// A binary format version weld does not read.
    UnsupportedVersion(u16),
    /// A component rather than a core module.
    Component,
    /// The binary is malformed (wasmparser's reading failed, or an index is out of range).
    Malformed,
    /// The `dylink.0` section is malformed.
    Dylink,
    /// An import or export whose function type cannot be matched across modules.
    UnlinkableType {
        /// The import (`module.name`) or export.
        item: String,
    },
    /// The same `module.name` is imported twice.
    DuplicateImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// An import weld does not support (an exact function import).
    UnsupportedImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// An import with a fixed role in the ABI has the wrong kind or type.
    AbiImport(Box<AbiImportError>),
}

/// An import with a fixed role in the ABI that has the wrong kind or type.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AbiImportError {
    /// Import module.
    pub module: String,
    /// Import name.
    pub name: String,
    /// What the ABI requires.
    pub expected: &'static str,
    /// What the library imports.
    pub found: EntityType,
}

impl ParseError {
    pub(crate) fn new(
        library: &str,
        offset: Option<u64>,
        kind: ParseErrorKind,
        message: impl Into<String>,
    ) -> Self {
        ParseError {
            library: library.to_string(),
            offset,
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (library, message) = (escape(&self.library), escape(&self.message));
        match self.offset {
            Some(off) => write!(f, "{library}: at byte offset {off:#x}: {message}"),
            None => write!(f, "{library}: {message}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Something odd about a library that does not stop linking.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Warning {
    /// Byte offset in the input, where known.
    pub offset: Option<u64>,
    /// What kind of oddity it is.
    pub kind: WarningKind,
    /// What is odd.
    pub message: String,
}

/// The kinds of [`Warning`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// A second `dylink.0` section (its subsections are merged).
    SecondDylink,
    /// `dylink.0` is not the module's first section.
    DylinkNotFirst,
    /// A `dylink.0` subsection of an unknown type (ignored).
    UnknownDylinkSubsection(u8),
}

impl Warning {
    pub(crate) fn new(offset: u64, kind: WarningKind) -> Self {
        let message = match kind {
            WarningKind::SecondDylink => {
                "a second dylink.0 section; its subsections are merged".to_string()
            }
            WarningKind::DylinkNotFirst => "dylink.0 is not the first section of the module".into(),
            WarningKind::UnknownDylinkSubsection(ty) => {
                format!("unknown dylink.0 subsection type {ty} ignored")
            }
        };
        Warning {
            offset: Some(offset),
            kind,
            message,
        }
    }
}

//! Diagnostics: what weld says went wrong (or is odd), as typed values with a stable `code`,
//! printed as text (`--message-format human`, the default) or as one JSON object per line on
//! stderr (`--message-format json`). The codes are listed in docs/report.md.
//!
//! Every diagnostic is made here from the library crates' typed errors and warnings; its message
//! is the `Display` of the typed part, so the text is the same in both formats.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use weld_component::weld_graph::{LinkWarning, Problem};
use weld_component::weld_module::WarningKind;
use weld_component::{
    EncodeErrorKind, LimitError, LinkError, ParseError, ParseErrorKind, ReportWarning,
    SynthProblem, WorldErrorKind,
};

/// How messages are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum MessageFormat {
    /// Text, `error: …` and `warning: …`.
    #[default]
    Human,
    /// One JSON object per line on stderr.
    Json,
}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
    /// The command failed.
    Error,
    /// Something odd that did not stop the command.
    Warning,
    /// What the command did (`-v`).
    Info,
}

/// One diagnostic, as printed with `--message-format json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Diagnostic {
    pub(crate) level: Level,
    pub(crate) message: String,
    /// A stable identifier of the kind of diagnostic (see docs/report.md).
    pub(crate) code: &'static str,
    /// The library concerned, where there is one.
    pub(crate) library: Option<String>,
    /// The symbol concerned, where there is one.
    pub(crate) symbol: Option<String>,
    /// The library's file, where known.
    pub(crate) file: Option<String>,
    /// Byte offset in `file` (or, for `invalid-output`, in the output), where known.
    pub(crate) offset: Option<u64>,
}

impl Diagnostic {
    /// An error of kind `code` saying `message`, about nothing in particular yet.
    pub(crate) fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            level: Level::Error,
            message: message.into(),
            code,
            library: None,
            symbol: None,
            file: None,
            offset: None,
        }
    }

    /// A line of `-v` output.
    pub(crate) fn info(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            level: Level::Info,
            ..Diagnostic::error(code, message)
        }
    }

    pub(crate) fn library(mut self, library: &str) -> Self {
        self.library = Some(library.to_string());
        self
    }

    fn symbol(mut self, symbol: &str) -> Self {
        self.symbol = Some(symbol.to_string());
        self
    }

    fn offset(mut self, offset: Option<u64>) -> Self {
        self.offset = offset;
        self
    }

    /// The same diagnostic about the file `file`.
    pub(crate) fn file(mut self, file: &Path) -> Self {
        self.file = Some(file.to_string_lossy().into_owned());
        self
    }

    /// The diagnostic as one line of JSON.
    pub(crate) fn json(&self) -> String {
        // Serializing plain strings, numbers and options cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why a command failed: the message printed with `--message-format human`, and the
/// diagnostics printed with `--message-format json`.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The text after `error: `.
    pub(crate) human: String,
    /// One diagnostic per problem.
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Failure {
    /// A failure with one diagnostic, whose message is also the text.
    pub(crate) fn one(d: Diagnostic) -> Self {
        Failure {
            human: d.message.clone(),
            diagnostics: vec![d],
        }
    }

    /// A failure for each of `diagnostics`, the text listing their messages on lines of their own
    /// (each after `error: `).
    pub(crate) fn all(diagnostics: Vec<Diagnostic>) -> Self {
        let human = diagnostics
            .iter()
            .map(|d| d.message.as_str())
            .collect::<Vec<_>>()
            .join("\nerror: ");
        Failure { human, diagnostics }
    }
}

/// Any other error (writing the output, for example) is one diagnostic of code `code`.
pub(crate) fn other(code: &'static str, e: &anyhow::Error) -> Failure {
    Failure::one(Diagnostic::error(code, format!("{e:#}")))
}

/// The files the libraries of a link were read from, by library name, to name the file in
/// diagnostics about a library.
#[derive(Default)]
pub(crate) struct Files(pub(crate) HashMap<String, PathBuf>);

impl Files {
    /// `d` with the file of its library, when known.
    pub(crate) fn locate(&self, mut d: Diagnostic) -> Diagnostic {
        if d.file.is_none()
            && let Some(file) = d.library.as_ref().and_then(|l| self.0.get(l))
        {
            d.file = Some(file.to_string_lossy().into_owned());
        }
        d
    }
}

/// One diagnostic per problem of `e`, with the text weld prints for it (`human`, the error's
/// own message or the CLI's for parse errors).
pub(crate) fn link_error(e: &LinkError, files: &Files, human: String) -> Failure {
    let diagnostics = match e {
        LinkError::LibdlNameTaken(t) => {
            vec![Diagnostic::error("libdl-name-taken", t.to_string()).library(&t.name)]
        }
        LinkError::Parse(errors) => errors.iter().map(parse_error).collect(),
        LinkError::World(errors) => errors
            .iter()
            .map(|w| {
                let code = match w.kind {
                    WorldErrorKind::Decode => "world-decode",
                    WorldErrorKind::Merge => "world-merge",
                    WorldErrorKind::StringEncoding => "world-string-encoding",
                    _ => "world",
                };
                Diagnostic::error(code, w.to_string()).library(&w.library)
            })
            .collect(),
        LinkError::Resolve(r) => r
            .problems
            .iter()
            .map(|p| {
                let d = problem(p);
                match p {
                    // The directories searched are part of the message of a missing library.
                    Problem::MissingNeeded { .. } if !r.searched.is_empty() => Diagnostic {
                        message: format!(
                            "{}; it is in none of the search directories {}",
                            d.message,
                            r.searched
                                .iter()
                                .map(|s| format!(
                                    "`{}`",
                                    weld_component::weld_module::text::escape(s)
                                ))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        ..d
                    },
                    _ => d,
                }
            })
            .collect(),
        LinkError::Synth(s) => s.problems.iter().map(synth_problem).collect(),
        LinkError::Encode(enc) => {
            let d = match &enc.kind {
                EncodeErrorKind::Adapter { name } => {
                    Diagnostic::error("encode-adapter", enc.to_string()).library(name)
                }
                EncodeErrorKind::Internal => Diagnostic::error("encode-internal", enc.to_string()),
                _ => Diagnostic::error("encode-component", enc.to_string()),
            };
            vec![d]
        }
        LinkError::InvalidInput(errors) => errors
            .iter()
            .map(|i| {
                Diagnostic::error("invalid-input", i.to_string())
                    .library(&i.library)
                    .offset(Some(i.offset))
            })
            .collect(),
        LinkError::Limit(l) => {
            let d = match l {
                LimitError::Component { .. } => Diagnostic::error("limit-modules", l.to_string()),
                LimitError::ArgumentItems { library, .. } => {
                    let d = Diagnostic::error("limit-argument-items", l.to_string());
                    match library {
                        Some(lib) => d.library(lib),
                        None => d,
                    }
                }
                LimitError::Arguments { library, .. } => {
                    Diagnostic::error("limit-arguments", l.to_string()).library(library)
                }
                LimitError::IndexSpace { .. } => {
                    Diagnostic::error("limit-index-space", l.to_string())
                }
                _ => Diagnostic::error("limit", l.to_string()),
            };
            vec![d]
        }
        LinkError::Invalid(i) => {
            vec![Diagnostic::error("invalid-output", e.to_string()).offset(Some(i.offset))]
        }
        LinkError::NothingExported(n) => vec![Diagnostic::error("nothing-exported", n.to_string())],
        LinkError::Fuse(f) => vec![fuse_error(f)],
        _ => vec![Diagnostic::error("link", e.to_string())],
    };
    Failure {
        human,
        diagnostics: diagnostics.into_iter().map(|d| files.locate(d)).collect(),
    }
}

/// A parse error of one library.
pub(crate) fn parse_error(e: &ParseError) -> Diagnostic {
    let (code, symbol) = match &e.kind {
        ParseErrorKind::Empty => ("parse-empty", None),
        ParseErrorKind::NotWebAssembly => ("parse-not-webassembly", None),
        ParseErrorKind::Truncated => ("parse-truncated", None),
        ParseErrorKind::UnsupportedVersion(_) => ("parse-unsupported-version", None),
        ParseErrorKind::Component => ("parse-component", None),
        ParseErrorKind::Malformed => ("parse-malformed", None),
        ParseErrorKind::Dylink => ("parse-dylink", None),
        ParseErrorKind::UnlinkableType { item } => ("parse-unlinkable-type", Some(item.clone())),
        ParseErrorKind::DuplicateImport { module, name } => {
            ("parse-duplicate-import", Some(format!("{module}.{name}")))
        }
        ParseErrorKind::UnsupportedImport { module, name } => {
            ("parse-unsupported-import", Some(format!("{module}.{name}")))
        }
        ParseErrorKind::AbiImport(a) => {
            ("parse-abi-import", Some(format!("{}.{}", a.module, a.name)))
        }
        _ => ("parse", None),
    };
    let d = Diagnostic::error(code, e.to_string())
        .library(&e.library)
        .offset(e.offset);
    match symbol {
        Some(s) => d.symbol(&s),
        None => d,
    }
}

/// One resolution problem.
fn problem(p: &Problem) -> Diagnostic {
    let m = p.to_string();
    match p {
        Problem::DuplicateLibraryName { name } => {
            Diagnostic::error("duplicate-library-name", m).library(name)
        }
        Problem::FusedPartTwice { name, fused } => Diagnostic::error("fused-part-twice", m)
            .library(fused)
            .symbol(name),
        Problem::MissingNeeded {
            library, needed, ..
        } => Diagnostic::error("missing-needed", m)
            .library(library)
            .symbol(needed),
        Problem::Unresolved { library, name, .. } => Diagnostic::error("unresolved-import", m)
            .library(library)
            .symbol(name),
        Problem::TypeMismatch { library, name, .. } => Diagnostic::error("type-mismatch", m)
            .library(library)
            .symbol(name),
        Problem::DataThroughEnv { library, name, .. } => Diagnostic::error("data-through-env", m)
            .library(library)
            .symbol(name),
        Problem::ReservedModule { library, name, .. } => Diagnostic::error("reserved-module", m)
            .library(library)
            .symbol(name),
        Problem::MultipleStart { .. } => Diagnostic::error("multiple-start", m).symbol("_start"),
        Problem::BothInitializers { library } => {
            Diagnostic::error("both-initializers", m).library(library)
        }
        Problem::BadAbiSignature { library, name, .. } => Diagnostic::error("bad-abi-signature", m)
            .library(library)
            .symbol(name),
        Problem::Unsupported { library, .. } => {
            Diagnostic::error("unsupported", m).library(library)
        }
        Problem::DataOutsideRegion { library, at, .. } => {
            Diagnostic::error("data-outside-region", m)
                .library(library)
                .offset(Some(*at))
        }
        Problem::SymbolOutsideRegion {
            library, symbol, ..
        } => Diagnostic::error("symbol-outside-region", m)
            .library(library)
            .symbol(symbol),
        Problem::DuplicateSymbol { name, winner, .. } => Diagnostic::error("duplicate-symbol", m)
            .library(winner)
            .symbol(name),
        Problem::CircularTag { library, name, .. } => Diagnostic::error("circular-tag", m)
            .library(library)
            .symbol(name),
        _ => Diagnostic::error("resolve", m),
    }
}

/// One synthesis problem.
fn synth_problem(p: &SynthProblem) -> Diagnostic {
    let m = p.to_string();
    match p {
        SynthProblem::StackNotAligned { .. } => Diagnostic::error("stack-not-aligned", m),
        SynthProblem::MemoryOverflow { library, .. } => {
            Diagnostic::error("memory-overflow", m).library(library)
        }
        SynthProblem::HeapOverflow { .. } => Diagnostic::error("heap-overflow", m),
        SynthProblem::TableOverflow { library, .. } => {
            let d = Diagnostic::error("table-overflow", m);
            match library {
                Some(l) => d.library(l),
                None => d,
            }
        }
        SynthProblem::SymbolPastMemory {
            library, symbol, ..
        } => Diagnostic::error("symbol-past-memory", m)
            .library(library)
            .symbol(symbol),
        SynthProblem::MemoryMaximum { library, .. } => {
            Diagnostic::error("memory-maximum", m).library(library)
        }
        SynthProblem::TableMaximum { library, .. } => {
            Diagnostic::error("table-maximum", m).library(library)
        }
        SynthProblem::GotMemNotConstant {
            library, symbol, ..
        } => Diagnostic::error("got-mem-not-constant", m)
            .library(library)
            .symbol(symbol),
        SynthProblem::ComponentImportNotFunction { library, name, .. } => {
            Diagnostic::error("component-import-not-function", m)
                .library(library)
                .symbol(name)
        }
        SynthProblem::ComponentImportTypes { library, name, .. } => {
            Diagnostic::error("component-import-types", m)
                .library(library)
                .symbol(name)
        }
        _ => Diagnostic::error("synth", m),
    }
}

/// A fusion error.
pub(crate) fn fuse_error(e: &weld_fuse::FuseError) -> Diagnostic {
    use weld_fuse::FuseError;
    let m = e.to_string();
    match e {
        FuseError::Malformed { part, offset, .. } => Diagnostic::error("fuse-malformed", m)
            .library(part)
            .offset(Some(*offset)),
        FuseError::Imports(_) => Diagnostic::error("fuse-imports", m),
        FuseError::Cycle { symbol } => Diagnostic::error("fuse-cycle", m).symbol(symbol),
        FuseError::Reencode { part, .. } => Diagnostic::error("fuse-reencode", m).library(part),
        FuseError::SeveralTls { .. } => Diagnostic::error("fuse-several-tls", m),
        FuseError::Internal(_) => Diagnostic::error("fuse-internal", m),
        _ => Diagnostic::error("fuse", m),
    }
}

/// A symbol several parts of a fusion define (a warning).
pub(crate) fn fuse_duplicate(symbol: &str, winner: &str, message: String) -> Diagnostic {
    Diagnostic {
        level: Level::Warning,
        ..Diagnostic::error("duplicate-symbol", message)
            .library(winner)
            .symbol(symbol)
    }
}

/// A warning of a successful link.
pub(crate) fn warning(w: &ReportWarning) -> Diagnostic {
    let m = w.to_string();
    let d = match w {
        ReportWarning::Library {
            library,
            offset,
            kind,
            ..
        } => {
            let code = match kind {
                WarningKind::SecondDylink => "second-dylink",
                WarningKind::DylinkNotFirst => "dylink-not-first",
                WarningKind::UnknownDylinkSubsection(_) => "unknown-dylink-subsection",
                _ => "library-warning",
            };
            Diagnostic::error(code, m).library(library).offset(*offset)
        }
        ReportWarning::Duplicate(row) => Diagnostic::error("duplicate-symbol", m)
            .library(&row.winner)
            .symbol(&row.symbol),
        ReportWarning::NotDynamic { library } => {
            Diagnostic::error("not-dynamic", m).library(library)
        }
        ReportWarning::StartNotExported { library } => Diagnostic::error("start-not-exported", m)
            .library(library)
            .symbol("_start"),
        ReportWarning::Resolution(r) => match r {
            LinkWarning::StubbedTypeMismatch { library, name, .. } => {
                Diagnostic::error("stubbed-type-mismatch", m)
                    .library(library)
                    .symbol(name)
            }
            LinkWarning::DataPastRegion { library, .. } => {
                Diagnostic::error("data-past-region", m).library(library)
            }
            LinkWarning::SymbolPastRegion {
                library, symbol, ..
            } => Diagnostic::error("symbol-past-region", m)
                .library(library)
                .symbol(symbol),
            _ => Diagnostic::error("resolution-warning", m),
        },
        _ => Diagnostic::error("warning", m),
    };
    Diagnostic {
        level: Level::Warning,
        ..d
    }
}

/// Prints `diagnostics` to stderr in `format`: as text after `prefix`, or as JSON lines.
pub(crate) fn print(format: MessageFormat, diagnostics: &[Diagnostic]) {
    match format {
        MessageFormat::Json => {
            crate::print::stderr_lines("", diagnostics.iter().map(Diagnostic::json))
        }
        MessageFormat::Human => crate::print::stderr_lines(
            "",
            diagnostics.iter().map(|d| {
                let prefix = match d.level {
                    Level::Error => "error: ",
                    Level::Warning => "warning: ",
                    Level::Info => "weld: ",
                };
                format!("{prefix}{}", d.message)
            }),
        ),
    }
}

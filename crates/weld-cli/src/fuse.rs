//! `weld fuse`: reads the inputs, fuses them into one dynamic library with weld-fuse, writes it
//! and says what was fused.

use std::path::PathBuf;

use clap::Args;
use weld_graph::LibrarySet;
use weld_module::Library;

use crate::diagnostic::{self, Diagnostic, Failure, MessageFormat};
use crate::input::Input;
use crate::link::read_spec;
use crate::output::Output;

/// Fuses dynamic libraries into one dynamic library.
#[derive(Args)]
pub(crate) struct FuseArgs {
    /// Libraries to fuse, as `[NAME=]FILE`, in the order their data and table regions are laid
    /// out. NAME defaults to the file name; NEEDED entries naming a part are satisfied inside.
    #[arg(value_name = "[NAME=]MODULE", required = true)]
    libraries: Vec<String>,

    /// Where to write the fused library; without it, standard output (not a terminal).
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,

    /// The fused library's name (its name section's module name); defaults to OUT's file name,
    /// or `fused.so` without OUT.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// Nothing outside the parts defines a symbol they use: weak definitions are bound inside
    /// too, instead of staying imports that a strong definition elsewhere could override.
    #[arg(long)]
    closed: bool,

    /// Keep every call between parts a call: do not replace calls into another part's small
    /// leaf functions by their bodies (a trap's backtrace then shows the callee's frame).
    #[arg(long)]
    no_inline: bool,

    /// Say where each part went and which symbols several parts define.
    #[arg(short, long)]
    verbose: bool,
}

/// An input part: its name, its file and its bytes.
struct Part {
    name: String,
    path: PathBuf,
    bytes: Input,
}

/// Runs `weld fuse`.
pub(crate) fn run(args: FuseArgs, format: MessageFormat) -> Result<(), Failure> {
    let parts = read_parts(&args)?;
    let output_error = |e: anyhow::Error| diagnostic::other("output", &e);
    let output = Output::new_or_stdout(args.output.as_deref(), false, "a dynamic library")
        .map_err(output_error)?;
    output
        .check_not_an_input(parts.iter().map(|p| (p.path.as_path(), p.bytes.file)))
        .map_err(output_error)?;
    let set = parse(&parts)?;
    let name = match (&args.name, &args.output) {
        (Some(n), _) => n.clone(),
        (None, Some(out)) => out
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "fused.so".to_string()),
        (None, None) => "fused.so".to_string(),
    };
    let mut options = weld_fuse::FuseOptions::new(name);
    options.closed = args.closed;
    options.inline = !args.no_inline;
    let ids: Vec<_> = set.ids().collect();
    let fused = match weld_fuse::fuse(&set, &ids, &options) {
        Ok(f) => f,
        Err(e) => {
            let d = diagnostic::fuse_error(&e);
            let file = d
                .library
                .as_ref()
                .and_then(|l| parts.iter().find(|p| &p.name == l));
            return Err(Failure::one(match file {
                Some(p) => d.file(&p.path),
                None => d,
            }));
        }
    };
    output.finish(&fused.bytes).map_err(output_error)?;
    let warnings: Vec<Diagnostic> = fused
        .duplicates
        .iter()
        .map(|(symbol, winner, losers)| {
            diagnostic::fuse_duplicate(
                symbol,
                winner,
                format!(
                    "symbol `{symbol}` is defined by {winner} and also by {}; using the definition in {winner}",
                    losers.join(", ")
                ),
            )
        })
        .collect();
    diagnostic::print(format, &warnings);
    if args.verbose {
        let lines: Vec<Diagnostic> = fused
            .parts
            .iter()
            .map(|p| {
                Diagnostic::info(
                    "part",
                    format!(
                        "part {}: data at __memory_base + {:#x}, table at __table_base + {}",
                        p.name, p.data_offset, p.table_offset
                    ),
                )
            })
            .collect();
        diagnostic::print(format, &lines);
    }
    Ok(())
}

/// Reads every part; all read errors at once.
fn read_parts(args: &FuseArgs) -> Result<Vec<Part>, Failure> {
    let mut errors = Vec::new();
    let mut parts = Vec::new();
    for spec in &args.libraries {
        match read_spec(spec, str::to_string) {
            Ok((bytes, name, path)) => parts.push(Part { name, path, bytes }),
            Err(e) => errors.push(*e),
        }
    }
    if !errors.is_empty() {
        return Err(Failure::all(errors));
    }
    Ok(parts)
}

/// Parses every part; all parse errors at once, each naming the file.
fn parse(parts: &[Part]) -> Result<LibrarySet<'_>, Failure> {
    let mut libraries = Vec::with_capacity(parts.len());
    let mut errors = Vec::new();
    let mut diagnostics = Vec::new();
    for p in parts {
        match Library::parse(&p.name, &p.bytes) {
            Ok(lib) => libraries.push((lib, false)),
            Err(e) => {
                diagnostics.push(diagnostic::parse_error(&e).file(&p.path));
                if p.path.as_os_str() == p.name.as_str() {
                    errors.push(e.to_string());
                } else {
                    errors.push(format!("`{}`: {e}", p.path.display()));
                }
            }
        }
    }
    let human = match errors.as_slice() {
        [] => return Ok(LibrarySet::new(libraries)),
        [only] => format!("malformed input: {only}"),
        _ => format!(
            "{} inputs are malformed:\n  - {}",
            errors.len(),
            errors.join("\n  - ")
        ),
    };
    Err(Failure { human, diagnostics })
}

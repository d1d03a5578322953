//! `weld fuse`: reads the inputs, fuses them into one dynamic library with weld-fuse, writes it
//! and says what was fused.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use weld_graph::LibrarySet;
use weld_module::Library;

use crate::input::{self, Input};
use crate::output::Output;
use crate::print;

/// Fuses dynamic libraries into one dynamic library.
#[derive(Args)]
pub(crate) struct FuseArgs {
    /// Libraries to fuse, as `[NAME=]FILE`, in the order their data and table regions are laid
    /// out. NAME defaults to the file name; NEEDED entries naming a part are satisfied inside.
    #[arg(value_name = "[NAME=]MODULE", required = true)]
    libraries: Vec<String>,

    /// Where to write the fused library.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,

    /// The fused library's name (its name section's module name); defaults to OUT's file name.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// Nothing outside the parts defines a symbol they use: weak definitions are bound inside
    /// too, instead of staying imports that a strong definition elsewhere could override.
    #[arg(long)]
    closed: bool,

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
pub(crate) fn run(args: FuseArgs) -> Result<()> {
    let parts = read_parts(&args)?;
    let output = Output::new(&args.output, false)?;
    output.check_not_an_input(parts.iter().map(|p| (p.path.as_path(), p.bytes.file)))?;
    let set = parse(&parts)?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => args
            .output
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "fused.so".to_string()),
    };
    let mut options = weld_fuse::FuseOptions::new(name);
    options.closed = args.closed;
    let ids: Vec<_> = set.ids().collect();
    let fused = match weld_fuse::fuse(&set, &ids, &options) {
        Ok(f) => f,
        Err(e) => bail!("{e}"),
    };
    output.finish(&fused.bytes)?;
    let warnings = fused.duplicates.iter().map(|(symbol, winner, losers)| {
        format!(
            "symbol `{symbol}` is defined by {winner} and also by {}; using the definition in {winner}",
            losers.join(", ")
        )
    });
    print::stderr_lines("warning: ", warnings);
    if args.verbose {
        let lines = fused.parts.iter().map(|p| {
            format!(
                "part {}: data at __memory_base + {:#x}, table at __table_base + {}",
                p.name, p.data_offset, p.table_offset
            )
        });
        print::stderr_lines("weld: ", lines);
    }
    Ok(())
}

/// Reads every part; all read errors at once.
fn read_parts(args: &FuseArgs) -> Result<Vec<Part>> {
    let mut errors = Vec::new();
    let mut parts = Vec::new();
    for spec in &args.libraries {
        let read = input::spec(spec, str::to_string)
            .and_then(|(name, path)| Ok((input::read_module(&path)?, name, path)));
        match read {
            Ok((bytes, name, path)) => parts.push(Part { name, path, bytes }),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\nerror: "));
    }
    Ok(parts)
}

/// Parses every part; all parse errors at once, each naming the file.
fn parse(parts: &[Part]) -> Result<LibrarySet<'_>> {
    let mut libraries = Vec::with_capacity(parts.len());
    let mut errors = Vec::new();
    for p in parts {
        match Library::parse(&p.name, &p.bytes) {
            Ok(lib) => libraries.push((lib, false)),
            Err(e) if p.path.as_os_str() == p.name.as_str() => errors.push(e.to_string()),
            Err(e) => errors.push(format!("`{}`: {e}", p.path.display())),
        }
    }
    match errors.as_slice() {
        [] => Ok(LibrarySet::new(libraries)),
        [only] => bail!("malformed input: {only}"),
        _ => bail!(
            "{} inputs are malformed:\n  - {}",
            errors.len(),
            errors.join("\n  - ")
        ),
    }
}

//! The `weld` command: link WebAssembly dynamic libraries into a component, or inspect them.
//!
//! This binary only parses arguments and prints; the work is done by `weld-component` (linking)
//! and `weld-module` (inspection).

mod inspect;
mod output;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

/// Links WebAssembly dynamic libraries (tool-conventions DynamicLinking.md) into one component.
#[derive(Parser)]
#[command(name = "weld", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Link dynamic libraries into a component.
    Link(LinkArgs),
    /// Print what weld reads from dynamic libraries: dylink.0, imports and exports.
    Inspect(InspectArgs),
}

#[derive(Args)]
struct LinkArgs {
    /// Libraries to link, as `[NAME=]FILE`. NAME defaults to the file name and must match the
    /// dylink.0 NEEDED entries of the libraries that depend on it. FILE may be binary or WAT.
    #[arg(value_name = "[NAME=]MODULE")]
    libraries: Vec<String>,

    /// Where to write the component.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,

    /// Stack size in bytes (the stack is placed first in memory).
    #[arg(long, value_name = "N", default_value_t = weld_component::DEFAULT_STACK_SIZE)]
    stack_size: u32,

    /// Validate the output component.
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    validate: bool,

    /// Same as `--validate=false` (accepted for wasm-tools compatibility).
    #[arg(long, hide = true)]
    skip_validation: bool,

    /// When to use colour in messages (weld's messages are plain text, so every choice gives the
    /// same output; accepted for wasm-tools compatibility).
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "always", "never", "always-ansi"])]
    color: String,

    /// Replace unresolved function imports with functions that trap when called.
    #[arg(long)]
    stub_missing_functions: bool,

    /// What a symbol defined strongly by several libraries is: a warning (the first definition
    /// in input order is used) or an error.
    #[arg(long, value_name = "warn|error", default_value = "warn")]
    duplicate_symbols: DuplicatePolicy,

    /// A library that can be opened with `dlopen(NAME)`, as `[NAME=]MODULE` (repeatable). Its
    /// function and data symbols go into the dlopen table; it is kept even if unused.
    #[arg(long = "dl-openable", value_name = "[NAME=]MODULE")]
    dl_openable: Vec<String>,

    /// Link weld's built-in libdl.so (dlopen, dlsym, dlclose, dlerror over the dlopen table).
    #[arg(long)]
    use_built_in_libdl: bool,

    /// An adapter module, as `[NAME=]MODULE` (NAME defaults to the file name up to its first
    /// `.`, e.g. `wasi_snapshot_preview1`). Library imports from module NAME go to the adapter.
    #[arg(long = "adapt", value_name = "[NAME=]MODULE")]
    adapters: Vec<String>,

    /// Adapters allocate with `memory.grow` instead of importing `cabi_realloc`.
    #[arg(long)]
    realloc_via_memory_grow: bool,

    /// Merge semver-compatible interface imports.
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    merge_imports_based_on_semver: bool,

    /// Reject core names from before the component model's standard name mangling.
    #[arg(long)]
    reject_legacy_names: bool,

    /// Emit canonical (`@0.2`-style) interface names.
    #[arg(long)]
    emit_canonical_names: bool,

    /// Add name sections to the output.
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    debug_names: bool,

    /// Make indirect-call shims use `return_call_ref` (tail calls and typed function references).
    #[arg(long, value_name = "BOOL", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    return_call_ref: bool,

    /// Write the component in the WebAssembly text format.
    #[arg(short = 't', long)]
    wat: bool,

    /// Explain the link: libraries kept or pruned and why, shims, duplicates, layout.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DuplicatePolicy {
    Warn,
    Error,
}

#[derive(Args)]
struct InspectArgs {
    /// Libraries to inspect (binary or WAT).
    #[arg(required = true)]
    files: Vec<PathBuf>,

    /// Print JSON (one document with an array of libraries) instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Link(args) => link(args),
        Command::Inspect(args) => inspect::run(&args.files, args.json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// An input module: a binary mapped from its file, or WAT compiled to a binary.
pub(crate) enum Input {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Input {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Input::Mapped(m) => m,
            Input::Owned(v) => v,
        }
    }
}

/// Reads a module as binary, or as WAT when it is text. Binaries are memory-mapped rather than
/// read: weld copies each library's bytes once, into the output, and the mapping saves another
/// copy (13 MB for CPython's libraries).
pub(crate) fn read_module(path: &Path) -> Result<Input> {
    let cannot = || format!("cannot read `{}`", path.display());
    let file = std::fs::File::open(path).with_context(cannot)?;
    let len = file.metadata().with_context(cannot)?.len();
    let bytes = if len >= 4096 {
        // SAFETY: the mapping is read-only and private to this process. weld reads input files
        // it was given; like any program reading a file, it relies on nobody truncating them
        // while it runs (a concurrent truncation would fault, not corrupt weld's state).
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.with_context(cannot)?;
        Input::Mapped(map)
    } else {
        Input::Owned(std::fs::read(path).with_context(cannot)?)
    };
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    match wat::parse_bytes(&bytes) {
        Ok(b) => Ok(Input::Owned(b.into_owned())),
        Err(e) => bail!(
            "`{}` is neither a WebAssembly binary nor valid WAT: {e}",
            path.display()
        ),
    }
}

fn link(args: LinkArgs) -> Result<()> {
    if args.libraries.is_empty() && args.dl_openable.is_empty() {
        bail!(
            "no libraries to link: give at least one `[NAME=]MODULE` or `--dl-openable [NAME=]MODULE`"
        );
    }
    let mut read_errors = Vec::new();
    let mut paths: Vec<(String, PathBuf)> = Vec::new();
    // All inputs are read first: the linker borrows them.
    let mut inputs: Vec<(String, Input, bool)> = Vec::new();
    let specs = args
        .libraries
        .iter()
        .map(|s| (s, false))
        .chain(args.dl_openable.iter().map(|s| (s, true)));
    for (spec, dl_openable) in specs {
        let (name, path) = match spec.split_once('=') {
            Some((name, path)) if !name.is_empty() => (name.to_string(), PathBuf::from(path)),
            _ => {
                let path = PathBuf::from(spec);
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| spec.clone());
                (name, path)
            }
        };
        match read_module(&path) {
            Ok(bytes) => {
                inputs.push((name.clone(), bytes, dl_openable));
                paths.push((name, path));
            }
            Err(e) => read_errors.push(format!("{e:#}")),
        }
    }
    let mut adapters = Vec::new();
    for spec in &args.adapters {
        let (name, path) = match spec.split_once('=') {
            Some((name, path)) if !name.is_empty() => (name.to_string(), PathBuf::from(path)),
            _ => {
                let path = PathBuf::from(spec);
                let file = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| spec.clone());
                let name = file.split('.').next().unwrap_or(&file).to_string();
                (name, path)
            }
        };
        match read_module(&path) {
            Ok(bytes) => adapters.push((name, bytes.to_vec())),
            Err(e) => read_errors.push(format!("{e:#}")),
        }
    }
    if !read_errors.is_empty() {
        bail!("{}", read_errors.join("\nerror: "));
    }
    let mut linker = weld_component::Linker::default();
    for (name, bytes, dl_openable) in &inputs {
        if *dl_openable {
            linker.dl_openable(name.clone(), &bytes[..]);
        } else {
            linker.library(name.clone(), &bytes[..]);
        }
    }
    for (name, bytes) in adapters {
        linker.adapter(name, bytes);
    }
    {
        let o = linker.options_mut();
        o.realloc_via_memory_grow = args.realloc_via_memory_grow;
        o.merge_imports_based_on_semver = Some(args.merge_imports_based_on_semver);
        o.reject_legacy_names = args.reject_legacy_names;
        o.emit_canonical_names = args.emit_canonical_names;
        o.debug_names = args.debug_names;
        o.return_call_ref = args.return_call_ref;
    }
    linker
        .stack_size(args.stack_size)
        .validate(args.validate && !args.skip_validation)
        .stub_missing_functions(args.stub_missing_functions)
        .use_built_in_libdl(args.use_built_in_libdl)
        .duplicate_symbols_are_errors(matches!(args.duplicate_symbols, DuplicatePolicy::Error));
    // The output is written while the last of validation runs, to a temporary file that is
    // renamed into place only once the link has succeeded.
    let mut output = output::Output::new(&args.output, args.wat);
    let encoded = output.link(&linker);
    let linked = match encoded {
        Ok(l) => l,
        Err(weld_component::LinkError::Parse(errors)) => {
            // Name the file as well as the library.
            let lines: Vec<String> = errors
                .iter()
                .map(|e| match paths.iter().find(|(n, _)| *n == e.library) {
                    Some((_, path)) if path.as_os_str() != e.library.as_str() => {
                        format!("`{}` (library `{}`): {}", path.display(), e.library, at(e))
                    }
                    _ => format!("`{}`: {}", e.library, at(e)),
                })
                .collect();
            bail!("malformed input:\n  {}", lines.join("\n  "));
        }
        Err(e) => return Err(e.into()),
    };
    for w in &linked.report.warnings {
        eprintln!("warning: {w}");
    }
    if args.verbose {
        for line in linked.report.lines() {
            eprintln!("weld: {line}");
        }
    }
    output.finish(&linked.component)
}

/// A parse error's position and message.
fn at(e: &weld_module::ParseError) -> String {
    match e.offset {
        Some(o) => format!("at byte offset {o:#x}: {}", e.message),
        None => e.message.clone(),
    }
}

//! `weld link`: reads the inputs, configures the [`Linker`], links while writing the output,
//! and prints warnings and the report.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use weld_component::{LinkError, Linker, ParseError};

use crate::input::{self, Input};
use crate::output::Output;
use crate::print;

/// Links WebAssembly dynamic libraries into a component.
#[derive(Args)]
pub(crate) struct LinkArgs {
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

    /// Fuse every kept library (dl-openable ones included) into one core module before linking:
    /// calls between libraries become direct calls, and there is no limit of about 1,000
    /// libraries (a component holds at most 1,000 core modules).
    #[arg(long)]
    fuse: bool,

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

/// An input library: its name, its file and its bytes.
struct Library {
    name: String,
    path: PathBuf,
    bytes: Input,
    dl_openable: bool,
}

/// An adapter: its name, its file and its bytes.
struct Adapter {
    name: String,
    path: PathBuf,
    bytes: Input,
}

/// Runs `weld link`.
pub(crate) fn run(args: LinkArgs) -> Result<()> {
    if args.libraries.is_empty() && args.dl_openable.is_empty() {
        bail!(
            "no libraries to link: give at least one `[NAME=]MODULE` or `--dl-openable [NAME=]MODULE`"
        );
    }
    // All inputs are read first: the linker borrows them.
    let (libraries, adapters) = read_inputs(&args)?;
    let mut output = Output::new(&args.output, args.wat)?;
    let inputs = libraries.iter().map(|l| (l.path.as_path(), l.bytes.file));
    output.check_not_an_input(
        inputs.chain(adapters.iter().map(|a| (a.path.as_path(), a.bytes.file))),
    )?;
    let linker = configure(&args, &libraries, &adapters);
    // The output is written while the last of validation runs, to a staging file that is
    // renamed into place only once the link has succeeded.
    let linked = match output.link(&linker) {
        Ok(l) => l,
        Err(LinkError::Parse(errors)) => bail!(parse_errors(&libraries, &errors)),
        // The message is the whole story: the error's sources repeat parts of it.
        Err(e) => bail!("{e}"),
    };
    // The output is in place before anything is printed: a reader that stops reading (`| head`)
    // cannot undo the link.
    output.finish(&linked.component)?;
    print::stderr_lines("warning: ", &linked.report.warnings);
    if args.verbose {
        print::stderr_lines("weld: ", linked.report.lines());
    }
    Ok(())
}

/// Reads every library and adapter; all read errors at once.
fn read_inputs(args: &LinkArgs) -> Result<(Vec<Library>, Vec<Adapter>)> {
    let mut errors = Vec::new();
    let mut libraries = Vec::new();
    let specs = args
        .libraries
        .iter()
        .map(|s| (s, false))
        .chain(args.dl_openable.iter().map(|s| (s, true)));
    for (spec, dl_openable) in specs {
        let read = input::spec(spec, str::to_string)
            .and_then(|(name, path)| Ok((input::read_module(&path)?, name, path)));
        match read {
            Ok((bytes, name, path)) => libraries.push(Library {
                name,
                path,
                bytes,
                dl_openable,
            }),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    let mut adapters = Vec::new();
    for spec in &args.adapters {
        // An adapter's name defaults to its file name up to the first `.`.
        let read = input::spec(spec, |file| {
            file.split('.').next().unwrap_or(file).to_string()
        })
        .and_then(|(name, path)| Ok((input::read_module(&path)?, name, path)));
        match read {
            Ok((bytes, name, path)) => adapters.push(Adapter { name, path, bytes }),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\nerror: "));
    }
    Ok((libraries, adapters))
}

/// The linker for `args`, borrowing the libraries' bytes.
fn configure<'a>(args: &LinkArgs, libraries: &'a [Library], adapters: &[Adapter]) -> Linker<'a> {
    let mut linker = Linker::default();
    for lib in libraries {
        if lib.dl_openable {
            linker.dl_openable(lib.name.clone(), &*lib.bytes);
        } else {
            linker.library(lib.name.clone(), &*lib.bytes);
        }
    }
    for adapter in adapters {
        linker.adapter(adapter.name.clone(), adapter.bytes.to_vec());
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
        .fuse(args.fuse)
        .duplicate_symbols_are_errors(matches!(args.duplicate_symbols, DuplicatePolicy::Error));
    linker
}

/// The message of `LinkError::Parse(errors)`, each error naming the file as well as the library
/// where they differ. When every library is named by its path, this is the error's own message.
fn parse_errors(libraries: &[Library], errors: &[ParseError]) -> String {
    let located = |e: &ParseError| match libraries.iter().find(|l| l.name == e.library) {
        Some(l) if l.path.as_os_str() != e.library.as_str() => {
            let at = match e.offset {
                Some(o) => format!("at byte offset {o:#x}: {}", e.message),
                None => e.message.clone(),
            };
            format!("`{}` (library `{}`): {at}", l.path.display(), e.library)
        }
        _ => e.to_string(),
    };
    match errors {
        [only] => format!("malformed input: {}", located(only)),
        _ => {
            let mut text = format!("{} inputs are malformed:", errors.len());
            for e in errors {
                text.push_str("\n  - ");
                text.push_str(&located(e));
            }
            text
        }
    }
}

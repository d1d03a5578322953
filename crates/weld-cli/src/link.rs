//! `weld link`: reads the inputs, finds the NEEDED libraries no input provides (`-L`,
//! `RUNTIME_PATH`), configures the [`Linker`], links while writing the output, and prints
//! warnings, the report (`-v`) and the report files (`--report`, `--map`, `--graph`).

use std::path::{Path, PathBuf};

use clap::Args;
use weld_component::search::{self, FoundIn, Known};
use weld_component::{LinkError, Linker, ParseError};

use crate::diagnostic::{self, Diagnostic, Failure, Files, MessageFormat};
use crate::input::{self, Input};
use crate::output::Output;
use crate::report::{self, Found, Origin, Sources};
use crate::{graph, map};

/// Links WebAssembly dynamic libraries into a component.
#[derive(Args)]
pub(crate) struct LinkArgs {
    /// Libraries to link, as `[NAME=]FILE`. NAME defaults to the file name and must match the
    /// dylink.0 NEEDED entries of the libraries that depend on it. FILE may be binary or WAT.
    #[arg(value_name = "[NAME=]MODULE")]
    libraries: Vec<String>,

    /// Where to write the component; without it, standard output (binary output is not written
    /// to a terminal).
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,

    /// A directory to look for NEEDED libraries in that no input provides (repeatable, searched
    /// in order, before the needing library's RUNTIME_PATH). A library found is linked under its
    /// NEEDED name.
    #[arg(short = 'L', value_name = "DIR")]
    search_dirs: Vec<PathBuf>,

    /// Write the link report as JSON (the schema is in docs/report.md).
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,

    /// Write the link map: the report as text, one section per topic.
    #[arg(long, value_name = "FILE")]
    map: Option<PathBuf>,

    /// Write the library dependency graph in Graphviz DOT.
    #[arg(long, value_name = "FILE.dot")]
    graph: Option<PathBuf>,

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

    /// Explain the link: where searched libraries were found, libraries kept or pruned and why,
    /// shims, duplicates, layout.
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
    /// Where the search found it, when no input provided it.
    found: Option<Found>,
}

/// An adapter: its name, its file and its bytes.
struct Adapter {
    name: String,
    path: PathBuf,
    bytes: Input,
}

/// Runs `weld link`.
pub(crate) fn run(args: LinkArgs, format: MessageFormat) -> Result<(), Failure> {
    if args.libraries.is_empty() && args.dl_openable.is_empty() {
        return Err(Failure::one(Diagnostic::error(
            "usage",
            "no libraries to link: give at least one `[NAME=]MODULE` or `--dl-openable [NAME=]MODULE`",
        )));
    }
    // All inputs are read first: the linker borrows them.
    let (mut libraries, adapters) = read_inputs(&args)?;
    find_needed(&args, &mut libraries)?;
    let output_error = |e: anyhow::Error| diagnostic::other("output", &e);
    let mut output = Output::new_or_stdout(args.output.as_deref(), args.wat, "a component")
        .map_err(output_error)?;
    // The report files are checked before linking too.
    let mut extras = Vec::new();
    for (path, what) in [
        (&args.report, Extra::Report),
        (&args.map, Extra::Map),
        (&args.graph, Extra::Graph),
    ] {
        if let Some(path) = path {
            extras.push((Output::new(path, false).map_err(output_error)?, what));
        }
    }
    let inputs = || {
        libraries
            .iter()
            .map(|l| (l.path.as_path(), l.bytes.file))
            .chain(adapters.iter().map(|a| (a.path.as_path(), a.bytes.file)))
    };
    output.check_not_an_input(inputs()).map_err(output_error)?;
    for (extra, _) in &extras {
        extra.check_not_an_input(inputs()).map_err(output_error)?;
    }
    let linker = configure(&args, &libraries, &adapters);
    let files = Files(
        libraries
            .iter()
            .map(|l| (l.name.clone(), l.path.clone()))
            .collect(),
    );
    // The output is written while the last of validation runs, to a staging file that is
    // renamed into place only once the link has succeeded.
    let linked = match output.link(&linker) {
        Ok(l) => l,
        Err(e) => {
            let human = match &e {
                LinkError::Parse(errors) => parse_errors(&libraries, errors),
                // The message is the whole story: the error's sources repeat parts of it.
                _ => e.to_string(),
            };
            return Err(diagnostic::link_error(&e, &files, human));
        }
    };
    // The output is in place before anything is printed: a reader that stops reading (`| head`)
    // cannot undo the link.
    output.finish(&linked.component).map_err(output_error)?;
    let sources = Sources {
        origins: libraries
            .iter()
            .map(|l| {
                let origin = Origin {
                    file: l.path.clone(),
                    found: l.found.clone(),
                };
                (l.name.clone(), origin)
            })
            .collect(),
        output: args.output.clone(),
    };
    for (extra, what) in extras {
        let text = match what {
            Extra::Report => report::json(&linked.report, &sources),
            Extra::Map => map::text(&linked.report, &sources),
            Extra::Graph => graph::dot(&linked.report),
        };
        extra.finish(text.as_bytes()).map_err(output_error)?;
    }
    let warnings: Vec<Diagnostic> = linked
        .report
        .warnings
        .iter()
        .map(|w| files.locate(diagnostic::warning(w)))
        .collect();
    diagnostic::print(format, &warnings);
    if args.verbose {
        let found = libraries.iter().filter_map(|l| {
            let f = l.found.as_ref()?;
            let place = match (&f.search_dir, &f.runtime_path) {
                (Some(dir), _) => format!("in -L `{}`", dir.display()),
                (None, Some(entry)) => format!(
                    "through the RUNTIME_PATH entry `{}` of {}",
                    weld_component::weld_module::text::escape(entry),
                    weld_component::weld_module::text::escape(&f.needed_by)
                ),
                (None, None) => String::new(),
            };
            Some(Diagnostic::info(
                "found",
                format!(
                    "found {} (NEEDED by {}) {place}: {}",
                    weld_component::weld_module::text::escape(&l.name),
                    weld_component::weld_module::text::escape(&f.needed_by),
                    l.path.display()
                ),
            ))
        });
        let lines = linked
            .report
            .lines()
            .into_iter()
            .map(|line| Diagnostic::info("report", line));
        diagnostic::print(format, &found.chain(lines).collect::<Vec<_>>());
    }
    Ok(())
}

/// A report file.
#[derive(Clone, Copy)]
enum Extra {
    Report,
    Map,
    Graph,
}

/// Reads every library and adapter; all read errors at once.
fn read_inputs(args: &LinkArgs) -> Result<(Vec<Library>, Vec<Adapter>), Failure> {
    let mut errors = Vec::new();
    let mut libraries = Vec::new();
    let specs = args
        .libraries
        .iter()
        .map(|s| (s, false))
        .chain(args.dl_openable.iter().map(|s| (s, true)));
    for (spec, dl_openable) in specs {
        match read_spec(spec, str::to_string) {
            Ok((bytes, name, path)) => libraries.push(Library {
                name,
                path,
                bytes,
                dl_openable,
                found: None,
            }),
            Err(e) => errors.push(*e),
        }
    }
    let mut adapters = Vec::new();
    for spec in &args.adapters {
        // An adapter's name defaults to its file name up to the first `.`.
        let read = read_spec(spec, |file| {
            file.split('.').next().unwrap_or(file).to_string()
        });
        match read {
            Ok((bytes, name, path)) => adapters.push(Adapter { name, path, bytes }),
            Err(e) => errors.push(*e),
        }
    }
    if !errors.is_empty() {
        return Err(Failure::all(errors));
    }
    Ok((libraries, adapters))
}

/// Reads the module of one `[NAME=]FILE` argument: its bytes, name and path.
pub(crate) fn read_spec(
    spec: &str,
    default_name: impl Fn(&str) -> String,
) -> Result<(Input, String, PathBuf), Box<Diagnostic>> {
    let (name, path) = input::spec(spec, default_name)
        .map_err(|e| Box::new(Diagnostic::error("usage", format!("{e:#}"))))?;
    match input::read_module(&path) {
        Ok(bytes) => Ok((bytes, name, path)),
        Err(e) => Err(Box::new(
            Diagnostic::error(e.kind.code(), e.message).file(&path),
        )),
    }
}

/// Adds the libraries that NEEDED entries name and no input provides, found in the `-L`
/// directories, then in the needing library's RUNTIME_PATH (see [`weld_component::search`]).
fn find_needed(args: &LinkArgs, libraries: &mut Vec<Library>) -> Result<(), Failure> {
    let mut known: Vec<Known<'_>> = libraries
        .iter()
        .map(|l| Known {
            name: &l.name,
            file: Some(&l.path),
            bytes: &l.bytes,
        })
        .collect();
    // The built-in libdl provides its name.
    if args.use_built_in_libdl {
        known.push(Known {
            name: weld_component::weld_synth::libdl::LIBDL_NAME,
            file: None,
            bytes: &[],
        });
    }
    let found = search::find(&args.search_dirs, &known, |path: &Path| {
        input::read_module(path).map_err(|e| e.message)
    })
    .map_err(|e| {
        Failure::one(
            Diagnostic::error("search-unreadable", e.to_string())
                .file(&e.path)
                .library(&e.name),
        )
    })?;
    for f in found {
        let (search_dir, runtime_path) = match &f.found_in {
            FoundIn::SearchDir(i) => (args.search_dirs.get(*i).cloned(), None),
            FoundIn::RuntimePath(entry) => (None, Some(entry.clone())),
            _ => (None, None),
        };
        libraries.push(Library {
            name: f.name,
            path: f.path,
            bytes: f.bytes,
            dl_openable: false,
            found: Some(Found {
                needed_by: f.needed_by,
                search_dir,
                runtime_path,
            }),
        });
    }
    Ok(())
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
    linker.options_mut().search_dirs = args.search_dirs.clone();
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

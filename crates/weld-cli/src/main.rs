//! The `weld` command: link WebAssembly dynamic libraries into a component, fuse them into one
//! library, or inspect them.
//!
//! This binary only parses arguments and prints; the work is done by `weld-component` (linking),
//! `weld-fuse` (fusion) and `weld-module` (inspection).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod diagnostic;
mod fuse;
mod graph;
mod input;
mod inspect;
mod link;
mod map;
mod output;
mod print;
mod report;
mod signals;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};

use diagnostic::{Diagnostic, MessageFormat};

/// Links WebAssembly dynamic libraries (tool-conventions DynamicLinking.md) into one component.
#[derive(Parser)]
#[command(name = "weld", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// How to print errors and warnings: as text, or as one JSON object per line on stderr
    /// (fields `level`, `message`, `code`, `library`, `symbol`, `file`, `offset`; see
    /// docs/report.md).
    #[arg(long, global = true, value_name = "FORMAT", default_value = "human")]
    message_format: MessageFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Link dynamic libraries into a component.
    Link(link::LinkArgs),
    /// Fuse dynamic libraries into one dynamic library (one core module), which links like any
    /// other.
    Fuse(fuse::FuseArgs),
    /// Print what weld reads from dynamic libraries: dylink.0, imports and exports.
    Inspect(InspectArgs),
    /// Print a completion script for a shell (e.g. `weld completions bash > ~/.local/share/bash-completion/completions/weld`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    signals::install();
    let format = cli.message_format;
    let result = match cli.command {
        Command::Link(args) => link::run(args, format),
        Command::Fuse(args) => fuse::run(args, format),
        Command::Inspect(args) => inspect::run(&args.files, args.json),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "weld", &mut script);
            print::stdout(&String::from_utf8_lossy(&script));
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            match format {
                MessageFormat::Human => print::stderr_lines("error: ", [failure.human]),
                MessageFormat::Json => diagnostic::print(format, &failure.diagnostics),
            }
            ExitCode::FAILURE
        }
    }
}

/// Prints a clap error (help, version, or a usage error) and gives its exit status. With
/// `--message-format json` among the arguments, a usage error is a JSON diagnostic.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let code = ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !informational && json_requested(std::env::args_os().skip(1)) {
        let message = e.kind().as_str().map_or_else(
            || e.to_string(),
            |kind| {
                // clap's rendering without its "error: " prefix and usage lines.
                let text = e.render().to_string();
                let first = text.lines().next().unwrap_or(kind);
                first.strip_prefix("error: ").unwrap_or(first).to_string()
            },
        );
        diagnostic::print(MessageFormat::Json, &[Diagnostic::error("usage", message)]);
        return code;
    }
    // A closed stream is not a reason to panic.
    let _ = e.print();
    code
}

/// Whether the arguments ask for JSON messages (`--message-format json` or
/// `--message-format=json`), read before clap could parse them.
fn json_requested(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let mut previous_was_flag = false;
    for arg in args {
        let arg = arg.to_string_lossy();
        if arg == "--message-format=json" || (previous_was_flag && arg == "json") {
            return true;
        }
        previous_was_flag = arg == "--message-format";
    }
    false
}

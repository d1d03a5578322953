//! The `weld` command: link WebAssembly dynamic libraries into a component, or inspect them.
//!
//! This binary only parses arguments and prints; the work is done by `weld-component` (linking)
//! and `weld-module` (inspection).

mod input;
mod inspect;
mod link;
mod output;
mod signals;

use std::path::PathBuf;
use std::process::ExitCode;

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
    Link(link::LinkArgs),
    /// Print what weld reads from dynamic libraries: dylink.0, imports and exports.
    Inspect(InspectArgs),
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
    signals::install();
    let result = match cli.command {
        Command::Link(args) => link::run(args),
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

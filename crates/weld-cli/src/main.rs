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

mod fuse;
mod input;
mod inspect;
mod link;
mod output;
mod print;
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
    /// Fuse dynamic libraries into one dynamic library (one core module), which links like any
    /// other.
    Fuse(fuse::FuseArgs),
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help, version or a usage error; a closed stream is not a reason to panic.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    signals::install();
    let result = match cli.command {
        Command::Link(args) => link::run(args),
        Command::Fuse(args) => fuse::run(args),
        Command::Inspect(args) => inspect::run(&args.files, args.json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print::stderr_lines("error: ", [format!("{e:#}")]);
            ExitCode::FAILURE
        }
    }
}

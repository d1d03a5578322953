//! Project automation: `cargo xtask <subcommand>` (an alias for
//! `cargo run --quiet --package xtask --`, see `.cargo/config.toml`).
//!
//! Subcommands:
//! - `demo`: link the bundled examples with weld and run the result in wasmtime.
//! - `fixtures [--check]`: build the C test fixtures (`tests/fixtures/*.so`)
//!   and the example libraries (`examples/*.so`), or with `--check` verify
//!   that the committed ones are byte-identical to a fresh build.

use std::process::ExitCode;

mod bench;
mod conformance;
mod cpython;
mod demo;
mod fixtures;
mod snapshot;

const USAGE: &str = "\
usage: cargo xtask <subcommand> [options]

subcommands:
  demo               link examples/*.so with weld and run the component in wasmtime
  bench [--runs N] [--sizes A,B,C] [--fused-sizes A,B,C] [--output-only]
                     time weld against wasm-tools (from PyPI) on generated chains and
                     CPython; fused chains; the output's speed, fused against apart
  conformance [-v]   link every case of wit-component's link test suite with weld and
                     with the reference, and compare the WIT worlds
  cpython [--rebuild] [--compare] [-v]
                     link CPython 3.14 (from componentize-py's wheel) with weld and run it
  fixtures           rebuild tests/fixtures/*.so and examples/*.so from their C sources
  fixtures --check   rebuild into a temporary directory and fail unless every
                     committed .so is byte-identical to the fresh build
  snapshot           link every input set in the repository and print a digest of each
                     output (diff two runs to check a change keeps behaviour)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("fixtures") => fixtures::run(&args[1..]),
        Some("demo") => demo::run(&args[1..]),
        Some("conformance") => conformance::run(&args[1..]),
        Some("cpython") => cpython::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("snapshot") => snapshot::run(&args[1..]),
        None | Some("help" | "-h" | "--help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(anyhow::anyhow!("unknown subcommand `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

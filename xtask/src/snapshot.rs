//! `cargo xtask snapshot`: links every input set the repository has — each case of
//! wit-component's link suite, the fixture program in every rotation (with the unused library),
//! the examples, every file in `tests/bad-inputs/` alone, and the CPython set when `cargo xtask
//! cpython` has extracted it — each apart and fused — and prints one line per link: the size and
//! a digest of the component, or the whole error text, and a digest of the report's lines.
//!
//! Run it before and after a change that must not change behaviour (a restructuring) and compare
//! the outputs with `diff`. (`fuzz/examples/snapshot.rs` does the same for generated sets.)

use std::path::Path;

use anyhow::{Result, bail};
use weld_tests::{PROGRAM, case_config, link_cases, prepare_case, repo_root, wit_component_suite};

/// FNV-1a, 64 bits: enough to tell outputs apart, with no dependency.
fn digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Two lines: the link as configured, then the same link fused (`LinkOptions::fuse`).
fn line(label: &str, linker: &mut weld_component::Linker<'_>) -> String {
    let one = |label: &str, linker: &weld_component::Linker<'_>| match linker.encode() {
        Ok(linked) => format!(
            "{label}: ok {} bytes {:016x} report {:016x}",
            linked.component.len(),
            digest(&linked.component),
            digest(linked.report.lines().join("\n").as_bytes())
        ),
        Err(e) => format!("{label}: error {:?}", e.to_string()),
    };
    let apart = one(label, linker);
    linker.fuse(true);
    let fused = one(&format!("{label} (fused)"), linker);
    linker.fuse(false);
    format!("{apart}\n{fused}")
}

pub fn run(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("`snapshot` takes no arguments (got `{a}`)");
    }
    let root = repo_root();
    for case in link_cases() {
        let dir = wit_component_suite().join(&case);
        let config = case_config(&dir)?;
        let mut linker = weld_component::Linker::default();
        linker
            .stub_missing_functions(config.stub_missing_functions)
            .use_built_in_libdl(config.use_built_in_libdl);
        linker.options_mut().return_call_ref = config.return_call_ref;
        linker.options_mut().realloc_via_memory_grow = config.realloc_via_memory_grow;
        linker.options_mut().emit_canonical_names = config.emit_canonical_names;
        for lib in prepare_case(&dir)? {
            if lib.adapter {
                linker.adapter(lib.name, lib.wasm);
            } else if lib.dl_openable {
                linker.dl_openable(lib.name, lib.wasm);
            } else {
                linker.library(lib.name, lib.wasm);
            }
        }
        println!("{}", line(&format!("conformance {case}"), &mut linker));
    }

    let mut all = PROGRAM.to_vec();
    all.push("libunused.so");
    for r in 0..all.len() {
        let mut order = all.clone();
        order.rotate_left(r);
        let mut linker = weld_component::Linker::default();
        for name in &order {
            linker.library(*name, read(&root.join("tests/fixtures").join(name))?);
        }
        println!(
            "{}",
            line(&format!("program {}", order.join(" ")), &mut linker)
        );
    }

    let mut linker = weld_component::Linker::default();
    for name in ["libdemo.so", "libgreet.so", "libcount.so"] {
        linker.library(name, read(&root.join("examples").join(name))?);
    }
    println!("{}", line("examples", &mut linker));

    let mut bad: Vec<_> = std::fs::read_dir(root.join("tests/bad-inputs"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("so" | "wasm")))
        .collect();
    bad.sort();
    for path in bad {
        let mut linker = weld_component::Linker::default();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        linker.library(name.clone().unwrap_or_default(), read(&path)?);
        println!(
            "{}",
            line(
                &format!("bad-input {}", name.unwrap_or_default()),
                &mut linker
            )
        );
    }

    let lib = root.join("target/cpython/lib");
    if lib.join("libpython3.14.so").is_file() {
        for ext in [false, true] {
            let mut linker = weld_component::Linker::default();
            linker.library(
                "libweld_cpython_driver.so",
                read(&root.join("cpython/libweld_cpython_driver.so"))?,
            );
            for name in crate::cpython::CPYTHON_SET {
                linker.library(*name, read(&lib.join(name))?);
            }
            if ext {
                linker.dl_openable("weldext.so", read(&root.join("cpython/weldext.so"))?);
            }
            linker.use_built_in_libdl(true).adapter(
                "wasi_snapshot_preview1",
                read(&lib.join("wasi_snapshot_preview1.reactor.wasm"))?,
            );
            println!("{}", line(&format!("cpython ext={ext}"), &mut linker));
        }
    } else {
        println!("cpython: not extracted (run `cargo xtask cpython` first)");
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

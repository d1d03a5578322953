//! `cargo xtask demo`: links the bundled examples with weld and runs the component in wasmtime.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// The example libraries, deliberately not in dependency order: weld orders them itself.
const EXAMPLES: &[&str] = &["libdemo.so", "libgreet.so", "libcount.so"];

pub fn run(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("`demo` takes no arguments (got `{a}`)");
    }
    let root = weld_tests::repo_root();
    let mut linker = weld_component::Linker::default();
    for name in EXAMPLES {
        let path = root.join("examples").join(name);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        linker.library(*name, bytes);
    }
    let linked = linker.encode()?;
    for line in linked.report.lines() {
        println!("weld: {line}");
    }
    let out = root.join("target").join("demo.wasm");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &linked.component)?;
    println!(
        "weld: wrote {} ({} bytes); running `run` in wasmtime:\n",
        display(&out, &root),
        linked.component.len()
    );
    let mut running = weld_tests::Running::new(&linked.component)?;
    let report = running.call_string("run")?;
    println!("{report}");
    Ok(())
}

fn display(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

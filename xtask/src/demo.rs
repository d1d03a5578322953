//! `cargo xtask demo`: links the bundled examples with weld and runs the component in wasmtime;
//! says which files it linked, the equivalent `weld link` command, where it wrote the component
//! and how to run it again.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// The example libraries, deliberately not in dependency order: weld orders them itself.
const EXAMPLES: &[&str] = &["libdemo.so", "libgreet.so", "libcount.so"];

pub fn run(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("`demo` takes no arguments (got `{a}`)");
    }
    let root = weld_tests::repo_root();
    let files: Vec<String> = EXAMPLES.iter().map(|n| format!("examples/{n}")).collect();
    println!("weld: linking {}", files.join(" "));
    let mut linker = weld_component::Linker::default();
    for (name, file) in EXAMPLES.iter().zip(&files) {
        let path = root.join(file);
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
    let out_name = display(&out, &root);
    println!(
        "weld: wrote {out_name} ({} bytes); the same with the weld command:",
        linked.component.len()
    );
    println!(
        "  cargo run -q -p weld-cli -- link {} -o {out_name} -v",
        files.join(" ")
    );
    println!("weld: running its export `run` in wasmtime:\n");
    let mut running = weld_tests::Running::new(&linked.component)?;
    let report = running.call_string("run")?;
    println!("{}", report.trim_end());
    println!(
        "\nweld: to run it again with the wasmtime CLI (version 33 or later, which has --invoke for components):"
    );
    println!("  wasmtime run --invoke 'run()' {out_name}");
    Ok(())
}

fn display(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

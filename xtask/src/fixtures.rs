//! `cargo xtask fixtures [--check]`: build the WebAssembly shared libraries
//! used as test fixtures (`tests/fixtures/*.so`) and by the example
//! (`examples/*.so`) from their C sources.
//!
//! Everything is always built from scratch into a fresh temporary directory:
//! - without `--check` the results are then copied over the committed files;
//! - with `--check` they are compared byte for byte with the committed files
//!   and the command fails, naming every file that differs or is missing.
//!
//! Toolchain: `clang-19` and `wasm-ld-19` from `PATH`, or the programs named
//! by `WELD_CLANG` / `WELD_WASM_LD`. The outputs are deterministic: no debug
//! info, no paths (wasm-ld records only base names for `NEEDED` entries and
//! the module name), and WIT worlds are embedded with wit-component.

use anyhow::{Context, Result, bail, ensure};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use wit_parser::{Resolve, WorldItem};

/// Flags for compiling every fixture: position-independent wasm32 code, no
/// libc, no debug info (so no paths end up in the output).
const CFLAGS: &[&str] = &[
    "--target=wasm32-unknown-unknown",
    "-fPIC",
    "-nostdlib",
    "-O2",
];

/// Flags for linking every fixture into a shared library (a dynamic library
/// in the sense of tool-conventions' DynamicLinking.md).
const LDFLAGS: &[&str] = &[
    "--experimental-pic",
    "-shared",
    "--export=__wasm_call_ctors",
];

/// Added only while bootstrapping one side of a `NEEDED` cycle: symbols that
/// no linked library defines become plain imports instead of errors.
const BOOTSTRAP_LDFLAGS: &[&str] = &["--unresolved-symbols=import-dynamic"];

/// Symbols that would betray a hidden libc dependency (clang turns some loops
/// and struct copies into calls to these).
const LIBC_SYMBOLS: &[&str] = &["memcpy", "memmove", "memset", "memcmp", "strlen"];

/// One compile-and-link step.
struct Step {
    /// Output file name, e.g. `libbase.so`.
    lib: &'static str,
    /// C source file in the set's `src/` directory.
    source: &'static str,
    /// Libraries of the same set linked against, in this order. Each one
    /// becomes a `NEEDED` entry in `dylink.0` (unless the bootstrap link
    /// leaves it out).
    needed: &'static [&'static str],
    /// First link of one side of a `NEEDED` cycle: link without the other
    /// side (which does not exist yet) and let its symbols become imports.
    /// A later step links the same library again against the other side.
    bootstrap: bool,
    /// `(file in src/, world name)` of a WIT world to embed.
    world: Option<(&'static str, &'static str)>,
    /// A file in `src/` listing symbols (one a line) that may stay undefined: they become
    /// imports that weld binds (e.g. `dlopen` & co. to its built-in libdl).
    allow_undefined: Option<&'static str>,
}

impl Step {
    const fn new(lib: &'static str, source: &'static str, needed: &'static [&'static str]) -> Self {
        Step {
            lib,
            source,
            needed,
            bootstrap: false,
            world: None,
            allow_undefined: None,
        }
    }

    const fn bootstrap(mut self) -> Self {
        self.bootstrap = true;
        self
    }

    const fn world(mut self, file: &'static str, world: &'static str) -> Self {
        self.world = Some((file, world));
        self
    }

    const fn allow_undefined(mut self, file: &'static str) -> Self {
        self.allow_undefined = Some(file);
        self
    }
}

/// A directory of committed libraries built from `<dir>/src/*.c`.
struct Set {
    /// Relative to the workspace root.
    dir: &'static str,
    /// In build order; a library may be linked more than once (cycles), the
    /// last link wins.
    steps: &'static [Step],
}

const SETS: &[Set] = &[
    Set {
        dir: "tests/fixtures",
        steps: &[
            Step::new("libbase.so", "base.c", &[]),
            Step::new("libapp.so", "app.c", &["libbase.so"]),
            // libping <-> libpong: a NEEDED cycle. libping is linked once
            // without libpong, libpong against it, then libping again.
            Step::new("libping.so", "ping.c", &["libbase.so"]).bootstrap(),
            Step::new("libpong.so", "pong.c", &["libbase.so", "libping.so"]),
            Step::new("libping.so", "ping.c", &["libbase.so", "libpong.so"]),
            Step::new(
                "libmain.so",
                "main.c",
                &["libapp.so", "libbase.so", "libping.so"],
            )
            .world("fixtures.wit", "fixtures"),
            Step::new("libunused.so", "unused.c", &[]),
            // The cross-library call micro-benchmark.
            Step::new("libcallee.so", "callee.c", &[]),
            Step::new("libcaller.so", "caller.c", &["libcallee.so"]).world("calls.wit", "calls"),
            // The dlopen fixtures (tests/tests/dlopen.rs): a root calling <dlfcn.h>, a library
            // it NEEDS, and two plugins nobody NEEDS.
            Step::new("libdlhelper.so", "dlhelper.c", &["libbase.so"]),
            Step::new("libdlplugin.so", "dlplugin.c", &["libbase.so"]),
            Step::new("libdlplugin2.so", "dlplugin2.c", &["libbase.so"]),
            Step::new(
                "libdlmain.so",
                "dlmain.c",
                &["libbase.so", "libdlhelper.so"],
            )
            .allow_undefined("libdl.syms")
            .world("dlfixtures.wit", "dlfixtures"),
        ],
    },
    Set {
        dir: "examples",
        steps: &[
            // libcount <-> libgreet: a NEEDED cycle, bootstrapped the same way.
            Step::new("libcount.so", "count.c", &[]).bootstrap(),
            Step::new("libgreet.so", "greet.c", &["libcount.so"]),
            Step::new("libcount.so", "count.c", &["libgreet.so"]),
            Step::new("libdemo.so", "demo.c", &["libcount.so", "libgreet.so"])
                .world("demo.wit", "demo"),
        ],
    },
];

pub fn run(args: &[String]) -> Result<()> {
    let mut check = false;
    for arg in args {
        match arg.as_str() {
            "--check" => check = true,
            other => bail!("unknown argument `{other}` (usage: cargo xtask fixtures [--check])"),
        }
    }

    let root = workspace_root();
    let tools = Tools::find()?;
    let scratch = ScratchDir::new()?;

    let mut problems = Vec::new();
    for set in SETS {
        let built_dir = scratch.path().join(set.dir);
        let obj_dir = scratch.path().join("obj").join(set.dir);
        std::fs::create_dir_all(&built_dir)?;
        std::fs::create_dir_all(&obj_dir)?;
        let libs = build_set(&tools, &root.join(set.dir), set, &built_dir, &obj_dir)
            .with_context(|| format!("building {}", set.dir))?;

        for lib in &libs {
            let built = std::fs::read(built_dir.join(lib))?;
            let rel = format!("{}/{lib}", set.dir);
            let committed_path = root.join(set.dir).join(lib);
            let committed = std::fs::read(&committed_path).ok();
            let same = committed.as_deref() == Some(built.as_slice());
            if check {
                match (&committed, same) {
                    (_, true) => println!("ok        {rel}"),
                    (None, _) => {
                        println!("MISSING   {rel}");
                        problems.push(format!("{rel} is missing"));
                    }
                    (Some(_), false) => {
                        println!("DIFFERS   {rel}");
                        problems.push(format!("{rel} differs from a fresh build"));
                    }
                }
            } else if same {
                println!("unchanged {rel}");
            } else {
                std::fs::write(&committed_path, &built)
                    .with_context(|| format!("writing {}", committed_path.display()))?;
                println!("wrote     {rel} ({} bytes)", built.len());
            }
        }

        // Committed libraries this command does not produce are suspicious
        // (renamed fixture?) but may be intentional; just point them out.
        for entry in std::fs::read_dir(root.join(set.dir))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.ends_with(".so") && !libs.iter().any(|l| *l == name) {
                println!(
                    "note: {}/{name} is not built by `cargo xtask fixtures`",
                    set.dir
                );
            }
        }
    }

    if !problems.is_empty() {
        let mut msg = String::from("committed fixtures are out of date:\n");
        for p in &problems {
            let _ = writeln!(msg, "  {p}");
        }
        msg.push_str("run `cargo xtask fixtures` and commit the results");
        bail!(msg);
    }
    Ok(())
}

/// Runs all steps of `set`, writing the libraries into `out_dir`; returns
/// the distinct library names in first-build order.
fn build_set(
    tools: &Tools,
    set_dir: &Path,
    set: &Set,
    out_dir: &Path,
    obj_dir: &Path,
) -> Result<Vec<&'static str>> {
    let src_dir = set_dir.join("src");
    let mut libs: Vec<&'static str> = Vec::new();
    for step in set.steps {
        let obj = obj_dir.join(step.source).with_extension("o");
        if !obj.exists() {
            tools.compile(&src_dir, step.source, &obj)?;
        }
        link_step(tools, step, &src_dir, &obj, out_dir, out_dir)?;
        if !libs.contains(&step.lib) {
            libs.push(step.lib);
        }
    }

    // Every library must be a fixed point: linking it once more against the
    // final versions of its dependencies must reproduce it exactly. This is
    // what makes the bootstrapped cycles deterministic and independent of
    // the bootstrap link.
    let relink_dir = obj_dir.join("relink");
    std::fs::create_dir_all(&relink_dir)?;
    for lib in &libs {
        let step = set
            .steps
            .iter()
            .rev()
            .find(|s| s.lib == *lib)
            .expect("library has a step");
        let obj = obj_dir.join(step.source).with_extension("o");
        link_step(tools, step, &src_dir, &obj, out_dir, &relink_dir)?;
        let first = std::fs::read(out_dir.join(lib))?;
        let again = std::fs::read(relink_dir.join(lib))?;
        ensure!(
            first == again,
            "{lib}: relinking against the final dependencies gives a different file; \
             the build is not deterministic"
        );
    }

    for lib in &libs {
        let bytes = std::fs::read(out_dir.join(lib))?;
        let step = set.steps.iter().rev().find(|s| s.lib == *lib).unwrap();
        inspect(lib, &bytes, step, &src_dir).with_context(|| format!("checking {lib}"))?;
    }
    Ok(libs)
}

/// Links `obj` (plus `step.needed`, taken from `deps_dir`) into
/// `out_dir/step.lib`, then embeds the step's WIT world, if any.
fn link_step(
    tools: &Tools,
    step: &Step,
    src_dir: &Path,
    obj: &Path,
    deps_dir: &Path,
    out_dir: &Path,
) -> Result<()> {
    let out = out_dir.join(step.lib);
    let allow_undefined = step.allow_undefined.map(|f| src_dir.join(f));
    tools.link(
        obj,
        deps_dir,
        step.needed,
        &out,
        step.bootstrap,
        allow_undefined.as_deref(),
    )?;

    if let Some((wit, world)) = step.world {
        let mut bytes = std::fs::read(&out)?;
        embed_world(&mut bytes, &src_dir.join(wit), world)
            .with_context(|| format!("embedding world `{world}` from {wit} into {}", step.lib))?;
        std::fs::write(&out, &bytes)?;
    }
    Ok(())
}

/// Appends a `component-type` custom section describing `world` (from the
/// WIT file `wit`) to the module in `bytes`.
fn embed_world(bytes: &mut Vec<u8>, wit: &Path, world: &str) -> Result<()> {
    let (resolve, world_id) = load_world(wit, world)?;
    wit_component::embed_component_metadata(
        bytes,
        &resolve,
        world_id,
        wit_component::StringEncoding::UTF8,
        false,
    )
}

fn load_world(wit: &Path, world: &str) -> Result<(Resolve, wit_parser::WorldId)> {
    let mut resolve = Resolve::default();
    let pkg = resolve
        .push_file(wit)
        .with_context(|| format!("parsing {}", wit.display()))?;
    let world_id = resolve.select_world(&[pkg], Some(world))?;
    Ok((resolve, world_id))
}

/// Sanity checks on a built library:
/// - it validates;
/// - its first section is the `dylink.0` custom section (required by
///   DynamicLinking.md; embedding the world must not disturb it);
/// - it imports nothing from libc (no hidden memcpy & co.);
/// - every function of its WIT world is exported under its plain WIT name.
fn inspect(lib: &str, bytes: &[u8], step: &Step, src_dir: &Path) -> Result<()> {
    use wasmparser::{Parser, Payload};

    wasmparser::Validator::new()
        .validate_all(bytes)
        .context("the library does not validate")?;

    let mut first_section = None;
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload?;
        if first_section.is_none() {
            match &payload {
                Payload::Version { .. } => continue,
                Payload::CustomSection(c) => first_section = Some(c.name().to_string()),
                _ => first_section = Some("<a non-custom section>".to_string()),
            }
        }
        match payload {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    ensure!(
                        !LIBC_SYMBOLS.contains(&import.name),
                        "imports `{}.{}`: clang emitted a libc call; rewrite the C \
                         code (e.g. volatile stores) or define the function",
                        import.module,
                        import.name
                    );
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
    ensure!(
        first_section.as_deref() == Some("dylink.0"),
        "the first section is {first_section:?}, not the `dylink.0` custom section"
    );

    if let Some((wit, world)) = step.world {
        let (resolve, world_id) = load_world(&src_dir.join(wit), world)?;
        for (key, item) in &resolve.worlds[world_id].exports {
            let WorldItem::Function(func) = item else {
                bail!("{lib}: only world-level function exports are supported ({key:?})");
            };
            ensure!(
                exports.contains(&func.name),
                "WIT export `{}` has no core export of that name in {lib}",
                func.name
            );
        }
    }
    Ok(())
}

/// The C toolchain.
struct Tools {
    clang: PathBuf,
    wasm_ld: PathBuf,
}

impl Tools {
    fn find() -> Result<Self> {
        Ok(Tools {
            clang: find_tool("WELD_CLANG", "clang-19")?,
            wasm_ld: find_tool("WELD_WASM_LD", "wasm-ld-19")?,
        })
    }

    /// `clang-19 <CFLAGS> -c <source> -o <obj>`, run in `src_dir`.
    fn compile(&self, src_dir: &Path, source: &str, obj: &Path) -> Result<()> {
        let mut cmd = Command::new(&self.clang);
        cmd.current_dir(src_dir)
            .args(CFLAGS)
            .arg("-c")
            .arg(source)
            .arg("-o")
            .arg(obj);
        run_command(cmd)
    }

    /// `wasm-ld-19 <LDFLAGS> [bootstrap flags] [--allow-undefined-file=F]
    /// -o <lib> <obj> <needed...>`, run in `deps_dir` so the needed libraries
    /// are named by base name (wasm-ld records base names in `NEEDED` either
    /// way).
    fn link(
        &self,
        obj: &Path,
        deps_dir: &Path,
        needed: &[&str],
        out: &Path,
        bootstrap: bool,
        allow_undefined: Option<&Path>,
    ) -> Result<()> {
        let mut cmd = Command::new(&self.wasm_ld);
        cmd.current_dir(deps_dir).args(LDFLAGS);
        if bootstrap {
            cmd.args(BOOTSTRAP_LDFLAGS);
        }
        if let Some(file) = allow_undefined {
            let mut arg = std::ffi::OsString::from("--allow-undefined-file=");
            arg.push(file);
            cmd.arg(arg);
        }
        cmd.arg("-o").arg(out).arg(obj).args(needed);
        run_command(cmd)
    }
}

/// The program named by the environment variable `var`, else `name` found
/// on `PATH`.
fn find_tool(var: &str, name: &str) -> Result<PathBuf> {
    let hint = "install clang-19 and lld-19 (Debian/Ubuntu: `apt-get install clang-19 lld-19`)";
    if let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(&value);
        if path.components().count() > 1 {
            ensure!(path.is_file(), "{var}={} does not exist", path.display());
            return Ok(path);
        }
        return search_path(&path)
            .with_context(|| format!("{var}={} was not found on PATH", path.display()));
    }
    search_path(Path::new(name)).with_context(|| {
        format!("`{name}` was not found on PATH (or set {var} to the program to use); {hint}")
    })
}

fn search_path(name: &Path) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("`{}` not found", name.display()))
}

fn run_command(mut cmd: Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let output = cmd
        .output()
        .with_context(|| format!("failed to run {shown}"))?;
    if !output.status.success() {
        bail!(
            "{shown} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // Warnings are not expected; show them rather than swallow them.
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !stderr.trim().is_empty() {
        eprintln!("{stderr}");
    }
    Ok(())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// A temporary directory removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "weld-xtask-fixtures-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(ScratchDir(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

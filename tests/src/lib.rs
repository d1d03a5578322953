//! Shared helpers for weld's integration tests: fixture loading, linking with weld (and with
//! wit-component's reference `Linker`), and running linked components in wasmtime.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};
use wasmtime::component::{Component, Instance, InstancePre, Linker, ResourceTable, Val};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Reads `tests/fixtures/NAME`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = repo_root().join("tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The fixture set of the end-to-end program, in dependency order.
pub const PROGRAM: &[&str] = &[
    "libbase.so",
    "libapp.so",
    "libping.so",
    "libpong.so",
    "libmain.so",
];

/// Links named libraries with weld.
pub fn weld_link(
    libs: &[(&str, Vec<u8>)],
) -> Result<weld_component::Linked, weld_component::LinkError> {
    let mut linker = weld_component::Linker::default();
    for (name, bytes) in libs {
        linker.library(*name, bytes.clone());
    }
    linker.encode()
}

/// How a test links: apart (one core module per library) or fused into one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Each library its own core module.
    Apart,
    /// The kept libraries fused into one (`LinkOptions::fuse`).
    Fused,
}

/// Both modes.
pub const MODES: [Mode; 2] = [Mode::Apart, Mode::Fused];

/// Links named libraries with weld in `mode`.
pub fn weld_link_in(
    mode: Mode,
    libs: &[(&str, Vec<u8>)],
) -> Result<weld_component::Linked, weld_component::LinkError> {
    let mut linker = weld_component::Linker::default();
    linker.fuse(mode == Mode::Fused);
    for (name, bytes) in libs {
        linker.library(*name, bytes.clone());
    }
    linker.encode()
}

/// Links fixtures (by file name) with weld, in the given order.
pub fn weld_link_fixtures(names: &[&str]) -> Vec<u8> {
    weld_link_fixtures_in(Mode::Apart, names)
}

/// Links fixtures (by file name) with weld in `mode`, in the given order.
pub fn weld_link_fixtures_in(mode: Mode, names: &[&str]) -> Vec<u8> {
    let libs: Vec<(&str, Vec<u8>)> = names.iter().map(|n| (*n, fixture(n))).collect();
    match weld_link_in(mode, &libs) {
        Ok(l) => l.component,
        Err(e) => panic!("weld failed to link {names:?} ({mode:?}): {e}"),
    }
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).unwrap_or_else(|e| panic!("cannot create a wasmtime engine: {e}"))
    })
}

/// An engine that also inlines calls, across core modules too (Cranelift's inliner).
fn inlining_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .compiler_inlining(wasmtime::Inlining::Yes);
        Engine::new(&config).unwrap_or_else(|e| panic!("cannot create a wasmtime engine: {e}"))
    })
}

/// Store data: WASI context for components that import WASI.
pub struct Host {
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

/// An instantiated component.
pub struct Running {
    store: Store<Host>,
    instance: Instance,
}

/// A compiled component with its imports resolved (WASI), to instantiate many times.
pub struct Compiled(InstancePre<Host>);

impl Compiled {
    /// Compiles `component`.
    pub fn new(component: &[u8]) -> Result<Compiled> {
        Self::with(engine(), component)
    }

    /// Compiles `component` with Cranelift's inliner on (across core modules too).
    pub fn inlined(component: &[u8]) -> Result<Compiled> {
        Self::with(inlining_engine(), component)
    }

    fn with(engine: &Engine, component: &[u8]) -> Result<Compiled> {
        let component = Component::new(engine, component)
            .map_err(anyhow::Error::from)
            .context("compiling the component")?;
        let mut linker: Linker<Host> = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        linker
            .instantiate_pre(&component)
            .map(Compiled)
            .map_err(anyhow::Error::from)
            .context("resolving the component's imports")
    }

    /// Instantiates it (with WASI available to it).
    pub fn instantiate(&self) -> Result<Running> {
        Running::instantiate(&self.0)
    }
}

impl Running {
    /// Compiles and instantiates `component` (with WASI available to it).
    pub fn new(component: &[u8]) -> Result<Running> {
        Compiled::new(component)?.instantiate()
    }

    fn instantiate(pre: &InstancePre<Host>) -> Result<Running> {
        let host = Host {
            ctx: WasiCtx::builder().inherit_stdout().inherit_stderr().build(),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(pre.engine(), host);
        let instance = pre
            .instantiate(&mut store)
            .map_err(anyhow::Error::from)
            .context("instantiating the component")?;
        Ok(Running { store, instance })
    }

    /// Calls the exported function `name` with `args`, returning its results.
    pub fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>> {
        let func = self
            .instance
            .get_func(&mut self.store, name)
            .with_context(|| format!("the component exports no function `{name}`"))?;
        let mut results = vec![Val::Bool(false); func.ty(&self.store).results().len()];
        func.call(&mut self.store, args, &mut results)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("calling `{name}`"))?;
        Ok(results)
    }

    /// Calls `name` and returns its single `s32` result.
    pub fn call_s32(&mut self, name: &str, args: &[Val]) -> Result<i32> {
        match self.call(name, args)?.as_slice() {
            [Val::S32(v)] => Ok(*v),
            other => anyhow::bail!("`{name}` returned {other:?}, expected one s32"),
        }
    }

    /// Calls `name` and returns its single `string` result.
    pub fn call_string(&mut self, name: &str) -> Result<String> {
        match self.call(name, &[])?.as_slice() {
            [Val::String(s)] => Ok(s.clone()),
            other => anyhow::bail!("`{name}` returned {other:?}, expected one string"),
        }
    }

    /// Calls `name` and returns its single `bool` result.
    pub fn call_bool(&mut self, name: &str) -> Result<bool> {
        match self.call(name, &[])?.as_slice() {
            [Val::Bool(b)] => Ok(*b),
            other => anyhow::bail!("`{name}` returned {other:?}, expected one bool"),
        }
    }
}

/// The WIT text of a component's world, as wit-component prints it.
pub fn wit_of(component: &[u8]) -> String {
    let decoded = wit_component::decode(component).unwrap_or_else(|e| panic!("decode: {e:#}"));
    let mut printer = wit_component::WitPrinter::default();
    printer
        .print(decoded.resolve(), decoded.package(), &[])
        .unwrap_or_else(|e| panic!("print: {e:#}"));
    printer.output.to_string()
}

/// The directory of wit-component's own test cases (`tests/components`), from the cargo registry
/// sources of the wit-component version weld depends on.
pub fn wit_component_suite() -> PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default();
    let version = wit_component_version();
    let src = cargo_home.join("registry/src");
    let entries =
        std::fs::read_dir(&src).unwrap_or_else(|e| panic!("cannot list {}: {e}", src.display()));
    for entry in entries.flatten() {
        let dir = entry
            .path()
            .join(format!("wit-component-{version}/tests/components"));
        if dir.is_dir() {
            return dir;
        }
    }
    panic!(
        "wit-component {version} sources not found under {}; run `cargo fetch`",
        src.display()
    )
}

/// The wit-component version in Cargo.lock's workspace dependency (`=X.Y.Z` in Cargo.toml).
fn wit_component_version() -> String {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap_or_default();
    manifest
        .lines()
        .find_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("wit-component = ")?;
            let start = rest.find("\"=")? + 2;
            let end = rest[start..].find('"')? + start;
            Some(rest[start..end].to_string())
        })
        .unwrap_or_else(|| panic!("no pinned wit-component version in Cargo.toml"))
}

/// One library of a wit-component link test case, prepared as that suite does: the WAT parsed and
/// the world named after the file embedded as a `component-type` section.
pub struct CaseLibrary {
    /// The library name (file stem without `lib-`, or the `;; module name:` comment).
    pub name: String,
    /// Whether it is a `dlopen-lib-*` library.
    pub dl_openable: bool,
    /// Whether it is an adapter (`adapt-*`), not a library.
    pub adapter: bool,
    /// The module bytes.
    pub wasm: Vec<u8>,
}

/// Prepares the libraries of wit-component test case `case` (sorted by path, as that suite does).
pub fn prepare_case(case: &Path) -> Result<Vec<CaseLibrary>> {
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve.push_dir(case)?;
    let mut paths: Vec<(PathBuf, &str, bool)> = Vec::new();
    for entry in std::fs::read_dir(case)? {
        let path = entry?.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        if !file.ends_with(".wat") {
            continue;
        }
        if file.starts_with("lib-") {
            paths.push((path.clone(), "lib-", false));
        } else if file.starts_with("dlopen-lib-") {
            paths.push((path.clone(), "dlopen-lib-", true));
        } else if file.starts_with("adapt-") {
            paths.push((path.clone(), "adapt-", false));
        }
    }
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    for (path, prefix, dl_openable) in paths {
        let mut wasm = wat::parse_file(&path)?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let world = resolve.select_world(&[pkg], Some(&stem))?;
        let encoded = wit_component::metadata::encode(
            &resolve,
            world,
            wit_component::StringEncoding::UTF8,
            None,
            false,
        )?;
        let section = wasm_encoder::CustomSection {
            name: "component-type".into(),
            data: std::borrow::Cow::Borrowed(&encoded),
        };
        use wasm_encoder::Encode;
        wasm.push(0);
        section.encode(&mut wasm);
        let text = std::fs::read_to_string(&path)?;
        let name = text
            .lines()
            .map(str::trim)
            .take_while(|l| l.is_empty() || l.starts_with(";;"))
            .find_map(|l| l.strip_prefix(";; module name: "))
            .map(str::to_string)
            .unwrap_or_else(|| stem.trim_start_matches(prefix).to_string());
        out.push(CaseLibrary {
            name,
            dl_openable,
            adapter: prefix == "adapt-",
            wasm,
        });
    }
    Ok(out)
}

/// The `;;! key = value` options of a wit-component test case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseConfig {
    /// `stub-missing-functions = true`.
    pub stub_missing_functions: bool,
    /// `use-built-in-libdl = true`.
    pub use_built_in_libdl: bool,
    /// `return-call-ref = true`.
    pub return_call_ref: bool,
    /// `realloc-via-memory-grow = true`.
    pub realloc_via_memory_grow: bool,
    /// `emit-canonical-names = true`.
    pub emit_canonical_names: bool,
}

/// Reads a test case's configuration from the leading `;;!` lines of its `.wat` files.
pub fn case_config(case: &Path) -> Result<CaseConfig> {
    let mut config = CaseConfig::default();
    for entry in std::fs::read_dir(case)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("wat")
            || path.file_name().and_then(|f| f.to_str()) == Some("component.wat")
        {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            let line = line.trim();
            let Some(rest) = line.strip_prefix(";;!") else {
                if line.is_empty() || line.starts_with(";;") {
                    continue;
                }
                break;
            };
            let Some((key, value)) = rest.split_once('=') else {
                continue;
            };
            let on = value.trim() == "true";
            match key.trim() {
                "stub-missing-functions" => config.stub_missing_functions = on,
                "use-built-in-libdl" => config.use_built_in_libdl = on,
                "return-call-ref" => config.return_call_ref = on,
                "realloc-via-memory-grow" => config.realloc_via_memory_grow = on,
                "emit-canonical-names" => config.emit_canonical_names = on,
                other => anyhow::bail!("{}: unknown test option `{other}`", path.display()),
            }
        }
    }
    Ok(config)
}

/// The names of wit-component's linking test cases (directories whose name contains `link`).
pub fn link_cases() -> Vec<String> {
    let dir = wit_component_suite();
    let mut cases: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| n.contains("link"))
                .collect()
        })
        .unwrap_or_default();
    cases.sort();
    cases
}

/// How weld fared on one conformance case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Same outcome as the reference (same WIT world, or both failed for an `error-*` case).
    Pass,
    /// Different outcome, with the reason.
    Fail(String),
}

/// Links wit-component test case `case` with weld and with wit-component's `Linker` and compares:
/// for `error-*` cases both must fail; otherwise weld's output must validate and have the same
/// WIT world as the reference's.
pub fn conformance(case: &str) -> Verdict {
    conformance_in(Mode::Apart, case)
}

/// [`conformance`], with weld linking in `mode`.
pub fn conformance_in(mode: Mode, case: &str) -> Verdict {
    match conformance_inner(mode, case) {
        Ok(v) => v,
        Err(e) => Verdict::Fail(format!("{e:#}")),
    }
}

fn conformance_inner(mode: Mode, case: &str) -> Result<Verdict> {
    let dir = wit_component_suite().join(case);
    let config = case_config(&dir)?;
    let libs = prepare_case(&dir)?;

    let mut reference = wit_component::Linker::default();
    reference
        .stub_missing_functions(config.stub_missing_functions)
        .use_built_in_libdl(config.use_built_in_libdl)
        .encoder()
        .validate(true)
        .shim_return_call_ref(config.return_call_ref)
        .realloc_via_memory_grow(config.realloc_via_memory_grow);
    let mut weld = weld_component::Linker::default();
    weld.stub_missing_functions(config.stub_missing_functions)
        .fuse(mode == Mode::Fused);
    {
        let o = weld.options_mut();
        o.return_call_ref = config.return_call_ref;
        o.realloc_via_memory_grow = config.realloc_via_memory_grow;
        o.use_built_in_libdl = config.use_built_in_libdl;
    }
    for lib in &libs {
        if lib.adapter {
            reference.encoder().adapter(&lib.name, &lib.wasm)?;
            weld.adapter(lib.name.clone(), lib.wasm.clone());
        } else {
            reference.library(&lib.name, &lib.wasm, lib.dl_openable)?;
            if lib.dl_openable {
                weld.dl_openable(lib.name.clone(), lib.wasm.clone());
            } else {
                weld.library(lib.name.clone(), lib.wasm.clone());
            }
        }
    }
    let theirs = reference.encode();
    let ours = weld.encode();
    if case.starts_with("error-") {
        return Ok(match (ours, theirs) {
            (Err(_), Err(_)) => Verdict::Pass,
            (Ok(_), _) => Verdict::Fail("weld linked a case that must fail".into()),
            (Err(e), Ok(_)) => Verdict::Fail(format!("weld failed where the reference links: {e}")),
        });
    }
    let theirs = theirs.map_err(|e| anyhow::anyhow!("the reference failed: {e:#}"))?;
    let ours = match ours {
        Ok(o) => o,
        Err(e) => return Ok(Verdict::Fail(format!("weld failed: {e}"))),
    };
    let (a, b) = (wit_of(&ours.component), wit_of(&theirs));
    if a != b {
        return Ok(Verdict::Fail(format!(
            "different WIT worlds:\n--- weld\n{a}\n--- reference\n{b}"
        )));
    }
    Ok(Verdict::Pass)
}

/// Embeds the world `world` of the WIT package `wit` into `wasm` as a `component-type` section.
pub fn embed_world(mut wasm: Vec<u8>, wit: &str, world: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve
        .push_str("embedded.wit", wit)
        .unwrap_or_else(|e| panic!("bad WIT: {e:#}"));
    let world = resolve
        .select_world(&[pkg], Some(world))
        .unwrap_or_else(|e| panic!("no world: {e:#}"));
    let encoded = wit_component::metadata::encode(
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
        None,
        false,
    )
    .unwrap_or_else(|e| panic!("encode: {e:#}"));
    let section = wasm_encoder::CustomSection {
        name: "component-type".into(),
        data: std::borrow::Cow::Borrowed(&encoded),
    };
    use wasm_encoder::Encode;
    wasm.push(0);
    section.encode(&mut wasm);
    wasm
}

/// Runs a command component (one exporting `wasi:cli/run`) with WASI, capturing stdout.
/// Returns whether `run` succeeded, and what it printed.
pub fn run_command(component: &[u8]) -> Result<(bool, String)> {
    let engine = engine();
    let component = Component::new(engine, component)
        .map_err(anyhow::Error::from)
        .context("compiling the component")?;
    let mut linker: Linker<Host> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    let stdout = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(1 << 20);
    let host = Host {
        ctx: WasiCtx::builder()
            .stdout(stdout.clone())
            .inherit_stderr()
            .build(),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(engine, host);
    let command =
        wasmtime_wasi::p2::bindings::sync::Command::instantiate(&mut store, &component, &linker)
            .map_err(anyhow::Error::from)
            .context("instantiating the command")?;
    let ok = command
        .wasi_cli_run()
        .call_run(&mut store)
        .map_err(anyhow::Error::from)
        .context("running the command")?
        .is_ok();
    Ok((ok, String::from_utf8_lossy(&stdout.contents()).into_owned()))
}

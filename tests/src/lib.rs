//! Shared helpers for weld's integration tests: fixture loading, linking with weld (and with
//! wit-component's reference `Linker`), and running linked components in wasmtime.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};
use wasmtime::component::{Component, Instance, Linker, ResourceTable, Val};
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

/// Links fixtures (by file name) with weld, in the given order.
pub fn weld_link_fixtures(names: &[&str]) -> Vec<u8> {
    let libs: Vec<(&str, Vec<u8>)> = names.iter().map(|n| (*n, fixture(n))).collect();
    match weld_link(&libs) {
        Ok(l) => l.component,
        Err(e) => panic!("weld failed to link {names:?}: {e}"),
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

impl Running {
    /// Compiles and instantiates `component` (with WASI available to it).
    pub fn new(component: &[u8]) -> Result<Running> {
        let engine = engine();
        let component = Component::new(engine, component)
            .map_err(anyhow::Error::from)
            .context("compiling the component")?;
        let mut linker: Linker<Host> = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        let host = Host {
            ctx: WasiCtx::builder().inherit_stdout().inherit_stderr().build(),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(engine, host);
        let instance = linker
            .instantiate(&mut store, &component)
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
            wasm,
        });
    }
    Ok(out)
}

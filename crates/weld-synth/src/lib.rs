//! Synthesis of the glue modules that tie dynamic libraries together, with `wasm-encoder`.
//!
//! Given parsed libraries ([`weld_module`]) and their resolution ([`weld_graph`]), [`synthesize`]
//! computes the memory and table [`Layout`] and builds three small core modules:
//!
//! * the **main module**, which defines the one linear memory, the one function table, the stack
//!   pointer and every linker-provided global (each library's `__memory_base`/`__table_base`, the
//!   `GOT.mem`/`GOT.func` entries, heap and stack bounds), imports every non-dynamic-linking
//!   function the libraries import (WIT functions, intrinsics) and re-exports it under a private
//!   name, and exports `call_indirect` shims: for imports whose exporter is instantiated later,
//!   and for the component's own exports;
//! * the **init module**, whose active element segment fills the table slots of functions whose
//!   address is taken or that are reached through a shim, and whose start function runs every
//!   `__wasm_apply_data_relocs` and then every constructor, in initialization order;
//! * a **stubs module** of trapping functions for unresolved weak functions, when there are any.
//!
//! Library code is never re-encoded: libraries are instantiated as they are, with the
//! [`LibraryInstance`] argument lists this crate computes. [`libdl`] generates weld's built-in
//! `libdl.so`, an ordinary dynamic library.
//!
//! # What is where
//!
//! [`synthesize`] runs these stages; deciding (layout, planning) is kept apart from emitting
//! (the three module builders).
//!
//! | module | stage or content |
//! | --- | --- |
//! | `layout` | 1. [`Layout`]: memory regions, table regions, one slot per function whose address is needed |
//! | `scope` | what the built-in libdl needs decided: libraries loaded at their first `dlopen`, the program scope |
//! | `dlopen`, `tls` | the linker's own data: the dlopen table (and the built-in libdl's extension); TLS bookkeeping and accessors |
//! | `stubs` | 2. the stubs module |
//! | `plan` | 3. what every library instance gets, the main module's globals and imports, shims, `GOT.mem` fixups |
//! | `args` | [`LibraryInstance`], [`ArgItem`], [`Source`]; sharing of arguments between instances |
//! | `limits` | 4. the memory's and table's limits |
//! | `main_module` | 5. the main module, emitted from the plan |
//! | `init_module` | 6. the init module |
//! | `builder` | the module builder the three share (interned types and imports) |
//! | `names` | the private names of what the glue modules export and import |
//! | `error` | [`SynthError`], [`SynthProblem`] |
//! | [`libdl`] | the built-in `libdl.so` |
//!
//! ```
//! use weld_graph::{resolve, LibrarySet, Options};
//! use weld_module::Library;
//! use weld_synth::{synthesize, SynthOptions};
//!
//! let wasm = wat::parse_str(r#"(module
//!     (@dylink.0 (mem-info (memory 100 4)))
//!     (import "env" "memory" (memory 0))
//!     (import "env" "__memory_base" (global i32))
//!     (func (export "f")))"#).unwrap();
//! let set = LibrarySet::new([(Library::parse("liba.so", &wasm).unwrap(), false)]);
//! let roots = set.per_lib(|_, _| true);
//! let link = resolve(&set, &roots, &Options::default()).unwrap();
//! let out = synthesize(&set, &link, &SynthOptions::default(), &[], &[]).unwrap();
//! let a = set.id_at(0).unwrap();
//! assert_eq!(out.layout.memory_base[a], 1024 * 1024); // right after the 1 MiB stack
//! assert_eq!(out.layout.heap_base, 1024 * 1024 + 112); // 100 bytes, 16-aligned
//! wasmparser::validate(&out.main).unwrap();
//! wasmparser::validate(&out.init).unwrap();
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![warn(missing_docs)]

mod args;
mod builder;
mod dlopen;
mod error;
mod init_module;
mod layout;
pub mod libdl;
mod limits;
mod main_module;
mod names;
mod openable;
mod plan;
mod scope;
mod stubs;
mod tls;

pub use args::{Arg, ArgItem, InitArg, ItemKind, LibraryInstance, ShimInfo, Source};
pub use error::{SynthError, SynthProblem};
pub use layout::{Layout, layout};
pub use scope::deferred_libraries;
pub use tls::TlsLayout;

use weld_graph::{ExportRef, LibId, LibrarySet, Link};
use weld_module::CustomSection;

/// The default stack size: 1 MiB, as LLVM and wasm-tools use.
pub const DEFAULT_STACK_SIZE: u32 = 1024 * 1024;

/// The main module's export name of a marker global identifying it inside a component, and the
/// init module's import module name for the main instance.
pub const MAIN_MARKER: &str = "weld:main";

/// Options for synthesis.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SynthOptions<'d> {
    /// Bytes of stack, placed first in memory (`[0, stack_size)`, growing down).
    pub stack_size: u32,
    /// Dl-openable libraries fused into a library of the link, which `dlopen` still opens by
    /// their own names.
    pub fused_parts: Vec<FusedPart>,
    /// Data of libraries that the main module writes for them (a fused library leaves its data
    /// to the linker): active segments at constant addresses, in this order.
    pub hosted_data: Vec<HostedData<'d>>,
}

impl Default for SynthOptions<'_> {
    fn default() -> Self {
        SynthOptions {
            stack_size: DEFAULT_STACK_SIZE,
            fused_parts: Vec::new(),
            hosted_data: Vec::new(),
        }
    }
}

/// Bytes of a library's data region that the main module writes, at `__memory_base` plus
/// `offset`: the main module defines the memory, so an engine can map its data from a
/// copy-on-write image instead of copying segments when each library is instantiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostedData<'d> {
    /// The library whose region holds them.
    pub library: LibId,
    /// Their offset from the library's `__memory_base`.
    pub offset: u32,
    /// The bytes.
    pub bytes: &'d [u8],
}

impl<'d> HostedData<'d> {
    /// `bytes` at `offset` in `library`'s data region.
    pub fn new(library: LibId, offset: u32, bytes: &'d [u8]) -> Self {
        HostedData {
            library,
            offset,
            bytes,
        }
    }
}

/// A dl-openable library fused into another library of the link (by the weld-fuse crate):
/// `dlopen` still opens it by its name and `dlsym` finds its own definitions, exported by the
/// library holding it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FusedPart {
    /// Its name: what `dlopen` is given.
    pub name: String,
    /// The library holding it.
    pub host: LibId,
    /// Its symbols: (symbol name, the host's export holding its definition).
    pub symbols: Vec<(String, String)>,
    /// Whether it is loaded by its first `dlopen` (its constructors wait until then; only with
    /// the built-in libdl, see [`deferred_libraries`]).
    pub deferred: bool,
    /// The host's export running its constructors, when it is deferred and has any.
    pub constructor: Option<String>,
}

impl FusedPart {
    /// The part named `name`, held by `host`, with `symbols` (symbol, export) and, when
    /// `deferred`, its constructor export.
    pub fn new(
        name: impl Into<String>,
        host: LibId,
        symbols: Vec<(String, String)>,
        deferred: bool,
        constructor: Option<String>,
    ) -> Self {
        FusedPart {
            name: name.into(),
            host,
            symbols,
            deferred,
            constructor,
        }
    }
}

/// A function the main module must export under an exact name (for the component's exports),
/// implemented by a library's function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportShim {
    /// The exact core export name.
    pub name: String,
    /// The function implementing it.
    pub target: ExportRef,
}

/// Everything [`synthesize`] produces.
#[derive(Clone, Debug)]
pub struct Synthesized {
    /// Memory and table layout.
    pub layout: Layout,
    /// The main module.
    pub main: Vec<u8>,
    /// The init module (element segments + start function).
    pub init: Vec<u8>,
    /// Arguments of the init module: import module name -> instance.
    pub init_args: Vec<(String, InitArg)>,
    /// The stubs module, when some function is stubbed.
    pub stubs: Option<Vec<u8>>,
    /// Library instances in instantiation order.
    pub instances: Vec<LibraryInstance>,
    /// Arguments shared by several libraries (all items from the main module or the stubs, so
    /// they can be built before any library is instantiated).
    pub shared_args: Vec<Vec<ArgItem>>,
    /// The import shims created (calls to libraries instantiated later).
    pub import_shims: Vec<ShimInfo>,
    /// The export shims created.
    pub export_shims: Vec<ShimInfo>,
}

impl Synthesized {
    /// The items library instance `inst` gets for import module `module`.
    pub fn arg_items<'s>(
        &'s self,
        inst: &'s LibraryInstance,
        module: &str,
    ) -> Option<&'s [ArgItem]> {
        let (_, arg) = inst.args.iter().find(|(m, _)| m == module)?;
        match arg {
            Arg::Items(items) => Some(items),
            Arg::Shared(i) => self.shared_args.get(*i).map(Vec::as_slice),
        }
    }
}

/// Synthesizes the main, init and stubs modules and the instantiation arguments of every kept
/// library.
///
/// `export_shims` are the functions the main module must export under exact names (the
/// component's exports, `cabi_realloc`); `custom_sections` are appended to the main module (the
/// libraries' `component-type*` sections).
pub fn synthesize<'a>(
    set: &LibrarySet<'a>,
    link: &Link<'a>,
    options: &SynthOptions,
    export_shims: &[ExportShim],
    custom_sections: &[CustomSection<'a>],
) -> Result<Synthesized, SynthError> {
    let scope = scope::Scope::decide(set, link, export_shims, &options.fused_parts);
    let openables = openable::openables(set, link, scope.as_ref(), &options.fused_parts);
    let layout = layout::layout_with(set, link, options, export_shims, scope.as_ref(), &openables)?;
    let stubs = stubs::build(link);
    let stub_names = stubs.as_ref().map_or(&[][..], |s| &s.names[..]);
    let mut problems = Vec::new();
    let plan = plan::plan(set, link, &layout, stub_names, &mut problems);
    let limits = limits::limits(set, link, &layout, &mut problems);
    if !problems.is_empty() {
        return Err(SynthError { problems });
    }
    let main = main_module::build(&main_module::MainInputs {
        set,
        link,
        hosted_data: &options.hosted_data,
        layout: &layout,
        plan: &plan,
        limits,
        export_shims,
        custom_sections,
        scope: scope.as_ref(),
        openables: &openables,
    });
    let init = init_module::build(&init_module::InitInputs {
        set,
        link,
        layout: &layout,
        plan: &plan,
        limits,
        stub_names,
        scope: scope.as_ref(),
    });
    Ok(Synthesized {
        layout,
        main: main.bytes,
        init: init.bytes,
        init_args: init.args,
        stubs: stubs.map(|s| s.bytes),
        instances: plan.instances,
        shared_args: plan.shared_args,
        import_shims: main.import_shims,
        export_shims: main.export_shims,
    })
}

/// The bits of `v` as the `i32` that wasm-encoder's constant instructions take.
fn wrap_i32(v: u32) -> i32 {
    i32::from_ne_bytes(v.to_ne_bytes())
}

#[cfg(test)]
mod tests;

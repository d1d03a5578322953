//! The private names weld gives to what the glue modules export and import. They are built from
//! indices and ABI names only, never from library or symbol names, so that no two can collide
//! whatever characters the inputs' names contain. (The ABI's own names are in
//! [`weld_module::abi`].)

use weld_graph::{ExportRef, LibId};
use weld_module::abi::LinkerFunction;

/// The init module's import module name for the stubs instance.
pub(crate) const STUBS: &str = "weld:stubs";

/// The main module's global holding `0` (weak `GOT` entries bound to nothing).
pub(crate) const NULL: &str = "weld:null";

/// The main module's global holding library `l`'s `__memory_base`.
pub(crate) fn memory_base(l: LibId) -> String {
    format!("weld:memory-base:{}", l.index())
}

/// The main module's global holding library `l`'s `__table_base`.
pub(crate) fn table_base(l: LibId) -> String {
    format!("weld:table-base:{}", l.index())
}

/// The main module's global holding the linker's value `name` (an ABI name).
pub(crate) fn linker(name: &str) -> String {
    format!("weld:linker:{name}")
}

/// The main module's global holding table slot `slot` (a `GOT.func` entry).
pub(crate) fn got_func(slot: u32) -> String {
    format!("weld:got.func:{slot}")
}

/// The main module's global holding the address of data symbol `target` (a `GOT.mem` entry).
pub(crate) fn got_mem(target: ExportRef) -> String {
    format!(
        "weld:got.mem:{}:{}",
        target.library().index(),
        target.index()
    )
}

/// The main module's shim calling `target` through its table slot.
pub(crate) fn shim(target: ExportRef) -> String {
    format!("weld:shim:{}:{}", target.library().index(), target.index())
}

/// The main module's re-export of its `n`-th imported function.
pub(crate) fn import(n: usize) -> String {
    format!("weld:import:{n}")
}

/// The main module's TLS accessor `f` of library `l`.
pub(crate) fn tls_accessor(l: LibId, f: LinkerFunction) -> String {
    let which = if f.is_getter() { "get" } else { "set" };
    format!("weld:tls-{which}:{}", l.index())
}

/// The init module's import module name for library `l`'s instance.
pub(crate) fn library_instance(l: LibId) -> String {
    format!("lib:{}", l.index())
}

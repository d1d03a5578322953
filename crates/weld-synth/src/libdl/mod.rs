//! weld's built-in `libdl`: `dlopen`, `dlsym`, `dlclose` and `dlerror` over the dlopen table the
//! linker writes into linear memory, and weld's extension of it (see docs/abi.md, "dlopen table"
//! and "Built-in libdl").
//!
//! The library is generated here instruction by instruction; it needs no libc (it has its own
//! `strlen` and byte comparison) and no prebuilt binary. It is an ordinary dynamic library: a
//! `dylink.0` section reserves room for its error messages, which it places at its
//! `__memory_base`; it finds the table through `GOT.mem.__wasm_libdl_libraries` and weld's
//! extension right after the table's root, and runs the constructors of libraries loaded by
//! their first `dlopen` through the shared function table.
//!
//! | module | content |
//! | --- | --- |
//! | this one | the module: types, imports, function list, exports, data |
//! | `messages` | the error messages and the message buffer in libdl's data region |
//! | `strings` | `strlen`, byte comparison, binary search, composing messages |
//! | `api` | handles and scopes, `dlopen`, `dlsym`, `dlclose`, `dlerror` |

mod api;
mod messages;
mod strings;

use std::borrow::Cow;
use std::sync::OnceLock;

use wasm_encoder::{
    CodeSection, ConstExpr, CustomSection, DataSection, EntityType, ExportKind, ExportSection,
    Function, FunctionSection, GlobalSection, GlobalType, ImportSection, MemArg, MemArgTarget,
    MemoryType, Module, RefType, TableType, TypeSection, ValType,
};
use weld_module::abi::{self, LinkerData};

/// The library name under which the built-in libdl is linked.
pub const LIBDL_NAME: &str = "libdl.so";

/// `RTLD_LAZY` in wasi-libc's `<dlfcn.h>`.
pub const RTLD_LAZY: i32 = 1;
/// `RTLD_NOW` in wasi-libc's `<dlfcn.h>`.
pub const RTLD_NOW: i32 = 2;
/// `RTLD_NOLOAD` in wasi-libc's `<dlfcn.h>`.
pub const RTLD_NOLOAD: i32 = 4;
/// `RTLD_LOCAL` in wasi-libc's `<dlfcn.h>` (8 for WASI; 0 in upstream musl).
pub const RTLD_LOCAL: i32 = 8;
/// `RTLD_GLOBAL` in wasi-libc's `<dlfcn.h>`.
pub const RTLD_GLOBAL: i32 = 256;
/// `RTLD_NODELETE` in wasi-libc's `<dlfcn.h>`.
pub const RTLD_NODELETE: i32 = 4096;

/// Every flag `dlopen` accepts.
const KNOWN_FLAGS: i32 =
    RTLD_LAZY | RTLD_NOW | RTLD_NOLOAD | RTLD_LOCAL | RTLD_GLOBAL | RTLD_NODELETE;

// Global indices: imports first.
const G_MEMORY_BASE: u32 = 0;
const G_LIBRARIES: u32 = 1;
const G_ERROR: u32 = 2;

// Type indices, in the order `types` defines them.
const T_I_I: u32 = 0;
const T_IIII_I: u32 = 1;
const T_IIIII_I: u32 = 2;
const T_II_I: u32 = 3;
const T_V_I: u32 = 4;
const T_V_V: u32 = 5;
const T_IIII_V: u32 = 6;
const T_I_V: u32 = 7;
const T_II_V: u32 = 8;

// Function indices (there are no function imports), in the order of `functions`.
const F_STRLEN: u32 = 0;
const F_COMPARE: u32 = 1;
const F_FIND: u32 = 2;
const F_APPEND: u32 = 3;
const F_FAIL: u32 = 4;
const F_FAIL_NAMED: u32 = 5;
const F_STATE: u32 = 6;
const F_VALID: u32 = 7;
const F_SCOPE_FIND: u32 = 8;
const F_OPEN: u32 = 9;
const F_DLOPEN: u32 = 10;
const F_DLSYM: u32 = 11;
const F_DLCLOSE: u32 = 12;
const F_DLERROR: u32 = 13;

/// Every defined function with its type, in index order (see the `F_*` constants).
fn functions() -> [(u32, Function); 14] {
    [
        (T_I_I, strings::strlen()),
        (T_IIII_I, strings::compare()),
        (T_IIIII_I, strings::find()),
        (T_IIII_I, strings::append()),
        (T_I_V, strings::fail()),
        (T_IIII_V, strings::fail_named()),
        (T_I_I, api::state()),
        (T_I_I, api::valid()),
        (T_II_I, api::scope_find()),
        (T_II_V, api::open()),
        (T_II_I, api::dlopen()),
        (T_II_I, api::dlsym()),
        (T_I_I, api::dlclose()),
        (T_V_I, api::dlerror()),
    ]
}

/// The function types, in the order of the `T_*` constants.
fn types() -> TypeSection {
    let i32s = |n: usize| vec![ValType::I32; n];
    let mut types = TypeSection::new();
    for (params, results) in [
        (1, 1),
        (4, 1),
        (5, 1),
        (2, 1),
        (0, 1),
        (0, 0),
        (4, 0),
        (1, 0),
    ] {
        types.ty().function(i32s(params), i32s(results));
    }
    types.ty().function(i32s(2), []);
    types
}

/// Builds the built-in libdl as a dynamic library.
pub fn libdl_module() -> Vec<u8> {
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    for (ty, body) in functions() {
        funcs.function(ty);
        code.function(&body);
    }
    let mut globals = GlobalSection::new();
    globals.global(
        GlobalType {
            val_type: ValType::I32,
            mutable: true,
            shared: false,
        },
        &ConstExpr::i32_const(0),
    );
    let mut exports = ExportSection::new();
    for (name, index) in [
        ("dlopen", F_DLOPEN),
        ("dlsym", F_DLSYM),
        ("dlclose", F_DLCLOSE),
        ("dlerror", F_DLERROR),
    ] {
        exports.export(name, ExportKind::Func, index);
    }
    let mut data = DataSection::new();
    data.active(
        0,
        &ConstExpr::global_get(G_MEMORY_BASE),
        messages::data().iter().copied(),
    );
    let mut module = Module::new();
    module
        .section(&CustomSection {
            name: Cow::Borrowed(abi::DYLINK_SECTION),
            data: Cow::Owned(dylink(messages::region_size())),
        })
        .section(&types())
        .section(&imports())
        .section(&funcs)
        .section(&globals)
        .section(&exports)
        .section(&code)
        .section(&data);
    module.finish()
}

/// The built-in libdl's bytes, generated once.
pub(crate) fn built_in() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(libdl_module)
}

/// Appends `v` as an unsigned LEB128.
fn leb(out: &mut Vec<u8>, v: u32) {
    wasm_encoder::Encode::encode(&v, out);
}

/// `dylink.0`: MEM_INFO with the data region's size, alignment 1, no table.
fn dylink(size: u32) -> Vec<u8> {
    let mut mem_info = Vec::new();
    leb(&mut mem_info, size);
    mem_info.extend_from_slice(&[0, 0, 0]);
    let mut dylink = vec![1u8];
    leb(&mut dylink, u32::try_from(mem_info.len()).unwrap_or(0));
    dylink.extend_from_slice(&mem_info);
    dylink
}

/// The memory, the function table (constructors are called through it), the library's data
/// base and the dlopen table's root.
fn imports() -> ImportSection {
    let mut imports = ImportSection::new();
    imports.import(
        abi::ENV,
        abi::MEMORY,
        EntityType::Memory(MemoryType {
            minimum: 0,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        }),
    );
    imports.import(
        abi::ENV,
        abi::TABLE,
        EntityType::Table(TableType {
            element_type: RefType::FUNCREF,
            minimum: 0,
            maximum: None,
            table64: false,
            shared: false,
        }),
    );
    imports.import(
        abi::ENV,
        abi::MEMORY_BASE,
        EntityType::Global(GlobalType {
            val_type: ValType::I32,
            mutable: false,
            shared: false,
        }),
    );
    imports.import(
        abi::GOT_MEM,
        LinkerData::LibdlLibraries.name(),
        EntityType::Global(GlobalType {
            val_type: ValType::I32,
            mutable: true,
            shared: false,
        }),
    );
    imports
}

/// A 4-byte-aligned `i32` access at `offset`.
fn mem(offset: u64) -> MemArg {
    MemArg {
        offset,
        align: 2,
        target: MemArgTarget::Memory(0),
        ordering: None,
    }
}

/// A byte access.
fn byte() -> MemArg {
    MemArg {
        offset: 0,
        align: 0,
        target: MemArgTarget::Memory(0),
        ordering: None,
    }
}

#[cfg(test)]
mod tests;

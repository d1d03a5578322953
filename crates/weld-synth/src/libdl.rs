//! weld's built-in `libdl`: `dlopen`, `dlsym`, `dlclose` and `dlerror` over the dlopen table the
//! linker writes into linear memory (see docs/abi.md, "dlopen table").
//!
//! The library is generated here instruction by instruction; it needs no libc (it has its own
//! `strlen` and byte comparison) and no prebuilt binary. It is an ordinary dynamic library: a
//! `dylink.0` section reserves room for its error messages, which it places at its
//! `__memory_base`, and it finds the table through `GOT.mem.__wasm_libdl_libraries`.

use std::borrow::Cow;

use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, CustomSection, DataSection, EntityType, ExportKind,
    ExportSection, Function, FunctionSection, GlobalSection, GlobalType, ImportSection,
    InstructionSink, MemArg, MemArgTarget, MemoryType, Module, TypeSection, ValType,
};
use weld_module::abi::{self, LinkerData};

/// The library name under which the built-in libdl is linked.
pub const LIBDL_NAME: &str = "libdl.so";

/// `RTLD_LAZY | RTLD_NOW | RTLD_GLOBAL` in wasi-libc's numbering: the flags `dlopen` accepts.
const ACCEPTED_FLAGS: i32 = 1 | 2 | 256;

/// Error messages, each NUL-terminated, at these offsets from `__memory_base`.
const MESSAGES: &[&str] = &[
    "dlopen: unsupported flags (only RTLD_LAZY, RTLD_NOW and RTLD_GLOBAL are accepted)",
    "dlopen: no such library (only libraries linked as dl-openable can be opened)",
    "dlsym: invalid handle",
    "dlsym: symbol not found",
    "dlsym: RTLD_DEFAULT and RTLD_NEXT are not supported",
    "dlclose: invalid handle",
    "dlopen: a NULL name (the main program) is not supported",
];
const E_FLAGS: usize = 0;
const E_NO_LIB: usize = 1;
const E_HANDLE: usize = 2;
const E_NO_SYM: usize = 3;
const E_SPECIAL: usize = 4;
const E_CLOSE: usize = 5;
const E_NULL: usize = 6;

fn message_data() -> (Vec<u8>, Vec<i32>) {
    let mut data = Vec::new();
    let mut offsets = Vec::new();
    for m in MESSAGES {
        offsets.push(i32::try_from(data.len()).unwrap_or(0));
        data.extend_from_slice(m.as_bytes());
        data.push(0);
    }
    (data, offsets)
}

fn leb(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

// Global indices: imports first.
const G_MEMORY_BASE: u32 = 0;
const G_LIBRARIES: u32 = 1;
const G_ERROR: u32 = 2;

// Function indices (no function imports).
const F_STRLEN: u32 = 0;
const F_COMPARE: u32 = 1;
const F_FIND: u32 = 2;
const F_VALID: u32 = 3;

fn mem(offset: u64) -> MemArg {
    MemArg {
        offset,
        align: 2,
        target: MemArgTarget::Memory(0),
        ordering: None,
    }
}

fn byte() -> MemArg {
    MemArg {
        offset: 0,
        align: 0,
        target: MemArgTarget::Memory(0),
        ordering: None,
    }
}

/// Sets the error global to message `which` (relative to `__memory_base`).
fn set_error(ins: &mut InstructionSink<'_>, offsets: &[i32], which: usize) {
    ins.global_get(G_MEMORY_BASE)
        .i32_const(offsets.get(which).copied().unwrap_or(0))
        .i32_add()
        .global_set(G_ERROR);
}

/// Builds the built-in libdl as a dynamic library.
pub fn libdl_module() -> Vec<u8> {
    let (data, offsets) = message_data();
    let mut types = TypeSection::new();
    let i32s = |n: usize| vec![ValType::I32; n];
    types.ty().function(i32s(1), i32s(1)); // 0: (i32) -> i32
    types.ty().function(i32s(4), i32s(1)); // 1: compare
    types.ty().function(i32s(5), i32s(1)); // 2: find
    types.ty().function(i32s(2), i32s(1)); // 3: dlopen, dlsym
    types.ty().function([], i32s(1)); // 4: dlerror

    let mut funcs = FunctionSection::new();
    for ty in [0, 1, 2, 0, 3, 3, 0, 4] {
        funcs.function(ty);
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
    exports.export("dlopen", ExportKind::Func, 4);
    exports.export("dlsym", ExportKind::Func, 5);
    exports.export("dlclose", ExportKind::Func, 6);
    exports.export("dlerror", ExportKind::Func, 7);

    // In function index order (see the `F_*` constants and the exports above).
    let mut code = CodeSection::new();
    for f in [
        strlen(),
        compare(),
        find(),
        valid(),
        dlopen(&offsets),
        dlsym(&offsets),
        dlclose(&offsets),
        dlerror(),
    ] {
        code.function(&f);
    }

    let mut data_section = DataSection::new();
    data_section.active(
        0,
        &ConstExpr::global_get(G_MEMORY_BASE),
        data.iter().copied(),
    );

    let mut module = Module::new();
    module
        .section(&CustomSection {
            name: Cow::Borrowed(abi::DYLINK_SECTION),
            data: Cow::Owned(dylink(data.len())),
        })
        .section(&types)
        .section(&imports())
        .section(&funcs)
        .section(&globals)
        .section(&exports)
        .section(&code)
        .section(&data_section);
    module.finish()
}

/// `dylink.0`: MEM_INFO with the messages' size, alignment 1, no table.
fn dylink(messages: usize) -> Vec<u8> {
    let mut mem_info = Vec::new();
    leb(&mut mem_info, u32::try_from(messages).unwrap_or(0));
    mem_info.extend_from_slice(&[0, 0, 0]);
    let mut dylink = vec![1u8];
    leb(&mut dylink, u32::try_from(mem_info.len()).unwrap_or(0));
    dylink.extend_from_slice(&mem_info);
    dylink
}

/// The memory, the library's data base and the dlopen table's root.
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

/// strlen(p): count bytes up to the NUL.
fn strlen() -> Function {
    let mut f = Function::new([(1, ValType::I32)]);
    let ins = &mut f.instructions();
    ins.block(BlockType::Empty).loop_(BlockType::Empty);
    ins.local_get(0)
        .local_get(1)
        .i32_add()
        .i32_load8_u(byte())
        .i32_eqz()
        .br_if(1);
    ins.local_get(1).i32_const(1).i32_add().local_set(1).br(0);
    ins.end().end();
    ins.local_get(1).end();
    f
}

/// compare(a, alen, b, blen): lexicographic byte order, then length; <0, 0 or >0.
/// Locals: 4 = i, 5 = n = min(alen, blen), 6 = ca, 7 = cb.
fn compare() -> Function {
    let mut f = Function::new([(4, ValType::I32)]);
    let ins = &mut f.instructions();
    ins.local_get(1)
        .local_get(3)
        .local_get(1)
        .local_get(3)
        .i32_lt_u()
        .select()
        .local_set(5);
    ins.block(BlockType::Empty).loop_(BlockType::Empty);
    ins.local_get(4).local_get(5).i32_ge_u().br_if(1);
    ins.local_get(0)
        .local_get(4)
        .i32_add()
        .i32_load8_u(byte())
        .local_set(6);
    ins.local_get(2)
        .local_get(4)
        .i32_add()
        .i32_load8_u(byte())
        .local_set(7);
    ins.local_get(6).local_get(7).i32_ne().if_(BlockType::Empty);
    ins.local_get(6).local_get(7).i32_sub().return_();
    ins.end();
    ins.local_get(4).i32_const(1).i32_add().local_set(4).br(0);
    ins.end().end();
    ins.local_get(1).local_get(3).i32_sub().end();
    f
}

/// find(array, count, stride, key, keylen): binary search of records whose first 8 bytes are a
/// name {len, ptr}; returns the record's address or 0.
/// Locals: 5 = lo, 6 = hi, 7 = mid, 8 = record, 9 = c.
fn find() -> Function {
    let mut f = Function::new([(5, ValType::I32)]);
    let ins = &mut f.instructions();
    ins.local_get(1).local_set(6);
    ins.block(BlockType::Empty).loop_(BlockType::Empty);
    ins.local_get(5).local_get(6).i32_ge_u().br_if(1);
    ins.local_get(5)
        .local_get(6)
        .i32_add()
        .i32_const(1)
        .i32_shr_u()
        .local_set(7);
    ins.local_get(0)
        .local_get(7)
        .local_get(2)
        .i32_mul()
        .i32_add()
        .local_set(8);
    ins.local_get(8)
        .i32_load(mem(4))
        .local_get(8)
        .i32_load(mem(0))
        .local_get(3)
        .local_get(4)
        .call(F_COMPARE)
        .local_tee(9)
        .i32_eqz()
        .if_(BlockType::Empty);
    ins.local_get(8).return_();
    ins.end();
    ins.local_get(9)
        .i32_const(0)
        .i32_lt_s()
        .if_(BlockType::Empty);
    ins.local_get(7).i32_const(1).i32_add().local_set(5);
    ins.else_();
    ins.local_get(7).local_set(6);
    ins.end();
    ins.br(0);
    ins.end().end();
    ins.i32_const(0).end();
    f
}

/// valid(handle): whether it points at one of the library records.
/// Locals: 1 = array start.
fn valid() -> Function {
    let mut f = Function::new([(1, ValType::I32)]);
    let ins = &mut f.instructions();
    ins.global_get(G_LIBRARIES).i32_load(mem(4)).local_set(1);
    ins.local_get(0).local_get(1).i32_ge_u();
    ins.local_get(0)
        .local_get(1)
        .global_get(G_LIBRARIES)
        .i32_load(mem(0))
        .i32_const(16)
        .i32_mul()
        .i32_add()
        .i32_lt_u()
        .i32_and();
    ins.local_get(0)
        .local_get(1)
        .i32_sub()
        .i32_const(15)
        .i32_and()
        .i32_eqz()
        .i32_and()
        .end();
    f
}

/// dlopen(name, flags)
fn dlopen(offsets: &[i32]) -> Function {
    let mut f = Function::new([(1, ValType::I32)]);
    let ins = &mut f.instructions();
    ins.local_get(1)
        .i32_const(!ACCEPTED_FLAGS)
        .i32_and()
        .if_(BlockType::Empty);
    set_error(ins, offsets, E_FLAGS);
    ins.i32_const(0).return_().end();
    ins.local_get(0).i32_eqz().if_(BlockType::Empty);
    set_error(ins, offsets, E_NULL);
    ins.i32_const(0).return_().end();
    ins.global_get(G_LIBRARIES)
        .i32_load(mem(4))
        .global_get(G_LIBRARIES)
        .i32_load(mem(0))
        .i32_const(16)
        .local_get(0)
        .local_get(0)
        .call(F_STRLEN)
        .call(F_FIND)
        .local_tee(2)
        .i32_eqz()
        .if_(BlockType::Empty);
    set_error(ins, offsets, E_NO_LIB);
    ins.end();
    ins.local_get(2).end();
    f
}

/// dlsym(handle, name)
fn dlsym(offsets: &[i32]) -> Function {
    let mut f = Function::new([(1, ValType::I32)]);
    let ins = &mut f.instructions();
    ins.local_get(0)
        .i32_eqz()
        .local_get(0)
        .i32_const(-1)
        .i32_eq()
        .i32_or()
        .if_(BlockType::Empty);
    set_error(ins, offsets, E_SPECIAL);
    ins.i32_const(0).return_().end();
    ins.local_get(0)
        .call(F_VALID)
        .i32_eqz()
        .if_(BlockType::Empty);
    set_error(ins, offsets, E_HANDLE);
    ins.i32_const(0).return_().end();
    ins.local_get(0)
        .i32_load(mem(12))
        .local_get(0)
        .i32_load(mem(8))
        .i32_const(12)
        .local_get(1)
        .local_get(1)
        .call(F_STRLEN)
        .call(F_FIND)
        .local_tee(2)
        .i32_eqz()
        .if_(BlockType::Empty);
    set_error(ins, offsets, E_NO_SYM);
    ins.i32_const(0).return_().end();
    ins.local_get(2).i32_load(mem(8)).end();
    f
}

/// dlclose(handle): 0 for a valid handle (libraries are never unloaded), else -1.
fn dlclose(offsets: &[i32]) -> Function {
    let mut f = Function::new([]);
    let ins = &mut f.instructions();
    ins.local_get(0).call(F_VALID).if_(BlockType::Empty);
    ins.i32_const(0).return_().end();
    set_error(ins, offsets, E_CLOSE);
    ins.i32_const(-1).end();
    f
}

/// dlerror(): the last error, once.
fn dlerror() -> Function {
    let mut f = Function::new([(1, ValType::I32)]);
    let ins = &mut f.instructions();
    ins.global_get(G_ERROR)
        .local_set(0)
        .i32_const(0)
        .global_set(G_ERROR)
        .local_get(0)
        .end();
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libdl_is_a_valid_dynamic_library() {
        let wasm = libdl_module();
        wasmparser::validate(&wasm).unwrap();
        let lib = weld_module::Library::parse(LIBDL_NAME, &wasm).unwrap();
        assert!(lib.has_dylink);
        assert_eq!(
            lib.mem_info.memory_size as usize,
            MESSAGES.iter().map(|m| m.len() + 1).sum::<usize>()
        );
        let names: Vec<_> = lib.exports.iter().map(|e| e.name).collect();
        assert_eq!(names, ["dlopen", "dlsym", "dlclose", "dlerror"]);
    }
}

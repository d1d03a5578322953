//! libdl's functions over the dlopen table and weld's extension (docs/abi.md, "dlopen table" and
//! "Built-in libdl"). A library's handle is its `Library` record's address; the program's handle
//! (`dlopen(NULL, …)`) is the `Program` record's, right after the root.
//!
//! Offsets used, all relative to the root (`GOT.mem.__wasm_libdl_libraries`): `Libraries`
//! `{ count @0, libraries @4 }`, then `Program` `{ count @8, symbols @12, states @16,
//! globals_count @20, globals @24 }`. A `Library` record is `{ name @0, count @8, symbols @12 }`,
//! a `Symbol` `{ name @0, address @8 }`, a `LibraryState` `{ constructor @0, flags @4 }`.

use wasm_encoder::{BlockType, Function, InstructionSink, ValType};

use super::messages::Msg;
use super::{
    F_FAIL, F_FAIL_NAMED, F_FIND, F_OPEN, F_SCOPE_FIND, F_STATE, F_STRLEN, F_VALID, G_ERROR,
    G_LIBRARIES, KNOWN_FLAGS, RTLD_GLOBAL, RTLD_NOLOAD, T_V_V, mem,
};
use crate::dlopen::{GLOBAL, LOADED};

const ROOT_COUNT: u64 = 0;
const ROOT_LIBRARIES: u64 = 4;
/// The `Program` record's offset from the root.
const PROGRAM: i32 = 8;
const PROGRAM_COUNT: u64 = 8;
const PROGRAM_SYMBOLS: u64 = 12;
const PROGRAM_STATES: u64 = 16;
const PROGRAM_GLOBALS_COUNT: u64 = 20;
const PROGRAM_GLOBALS: u64 = 24;
const LIBRARY_RECORD: i32 = 16;
const LIBRARY_COUNT: u64 = 8;
const LIBRARY_SYMBOLS: u64 = 12;
const SYMBOL_RECORD: i32 = 12;
const SYMBOL_ADDRESS: u64 = 8;
const STATE_CONSTRUCTOR: u64 = 0;
const STATE_FLAGS: u64 = 4;

/// The `i32` bit pattern of a flag word.
fn bits(flags: u32) -> i32 {
    i32::from_ne_bytes(flags.to_ne_bytes())
}

/// Pushes the root's field at `offset` (or the `Program` record's).
fn root_field(ins: &mut InstructionSink<'_>, offset: u64) {
    ins.global_get(G_LIBRARIES).i32_load(mem(offset));
}

/// Pushes the program's handle.
fn program_handle(ins: &mut InstructionSink<'_>) {
    ins.global_get(G_LIBRARIES).i32_const(PROGRAM).i32_add();
}

/// Sets the error to `msg` and returns `result`.
fn fail_with(ins: &mut InstructionSink<'_>, msg: Msg, result: i32) {
    ins.i32_const(msg.offset())
        .call(F_FAIL)
        .i32_const(result)
        .return_();
}

/// Sets the error to `prefix`, the name in locals `name` and `len`, `suffix`, and returns NULL.
fn fail_named(ins: &mut InstructionSink<'_>, prefix: Msg, name: u32, len: u32, suffix: Msg) {
    ins.i32_const(prefix.offset())
        .local_get(name)
        .local_get(len)
        .i32_const(suffix.offset())
        .call(F_FAIL_NAMED)
        .i32_const(0)
        .return_();
}

/// Searches the `Symbol` records of the `Library` record in local `library` for the name in
/// locals `name` and `len`; leaves the record's address (or 0) in local `into` and on the stack.
fn find_in_library(ins: &mut InstructionSink<'_>, library: u32, name: u32, len: u32, into: u32) {
    ins.local_get(library)
        .i32_load(mem(LIBRARY_SYMBOLS))
        .local_get(library)
        .i32_load(mem(LIBRARY_COUNT))
        .i32_const(SYMBOL_RECORD)
        .local_get(name)
        .local_get(len)
        .call(F_FIND)
        .local_tee(into);
}

/// state(handle): the address of the `LibraryState` of the `Library` record at `handle`, or 0
/// when `handle` is not the address of a library record.
/// Locals: 1 = offset into the records.
pub(super) fn state() -> Function {
    let mut f = Function::new([(1, ValType::I32)]);
    let ins = &mut f.instructions();
    ins.local_get(0);
    root_field(ins, ROOT_LIBRARIES);
    ins.i32_sub().local_tee(1);
    root_field(ins, ROOT_COUNT);
    ins.i32_const(LIBRARY_RECORD).i32_mul().i32_lt_u();
    ins.local_get(1)
        .i32_const(LIBRARY_RECORD - 1)
        .i32_and()
        .i32_eqz()
        .i32_and()
        .if_(BlockType::Result(ValType::I32));
    // One 8-byte state per 16-byte record.
    root_field(ins, PROGRAM_STATES);
    ins.local_get(1).i32_const(1).i32_shr_u().i32_add();
    ins.else_().i32_const(0).end().end();
    f
}

/// valid(handle): whether `handle` is a library's handle, that is a library record of a library
/// that is loaded.
/// Locals: 1 = state.
pub(super) fn valid() -> Function {
    let mut f = Function::new([(1, ValType::I32)]);
    let ins = &mut f.instructions();
    ins.local_get(0)
        .call(F_STATE)
        .local_tee(1)
        .if_(BlockType::Result(ValType::I32));
    ins.local_get(1)
        .i32_load(mem(STATE_FLAGS))
        .i32_const(bits(LOADED))
        .i32_and();
    ins.else_().i32_const(0).end().end();
    f
}

/// scope_find(name, len): the `Symbol` record of `name` in the program scope, else in the
/// libraries opened with RTLD_GLOBAL in the order they were opened; 0 when none has it.
/// Locals: 2 = record, 3 = i, 4 = library.
pub(super) fn scope_find() -> Function {
    let mut f = Function::new([(3, ValType::I32)]);
    let ins = &mut f.instructions();
    root_field(ins, PROGRAM_SYMBOLS);
    root_field(ins, PROGRAM_COUNT);
    ins.i32_const(SYMBOL_RECORD)
        .local_get(0)
        .local_get(1)
        .call(F_FIND)
        .local_tee(2)
        .if_(BlockType::Empty);
    ins.local_get(2).return_().end();
    ins.block(BlockType::Empty).loop_(BlockType::Empty);
    ins.local_get(3);
    root_field(ins, PROGRAM_GLOBALS_COUNT);
    ins.i32_ge_u().br_if(1);
    root_field(ins, PROGRAM_GLOBALS);
    ins.local_get(3)
        .i32_const(2)
        .i32_shl()
        .i32_add()
        .i32_load(mem(0))
        .local_set(4);
    find_in_library(ins, 4, 0, 1, 2);
    ins.if_(BlockType::Empty).local_get(2).return_().end();
    ins.local_get(3).i32_const(1).i32_add().local_set(3).br(0);
    ins.end().end();
    ins.i32_const(0).end();
    f
}

/// open(handle, flags): with RTLD_GLOBAL, adds the library to the global scope (once, at the
/// end of the RTLD_GLOBAL list); then, the first time, marks it loaded and runs its
/// constructor through its table slot.
/// Locals: 2 = state, 3 = scratch.
pub(super) fn open() -> Function {
    let mut f = Function::new([(2, ValType::I32)]);
    let ins = &mut f.instructions();
    ins.local_get(0).call(F_STATE).local_set(2);
    ins.local_get(1)
        .i32_const(RTLD_GLOBAL)
        .i32_and()
        .if_(BlockType::Empty);
    ins.local_get(2)
        .i32_load(mem(STATE_FLAGS))
        .i32_const(bits(GLOBAL))
        .i32_and()
        .i32_eqz()
        .if_(BlockType::Empty);
    set_flag(ins, GLOBAL);
    root_field(ins, PROGRAM_GLOBALS);
    root_field(ins, PROGRAM_GLOBALS_COUNT);
    ins.local_tee(3).i32_const(2).i32_shl().i32_add();
    ins.local_get(0).i32_store(mem(0));
    ins.global_get(G_LIBRARIES)
        .local_get(3)
        .i32_const(1)
        .i32_add()
        .i32_store(mem(PROGRAM_GLOBALS_COUNT));
    ins.end().end();
    ins.local_get(2)
        .i32_load(mem(STATE_FLAGS))
        .i32_const(bits(LOADED))
        .i32_and()
        .i32_eqz()
        .if_(BlockType::Empty);
    // Loaded before the constructor runs, so that a constructor opening its own library (or
    // one that opens it) does not run it again.
    set_flag(ins, LOADED);
    ins.local_get(2)
        .i32_load(mem(STATE_CONSTRUCTOR))
        .local_tee(3)
        .if_(BlockType::Empty);
    ins.local_get(3).call_indirect(0, T_V_V);
    ins.end().end().end();
    f
}

/// Sets `flag` in the state at local 2.
fn set_flag(ins: &mut InstructionSink<'_>, flag: u32) {
    ins.local_get(2)
        .local_get(2)
        .i32_load(mem(STATE_FLAGS))
        .i32_const(bits(flag))
        .i32_or()
        .i32_store(mem(STATE_FLAGS));
}

/// dlopen(name, flags): checks the flags; NULL names the program; else binary search of the
/// library records by exact name, then [`open`] (unless RTLD_NOLOAD finds it not loaded).
/// Locals: 2 = handle, 3 = len.
pub(super) fn dlopen() -> Function {
    let mut f = Function::new([(2, ValType::I32)]);
    let ins = &mut f.instructions();
    ins.local_get(1)
        .i32_const(!KNOWN_FLAGS)
        .i32_and()
        .if_(BlockType::Empty);
    fail_with(ins, Msg::Flags, 0);
    ins.end();
    ins.local_get(1)
        .i32_const(3)
        .i32_and()
        .i32_eqz()
        .if_(BlockType::Empty);
    fail_with(ins, Msg::Mode, 0);
    ins.end();
    ins.local_get(0).i32_eqz().if_(BlockType::Empty);
    program_handle(ins);
    ins.return_().end();
    root_field(ins, ROOT_LIBRARIES);
    root_field(ins, ROOT_COUNT);
    ins.i32_const(LIBRARY_RECORD)
        .local_get(0)
        .local_get(0)
        .call(F_STRLEN)
        .local_tee(3)
        .call(F_FIND)
        .local_tee(2)
        .i32_eqz()
        .if_(BlockType::Empty);
    fail_named(ins, Msg::Dlopen, 0, 3, Msg::NoLibrary);
    ins.end();
    ins.local_get(1)
        .i32_const(RTLD_NOLOAD)
        .i32_and()
        .if_(BlockType::Empty);
    ins.local_get(2)
        .call(F_VALID)
        .i32_eqz()
        .if_(BlockType::Empty);
    fail_named(ins, Msg::Dlopen, 0, 3, Msg::NotLoaded);
    ins.end().end();
    ins.local_get(2).local_get(1).call(F_OPEN);
    ins.local_get(2).end();
    f
}

/// dlsym(handle, name): RTLD_DEFAULT and the program's handle search the program scope, then
/// the RTLD_GLOBAL libraries ([`scope_find`]); a library's handle its own symbols.
/// Locals: 2 = len, 3 = record.
pub(super) fn dlsym() -> Function {
    let mut f = Function::new([(2, ValType::I32)]);
    let ins = &mut f.instructions();
    ins.local_get(0)
        .i32_const(-1)
        .i32_eq()
        .if_(BlockType::Empty);
    fail_with(ins, Msg::Next, 0);
    ins.end();
    ins.local_get(1).i32_eqz().if_(BlockType::Empty);
    fail_with(ins, Msg::NullName, 0);
    ins.end();
    ins.local_get(1).call(F_STRLEN).local_set(2);
    ins.local_get(0).i32_eqz().local_get(0);
    program_handle(ins);
    ins.i32_eq().i32_or().if_(BlockType::Empty);
    ins.local_get(1)
        .local_get(2)
        .call(F_SCOPE_FIND)
        .local_tee(3)
        .i32_eqz()
        .if_(BlockType::Empty);
    fail_named(ins, Msg::Dlsym, 1, 2, Msg::NotInProgram);
    ins.end();
    ins.local_get(3).i32_load(mem(SYMBOL_ADDRESS)).return_();
    ins.end();
    ins.local_get(0)
        .call(F_VALID)
        .i32_eqz()
        .if_(BlockType::Empty);
    fail_with(ins, Msg::Handle, 0);
    ins.end();
    find_in_library(ins, 0, 1, 2, 3);
    ins.i32_eqz().if_(BlockType::Empty);
    fail_named(ins, Msg::Dlsym, 1, 2, Msg::NotInLibrary);
    ins.end();
    ins.local_get(3).i32_load(mem(SYMBOL_ADDRESS)).end();
    f
}

/// dlclose(handle): 0 for the program's or a library's handle (libraries are never unloaded),
/// else -1.
pub(super) fn dlclose() -> Function {
    let mut f = Function::new([]);
    let ins = &mut f.instructions();
    ins.local_get(0);
    program_handle(ins);
    ins.i32_eq()
        .local_get(0)
        .call(F_VALID)
        .i32_or()
        .if_(BlockType::Empty);
    ins.i32_const(0).return_().end();
    ins.i32_const(Msg::Close.offset())
        .call(F_FAIL)
        .i32_const(-1)
        .end();
    f
}

/// dlerror(): the last error, once.
pub(super) fn dlerror() -> Function {
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

//! libdl's string helpers: `strlen`, byte comparison, binary search of name-keyed records, and
//! setting the error message (fixed, or composed around a library or symbol name).

use wasm_encoder::{BlockType, Function, InstructionSink, ValType};

use super::messages::{self, BUFFER_SIZE};
use super::{F_APPEND, F_COMPARE, F_STRLEN, G_ERROR, G_MEMORY_BASE, byte, mem};

/// strlen(p): count bytes up to the NUL.
pub(super) fn strlen() -> Function {
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
pub(super) fn compare() -> Function {
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
pub(super) fn find() -> Function {
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

/// append(dst, end, src, len): copies `src[..len]` to `dst`, stopping at `end`; returns the
/// address after the last byte copied.
/// Locals: 4 = n.
pub(super) fn append() -> Function {
    let mut f = Function::new([(1, ValType::I32)]);
    let ins = &mut f.instructions();
    ins.local_get(3)
        .local_get(1)
        .local_get(0)
        .i32_sub()
        .local_tee(4)
        .local_get(3)
        .local_get(4)
        .i32_lt_u()
        .select()
        .local_set(4);
    ins.local_get(0).local_get(2).local_get(4).memory_copy(0, 0);
    ins.local_get(0).local_get(4).i32_add().end();
    f
}

/// fail(message): the error becomes the message at `__memory_base + message`.
pub(super) fn fail() -> Function {
    let mut f = Function::new([]);
    let ins = &mut f.instructions();
    ins.global_get(G_MEMORY_BASE)
        .local_get(0)
        .i32_add()
        .global_set(G_ERROR)
        .end();
    f
}

/// fail_named(prefix, name, len, suffix): the error becomes the message at `prefix`, then
/// `name[..len]`, then the message at `suffix` (both relative to `__memory_base`), composed in
/// the buffer and truncated to fit.
/// Locals: 4 = dst, 5 = end, 6 = part.
pub(super) fn fail_named() -> Function {
    let mut f = Function::new([(3, ValType::I32)]);
    let ins = &mut f.instructions();
    ins.global_get(G_MEMORY_BASE)
        .i32_const(messages::buffer())
        .i32_add()
        .local_tee(4)
        .i32_const(BUFFER_SIZE - 1)
        .i32_add()
        .local_set(5);
    // The address of the message whose offset is in local `at`, and its length.
    let message = |ins: &mut InstructionSink<'_>, at: u32| {
        ins.global_get(G_MEMORY_BASE)
            .local_get(at)
            .i32_add()
            .local_tee(6)
            .local_get(6)
            .call(F_STRLEN);
    };
    ins.local_get(4).local_get(5);
    message(ins, 0);
    ins.call(F_APPEND).local_set(4);
    ins.local_get(4)
        .local_get(5)
        .local_get(1)
        .local_get(2)
        .call(F_APPEND)
        .local_set(4);
    ins.local_get(4).local_get(5);
    message(ins, 3);
    ins.call(F_APPEND).local_set(4);
    ins.local_get(4).i32_const(0).i32_store8(byte());
    ins.global_get(G_MEMORY_BASE)
        .i32_const(messages::buffer())
        .i32_add()
        .global_set(G_ERROR)
        .end();
    f
}

//! Re-encoding a function body by scanning its bytes: most instructions name no index that
//! moves (locals, constants, arithmetic, branches, accesses to memory 0), so they are skipped
//! over by their encoding and copied in long runs; the common ones that do (calls, globals,
//! `call_indirect`, `ref.func`, tables, tags) are rewritten in place; every other instruction
//! is decoded by wasmparser and re-encoded by wasm-encoder. Malformed bytes go the same way, so
//! their errors are wasmparser's.

use wasm_encoder::Encode;
use wasm_encoder::reencode::{Error, Reencode};
use wasmparser::{BinaryReader, FunctionBody, OperatorsReader};

use crate::inline::Site;
use crate::reencode::{PartReencoder, Unmapped};

/// What an instruction needs.
enum Step {
    /// Nothing: its bytes stay; the next instruction starts here.
    Keep(usize),
    /// Opcode `op` with one index immediate, remapped; the next instruction starts at `next`.
    Index {
        op: u8,
        index: u32,
        kind: Kind,
        next: usize,
    },
    /// `call_indirect`-like: opcode, type index, table index.
    Indirect {
        op: u8,
        ty: u32,
        table: u32,
        next: usize,
    },
    /// Decoded and re-encoded by wasmparser and wasm-encoder.
    Decode,
}

/// What an index immediate indexes.
#[derive(Clone, Copy)]
enum Kind {
    Func,
    Global,
    Table,
    Tag,
    Type,
}

/// Appends body `body`'s bytes, re-encoded with `reencoder`'s maps, to `out` (without the size
/// prefix), inlining calls as `site` may; returns the length of its locals declarations, which
/// come first as they were.
pub(crate) fn body(
    reencoder: &mut PartReencoder<'_>,
    body: &FunctionBody<'_>,
    memory0_kept: bool,
    site: &mut Site<'_>,
    out: &mut Vec<u8>,
) -> Result<usize, Error<Unmapped>> {
    let bytes = body.as_bytes();
    let base = body.range().start;
    let ops = body.get_operators_reader()?;
    let start = usize::try_from(ops.original_position().saturating_sub(base)).unwrap_or(0);
    let (mut pos, mut run) = (start, 0usize);
    while pos < bytes.len() {
        match step(bytes, pos, memory0_kept) {
            Step::Keep(next) => pos = next,
            Step::Index {
                op,
                index,
                kind,
                next,
            } => {
                out.extend_from_slice(bytes.get(run..pos).unwrap_or_default());
                let index = reencoder.remap(kind, index)?;
                if op != CALL || !site.inline(index, out) {
                    out.push(op);
                    index.encode(out);
                }
                (pos, run) = (next, next);
            }
            Step::Indirect {
                op,
                ty,
                table,
                next,
            } => {
                out.extend_from_slice(bytes.get(run..pos).unwrap_or_default());
                out.push(op);
                reencoder.remap(Kind::Type, ty)?.encode(out);
                reencoder.remap(Kind::Table, table)?.encode(out);
                (pos, run) = (next, next);
            }
            Step::Decode => {
                out.extend_from_slice(bytes.get(run..pos).unwrap_or_default());
                let rest = bytes.get(pos..).unwrap_or_default();
                let mut reader = OperatorsReader::new(BinaryReader::new(rest, base + pos as u64));
                let op = reader.read()?;
                reencoder.instruction(op)?.encode(out);
                let read = reader.original_position() - (base + pos as u64);
                pos += usize::try_from(read).unwrap_or(usize::MAX);
                run = pos;
            }
        }
    }
    out.extend_from_slice(bytes.get(run..).unwrap_or_default());
    Ok(start)
}

/// The opcode of `call`.
const CALL: u8 = 0x10;

impl PartReencoder<'_> {
    fn remap(&mut self, kind: Kind, index: u32) -> Result<u32, Error<Unmapped>> {
        match kind {
            Kind::Func => self.function_index(index),
            Kind::Global => self.global_index(index),
            Kind::Table => self.table_index(index),
            Kind::Tag => self.tag_index(index),
            Kind::Type => self.type_index(index),
        }
    }
}

/// The instruction at `pos`.
fn step(bytes: &[u8], pos: usize, memory0_kept: bool) -> Step {
    let Some(&op) = bytes.get(pos) else {
        return Step::Decode;
    };
    let after = pos + 1;
    let keep = |next: Option<usize>| next.map_or(Step::Decode, Step::Keep);
    let index = |kind| match leb_u32(bytes, after) {
        Some((index, next)) => Step::Index {
            op,
            index,
            kind,
            next,
        },
        None => Step::Decode,
    };
    match op {
        // unreachable, nop, else, throw_ref, end, return, catch_all, drop, select, ref.is_null
        // and the numeric instructions.
        0x00 | 0x01 | 0x05 | 0x0A | 0x0B | 0x0F | 0x19 | 0x1A | 0x1B | 0x45..=0xC4 | 0xD1 => {
            Step::Keep(after)
        }
        // br, br_if, rethrow, delegate, local.get/set/tee: one immediate that does not move.
        0x0C | 0x0D | 0x09 | 0x18 | 0x20..=0x22 => keep(skip_leb(bytes, after)),
        0x0E => keep(br_table(bytes, after)),
        0x41 | 0x42 => keep(skip_leb(bytes, after)),
        0x43 => keep(Some(after + 4).filter(|&n| n <= bytes.len())),
        0x44 => keep(Some(after + 8).filter(|&n| n <= bytes.len())),
        // block, loop, if, try: empty or one value type of no index.
        0x02..=0x04 | 0x06 => match bytes.get(after) {
            Some(&b) if b == 0x40 || (0x69..=0x7F).contains(&b) => Step::Keep(after + 1),
            _ => Step::Decode,
        },
        // Loads and stores: memory 0 unless the flags' bit 6 says a memory index follows.
        0x28..=0x3E if memory0_kept => match bytes.get(after) {
            Some(&flags) if flags & 0x40 == 0 => {
                keep(skip_leb(bytes, after).and_then(|n| skip_leb(bytes, n)))
            }
            _ => Step::Decode,
        },
        // memory.size, memory.grow of memory 0.
        0x3F | 0x40 if memory0_kept && bytes.get(after) == Some(&0) => Step::Keep(after + 1),
        0x10 | 0x12 | 0xD2 => index(Kind::Func),
        0x23 | 0x24 => index(Kind::Global),
        0x25 | 0x26 => index(Kind::Table),
        0x07 | 0x08 => index(Kind::Tag),
        0x14 | 0x15 => index(Kind::Type),
        0x11 | 0x13 => match leb_u32(bytes, after)
            .and_then(|(ty, n)| leb_u32(bytes, n).map(|(table, next)| (ty, table, next)))
        {
            Some((ty, table, next)) => Step::Indirect {
                op,
                ty,
                table,
                next,
            },
            None => Step::Decode,
        },
        // The saturating truncations.
        0xFC => match leb_u32(bytes, after) {
            Some((sub, next)) if sub <= 7 => Step::Keep(next),
            _ => Step::Decode,
        },
        _ => Step::Decode,
    }
}

/// `br_table`'s immediates from `at`: the end.
fn br_table(bytes: &[u8], at: usize) -> Option<usize> {
    let (count, mut next) = leb_u32(bytes, at)?;
    for _ in 0..=count {
        next = skip_leb(bytes, next)?;
    }
    Some(next)
}

/// The unsigned 32-bit LEB128 at `at` and the position after it.
fn leb_u32(bytes: &[u8], at: usize) -> Option<(u32, usize)> {
    let mut value: u64 = 0;
    for i in 0..5 {
        let b = *bytes.get(at + i)?;
        value |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return u32::try_from(value).ok().map(|v| (v, at + i + 1));
        }
    }
    None
}

/// The position after the LEB128 (of at most 10 bytes) at `at`.
fn skip_leb(bytes: &[u8], at: usize) -> Option<usize> {
    for i in 0..10 {
        if bytes.get(at + i)? & 0x80 == 0 {
            return Some(at + i + 1);
        }
    }
    None
}

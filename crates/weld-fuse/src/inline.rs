//! Inlining calls between parts into small leaf functions: once libraries are one module, a
//! call from one part into a tiny function of another (a getter, an increment) can be replaced
//! by the function's body, which no linker of separate instances can do.
//!
//! A function is inlined when its body is at most [`MAX_BODY_BYTES`] bytes, its parameters,
//! locals and (at most one) result are numeric or vectors, and it calls nothing and handles no
//! exceptions. At a call site in another part, the arguments are stored into locals added to the
//! caller, the callee's locals are zeroed, and its body runs in a `block` of its result type,
//! with its local indices shifted and its other indices mapped through its own part's maps.
//! Branch depths need no change: the `block` stands where the function's own outer block stood;
//! a `return` becomes a `br` to that block. A caller reuses one set of added locals per callee (an
//! inlined body calls nothing, so two of them are never live at once).
//!
//! `planned` decides what may be inlined, once per fusion; `Site` inlines while a caller's body
//! is re-encoded (see [`crate::scan`]).

use std::collections::HashMap;

use wasm_encoder::reencode::{Error, Reencode};
use wasm_encoder::{Encode, Instruction};
use wasmparser::{FunctionBody, Operator, ValType};

use crate::part::{PartId, PartModule, PerPart};
use crate::reencode::{PartReencoder, Unmapped};
use crate::spaces::IndexMaps;

/// The largest body (locals declarations and code, in bytes) that is inlined.
pub(crate) const MAX_BODY_BYTES: usize = 64;

/// The most locals a function may have (wasmparser's limit, which engines share).
const MAX_LOCALS: u32 = 50_000;

/// A function that calls may be replaced by.
pub(crate) struct Inlinable {
    /// The part defining it.
    part: PartId,
    /// Its parameters' and then its declared locals' types: the locals a caller adds.
    locals: Vec<ValType>,
    /// How many of `locals` are parameters.
    params: u32,
    /// The wrapping block's type byte: `0x40` (no result) or the result's value type.
    block_type: u8,
    /// The body without its final `end`, its indices in the fused spaces except local ones.
    code: Vec<Piece>,
}

/// A run of a template's code.
enum Piece {
    /// Bytes copied as they are.
    Bytes(Vec<u8>),
    /// `local.get`, `local.set` or `local.tee` (the opcode) of the callee's local `index`.
    Local { op: u8, index: u32 },
}

/// What may be inlined in a fusion, and what a caller needs to inline it.
#[derive(Default)]
pub(crate) struct Inlining {
    /// Inlinable functions by fused function index.
    by_func: HashMap<u32, Inlinable>,
    /// Each part's defined functions' parameter counts, where known (a caller's first free
    /// local follows its parameters and declared locals).
    params: PerPart<Vec<Option<u32>>>,
}

/// The functions of `modules` that may be inlined (none when `enabled` is false).
pub(crate) fn planned(
    modules: &PerPart<PartModule<'_>>,
    maps: &PerPart<IndexMaps>,
    enabled: bool,
) -> Inlining {
    if !enabled {
        return Inlining::default();
    }
    let mut by_func = HashMap::new();
    let mut params = Vec::new();
    for (part, module) in modules.iter() {
        let types = func_types(module);
        let of = |f: usize| {
            module
                .functions
                .get(f)
                .and_then(|&t| types.get(t as usize))
                .and_then(Option::as_ref)
        };
        params.push(
            (0..module.functions.len())
                .map(|f| of(f).map(|t| t.params().len() as u32))
                .collect(),
        );
        let imported = module.imported().funcs as usize;
        for (f, body) in module.bodies.iter().enumerate() {
            if body.as_bytes().len() > MAX_BODY_BYTES {
                continue;
            }
            let Some(ty) = of(f) else { continue };
            let Some(&fused) = maps[part].funcs.get(imported + f) else {
                continue;
            };
            if let Some(t) = template(part, ty, body, &maps[part]) {
                by_func.insert(fused, t);
            }
        }
    }
    Inlining {
        by_func,
        params: PerPart::new(params),
    }
}

/// Every type of `module` that is a function type, by type index (`None` for other types; all
/// `None` when the type section cannot be read, which the re-encoding will report).
fn func_types(module: &PartModule<'_>) -> Vec<Option<wasmparser::FuncType>> {
    let Some(reader) = module.types.clone() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for group in reader {
        let Ok(group) = group else {
            return Vec::new();
        };
        for sub in group.into_types() {
            out.push(match sub.composite_type.inner {
                wasmparser::CompositeInnerType::Func(f) if sub.is_final => Some(f),
                _ => None,
            });
        }
    }
    out
}

/// The template of a body that may be inlined, or `None`.
fn template(
    part: PartId,
    ty: &wasmparser::FuncType,
    body: &FunctionBody<'_>,
    maps: &IndexMaps,
) -> Option<Inlinable> {
    let ([] | [_]) = ty.results() else {
        return None;
    };
    let block_type = match ty.results().first() {
        None => 0x40,
        Some(&t) => value_type_byte(t)?,
    };
    let mut locals: Vec<ValType> = ty.params().to_vec();
    for group in body.get_locals_reader().ok()? {
        let (count, t) = group.ok()?;
        if count > MAX_BODY_BYTES as u32 {
            return None;
        }
        locals.extend(std::iter::repeat_n(t, count as usize));
    }
    if locals.iter().any(|&t| value_type_byte(t).is_none()) {
        return None;
    }
    let mut reencoder = PartReencoder { maps };
    let mut code = Vec::new();
    let mut bytes = Vec::new();
    let mut reader = body.get_operators_reader().ok()?;
    let mut ops = Vec::new();
    while !reader.eof() {
        ops.push(reader.read().ok()?);
    }
    // The final `end` closes the function; the wrapping block's `end` replaces it.
    let Some(Operator::End) = ops.pop() else {
        return None;
    };
    // How many blocks are open inside the body: a `return` becomes a branch to the wrapping
    // block, `depth` labels out.
    let mut depth: u32 = 0;
    for op in ops {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => depth += 1,
            Operator::End => depth = depth.checked_sub(1)?,
            _ => {}
        }
        if let Operator::Return = op {
            Instruction::Br(depth).encode(&mut bytes);
            continue;
        }
        let local = match op {
            Operator::LocalGet { local_index } => Some((0x20, local_index)),
            Operator::LocalSet { local_index } => Some((0x21, local_index)),
            Operator::LocalTee { local_index } => Some((0x22, local_index)),
            _ => None,
        };
        if let Some((op, index)) = local {
            if index as usize >= locals.len() {
                return None;
            }
            if !bytes.is_empty() {
                code.push(Piece::Bytes(std::mem::take(&mut bytes)));
            }
            code.push(Piece::Local { op, index });
            continue;
        }
        if !may_inline(&op) {
            return None;
        }
        reencoder.instruction(op).ok()?.encode(&mut bytes);
    }
    if !bytes.is_empty() {
        code.push(Piece::Bytes(bytes));
    }
    Some(Inlinable {
        part,
        params: ty.params().len() as u32,
        locals,
        block_type,
        code,
    })
}

/// Whether an instruction keeps its meaning inlined: not a call (an inlined body stays a leaf,
/// so nothing is inlined twice and no recursion unrolls), not exception handling (whose depths
/// and handlers are the function's). (A `return` becomes a branch out of the wrapping block.)
fn may_inline(op: &Operator<'_>) -> bool {
    !matches!(
        op,
        Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::ReturnCallRef { .. }
            | Operator::Try { .. }
            | Operator::TryTable { .. }
            | Operator::Catch { .. }
            | Operator::CatchAll
            | Operator::Delegate { .. }
            | Operator::Throw { .. }
            | Operator::ThrowRef
            | Operator::Rethrow { .. }
    )
}

/// A numeric or vector type's encoding; `None` for reference types.
fn value_type_byte(t: ValType) -> Option<u8> {
    match t {
        ValType::I32 => Some(0x7F),
        ValType::I64 => Some(0x7E),
        ValType::F32 => Some(0x7D),
        ValType::F64 => Some(0x7C),
        ValType::V128 => Some(0x7B),
        ValType::Ref(_) => None,
    }
}

/// Inlining within one caller's body.
pub(crate) struct Site<'i> {
    inlining: &'i Inlining,
    caller: PartId,
    /// The caller's next free local (`None`: inline nothing here).
    next_local: Option<u32>,
    /// The first added local of each callee inlined so far.
    bases: HashMap<u32, u32>,
    /// The locals added, in order.
    pub(crate) added: Vec<ValType>,
}

impl<'i> Site<'i> {
    /// Inlining in the body of function `function` (a position among `caller`'s bodies) whose
    /// locals declarations are `body`'s.
    pub(crate) fn new(
        inlining: &'i Inlining,
        caller: PartId,
        function: usize,
        body: &FunctionBody<'_>,
    ) -> Result<Self, Error<Unmapped>> {
        // Without anything to inline, the caller's locals are not needed (and, inlining being
        // off, its parameters not counted). A caller of unknown type inlines nothing.
        let mut next_local = None;
        if !inlining.by_func.is_empty() {
            next_local = inlining.params[caller].get(function).copied().flatten();
            if let Some(n) = next_local.as_mut() {
                for group in body.get_locals_reader()? {
                    *n = n.saturating_add(group?.0);
                }
            }
        }
        Ok(Site {
            inlining,
            caller,
            next_local,
            bases: HashMap::new(),
            added: Vec::new(),
        })
    }

    /// Writes the body of fused function `callee` in place of a call to it, when it may be
    /// inlined here; returns whether it was.
    pub(crate) fn inline(&mut self, callee: u32, out: &mut Vec<u8>) -> bool {
        let (Some(f), Some(next_local)) = (self.inlining.by_func.get(&callee), self.next_local)
        else {
            return false;
        };
        if f.part == self.caller {
            return false;
        }
        let base = match self.bases.get(&callee) {
            Some(&b) => b,
            None => {
                let b = next_local;
                let after = b.saturating_add(f.locals.len() as u32);
                if after > MAX_LOCALS {
                    return false;
                }
                self.next_local = Some(after);
                self.added.extend_from_slice(&f.locals);
                self.bases.insert(callee, b);
                b
            }
        };
        // The arguments, last on top of the stack, into the parameters' locals.
        for k in (0..f.params).rev() {
            out.push(0x21);
            (base + k).encode(out);
        }
        // The declared locals start at zero, as on every call.
        for (k, &t) in f.locals.iter().enumerate().skip(f.params as usize) {
            zero(t, out);
            out.push(0x21);
            (base + k as u32).encode(out);
        }
        out.push(0x02);
        out.push(f.block_type);
        for piece in &f.code {
            match piece {
                Piece::Bytes(b) => out.extend_from_slice(b),
                Piece::Local { op, index } => {
                    out.push(*op);
                    (base + index).encode(out);
                }
            }
        }
        out.push(0x0B);
        true
    }
}

/// The constant zero of a numeric or vector type.
fn zero(t: ValType, out: &mut Vec<u8>) {
    match t {
        ValType::I32 => out.extend_from_slice(&[0x41, 0]),
        ValType::I64 => out.extend_from_slice(&[0x42, 0]),
        ValType::F32 => {
            out.push(0x43);
            out.extend_from_slice(&[0; 4]);
        }
        ValType::F64 => {
            out.push(0x44);
            out.extend_from_slice(&[0; 8]);
        }
        ValType::V128 => {
            out.extend_from_slice(&[0xFD, 0x0C]);
            out.extend_from_slice(&[0; 16]);
        }
        ValType::Ref(_) => debug_assert!(false, "reference locals are never inlined"),
    }
}

/// Writes a body (with its size) whose locals are its own followed by `added`: `encoded` is
/// the re-encoded body, whose first `header_len` bytes are its locals declarations as they were
/// (a count, then the groups, which are copied as they are).
pub(crate) fn with_added_locals(
    encoded: &[u8],
    header_len: usize,
    added: &[ValType],
    out: &mut Vec<u8>,
) -> Result<(), Error<Unmapped>> {
    let mut reader = wasmparser::BinaryReader::new(encoded, 0);
    let own_count = reader.read_var_u32()?;
    let own_groups = encoded
        .get(reader.current_position()..header_len)
        .unwrap_or_default();
    let mut groups: Vec<(u32, u8)> = Vec::new();
    for &t in added {
        let b = value_type_byte(t).unwrap_or(0x7F);
        debug_assert!(
            value_type_byte(t).is_some(),
            "only numeric locals are added"
        );
        match groups.last_mut() {
            Some((n, last)) if *last == b => *n += 1,
            _ => groups.push((1, b)),
        }
    }
    let mut header = Vec::new();
    (own_count + groups.len() as u32).encode(&mut header);
    header.extend_from_slice(own_groups);
    for (n, b) in groups {
        n.encode(&mut header);
        header.push(b);
    }
    let code = encoded.get(header_len..).unwrap_or_default();
    (header.len() + code.len()).encode(out);
    out.extend_from_slice(&header);
    out.extend_from_slice(code);
    Ok(())
}

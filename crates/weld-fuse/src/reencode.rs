//! Re-encoding a part's items with its index maps (wasm-encoder's `Reencode`), and its function
//! bodies in parallel.

use std::ops::Range;

use wasm_encoder::reencode::{Error, Reencode};
use wasm_encoder::{ConstExpr, Encode, Instruction};
use wasmparser::{FunctionBody, Operator, ValType};

use crate::inline::{self, Inlining, Site};
use crate::part::{PartId, PartModule, PerPart};
use crate::spaces::{GlobalTarget, IndexMaps};

/// An index a part uses that has no place in the fused module (an internal reference that was
/// not resolved, or an index past the part's own spaces).
#[derive(Debug)]
pub(crate) struct Unmapped {
    pub(crate) what: &'static str,
    pub(crate) index: u32,
}

/// What a re-encoding error says.
pub(crate) fn describe(e: Error<Unmapped>) -> String {
    match e {
        Error::UserError(u) => format!("{} {} has no place in the fused module", u.what, u.index),
        Error::ParseError(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}

/// Re-encodes one part's items into the fused module's index spaces.
pub(crate) struct PartReencoder<'m> {
    pub(crate) maps: &'m IndexMaps,
}

fn lookup(map: &[u32], index: u32, what: &'static str) -> Result<u32, Error<Unmapped>> {
    match map.get(index as usize) {
        Some(&i) if i != u32::MAX => Ok(i),
        _ => Err(Error::UserError(Unmapped { what, index })),
    }
}

impl Reencode for PartReencoder<'_> {
    type Error = Unmapped;

    fn function_index(&mut self, func: u32) -> Result<u32, Error<Unmapped>> {
        lookup(&self.maps.funcs, func, "function")
    }

    fn global_index(&mut self, global: u32) -> Result<u32, Error<Unmapped>> {
        match self.maps.globals.get(global as usize) {
            Some(g) if g.index() != u32::MAX => Ok(g.index()),
            _ => Err(Error::UserError(Unmapped {
                what: "global",
                index: global,
            })),
        }
    }

    fn memory_index(&mut self, memory: u32) -> Result<u32, Error<Unmapped>> {
        lookup(&self.maps.memories, memory, "memory")
    }

    fn table_index(&mut self, table: u32) -> Result<u32, Error<Unmapped>> {
        lookup(&self.maps.tables, table, "table")
    }

    fn tag_index(&mut self, tag: u32) -> Result<u32, Error<Unmapped>> {
        lookup(&self.maps.tags, tag, "tag")
    }

    fn type_index(&mut self, ty: u32) -> Result<u32, Error<Unmapped>> {
        Ok(self.maps.type_base.saturating_add(ty))
    }

    fn data_index(&mut self, data: u32) -> Result<u32, Error<Unmapped>> {
        Ok(self.maps.data_base.saturating_add(data))
    }

    fn element_index(&mut self, element: u32) -> Result<u32, Error<Unmapped>> {
        Ok(self.maps.element_base.saturating_add(element))
    }

    /// Like the default, except that a `global.get` of a global the fused module defines for
    /// the part (a base, an internal `GOT.mem` entry) becomes the fused base plus its offset:
    /// constant expressions may only read imported globals.
    fn const_expr(
        &mut self,
        expr: wasmparser::ConstExpr<'_>,
    ) -> Result<ConstExpr, Error<Unmapped>> {
        let mut ops = expr.get_operators_reader();
        let mut bytes = Vec::new();
        while !ops.is_end_then_eof() {
            match ops.read()? {
                Operator::GlobalGet { global_index } => {
                    match self.maps.globals.get(global_index as usize) {
                        Some(GlobalTarget::Derived { base, offset, .. }) => {
                            Instruction::GlobalGet(*base).encode(&mut bytes);
                            Instruction::I32Const(*offset).encode(&mut bytes);
                            Instruction::I32Add.encode(&mut bytes);
                        }
                        _ => Instruction::GlobalGet(self.global_index(global_index)?)
                            .encode(&mut bytes),
                    }
                }
                op => self.instruction(op)?.encode(&mut bytes),
            }
        }
        Ok(ConstExpr::raw(bytes))
    }
}

/// A run of function bodies to re-encode together: the part, and the bodies' positions among
/// the part's.
pub(crate) struct Batch {
    pub(crate) part: PartId,
    pub(crate) bodies: Range<usize>,
}

/// Cuts the parts' bodies into batches of about `target` bytes each (a large part into
/// several), in order.
pub(crate) fn batches(modules: &PerPart<PartModule<'_>>, target: usize) -> Vec<Batch> {
    let mut out = Vec::new();
    for (part, module) in modules.iter() {
        let list = &module.bodies;
        let mut start = 0;
        let mut size = 0;
        for (i, b) in list.iter().enumerate() {
            size += b.as_bytes().len();
            if size >= target {
                out.push(Batch {
                    part,
                    bodies: start..i + 1,
                });
                start = i + 1;
                size = 0;
            }
        }
        if start < list.len() {
            out.push(Batch {
                part,
                bodies: start..list.len(),
            });
        }
    }
    out
}

/// Re-encodes one batch of `modules`' bodies into the bytes of a code section's entries (each
/// body prefixed with its size), inlining calls as `inlining` allows.
pub(crate) fn encode_batch(
    maps: &IndexMaps,
    modules: &PerPart<PartModule<'_>>,
    batch: &Batch,
    inlining: &Inlining,
) -> Result<Vec<u8>, Error<Unmapped>> {
    let mut reencoder = PartReencoder { maps };
    let memory0_kept = maps.memories.first() == Some(&0);
    let mut out = Vec::new();
    let mut body_bytes = Vec::new();
    let bodies = modules[batch.part]
        .bodies
        .get(batch.bodies.clone())
        .unwrap_or_default();
    for (function, body) in batch.bodies.clone().zip(bodies) {
        if locals_name_types(body)? {
            whole_body(&mut reencoder, body)?.encode(&mut out);
            continue;
        }
        body_bytes.clear();
        let mut site = Site::new(inlining, batch.part, function, body)?;
        let header_len = crate::scan::body(
            &mut reencoder,
            body,
            memory0_kept,
            &mut site,
            &mut body_bytes,
        )?;
        if site.added.is_empty() {
            body_bytes.len().encode(&mut out);
            out.extend_from_slice(&body_bytes);
        } else {
            inline::with_added_locals(&body_bytes, header_len, &site.added, &mut out)?;
        }
    }
    Ok(out)
}

/// Whether a body declares a local of a concrete reference type (whose type index must be
/// remapped too).
fn locals_name_types(body: &FunctionBody<'_>) -> Result<bool, Error<Unmapped>> {
    for local in body.get_locals_reader()? {
        let (_, ty) = local?;
        if let ValType::Ref(r) = ty
            && r.type_index().is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A body re-encoded instruction by instruction.
fn whole_body(
    reencoder: &mut PartReencoder<'_>,
    body: &FunctionBody<'_>,
) -> Result<wasm_encoder::Function, Error<Unmapped>> {
    let mut f = reencoder.new_function_with_parsed_locals(body)?;
    let mut reader = body.get_operators_reader()?;
    while !reader.eof() {
        f.instruction(&reencoder.parse_instruction(&mut reader)?);
    }
    Ok(f)
}

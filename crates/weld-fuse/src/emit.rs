//! Writing the fused module from the plan and the index spaces: `dylink.0` first, then every
//! section with the parts' items re-encoded in order and the fused module's own functions
//! (relocations, constructors, start) and globals (its exported data symbols) after them; the
//! function bodies are re-encoded on all cores.

use std::borrow::Cow;
use std::collections::HashMap;

use wasm_encoder::reencode::Reencode;
use wasm_encoder::{
    ConstExpr, CustomSection, DataCountSection, DataSection, ElementSection, EntityType,
    ExportKind, ExportSection, Function, FunctionSection, GlobalSection, GlobalType, ImportSection,
    Instruction, MemorySection, MemoryType, Module, RawSection, RefType, SectionId, StartSection,
    TableSection, TableType, TagSection, TypeSection, ValType,
};
use wasmparser::TypeRef;
use weld_graph::{ExportRef, LibId, LibrarySet};
use weld_module::{SYM_TLS, SpecialExport, abi};

use crate::inline::Inlining;
use crate::part::{PartId, PartModule, PerPart};
use crate::plan::Plan;
use crate::reencode::{self, PartReencoder, Unmapped};
use crate::spaces::Spaces;
use crate::{FuseError, LeftData, dylink};

/// What emitting needs.
pub(crate) struct Inputs<'s, 'a> {
    pub(crate) set: &'s LibrarySet<'a>,
    pub(crate) parts: &'s PerPart<LibId>,
    pub(crate) modules: &'s PerPart<PartModule<'a>>,
    pub(crate) plan: &'s Plan<'a>,
    pub(crate) spaces: &'s Spaces,
    /// The parts in initialization order.
    pub(crate) init_order: &'s [LibId],
    /// The fused library's name (the name section's module name).
    pub(crate) name: &'s str,
    /// What calls between parts may be replaced by.
    pub(crate) inlining: &'s Inlining,
    /// Whether the parts' base-relative data is left to the linker.
    pub(crate) data_to_linker: bool,
}

/// The fused module's own functions, after the parts'.
struct Own {
    relocs: Vec<u32>,
    ctors: Vec<u32>,
    starts: Vec<u32>,
    /// Their indices: relocations, constructors, start (when there is something to call).
    relocs_index: Option<u32>,
    ctors_index: Option<u32>,
    start_index: Option<u32>,
    thunk_type: u32,
}

/// Writes the fused module; returns it and the data left to the linker.
pub(crate) fn module(cx: &Inputs<'_, '_>) -> Result<(Vec<u8>, Vec<LeftData>), FuseError> {
    let own = own_functions(cx)?;
    let mut m = Module::new();
    m.section(&CustomSection {
        name: Cow::Borrowed(abi::DYLINK_SECTION),
        data: Cow::Owned(dylink::section(cx)),
    });
    // Empty sections are left out: an empty tag section, say, would need the exceptions
    // proposal of an engine for nothing.
    m.section(&types(cx, &own)?);
    m.section(&imports(cx)?);
    m.section(&functions(cx, &own));
    let tables = tables(cx)?;
    if !tables.is_empty() {
        m.section(&tables);
    }
    let memories = memories(cx)?;
    if !memories.is_empty() {
        m.section(&memories);
    }
    let tags = tags(cx)?;
    if !tags.is_empty() {
        m.section(&tags);
    }
    let (globals, data_exports) = globals(cx)?;
    if !globals.is_empty() {
        m.section(&globals);
    }
    m.section(&exports(cx, &own, &data_exports));
    if let Some(start) = own.start_index {
        m.section(&StartSection {
            function_index: start,
        });
    }
    let elements = elements(cx)?;
    if !elements.is_empty() {
        m.section(&elements);
    }
    let (data, left) = data(cx)?;
    if !data.is_empty() {
        m.section(&DataCountSection { count: data.len() });
    }
    let code = code(cx, &own)?;
    m.section(&RawSection {
        id: SectionId::Code as u8,
        data: &code,
    });
    if !data.is_empty() {
        m.section(&data);
    }
    m.section(&dylink::names(
        cx,
        own.relocs_index,
        own.ctors_index,
        own.start_index,
    ));
    m.section(&CustomSection {
        name: Cow::Borrowed(abi::FUSED_PARTS_SECTION),
        data: Cow::Owned(dylink::fused_parts(cx)),
    });
    for part in cx.modules.values() {
        for (name, bytes) in &part.component_types {
            m.section(&CustomSection {
                name: Cow::Borrowed(name),
                data: Cow::Borrowed(bytes),
            });
        }
    }
    Ok((m.finish(), left))
}

/// The parts' relocation, constructor and start functions to call, and the fused module's
/// functions that call them.
fn own_functions(cx: &Inputs<'_, '_>) -> Result<Own, FuseError> {
    let special_of = |which: &[SpecialExport], included: &dyn Fn(LibId) -> bool| -> Vec<u32> {
        let mut calls = Vec::new();
        for &id in cx.init_order.iter().filter(|&&id| included(id)) {
            let p = cx.plan.position(id);
            for &w in which {
                if let Some(e) = cx.set[id].special(w) {
                    calls.push(
                        cx.spaces.maps[p]
                            .funcs
                            .get(e.index as usize)
                            .copied()
                            .unwrap_or(u32::MAX),
                    );
                }
            }
        }
        calls
    };
    let relocs = special_of(&[SpecialExport::ApplyDataRelocs], &|_| true);
    let ctors = special_of(
        &[SpecialExport::CallCtors, SpecialExport::Initialize],
        &|id| !cx.plan.deferred.contains(&id),
    );
    let starts: Vec<u32> = cx
        .modules
        .iter()
        .filter_map(|(p, m)| {
            let f = m.start?;
            cx.spaces.maps[p].funcs.get(f as usize).copied()
        })
        .collect();
    if relocs
        .iter()
        .chain(&ctors)
        .chain(&starts)
        .any(|&f| f == u32::MAX)
    {
        return Err(FuseError::Internal(
            "an initialization function has no index".into(),
        ));
    }
    let mut next = cx.spaces.next_func;
    let mut take = |calls: &[u32]| {
        (!calls.is_empty()).then(|| {
            next += 1;
            next - 1
        })
    };
    let relocs_index = take(&relocs);
    let ctors_index = take(&ctors);
    let start_index = take(&starts);
    Ok(Own {
        relocs,
        ctors,
        starts,
        relocs_index,
        ctors_index,
        start_index,
        thunk_type: cx.spaces.next_type,
    })
}

fn reencoder<'m>(cx: &'m Inputs<'_, '_>, p: PartId) -> PartReencoder<'m> {
    PartReencoder {
        maps: &cx.spaces.maps[p],
    }
}

/// A re-encoding error of part `p`.
fn unmapped<'c>(
    cx: &'c Inputs<'_, '_>,
    p: PartId,
) -> impl Fn(wasm_encoder::reencode::Error<Unmapped>) -> FuseError + 'c {
    move |e| FuseError::Reencode {
        part: cx.modules[p].name.to_string(),
        message: reencode::describe(e),
    }
}

/// Every part's types, in part order, then `[] -> []` for the fused module's own functions.
fn types(cx: &Inputs<'_, '_>, own: &Own) -> Result<TypeSection, FuseError> {
    let mut types = TypeSection::new();
    for (p, m) in cx.modules.iter() {
        let Some(reader) = m.types.clone() else {
            continue;
        };
        let mut r = reencoder(cx, p);
        for group in reader {
            let group = group.map_err(|e| FuseError::Reencode {
                part: m.name.to_string(),
                message: e.to_string(),
            })?;
            r.parse_recursive_type_group(types.ty(), group)
                .map_err(unmapped(cx, p))?;
        }
    }
    debug_assert_eq!(types.len(), own.thunk_type);
    types.ty().function([], []);
    Ok(types)
}

/// The memory, the table, the stack pointer, the bases, then the external imports.
fn imports(cx: &Inputs<'_, '_>) -> Result<ImportSection, FuseError> {
    let mut imports = ImportSection::new();
    let (memory, table) = shared_limits(cx);
    imports.import(abi::ENV, abi::MEMORY, EntityType::Memory(memory));
    imports.import(abi::ENV, abi::TABLE, EntityType::Table(table));
    let i32_global = |mutable| {
        EntityType::Global(GlobalType {
            val_type: ValType::I32,
            mutable,
            shared: false,
        })
    };
    if cx.spaces.stack_pointer.is_some() {
        imports.import(abi::ENV, abi::STACK_POINTER, i32_global(true));
    }
    imports.import(abi::ENV, abi::MEMORY_BASE, i32_global(false));
    imports.import(abi::ENV, abi::TABLE_BASE, i32_global(false));
    for ext in cx.plan.externals.values() {
        let ty = reencoder(cx, ext.part)
            .entity_type(ext.ty)
            .map_err(unmapped(cx, ext.part))?;
        imports.import(ext.module, ext.name, ty);
    }
    Ok(imports)
}

/// The shared memory's and table's import limits: what every part's import accepts.
fn shared_limits(cx: &Inputs<'_, '_>) -> (MemoryType, TableType) {
    let mut memory = MemoryType {
        minimum: 0,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    };
    let mut table = TableType {
        element_type: RefType::FUNCREF,
        minimum: 0,
        maximum: None,
        table64: false,
        shared: false,
    };
    let min_max = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    for (b, i) in cx
        .plan
        .bound
        .values()
        .flatten()
        .zip(cx.modules.values().flat_map(|m| &m.imports))
    {
        match (b, i.ty) {
            (crate::plan::Bound::Shared(crate::plan::Shared::Memory), TypeRef::Memory(m)) => {
                memory.minimum = memory.minimum.max(m.initial);
                memory.maximum = min_max(memory.maximum, m.maximum);
            }
            (crate::plan::Bound::Shared(crate::plan::Shared::Table), TypeRef::Table(t)) => {
                table.minimum = table.minimum.max(t.initial);
                table.maximum = min_max(table.maximum, t.maximum);
            }
            _ => {}
        }
    }
    (memory, table)
}

fn functions(cx: &Inputs<'_, '_>, own: &Own) -> FunctionSection {
    let mut functions = FunctionSection::new();
    for (p, m) in cx.modules.iter() {
        for &t in &m.functions {
            functions.function(cx.spaces.maps[p].type_base + t);
        }
    }
    for index in [own.relocs_index, own.ctors_index, own.start_index] {
        if index.is_some() {
            functions.function(own.thunk_type);
        }
    }
    functions
}

fn tables(cx: &Inputs<'_, '_>) -> Result<TableSection, FuseError> {
    let mut tables = TableSection::new();
    for (p, m) in cx.modules.iter() {
        let mut r = reencoder(cx, p);
        for t in &m.tables {
            r.parse_table(&mut tables, t.clone())
                .map_err(unmapped(cx, p))?;
        }
    }
    Ok(tables)
}

fn memories(cx: &Inputs<'_, '_>) -> Result<MemorySection, FuseError> {
    let mut memories = MemorySection::new();
    for (p, m) in cx.modules.iter() {
        let mut r = reencoder(cx, p);
        for &mem in &m.memories {
            memories.memory(r.memory_type(mem).map_err(unmapped(cx, p))?);
        }
    }
    Ok(memories)
}

fn tags(cx: &Inputs<'_, '_>) -> Result<TagSection, FuseError> {
    let mut tags = TagSection::new();
    for (p, m) in cx.modules.iter() {
        let mut r = reencoder(cx, p);
        for &t in &m.tags {
            tags.tag(r.tag_type(t).map_err(unmapped(cx, p))?);
        }
    }
    Ok(tags)
}

/// Per part, the globals defined for it (base + offset) and its own; then one global per
/// exported data symbol, holding its offset from the fused library's base. Returns the
/// section and, per data-symbol export (in export order), its global.
fn globals(cx: &Inputs<'_, '_>) -> Result<(GlobalSection, Vec<(ExportRef, u32)>), FuseError> {
    let mut globals = GlobalSection::new();
    for (p, m) in cx.modules.iter() {
        for d in &cx.spaces.derived[p] {
            globals.global(
                GlobalType {
                    val_type: ValType::I32,
                    mutable: d.mutable,
                    shared: false,
                },
                &ConstExpr::extended([
                    Instruction::GlobalGet(d.base),
                    Instruction::I32Const(d.offset),
                    Instruction::I32Add,
                ]),
            );
        }
        let mut r = reencoder(cx, p);
        for g in &m.globals {
            r.parse_global(&mut globals, g.clone())
                .map_err(unmapped(cx, p))?;
        }
    }
    let mut data_exports = Vec::new();
    let mut next = cx.spaces.next_global;
    for &r in cx.plan.exports.values() {
        let e = cx.set.export(r);
        if !is_data_address(e) {
            continue;
        }
        let p = cx.plan.position(r.library());
        let g = cx.modules[p]
            .globals
            .get((e.index as usize).wrapping_sub(cx.modules[p].imported().globals as usize));
        let Some(g) = g else {
            // A re-exported imported global: exported as it is.
            continue;
        };
        // The part's own initializer, plus the part's offset inside the fused region: a
        // constant stays a constant (a linker reads a data symbol's address from it).
        let offset = cx.plan.layout[p].data_offset as i32;
        let init = match e.const_i32 {
            Some(c) => ConstExpr::i32_const(c.wrapping_add(offset)),
            None => {
                let init = reencoder(cx, p)
                    .const_expr(g.init_expr.clone())
                    .map_err(unmapped(cx, p))?;
                let mut bytes = Vec::new();
                use wasm_encoder::Encode;
                init.encode(&mut bytes);
                bytes.pop(); // the `end`
                Instruction::I32Const(offset).encode(&mut bytes);
                Instruction::I32Add.encode(&mut bytes);
                ConstExpr::raw(bytes)
            }
        };
        globals.global(
            GlobalType {
                val_type: ValType::I32,
                mutable: false,
                shared: false,
            },
            &init,
        );
        data_exports.push((r, next));
        next += 1;
    }
    Ok((globals, data_exports))
}

/// Whether export `e` is a data symbol whose value is an offset from its library's base.
fn is_data_address(e: &weld_module::Export<'_>) -> bool {
    e.is_symbol()
        && e.is_data()
        && e.flags & SYM_TLS == 0
        && !matches!(e.name, "__tls_size" | "__tls_align")
}

fn exports(cx: &Inputs<'_, '_>, own: &Own, data_exports: &[(ExportRef, u32)]) -> ExportSection {
    let data_exports: std::collections::HashMap<ExportRef, u32> =
        data_exports.iter().copied().collect();
    let mut exports = ExportSection::new();
    for (name, &r) in &cx.plan.exports {
        let e = cx.set.export(r);
        let p = cx.plan.position(r.library());
        let maps = &cx.spaces.maps[p];
        let index = e.index as usize;
        let (kind, i) = match e.ty {
            weld_module::EntityType::Func(_) => (ExportKind::Func, maps.funcs.get(index).copied()),
            weld_module::EntityType::Global(_) => (
                ExportKind::Global,
                data_exports
                    .get(&r)
                    .copied()
                    .or_else(|| maps.globals.get(index).map(|g| g.index())),
            ),
            weld_module::EntityType::Memory(_) => {
                (ExportKind::Memory, maps.memories.get(index).copied())
            }
            weld_module::EntityType::Table(_) => {
                (ExportKind::Table, maps.tables.get(index).copied())
            }
            weld_module::EntityType::Tag(_) => (ExportKind::Tag, maps.tags.get(index).copied()),
        };
        if let Some(i) = i.filter(|&i| i != u32::MAX) {
            exports.export(name.as_ref(), kind, i);
        }
    }
    if let Some(i) = own.relocs_index {
        exports.export(abi::APPLY_DATA_RELOCS, ExportKind::Func, i);
    }
    if let Some(i) = own.ctors_index {
        exports.export(abi::CALL_CTORS, ExportKind::Func, i);
    }
    // `_start` of the (one) part that has it.
    for (p, &id) in cx.parts.iter() {
        if let Some(e) = cx.set[id].special(SpecialExport::Start)
            && let Some(&f) = cx.spaces.maps[p].funcs.get(e.index as usize)
        {
            exports.export(abi::START, ExportKind::Func, f);
            break;
        }
    }
    exports
}

fn elements(cx: &Inputs<'_, '_>) -> Result<ElementSection, FuseError> {
    let mut elements = ElementSection::new();
    for (p, m) in cx.modules.iter() {
        let mut r = reencoder(cx, p);
        for e in &m.elements {
            r.parse_element(&mut elements, e.clone())
                .map_err(unmapped(cx, p))?;
        }
    }
    Ok(elements)
}

/// The data section, and the data left to the linker (see `FuseOptions::data_to_linker`): a
/// segment at its part's `__memory_base` plus a constant keeps its place, empty, and its bytes
/// go to the linker at the part's offset plus that constant.
fn data(cx: &Inputs<'_, '_>) -> Result<(DataSection, Vec<LeftData>), FuseError> {
    let mut data = DataSection::new();
    let mut left = Vec::new();
    for (p, m) in cx.modules.iter() {
        let mut r = reencoder(cx, p);
        let lib = &cx.set[cx.parts[p]];
        let starts: HashMap<u64, i64> = if cx.data_to_linker {
            lib.data_segments.iter().map(|s| (s.at, s.start)).collect()
        } else {
            HashMap::new()
        };
        let part_offset = cx.plan.layout[p].data_offset;
        for d in &m.data {
            let start = starts.get(&d.range.start).copied();
            let at = start
                .and_then(|s| u32::try_from(s).ok())
                .and_then(|s| s.checked_add(part_offset));
            let Some(offset) = at else {
                r.parse_data(&mut data, d.clone())
                    .map_err(unmapped(cx, p))?;
                continue;
            };
            // The bytes end the segment's encoding.
            let end = usize::try_from(d.range.end).unwrap_or(usize::MAX);
            let range = end.saturating_sub(d.data.len())..end;
            debug_assert_eq!(lib.bytes.get(range.clone()), Some(d.data), "segment bytes");
            left.push(LeftData {
                offset,
                library: cx.parts[p],
                range,
            });
            let mut empty = d.clone();
            empty.data = &[];
            r.parse_data(&mut data, empty).map_err(unmapped(cx, p))?;
        }
    }
    Ok((data, left))
}

/// One batch's encoded bodies.
type Encoded = Result<Vec<u8>, FuseError>;

/// The code section's contents: the parts' bodies, re-encoded on all cores in batches of about
/// 256 KiB, in order; then the fused module's own functions.
fn code(cx: &Inputs<'_, '_>, own: &Own) -> Result<Vec<u8>, FuseError> {
    let batches = reencode::batches(cx.modules, 256 * 1024);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let encode = |i: usize| -> Option<(usize, Encoded)> {
        let batch = batches.get(i)?;
        let p = batch.part;
        let r = reencode::encode_batch(&cx.spaces.maps[p], cx.modules, batch, cx.inlining)
            .map_err(unmapped(cx, p));
        Some((i, r))
    };
    // Each worker takes the next batch until none is left; results are put back in order.
    let mut results: Vec<Option<Encoded>> = (0..batches.len()).map(|_| None).collect();
    let done: Vec<Vec<(usize, Encoded)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(batches.len()))
            .map(|_| {
                scope.spawn(|| {
                    std::iter::from_fn(|| {
                        encode(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                    })
                    .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    for (i, r) in done.into_iter().flatten() {
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(r);
        }
    }
    let count = cx.modules.values().map(|m| m.bodies.len()).sum::<usize>()
        + [own.relocs_index, own.ctors_index, own.start_index]
            .iter()
            .filter(|i| i.is_some())
            .count();
    let mut section = Vec::new();
    use wasm_encoder::Encode;
    (count as u32).encode(&mut section);
    for r in results {
        section.extend(r.ok_or_else(|| FuseError::Internal("a batch was not encoded".into()))??);
    }
    for calls in [&own.relocs, &own.ctors, &own.starts] {
        if calls.is_empty() {
            continue;
        }
        let mut f = Function::new([]);
        for &c in calls.iter() {
            f.instruction(&Instruction::Call(c));
        }
        f.instruction(&Instruction::End);
        f.encode(&mut section);
    }
    Ok(section)
}

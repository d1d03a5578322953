//! The fused module's index spaces: where every item of every part lands, and the globals the
//! fused module defines for each part (its bases and its internal `GOT.mem` entries).
//!
//! Order of each space: the fused library's imports first (functions, globals — stack pointer,
//! memory base, table base, then the external ones — and tags), then each part's items in part
//! order (for globals, the globals defined for the part come right before the part's own), then
//! what the fused module itself adds (its relocation, constructor and start functions, the
//! globals of its exported data symbols).

use std::collections::HashMap;

use wasmparser::TypeRef;
use weld_graph::{ExportRef, LibId, LibrarySet};

use crate::FuseError;
use crate::part::{PartId, PartModule, PerPart};
use crate::plan::{BaseKind, Bound, Plan, Shared};

/// Where a part's items land.
#[derive(Clone, Debug, Default)]
pub(crate) struct IndexMaps {
    pub(crate) type_base: u32,
    /// Part function index -> fused function index.
    pub(crate) funcs: Vec<u32>,
    /// Part global index -> fused global.
    pub(crate) globals: Vec<GlobalTarget>,
    pub(crate) memories: Vec<u32>,
    pub(crate) tables: Vec<u32>,
    pub(crate) tags: Vec<u32>,
    pub(crate) data_base: u32,
    pub(crate) element_base: u32,
}

/// A part's global in the fused module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GlobalTarget {
    /// This fused global.
    Plain(u32),
    /// This fused global, whose value is `global.get base; i32.const offset; i32.add`: how a
    /// constant expression must say it, since only imported globals may appear there.
    Derived { index: u32, base: u32, offset: i32 },
}

impl GlobalTarget {
    pub(crate) fn index(self) -> u32 {
        match self {
            GlobalTarget::Plain(i) | GlobalTarget::Derived { index: i, .. } => i,
        }
    }
}

/// A global the fused module defines for a part: a base plus an offset, with the mutability of
/// the import it replaces.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DerivedGlobal {
    pub(crate) base: u32,
    pub(crate) offset: i32,
    pub(crate) mutable: bool,
}

/// The fused module's index spaces.
#[derive(Debug, Default)]
pub(crate) struct Spaces {
    /// Per part.
    pub(crate) maps: PerPart<IndexMaps>,
    /// Per part: the globals defined for it, in order, right before its own.
    pub(crate) derived: PerPart<Vec<DerivedGlobal>>,
    /// The stack pointer import, when some part uses it.
    pub(crate) stack_pointer: Option<u32>,
    pub(crate) memory_base: u32,
    pub(crate) table_base: u32,
    /// Per external import (in [`Plan::externals`] order): its fused index in its space.
    pub(crate) external_index: Vec<u32>,
    pub(crate) imported_funcs: u32,
    pub(crate) imported_globals: u32,
    pub(crate) imported_tags: u32,
    /// The first indices after the parts' items.
    pub(crate) next_func: u32,
    pub(crate) next_global: u32,
    pub(crate) next_type: u32,
}

/// Assigns every item of every part its fused index, then resolves internal references through
/// re-exports (a part exporting what it imports).
pub(crate) fn spaces(
    set: &LibrarySet<'_>,
    parts: &PerPart<LibId>,
    modules: &PerPart<PartModule<'_>>,
    plan: &Plan<'_>,
) -> Result<Spaces, FuseError> {
    let mut s = imports(plan);
    let mut next = Next {
        func: s.imported_funcs,
        global: s.imported_globals,
        tag: s.imported_tags,
        memory: 1,
        table: 1,
        ..Next::default()
    };
    let (mut maps, mut derived) = (Vec::new(), Vec::new());
    for (p, m) in modules.iter() {
        let (part_maps, part_derived) = part_maps(&s, plan, p, m, &mut next);
        maps.push(part_maps);
        derived.push(part_derived);
    }
    s.maps = PerPart::new(maps);
    s.derived = PerPart::new(derived);
    s.next_func = next.func;
    s.next_global = next.global;
    s.next_type = next.ty;
    let position: HashMap<LibId, PartId> = parts.iter().map(|(p, &id)| (id, p)).collect();
    resolve_internal(set, modules, plan, &position, &mut s)?;
    Ok(s)
}

/// The next free index of each space.
#[derive(Default)]
struct Next {
    func: u32,
    global: u32,
    ty: u32,
    memory: u32,
    table: u32,
    tag: u32,
    data: u32,
    element: u32,
}

/// The fused library's own imports.
fn imports(plan: &Plan<'_>) -> Spaces {
    let uses_sp = plan
        .bound
        .values()
        .flatten()
        .any(|b| *b == Bound::Shared(Shared::StackPointer));
    let mut globals = 0u32;
    let mut take = || {
        globals += 1;
        globals - 1
    };
    let stack_pointer = uses_sp.then(&mut take);
    let memory_base = take();
    let table_base = take();
    let (mut funcs, mut tags) = (0u32, 0u32);
    let mut external_index = Vec::with_capacity(plan.externals.len());
    for ext in plan.externals.values() {
        external_index.push(match ext.ty {
            TypeRef::Func(_) | TypeRef::FuncExact(_) => {
                funcs += 1;
                funcs - 1
            }
            TypeRef::Global(_) => take(),
            TypeRef::Tag(_) => {
                tags += 1;
                tags - 1
            }
            // Other memories and tables are not the linker's; the link rejects them.
            TypeRef::Memory(_) | TypeRef::Table(_) => u32::MAX,
        });
    }
    Spaces {
        stack_pointer,
        memory_base,
        table_base,
        external_index,
        imported_funcs: funcs,
        imported_globals: globals,
        imported_tags: tags,
        ..Spaces::default()
    }
}

/// Part `p`'s maps: its imports as bound, its defined items at the next free indices.
/// Internal function and tag imports are left unresolved (`u32::MAX`) for
/// [`resolve_internal`].
fn part_maps(
    s: &Spaces,
    plan: &Plan<'_>,
    p: PartId,
    m: &PartModule<'_>,
    next: &mut Next,
) -> (IndexMaps, Vec<DerivedGlobal>) {
    let mut maps = IndexMaps {
        type_base: next.ty,
        data_base: next.data,
        element_base: next.element,
        ..IndexMaps::default()
    };
    let mut derived = Vec::new();
    let layout = &plan.layout[p];
    let external = |e: usize| s.external_index.get(e).copied().unwrap_or(u32::MAX);
    for (b, i) in plan.bound[p].iter().zip(&m.imports) {
        match i.ty {
            TypeRef::Func(_) | TypeRef::FuncExact(_) => maps.funcs.push(match *b {
                Bound::External(e) => external(e),
                _ => u32::MAX,
            }),
            TypeRef::Tag(_) => maps.tags.push(match *b {
                Bound::External(e) => external(e),
                _ => u32::MAX,
            }),
            TypeRef::Memory(_) => maps.memories.push(0),
            TypeRef::Table(_) => maps.tables.push(0),
            TypeRef::Global(g) => {
                let (base, offset) = match *b {
                    Bound::Base(BaseKind::Memory) => (s.memory_base, layout.data_offset as i32),
                    Bound::Base(BaseKind::Table) => (s.table_base, layout.table_offset as i32),
                    Bound::InternalData(offset) => (s.memory_base, offset),
                    Bound::External(e) => {
                        maps.globals.push(GlobalTarget::Plain(external(e)));
                        continue;
                    }
                    _ => {
                        maps.globals
                            .push(GlobalTarget::Plain(s.stack_pointer.unwrap_or(u32::MAX)));
                        continue;
                    }
                };
                derived.push(DerivedGlobal {
                    base,
                    offset,
                    mutable: g.mutable,
                });
                maps.globals.push(GlobalTarget::Derived {
                    index: next.global,
                    base,
                    offset,
                });
                next.global += 1;
            }
        }
    }
    next.ty += m.type_count;
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    maps.funcs
        .extend((0..count(m.functions.len())).map(|j| next.func + j));
    next.func += count(m.functions.len());
    maps.globals
        .extend((0..count(m.globals.len())).map(|j| GlobalTarget::Plain(next.global + j)));
    next.global += count(m.globals.len());
    maps.memories
        .extend((0..count(m.memories.len())).map(|j| next.memory + j));
    next.memory += count(m.memories.len());
    maps.tables
        .extend((0..count(m.tables.len())).map(|j| next.table + j));
    next.table += count(m.tables.len());
    maps.tags
        .extend((0..count(m.tags.len())).map(|j| next.tag + j));
    next.tag += count(m.tags.len());
    next.data += count(m.data.len());
    next.element += count(m.elements.len());
    (maps, derived)
}

/// Resolves every internal function and tag import to the defining part's fused index.
fn resolve_internal(
    set: &LibrarySet<'_>,
    modules: &PerPart<PartModule<'_>>,
    plan: &Plan<'_>,
    position: &HashMap<LibId, PartId>,
    s: &mut Spaces,
) -> Result<(), FuseError> {
    for (p, m) in modules.iter() {
        let (mut fi, mut ti) = (0usize, 0usize);
        for (b, i) in plan.bound[p].iter().zip(&m.imports) {
            let kind = Kind::of(i.ty);
            if let (Bound::Internal(r), Some(kind)) = (*b, kind) {
                let target = follow(set, modules, plan, position, s, r, kind, 0)?;
                let slot = match kind {
                    Kind::Func => s.maps[p].funcs.get_mut(fi),
                    Kind::Tag => s.maps[p].tags.get_mut(ti),
                };
                if let Some(slot) = slot {
                    *slot = target;
                }
            }
            fi += usize::from(kind == Some(Kind::Func));
            ti += usize::from(kind == Some(Kind::Tag));
        }
    }
    Ok(())
}

/// The kinds of items bound across parts by reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Func,
    Tag,
}

impl Kind {
    fn of(ty: TypeRef) -> Option<Kind> {
        match ty {
            TypeRef::Func(_) | TypeRef::FuncExact(_) => Some(Kind::Func),
            TypeRef::Tag(_) => Some(Kind::Tag),
            _ => None,
        }
    }
}

/// The fused index of export `r` (a function or a tag), following a part's re-export of one of
/// its imports, at most as many steps as there are parts.
#[allow(clippy::too_many_arguments)]
fn follow(
    set: &LibrarySet<'_>,
    modules: &PerPart<PartModule<'_>>,
    plan: &Plan<'_>,
    position: &HashMap<LibId, PartId>,
    s: &Spaces,
    r: ExportRef,
    kind: Kind,
    depth: usize,
) -> Result<u32, FuseError> {
    let Some(&q) = position.get(&r.library()) else {
        return Err(FuseError::Internal(format!("{r:?} is in no part")));
    };
    let index = set.export(r).index as usize;
    let map = match kind {
        Kind::Func => &s.maps[q].funcs,
        Kind::Tag => &s.maps[q].tags,
    };
    let mapped = map.get(index).copied().unwrap_or(u32::MAX);
    if mapped != u32::MAX {
        return Ok(mapped);
    }
    // An internal import of q re-exported: what that import is bound to.
    let bound = plan.bound[q]
        .iter()
        .zip(&modules[q].imports)
        .filter(|(_, i)| Kind::of(i.ty) == Some(kind))
        .nth(index)
        .map(|(b, _)| *b);
    match bound {
        Some(Bound::Internal(next)) if depth < modules.len() => {
            follow(set, modules, plan, position, s, next, kind, depth + 1)
        }
        _ => Err(FuseError::Cycle {
            symbol: set.export(r).name.to_string(),
        }),
    }
}

//! Planning a fusion: what each import of each part becomes (a direct reference to another
//! part's definition, or an import of the fused library), where each part's data and table
//! regions go inside the fused ones, and where every item of every part lands in the fused
//! module's index spaces. Nothing is encoded here.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use wasmparser::TypeRef;
use weld_graph::{ExportRef, LibId, LibrarySet, SymbolTable};
use weld_module::abi::LinkerData;
use weld_module::{EntityType, Export, ImportClass, Library, SpecialExport};

use crate::part::{PartId, PartModule, PerPart};
use crate::{FuseError, FuseOptions};

/// What a part's import becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bound {
    /// A definition in another part (or the same one): referenced directly.
    Internal(ExportRef),
    /// The address of a data symbol defined in a part: the fused memory base plus this
    /// offset, a constant.
    InternalData(i32),
    /// The fused library's own memory, table or stack pointer import.
    Shared(Shared),
    /// The part's own data or table base: the fused base plus the part's offset.
    Base(BaseKind),
    /// An import of the fused library (deduplicated by module and name).
    External(usize),
}

/// The imports every part shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shared {
    Memory,
    Table,
    StackPointer,
}

/// A base a part's region is relative to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum BaseKind {
    Memory,
    Table,
}

/// An import of the fused library.
#[derive(Clone, Debug)]
pub(crate) struct ExternalImport<'a> {
    pub(crate) module: &'a str,
    pub(crate) name: &'a str,
    /// The import's type as the first importing part declares it (type indices of that part).
    pub(crate) ty: TypeRef,
    /// The part whose type indices `ty` uses.
    pub(crate) part: PartId,
    /// The linker's reading of it, to compare importers.
    pub(crate) class_ty: EntityType,
    /// Weak when every importing part marks it weak.
    pub(crate) weak: bool,
}

/// A dl-openable part's symbols: (symbol, the export holding its definition); its deferred
/// constructor's export.
#[derive(Clone, Debug)]
pub(crate) struct DlopenSymbols<'a> {
    pub(crate) part: LibId,
    pub(crate) symbols: Vec<(&'a str, Cow<'a, str>)>,
    pub(crate) constructor: Option<String>,
}

/// Where one part goes.
#[derive(Clone, Debug, Default)]
pub(crate) struct PartLayout {
    /// Offset of the part's data region inside the fused one.
    pub(crate) data_offset: u32,
    /// Offset of the part's table region inside the fused one.
    pub(crate) table_offset: u32,
}

/// The decisions of a fusion.
pub(crate) struct Plan<'a> {
    /// Per part, per import (in import order): what it becomes.
    pub(crate) bound: PerPart<Vec<Bound>>,
    /// The fused library's imports other than memory, table, stack pointer and bases.
    pub(crate) externals: IndexMap<(&'a str, &'a str), ExternalImport<'a>>,
    /// Per part: its regions' offsets.
    pub(crate) layout: PerPart<PartLayout>,
    /// The fused data region's size and alignment (bytes), table region's size and alignment.
    pub(crate) memory_size: u64,
    pub(crate) memory_alignment: u32,
    pub(crate) table_size: u64,
    pub(crate) table_alignment: u32,
    /// The fused library's exports: name -> the part definition (symbols under their names;
    /// for dl-openable and deferred parts, private names too).
    pub(crate) exports: IndexMap<Cow<'a, str>, ExportRef>,
    /// Per dl-openable part: its symbols and the exports holding them.
    pub(crate) dlopen: Vec<DlopenSymbols<'a>>,
    /// Parts whose constructors are not run by the fused constructor function.
    pub(crate) deferred: HashSet<LibId>,
    /// Symbols defined strongly by several parts: (name, winner, losers).
    pub(crate) duplicates: Vec<(&'a str, LibId, Vec<LibId>)>,
    /// NEEDED entries naming no part.
    pub(crate) needed: Vec<&'a str>,
    /// RUNTIME_PATH entries of all parts.
    pub(crate) runtime_path: Vec<&'a str>,
    /// Each part's position.
    positions: HashMap<LibId, PartId>,
}

impl Plan<'_> {
    /// The part that library `id` is.
    pub(crate) fn position(&self, id: LibId) -> PartId {
        let p = self.positions.get(&id).copied();
        debug_assert!(p.is_some(), "{id:?} is not a part");
        p.unwrap_or(PartId::FIRST)
    }
}

/// Plans the fusion of `parts` (positions into `set`, in the order their regions are laid
/// out). With `closed`, nothing outside the parts may define a symbol they use, so weak
/// definitions are bound inside too; otherwise a weak definition stays an import of the fused
/// library, which a strong one elsewhere may still override at link time.
pub(crate) fn plan<'a>(
    set: &LibrarySet<'a>,
    parts: &PerPart<LibId>,
    modules: &PerPart<PartModule<'a>>,
    options: &FuseOptions,
) -> Result<Plan<'a>, FuseError> {
    let members: HashSet<LibId> = parts.values().copied().collect();
    let parts_table = SymbolTable::new(set, |id| members.contains(&id));
    let outside: HashSet<LibId> = options.outside.iter().copied().collect();
    let table = SymbolTable::new(set, |id| members.contains(&id) || outside.contains(&id));
    let scope = Scope {
        table: &table,
        members: &members,
        closed: options.closed,
    };
    let (layout, memory_size, memory_alignment, table_size, table_alignment) = regions(set, parts);
    let offsets: HashMap<LibId, u32> = parts
        .iter()
        .map(|(p, &id)| (id, layout[p].data_offset))
        .collect();
    let mut externals: IndexMap<(&'a str, &'a str), ExternalImport<'a>> = IndexMap::new();
    let mut problems = Vec::new();
    let mut bound = Vec::with_capacity(parts.len());
    for (p, &id) in parts.iter() {
        let lib = &set[id];
        let mut part_bound = Vec::with_capacity(lib.imports.len());
        for (import, raw) in lib.imports.iter().zip(&modules[p].imports) {
            let b = bind(set, &scope, &offsets, import)
                .unwrap_or_else(|| external(&mut externals, &mut problems, p, lib, import, raw.ty));
            part_bound.push(b);
        }
        bound.push(part_bound);
    }
    let bound = PerPart::new(bound);
    if !problems.is_empty() {
        return Err(FuseError::Imports(problems));
    }
    let (mut exports, duplicates) = exports(set, &parts_table, parts);
    let dlopen = dlopen_exports(set, &mut exports, options);
    Ok(Plan {
        bound,
        externals,
        layout,
        memory_size,
        memory_alignment,
        table_size,
        table_alignment,
        exports,
        dlopen,
        deferred: options.deferred.iter().copied().collect(),
        duplicates,
        needed: needed(set, parts),
        runtime_path: dedup(
            parts
                .values()
                .flat_map(|&id| set[id].runtime_path.iter().copied()),
        ),
        positions: parts.iter().map(|(p, &id)| (id, p)).collect(),
    })
}

/// Where imports may bind: the parts' and the outside libraries' definitions.
struct Scope<'t, 'a> {
    table: &'t SymbolTable<'a>,
    members: &'t HashSet<LibId>,
    closed: bool,
}

/// What `import` binds to inside the fusion, or `None` when it stays an import: when the
/// chosen definition is outside, or weak in an open fusion.
fn bind<'a>(
    set: &LibrarySet<'a>,
    scope: &Scope<'_, 'a>,
    offsets: &HashMap<LibId, u32>,
    import: &weld_module::Import<'a>,
) -> Option<Bound> {
    let inside = |fits: &dyn Fn(&Export<'a>) -> bool| {
        let r = scope.table.pick(set, import.name, fits)?;
        let chosen_here = scope.members.contains(&r.library());
        (chosen_here && (scope.closed || !set.export(r).is_weak())).then_some(r)
    };
    match &import.class {
        ImportClass::Memory => Some(Bound::Shared(Shared::Memory)),
        ImportClass::Table => Some(Bound::Shared(Shared::Table)),
        ImportClass::StackPointer => Some(Bound::Shared(Shared::StackPointer)),
        ImportClass::MemoryBase => Some(Bound::Base(BaseKind::Memory)),
        ImportClass::TableBase => Some(Bound::Base(BaseKind::Table)),
        ImportClass::Function(sig) => {
            inside(&|e| matches!(&e.ty, EntityType::Func(s) if s == sig)).map(Bound::Internal)
        }
        ImportClass::EnvTag(sig) => {
            inside(&|e| matches!(&e.ty, EntityType::Tag(s) if s == sig)).map(Bound::Internal)
        }
        // A data symbol with a constant offset is a constant address; one without stays an
        // import, which the linker computes at run time.
        ImportClass::GotMem if LinkerData::from_name(import.name).is_none() => {
            let r = inside(&|e| {
                e.is_data() && e.const_i32.is_some() && e.flags & weld_module::SYM_TLS == 0
            })?;
            let part = offsets.get(&r.library()).copied().unwrap_or(0) as i32;
            Some(Bound::InternalData(
                part.wrapping_add(set.export(r).const_i32.unwrap_or(0)),
            ))
        }
        // `GOT.func` stays an import, bound by the linker to the fused library's export: one
        // table slot per function, whoever takes its address (see docs/abi.md, "Fusion").
        _ => None,
    }
}

/// Makes `import` an import of the fused library, shared with other parts importing the same
/// name with the same type.
fn external<'a>(
    externals: &mut IndexMap<(&'a str, &'a str), ExternalImport<'a>>,
    problems: &mut Vec<String>,
    part: PartId,
    lib: &Library<'a>,
    import: &weld_module::Import<'a>,
    ty: TypeRef,
) -> Bound {
    let key = (import.module, import.name);
    match externals.get_full_mut(&key) {
        Some((i, _, existing)) => {
            if differ_only_in_mutability(&existing.class_ty, &import.ty) {
                // One import for both (a core module in a component may not import a name
                // twice): the mutable one, which `global.get` reads as well.
                if matches!(&import.ty, EntityType::Global(g) if g.mutable) {
                    existing.ty = ty;
                    existing.part = part;
                    existing.class_ty = import.ty.clone();
                }
            } else if existing.class_ty != import.ty {
                problems.push(format!(
                    "`{}` imports `{}.{}` as {}, but another part imports it as {}",
                    lib.name, import.module, import.name, import.ty, existing.class_ty
                ));
            }
            existing.weak &= import.weak;
            Bound::External(i)
        }
        None => {
            let (i, _) = externals.insert_full(
                key,
                ExternalImport {
                    module: import.module,
                    name: import.name,
                    ty,
                    part,
                    class_ty: import.ty.clone(),
                    weak: import.weak,
                },
            );
            Bound::External(i)
        }
    }
}

/// Whether `a` and `b` are the same global type but for mutability.
fn differ_only_in_mutability(a: &EntityType, b: &EntityType) -> bool {
    match (a, b) {
        (EntityType::Global(x), EntityType::Global(y)) => {
            x.content_type == y.content_type && x.shared == y.shared && x.mutable != y.mutable
        }
        _ => false,
    }
}

/// Each part's data and table regions inside the fused ones, at the parts' alignments.
fn regions(
    set: &LibrarySet<'_>,
    parts: &PerPart<LibId>,
) -> (PerPart<PartLayout>, u64, u32, u64, u32) {
    let align = |v: u64, a: u64| if a <= 1 { v } else { v.div_ceil(a) * a };
    let (mut mem, mut table) = (0u64, 0u64);
    let (mut mem_align, mut table_align) = (1u32, 1u32);
    let mut layout = Vec::with_capacity(parts.len());
    for &id in parts.values() {
        let lib = &set[id];
        let mi = lib.mem_info;
        mem = align(mem, u64::from(mi.memory_alignment));
        table = align(table, u64::from(mi.table_alignment));
        layout.push(PartLayout {
            data_offset: u32::try_from(mem).unwrap_or(u32::MAX),
            table_offset: u32::try_from(table).unwrap_or(u32::MAX),
        });
        mem += lib.data_extent();
        table += u64::from(mi.table_size);
        mem_align = mem_align.max(mi.memory_alignment);
        table_align = table_align.max(mi.table_alignment);
    }
    (PerPart::new(layout), mem, mem_align, table, table_align)
}

/// The fused library's exports: for each symbol name, the definition linking would choose
/// (strong over weak, then part order); memories and tables re-exported under their names once.
#[allow(clippy::type_complexity)]
fn exports<'a>(
    set: &LibrarySet<'a>,
    table: &SymbolTable<'a>,
    parts: &PerPart<LibId>,
) -> (
    IndexMap<Cow<'a, str>, ExportRef>,
    Vec<(&'a str, LibId, Vec<LibId>)>,
) {
    let mut exports = IndexMap::new();
    let mut duplicates = Vec::new();
    for &id in parts.values() {
        for (r, e) in set.exports(id) {
            if e.special.is_some() || exports.contains_key(e.name) {
                continue;
            }
            if !e.is_symbol() {
                exports.insert(Cow::Borrowed(e.name), r);
                continue;
            }
            let Some(winner) = table.pick(set, e.name, |_| true) else {
                continue;
            };
            let kind = std::mem::discriminant(&set.export(winner).ty);
            let losers = table.rivals(set, e.name, winner, |x| {
                std::mem::discriminant(&x.ty) == kind
            });
            if !losers.is_empty() {
                duplicates.push((e.name, winner.library(), losers));
            }
            exports.insert(Cow::Borrowed(e.name), winner);
        }
    }
    (exports, duplicates)
}

/// Makes every dlopen-table symbol of the dl-openable parts, and the constructor of each
/// deferred part, reachable through an export: a symbol whose chosen definition is the part's
/// own keeps its name; any other gets the private name `PART!SYMBOL`.
fn dlopen_exports<'a>(
    set: &LibrarySet<'a>,
    exports: &mut IndexMap<Cow<'a, str>, ExportRef>,
    options: &FuseOptions,
) -> Vec<DlopenSymbols<'a>> {
    let mut out = Vec::with_capacity(options.dl_openable.len());
    for &part in &options.dl_openable {
        let mut symbols = Vec::new();
        for (r, e) in set.exports(part) {
            if !in_dlopen_table(e) {
                continue;
            }
            let name = match exports.get(e.name) {
                Some(&chosen) if chosen == r => Cow::Borrowed(e.name),
                _ => {
                    let private: Cow<'a, str> =
                        Cow::Owned(format!("{}!{}", set.name(part), e.name));
                    exports.insert(private.clone(), r);
                    private
                }
            };
            symbols.push((e.name, name));
        }
        out.push(DlopenSymbols {
            part,
            symbols,
            constructor: deferred_constructor(set, exports, options, part),
        });
    }
    out
}

/// When `part` is deferred, its constructor exported as `PART!__wasm_call_ctors`.
fn deferred_constructor<'a>(
    set: &LibrarySet<'a>,
    exports: &mut IndexMap<Cow<'a, str>, ExportRef>,
    options: &FuseOptions,
    part: LibId,
) -> Option<String> {
    if !options.deferred.contains(&part) {
        return None;
    }
    let (r, _) = set.exports(part).find(|(_, e)| {
        matches!(
            e.special,
            Some(SpecialExport::CallCtors | SpecialExport::Initialize)
        )
    })?;
    let name = format!("{}!{}", set.name(part), weld_module::abi::CALL_CTORS);
    exports.insert(Cow::Owned(name.clone()), r);
    Some(name)
}

/// Whether a dlopen table lists export `e`: a function, or a data symbol with a constant
/// offset (what `dlsym` can return).
fn in_dlopen_table(e: &Export<'_>) -> bool {
    e.is_symbol()
        && match &e.ty {
            EntityType::Func(_) => true,
            EntityType::Global(_) => e.is_data() && e.const_i32.is_some(),
            _ => false,
        }
}

/// NEEDED entries of the parts that name no part, in order of first appearance.
fn needed<'a>(set: &LibrarySet<'a>, parts: &PerPart<LibId>) -> Vec<&'a str> {
    let names: HashSet<&str> = parts.values().map(|&id| set.name(id)).collect();
    dedup(
        parts
            .values()
            .flat_map(|&id| set[id].needed.iter().copied())
            .filter(|n| !names.contains(n)),
    )
}

fn dedup<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    items.filter(|i| seen.insert(*i)).collect()
}

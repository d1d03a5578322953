//! Layout: where every kept library's data and table region go, where the linker's own data goes
//! (the dlopen table, the TLS bookkeeping), and which table slot each function whose address is
//! needed gets.
//!
//! Memory: the stack `[0, stack_size)`, then the dlopen table and TLS bookkeeping when needed,
//! then each kept library's data region in instantiation order at its MEM_INFO alignment, then
//! the heap. Table: slot 0 is the null function pointer, then each kept library's table region,
//! then one slot per function whose address is needed, then the slots of stubs whose address is
//! taken.

use std::collections::HashMap;

use indexmap::IndexMap;
use weld_graph::{Binding, ExportRef, LibrarySet, Link, PerLib, StubId};
use weld_module::EntityType;

use crate::dlopen;
use crate::openable::{self, Openable};
use crate::scope::Scope;
use crate::tls::{self, TlsLayout};
use crate::{ExportShim, SynthError, SynthOptions, SynthProblem};

/// Bytes in a WebAssembly page.
pub(crate) const PAGE: u64 = 65536;

/// Where memory and table space went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Stack size in bytes; the stack is `[0, stack_size)`.
    pub stack_size: u32,
    /// Each library's `__memory_base` (0 for pruned libraries).
    pub memory_base: PerLib<u32>,
    /// Each library's `__table_base` (0 for pruned libraries).
    pub table_base: PerLib<u32>,
    /// First byte after all data, 16-aligned.
    pub heap_base: u32,
    /// `heap_base` rounded up to a 64 KiB page.
    pub heap_end: u32,
    /// Initial memory size in pages.
    pub memory_pages: u32,
    /// First table slot after the libraries' own table regions.
    pub first_function_slot: u32,
    /// Table size (slot 0 is the null function pointer).
    pub table_size: u32,
    /// Table slot of every function whose address is needed, in slot order. The export is the
    /// library's first export of that function, so a function exported under several names
    /// still has one slot.
    pub function_slots: IndexMap<ExportRef, u32>,
    /// The slot of every export that asked for one (any of a function's names).
    pub slot_by_export: HashMap<ExportRef, u32>,
    /// Table slots of trapping stubs whose address is taken (`GOT.func` with
    /// `--stub-missing-functions`), after all function slots.
    pub stub_slots: IndexMap<StubId, u32>,
    /// The dlopen table's region `[start, start + size)`, right after the stack, when there is
    /// one (some library is dl-openable or imports `GOT.mem.__wasm_libdl_libraries`).
    pub dlopen_table: Option<(u32, u32)>,
    /// Address of the dlopen table's root record (`__wasm_libdl_libraries`), 0 when absent.
    pub dlopen_root: u32,
    /// Thread-local storage bookkeeping, when some library needs it.
    pub tls: Option<TlsLayout>,
}

impl Layout {
    /// The table slot of export `r`, if it was given one.
    pub fn slot(&self, r: ExportRef) -> Option<u32> {
        self.slot_by_export.get(&r).copied()
    }
}

pub(crate) fn align_up(value: u64, align: u64) -> u64 {
    if align <= 1 {
        value
    } else {
        value.div_ceil(align).saturating_mul(align)
    }
}

/// A value below 4 GiB (checked by the caller) as a `u32`.
pub(crate) fn u32_of(value: u64) -> u32 {
    debug_assert!(
        value <= u64::from(u32::MAX),
        "{value} does not fit in 32 bits"
    );
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// Computes the layout of the kept libraries of `link`.
pub fn layout(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    options: &SynthOptions,
    export_shims: &[ExportShim],
) -> Result<Layout, SynthError> {
    let scope = Scope::decide(set, link, export_shims, &options.fused_parts);
    let openables = openable::openables(set, link, scope.as_ref(), &options.fused_parts);
    layout_with(set, link, options, export_shims, scope.as_ref(), &openables)
}

/// [`layout`], with the built-in libdl's decisions taken and the openable libraries listed.
pub(crate) fn layout_with(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    options: &SynthOptions,
    export_shims: &[ExportShim],
    scope: Option<&Scope<'_>>,
    openables: &[Openable<'_>],
) -> Result<Layout, SynthError> {
    let (mut layout, table_end) = memory(set, link, options, scope, openables)?;
    let mut slots = Slots::new(set, link, table_end);
    slots.functions(set, link, export_shims, scope, openables, &mut layout);
    slots.stubs(link, &mut layout);
    slots.finish(&mut layout)?;
    Ok(layout)
}

/// The memory regions, and each library's table region; returns the layout so far and the first
/// table slot after the libraries' regions (which may be past `u32::MAX`).
fn memory(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    options: &SynthOptions,
    scope: Option<&Scope<'_>>,
    openables: &[Openable<'_>],
) -> Result<(Layout, u64), SynthError> {
    if !options.stack_size.is_multiple_of(16) {
        return Err(SynthProblem::StackNotAligned {
            stack_size: options.stack_size,
        }
        .into());
    }
    let mut layout = Layout {
        stack_size: options.stack_size,
        memory_base: set.per_lib(|_, _| 0),
        table_base: set.per_lib(|_, _| 0),
        ..Layout::default()
    };
    // Nothing but the stack starts at address 0, so that no object's address is NULL: with no
    // stack the first bytes stay unused, as below wasm-ld's global base.
    let mut mem = align_up(u64::from(options.stack_size).max(16), 16);
    let mut table: u64 = 1;
    if dlopen::needs_table(set, link, openables) {
        let (size, root) = dlopen::region(openables, scope);
        let size = u32::try_from(size).unwrap_or(u32::MAX);
        layout.dlopen_table = Some((u32_of(mem), size));
        layout.dlopen_root = u32_of(mem + root);
        mem = align_up(mem + u64::from(size), 16);
    }
    if let Some(needs) = tls::needs(set, link) {
        let (tls, next) = needs.place(mem);
        layout.tls = Some(tls);
        mem = next;
    }
    for &l in &link.instantiation_order {
        let mi = set[l].mem_info;
        mem = align_up(mem, u64::from(mi.memory_alignment));
        table = align_up(table, u64::from(mi.table_alignment));
        layout.memory_base[l] = u32_of(mem.min(u64::from(u32::MAX)));
        layout.table_base[l] = u32_of(table.min(u64::from(u32::MAX)));
        // MEM_INFO's size, or what the data segments write if that is more.
        mem = mem.saturating_add(set[l].data_extent());
        table += u64::from(mi.table_size);
        if table > u64::from(u32::MAX) {
            return Err(SynthProblem::TableOverflow {
                library: Some(set.name(l).to_string()),
                slots: table,
            }
            .into());
        }
        if mem > u64::from(u32::MAX) {
            return Err(SynthProblem::MemoryOverflow {
                library: set.name(l).to_string(),
                size: mi.memory_size,
                alignment: mi.memory_alignment,
            }
            .into());
        }
    }
    let heap_base = align_up(mem, 16);
    let heap_end = align_up(heap_base, PAGE);
    if heap_end > u64::from(u32::MAX) {
        return Err(SynthProblem::HeapOverflow {
            stack_size: options.stack_size,
            needed: heap_base,
        }
        .into());
    }
    layout.heap_base = u32_of(heap_base);
    layout.heap_end = u32_of(heap_end);
    layout.memory_pages = u32_of(heap_end / PAGE);
    layout.first_function_slot = u32_of(table.min(u64::from(u32::MAX)));
    symbols_in_memory(set, link, &layout)?;
    Ok((layout, table))
}

/// Every data symbol's address must lie in the initial memory (a symbol past the library's own
/// region is a warning of weld-graph; one past the memory's end is an error).
fn symbols_in_memory(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    layout: &Layout,
) -> Result<(), SynthError> {
    let mut problems = Vec::new();
    for &l in &link.instantiation_order {
        for e in &set[l].exports {
            let Some(offset) = e.const_i32.filter(|_| e.is_symbol() && e.is_data()) else {
                continue;
            };
            let address = i64::from(layout.memory_base[l]) + i64::from(offset);
            if e.flags & weld_module::SYM_TLS == 0 && address > i64::from(layout.heap_end) {
                problems.push(SynthProblem::SymbolPastMemory {
                    library: set.name(l).to_string(),
                    symbol: e.name.to_string(),
                    address,
                    memory_end: layout.heap_end,
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SynthError { problems })
    }
}

/// Gives each function one slot, whichever of its export names asks.
struct Slots {
    /// Per `(library, function index)`: the library's first export of that function.
    canonical: HashMap<(weld_graph::LibId, u32), ExportRef>,
    next: u64,
}

impl Slots {
    fn new(set: &LibrarySet<'_>, link: &Link<'_>, first: u64) -> Self {
        let mut canonical = HashMap::new();
        for &l in &link.instantiation_order {
            for (r, export) in set.exports(l) {
                if matches!(export.ty, EntityType::Func(_)) {
                    canonical.entry((l, export.index)).or_insert(r);
                }
            }
        }
        Slots {
            canonical,
            next: first,
        }
    }

    /// Function slots: `GOT.func` targets and shim targets, in instantiation order of the
    /// importer, then the component's exports, then every function symbol of a library `dlopen`
    /// opens (`dlsym` yields the same slot as `&f`), then the built-in libdl's (the program
    /// scope's functions and deferred constructors).
    fn functions(
        &mut self,
        set: &LibrarySet<'_>,
        link: &Link<'_>,
        export_shims: &[ExportShim],
        scope: Option<&Scope<'_>>,
        openables: &[Openable<'_>],
        layout: &mut Layout,
    ) {
        for &l in &link.instantiation_order {
            for b in &link.bindings[l] {
                match *b {
                    Binding::FunctionAddress(target) | Binding::Function { target, shim: true } => {
                        self.assign(set, target, layout)
                    }
                    _ => {}
                }
            }
        }
        for shim in export_shims {
            self.assign(set, shim.target, layout);
        }
        for o in openables {
            for &(_, r) in &o.symbols {
                if matches!(set.export(r).ty, EntityType::Func(_)) {
                    self.assign(set, r, layout);
                }
            }
        }
        for r in scope
            .into_iter()
            .flat_map(|s| s.slot_functions(set, openables))
        {
            self.assign(set, r, layout);
        }
    }

    /// Then a slot per stub whose address is taken.
    fn stubs(&mut self, link: &Link<'_>, layout: &mut Layout) {
        for &l in &link.instantiation_order {
            for b in &link.bindings[l] {
                if let Binding::StubAddress(s) = *b
                    && !layout.stub_slots.contains_key(&s)
                {
                    layout
                        .stub_slots
                        .insert(s, u32_of(self.next.min(u64::from(u32::MAX))));
                    self.next += 1;
                }
            }
        }
    }

    /// The table's size, unless the slots overflow it.
    fn finish(&self, layout: &mut Layout) -> Result<(), SynthError> {
        if self.next > u64::from(u32::MAX) {
            return Err(SynthProblem::TableOverflow {
                library: None,
                slots: self.next,
            }
            .into());
        }
        layout.table_size = u32_of(self.next);
        Ok(())
    }

    /// The slot of `r`: its function's slot if it has one, else the next free slot.
    fn assign(&mut self, set: &LibrarySet<'_>, r: ExportRef, layout: &mut Layout) {
        if layout.slot_by_export.contains_key(&r) {
            return;
        }
        let func = set.export(r).index;
        let canon = self
            .canonical
            .get(&(r.library(), func))
            .copied()
            .unwrap_or(r);
        let slot = match layout.function_slots.get(&canon) {
            Some(&slot) => slot,
            None => {
                let slot = u32_of(self.next.min(u64::from(u32::MAX)));
                layout.function_slots.insert(canon, slot);
                self.next += 1;
                slot
            }
        };
        layout.slot_by_export.insert(r, slot);
    }
}

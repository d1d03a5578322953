//! wasip3 thread-local storage (see docs/abi.md): which libraries own TLS, where the linker's
//! bookkeeping goes, and the bodies of each library's `__wasm_get_tls_base` /
//! `__wasm_set_tls_base`, which the main module defines.

use wasm_encoder::{BlockType, Function, MemArg, MemArgTarget};
use weld_graph::{LibId, LibrarySet, Link, PerLib};
use weld_module::abi::{self, LinkerData, LinkerFunction};

use crate::layout::{align_up, u32_of};
use crate::wrap_i32;

/// Where the thread-local-storage bookkeeping lives (see docs/abi.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsLayout {
    /// Array of each TLS-owning library's TLS base for the main thread (`u32` per slot).
    pub main_thread_tls_base: u32,
    /// Array of pointers to each TLS-owning library's `__wasm_library_tls_info` (0 if unused).
    pub library_info: u32,
    /// The `__wasm_program_tls_info` record `{count, library_info, main_thread_tls_base}` (0 if
    /// no library asks for it).
    pub program_info: u32,
    /// Per library: its slot in the arrays (libraries exporting `__wasm_library_tls_info`).
    pub slots: PerLib<Option<u32>>,
    /// Number of slots.
    pub count: u32,
    /// Whether some library spawns threads (`[thread-new-indirect-v0]`), so the TLS base of the
    /// running thread is read through `context.get 1`.
    pub threads: bool,
}

/// What the TLS bookkeeping needs, once placed.
pub(crate) struct TlsNeeds {
    layout: TlsLayout,
    /// Whether some library imports `GOT.mem.__wasm_program_tls_info`.
    program_info: bool,
}

/// Whether some kept library imports `module.name`.
pub(crate) fn imports_any(set: &LibrarySet<'_>, link: &Link<'_>, module: &str, name: &str) -> bool {
    link.instantiation_order.iter().any(|&l| {
        set[l]
            .imports
            .iter()
            .any(|i| i.module == module && i.name == name)
    })
}

/// The TLS bookkeeping the link needs, with slots assigned (addresses still to be placed).
pub(crate) fn needs(set: &LibrarySet<'_>, link: &Link<'_>) -> Option<TlsNeeds> {
    let accessor = |f: LinkerFunction| imports_any(set, link, abi::ENV, f.name());
    let needs_base = accessor(LinkerFunction::GetTlsBase) || accessor(LinkerFunction::SetTlsBase);
    let program_info = imports_any(set, link, abi::GOT_MEM, LinkerData::ProgramTlsInfo.name());
    if !needs_base && !program_info {
        return None;
    }
    let mut layout = TlsLayout {
        slots: set.per_lib(|_, _| None),
        threads: imports_any(set, link, abi::ROOT, abi::THREAD_NEW_INDIRECT),
        ..TlsLayout::default()
    };
    for &l in &link.instantiation_order {
        if set[l].owns_tls() {
            layout.slots[l] = Some(layout.count);
            layout.count += 1;
        }
    }
    Some(TlsNeeds {
        layout,
        program_info,
    })
}

impl TlsNeeds {
    /// Places the arrays (and the program record, if asked for) at `mem`; returns the layout
    /// and the next free 16-aligned address.
    pub(crate) fn place(self, mem: u64) -> (TlsLayout, u64) {
        let mut tls = self.layout;
        let mut mem = align_up(mem, 4);
        tls.main_thread_tls_base = u32_of(mem);
        mem += u64::from(tls.count) * 4;
        if self.program_info {
            tls.library_info = u32_of(mem);
            mem += u64::from(tls.count) * 4;
            tls.program_info = u32_of(mem);
            mem += 12;
        }
        (tls, align_up(mem, 16))
    }
}

/// The data segment of the program record: `library_info[slot]` (the address of each library's
/// `__wasm_library_tls_info`), then `__wasm_program_tls_info` right after it.
pub(crate) fn program_info_bytes(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    memory_base: &PerLib<u32>,
    tls: &TlsLayout,
) -> Vec<u8> {
    let mut bytes = vec![0u8; tls.count as usize * 4];
    for &l in &link.instantiation_order {
        let Some(slot) = tls.slots[l] else {
            continue;
        };
        let offset = set[l]
            .export(abi::LIBRARY_TLS_INFO)
            .and_then(|e| e.const_i32)
            .unwrap_or(0);
        let address = memory_base[l].wrapping_add(offset as u32);
        let at = slot as usize * 4;
        if let Some(dst) = bytes.get_mut(at..at + 4) {
            dst.copy_from_slice(&address.to_le_bytes());
        }
    }
    bytes.extend_from_slice(&tls.count.to_le_bytes());
    bytes.extend_from_slice(&tls.library_info.to_le_bytes());
    bytes.extend_from_slice(&tls.main_thread_tls_base.to_le_bytes());
    bytes
}

/// The body of library `l`'s accessor `f`: it reads or writes the library's slot of the running
/// thread's TLS-base array — the main thread's, or, when threads may exist, the one
/// `context.get 1` (main-module function `context_get_1`) points at.
pub(crate) fn accessor_body(
    tls: &TlsLayout,
    l: LibId,
    f: LinkerFunction,
    context_get_1: Option<u32>,
) -> Function {
    let mut func = Function::new([(1, wasm_encoder::ValType::I32)]);
    let ins = &mut func.instructions();
    let base = wrap_i32(tls.main_thread_tls_base);
    let Some(slot) = tls.slots[l] else {
        // A library without TLS of its own has no slot; it never calls these.
        ins.unreachable().end();
        return func;
    };
    let arg = MemArg {
        offset: u64::from(slot) * 4,
        align: 2,
        target: MemArgTarget::Memory(0),
        ordering: None,
    };
    match (f.is_getter(), context_get_1.filter(|_| tls.threads)) {
        (true, Some(ctx)) => {
            ins.call(ctx).i32_load(arg);
        }
        (true, None) => {
            ins.i32_const(base).i32_load(arg);
        }
        // Before the thread machinery has set up `context.get 1` (it is 0), the main thread's
        // base is written to the main-thread array.
        (false, Some(ctx)) => {
            ins.call(ctx)
                .local_tee(1)
                .i32_eqz()
                .if_(BlockType::Empty)
                .i32_const(base)
                .local_get(0)
                .i32_store(arg)
                .else_()
                .local_get(1)
                .local_get(0)
                .i32_store(arg)
                .end();
        }
        (false, None) => {
            ins.i32_const(base).local_get(0).i32_store(arg);
        }
    }
    ins.end();
    func
}

//! The main module, emitted from the [`Plan`]: it defines the memory, the table and the globals;
//! imports the functions the libraries import from outside the dynamic-linking ABI and re-exports
//! them; defines the `call_indirect` shims (for imports bound to later libraries, and for the
//! component's exports under their exact names) and the TLS accessors; and holds the dlopen table
//! and TLS records in a data segment and the libraries' `component-type` sections.

use std::borrow::Cow;

use wasm_encoder::{
    ConstExpr, DataSection, ExportKind, Function, GlobalSection, MemorySection, MemoryType, Module,
    RefType, TableSection, TableType,
};
use weld_graph::{ExportRef, LibrarySet, Link};
use weld_module::{CustomSection, EntityType, FuncSig, abi};

use crate::args::ShimInfo;
use crate::builder::{ModuleBuilder, i32_global, u32_len};
use crate::layout::Layout;
use crate::limits::Limits;
use crate::openable::Openable;
use crate::plan::Plan;
use crate::scope::Scope;
use crate::{ExportShim, dlopen, names, tls, wrap_i32};

/// The main module and the shims it defines.
pub(crate) struct MainModule {
    pub(crate) bytes: Vec<u8>,
    pub(crate) import_shims: Vec<ShimInfo>,
    pub(crate) export_shims: Vec<ShimInfo>,
}

/// Everything the main module is built from.
pub(crate) struct MainInputs<'s, 'a> {
    pub(crate) set: &'s LibrarySet<'a>,
    pub(crate) link: &'s Link<'a>,
    /// Data the main module writes for libraries.
    pub(crate) hosted_data: &'s [crate::HostedData<'s>],
    pub(crate) layout: &'s Layout,
    pub(crate) plan: &'s Plan<'a>,
    pub(crate) limits: Limits,
    pub(crate) export_shims: &'s [ExportShim],
    pub(crate) custom_sections: &'s [CustomSection<'a>],
    /// The built-in libdl's decisions, when it is linked.
    pub(crate) scope: Option<&'s Scope<'a>>,
    /// The libraries `dlopen` opens.
    pub(crate) openables: &'s [Openable<'s>],
}

/// Builds the main module.
pub(crate) fn build(cx: &MainInputs<'_, '_>) -> MainModule {
    let mut b = ModuleBuilder::default();
    for ((module, name), (_, sig)) in &cx.plan.passthrough {
        b.import_func(module, name, sig);
    }
    let import_shims = cx
        .plan
        .import_shims
        .iter()
        .filter_map(|(&target, name)| shim(&mut b, cx, name, target))
        .collect();
    let export_shims = cx
        .export_shims
        .iter()
        .filter_map(|s| shim(&mut b, cx, &s.name, s.target))
        .collect();
    if let Some(tls) = &cx.layout.tls {
        for &(l, f) in &cx.plan.tls_accessors {
            let body = tls::accessor_body(tls, l, f, cx.plan.context_get_1);
            let index = b.function(&f.signature(), &body);
            b.export_func(&names::tls_accessor(l, f), index);
        }
    }
    for (i, (name, _)) in cx.plan.passthrough.values().enumerate() {
        b.export_func(name, u32_len(i));
    }
    let mut globals = GlobalSection::new();
    for (name, mutable, value) in cx.plan.globals.iter() {
        b.exports.export(name, ExportKind::Global, globals.len());
        globals.global(i32_global(mutable), &ConstExpr::i32_const(value));
    }
    b.exports.export(abi::MEMORY, ExportKind::Memory, 0);
    b.exports.export(abi::TABLE, ExportKind::Table, 0);

    let mut module = Module::new();
    module
        .section(&b.types)
        .section(&b.imports)
        .section(&b.functions)
        .section(&table_section(cx.limits))
        .section(&memory_section(cx.limits))
        .section(&globals)
        .section(&b.exports)
        .section(&b.code)
        .section(&data_section(cx));
    for c in cx.custom_sections {
        module.section(&wasm_encoder::CustomSection {
            name: Cow::Borrowed(c.name),
            data: Cow::Borrowed(c.data),
        });
    }
    MainModule {
        bytes: module.finish(),
        import_shims,
        export_shims,
    }
}

/// Defines and exports as `name` a function calling `target` through its table slot.
fn shim(
    b: &mut ModuleBuilder,
    cx: &MainInputs<'_, '_>,
    name: &str,
    target: ExportRef,
) -> Option<ShimInfo> {
    let slot = cx.layout.slot(target);
    let ty = &cx.set.export(target).ty;
    debug_assert!(
        slot.is_some(),
        "{target:?} is called through a shim but has no slot"
    );
    debug_assert!(
        matches!(ty, EntityType::Func(_)),
        "a shim of {target:?}: {ty}"
    );
    let (Some(slot), EntityType::Func(sig)) = (slot, ty) else {
        return None;
    };
    let body = call_indirect(b, sig, slot);
    let index = b.function(sig, &body);
    b.export_func(name, index);
    Some(ShimInfo {
        export_name: name.to_string(),
        target,
        slot,
    })
}

/// A function of type `sig` passing its parameters on to the function in table slot `slot`.
fn call_indirect(b: &mut ModuleBuilder, sig: &FuncSig, slot: u32) -> Function {
    let ty = b.ty(sig);
    let mut f = Function::new([]);
    let mut ins = f.instructions();
    for p in 0..sig.params.len() {
        ins.local_get(u32_len(p));
    }
    ins.i32_const(wrap_i32(slot)).call_indirect(0, ty).end();
    f
}

fn table_section(limits: Limits) -> TableSection {
    let mut tables = TableSection::new();
    tables.table(table_type(limits));
    tables
}

/// The one table's type.
pub(crate) fn table_type(limits: Limits) -> TableType {
    TableType {
        element_type: RefType::FUNCREF,
        minimum: limits.table_min,
        maximum: limits.table_max,
        table64: false,
        shared: false,
    }
}

fn memory_section(limits: Limits) -> MemorySection {
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: limits.memory_min,
        maximum: limits.memory_max,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    memories
}

/// The TLS records (when some library reads them), the dlopen table (when there is one) and
/// the data hosted for libraries.
fn data_section(cx: &MainInputs<'_, '_>) -> DataSection {
    let mut data = DataSection::new();
    for d in cx.hosted_data {
        let address = cx.layout.memory_base[d.library].checked_add(d.offset);
        debug_assert!(address.is_some(), "hosted data past 4 GiB: {d:?}");
        if let Some(address) = address {
            data.active(
                0,
                &ConstExpr::i32_const(wrap_i32(address)),
                d.bytes.iter().copied(),
            );
        }
    }
    if let Some(tls) = &cx.layout.tls
        && tls.program_info != 0
    {
        let bytes = tls::program_info_bytes(cx.set, cx.link, &cx.layout.memory_base, tls);
        data.active(0, &ConstExpr::i32_const(wrap_i32(tls.library_info)), bytes);
    }
    if let Some((start, _)) = cx.layout.dlopen_table {
        data.active(
            0,
            &ConstExpr::i32_const(wrap_i32(start)),
            dlopen::table_bytes(cx.set, cx.layout, cx.openables, cx.scope),
        );
    }
    data
}

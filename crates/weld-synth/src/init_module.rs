//! The init module, instantiated after every library: its active element segment fills the
//! function slots (functions whose address is taken or that are reached through a shim, then
//! stubs whose address is taken); its start function sets the `GOT.mem` entries known only at
//! run time, then runs every `__wasm_apply_data_relocs` and then every constructor, both in
//! initialization order (the constructors between task-hook calls when a library has a task
//! hook). With the built-in libdl, the constructors of libraries loaded by their first `dlopen`
//! are left to libdl.

use std::borrow::Cow;
use std::collections::HashSet;

use wasm_encoder::{
    ConstExpr, ElementSection, Elements, EntityType as EncEntity, Module, StartSection,
};
use weld_graph::{LibId, LibrarySet, Link};
use weld_module::{EntityType, FuncSig, SpecialExport, abi};

use crate::args::InitArg;
use crate::builder::ModuleBuilder;
use crate::layout::Layout;
use crate::limits::Limits;
use crate::main_module::table_type;
use crate::plan::Plan;
use crate::scope::Scope;
use crate::{MAIN_MARKER, names, wrap_i32};

/// The init module and the instances it is instantiated with.
pub(crate) struct InitModule {
    pub(crate) bytes: Vec<u8>,
    /// Import module name -> instance, in first-use order.
    pub(crate) args: Vec<(String, InitArg)>,
}

/// Everything the init module is built from.
pub(crate) struct InitInputs<'s, 'a> {
    pub(crate) set: &'s LibrarySet<'a>,
    pub(crate) link: &'s Link<'a>,
    pub(crate) layout: &'s Layout,
    pub(crate) plan: &'s Plan<'a>,
    pub(crate) limits: Limits,
    /// The stubs module's export names, by stub index.
    pub(crate) stub_names: &'s [String],
    /// The built-in libdl's decisions, when it is linked: deferred libraries' constructors are
    /// not run here (libdl runs them at their first `dlopen`).
    pub(crate) scope: Option<&'s Scope<'a>>,
}

/// The init module under construction: its imports come from the main instance, the stubs
/// instance and library instances, each named once in its arguments.
struct InitBuilder {
    b: ModuleBuilder,
    args: Vec<(String, InitArg)>,
    libraries: HashSet<LibId>,
}

impl InitBuilder {
    /// The import module name for library `l`'s instance, added to the arguments on first use.
    fn library(&mut self, l: LibId) -> String {
        let name = names::library_instance(l);
        if self.libraries.insert(l) {
            self.args.push((name.clone(), InitArg::Library(l)));
        }
        name
    }

    /// Imports function `name` of library `l`.
    fn library_func(&mut self, l: LibId, name: &str, sig: &FuncSig) -> u32 {
        let module = self.library(l);
        self.b.import_func(&module, name, sig)
    }
}

/// Builds the init module.
pub(crate) fn build(cx: &InitInputs<'_, '_>) -> InitModule {
    let mut init = InitBuilder {
        b: ModuleBuilder::default(),
        args: vec![(MAIN_MARKER.into(), InitArg::Main)],
        libraries: HashSet::new(),
    };
    init.b.imports.import(
        MAIN_MARKER,
        abi::TABLE,
        EncEntity::Table(table_type(cx.limits)),
    );
    let elements = element_functions(&mut init, cx);
    let mut body = wasm_encoder::Function::new([]);
    {
        let ins = &mut body.instructions();
        for fx in &cx.plan.fixups {
            let module = init.library(fx.exporter);
            let got = init.b.import_global(MAIN_MARKER, &fx.got, true);
            let base = init.b.import_global(MAIN_MARKER, &fx.base, false);
            let offset = init.b.import_global(&module, fx.symbol, false);
            ins.global_get(base)
                .global_get(offset)
                .i32_add()
                .global_set(got);
        }
        let thunk = FuncSig::default();
        init.b.ty(&thunk);
        let relocs = initializers(&mut init, cx, &[SpecialExport::ApplyDataRelocs], |_| true);
        let ctors = initializers(
            &mut init,
            cx,
            &[SpecialExport::CallCtors, SpecialExport::Initialize],
            |l| !cx.scope.is_some_and(|s| s.is_deferred(l)),
        );
        let hook = if ctors.is_empty() {
            None
        } else {
            task_hook(&mut init, cx)
        };
        for f in relocs {
            ins.call(f);
        }
        if let Some(hook) = hook {
            ins.i32_const(abi::TASK_HOOK_CTORS_START).call(hook);
        }
        for f in ctors {
            ins.call(f);
        }
        if let Some(hook) = hook {
            ins.i32_const(abi::TASK_HOOK_CTORS_END).call(hook);
        }
        ins.end();
    }
    let start = init.b.function(&FuncSig::default(), &body);
    let mut elems = ElementSection::new();
    if !elements.is_empty() {
        elems.active(
            Some(0),
            &ConstExpr::i32_const(wrap_i32(cx.layout.first_function_slot)),
            Elements::Functions(Cow::Borrowed(&elements)),
        );
    }
    let b = &init.b;
    let mut module = Module::new();
    module
        .section(&b.types)
        .section(&b.imports)
        .section(&b.functions)
        .section(&StartSection {
            function_index: start,
        })
        .section(&elems)
        .section(&b.code);
    InitModule {
        bytes: module.finish(),
        args: init.args,
    }
}

/// The functions of the element segment, in slot order: every function slot, then the stubs
/// whose address is taken.
fn element_functions(init: &mut InitBuilder, cx: &InitInputs<'_, '_>) -> Vec<u32> {
    let mut elements = Vec::with_capacity(cx.layout.function_slots.len());
    for &target in cx.layout.function_slots.keys() {
        let export = cx.set.export(target);
        debug_assert!(
            matches!(export.ty, EntityType::Func(_)),
            "slot of {target:?}"
        );
        if let EntityType::Func(sig) = &export.ty {
            elements.push(init.library_func(target.library(), export.name, sig));
        }
    }
    if !cx.layout.stub_slots.is_empty() {
        init.args.push((names::STUBS.into(), InitArg::Stubs));
    }
    for &s in cx.layout.stub_slots.keys() {
        let name = cx.stub_names.get(s.index());
        debug_assert!(name.is_some(), "stub {s:?} has no name");
        if let Some(name) = name {
            elements.push(init.b.import_func(names::STUBS, name, &cx.link.stub(s).sig));
        }
    }
    elements
}

/// The exports with one of the roles `which` of every kept library for which `at_start` is
/// true, in initialization order.
fn initializers(
    init: &mut InitBuilder,
    cx: &InitInputs<'_, '_>,
    which: &[SpecialExport],
    at_start: impl Fn(LibId) -> bool,
) -> Vec<u32> {
    let mut calls = Vec::new();
    for &l in cx.link.init_order.iter().filter(|&&l| at_start(l)) {
        for &w in which {
            if let Some(export) = cx.set[l].special(w) {
                calls.push(init.library_func(l, export.name, &FuncSig::default()));
            }
        }
    }
    calls
}

/// A task hook (`__wasm_task_hook`, as wasip3 libcs export), told when constructors start and
/// finish: the first kept library's, in instantiation order.
fn task_hook(init: &mut InitBuilder, cx: &InitInputs<'_, '_>) -> Option<u32> {
    let sig = abi::task_hook_signature();
    let (l, name) = cx.link.instantiation_order.iter().find_map(|&l| {
        let e = cx.set[l].export(abi::TASK_HOOK)?;
        matches!(&e.ty, EntityType::Func(s) if *s == sig).then_some((l, e.name))
    })?;
    Some(init.library_func(l, name, &sig))
}

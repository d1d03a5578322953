//! What the three glue modules share: a module under construction with interned function types
//! and interned imports (each `(module, name)` imported once — components reject duplicates),
//! defined functions with their code, and exports. Each glue module writes the sections it needs
//! in its own order.

use std::collections::HashMap;

use wasm_encoder::{
    CodeSection, EntityType, ExportKind, ExportSection, Function, FunctionSection, GlobalType,
    ImportSection, RefType, TypeSection,
};
use weld_module::{FuncSig, ValType};

/// A core module under construction.
#[derive(Default)]
pub(crate) struct ModuleBuilder {
    pub(crate) types: TypeSection,
    type_index: HashMap<FuncSig, u32>,
    pub(crate) imports: ImportSection,
    imported_funcs: HashMap<(String, String), u32>,
    imported_globals: HashMap<(String, String), u32>,
    pub(crate) functions: FunctionSection,
    pub(crate) code: CodeSection,
    pub(crate) exports: ExportSection,
}

impl ModuleBuilder {
    /// The index of the function type `sig`, added on first use.
    pub(crate) fn ty(&mut self, sig: &FuncSig) -> u32 {
        if let Some(&i) = self.type_index.get(sig) {
            return i;
        }
        let i = self.types.len();
        self.types.ty().function(
            sig.params.iter().copied().map(val_type),
            sig.results.iter().copied().map(val_type),
        );
        self.type_index.insert(sig.clone(), i);
        i
    }

    /// The index of the imported function `module.name` of type `sig`, imported on first use.
    /// (The type is registered even when the import exists already.)
    pub(crate) fn import_func(&mut self, module: &str, name: &str, sig: &FuncSig) -> u32 {
        let ty = self.ty(sig);
        let key = (module.to_string(), name.to_string());
        if let Some(&i) = self.imported_funcs.get(&key) {
            return i;
        }
        let i = u32_len(self.imported_funcs.len());
        self.imports.import(module, name, EntityType::Function(ty));
        self.imported_funcs.insert(key, i);
        i
    }

    /// The index of the imported `i32` global `module.name`, imported on first use.
    pub(crate) fn import_global(&mut self, module: &str, name: &str, mutable: bool) -> u32 {
        let key = (module.to_string(), name.to_string());
        if let Some(&i) = self.imported_globals.get(&key) {
            return i;
        }
        let i = u32_len(self.imported_globals.len());
        self.imports
            .import(module, name, EntityType::Global(i32_global(mutable)));
        self.imported_globals.insert(key, i);
        i
    }

    /// Defines a function of type `sig` with `body`; returns its index.
    pub(crate) fn function(&mut self, sig: &FuncSig, body: &Function) -> u32 {
        let ty = self.ty(sig);
        let index = self.next_function();
        self.functions.function(ty);
        self.code.function(body);
        index
    }

    /// The index the next defined function will get.
    pub(crate) fn next_function(&self) -> u32 {
        u32_len(self.imported_funcs.len()).saturating_add(self.functions.len())
    }

    /// Exports function `index` as `name`.
    pub(crate) fn export_func(&mut self, name: &str, index: u32) {
        self.exports.export(name, ExportKind::Func, index);
    }
}

/// A `u32` count of items of a module (modules hold far fewer than 2^32).
pub(crate) fn u32_len(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The type of the `i32` globals the glue modules define and import.
pub(crate) fn i32_global(mutable: bool) -> GlobalType {
    GlobalType {
        val_type: wasm_encoder::ValType::I32,
        mutable,
        shared: false,
    }
}

/// wasmparser's value type as wasm-encoder's.
pub(crate) fn val_type(t: ValType) -> wasm_encoder::ValType {
    match t {
        ValType::I32 => wasm_encoder::ValType::I32,
        ValType::I64 => wasm_encoder::ValType::I64,
        ValType::F32 => wasm_encoder::ValType::F32,
        ValType::F64 => wasm_encoder::ValType::F64,
        ValType::V128 => wasm_encoder::ValType::V128,
        ValType::Ref(r) => wasm_encoder::RefType::try_from(r)
            .map(wasm_encoder::ValType::Ref)
            .unwrap_or(wasm_encoder::ValType::Ref(RefType::FUNCREF)),
    }
}

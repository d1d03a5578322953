//! The generated dependency chains the bench links: `lib{i}.so` needs `lib{i+1}.so`, with
//! cycles, `GOT.mem` and `GOT.func` references.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::Result;
use wasm_encoder::{
    CodeSection, ConstExpr, CustomSection, EntityType, ExportKind, ExportSection, Function,
    FunctionSection, GlobalSection, GlobalType, ImportSection, MemoryType, Module, RefType,
    TableType, TypeSection, ValType,
};

/// One library of a chain of `n`: `lib{i}.so` needs `lib{i+1}.so`, calls its `f{i+1}`, takes its
/// address and reads its data symbol; every tenth library also needs and imports from the one
/// before it, closing a cycle. `f{i}` returns `f{i+1}() + 1`, so `f0` returns `n`.
fn chain_library(i: usize, n: usize) -> Vec<u8> {
    let next = (i + 1 < n).then_some(i + 1);
    let back = (i % 10 == 9).then(|| i - 1);
    let mut dylink = Vec::new();
    let sub = |ty: u8, payload: Vec<u8>, out: &mut Vec<u8>| {
        out.push(ty);
        leb(out, payload.len() as u32);
        out.extend(payload);
    };
    let mut mem_info = Vec::new();
    for v in [4u32, 2, 0, 0] {
        leb(&mut mem_info, v);
    }
    sub(1, mem_info, &mut dylink);
    let needed: Vec<String> = next
        .iter()
        .chain(back.iter())
        .map(|j| format!("lib{j}.so"))
        .collect();
    let mut payload = Vec::new();
    leb(&mut payload, needed.len() as u32);
    for n in &needed {
        leb(&mut payload, n.len() as u32);
        payload.extend_from_slice(n.as_bytes());
    }
    sub(2, payload, &mut dylink);

    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]); // 0
    types.ty().function([], []); // 1
    let mut imports = ImportSection::new();
    imports.import(
        "env",
        "memory",
        EntityType::Memory(MemoryType {
            minimum: 0,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        }),
    );
    imports.import(
        "env",
        "__indirect_function_table",
        EntityType::Table(TableType {
            element_type: RefType::FUNCREF,
            minimum: 0,
            maximum: None,
            table64: false,
            shared: false,
        }),
    );
    let global = |mutable| {
        EntityType::Global(GlobalType {
            val_type: ValType::I32,
            mutable,
            shared: false,
        })
    };
    imports.import("env", "__memory_base", global(false));
    imports.import("env", "__table_base", global(false));
    imports.import("env", "__stack_pointer", global(true));
    let mut func_imports = 0;
    if let Some(j) = next {
        imports.import("env", &format!("f{j}"), EntityType::Function(0));
        imports.import("GOT.mem", &format!("d{j}"), global(true));
        imports.import("GOT.func", &format!("f{j}"), global(true));
        func_imports += 1;
    }
    if let Some(j) = back {
        imports.import("env", &format!("f{j}"), EntityType::Function(0));
        func_imports += 1;
    }
    let mut funcs = FunctionSection::new();
    funcs.function(0); // f{i}
    funcs.function(1); // ctors
    funcs.function(1); // relocs
    let mut globals = GlobalSection::new();
    globals.global(
        GlobalType {
            val_type: ValType::I32,
            mutable: false,
            shared: false,
        },
        &ConstExpr::i32_const(0),
    );
    let mut exports = ExportSection::new();
    exports.export(&format!("f{i}"), ExportKind::Func, func_imports);
    exports.export("__wasm_call_ctors", ExportKind::Func, func_imports + 1);
    exports.export(
        "__wasm_apply_data_relocs",
        ExportKind::Func,
        func_imports + 2,
    );
    exports.export(
        &format!("d{i}"),
        ExportKind::Global,
        3 + u32::from(next.is_some()) * 2,
    );
    let mut code = CodeSection::new();
    let mut f = Function::new([]);
    match next {
        Some(_) => f.instructions().call(0).i32_const(1).i32_add().end(),
        None => f.instructions().i32_const(1).end(),
    };
    code.function(&f);
    for _ in 0..2 {
        let mut f = Function::new([]);
        f.instructions().end();
        code.function(&f);
    }
    if i == 0 {
        funcs.function(0);
        exports.export("run", ExportKind::Func, func_imports + 3);
        let mut f = Function::new([]);
        f.instructions().call(func_imports).end();
        code.function(&f);
    }
    let mut module = Module::new();
    module
        .section(&CustomSection {
            name: Cow::Borrowed("dylink.0"),
            data: Cow::Owned(dylink),
        })
        .section(&types)
        .section(&imports)
        .section(&funcs)
        .section(&globals)
        .section(&exports)
        .section(&code);
    let wasm = module.finish();
    if i == 0 {
        weld_tests::embed_world(
            wasm,
            "package bench:chain; world chain { export run: func() -> s32; }",
            "chain",
        )
    } else {
        wasm
    }
}

/// Appends `v` as an unsigned LEB128.
fn leb(out: &mut Vec<u8>, v: u32) {
    wasm_encoder::Encode::encode(&v, out);
}

/// Writes a chain of `n` libraries (in reverse dependency order, the hard case for
/// input-ordered linkers) and returns their paths.
pub(crate) fn write_chain(dir: &Path, n: usize) -> Result<Vec<PathBuf>> {
    let d = dir.join(format!("chain-{n}"));
    std::fs::create_dir_all(&d)?;
    let mut paths = Vec::with_capacity(n);
    for i in 0..n {
        let p = d.join(format!("lib{i}.so"));
        std::fs::write(&p, chain_library(i, n))?;
        paths.push(p);
    }
    Ok(paths)
}

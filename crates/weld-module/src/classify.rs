//! Describing imports and exports once the whole module has been read: each import's type, its
//! ABI role ([`ImportClass`]) and weak flag; each export's type, constant value, symbol flags and
//! ABI role ([`SpecialExport`]). Function types must be ones a [`FuncSig`] describes faithfully,
//! since that is how weld matches them across modules.

use std::collections::HashMap;

use wasmparser::{CompositeInnerType, ExternalKind, TypeRef};

use crate::abi::{self, SYM_BINDING_WEAK};
use crate::parse::{Ctx, Raw, Spaces};
use crate::{
    AbiImportError, EntityType, Export, FuncSig, Import, ImportClass, Library, ParseError,
    ParseErrorKind, SpecialExport, ValType,
};

/// The library's imports, in module order.
pub(crate) fn imports<'a>(
    cx: &Ctx<'_>,
    lib: &Library<'a>,
    spaces: &Spaces,
    raw: Raw<wasmparser::Import<'a>>,
) -> Result<Vec<Import<'a>>, ParseError> {
    // IMPORT_INFO flags by field name: wasm-ld records the flags of a `GOT.mem` import under
    // module `env`, so an entry under `env` also applies to the GOT imports of that field.
    let mut flags_of: HashMap<(&str, &str), u32> = HashMap::new();
    for &(module, field, flags) in &lib.import_info {
        *flags_of.entry((module, field)).or_default() |= flags;
    }
    // Components do not allow a module to import the same name twice.
    let mut first_import: HashMap<(&str, &str), u64> = HashMap::with_capacity(raw.len());
    let mut out = Vec::with_capacity(raw.len());
    for (off, import) in raw {
        if let Some(first) = first_import.insert((import.module, import.name), off) {
            return Err(cx.err(
                Some(off),
                ParseErrorKind::DuplicateImport {
                    module: import.module.to_string(),
                    name: import.name.to_string(),
                },
                format!(
                    "import `{}.{}` appears twice (first at byte offset {first:#x}); a module inside a component cannot import the same name twice",
                    import.module, import.name
                ),
            ));
        }
        let ty = import_type(cx, spaces, off, &import)?;
        let class = classify_import(cx, off, &import, &ty)?;
        let mut flags = flags_of
            .get(&(import.module, import.name))
            .copied()
            .unwrap_or(0);
        if matches!(class, ImportClass::GotMem | ImportClass::GotFunc) {
            flags |= flags_of.get(&(abi::ENV, import.name)).copied().unwrap_or(0);
        }
        out.push(Import {
            module: import.module,
            name: import.name,
            ty,
            class,
            weak: flags & SYM_BINDING_WEAK != 0,
        });
    }
    Ok(out)
}

/// The type of one import.
fn import_type(
    cx: &Ctx<'_>,
    spaces: &Spaces,
    off: u64,
    import: &wasmparser::Import<'_>,
) -> Result<EntityType, ParseError> {
    let what = || format!("import `{}.{}`", import.module, import.name);
    Ok(match import.ty {
        TypeRef::Func(t) => EntityType::Func(linkable_sig(cx, spaces, t, off, &what)?),
        TypeRef::FuncExact(_) => {
            return Err(cx.err(
                Some(off),
                ParseErrorKind::UnsupportedImport {
                    module: import.module.to_string(),
                    name: import.name.to_string(),
                },
                format!(
                    "{} is an exact function import (`(func (exact ...))`), which weld does not support",
                    what()
                ),
            ));
        }
        TypeRef::Global(g) => EntityType::Global(g),
        TypeRef::Memory(m) => EntityType::Memory(m),
        TypeRef::Table(t) => EntityType::Table(t),
        TypeRef::Tag(t) => EntityType::Tag(linkable_sig(cx, spaces, t.func_type_idx, off, &what)?),
    })
}

/// The library's exports, in module order.
pub(crate) fn exports<'a>(
    cx: &Ctx<'_>,
    lib: &Library<'a>,
    spaces: &Spaces,
    raw: Raw<wasmparser::Export<'a>>,
) -> Result<Vec<Export<'a>>, ParseError> {
    let flags_of: HashMap<&str, u32> = lib.export_info.iter().copied().collect();
    let mut out = Vec::with_capacity(raw.len());
    for (off, export) in raw {
        let (ty, const_i32) = export_type(cx, spaces, off, &export)?;
        let special = special_role(export.name, &ty);
        out.push(Export {
            name: export.name,
            ty,
            index: export.index,
            const_i32,
            flags: flags_of.get(export.name).copied().unwrap_or(0),
            special,
        });
    }
    Ok(out)
}

/// The type of one export and, for a global initialised by `i32.const`, its value.
fn export_type(
    cx: &Ctx<'_>,
    spaces: &Spaces,
    off: u64,
    export: &wasmparser::Export<'_>,
) -> Result<(EntityType, Option<i32>), ParseError> {
    let idx = export.index as usize;
    let missing = |what: &str, len: usize| {
        cx.malformed(
            off,
            format!(
                "export `{}` refers to {what} {idx}, but the module has only {len}",
                export.name
            ),
        )
    };
    let what = || format!("export `{}`", export.name);
    let s = spaces;
    Ok(match export.kind {
        ExternalKind::Func | ExternalKind::FuncExact => {
            let t = *s
                .funcs
                .get(idx)
                .ok_or_else(|| missing("function", s.funcs.len()))?;
            (
                EntityType::Func(linkable_sig(cx, spaces, t, off, &what)?),
                None,
            )
        }
        ExternalKind::Global => {
            let (g, v) = *s
                .globals
                .get(idx)
                .ok_or_else(|| missing("global", s.globals.len()))?;
            (EntityType::Global(g), v)
        }
        ExternalKind::Memory => {
            let m = s.memories.get(idx);
            let m = *m.ok_or_else(|| missing("memory", s.memories.len()))?;
            (EntityType::Memory(m), None)
        }
        ExternalKind::Table => {
            let t = s.tables.get(idx);
            let t = *t.ok_or_else(|| missing("table", s.tables.len()))?;
            (EntityType::Table(t), None)
        }
        ExternalKind::Tag => {
            let t = *s
                .tags
                .get(idx)
                .ok_or_else(|| missing("tag", s.tags.len()))?;
            (
                EntityType::Tag(linkable_sig(cx, spaces, t, off, &what)?),
                None,
            )
        }
    })
}

/// The ABI role of an export named `name` of type `ty`, if it has one.
fn special_role(name: &str, ty: &EntityType) -> Option<SpecialExport> {
    if !matches!(ty, EntityType::Func(_)) {
        return None;
    }
    match name {
        abi::APPLY_DATA_RELOCS => Some(SpecialExport::ApplyDataRelocs),
        abi::CALL_CTORS => Some(SpecialExport::CallCtors),
        abi::INITIALIZE => Some(SpecialExport::Initialize),
        abi::START => Some(SpecialExport::Start),
        _ => None,
    }
}

/// Why a function type cannot be described by a [`FuncSig`] (so that two modules agreeing on the
/// `FuncSig` could still disagree on the type), or `None` when it can. `in_group` is the number of
/// types in its recursion group.
pub(crate) fn unlinkable_type(sub: &wasmparser::SubType, in_group: usize) -> Option<&'static str> {
    let CompositeInnerType::Func(f) = &sub.composite_type.inner else {
        return None;
    };
    if in_group > 1 {
        Some("it is defined in a recursion group with other types")
    } else if !sub.is_final || !sub.supertype_idxs.is_empty() {
        Some("it is not final or declares a supertype")
    } else if sub.composite_type.shared {
        Some("it is a shared type")
    } else if f
        .params()
        .iter()
        .chain(f.results())
        .any(|t| matches!(t, ValType::Ref(r) if r.type_index().is_some()))
    {
        Some("a parameter or result is a reference to a type defined in the module")
    } else {
        None
    }
}

/// The signature of function type `idx`, borrowed: most callers only check that it exists.
pub(crate) fn func_sig<'t>(
    cx: &Ctx<'_>,
    types: &'t [Option<FuncSig>],
    idx: u32,
    off: u64,
) -> Result<&'t FuncSig, ParseError> {
    match types.get(idx as usize) {
        Some(Some(sig)) => Ok(sig),
        Some(None) => Err(cx.malformed(off, format!("type index {idx} is not a function type"))),
        None => Err(cx.malformed(
            off,
            format!(
                "type index {idx} out of bounds (the type section has {} entries)",
                types.len()
            ),
        )),
    }
}

/// A function type other libraries or the glue modules may have to match: a `FuncSig` compares
/// parameter and result lists only, so it must be all there is to the type. `what` names the
/// item; it is formatted only when there is an error to report.
fn linkable_sig(
    cx: &Ctx<'_>,
    spaces: &Spaces,
    idx: u32,
    off: u64,
    what: &dyn Fn() -> String,
) -> Result<FuncSig, ParseError> {
    let sig = func_sig(cx, &spaces.types, idx, off)?;
    match spaces.type_issues.get(idx as usize).copied().flatten() {
        None => Ok(sig.clone()),
        Some(issue) => {
            let item = what();
            let message = format!(
                "{item} has type {idx}, which weld cannot link across modules: {issue} \
                 (weld matches function types by their parameter and result lists)"
            );
            Err(cx.err(Some(off), ParseErrorKind::UnlinkableType { item }, message))
        }
    }
}

/// What an import means to the linker; a wrong kind or type for an ABI import is an error.
fn classify_import(
    cx: &Ctx<'_>,
    off: u64,
    import: &wasmparser::Import<'_>,
    ty: &EntityType,
) -> Result<ImportClass, ParseError> {
    let expected = |what: &'static str| {
        let note = match ty {
            EntityType::Global(g) if g.shared => " (the globals weld provides are not shared)",
            _ => "",
        };
        cx.err(
            Some(off),
            ParseErrorKind::AbiImport(Box::new(AbiImportError {
                module: import.module.to_string(),
                name: import.name.to_string(),
                expected: what,
                found: ty.clone(),
            })),
            format!(
                "import `{}.{}` must be {what}, found {ty}{note}",
                import.module, import.name
            ),
        )
    };
    // Shared globals (shared-everything threads) are a different type: the linker's globals are
    // not shared.
    let i32_global = |mutable: Option<bool>| match ty {
        EntityType::Global(g) if g.content_type == ValType::I32 && !g.shared => {
            mutable.is_none_or(|m| m == g.mutable)
        }
        _ => false,
    };
    let require = |ok: bool, what: &'static str, class: ImportClass| {
        if ok { Ok(class) } else { Err(expected(what)) }
    };
    match (import.module, import.name) {
        (abi::ENV, abi::MEMORY) => require(
            matches!(ty, EntityType::Memory(_)),
            "a memory",
            ImportClass::Memory,
        ),
        (abi::ENV, abi::TABLE) => require(
            matches!(ty, EntityType::Table(t) if t.element_type == wasmparser::RefType::FUNCREF),
            "a funcref table",
            ImportClass::Table,
        ),
        (abi::ENV, abi::STACK_POINTER) => require(
            i32_global(Some(true)),
            "a mutable i32 global",
            ImportClass::StackPointer,
        ),
        (abi::ENV, abi::MEMORY_BASE) => require(
            i32_global(Some(false)),
            "an immutable i32 global",
            ImportClass::MemoryBase,
        ),
        (abi::ENV, abi::TABLE_BASE) => require(
            i32_global(Some(false)),
            "an immutable i32 global",
            ImportClass::TableBase,
        ),
        (abi::ENV, _) => match ty {
            EntityType::Func(sig) => Ok(ImportClass::Function(sig.clone())),
            EntityType::Global(g) if !g.shared => Ok(ImportClass::EnvGlobal),
            EntityType::Global(_) => Err(expected("a function, a non-shared global or a tag")),
            EntityType::Tag(sig) => Ok(ImportClass::EnvTag(sig.clone())),
            _ => Err(expected("a function, global or tag")),
        },
        (abi::GOT_MEM, _) => require(i32_global(None), "an i32 global", ImportClass::GotMem),
        (abi::GOT_FUNC, _) => require(i32_global(None), "an i32 global", ImportClass::GotFunc),
        _ => Ok(ImportClass::Other),
    }
}

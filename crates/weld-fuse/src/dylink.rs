//! The fused library's custom sections: `dylink.0` (MEM_INFO covering every part's region,
//! NEEDED of what remains outside, EXPORT_INFO and IMPORT_INFO merged, RUNTIME_PATH), the name
//! section (every function named after its part, so a trap says which part it was in) and
//! `weld.fused-parts` (the parts' names, which NEEDED entries may use for the fused library).

use wasm_encoder::{Encode, NameMap, NameSection};
use weld_module::SYM_BINDING_WEAK;

use crate::emit::Inputs;

/// The `dylink.0` section's payload.
pub(crate) fn section(cx: &Inputs<'_, '_>) -> Vec<u8> {
    let plan = cx.plan;
    let mut out = Vec::new();
    let mut mem_info = Vec::new();
    u32::try_from(plan.memory_size)
        .unwrap_or(u32::MAX)
        .encode(&mut mem_info);
    plan.memory_alignment.trailing_zeros().encode(&mut mem_info);
    u32::try_from(plan.table_size)
        .unwrap_or(u32::MAX)
        .encode(&mut mem_info);
    plan.table_alignment.trailing_zeros().encode(&mut mem_info);
    subsection(&mut out, 1, &mem_info);
    if !plan.needed.is_empty() {
        let mut needed = Vec::new();
        plan.needed.len().encode(&mut needed);
        for n in &plan.needed {
            n.encode(&mut needed);
        }
        subsection(&mut out, 2, &needed);
    }
    let export_info: Vec<(&str, u32)> = plan
        .exports
        .iter()
        .map(|(name, &r)| (name.as_ref(), cx.set.export(r).flags))
        .filter(|(_, flags)| *flags != 0)
        .collect();
    if !export_info.is_empty() {
        let mut info = Vec::new();
        export_info.len().encode(&mut info);
        for (name, flags) in export_info {
            name.encode(&mut info);
            flags.encode(&mut info);
        }
        subsection(&mut out, 3, &info);
    }
    let weak: Vec<(&str, &str)> = plan
        .externals
        .values()
        .filter(|e| e.weak)
        .map(|e| (e.module, e.name))
        .collect();
    if !weak.is_empty() {
        let mut info = Vec::new();
        weak.len().encode(&mut info);
        for (module, name) in weak {
            module.encode(&mut info);
            name.encode(&mut info);
            SYM_BINDING_WEAK.encode(&mut info);
        }
        subsection(&mut out, 4, &info);
    }
    if !plan.runtime_path.is_empty() {
        let mut paths = Vec::new();
        plan.runtime_path.len().encode(&mut paths);
        for p in &plan.runtime_path {
            p.encode(&mut paths);
        }
        subsection(&mut out, 5, &paths);
    }
    out
}

/// The `weld.fused-parts` section's payload: every part's name, and the names of the parts of
/// a part that was fused itself, once each in part order — what the fused library answers to.
pub(crate) fn fused_parts(cx: &Inputs<'_, '_>) -> Vec<u8> {
    let mut seen = std::collections::HashSet::new();
    let names: Vec<&str> = cx
        .parts
        .values()
        .flat_map(|&id| {
            std::iter::once(cx.set.name(id)).chain(cx.set[id].fused_parts.iter().copied())
        })
        .filter(|n| seen.insert(*n))
        .collect();
    let mut out = Vec::new();
    names.len().encode(&mut out);
    for n in names {
        n.encode(&mut out);
    }
    out
}

fn subsection(out: &mut Vec<u8>, id: u8, payload: &[u8]) {
    out.push(id);
    payload.encode(out);
}

/// The name section: the fused library's name; every part function as `part!name` (or
/// `part!func[i]` without a name); the fused module's own functions.
pub(crate) fn names(
    cx: &Inputs<'_, '_>,
    relocs: Option<u32>,
    ctors: Option<u32>,
    start: Option<u32>,
) -> NameSection {
    let mut functions = NameMap::new();
    for (p, m) in cx.modules.iter() {
        let imported = m.imported().funcs;
        let maps = &cx.spaces.maps[p];
        for j in 0..m.functions.len() as u32 {
            let index = imported + j;
            let Some(&fused) = maps.funcs.get(index as usize) else {
                continue;
            };
            let name = match m.function_names.get(&index) {
                Some(n) => format!("{}!{n}", m.name),
                None => format!("{}!func[{index}]", m.name),
            };
            functions.append(fused, &name);
        }
    }
    for (index, name) in [
        (relocs, "weld-fuse!__wasm_apply_data_relocs"),
        (ctors, "weld-fuse!__wasm_call_ctors"),
        (start, "weld-fuse!start"),
    ] {
        if let Some(i) = index {
            functions.append(i, name);
        }
    }
    let mut section = NameSection::new();
    section.module(cx.name);
    section.functions(&functions);
    section
}

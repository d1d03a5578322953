//! `weld inspect`: prints what weld-module reads from each library.

use std::fmt::Write as _;
use std::path::PathBuf;

use weld_module::{EntityType, ImportClass, Library, SpecialExport};

use crate::diagnostic::{self, Diagnostic, Failure};
use crate::input::{Input, ReadError, read_module};
use crate::print;

fn class_name(class: &ImportClass) -> &'static str {
    match class {
        ImportClass::Memory => "memory",
        ImportClass::Table => "table",
        ImportClass::StackPointer => "stack-pointer",
        ImportClass::MemoryBase => "memory-base",
        ImportClass::TableBase => "table-base",
        ImportClass::Function(_) => "function",
        ImportClass::EnvGlobal => "env-global",
        ImportClass::EnvTag(_) => "tag",
        ImportClass::GotMem => "got-mem",
        ImportClass::GotFunc => "got-func",
        ImportClass::Other => "other",
    }
}

fn special_name(s: SpecialExport) -> &'static str {
    match s {
        SpecialExport::ApplyDataRelocs => "apply-data-relocs",
        SpecialExport::CallCtors => "call-ctors",
        SpecialExport::Initialize => "initialize",
        SpecialExport::Start => "start",
    }
}

fn export_role(e: &weld_module::Export<'_>) -> &'static str {
    if let Some(s) = e.special {
        return special_name(s);
    }
    match &e.ty {
        EntityType::Func(_) if e.name == weld_module::abi::CABI_REALLOC => "cabi-realloc",
        EntityType::Func(_) => "function",
        EntityType::Global(_) if e.is_data() => "data",
        EntityType::Global(_) => "global",
        EntityType::Memory(_) => "memory",
        EntityType::Table(_) => "table",
        EntityType::Tag(_) => "tag",
    }
}

/// Runs `weld inspect`: prints every library that can be read and parsed, then reports each
/// file that cannot, and fails if there was any.
pub fn run(files: &[PathBuf], json: bool) -> Result<(), Failure> {
    let inputs: Vec<(&PathBuf, String, Result<Input, ReadError>)> = files
        .iter()
        .map(|f| (f, f.to_string_lossy().into_owned(), read_module(f)))
        .collect();
    let mut libs = Vec::new();
    let mut errors = Vec::new();
    for (path, name, input) in &inputs {
        match input {
            Ok(bytes) => match Library::parse(name, bytes) {
                Ok(l) => libs.push(l),
                Err(e) => errors.push(diagnostic::parse_error(&e).file(path)),
            },
            Err(e) => errors.push(Diagnostic::error(e.kind.code(), e.message.clone()).file(path)),
        }
    }
    print::stdout(&if json { to_json(&libs) } else { to_text(&libs) });
    if !errors.is_empty() {
        return Err(Failure::all(errors));
    }
    Ok(())
}

fn to_text(libs: &[Library<'_>]) -> String {
    let mut s = String::new();
    for lib in libs {
        let _ = writeln!(s, "{}:", lib.name);
        if lib.has_dylink {
            let m = lib.mem_info;
            let _ = writeln!(
                s,
                "  dylink.0 mem-info: memory {} bytes align {}, table {} slots align {}",
                m.memory_size, m.memory_alignment, m.table_size, m.table_alignment
            );
        } else {
            let _ = writeln!(s, "  no dylink.0 section (treated as empty mem-info)");
        }
        if !lib.needed.is_empty() {
            let _ = writeln!(s, "  needed: {}", lib.needed.join(", "));
        }
        if !lib.runtime_path.is_empty() {
            let _ = writeln!(s, "  runtime-path: {}", lib.runtime_path.join(", "));
        }
        if !lib.fused_parts.is_empty() {
            let _ = writeln!(s, "  fused from: {}", lib.fused_parts.join(", "));
        }
        if let Some(a) = lib.target_arch {
            let _ = writeln!(s, "  target-arch: {a}");
        }
        for (name, flags) in &lib.export_info {
            let _ = writeln!(s, "  export-info: {name} flags {flags:#x}");
        }
        for (module, field, flags) in &lib.import_info {
            let _ = writeln!(s, "  import-info: {module}.{field} flags {flags:#x}");
        }
        for c in &lib.component_types {
            let _ = writeln!(s, "  custom section {} ({} bytes)", c.name, c.data.len());
        }
        let _ = writeln!(s, "  imports ({}):", lib.imports.len());
        for i in &lib.imports {
            let _ = writeln!(
                s,
                "    {:<13} {}.{}: {}{}",
                class_name(&i.class),
                i.module,
                i.name,
                i.ty,
                if i.weak { " (weak)" } else { "" }
            );
        }
        let _ = writeln!(s, "  exports ({}):", lib.exports.len());
        for e in &lib.exports {
            let value = match e.const_i32 {
                Some(v) => format!(" = {v}"),
                None => String::new(),
            };
            let _ = writeln!(
                s,
                "    {:<17} {}: {}{value}{}",
                export_role(e),
                e.name,
                e.ty,
                if e.is_weak() { " (weak)" } else { "" }
            );
        }
        for w in &lib.warnings {
            let _ = writeln!(s, "  warning: {}", w.message);
        }
    }
    s
}

fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    let parts: Vec<String> = items.iter().map(f).collect();
    format!("[{}]", parts.join(", "))
}

/// Stable JSON: keys in a fixed order, one library object per input.
fn to_json(libs: &[Library<'_>]) -> String {
    let mut s = String::from("{\"libraries\": [");
    for (n, lib) in libs.iter().enumerate() {
        if n > 0 {
            s.push_str(", ");
        }
        let m = lib.mem_info;
        let _ = write!(
            s,
            "{{\"name\": {}, \"has_dylink\": {}, \"mem_info\": {{\"memory_size\": {}, \"memory_alignment\": {}, \"table_size\": {}, \"table_alignment\": {}}}, \"needed\": {}, \"runtime_path\": {}, \"fused_parts\": {}, \"target_arch\": {}, ",
            q(lib.name),
            lib.has_dylink,
            m.memory_size,
            m.memory_alignment,
            m.table_size,
            m.table_alignment,
            list(&lib.needed, |x| q(x)),
            list(&lib.runtime_path, |x| q(x)),
            list(&lib.fused_parts, |x| q(x)),
            lib.target_arch.map_or("null".to_string(), q),
        );
        let _ = write!(
            s,
            "\"imports\": {}, ",
            list(&lib.imports, |i| format!(
                "{{\"module\": {}, \"name\": {}, \"class\": {}, \"type\": {}, \"weak\": {}}}",
                q(i.module),
                q(i.name),
                q(class_name(&i.class)),
                q(&i.ty.to_string()),
                i.weak
            ))
        );
        let _ = write!(
            s,
            "\"exports\": {}, ",
            list(&lib.exports, |e| format!(
                "{{\"name\": {}, \"role\": {}, \"type\": {}, \"value\": {}, \"flags\": {}, \"weak\": {}}}",
                q(e.name),
                q(export_role(e)),
                q(&e.ty.to_string()),
                e.const_i32.map_or("null".to_string(), |v| v.to_string()),
                e.flags,
                e.is_weak()
            ))
        );
        let _ = write!(
            s,
            "\"component_type_sections\": {}, \"warnings\": {}}}",
            list(&lib.component_types, |c| q(c.name)),
            list(&lib.warnings, |w| q(&w.message))
        );
    }
    s.push_str("]}\n");
    s
}

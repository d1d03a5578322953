//! `weld link --map FILE`: the facts of the link report as text to read, in the spirit of
//! wasm-ld's `--Map`: one section per topic, aligned columns, addresses in hex.

use std::fmt::Write as _;

use weld_component::Report;
use weld_component::weld_module::text::escape;

use crate::report::{Sources, kind, via, why};

/// Text safe to print (control characters of input-derived names escaped).
fn safe(s: &str) -> String {
    escape(s).into_owned()
}

/// Names separated by ", ", or "-" for none.
fn list(names: &[String]) -> String {
    match names {
        [] => "-".to_string(),
        _ => names.iter().map(|n| safe(n)).collect::<Vec<_>>().join(", "),
    }
}

/// `rows` under `header`, each column as wide as its widest cell, two spaces apart, indented;
/// the last column is not padded.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::from("  ");
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let _ = write!(text, "{cell:<w$}");
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(out, &mut header.iter().copied());
    for row in rows {
        line(out, &mut row.iter().map(String::as_str));
    }
}

/// A section's title, after a blank line.
fn section(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n{title}");
}

fn hex(n: impl Into<u64>) -> String {
    format!("{:#010x}", n.into())
}

/// The map of `report`: one section after another.
pub(crate) fn text(report: &Report, sources: &Sources) -> String {
    let mut out = String::from("weld link map\n");
    let output = sources
        .output
        .as_deref()
        .map_or("(standard output)".to_string(), |p| p.display().to_string());
    let _ = writeln!(out, "output: {}", safe(&output));
    libraries(&mut out, report, sources);
    found_by_search(&mut out, report, sources);
    orders(&mut out, report);
    if let Some(f) = &report.fusion {
        section(&mut out, "Fusion");
        table(
            &mut out,
            &["fused library", "parts", "apart"],
            &[vec![safe(&f.library), list(&f.parts), list(&f.apart)]],
        );
    }
    memory(&mut out, report);
    table_layout(&mut out, report);
    exports(&mut out, report);
    symbols(&mut out, report);
    notes(&mut out, report);
    out
}

/// Every input library: its file, whether it was kept and why, its core module and instance.
fn libraries(out: &mut String, report: &Report, sources: &Sources) {
    section(out, "Libraries (input order)");
    let rows: Vec<Vec<String>> = report
        .libraries
        .iter()
        .map(|l| {
            let why = safe(&why(l.kept.as_ref()));
            let file = sources
                .file(&l.name)
                .map_or("(built in)".to_string(), |f| safe(&f.display().to_string()));
            let opt = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
            vec![
                safe(&l.name),
                file,
                if l.kept.is_some() { "kept" } else { "pruned" }.to_string(),
                why,
                opt(l.core.map(|c| c.0)),
                opt(l.core.map(|c| c.1)),
                list(&l.needed),
            ]
        })
        .collect();
    table(
        out,
        &[
            "name", "file", "status", "reason", "module", "instance", "needed",
        ],
        &rows,
    );
}

/// The libraries found by searching (`-L`, `RUNTIME_PATH`), when there are any.
fn found_by_search(out: &mut String, report: &Report, sources: &Sources) {
    let found: Vec<Vec<String>> = report
        .libraries
        .iter()
        .filter_map(|l| {
            let origin = sources.origins.get(&l.name)?;
            let f = origin.found.as_ref()?;
            let place = match (&f.search_dir, &f.runtime_path) {
                (Some(dir), _) => format!("-L {}", safe(&dir.display().to_string())),
                (None, Some(entry)) => format!("RUNTIME_PATH {}", safe(entry)),
                (None, None) => "-".to_string(),
            };
            Some(vec![
                safe(&l.name),
                safe(&f.needed_by),
                place,
                safe(&origin.file.display().to_string()),
            ])
        })
        .collect();
    if !found.is_empty() {
        section(out, "Found by search");
        table(out, &["name", "needed by", "found in", "file"], &found);
    }
}

/// The instantiation and initialization orders, and the NEEDED cycles.
fn orders(out: &mut String, report: &Report) {
    let numbered = |names: &[String]| -> Vec<Vec<String>> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| vec![(i + 1).to_string(), safe(n)])
            .collect()
    };
    section(out, "Instantiation order");
    table(
        out,
        &["#", "library"],
        &numbered(&report.instantiation_order),
    );
    section(out, "Initialization order (NEEDED dependencies first)");
    table(out, &["#", "library"], &numbered(&report.init_order));
    if !report.cycles.is_empty() {
        section(out, "Cycles");
        for c in &report.cycles {
            let _ = writeln!(
                out,
                "  {}",
                c.iter().map(|n| safe(n)).collect::<Vec<_>>().join(" <-> ")
            );
        }
    }
}

/// The component's core exports and the library each comes from.
fn exports(out: &mut String, report: &Report) {
    section(out, "Exports");
    let rows: Vec<Vec<String>> = report
        .exports
        .iter()
        .map(|e| vec![safe(&e.name), safe(&e.library)])
        .collect();
    table(out, &["core name", "library"], &rows);
}

/// Every symbol: its kind, how it is bound, its provider and importers, its shim.
fn symbols(out: &mut String, report: &Report) {
    section(out, "Symbols");
    let rows: Vec<Vec<String>> = report
        .symbols
        .iter()
        .map(|s| {
            vec![
                safe(&s.name),
                kind(s.kind).to_string(),
                via(s.via).to_string(),
                s.provider.as_deref().map_or("(none)".to_string(), safe),
                list(&s.importers),
                if s.shim {
                    format!("shim for {}", list(&s.shim_importers))
                } else {
                    "-".to_string()
                },
            ]
        })
        .collect();
    table(
        out,
        &["symbol", "kind", "via", "provider", "importers", "shim"],
        &rows,
    );
}

/// The sections present only when there is something to say: shims, duplicate definitions,
/// stubs and warnings.
fn notes(out: &mut String, report: &Report) {
    if !report.import_shims.is_empty() {
        section(out, "Shims (calls to a library instantiated later)");
        let rows: Vec<Vec<String>> = report
            .import_shims
            .iter()
            .map(|s| vec![safe(&s.symbol), safe(&s.exporter), s.slot.to_string()])
            .collect();
        table(out, &["symbol", "provider", "table slot"], &rows);
    }
    if !report.duplicates.is_empty() {
        section(out, "Duplicate definitions");
        let rows: Vec<Vec<String>> = report
            .duplicates
            .iter()
            .map(|d| vec![safe(&d.symbol), safe(&d.winner), list(&d.losers)])
            .collect();
        table(out, &["symbol", "used", "also defined by"], &rows);
    }
    if !report.stubs.is_empty() {
        section(out, "Stubs (trap when called)");
        let rows: Vec<Vec<String>> = report
            .stubs
            .iter()
            .map(|s| vec![safe(&s.name), s.signature.to_string()])
            .collect();
        table(out, &["function", "signature"], &rows);
    }
    if !report.warnings.is_empty() {
        section(out, "Warnings");
        for w in &report.warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
}

/// The memory section: the stack, each kept library's data region, the heap, by address.
fn memory(out: &mut String, report: &Report) {
    let layout = &report.layout;
    section(
        out,
        &format!("Memory ({} pages of 64 KiB)", layout.memory_pages),
    );
    let mut rows: Vec<(u64, u64, String)> = vec![(0, u64::from(layout.stack_size), "stack".into())];
    for l in &report.libraries {
        if let Some((base, _)) = l.bases {
            rows.push((u64::from(base), l.memory_size, safe(&l.name)));
        }
    }
    rows.push((
        u64::from(layout.heap_base),
        u64::from(layout.heap_end.saturating_sub(layout.heap_base)),
        "heap (__heap_base to __heap_end)".into(),
    ));
    rows.sort_by_key(|r| r.0);
    let cells: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(start, size, what)| vec![hex(start), hex(start + size), hex(size), what])
        .collect();
    table(out, &["start", "end", "size", "what"], &cells);
}

/// The table section: the null slot, each kept library's table region, the function slots.
fn table_layout(out: &mut String, report: &Report) {
    let layout = &report.layout;
    section(out, &format!("Table ({} slots)", layout.table_size));
    let mut rows: Vec<(u64, u64, String)> = vec![(0, 1, "null".into())];
    for l in &report.libraries {
        if let Some((_, base)) = l.bases {
            rows.push((u64::from(base), u64::from(l.table_size), safe(&l.name)));
        }
    }
    rows.push((
        u64::from(layout.first_function_slot),
        u64::from(layout.table_size.saturating_sub(layout.first_function_slot)),
        "function slots (addresses taken, shims, dlopen)".into(),
    ));
    rows.sort_by_key(|r| r.0);
    let cells: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(start, size, what)| {
            vec![
                start.to_string(),
                (start + size).to_string(),
                size.to_string(),
                what,
            ]
        })
        .collect();
    table(out, &["first", "end", "slots", "what"], &cells);
}

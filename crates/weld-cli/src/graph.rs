//! `weld link --graph FILE.dot`: the library dependency graph in Graphviz DOT, from the report's
//! typed rows: each library's NEEDED entries and each bound symbol's provider, importers, how
//! they reach it (`env`, `GOT.mem`, `GOT.func`) and which importers call it through a shim.
//!
//! Kept libraries are boxes, pruned ones dashed and grey; NEEDED edges are grey and hollow-headed,
//! calls (`env`) solid black, `GOT.mem` dotted blue, `GOT.func` dashed green; an edge whose
//! calls go through a shim is red and bold; each dependency cycle is a red dashed cluster. An
//! edge's label counts the symbols behind it and names the first few.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use weld_component::weld_module::text::escape;
use weld_component::{Report, Via};

use crate::report::why;

/// A DOT string literal of `lines` (one line each).
fn quote_lines(lines: &[&str]) -> String {
    let mut out = String::from("\"");
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push_str("\\n");
        }
        for c in escape(line).chars() {
            if matches!(c, '"' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// A DOT string literal.
fn quote(s: &str) -> String {
    quote_lines(&[s])
}

/// Symbols named in an edge's label before "…".
const NAMED: usize = 3;

/// An edge's symbols and whether one is called through a shim.
#[derive(Default)]
struct Edge<'r> {
    symbols: Vec<&'r str>,
    shim: bool,
}

/// The graph of `report`.
pub(crate) fn dot(report: &Report) -> String {
    let mut out = String::from(
        "digraph weld {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n  edge [fontname=\"monospace\", fontsize=10];\n",
    );
    let names: HashSet<&str> = report.libraries.iter().map(|l| l.name.as_str()).collect();
    for l in &report.libraries {
        let label = quote_lines(&[&l.name, &why(l.kept.as_ref())]);
        let style = match l.kept {
            Some(_) => "",
            None => ", style=dashed, color=grey, fontcolor=grey",
        };
        let _ = writeln!(out, "  {} [label={label}{style}];", quote(&l.name));
    }
    for (i, cycle) in report.cycles.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_cycle_{i} {{\n    label=\"cycle\"; style=dashed; color=red; fontcolor=red;"
        );
        for n in cycle {
            let _ = writeln!(out, "    {};", quote(n));
        }
        out.push_str("  }\n");
    }
    for l in &report.libraries {
        for n in &l.needed {
            // A NEEDED entry naming no library is an error of the link, but a pruned library's
            // may name nothing; draw only edges between libraries.
            if !names.contains(n.as_str()) {
                continue;
            }
            let grey = if l.kept.is_some() { "grey40" } else { "grey" };
            let _ = writeln!(
                out,
                "  {} -> {} [label=\"NEEDED\", color={grey}, fontcolor={grey}, arrowhead=empty];",
                quote(&l.name),
                quote(n)
            );
        }
    }
    // (importer, provider, via) -> symbols, in a stable order.
    let mut edges: BTreeMap<(&str, &str, Via), Edge<'_>> = BTreeMap::new();
    for s in &report.symbols {
        let Some(provider) = s.provider.as_deref() else {
            continue;
        };
        for importer in &s.importers {
            let edge = edges.entry((importer, provider, s.via)).or_default();
            edge.symbols.push(&s.name);
            edge.shim |= s.shim_importers.contains(importer);
        }
    }
    for ((importer, provider, via), edge) in &edges {
        let (kind, style) = match via {
            Via::GotMem => ("GOT.mem", "style=dotted, color=blue, fontcolor=blue"),
            Via::GotFunc => (
                "GOT.func",
                "style=dashed, color=darkgreen, fontcolor=darkgreen",
            ),
            _ if edge.shim => ("env", "color=red, fontcolor=red, penwidth=2"),
            _ => ("env", "color=black"),
        };
        let mut label = format!("{kind}: ");
        label.push_str(
            &edge
                .symbols
                .iter()
                .take(NAMED)
                .copied()
                .collect::<Vec<_>>()
                .join(", "),
        );
        if edge.symbols.len() > NAMED {
            let _ = write!(label, ", … ({} in all)", edge.symbols.len());
        }
        if edge.shim {
            label.push_str(" (shim)");
        }
        let _ = writeln!(
            out,
            "  {} -> {} [label={}, {style}];",
            quote(importer),
            quote(provider),
            quote(&label)
        );
    }
    out.push_str("}\n");
    out
}

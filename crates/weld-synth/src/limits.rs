//! The limits of the one memory and the one table: large enough for the layout and for every
//! kept library's import minimum, no larger than any import's maximum.

use weld_graph::{LibrarySet, Link};
use weld_module::{EntityType, ImportClass};

use crate::SynthProblem;
use crate::layout::Layout;

/// Minimum and maximum sizes of the shared memory (pages) and table (slots).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) memory_min: u64,
    pub(crate) memory_max: Option<u64>,
    pub(crate) table_min: u64,
    pub(crate) table_max: Option<u64>,
}

/// The limits every kept library's `env.memory` and table imports accept; an import maximum
/// below what the link needs is a problem.
pub(crate) fn limits(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    layout: &Layout,
    problems: &mut Vec<SynthProblem>,
) -> Limits {
    let mut mem_min = u64::from(layout.memory_pages);
    // Who asks for the minimum: `None` for the stack and data, else the library's import.
    let mut mem_min_by: Option<&str> = None;
    let mut mem_max: Option<(u64, &str)> = None;
    let mut table_min = u64::from(layout.table_size);
    let mut table_max: Option<(u64, &str)> = None;
    for &l in &link.instantiation_order {
        let lib = &set[l];
        for import in &lib.imports {
            match (&import.class, &import.ty) {
                (ImportClass::Memory, EntityType::Memory(m)) => {
                    if m.initial > mem_min {
                        mem_min = m.initial;
                        mem_min_by = Some(lib.name);
                    }
                    if let Some(max) = m.maximum
                        && mem_max.is_none_or(|(x, _)| max < x)
                    {
                        mem_max = Some((max, lib.name));
                    }
                }
                (ImportClass::Table, EntityType::Table(t)) => {
                    table_min = table_min.max(t.initial);
                    if let Some(max) = t.maximum
                        && table_max.is_none_or(|(x, _)| max < x)
                    {
                        table_max = Some((max, lib.name));
                    }
                }
                _ => {}
            }
        }
    }
    if let Some((max, lib)) = mem_max
        && max < mem_min
    {
        problems.push(SynthProblem::MemoryMaximum {
            library: lib.to_string(),
            maximum: max,
            minimum: mem_min,
            needed_by: mem_min_by.map(str::to_string),
        });
    }
    if let Some((max, lib)) = table_max
        && max < table_min
    {
        problems.push(SynthProblem::TableMaximum {
            library: lib.to_string(),
            maximum: max,
            needed: table_min,
        });
    }
    Limits {
        memory_min: mem_min,
        memory_max: mem_max.map(|(m, _)| m),
        table_min,
        table_max: table_max.map(|(m, _)| m),
    }
}

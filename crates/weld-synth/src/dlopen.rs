//! The dlopen table (see docs/abi.md, "dlopen table"): every dl-openable library with its
//! function and data symbols, in the layout wasi-libc's libdl and weld's built-in one read.
//! All fields are little-endian `u32`s; names are padded to 4 bytes.

use weld_graph::{ExportRef, LibId, LibrarySet, Link};
use weld_module::abi::{self, LinkerData};
use weld_module::{EntityType, Export};

use crate::layout::{Layout, align_up};

/// Whether the link needs a dlopen table: some kept library is dl-openable or reads the table.
pub(crate) fn needs_table(set: &LibrarySet<'_>, link: &Link<'_>) -> bool {
    link.instantiation_order.iter().any(|&l| {
        set.is_dl_openable(l)
            || set[l]
                .imports
                .iter()
                .any(|i| i.module == abi::GOT_MEM && i.name == LinkerData::LibdlLibraries.name())
    })
}

/// The symbols of library `l` that go into the dlopen table: functions, and data symbols with a
/// constant offset.
pub(crate) fn symbols<'s, 'a>(
    set: &'s LibrarySet<'a>,
    l: LibId,
) -> impl Iterator<Item = (ExportRef, &'s Export<'a>)> {
    set.exports(l).filter(|(_, e)| {
        e.is_symbol()
            && match &e.ty {
                EntityType::Func(_) => true,
                EntityType::Global(_) => e.is_data() && e.const_i32.is_some(),
                _ => false,
            }
    })
}

/// The dl-openable kept libraries, in instantiation order.
fn libraries<'l>(set: &'l LibrarySet<'_>, link: &'l Link<'_>) -> impl Iterator<Item = LibId> + 'l {
    link.instantiation_order
        .iter()
        .copied()
        .filter(|&l| set.is_dl_openable(l))
}

fn padded(len: usize) -> u64 {
    align_up(len as u64, 4)
}

/// Bytes of the dlopen table: names, symbol records, library records, root.
pub(crate) fn table_size(set: &LibrarySet<'_>, link: &Link<'_>) -> u32 {
    let mut size = 8u64;
    for l in libraries(set, link) {
        size += padded(set.name(l).len()) + 16;
        for (_, e) in symbols(set, l) {
            size += padded(e.name.len()) + 12;
        }
    }
    u32::try_from(size).unwrap_or(u32::MAX)
}

/// The dlopen table's bytes, for the region `layout.dlopen_table`.
pub(crate) fn table_bytes(set: &LibrarySet<'_>, link: &Link<'_>, layout: &Layout) -> Vec<u8> {
    let Some((start, size)) = layout.dlopen_table else {
        return Vec::new();
    };
    let mut table = Table {
        start,
        buf: Vec::with_capacity(size as usize),
    };
    // (name, name address, symbol count, symbols address) per library.
    let mut records: Vec<(&str, u32, u32, u32)> = Vec::new();
    for l in libraries(set, link) {
        let name = set.name(l);
        let name_addr = table.name(name);
        let mut entries: Vec<(&str, u32, u32)> = Vec::new();
        for (r, export) in symbols(set, l) {
            let symbol_name_addr = table.name(export.name);
            let address = match export.ty {
                EntityType::Func(_) => {
                    debug_assert!(
                        layout.slot(r).is_some(),
                        "{r:?} is dl-openable without a slot"
                    );
                    layout.slot(r).unwrap_or(0)
                }
                _ => {
                    debug_assert!(export.const_i32.is_some(), "{r:?} has no constant offset");
                    layout.memory_base[l].wrapping_add(export.const_i32.unwrap_or(0) as u32)
                }
            };
            entries.push((export.name, symbol_name_addr, address));
        }
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let symbols_addr = table.address();
        for (name, name_addr, address) in &entries {
            table.words(&[len32(name.len()), *name_addr, *address]);
        }
        records.push((name, name_addr, len32(entries.len()), symbols_addr));
    }
    records.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let libraries_addr = table.address();
    for (name, name_addr, count, symbols_addr) in &records {
        table.words(&[len32(name.len()), *name_addr, *count, *symbols_addr]);
    }
    table.words(&[len32(records.len()), libraries_addr]);
    table.buf
}

/// A length or count; the table's size was checked when it was laid out, so it fits.
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// The table being written at address `start`.
struct Table {
    start: u32,
    buf: Vec<u8>,
}

impl Table {
    /// The address of the next byte.
    fn address(&self) -> u32 {
        self.start
            .wrapping_add(u32::try_from(self.buf.len()).unwrap_or(0))
    }

    /// Writes `name`, padded to 4 bytes; returns its address.
    fn name(&mut self, name: &str) -> u32 {
        let at = self.address();
        self.buf.extend_from_slice(name.as_bytes());
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
        at
    }

    fn words(&mut self, words: &[u32]) {
        for w in words {
            self.buf.extend_from_slice(&w.to_le_bytes());
        }
    }
}

//! The dlopen table (see docs/abi.md, "dlopen table"): every dl-openable library with its
//! function and data symbols, in the layout wasi-libc's libdl and weld's built-in one read; and,
//! after its root, when the built-in libdl is linked, weld's extension only that libdl reads
//! (the program scope and each library's state, see [`Scope`]). All fields are little-endian
//! `u32`s; names are padded to 4 bytes.

use weld_graph::{ExportRef, LibrarySet, Link};
use weld_module::EntityType;
use weld_module::abi::{self, LinkerData};

use crate::layout::{Layout, align_up};
use crate::openable::Openable;
use crate::scope::Scope;

/// Whether the link needs a dlopen table: some library can be opened, or some kept library
/// reads the table.
pub(crate) fn needs_table(
    set: &LibrarySet<'_>,
    link: &Link<'_>,
    openables: &[Openable<'_>],
) -> bool {
    !openables.is_empty()
        || link.instantiation_order.iter().any(|&l| {
            set[l]
                .imports
                .iter()
                .any(|i| i.module == abi::GOT_MEM && i.name == LinkerData::LibdlLibraries.name())
        })
}

fn padded(len: usize) -> u64 {
    align_up(len as u64, 4)
}

/// The dlopen table's region: its size in bytes and the root's offset in it. The root ends
/// wasi-libc's part; weld's extension for the built-in libdl, when there is one, follows it.
pub(crate) fn region(openables: &[Openable<'_>], scope: Option<&Scope<'_>>) -> (u64, u64) {
    let mut size = 0u64;
    for o in openables {
        size += padded(o.name.len()) + 16;
        for (name, _) in &o.symbols {
            size += padded(name.len()) + 12;
        }
    }
    let root = size;
    size += 8;
    if let Some(scope) = scope {
        let records = openables.len() as u64;
        let deferred = openables.iter().filter(|o| o.deferred).count() as u64;
        size += PROGRAM_RECORD + STATE_RECORD * records + 4 * deferred;
        for (name, _) in scope.program() {
            size += padded(name.len()) + 12;
        }
    }
    (size, root)
}

/// Bytes of weld's `Program` record: `{ count, symbols, states, globals_count, globals }`.
const PROGRAM_RECORD: u64 = 20;
/// Bytes of a `LibraryState` record: `{ constructor, flags }`.
const STATE_RECORD: u64 = 8;
/// `LibraryState` flag: the library is loaded (its constructors ran, or are running).
pub(crate) const LOADED: u32 = 1;
/// `LibraryState` flag: the library's symbols are in the global scope.
pub(crate) const GLOBAL: u32 = 2;

/// The dlopen table's bytes, for the region `layout.dlopen_table`.
pub(crate) fn table_bytes(
    set: &LibrarySet<'_>,
    layout: &Layout,
    openables: &[Openable<'_>],
    scope: Option<&Scope<'_>>,
) -> Vec<u8> {
    let Some((start, size)) = layout.dlopen_table else {
        return Vec::new();
    };
    let mut table = Table {
        start,
        buf: Vec::with_capacity(size as usize),
    };
    // (name, name address, symbol count, symbols address, openable) per library.
    let mut records: Vec<(&str, u32, u32, u32, &Openable<'_>)> = Vec::new();
    for o in openables {
        let name_addr = table.name(o.name);
        let (count, symbols_addr) = table.symbols(set, layout, o.symbols.iter().copied());
        records.push((o.name, name_addr, count, symbols_addr, o));
    }
    records.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let libraries_addr = table.address();
    for (name, name_addr, count, symbols_addr, _) in &records {
        table.words(&[len32(name.len()), *name_addr, *count, *symbols_addr]);
    }
    table.words(&[len32(records.len()), libraries_addr]);
    if let Some(scope) = scope {
        let order: Vec<&Openable<'_>> = records.iter().map(|r| r.4).collect();
        extension(&mut table, set, layout, scope, &order);
    }
    debug_assert_eq!(table.buf.len() as u64, u64::from(size), "dlopen table size");
    table.buf
}

/// weld's extension for the built-in libdl, right after the root (see docs/abi.md, "Built-in
/// libdl"): the `Program` record, the program scope's names and symbols, one `LibraryState`
/// per library record (in `records` order) and room for the RTLD_GLOBAL list.
fn extension(
    table: &mut Table,
    set: &LibrarySet<'_>,
    layout: &Layout,
    scope: &Scope<'_>,
    records: &[&Openable<'_>],
) {
    let program_at = table.buf.len();
    table.words(&[0; PROGRAM_RECORD as usize / 4]);
    let (count, symbols_addr) = table.symbols(set, layout, scope.program().iter().copied());
    let states_addr = table.address();
    for o in records {
        let (constructor, flags) = if o.deferred {
            let slot = o.constructor.and_then(|r| layout.slot(r));
            debug_assert!(
                o.constructor.is_none() || slot.is_some(),
                "the constructor of deferred library {} has no slot",
                o.name
            );
            (slot.unwrap_or(0), 0)
        } else {
            (0, LOADED | GLOBAL)
        };
        table.words(&[constructor, flags]);
    }
    let globals_addr = table.address();
    let deferred = records.iter().filter(|o| o.deferred).count();
    table.words(&vec![0; deferred]);
    table.patch(
        program_at,
        &[count, symbols_addr, states_addr, 0, globals_addr],
    );
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

    /// Overwrites the words at byte offset `at` (written earlier as placeholders).
    fn patch(&mut self, at: usize, words: &[u32]) {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        if let Some(dst) = self.buf.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(&bytes);
        }
    }

    /// Writes the names of `entries`, then their `Symbol` records sorted by name bytes; returns
    /// the count and the records' address. A function's address is its table slot, a data
    /// symbol's its absolute address.
    fn symbols<'n>(
        &mut self,
        set: &LibrarySet<'_>,
        layout: &Layout,
        entries: impl Iterator<Item = (&'n str, ExportRef)>,
    ) -> (u32, u32) {
        let mut written: Vec<(&str, u32, u32)> = Vec::new();
        for (name, r) in entries {
            let name_addr = self.name(name);
            written.push((name, name_addr, address(set, layout, r)));
        }
        written.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let symbols_addr = self.address();
        for (name, name_addr, address) in &written {
            self.words(&[len32(name.len()), *name_addr, *address]);
        }
        (len32(written.len()), symbols_addr)
    }
}

/// What `dlsym` returns for export `r`: a function's table slot, or a data symbol's absolute
/// address (its library's `__memory_base` plus its constant offset).
fn address(set: &LibrarySet<'_>, layout: &Layout, r: ExportRef) -> u32 {
    let export = set.export(r);
    match export.ty {
        EntityType::Func(_) => {
            debug_assert!(
                layout.slot(r).is_some(),
                "{r:?} is in a dlopen table without a slot"
            );
            layout.slot(r).unwrap_or(0)
        }
        _ => {
            debug_assert!(export.const_i32.is_some(), "{r:?} has no constant offset");
            layout.memory_base[r.library()].wrapping_add(export.const_i32.unwrap_or(0) as u32)
        }
    }
}

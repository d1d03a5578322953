//! Fusion: several WebAssembly dynamic libraries relinked statically into **one** dynamic
//! library, with the semantics of linking them dynamically.
//!
//! The fused library is an ordinary dynamic library — position independent, with its own
//! `dylink.0`, importing `env.memory`, the table, `__stack_pointer`, `__memory_base` and
//! `__table_base` — so it links like any other, with weld or with `wasm-tools component link`.
//! Inside it:
//!
//! * a call from one part to a function another part defines is a direct `call` (an import
//!   bound inside the fusion, through re-exports too);
//! * each part's `__memory_base` and `__table_base` are the fused library's plus the part's
//!   offset (extended constant expressions), so its data and element segments keep their
//!   relative layout; MEM_INFO covers every part at its alignment;
//! * a `GOT.mem` entry for a data symbol defined inside is a constant: the fused base plus the
//!   symbol's offset. A `GOT.func` entry stays an import, which the linker binds to the fused
//!   library's export: a function keeps one table slot whoever takes its address, and `dlsym`
//!   agrees;
//! * the parts' `__wasm_apply_data_relocs`, then their constructors, run in initialization order
//!   (NEEDED dependencies first) from the fused library's own; their start functions from its
//!   start function;
//! * a symbol defined by several parts is chosen as linking chooses it (strong over weak, then
//!   part order); unless the fusion is *closed* (nothing outside may define the parts'
//!   symbols), a weak definition stays an import too, which a strong one elsewhere may
//!   override;
//! * a call from one part into a small leaf function of another (a body of at most 64 bytes,
//!   numeric locals, calling nothing, no exception handling) is replaced by the
//!   function's body: the arguments go into locals added to the caller and the body runs in a
//!   `block` of its result type ([`FuseOptions::inline`] turns this off);
//! * function names are `part!name`, so a trap still says which part and function it was in
//!   (an inlined body's trap, the caller's);
//! * at most one part may have wasip3 thread-local storage (a TLS slot is a library's): the
//!   parts share its `__wasm_get_tls_base` / `__wasm_set_tls_base`.
//!
//! Function bodies are re-encoded (index remapping) with wasm-encoder's `reencode`, on all
//! cores. Linking without fusion never re-encodes library code.
//!
//! # What is where
//!
//! | module | stage or content |
//! | --- | --- |
//! | `part` | 1. each part read whole |
//! | `plan` | 2. what each import becomes; the parts' regions; the exports; NEEDED |
//! | `spaces` | 3. where every item lands in the fused index spaces |
//! | `emit` | 4. the fused module's sections |
//! | `reencode` | re-encoding with the index maps; the bodies in parallel batches |
//! | `scan` | a body re-encoded by scanning its bytes, decoding only what moves |
//! | `inline` | which small leaf functions calls between parts are replaced by, and the replacing |
//! | `dylink` | the `dylink.0` and name sections |
//!
//! ```
//! use weld_graph::LibrarySet;
//! use weld_module::Library;
//!
//! let a = wat::parse_str(r#"(module (@dylink.0 (needed "libb.so"))
//!     (import "env" "b" (func $b (result i32)))
//!     (func (export "a") (result i32) (call $b)))"#).unwrap();
//! let b = wat::parse_str(r#"(module (@dylink.0)
//!     (func (export "b") (result i32) (i32.const 7)))"#).unwrap();
//! let set = LibrarySet::new([
//!     (Library::parse("liba.so", &a).unwrap(), false),
//!     (Library::parse("libb.so", &b).unwrap(), false),
//! ]);
//! let parts: Vec<_> = set.ids().collect();
//! let fused = weld_fuse::fuse(&set, &parts, &weld_fuse::FuseOptions::new("libab.so")).unwrap();
//! wasmparser::validate(&fused.bytes).unwrap();
//! let lib = Library::parse("libab.so", &fused.bytes).unwrap();
//! assert!(lib.needed.is_empty()); // libb.so is inside
//! assert!(lib.imports.iter().all(|i| i.name != "b")); // a calls b directly
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![warn(missing_docs)]

mod dylink;
mod emit;
mod inline;
mod part;
mod plan;
mod reencode;
mod scan;
mod spaces;

use std::fmt;

use weld_graph::{LibId, LibrarySet};

use crate::part::PerPart;
use weld_module::text::escape;

/// How to fuse.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FuseOptions {
    /// The fused library's name (its name section's module name).
    pub name: String,
    /// Nothing outside the parts and [`FuseOptions::outside`] may define a symbol they use:
    /// weak definitions are bound inside too.
    pub closed: bool,
    /// Libraries of the set that stay outside the fusion but take part in choosing among
    /// definitions: an import whose chosen definition is theirs stays an import of the fused
    /// library (for example weld's built-in libdl when linking with fusion).
    pub outside: Vec<LibId>,
    /// The parts in initialization order (NEEDED dependencies first); `None`: computed from
    /// the parts' NEEDED entries.
    pub init_order: Option<Vec<LibId>>,
    /// Parts that `dlopen` must still open by their own names: every symbol a dlopen table
    /// lists for them (functions, and data symbols with a constant offset) stays reachable —
    /// under its own name when the part's definition is the one chosen, else under a private
    /// name `PART!SYMBOL` — and [`Fused::dlopen`] says which export holds which.
    pub dl_openable: Vec<LibId>,
    /// Parts whose constructors run at their first `dlopen` rather than at start: the fused
    /// constructor function leaves them out, and each is exported as `PART!__wasm_call_ctors`
    /// (see [`DlopenPart::constructor`]). Their relocations still run with everyone else's.
    pub deferred: Vec<LibId>,
    /// Replace calls from one part into a small leaf function of another by the function's
    /// body (see the crate documentation). On by default; off, every such call stays a direct
    /// `call`, so a trap's backtrace shows the callee's frame.
    pub inline: bool,
    /// Leave the parts' data to the linker: each active data segment at a part's
    /// `__memory_base` (plus a constant) is kept empty in the fused module — so segment
    /// indices and instantiation-time bounds checks do not change — and its bytes are in
    /// [`Fused::data`], at their offset from the fused `__memory_base`. For a linker that fixes
    /// that base: weld's `--fuse` writes them in its main module, whose memory an engine may
    /// then map from a copy-on-write image instead of copying every segment at instantiation.
    /// Off by default: the fused library then carries its data, as any dynamic library.
    pub data_to_linker: bool,
}

impl FuseOptions {
    /// An open fusion into a library named `name`, initialized in NEEDED order.
    pub fn new(name: impl Into<String>) -> Self {
        FuseOptions {
            name: name.into(),
            closed: false,
            outside: Vec::new(),
            init_order: None,
            dl_openable: Vec::new(),
            deferred: Vec::new(),
            inline: true,
            data_to_linker: false,
        }
    }
}

/// A fused library.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Fused {
    /// The module's bytes.
    pub bytes: Vec<u8>,
    /// Per part (in the order given): where its regions went.
    pub parts: Vec<PartPlacement>,
    /// Symbols defined strongly by several parts: (name, the part whose definition is used, the
    /// others).
    pub duplicates: Vec<(String, String, Vec<String>)>,
    /// The fused library's exports of the parts' items: (export name, the part defining it, as
    /// an index into [`Fused::parts`]).
    pub exports: Vec<(String, usize)>,
    /// Per part in [`FuseOptions::dl_openable`] (in that order): what `dlopen` needs of it.
    pub dlopen: Vec<DlopenPart>,
    /// With [`FuseOptions::data_to_linker`]: the data left to the linker, in segment order
    /// (later segments win where they overlap, as at instantiation).
    pub data: Vec<LeftData>,
}

/// Bytes a fused library leaves to the linker to place in memory (see
/// [`FuseOptions::data_to_linker`]): a range of a part's input, not a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeftData {
    /// Where they go, in bytes from the fused library's `__memory_base`.
    pub offset: u32,
    /// The part whose input holds them.
    pub library: LibId,
    /// Their range in that part's input bytes ([`weld_module::Library::bytes`]).
    pub range: std::ops::Range<usize>,
}

/// What `dlopen` and `dlsym` need of a part fused into another library.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DlopenPart {
    /// The part's name.
    pub name: String,
    /// Its symbols, in export order: (symbol name, the fused library's export holding this
    /// part's definition).
    pub symbols: Vec<(String, String)>,
    /// When its constructors are deferred ([`FuseOptions::deferred`]): the fused library's
    /// export that runs them.
    pub constructor: Option<String>,
}

/// Where one part went inside the fused library.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartPlacement {
    /// The part's name.
    pub name: String,
    /// The offset of its data region from the fused library's `__memory_base`.
    pub data_offset: u32,
    /// The offset of its table region from the fused library's `__table_base`.
    pub table_offset: u32,
}

/// Why a fusion failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FuseError {
    /// A part could not be read.
    Malformed {
        /// The part.
        part: String,
        /// Where.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// Parts import the same name with different types.
    Imports(Vec<String>),
    /// A chain of re-exports that never reaches a definition.
    Cycle {
        /// The symbol.
        symbol: String,
    },
    /// A part's item could not be re-encoded.
    Reencode {
        /// The part.
        part: String,
        /// Why.
        message: String,
    },
    /// Several parts have thread-local storage of their own; each needs its own TLS slot,
    /// which only a library of its own gets (link such parts apart).
    SeveralTls {
        /// The parts exporting `__wasm_library_tls_info`.
        parts: Vec<String>,
    },
    /// Something weld-fuse assumed did not hold (a weld bug).
    Internal(String),
}

impl fmt::Display for FuseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FuseError::Malformed {
                part,
                offset,
                message,
            } => write!(
                f,
                "cannot fuse `{}`: at byte offset {offset:#x}: {message}",
                escape(part)
            ),
            FuseError::Imports(problems) => {
                f.write_str("the parts cannot share their imports: ")?;
                f.write_str(&escape(&problems.join("; ")))
            }
            FuseError::Cycle { symbol } => write!(
                f,
                "`{}` is re-exported by the parts in a cycle that no part defines",
                escape(symbol)
            ),
            FuseError::SeveralTls { parts } => write!(
                f,
                "cannot fuse {}: each has thread-local storage of its own (it exports `__wasm_library_tls_info`) and needs a TLS slot of its own; fuse at most one of them",
                parts
                    .iter()
                    .map(|p| format!("`{}`", escape(p)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            FuseError::Reencode { part, message } => {
                write!(f, "cannot fuse `{}`: {message}", escape(part))
            }
            FuseError::Internal(m) => write!(f, "fusion failed (a weld bug): {m}"),
        }
    }
}

impl std::error::Error for FuseError {}

/// Fuses `parts` (libraries of `set`, in the order their regions are laid out) into one
/// dynamic library.
pub fn fuse(
    set: &LibrarySet<'_>,
    parts: &[LibId],
    options: &FuseOptions,
) -> Result<Fused, FuseError> {
    let tls: Vec<String> = parts
        .iter()
        .filter(|&&id| set[id].owns_tls())
        .map(|&id| set.name(id).to_string())
        .collect();
    if tls.len() > 1 {
        return Err(FuseError::SeveralTls { parts: tls });
    }
    let parts = PerPart::new(parts.to_vec());
    let modules = PerPart::new(
        parts
            .values()
            .map(|&id| part::read(set.name(id), set[id].bytes))
            .collect::<Result<Vec<_>, _>>()?,
    );
    let plan = plan::plan(set, &parts, &modules, options)?;
    let spaces = spaces::spaces(set, &parts, &modules, &plan)?;
    let init_order = match &options.init_order {
        Some(order) => order.clone(),
        None => weld_graph::init_order(set, parts.values().as_slice()),
    };
    let (bytes, data) = emit::module(&emit::Inputs {
        set,
        parts: &parts,
        modules: &modules,
        plan: &plan,
        spaces: &spaces,
        init_order: &init_order,
        name: &options.name,
        inlining: &inline::planned(&modules, &spaces.maps, options.inline),
        data_to_linker: options.data_to_linker,
    })?;
    let exports = plan
        .exports
        .iter()
        .map(|(name, r)| (name.to_string(), plan.position(r.library()).index()))
        .collect();
    let dlopen = plan
        .dlopen
        .iter()
        .map(|d| DlopenPart {
            name: set.name(d.part).to_string(),
            symbols: d
                .symbols
                .iter()
                .map(|(s, e)| (s.to_string(), e.to_string()))
                .collect(),
            constructor: d.constructor.clone(),
        })
        .collect();
    Ok(Fused {
        bytes,
        exports,
        dlopen,
        data,
        parts: parts
            .iter()
            .map(|(p, &id)| PartPlacement {
                name: set.name(id).to_string(),
                data_offset: plan.layout[p].data_offset,
                table_offset: plan.layout[p].table_offset,
            })
            .collect(),
        duplicates: plan
            .duplicates
            .iter()
            .map(|(name, winner, losers)| {
                (
                    name.to_string(),
                    set.name(*winner).to_string(),
                    losers.iter().map(|&l| set.name(l).to_string()).collect(),
                )
            })
            .collect(),
    })
}

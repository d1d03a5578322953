//! Parsing of WebAssembly dynamic libraries for the weld linker.
//!
//! A *dynamic library* here is a core WebAssembly module following the tool-conventions
//! `DynamicLinking.md` ABI: a `dylink.0` custom section describing how much memory and table space
//! the library needs and which other libraries it depends on, plus imports from `env`, `GOT.mem`
//! and `GOT.func` through which it reaches the shared memory, table, stack pointer and other
//! libraries' symbols.
//!
//! [`Library::parse`] reads exactly what linking needs — the `dylink.0` section, the type, import,
//! function, global and export sections, and the names of `component-type*` custom sections — and
//! skips function bodies and data without decoding them. Everything it returns borrows from the
//! input bytes: no section is copied.
//!
//! # What is where
//!
//! | module | stage or content |
//! | --- | --- |
//! | [`abi`] | the ABI's vocabulary: every fixed, linker-provided or reserved name, the symbol flags |
//! | `header` | is the input a core module at all (magic bytes, version), and if not, what it is; [`is_webassembly_text`] |
//! | `parse` | [`Library::parse`]: one pass over the sections, one stage per section |
//! | `dylink` | the `dylink.0` subsections |
//! | `classify` | imports' and exports' types, ABI roles and flags, once everything is read |
//! | `library` | the result: [`Library`], [`Import`], [`Export`] and their roles |
//! | `types` | [`FuncSig`], [`EntityType`], [`MemInfo`] |
//! | `error` | [`ParseError`] (typed by [`ParseErrorKind`]) and [`Warning`] |
//! | [`text`] | input-derived names made safe to print |
//!
//! This crate is for anyone who needs to read a WebAssembly dynamic library; it knows nothing of
//! other libraries. Resolution between libraries is `weld-graph`'s job.
//!
//! ```
//! use weld_module::{ImportClass, Library};
//!
//! let wasm = wat::parse_str(r#"
//!     (module
//!       (@dylink.0 (mem-info (memory 16 2)) (needed "libc.so"))
//!       (import "env" "memory" (memory 1))
//!       (import "env" "__memory_base" (global i32))
//!       (import "env" "puts" (func $puts (param i32) (result i32)))
//!       (import "GOT.mem" "errno" (global (mut i32)))
//!       (func (export "hello") (result i32) i32.const 42)
//!     )
//! "#).unwrap();
//! let lib = Library::parse("libhello.so", &wasm).unwrap();
//! assert_eq!(lib.mem_info.memory_size, 16);
//! assert_eq!(lib.mem_info.memory_alignment, 4); // stored as 2^2
//! assert_eq!(lib.needed, ["libc.so"]);
//! assert!(matches!(lib.imports[2].class, ImportClass::Function(_)));
//! assert!(matches!(lib.imports[3].class, ImportClass::GotMem));
//! assert_eq!(lib.exports[0].name, "hello");
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

pub mod abi;
mod classify;
mod dylink;
mod error;
mod header;
mod library;
mod parse;
pub mod text;
mod types;

pub use abi::{SYM_BINDING_LOCAL, SYM_BINDING_WEAK, SYM_TLS, SYM_VISIBILITY_HIDDEN};
pub use error::{AbiImportError, ParseError, ParseErrorKind, Warning, WarningKind};
pub use header::is_webassembly_text;
pub use library::{
    CustomSection, DataSegment, Export, Import, ImportClass, Library, SpecialExport,
};
pub use types::{EntityType, FuncSig, MemInfo, ValType};

#[cfg(test)]
mod tests;

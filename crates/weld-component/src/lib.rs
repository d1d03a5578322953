//! Links WebAssembly dynamic libraries into one component.
//!
//! This is weld's library entry point: add libraries with [`Linker::library`], set options, and
//! call [`Linker::encode`], which returns the component and a typed [`Report`] of what was
//! decided, or a typed [`LinkError`] listing every problem of the stage that failed.
//!
//! # The pipeline
//!
//! 1. every library is parsed by [`weld_module`] (function bodies skipped);
//! 2. each library's `component-type*` sections are decoded: libraries whose world has exports
//!    are the pruning roots;
//! 3. [`weld_graph`] resolves symbols, prunes and orders the libraries;
//! 4. the kept libraries' worlds are merged, and each core name the world may use is mapped to
//!    the kept library function implementing it;
//! 5. [`weld_synth`] builds the main module — which carries the world, imports what the libraries
//!    import from outside the dynamic-linking ABI, and exports a `call_indirect` shim under the
//!    exact core name of every world export — plus the init and stubs modules;
//! 6. `wit_component::ComponentEncoder` turns the (small) main module into a component, and
//!    weld appends the libraries, the stubs and init modules, and the core instances wiring them
//!    together, reading the encoder's output to find the main module's instance and the sizes
//!    of the core index spaces;
//! 7. the result is validated (unless turned off). The costly part, checking the libraries'
//!    function bodies, runs from the start on other threads, on the libraries' own bytes;
//!    the output's structure is checked once it exists;
//! 8. the [`Report`] is built.
//!
//! Library bytes are copied exactly once, into the output.
//!
//! # What is where
//!
//! | module | stage or content |
//! | --- | --- |
//! | `linker`, `options` | [`Linker`] and [`LinkOptions`]: the API |
//! | `pipeline` | the stages above, in order |
//! | `world` | stages 2 and 4: decoding, merging, export implementers |
//! | `encode` | stage 6, first half: the component encoder on the main module |
//! | `append` | stage 6, second half: libraries, glue modules and instances appended |
//! | `validate` | stage 7: validation overlapped with linking; [`validate()`] |
//! | `report` | stage 8: [`Report`] and its rows |
//! | `error` | [`LinkError`] and its parts |
//! | [`search`] | finding NEEDED libraries in search directories and `RUNTIME_PATH` |
//! | [`compat`] | drop-in replacements for `wit_component::Linker` (the 0.254 and 0.263 shapes) |
//!
//! ```
//! use weld_component::{Kept, Linker, RootReason};
//!
//! // A program (it exports `_start`) calling a function of another library.
//! let app = wat::parse_str(r#"(module (@dylink.0 (needed "libbase.so"))
//!     (import "env" "answer" (func $answer (result i32)))
//!     (func (export "_start") (drop (call $answer))))"#)?;
//! let base = wat::parse_str(r#"(module (@dylink.0)
//!     (func (export "answer") (result i32) (i32.const 42)))"#)?;
//! let mut linker = Linker::default();
//! linker.library("libapp.so", app).library("libbase.so", base);
//! let linked = linker.encode()?;
//! weld_component::validate(&linked.component)?;
//! assert_eq!(linked.report.instantiation_order, ["libbase.so", "libapp.so"]);
//! assert_eq!(linked.report.libraries[0].kept, Some(Kept::Root(RootReason::Start)));
//! assert_eq!(linked.report.libraries[1].kept, Some(Kept::ReferencedBy("libapp.so".into())));
//! # Ok::<(), Box<dyn std::error::Error>>(())
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

mod append;
pub mod compat;
mod encode;
mod error;
mod fusion;
mod linker;
mod options;
mod pipeline;
mod report;
pub mod search;
mod validate;
mod world;

pub use error::{
    EncodeError, EncodeErrorKind, InputSummary, InvalidInput, InvalidOutput, LibdlNameTaken,
    LimitError, LinkError, NothingExported, WorldError, WorldErrorKind,
};
pub use linker::Linker;
pub use options::LinkOptions;
pub use report::{
    DuplicateRow, ExportRow, FusionRow, Kept, LayoutRow, LibraryRow, Report, ReportWarning,
    ShimRow, StubRow, SymbolKind, SymbolRow, Via,
};
pub use validate::validate;

pub use weld_graph::{Problem, ResolveError, RootReason};
pub use weld_module::{ParseError, ParseErrorKind};
pub use weld_synth::{DEFAULT_STACK_SIZE, SynthError, SynthProblem};

// The layers below, for their other types (the parts of their errors, for example).
pub use {weld_graph, weld_module, weld_synth};

/// Most core modules one component may contain.
pub const MAX_MODULES: usize = 1000;
/// Most instances (core and component) one component may contain.
pub const MAX_INSTANCES: usize = 4096;

/// A linked component and an account of the decisions taken.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Linked {
    /// The component's bytes.
    pub component: Vec<u8>,
    /// What the linker did.
    pub report: Report,
}

//! What can stop synthesis: [`SynthProblem`], all reported together in a [`SynthError`].

use std::fmt;

use weld_module::FuncSig;
use weld_module::text::escape;

/// Why synthesis failed: every problem found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SynthError {
    /// The problems, in the order found.
    pub problems: Vec<SynthProblem>,
}

/// One problem found while laying out memory and building the glue modules.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SynthProblem {
    /// The stack size is not a multiple of 16.
    StackNotAligned {
        /// The requested size.
        stack_size: u32,
    },
    /// Placing a library's data goes past 4 GiB.
    MemoryOverflow {
        /// The library that does not fit.
        library: String,
        /// Its MEM_INFO memory size.
        size: u32,
        /// Its MEM_INFO memory alignment.
        alignment: u32,
    },
    /// The stack and all data (rounded up to a page) do not fit in a 32-bit memory.
    HeapOverflow {
        /// The stack size.
        stack_size: u32,
        /// Bytes needed up to `__heap_base`.
        needed: u64,
    },
    /// More table slots than a 32-bit table index holds.
    TableOverflow {
        /// The library whose table region goes past the limit, or `None` when the function
        /// slots after all regions do.
        library: Option<String>,
        /// Slots needed.
        slots: u64,
    },
    /// A data symbol's address lies past the end of the initial memory.
    SymbolPastMemory {
        /// The library.
        library: String,
        /// The symbol.
        symbol: String,
        /// Its address (`__memory_base` + offset).
        address: i64,
        /// The end of the initial memory (`__heap_end`).
        memory_end: u32,
    },
    /// A library's `env.memory` import allows fewer pages than the link needs.
    MemoryMaximum {
        /// The library with the small maximum.
        library: String,
        /// Its maximum, in pages.
        maximum: u64,
        /// The pages needed.
        minimum: u64,
        /// The library whose import asks for that minimum, or `None` when it is the stack and
        /// data.
        needed_by: Option<String>,
    },
    /// A library's table import allows fewer slots than the link needs.
    TableMaximum {
        /// The library with the small maximum.
        library: String,
        /// Its maximum.
        maximum: u64,
        /// The slots needed.
        needed: u64,
    },
    /// A `GOT.mem` import that must be constant refers to a symbol without a constant offset.
    GotMemNotConstant {
        /// The importing library.
        library: String,
        /// The symbol.
        symbol: String,
        /// The defining library.
        exporter: String,
    },
    /// A library imports something other than a function from outside the dynamic-linking ABI.
    ComponentImportNotFunction {
        /// The importing library.
        library: String,
        /// Import module.
        module: String,
        /// Import name.
        name: String,
        /// What it imports ("global", "table", …).
        kind: &'static str,
    },
    /// Two libraries import the same component function with different types.
    ComponentImportTypes {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
        /// The type seen first.
        first: FuncSig,
        /// The other type.
        second: FuncSig,
        /// The library importing it with the other type.
        library: String,
    },
}

impl SynthProblem {
    /// The problem with every input-derived name made safe to print.
    fn escaped(&self) -> SynthProblem {
        let e = |s: &String| escape(s).into_owned();
        let mut p = self.clone();
        match &mut p {
            SynthProblem::MemoryOverflow { library, .. }
            | SynthProblem::TableMaximum { library, .. } => *library = e(library),
            SynthProblem::SymbolPastMemory {
                library, symbol, ..
            } => {
                *library = e(library);
                *symbol = e(symbol);
            }
            SynthProblem::TableOverflow { library, .. } => *library = library.as_ref().map(e),
            SynthProblem::MemoryMaximum {
                library, needed_by, ..
            } => {
                *library = e(library);
                *needed_by = needed_by.as_ref().map(e);
            }
            SynthProblem::GotMemNotConstant {
                library,
                symbol,
                exporter,
            } => {
                *library = e(library);
                *symbol = e(symbol);
                *exporter = e(exporter);
            }
            SynthProblem::ComponentImportNotFunction {
                library,
                module,
                name,
                ..
            }
            | SynthProblem::ComponentImportTypes {
                library,
                module,
                name,
                ..
            } => {
                *library = e(library);
                *module = e(module);
                *name = e(name);
            }
            SynthProblem::StackNotAligned { .. } | SynthProblem::HeapOverflow { .. } => {}
        }
        p
    }
}

impl fmt::Display for SynthProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pages = |n: u64| format!("{n} page{}", if n == 1 { "" } else { "s" });
        match &self.escaped() {
            SynthProblem::StackNotAligned { stack_size } => write!(
                f,
                "stack size {stack_size} is not a multiple of 16 (the C ABI keeps the stack pointer 16-byte aligned)"
            ),
            SynthProblem::MemoryOverflow {
                library,
                size,
                alignment,
            } => write!(
                f,
                "memory layout overflow: placing `{library}` ({size} bytes of data at alignment {alignment}) goes past the 4 GiB of a 32-bit memory"
            ),
            SynthProblem::HeapOverflow { stack_size, needed } => write!(
                f,
                "memory layout overflow: the stack ({stack_size} bytes) and all libraries' data need {needed} bytes, more than a 32-bit memory holds"
            ),
            SynthProblem::TableOverflow {
                library: Some(library),
                slots,
            } => write!(
                f,
                "table layout overflow: placing the table region of `{library}` (dylink.0 MEM_INFO) brings the table to {slots} slots, more than a 32-bit table index holds"
            ),
            SynthProblem::TableOverflow {
                library: None,
                slots,
            } => write!(
                f,
                "table layout overflow: the libraries' table regions and the slots of functions whose address is taken need {slots} slots, more than a 32-bit table index holds"
            ),
            SynthProblem::SymbolPastMemory {
                library,
                symbol,
                address,
                memory_end,
            } => write!(
                f,
                "library `{library}` exports data symbol `{symbol}` at address {address:#x}, past the end of memory ({memory_end:#x}): its dylink.0 MEM_INFO or the symbol's offset is wrong"
            ),
            SynthProblem::MemoryMaximum {
                library,
                maximum,
                minimum,
                needed_by: Some(other),
            } => write!(
                f,
                "library `{library}` imports `env.memory` with at most {}, but library `{other}` imports it with at least {}",
                pages(*maximum),
                pages(*minimum)
            ),
            SynthProblem::MemoryMaximum {
                library,
                maximum,
                minimum,
                needed_by: None,
            } => write!(
                f,
                "library `{library}` imports `env.memory` with at most {}, but the stack and all libraries' data need {}",
                pages(*maximum),
                pages(*minimum)
            ),
            SynthProblem::TableMaximum {
                library,
                maximum,
                needed,
            } => write!(
                f,
                "library `{library}` imports `env.__indirect_function_table` with at most {maximum} slots, but the link needs {needed}"
            ),
            SynthProblem::GotMemNotConstant {
                library,
                symbol,
                exporter,
            } => write!(
                f,
                "library `{library}` imports `GOT.mem.{symbol}` as an immutable global, but `{exporter}` does not give the symbol a constant offset, so its address is only known at run time"
            ),
            SynthProblem::ComponentImportNotFunction {
                library,
                module,
                name,
                kind,
            } => write!(
                f,
                "library `{library}` imports {kind} `{module}.{name}`; only functions can be imported from outside the dynamic-linking ABI"
            ),
            SynthProblem::ComponentImportTypes {
                module,
                name,
                first,
                second,
                library,
            } => write!(
                f,
                "libraries import `{module}.{name}` with different types: {first} and {second} (in `{library}`)"
            ),
        }
    }
}

impl fmt::Display for SynthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [only] = self.problems.as_slice() {
            return write!(f, "{only}");
        }
        write!(f, "{} problems:", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SynthError {}

impl From<SynthProblem> for SynthError {
    fn from(problem: SynthProblem) -> Self {
        SynthError {
            problems: vec![problem],
        }
    }
}

//! The types linking compares: function signatures, entity types and MEM_INFO.

use std::fmt;

pub use wasmparser::ValType;

/// A function signature: parameter and result types.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct FuncSig {
    /// Parameter types.
    pub params: Vec<ValType>,
    /// Result types.
    pub results: Vec<ValType>,
}

impl FuncSig {
    /// Builds a signature from parameter and result lists.
    pub fn new(params: impl Into<Vec<ValType>>, results: impl Into<Vec<ValType>>) -> Self {
        FuncSig {
            params: params.into(),
            results: results.into(),
        }
    }

    /// Whether this is `[] -> []`.
    pub fn is_thunk(&self) -> bool {
        self.params.is_empty() && self.results.is_empty()
    }
}

impl fmt::Display for FuncSig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, tys: &[ValType]) -> fmt::Result {
            f.write_str("[")?;
            for (i, t) in tys.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{t}")?;
            }
            f.write_str("]")
        }
        list(f, &self.params)?;
        f.write_str(" -> ")?;
        list(f, &self.results)
    }
}

/// The `dylink.0` MEM_INFO subsection: how much memory and table the library needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MemInfo {
    /// Bytes of linear memory the library's data needs, starting at its `__memory_base`.
    pub memory_size: u32,
    /// Required alignment of the data region in bytes (a power of two; 1 when absent).
    pub memory_alignment: u32,
    /// Table slots the library needs, starting at its `__table_base`.
    pub table_size: u32,
    /// Required alignment of the table region in slots (a power of two; 1 when absent).
    pub table_alignment: u32,
}

/// The type of an imported or exported entity.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EntityType {
    /// A function with this signature.
    Func(FuncSig),
    /// A global.
    Global(wasmparser::GlobalType),
    /// A memory.
    Memory(wasmparser::MemoryType),
    /// A table.
    Table(wasmparser::TableType),
    /// An exception tag whose payload is the signature's parameters.
    Tag(FuncSig),
}

impl EntityType {
    /// A short word for the kind of entity ("function", "global", ...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            EntityType::Func(_) => "function",
            EntityType::Global(_) => "global",
            EntityType::Memory(_) => "memory",
            EntityType::Table(_) => "table",
            EntityType::Tag(_) => "tag",
        }
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntityType::Func(sig) => write!(f, "function {sig}"),
            EntityType::Global(g) => write!(
                f,
                "global {}{}{}",
                if g.shared { "shared " } else { "" },
                if g.mutable { "mut " } else { "" },
                g.content_type
            ),
            EntityType::Memory(m) => write!(
                f,
                "memory{}{} min {} pages",
                if m.memory64 { " i64" } else { "" },
                if m.shared { " shared" } else { "" },
                m.initial
            ),
            EntityType::Table(t) => write!(
                f,
                "table{}{} {} min {}",
                if t.table64 { " i64" } else { "" },
                if t.shared { " shared" } else { "" },
                t.element_type,
                t.initial
            ),
            EntityType::Tag(sig) => write!(f, "tag {sig}"),
        }
    }
}

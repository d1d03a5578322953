//! What a parsed library is: its `dylink.0` facts, its imports as the linker reads them, its
//! exports with their ABI roles, and its component-type sections — all borrowed from the input.

use crate::abi::SYM_BINDING_WEAK;
use crate::{EntityType, FuncSig, MemInfo, ValType, Warning};

/// What an import means to the linker.
#[derive(Clone, Debug, PartialEq)]
pub enum ImportClass {
    /// `env.memory`: the shared linear memory.
    Memory,
    /// `env.__indirect_function_table`: the shared function table.
    Table,
    /// `env.__stack_pointer`.
    StackPointer,
    /// `env.__memory_base`: start of this library's data region.
    MemoryBase,
    /// `env.__table_base`: start of this library's table region.
    TableBase,
    /// Another `env` function: a symbol defined by some other library.
    Function(FuncSig),
    /// Another `env` global (for example `__init_stack_pointer`), provided by the linker.
    EnvGlobal,
    /// An `env` exception tag, bound to another library's tag.
    EnvTag(FuncSig),
    /// `GOT.mem.X`: a global holding the absolute address of data symbol X.
    GotMem,
    /// `GOT.func.X`: a global holding the table index of function X.
    GotFunc,
    /// Any other import (WIT functions, canonical-ABI intrinsics, adapter functions); resolved by
    /// the component layer.
    Other,
}

/// One import of a library.
#[derive(Clone, Debug)]
pub struct Import<'a> {
    /// Module name.
    pub module: &'a str,
    /// Field name.
    pub name: &'a str,
    /// The imported entity's type.
    pub ty: EntityType,
    /// The linker's reading of the import.
    pub class: ImportClass,
    /// Whether `dylink.0` IMPORT_INFO marks the import weak (`binding-weak`): it may stay undefined.
    pub weak: bool,
}

/// Exports with a fixed role in the dynamic-linking ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecialExport {
    /// `__wasm_apply_data_relocs`.
    ApplyDataRelocs,
    /// `__wasm_call_ctors`.
    CallCtors,
    /// `_initialize`.
    Initialize,
    /// `_start`.
    Start,
}

/// One export of a library.
#[derive(Clone, Debug)]
pub struct Export<'a> {
    /// Export name (the symbol name).
    pub name: &'a str,
    /// The exported entity's type.
    pub ty: EntityType,
    /// Index of the entity in its index space within the library.
    pub index: u32,
    /// For a global defined by the library with a constant `i32.const` initialiser, that value.
    /// For a data symbol this is the offset from the library's `__memory_base`.
    pub const_i32: Option<i32>,
    /// Symbol flags from `dylink.0` EXPORT_INFO (0 when absent).
    pub flags: u32,
    /// The ABI role of the export, if any.
    pub special: Option<SpecialExport>,
}

impl Export<'_> {
    /// Whether EXPORT_INFO marks the definition weak.
    pub fn is_weak(&self) -> bool {
        self.flags & SYM_BINDING_WEAK != 0
    }

    /// Whether this export is an ordinary symbol other libraries may bind to.
    pub fn is_symbol(&self) -> bool {
        self.special.is_none()
            && matches!(
                self.ty,
                EntityType::Func(_) | EntityType::Global(_) | EntityType::Tag(_)
            )
    }

    /// Whether this export can be the target of `GOT.mem`: an immutable `i32` global (its value
    /// is the symbol's offset from the library's `__memory_base`).
    pub fn is_data(&self) -> bool {
        matches!(&self.ty, EntityType::Global(g) if g.content_type == ValType::I32 && !g.mutable)
    }
}

/// An active data segment written into the library's own data region: at `__memory_base`
/// plus a constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataSegment {
    /// Byte offset of the segment in the input.
    pub at: u64,
    /// Where it starts, relative to `__memory_base`.
    pub start: i64,
    /// Its length in bytes.
    pub len: u64,
}

/// A custom section, borrowed from the input.
#[derive(Clone, Copy, Debug)]
pub struct CustomSection<'a> {
    /// Section name.
    pub name: &'a str,
    /// Section payload.
    pub data: &'a [u8],
}

/// A parsed dynamic library. Borrows from the bytes it was parsed from.
#[derive(Clone, Debug)]
pub struct Library<'a> {
    /// The library's name (what NEEDED entries and `dlopen` refer to).
    pub name: &'a str,
    /// The whole input module.
    pub bytes: &'a [u8],
    /// Whether the module has a `dylink.0` section at all.
    pub has_dylink: bool,
    /// MEM_INFO (zero sizes, alignment 1 when absent).
    pub mem_info: MemInfo,
    /// NEEDED: names of libraries this one depends on.
    pub needed: Vec<&'a str>,
    /// RUNTIME_PATH entries.
    pub runtime_path: Vec<&'a str>,
    /// TARGET_ARCH, if present.
    pub target_arch: Option<&'a str>,
    /// EXPORT_INFO entries (name, flags).
    pub export_info: Vec<(&'a str, u32)>,
    /// IMPORT_INFO entries (module, field, flags).
    pub import_info: Vec<(&'a str, &'a str, u32)>,
    /// All imports, in module order.
    pub imports: Vec<Import<'a>>,
    /// All exports, in module order.
    pub exports: Vec<Export<'a>>,
    /// `component-type*` custom sections carrying the library's WIT world.
    pub component_types: Vec<CustomSection<'a>>,
    /// For a library fused from others: their names ([`crate::abi::FUSED_PARTS_SECTION`]),
    /// which NEEDED entries may use for it.
    pub fused_parts: Vec<&'a str>,
    /// Memories the module defines itself (a dynamic library should define none).
    pub defined_memories: u32,
    /// Tables the module defines itself.
    pub defined_tables: u32,
    /// The active data segments placed relative to `__memory_base` in the shared memory (other
    /// segments — passive ones, or ones at other addresses or in other memories — are not
    /// listed).
    pub data_segments: Vec<DataSegment>,
    /// Whether the module has a `start` section.
    pub has_start_section: bool,
    /// Non-fatal observations.
    pub warnings: Vec<Warning>,
}

impl<'a> Library<'a> {
    /// The bytes of its data region: MEM_INFO's memory size, or more when an active data
    /// segment at `__memory_base` writes past it (the linker reserves what is written).
    pub fn data_extent(&self) -> u64 {
        let written = self
            .data_segments
            .iter()
            .filter(|s| s.start >= 0)
            .map(|s| s.start.unsigned_abs().saturating_add(s.len))
            .max()
            .unwrap_or(0);
        written.max(u64::from(self.mem_info.memory_size))
    }

    /// The export named `name`, if any.
    pub fn export(&self, name: &str) -> Option<&Export<'a>> {
        self.exports.iter().find(|e| e.name == name)
    }

    /// Whether it has wasip3 thread-local storage of its own: it exports the data symbol
    /// `__wasm_library_tls_info`, so the linker gives it a TLS slot (see docs/abi.md).
    pub fn owns_tls(&self) -> bool {
        self.export(crate::abi::LIBRARY_TLS_INFO)
            .is_some_and(|e| e.is_data())
    }

    /// The export with the given ABI role, if any.
    pub fn special(&self, which: SpecialExport) -> Option<&Export<'a>> {
        self.exports.iter().find(|e| e.special == Some(which))
    }
}

//! [`Library::parse`]: one pass over the module's sections, one stage per section, then the
//! imports and exports are described (see [`crate::classify`]).
//!
//! The pass records each index space only as far as linking needs it (the type of every
//! function, global, memory, table and tag), borrows names and custom sections from the input,
//! and jumps over the code section without decoding it.

use wasmparser::{
    Chunk, CompositeInnerType, Encoding, KnownCustom, Operator, Parser, Payload, TypeRef,
};

use crate::abi;
use crate::classify;
use crate::dylink;
use crate::header;
use crate::{
    CustomSection, DataSegment, FuncSig, Library, MemInfo, ParseError, ParseErrorKind, Warning,
    WarningKind,
};

/// The library being parsed, for error messages.
pub(crate) struct Ctx<'n> {
    pub(crate) library: &'n str,
}

impl Ctx<'_> {
    pub(crate) fn err(
        &self,
        offset: Option<u64>,
        kind: ParseErrorKind,
        message: impl Into<String>,
    ) -> ParseError {
        ParseError::new(self.library, offset, kind, message)
    }

    /// A malformed-input error at `offset`.
    pub(crate) fn malformed(&self, offset: u64, message: impl Into<String>) -> ParseError {
        self.err(Some(offset), ParseErrorKind::Malformed, message)
    }

    /// wasmparser's reading failed.
    pub(crate) fn wasm(&self, e: wasmparser::BinaryReaderError) -> ParseError {
        self.malformed(e.offset(), e.message())
    }
}

/// The module's index spaces, as far as linking needs them (imported entities first).
#[derive(Default)]
pub(crate) struct Spaces {
    /// Types of the type section, by index (`None` for non-function types).
    pub(crate) types: Vec<Option<FuncSig>>,
    /// Per type: why a [`FuncSig`] would not describe it faithfully, if it would not.
    pub(crate) type_issues: Vec<Option<&'static str>>,
    /// Type index of every function.
    pub(crate) funcs: Vec<u32>,
    /// Type of every global and, for a defined global initialised by `i32.const`, that value.
    pub(crate) globals: Vec<(wasmparser::GlobalType, Option<i32>)>,
    pub(crate) memories: Vec<wasmparser::MemoryType>,
    pub(crate) tables: Vec<wasmparser::TableType>,
    /// Type index of every tag.
    pub(crate) tags: Vec<u32>,
}

/// Imports and exports as read, with their byte offsets; described once the whole module (and so
/// IMPORT_INFO / EXPORT_INFO, wherever `dylink.0` is) has been read.
pub(crate) type Raw<T> = Vec<(u64, T)>;

/// The state of the pass over the sections.
struct Reader<'a, 'c> {
    cx: &'c Ctx<'a>,
    lib: Library<'a>,
    spaces: Spaces,
    imports: Raw<wasmparser::Import<'a>>,
    exports: Raw<wasmparser::Export<'a>>,
    /// Sections seen so far (the version header is not one).
    sections: usize,
}

impl<'a> Library<'a> {
    /// Parses a dynamic library named `name` from `bytes`.
    ///
    /// Function bodies and data segments are skipped, not decoded. Errors carry the byte offset of
    /// the problem.
    pub fn parse(name: &'a str, bytes: &'a [u8]) -> Result<Library<'a>, ParseError> {
        let cx = Ctx { library: name };
        header::check(&cx, bytes)?;
        let mut reader = Reader {
            cx: &cx,
            lib: Library::empty(name, bytes),
            spaces: Spaces::default(),
            imports: Vec::new(),
            exports: Vec::new(),
            sections: 0,
        };
        reader.read_sections()?;
        let Reader {
            mut lib,
            spaces,
            imports,
            exports,
            ..
        } = reader;
        lib.imports = classify::imports(&cx, &lib, &spaces, imports)?;
        lib.exports = classify::exports(&cx, &lib, &spaces, exports)?;
        Ok(lib)
    }

    /// A library with nothing read yet.
    fn empty(name: &'a str, bytes: &'a [u8]) -> Self {
        Library {
            name,
            bytes,
            has_dylink: false,
            mem_info: MemInfo {
                memory_alignment: 1,
                table_alignment: 1,
                ..MemInfo::default()
            },
            needed: Vec::new(),
            runtime_path: Vec::new(),
            target_arch: None,
            export_info: Vec::new(),
            import_info: Vec::new(),
            imports: Vec::new(),
            exports: Vec::new(),
            component_types: Vec::new(),
            fused_parts: Vec::new(),
            defined_memories: 0,
            defined_tables: 0,
            data_segments: Vec::new(),
            has_start_section: false,
            warnings: Vec::new(),
        }
    }
}

impl<'a> Reader<'a, '_> {
    /// Reads every section up to the end of the module, each with the stage for its kind.
    fn read_sections(&mut self) -> Result<(), ParseError> {
        let cx = self.cx;
        let bytes = self.lib.bytes;
        let mut parser = Parser::new(0);
        let mut offset = 0usize;
        loop {
            let rest = bytes.get(offset..).unwrap_or(&[]);
            let (payload, consumed) = match parser.parse(rest, true).map_err(|e| cx.wasm(e))? {
                Chunk::NeedMoreData(_) => {
                    return Err(cx.err(
                        Some(bytes.len() as u64),
                        ParseErrorKind::Truncated,
                        "unexpected end of input",
                    ));
                }
                Chunk::Parsed { consumed, payload } => (payload, consumed),
            };
            offset += consumed;
            let is_version = matches!(payload, Payload::Version { .. });
            match payload {
                Payload::Version {
                    encoding, range, ..
                } if encoding != Encoding::Module => {
                    return Err(cx.err(
                        Some(range.start),
                        ParseErrorKind::Component,
                        header::COMPONENT,
                    ));
                }
                Payload::TypeSection(reader) => self.types(reader)?,
                Payload::ImportSection(reader) => self.imports(reader)?,
                Payload::FunctionSection(reader) => self.functions(reader)?,
                Payload::TableSection(reader) => self.tables(reader)?,
                Payload::MemorySection(reader) => self.memories(reader)?,
                Payload::TagSection(reader) => self.tags(reader)?,
                Payload::GlobalSection(reader) => self.globals(reader)?,
                Payload::ExportSection(reader) => self.exports(reader)?,
                Payload::StartSection { .. } => self.lib.has_start_section = true,
                Payload::CodeSectionStart {
                    size,
                    unchecked_range,
                    ..
                } => {
                    parser.skip_section();
                    offset = self.skip_code(offset, size, unchecked_range)?;
                }
                Payload::DataSection(reader) => self.data(reader)?,
                Payload::CustomSection(reader) => self.custom(reader)?,
                Payload::End(_) => return Ok(()),
                _ => {}
            }
            if !is_version {
                self.sections += 1;
            }
        }
    }

    /// Function types, and whether a [`FuncSig`] describes each faithfully.
    fn types(&mut self, reader: wasmparser::TypeSectionReader<'a>) -> Result<(), ParseError> {
        for group in reader {
            let group = group.map_err(|e| self.cx.wasm(e))?;
            let in_group = group.types().len();
            for sub in group.into_types() {
                self.spaces
                    .type_issues
                    .push(classify::unlinkable_type(&sub, in_group));
                self.spaces.types.push(match &sub.composite_type.inner {
                    CompositeInnerType::Func(f) => Some(FuncSig::new(f.params(), f.results())),
                    _ => None,
                });
            }
        }
        Ok(())
    }

    /// Imports, kept raw; each imported entity takes its place in its index space.
    fn imports(&mut self, reader: wasmparser::ImportSectionReader<'a>) -> Result<(), ParseError> {
        for item in reader.into_imports_with_offsets() {
            let (off, import) = item.map_err(|e| self.cx.wasm(e))?;
            let s = &mut self.spaces;
            match import.ty {
                TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                    classify::func_sig(self.cx, &s.types, t, off)?;
                    s.funcs.push(t);
                }
                TypeRef::Global(g) => s.globals.push((g, None)),
                TypeRef::Memory(m) => s.memories.push(m),
                TypeRef::Table(t) => s.tables.push(t),
                TypeRef::Tag(t) => s.tags.push(t.func_type_idx),
            }
            self.imports.push((off, import));
        }
        Ok(())
    }

    /// The types of the defined functions.
    fn functions(
        &mut self,
        reader: wasmparser::FunctionSectionReader<'a>,
    ) -> Result<(), ParseError> {
        for t in reader.into_iter_with_offsets() {
            let (off, t) = t.map_err(|e| self.cx.wasm(e))?;
            classify::func_sig(self.cx, &self.spaces.types, t, off)?;
            self.spaces.funcs.push(t);
        }
        Ok(())
    }

    fn tables(&mut self, reader: wasmparser::TableSectionReader<'a>) -> Result<(), ParseError> {
        for t in reader {
            self.spaces.tables.push(t.map_err(|e| self.cx.wasm(e))?.ty);
            self.lib.defined_tables += 1;
        }
        Ok(())
    }

    fn memories(&mut self, reader: wasmparser::MemorySectionReader<'a>) -> Result<(), ParseError> {
        for m in reader {
            self.spaces.memories.push(m.map_err(|e| self.cx.wasm(e))?);
            self.lib.defined_memories += 1;
        }
        Ok(())
    }

    fn tags(&mut self, reader: wasmparser::TagSectionReader<'a>) -> Result<(), ParseError> {
        for t in reader {
            let t = t.map_err(|e| self.cx.wasm(e))?;
            self.spaces.tags.push(t.func_type_idx);
        }
        Ok(())
    }

    /// Defined globals, with the value of an `i32.const` initialiser (a data symbol's offset).
    fn globals(&mut self, reader: wasmparser::GlobalSectionReader<'a>) -> Result<(), ParseError> {
        for g in reader {
            let g = g.map_err(|e| self.cx.wasm(e))?;
            self.spaces.globals.push((g.ty, const_i32(&g.init_expr)));
        }
        Ok(())
    }

    /// Exports, kept raw.
    fn exports(&mut self, reader: wasmparser::ExportSectionReader<'a>) -> Result<(), ParseError> {
        for e in reader.into_iter_with_offsets() {
            let (off, e) = e.map_err(|e| self.cx.wasm(e))?;
            self.exports.push((off, e));
        }
        Ok(())
    }

    /// Jumps over the code section (`size` bytes after `offset`); it must lie inside the input.
    fn skip_code(
        &self,
        offset: usize,
        size: u32,
        range: std::ops::Range<u64>,
    ) -> Result<usize, ParseError> {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let end = offset.saturating_add(size);
        let len = self.lib.bytes.len();
        if end > len {
            // Point at the section, which is in the input, not at its declared end.
            return Err(self.cx.err(
                Some(range.start),
                ParseErrorKind::Truncated,
                format!(
                    "the code section (bytes {:#x}..{:#x}) runs past the end of the input ({len} bytes)",
                    range.start, range.end,
                ),
            ));
        }
        Ok(end)
    }

    /// The active segments at `__memory_base` plus a constant in `env.memory` (their payloads
    /// are not read): where the library writes its data, to check it against MEM_INFO.
    fn data(&mut self, reader: wasmparser::DataSectionReader<'a>) -> Result<(), ParseError> {
        let (Some(memory), Some(base)) = (self.env_memory(), self.memory_base_global()) else {
            return Ok(());
        };
        for d in reader.into_iter_with_offsets() {
            let (at, d) = d.map_err(|e| self.cx.wasm(e))?;
            if let wasmparser::DataKind::Active {
                memory_index,
                offset_expr,
            } = d.kind
                && memory_index == memory
                && let Some(start) = base_relative(&offset_expr, base)
            {
                self.lib.data_segments.push(DataSegment {
                    at,
                    start,
                    len: d.data.len() as u64,
                });
            }
        }
        Ok(())
    }

    /// The memory index of the `env.memory` import, if any.
    fn env_memory(&self) -> Option<u32> {
        self.import_index(|ty| matches!(ty, TypeRef::Memory(_)), abi::MEMORY)
    }

    /// The global index of the `env.__memory_base` import, if any.
    fn memory_base_global(&self) -> Option<u32> {
        self.import_index(|ty| matches!(ty, TypeRef::Global(_)), abi::MEMORY_BASE)
    }

    /// The index of import `env.name` among the imports of its kind (`is_kind`).
    fn import_index(&self, is_kind: impl Fn(&TypeRef) -> bool, name: &str) -> Option<u32> {
        self.imports
            .iter()
            .filter(|(_, i)| is_kind(&i.ty))
            .zip(0u32..)
            .find(|((_, i), _)| i.module == abi::ENV && i.name == name)
            .map(|(_, index)| index)
    }

    /// `dylink.0` (read into the library) and the `component-type*` sections (borrowed).
    fn custom(&mut self, reader: wasmparser::CustomSectionReader<'a>) -> Result<(), ParseError> {
        let name = reader.name();
        if name == abi::DYLINK_SECTION {
            let at = reader.range().start;
            if self.lib.has_dylink {
                self.lib
                    .warnings
                    .push(Warning::new(at, WarningKind::SecondDylink));
            }
            if self.sections != 0 {
                self.lib
                    .warnings
                    .push(Warning::new(at, WarningKind::DylinkNotFirst));
            }
            self.lib.has_dylink = true;
            if let KnownCustom::Dylink0(reader) = reader.as_known() {
                dylink::read(self.cx, &mut self.lib, reader)?;
            }
        } else if name.starts_with(abi::COMPONENT_TYPE_PREFIX) {
            self.lib.component_types.push(CustomSection {
                name,
                data: reader.data(),
            });
        } else if name == abi::FUSED_PARTS_SECTION {
            self.lib.fused_parts = self.fused_parts(&reader)?;
        }
        Ok(())
    }

    /// The names in a `weld.fused-parts` section.
    fn fused_parts(
        &self,
        reader: &wasmparser::CustomSectionReader<'a>,
    ) -> Result<Vec<&'a str>, ParseError> {
        let mut r = wasmparser::BinaryReader::new(reader.data(), reader.data_offset());
        let malformed = |what: String, e: wasmparser::BinaryReaderError| {
            self.cx.err(
                Some(e.offset()),
                ParseErrorKind::Malformed,
                format!(
                    "{} section: {what}: {}",
                    abi::FUSED_PARTS_SECTION,
                    e.message()
                ),
            )
        };
        let count = r
            .read_var_u32()
            .map_err(|e| malformed("the count of names".to_string(), e))?;
        let mut names = Vec::new();
        for n in 1..=count {
            let name = r
                .read_string()
                .map_err(|e| malformed(format!("name {n} of {count}"), e))?;
            names.push(name);
        }
        Ok(names)
    }
}

/// For an offset expression `global.get base`, optionally plus `i32.const N` (either order,
/// extended constant expressions), the offset relative to global `base`.
fn base_relative(expr: &wasmparser::ConstExpr<'_>, base: u32) -> Option<i64> {
    let mut ops = expr.get_operators_reader();
    let mut saw_base = false;
    let mut constant = None;
    let mut added = false;
    loop {
        match ops.read().ok()? {
            Operator::GlobalGet { global_index } if global_index == base && !saw_base => {
                saw_base = true;
            }
            Operator::I32Const { value } if constant.is_none() => constant = Some(value),
            Operator::I32Add if saw_base && constant.is_some() && !added => added = true,
            Operator::End => break,
            _ => return None,
        }
    }
    match (saw_base, constant, added) {
        (true, None, false) => Some(0),
        (true, Some(c), true) => Some(i64::from(c)),
        _ => None,
    }
}

/// The value of a constant expression that is exactly `i32.const N`.
fn const_i32(expr: &wasmparser::ConstExpr<'_>) -> Option<i32> {
    let mut ops = expr.get_operators_reader();
    let v = match ops.read().ok()? {
        Operator::I32Const { value } => value,
        _ => return None,
    };
    match ops.read().ok()? {
        Operator::End => Some(v),
        _ => None,
    }
}

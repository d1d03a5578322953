//! One part of a fusion, read whole: every section that fusion re-encodes, kept as borrowed
//! wasmparser items, and the sizes of the part's index spaces.

use std::collections::HashMap;

use wasmparser::{
    Data, Element, Export, FunctionBody, Global, Import, KnownCustom, MemoryType, Name, Parser,
    Payload, Table, TagType, TypeRef, TypeSectionReader,
};

use crate::FuseError;

/// A part's module, section by section.
pub(crate) struct PartModule<'a> {
    /// The part's name (for errors and the name section).
    pub(crate) name: &'a str,
    pub(crate) types: Option<TypeSectionReader<'a>>,
    /// The number of types.
    pub(crate) type_count: u32,
    pub(crate) imports: Vec<Import<'a>>,
    /// Type index of every defined function.
    pub(crate) functions: Vec<u32>,
    pub(crate) tables: Vec<Table<'a>>,
    pub(crate) memories: Vec<MemoryType>,
    pub(crate) tags: Vec<TagType>,
    pub(crate) globals: Vec<Global<'a>>,
    pub(crate) exports: Vec<Export<'a>>,
    pub(crate) start: Option<u32>,
    pub(crate) elements: Vec<Element<'a>>,
    pub(crate) data: Vec<Data<'a>>,
    pub(crate) bodies: Vec<FunctionBody<'a>>,
    /// Function names from the name section.
    pub(crate) function_names: HashMap<u32, &'a str>,
    /// `component-type*` custom sections, (name, payload).
    pub(crate) component_types: Vec<(&'a str, &'a [u8])>,
}

/// How many items of each kind a part imports.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Imported {
    pub(crate) funcs: u32,
    pub(crate) globals: u32,
    pub(crate) memories: u32,
    pub(crate) tables: u32,
    pub(crate) tags: u32,
}

impl PartModule<'_> {
    /// How many items of each kind the part imports.
    pub(crate) fn imported(&self) -> Imported {
        let mut n = Imported::default();
        for i in &self.imports {
            match i.ty {
                TypeRef::Func(_) | TypeRef::FuncExact(_) => n.funcs += 1,
                TypeRef::Global(_) => n.globals += 1,
                TypeRef::Memory(_) => n.memories += 1,
                TypeRef::Table(_) => n.tables += 1,
                TypeRef::Tag(_) => n.tags += 1,
            }
        }
        n
    }
}

/// Reads every section of `bytes` that fusion needs.
pub(crate) fn read<'a>(name: &'a str, bytes: &'a [u8]) -> Result<PartModule<'a>, FuseError> {
    let bad = |e: wasmparser::BinaryReaderError| FuseError::Malformed {
        part: name.to_string(),
        offset: e.offset(),
        message: e.message().to_string(),
    };
    let mut m = PartModule {
        name,
        types: None,
        type_count: 0,
        imports: Vec::new(),
        functions: Vec::new(),
        tables: Vec::new(),
        memories: Vec::new(),
        tags: Vec::new(),
        globals: Vec::new(),
        exports: Vec::new(),
        start: None,
        elements: Vec::new(),
        data: Vec::new(),
        bodies: Vec::new(),
        function_names: HashMap::new(),
        component_types: Vec::new(),
    };
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(bad)? {
            Payload::TypeSection(r) => {
                m.type_count = r
                    .clone()
                    .into_iter()
                    .map(|g| g.map(|g| g.types().len() as u32))
                    .sum::<Result<u32, _>>()
                    .map_err(bad)?;
                m.types = Some(r);
            }
            Payload::ImportSection(r) => {
                for i in r.into_imports() {
                    m.imports.push(i.map_err(bad)?);
                }
            }
            Payload::FunctionSection(r) => m.functions = collect(r, bad)?,
            Payload::TableSection(r) => m.tables = collect(r, bad)?,
            Payload::MemorySection(r) => m.memories = collect(r, bad)?,
            Payload::TagSection(r) => m.tags = collect(r, bad)?,
            Payload::GlobalSection(r) => m.globals = collect(r, bad)?,
            Payload::ExportSection(r) => m.exports = collect(r, bad)?,
            Payload::StartSection { func, .. } => m.start = Some(func),
            Payload::ElementSection(r) => m.elements = collect(r, bad)?,
            Payload::DataSection(r) => m.data = collect(r, bad)?,
            Payload::CodeSectionEntry(body) => m.bodies.push(body),
            Payload::CustomSection(c) => match c.as_known() {
                KnownCustom::Name(names) => read_names(&mut m, names),
                _ if c
                    .name()
                    .starts_with(weld_module::abi::COMPONENT_TYPE_PREFIX) =>
                {
                    m.component_types.push((c.name(), c.data()));
                }
                _ => {}
            },
            _ => {}
        }
    }
    Ok(m)
}

fn collect<'a, T: wasmparser::FromReader<'a>>(
    reader: wasmparser::SectionLimited<'a, T>,
    bad: impl Fn(wasmparser::BinaryReaderError) -> FuseError,
) -> Result<Vec<T>, FuseError> {
    reader.into_iter().map(|x| x.map_err(&bad)).collect()
}

/// Function names; a malformed name section is ignored, as engines ignore it.
fn read_names<'a>(m: &mut PartModule<'a>, names: wasmparser::NameSectionReader<'a>) {
    for name in names.into_iter().flatten() {
        if let Name::Function(map) = name {
            for naming in map.into_iter().flatten() {
                m.function_names.insert(naming.index, naming.name);
            }
        }
    }
}

/// A part's position in the fusion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PartId(usize);

impl PartId {
    /// The first part.
    pub(crate) const FIRST: PartId = PartId(0);

    /// The part's position among the parts.
    pub(crate) fn index(self) -> usize {
        self.0
    }
}

/// One value per part, indexed by [`PartId`]. Every container is made from the parts of one
/// fusion (so an id always indexes it).
#[derive(Clone, Debug, Default)]
pub(crate) struct PerPart<T>(Vec<T>);

impl<T> PerPart<T> {
    /// The values of the parts, in part order.
    pub(crate) fn new(values: Vec<T>) -> Self {
        PerPart(values)
    }

    /// `(id, value)` in part order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (PartId, &T)> {
        self.0.iter().enumerate().map(|(i, v)| (PartId(i), v))
    }

    /// The values in part order.
    pub(crate) fn values(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    /// The number of parts.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T> std::ops::Index<PartId> for PerPart<T> {
    type Output = T;

    #[expect(
        clippy::indexing_slicing,
        reason = "part ids and containers are made from the parts of one fusion"
    )]
    fn index(&self, id: PartId) -> &T {
        &self.0[id.0]
    }
}

impl<T> std::ops::IndexMut<PartId> for PerPart<T> {
    #[expect(
        clippy::indexing_slicing,
        reason = "part ids and containers are made from the parts of one fusion"
    )]
    fn index_mut(&mut self, id: PartId) -> &mut T {
        &mut self.0[id.0]
    }
}

//! How each library is instantiated: for each of its import modules, the items to pass and
//! where each comes from; and the sharing of arguments that are the same for every library.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use weld_graph::{ExportRef, LibId};
use weld_module::{EntityType, abi};

/// Where an item passed to a library's import comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// An export of the main module.
    Main(String),
    /// An export of an earlier library instance.
    Library(LibId, String),
    /// An export of the stubs module.
    Stubs(String),
}

/// The kind of an instantiation argument item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// A function.
    Func,
    /// A global.
    Global,
    /// A memory.
    Memory,
    /// A table.
    Table,
    /// A tag.
    Tag,
}

impl ItemKind {
    /// The kind of an entity of type `ty`.
    pub fn of(ty: &EntityType) -> ItemKind {
        match ty {
            EntityType::Func(_) => ItemKind::Func,
            EntityType::Global(_) => ItemKind::Global,
            EntityType::Memory(_) => ItemKind::Memory,
            EntityType::Table(_) => ItemKind::Table,
            EntityType::Tag(_) => ItemKind::Tag,
        }
    }
}

/// One item of an instantiation argument: the import's field name and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ArgItem {
    /// Import field name.
    pub name: String,
    /// Kind of the item.
    pub kind: ItemKind,
    /// Where it comes from.
    pub source: Source,
}

/// How to instantiate one library: for each import module name, the items to provide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryInstance {
    /// The library.
    pub library: LibId,
    /// Import module name -> items, in first-import order.
    pub args: Vec<(String, Arg)>,
}

/// One instantiation argument of a library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Items for this library alone.
    Items(Vec<ArgItem>),
    /// An argument shared by several libraries: an index into
    /// [`Synthesized::shared_args`](crate::Synthesized::shared_args).
    Shared(usize),
}

/// A `call_indirect` shim in the main module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShimInfo {
    /// The main module's export name for the shim.
    pub export_name: String,
    /// The function it calls.
    pub target: ExportRef,
    /// The table slot it calls through.
    pub slot: u32,
}

/// Instance arguments of the init module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitArg {
    /// The main module's instance.
    Main,
    /// A library's instance.
    Library(LibId),
    /// The stubs module's instance.
    Stubs,
}

/// Gives every library the same argument for each import module other than `env` (`GOT.mem`,
/// `GOT.func`, WIT interfaces, …) when that is possible: the union of what all libraries import
/// from it, provided every item comes from the main module or the stubs (so it exists before any
/// library) and no name means two different things. Each such argument is then one core
/// instance in the component instead of one per library (wasmtime loads components of at most
/// 1000 instances). Returns the shared arguments.
pub(crate) fn share(instances: &mut [LibraryInstance]) -> Vec<Vec<ArgItem>> {
    let mut unions: IndexMap<String, IndexMap<String, ArgItem>> = IndexMap::new();
    let mut unshareable: HashSet<String> = HashSet::new();
    for inst in instances.iter() {
        for (module, arg) in &inst.args {
            let Arg::Items(items) = arg else { continue };
            if module == abi::ENV || unshareable.contains(module) {
                continue;
            }
            let union = unions.entry(module.clone()).or_default();
            for item in items {
                let from_main = matches!(item.source, Source::Main(_) | Source::Stubs(_));
                match union.get(&item.name) {
                    _ if !from_main => {
                        unshareable.insert(module.clone());
                    }
                    Some(existing) if existing != item => {
                        unshareable.insert(module.clone());
                    }
                    Some(_) => {}
                    None => {
                        union.insert(item.name.clone(), item.clone());
                    }
                }
            }
        }
    }
    let mut shared = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (module, union) in unions {
        if !unshareable.contains(&module) {
            index.insert(module, shared.len());
            shared.push(union.into_values().collect());
        }
    }
    for inst in instances.iter_mut() {
        for (module, arg) in &mut inst.args {
            if let Some(&i) = index.get(module) {
                *arg = Arg::Shared(i);
            }
        }
    }
    shared
}

//! The libraries of one link and typed positions into them.
//!
//! A [`LibrarySet`] holds the parsed libraries in input order. It hands out [`LibId`]s (a
//! library's position) and [`ExportRef`]s (one export of one library), and makes [`PerLib`]
//! containers with one value per library. Those are the only ways to get ids and containers, so
//! an id always indexes the containers of its own link: indexing cannot fail. (Ids of one link
//! used with another link's containers are a programming error and panic, as a petgraph
//! `NodeIndex` of another graph would.)

use std::ops::{Index, IndexMut};

use weld_module::{Export, Library};

/// A library's position in its link's input order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LibId(u32);

impl LibId {
    /// The position in input order (0 for the first library).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One value per library of a link, indexed by [`LibId`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PerLib<T>(Vec<T>);

impl<T> PerLib<T> {
    /// The number of libraries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the link has no libraries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every library's id, in input order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = LibId> + use<T> {
        ids(self.0.len())
    }

    /// `(id, value)` for every library, in input order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (LibId, &T)> {
        ids(self.0.len()).zip(&self.0)
    }

    /// `(id, value)` for every library, in input order, mutably.
    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = (LibId, &mut T)> {
        ids(self.0.len()).zip(&mut self.0)
    }

    /// The values in input order.
    pub fn values(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    /// A container of the same libraries with `f` of each value.
    pub fn map<U>(&self, mut f: impl FnMut(LibId, &T) -> U) -> PerLib<U> {
        PerLib(self.iter().map(|(id, v)| f(id, v)).collect())
    }

    /// The values in input order.
    pub fn into_values(self) -> std::vec::IntoIter<T> {
        self.0.into_iter()
    }
}

impl<T> Index<LibId> for PerLib<T> {
    type Output = T;

    #[expect(
        clippy::indexing_slicing,
        reason = "ids and containers are made by the same LibrarySet, so every id is in range"
    )]
    fn index(&self, id: LibId) -> &T {
        &self.0[id.index()]
    }
}

impl<T> IndexMut<LibId> for PerLib<T> {
    #[expect(
        clippy::indexing_slicing,
        reason = "ids and containers are made by the same LibrarySet, so every id is in range"
    )]
    fn index_mut(&mut self, id: LibId) -> &mut T {
        &mut self.0[id.index()]
    }
}

fn ids(len: usize) -> impl ExactSizeIterator<Item = LibId> {
    // A set holds at most u32::MAX libraries (see `LibrarySet::new`).
    (0..u32::try_from(len).unwrap_or(u32::MAX)).map(LibId)
}

/// One export of one library of a link: what a symbol binds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExportRef {
    library: LibId,
    export: u32,
}

impl ExportRef {
    /// The exporting library.
    pub fn library(self) -> LibId {
        self.library
    }

    /// The position of the export in that library's `exports`.
    pub fn index(self) -> usize {
        self.export as usize
    }
}

/// The libraries of one link, in input order, and which of them are dl-openable.
#[derive(Clone, Debug)]
pub struct LibrarySet<'a> {
    libraries: PerLib<Library<'a>>,
    dl_openable: PerLib<bool>,
}

impl<'a> LibrarySet<'a> {
    /// The libraries `(library, dl_openable)` in input order. At most `u32::MAX` libraries are
    /// kept; a component holds far fewer.
    pub fn new(libraries: impl IntoIterator<Item = (Library<'a>, bool)>) -> Self {
        let (libraries, dl_openable): (Vec<_>, Vec<_>) =
            libraries.into_iter().take(u32::MAX as usize).unzip();
        LibrarySet {
            libraries: PerLib(libraries),
            dl_openable: PerLib(dl_openable),
        }
    }

    /// The number of libraries.
    pub fn len(&self) -> usize {
        self.libraries.len()
    }

    /// Whether there are no libraries.
    pub fn is_empty(&self) -> bool {
        self.libraries.is_empty()
    }

    /// Every library's id, in input order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = LibId> + use<> {
        ids(self.len())
    }

    /// `(id, library)` in input order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (LibId, &Library<'a>)> {
        self.libraries.iter()
    }

    /// The id of the library at `position` in input order, if there is one.
    pub fn id_at(&self, position: usize) -> Option<LibId> {
        (position < self.len())
            .then(|| u32::try_from(position).ok().map(LibId))
            .flatten()
    }

    /// Library `id`'s name.
    pub fn name(&self, id: LibId) -> &'a str {
        self.libraries[id].name
    }

    /// Whether library `id` can be opened with `dlopen`.
    pub fn is_dl_openable(&self, id: LibId) -> bool {
        self.dl_openable[id]
    }

    /// A container with `f` of every library.
    pub fn per_lib<T>(&self, f: impl FnMut(LibId, &Library<'a>) -> T) -> PerLib<T> {
        self.libraries.map(f)
    }

    /// Every export of library `id` with its reference.
    pub fn exports(&self, id: LibId) -> impl Iterator<Item = (ExportRef, &Export<'a>)> {
        self.libraries[id]
            .exports
            .iter()
            .zip(0u32..)
            .map(move |(e, export)| {
                (
                    ExportRef {
                        library: id,
                        export,
                    },
                    e,
                )
            })
    }

    /// The export `r` refers to.
    #[expect(
        clippy::indexing_slicing,
        reason = "an ExportRef is made by `exports` of the same set, so it is in range"
    )]
    pub fn export(&self, r: ExportRef) -> &Export<'a> {
        &self.libraries[r.library].exports[r.index()]
    }

    /// The export of library `id` named `name`, if any.
    pub fn export_named(&self, id: LibId, name: &str) -> Option<(ExportRef, &Export<'a>)> {
        self.exports(id).find(|(_, e)| e.name == name)
    }
}

impl<'a> Index<LibId> for LibrarySet<'a> {
    type Output = Library<'a>;

    fn index(&self, id: LibId) -> &Library<'a> {
        &self.libraries[id]
    }
}

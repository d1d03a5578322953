//! Finding libraries as a native linker does: a NEEDED entry that no input provides is looked up
//! in the search directories (`-L`) in order, then in the needing library's `RUNTIME_PATH`
//! entries (`$ORIGIN` standing for the directory of the needing library's file), and the file
//! found is linked under the NEEDED name. Found libraries' own NEEDED entries are searched for in
//! turn.
//!
//! This module only decides which files to add; the caller reads them (the `weld` command maps
//! them) and adds them to the [`Linker`](crate::Linker).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use weld_module::Library;

/// An input the search starts from: its name, its file (if it has one), its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Known<'a> {
    /// The library's name (what NEEDED entries refer to).
    pub name: &'a str,
    /// Its file, for `$ORIGIN`.
    pub file: Option<&'a Path>,
    /// Its bytes.
    pub bytes: &'a [u8],
}

/// Where a library was found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FoundIn {
    /// The search directory at this position.
    SearchDir(usize),
    /// A `RUNTIME_PATH` entry of the library that needs it (as written, `$ORIGIN` included).
    RuntimePath(String),
}

/// A library found by the search.
#[derive(Debug)]
#[non_exhaustive]
pub struct Found<B> {
    /// The NEEDED name it is linked under.
    pub name: String,
    /// Its file.
    pub path: PathBuf,
    /// The library whose NEEDED entry named it (the first one).
    pub needed_by: String,
    /// Where it was found.
    pub found_in: FoundIn,
    /// Its bytes, as the caller's reader returned them.
    pub bytes: B,
}

/// A file that was found but could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SearchError {
    /// The file.
    pub path: PathBuf,
    /// The NEEDED name it was found for.
    pub name: String,
    /// Why it could not be read.
    pub message: String,
}

impl std::fmt::Display for SearchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` (found for the NEEDED entry `{}`) cannot be read: {}",
            self.path.display(),
            weld_module::text::escape(&self.name),
            self.message
        )
    }
}

impl std::error::Error for SearchError {}

/// Finds, breadth-first from `inputs`, every library a NEEDED entry names that no input
/// provides, in `dirs` then in the needing library's `RUNTIME_PATH`. Each file found is read
/// with `read`. Names that are found nowhere are left for the link to report (with the
/// directories searched, see [`LinkOptions::search_dirs`](crate::LinkOptions)). NEEDED names
/// with a `/` are paths, not searched for.
pub fn find<B: AsRef<[u8]>>(
    dirs: &[PathBuf],
    inputs: &[Known<'_>],
    mut read: impl FnMut(&Path) -> Result<B, String>,
) -> Result<Vec<Found<B>>, SearchError> {
    // Every name provided or already looked for: each is looked for once.
    let mut seen: HashSet<String> = inputs.iter().map(|k| k.name.to_string()).collect();
    let mut found: Vec<Found<B>> = Vec::new();
    // The libraries whose NEEDED entries are still to be searched: the inputs, then each
    // library found, in order.
    let mut pending: Vec<Needer> = inputs.iter().map(Needer::of).collect();
    let mut next = 0;
    while let Some(needer) = pending.get(next) {
        next += 1;
        let needer = needer.clone();
        for name in &needer.needed {
            if name.contains('/') || !seen.insert(name.clone()) {
                continue;
            }
            // Not found: the link reports it.
            let Some((path, found_in)) = locate(dirs, &needer, name) else {
                continue;
            };
            let bytes = read(&path).map_err(|message| SearchError {
                path: path.clone(),
                name: name.clone(),
                message,
            })?;
            pending.push(Needer::parse(name, &path, bytes.as_ref()));
            found.push(Found {
                name: name.clone(),
                path,
                needed_by: needer.name.clone(),
                found_in,
                bytes,
            });
        }
    }
    Ok(found)
}

/// What the search needs of a library: its name, NEEDED, RUNTIME_PATH and directory.
#[derive(Clone, Debug)]
struct Needer {
    name: String,
    needed: Vec<String>,
    runtime_path: Vec<String>,
    origin: Option<PathBuf>,
}

impl Needer {
    fn of(k: &Known<'_>) -> Needer {
        Needer::from_bytes(k.name, k.file, k.bytes)
    }

    fn parse(name: &str, path: &Path, bytes: &[u8]) -> Needer {
        Needer::from_bytes(name, Some(path), bytes)
    }

    /// A library that does not parse needs nothing here; the link reports its problem.
    fn from_bytes(name: &str, file: Option<&Path>, bytes: &[u8]) -> Needer {
        let (needed, runtime_path) = match Library::parse(name, bytes) {
            Ok(lib) => (
                lib.needed.iter().map(|s| s.to_string()).collect(),
                lib.runtime_path.iter().map(|s| s.to_string()).collect(),
            ),
            Err(_) => (Vec::new(), Vec::new()),
        };
        Needer {
            name: name.to_string(),
            needed,
            runtime_path,
            origin: file.map(|f| f.parent().map(Path::to_path_buf).unwrap_or_default()),
        }
    }
}

/// The first existing file named `name` in `dirs`, then in `needer`'s RUNTIME_PATH.
fn locate(dirs: &[PathBuf], needer: &Needer, name: &str) -> Option<(PathBuf, FoundIn)> {
    for (i, dir) in dirs.iter().enumerate() {
        let path = dir.join(name);
        if path.is_file() {
            return Some((path, FoundIn::SearchDir(i)));
        }
    }
    for entry in &needer.runtime_path {
        let rest = entry
            .strip_prefix("$ORIGIN")
            .or_else(|| entry.strip_prefix("${ORIGIN}"));
        let dir = match (rest, &needer.origin) {
            (Some(rest), Some(origin)) => origin.join(rest.trim_start_matches('/')),
            (Some(_), None) => continue,
            (None, _) => PathBuf::from(entry),
        };
        let path = dir.join(name);
        if path.is_file() {
            return Some((path, FoundIn::RuntimePath(entry.clone())));
        }
    }
    None
}

//! Reading input modules: binaries are memory-mapped, WAT is compiled; `[NAME=]FILE`
//! arguments are split into a name and a path.

use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::signals;

/// Why a module could not be read.
#[derive(Debug)]
pub(crate) struct ReadError {
    pub(crate) kind: ReadErrorKind,
    /// The whole message, naming the file.
    pub(crate) message: String,
}

/// The kinds of [`ReadError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadErrorKind {
    /// The file cannot be opened or read.
    Unreadable,
    /// It is a directory.
    Directory,
    /// It is WebAssembly text that does not compile.
    Wat,
}

impl ReadErrorKind {
    /// The diagnostic code.
    pub(crate) fn code(self) -> &'static str {
        match self {
            ReadErrorKind::Unreadable => "input-unreadable",
            ReadErrorKind::Directory => "input-directory",
            ReadErrorKind::Wat => "input-wat",
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ReadError {}

/// An input module: its bytes, and the file they were read from.
pub(crate) struct Input {
    bytes: Bytes,
    /// The file, to recognise it when the output names it too.
    pub(crate) file: Option<FileId>,
}

/// An input's bytes: mapped from its file, or owned (read, or WAT compiled to a binary).
enum Bytes {
    Mapped(Mapped),
    Owned(Vec<u8>),
}

/// A memory-mapped file, watched by the SIGBUS handler while it is mapped.
struct Mapped {
    // Fields are dropped in order: the watch ends before the mapping goes.
    _watch: signals::Watch,
    map: memmap2::Mmap,
}

impl AsRef<[u8]> for Input {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::ops::Deref for Input {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Mapped(m) => &m.map,
            Bytes::Owned(v) => v,
        }
    }
}

/// Which file a path names, whatever path leads to it (a symbolic link, a hard link, `..`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    device: u64,
    inode: u64,
}

impl FileId {
    /// The file `metadata` describes; `None` where files have no such identity.
    pub(crate) fn of(metadata: &Metadata) -> Option<FileId> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Some(FileId {
                device: metadata.dev(),
                inode: metadata.ino(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = metadata;
            None
        }
    }
}

/// Inputs at least this large are mapped; smaller ones are read.
const MAP_AT_LEAST: u64 = 4096;

/// Reads a module: a binary as it is, or WebAssembly text compiled to a binary. Bytes that are
/// neither are returned as they are, for the linker's parser to say what they are.
///
/// Regular files are memory-mapped rather than read: weld copies each library's bytes once,
/// into the output, and the mapping saves another copy (13 MB for CPython's libraries).
pub(crate) fn read_module(path: &Path) -> Result<Input, ReadError> {
    let error = |kind, message| ReadError { kind, message };
    let cannot = |e: std::io::Error| {
        error(
            ReadErrorKind::Unreadable,
            format!("cannot read `{}`: {e}", path.display()),
        )
    };
    let file = File::open(path).map_err(cannot)?;
    let metadata = file.metadata().map_err(cannot)?;
    if metadata.is_dir() {
        return Err(error(
            ReadErrorKind::Directory,
            format!(
                "cannot read `{}`: it is a directory; expected a WebAssembly module",
                path.display()
            ),
        ));
    }
    let input = Input {
        bytes: read_bytes(file, &metadata, path).map_err(cannot)?,
        file: FileId::of(&metadata),
    };
    if input.starts_with(b"\0asm") || !weld_module::is_webassembly_text(&input) {
        return Ok(input);
    }
    match wat::parse_bytes(&input) {
        Ok(binary) => Ok(Input {
            bytes: Bytes::Owned(binary.into_owned()),
            file: input.file,
        }),
        Err(mut e) => {
            e.set_path(path);
            Err(error(
                ReadErrorKind::Wat,
                format!(
                    "`{}` is WebAssembly text that does not compile: {e}",
                    path.display()
                ),
            ))
        }
    }
}

/// The contents of `file`: mapped when it is a large enough regular file, read otherwise.
fn read_bytes(mut file: File, metadata: &Metadata, path: &Path) -> std::io::Result<Bytes> {
    if metadata.is_file() && metadata.len() >= MAP_AT_LEAST {
        // SAFETY: the mapping is read-only and private to this process. If another process
        // truncates the file while weld reads it, the read faults with SIGBUS; the watch turns
        // that into an error naming the file (see `signals`).
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }?;
        let watch = signals::watch(&map, path);
        return Ok(Bytes::Mapped(Mapped { _watch: watch, map }));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(Bytes::Owned(bytes))
}

/// Splits `[NAME=]FILE` into its name and path; without `NAME=`, `default_name` of the file
/// name (or of the whole argument when it has none) is the name. An empty NAME or FILE is an
/// error.
pub(crate) fn spec(arg: &str, default_name: impl Fn(&str) -> String) -> Result<(String, PathBuf)> {
    match arg.split_once('=') {
        Some(("", _)) => bail!(
            "empty NAME in `{arg}`: give `NAME=FILE` with a name, or only FILE to name the library after the file"
        ),
        Some((_, "")) => bail!("empty FILE in `{arg}`: give `NAME=FILE` with a file"),
        Some((name, path)) => Ok((name.to_string(), PathBuf::from(path))),
        None => {
            let path = PathBuf::from(arg);
            let file = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| arg.to_string());
            Ok((default_name(&file), path))
        }
    }
}

//! Reading input modules: binaries are memory-mapped, WAT is compiled; `[NAME=]FILE`
//! arguments are split into a name and a path.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// An input module: a binary mapped from its file, or WAT compiled to a binary.
pub(crate) enum Input {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Input {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Input::Mapped(m) => m,
            Input::Owned(v) => v,
        }
    }
}

/// Reads a module as binary, or as WAT when it is text. Binaries are memory-mapped rather than
/// read: weld copies each library's bytes once, into the output, and the mapping saves another
/// copy (13 MB for CPython's libraries).
pub(crate) fn read_module(path: &Path) -> Result<Input> {
    let cannot = || format!("cannot read `{}`", path.display());
    let file = std::fs::File::open(path).with_context(cannot)?;
    let len = file.metadata().with_context(cannot)?.len();
    let bytes = if len >= 4096 {
        // SAFETY: the mapping is read-only and private to this process. weld reads input files
        // it was given; like any program reading a file, it relies on nobody truncating them
        // while it runs (a concurrent truncation would fault, not corrupt weld's state).
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.with_context(cannot)?;
        Input::Mapped(map)
    } else {
        Input::Owned(std::fs::read(path).with_context(cannot)?)
    };
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    match wat::parse_bytes(&bytes) {
        Ok(b) => Ok(Input::Owned(b.into_owned())),
        Err(e) => bail!(
            "`{}` is neither a WebAssembly binary nor valid WAT: {e}",
            path.display()
        ),
    }
}

/// Splits `[NAME=]FILE` into its name and path; without `NAME=`, `default_name` of the file
/// name (or of the whole argument when it has none) is the name.
pub(crate) fn spec(arg: &str, default_name: impl Fn(&str) -> String) -> (String, PathBuf) {
    match arg.split_once('=') {
        Some((name, path)) if !name.is_empty() => (name.to_string(), PathBuf::from(path)),
        _ => {
            let path = PathBuf::from(arg);
            let file = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| arg.to_string());
            (default_name(&file), path)
        }
    }
}

//! Writing the component: staged in a temporary file beside the output and renamed into place
//! once the link has succeeded, so a failed link never leaves a half-written or invalid file and
//! never replaces a good one; and the write overlaps with the end of validation.

use std::borrow::Cow;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use weld_component::{LinkError, Linked, Linker};

use crate::input::FileId;

/// Where the component goes: the output file, written through a [`Staging`] file when it can be.
pub(crate) struct Output<'p> {
    path: &'p Path,
    wat: bool,
    staging: Option<Staging>,
    /// The component is in the staging file, ready to be moved into place.
    staged: bool,
}

impl<'p> Output<'p> {
    /// The output `path`, written as text when `wat`.
    pub(crate) fn new(path: &'p Path, wat: bool) -> Self {
        Output {
            path,
            wat,
            staging: Staging::for_output(path),
            staged: false,
        }
    }

    /// Refuses an output that is one of the `inputs` (the same file, by whatever path).
    pub(crate) fn check_not_an_input<'a>(
        &self,
        inputs: impl IntoIterator<Item = (&'a Path, Option<FileId>)>,
    ) -> Result<()> {
        // Through a symbolic link, the file it leads to.
        let Some(output) = fs::metadata(self.path).ok().and_then(|m| FileId::of(&m)) else {
            return Ok(());
        };
        for (path, file) in inputs {
            if file == Some(output) {
                bail!(
                    "the output `{}` is the input `{}`; weld does not overwrite its inputs (choose another output)",
                    self.path.display(),
                    path.display()
                );
            }
        }
        Ok(())
    }

    /// Links, writing the component to the staging file while validation ends. When the link
    /// fails, or staging does, the staging file is removed.
    pub(crate) fn link(&mut self, linker: &Linker<'_>) -> Result<Linked, LinkError> {
        let Some(staging) = &self.staging else {
            return linker.encode();
        };
        let wat = self.wat;
        let mut written = None;
        let linked = linker.encode_with(|bytes| written = Some(staging.write(bytes, wat)));
        self.staged = linked.is_ok() && matches!(written, Some(Ok(())));
        if !self.staged {
            staging.discard();
        }
        linked
    }

    /// Puts `component` in place: moves the staging file there, or, when the output was not
    /// staged (it is not a regular file, or staging failed), writes the output directly.
    pub(crate) fn finish(self, component: &[u8]) -> Result<()> {
        match &self.staging {
            Some(staging) if self.staged => staging.commit(),
            _ => fs::write(self.path, contents(component, self.wat)?)
                .with_context(|| format!("cannot write `{}`", self.path.display())),
        }
    }
}

/// A temporary file in the output's directory, and the output it will become.
struct Staging {
    temp: PathBuf,
    output: PathBuf,
    /// The permissions of the file being replaced, kept for the new one.
    permissions: Option<fs::Permissions>,
}

impl Staging {
    /// Staging for `output`, or `None` when it exists and is not a regular file (a device such
    /// as `/dev/stdout`, a FIFO, a symbolic link), which is written in place instead.
    fn for_output(output: &Path) -> Option<Staging> {
        let permissions = match fs::symlink_metadata(output) {
            Ok(m) if m.file_type().is_file() => Some(m.permissions()),
            Ok(_) => return None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(_) => return None,
        };
        let name = output.file_name()?.to_string_lossy();
        let dir = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Some(Staging {
            temp: dir.join(format!(".{name}.weld-{}.tmp", std::process::id())),
            output: output.to_path_buf(),
            permissions,
        })
    }

    /// Writes the component (as text when `wat`) to the temporary file.
    fn write(&self, bytes: &[u8], wat: bool) -> Result<()> {
        let data = contents(bytes, wat)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&self.temp)
            .with_context(|| format!("cannot create `{}`", self.temp.display()))?;
        file.write_all(&data)
            .with_context(|| format!("cannot write `{}`", self.temp.display()))?;
        if let Some(p) = &self.permissions {
            fs::set_permissions(&self.temp, p.clone())
                .with_context(|| format!("cannot set permissions of `{}`", self.temp.display()))?;
        }
        Ok(())
    }

    /// Moves the written file into place; on failure the temporary file is removed.
    fn commit(&self) -> Result<()> {
        fs::rename(&self.temp, &self.output).with_context(|| {
            self.discard();
            format!(
                "cannot move `{}` to `{}`",
                self.temp.display(),
                self.output.display()
            )
        })
    }

    /// Removes the temporary file, if it was created.
    fn discard(&self) {
        // Nothing to do when it was never created; any other failure leaves a dot-file behind,
        // which is harmless.
        let _ = fs::remove_file(&self.temp);
    }
}

/// The bytes to write for `component`: itself, or its text when `wat`.
fn contents(component: &[u8], wat: bool) -> Result<Cow<'_, [u8]>> {
    if wat {
        Ok(Cow::Owned(
            wasmprinter::print_bytes(component)
                .context("cannot print the component as text")?
                .into_bytes(),
        ))
    } else {
        Ok(Cow::Borrowed(component))
    }
}

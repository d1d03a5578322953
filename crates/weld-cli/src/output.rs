//! Writing the component.
//!
//! A regular (or absent) output is staged: the component is written to a temporary file beside
//! it, `.NAME.weld-PID.tmp`, while validation ends, and renamed over the output once the link
//! has succeeded. If the link or the writing fails, the staging file is removed and the output is
//! left as it was; weld never falls back to writing such an output in place. Only outputs that
//! cannot be replaced by a rename — devices such as `/dev/stdout`, FIFOs, symbolic links — are
//! written in place, after the link. Without a path the output is standard output, written after
//! the link; binary output is refused when standard output is a terminal.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use weld_component::{LinkError, Linked, Linker};

use crate::input::FileId;
use crate::signals;

/// Where the component goes.
pub(crate) struct Output<'p> {
    /// `None` for standard output.
    path: Option<&'p Path>,
    wat: bool,
    /// `None` when the output is written in place.
    staging: Option<Staging>,
}

impl<'p> Output<'p> {
    /// Standard output, written as text when `wat`. Binary output to a terminal is refused;
    /// `what` says what would be written ("a component", "a dynamic library").
    pub(crate) fn stdout(wat: bool, what: &str) -> Result<Self> {
        if !wat && std::io::stdout().is_terminal() {
            bail!(
                "not writing {what} (binary) to a terminal: give `-o FILE`, redirect standard output (`> FILE`), or pipe it to another program"
            );
        }
        Ok(Output {
            path: None,
            wat,
            staging: None,
        })
    }

    /// The output `path`, or standard output when `None` (see [`Output::stdout`]).
    pub(crate) fn new_or_stdout(path: Option<&'p Path>, wat: bool, what: &str) -> Result<Self> {
        match path {
            Some(p) => Output::new(p, wat),
            None => Output::stdout(wat, what),
        }
    }

    /// The output `path`, written as text when `wat`. An output whose metadata cannot be read
    /// (other than because it does not exist) is an error: it could not be written either.
    pub(crate) fn new(path: &'p Path, wat: bool) -> Result<Self> {
        let cannot = || format!("cannot write `{}`", path.display());
        let staging = match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_file() => Some(Staging::new(path, Some(m.permissions()))),
            Ok(_) => None,
            Err(e) if e.kind() == ErrorKind::NotFound => Some(Staging::new(path, None)),
            Err(e) => return Err(e).with_context(cannot),
        };
        Ok(Output {
            path: Some(path),
            wat,
            staging: staging.transpose().with_context(cannot)?,
        })
    }

    /// Refuses an output that is one of the `inputs` (the same file, by whatever path).
    pub(crate) fn check_not_an_input<'a>(
        &self,
        inputs: impl IntoIterator<Item = (&'a Path, Option<FileId>)>,
    ) -> Result<()> {
        // Through a symbolic link, the file it leads to.
        let Some(output_path) = self.path else {
            return Ok(());
        };
        let Some(output) = fs::metadata(output_path).ok().and_then(|m| FileId::of(&m)) else {
            return Ok(());
        };
        for (path, file) in inputs {
            if file == Some(output) {
                bail!(
                    "the output `{}` is the input `{}`; weld does not overwrite its inputs (choose another output)",
                    output_path.display(),
                    path.display()
                );
            }
        }
        Ok(())
    }

    /// Links, writing the component to the staging file while validation ends. When the link
    /// or the writing fails, the staging file is removed.
    pub(crate) fn link(&mut self, linker: &Linker<'_>) -> Result<Linked, LinkError> {
        let Some(staging) = &mut self.staging else {
            return linker.encode();
        };
        let wat = self.wat;
        let mut written = None;
        let linked = linker.encode_with(|bytes| written = Some(staging.write(bytes, wat)));
        staging.written = written;
        if linked.is_err() {
            staging.discard();
        }
        linked
    }

    /// Puts `component` in place: moves the staging file there, or writes an output that is
    /// not staged. A staging file that could not be written is the error, the output untouched.
    pub(crate) fn finish(self, component: &[u8]) -> Result<()> {
        let Some(path) = self.path else {
            let mut out = std::io::stdout().lock();
            return match out
                .write_all(&contents(component, self.wat)?)
                .and_then(|()| out.flush())
            {
                // The reader stopped reading (`| head`), as it may: not an error.
                Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
                written => written.context("cannot write to standard output"),
            };
        };
        let cannot = || format!("cannot write `{}`", path.display());
        let Some(mut staging) = self.staging else {
            return fs::write(path, contents(component, self.wat)?).with_context(cannot);
        };
        match staging.written.take() {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e).with_context(cannot),
            // The linker did not hand the bytes over while linking: stage them now.
            None => staging.write(component, self.wat).with_context(cannot)?,
        }
        staging.commit().with_context(cannot)
    }
}

/// The staging file of a regular or absent output.
struct Staging {
    /// The output's directory.
    dir: PathBuf,
    /// The output's file name.
    name: OsString,
    output: PathBuf,
    /// The permissions of the file being replaced, given to the new one.
    permissions: Option<fs::Permissions>,
    /// The staging file, once created.
    temp: Option<PathBuf>,
    /// How writing it went, once the linker has handed over the component.
    written: Option<Result<()>>,
}

/// Attempts at a staging name that does not exist yet (one left by a killed run of a process
/// with the same id is not overwritten).
const NAME_ATTEMPTS: u32 = 16;

/// The longest file name most file systems accept (NAME_MAX on Linux and macOS).
const NAME_MAX: usize = 255;

impl Staging {
    /// Staging for `output`, whose current permissions are `permissions`.
    fn new(output: &Path, permissions: Option<fs::Permissions>) -> Result<Staging> {
        let Some(name) = output.file_name() else {
            bail!("it does not name a file");
        };
        let dir = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(Staging {
            dir,
            name: name.to_owned(),
            output: output.to_path_buf(),
            permissions,
            temp: None,
            written: None,
        })
    }

    /// Writes the component (as text when `wat`) to a new staging file. On failure the file is
    /// removed.
    fn write(&mut self, component: &[u8], wat: bool) -> Result<()> {
        let data = contents(component, wat)?;
        let (mut file, temp) = self.create()?;
        let written = self
            .permissions
            .as_ref()
            .map_or(Ok(()), |p| file.set_permissions(p.clone()))
            .and_then(|()| file.write_all(&data))
            .with_context(|| format!("cannot write the staging file `{}`", temp.display()));
        self.temp = Some(temp);
        if written.is_err() {
            self.discard();
        }
        written
    }

    /// Creates the staging file under the first name that is free.
    fn create(&self) -> Result<(File, PathBuf)> {
        let pid = std::process::id();
        let mut attempt = 0;
        loop {
            let temp = self.dir.join(staging_name(&self.name, pid, attempt));
            // Before the file exists, so that a signal arriving any time after removes it.
            signals::set_staging(&temp);
            match OpenOptions::new().write(true).create_new(true).open(&temp) {
                Ok(file) => return Ok((file, temp)),
                Err(e) if e.kind() == ErrorKind::AlreadyExists && attempt + 1 < NAME_ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => {
                    signals::clear_staging();
                    return Err(e).with_context(|| {
                        format!("cannot create the staging file `{}`", temp.display())
                    });
                }
            }
        }
    }

    /// Moves the staging file over the output; on failure the staging file is removed.
    fn commit(&mut self) -> Result<()> {
        let Some(temp) = &self.temp else {
            bail!("the component was not staged");
        };
        let renamed = fs::rename(temp, &self.output)
            .with_context(|| format!("cannot rename `{}` to it", temp.display()));
        match renamed {
            Ok(()) => {
                self.temp = None;
                signals::clear_staging();
            }
            Err(_) => self.discard(),
        }
        renamed
    }

    /// Removes the staging file, if it was created.
    fn discard(&mut self) {
        if let Some(temp) = self.temp.take() {
            // A failure leaves a dot-file behind, which is harmless.
            let _ = fs::remove_file(temp);
        }
        signals::clear_staging();
    }
}

/// The staging file's name for an output named `name`: `.NAME.weld-PID.tmp` on the first
/// attempt, `.NAME.weld-PID-N.tmp` on attempt N; NAME is shortened (to whole characters when it
/// is UTF-8) so that the whole fits in [`NAME_MAX`] bytes.
fn staging_name(name: &OsStr, pid: u32, attempt: u32) -> OsString {
    let suffix = match attempt {
        0 => format!(".weld-{pid}.tmp"),
        n => format!(".weld-{pid}-{n}.tmp"),
    };
    let mut staging = OsString::from(".");
    staging.push(shorten(name, NAME_MAX - 1 - suffix.len()));
    staging.push(suffix);
    staging
}

/// `name`, cut to at most `max` bytes.
fn shorten(name: &OsStr, max: usize) -> OsString {
    if name.len() <= max {
        return name.to_owned();
    }
    if let Some(text) = name.to_str() {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        return OsString::from(text.get(..cut).unwrap_or_default());
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        OsString::from_vec(name.as_bytes().get(..max).unwrap_or_default().to_vec())
    }
    #[cfg(not(unix))]
    {
        shorten(OsStr::new(&*name.to_string_lossy()), max)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_fit_name_max() {
        let long = "é".repeat(200);
        for (name, attempt) in [("app.wasm", 0), (long.as_str(), 0), (long.as_str(), 15)] {
            let staging = staging_name(OsStr::new(name), u32::MAX, attempt);
            assert!(staging.len() <= NAME_MAX, "{}", staging.len());
            assert!(staging.to_str().is_some());
        }
        assert_eq!(
            staging_name(OsStr::new("app.wasm"), 42, 0),
            ".app.wasm.weld-42.tmp"
        );
        assert_eq!(
            staging_name(OsStr::new("app.wasm"), 42, 3),
            ".app.wasm.weld-42-3.tmp"
        );
    }
}

//! Printing that neither panics nor fails a command: when stdout or stderr cannot be written
//! (typically a pipe whose reader has exited, as in `weld inspect … | head`), printing to it
//! stops there and the command goes on.

use std::fmt::Display;
use std::io::Write;

/// Writes `text` to stdout; a failed write ends the printing.
pub(crate) fn stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Writes each of `lines` to stderr on a line of its own, after `prefix`; a failed write ends
/// the printing.
pub(crate) fn stderr_lines<T: Display>(prefix: &str, lines: impl IntoIterator<Item = T>) {
    let mut err = std::io::stderr().lock();
    for line in lines {
        if writeln!(err, "{prefix}{line}").is_err() {
            return;
        }
    }
}

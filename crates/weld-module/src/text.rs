//! Input-derived text in messages: library, module and symbol names come from the inputs and may
//! hold any character. [`escape`] makes them safe to print: control characters (a newline that
//! would fake a line of output, an escape sequence that would drive the terminal) are shown as
//! `\u{…}` escapes.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `s` with every control character written as a `\u{…}` escape; `s` itself when it has none.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("libc.so"), "libc.so");
        assert_eq!(escape("a\nb\u{1b}[2J\u{7f}"), "a\\u{a}b\\u{1b}[2J\\u{7f}");
    }
}

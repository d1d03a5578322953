//! The first eight bytes: is this a WebAssembly core module at all, and if not, what is it?

use crate::ParseErrorKind;
use crate::parse::Ctx;

/// The first four bytes of every WebAssembly binary.
const MAGIC: &[u8] = b"\0asm";

/// How messages describe [`MAGIC`].
const MAGIC_TEXT: &str = "the magic bytes 00 61 73 6d (\"\\0asm\")";

/// The message for a component given where a core module is expected.
pub(crate) const COMPONENT: &str =
    "a WebAssembly component, not a core module; expected a core module (a dynamic library)";

/// Rejects inputs that are not WebAssembly core modules with a message that leads with what the
/// input is (an empty file, an ELF file, WebAssembly text, a component, …) and then says what was
/// expected (wasmparser's own messages dump the magic bytes as multi-line arrays).
pub(crate) fn check(cx: &Ctx<'_>, bytes: &[u8]) -> Result<(), crate::ParseError> {
    if bytes.is_empty() {
        return Err(cx.err(
            None,
            ParseErrorKind::Empty,
            "an empty file (0 bytes), not a WebAssembly module",
        ));
    }
    let head = bytes.get(..MAGIC.len()).unwrap_or(bytes);
    if !MAGIC.starts_with(head) {
        return Err(cx.err(
            Some(0),
            ParseErrorKind::NotWebAssembly,
            not_webassembly(bytes, head),
        ));
    }
    if bytes.len() < 8 {
        return Err(cx.err(
            Some(bytes.len() as u64),
            ParseErrorKind::Truncated,
            format!(
                "a truncated WebAssembly module: the input ends inside the 8-byte header ({} bytes)",
                bytes.len()
            ),
        ));
    }
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .and_then(|v| <[u8; 2]>::try_from(v).ok())
            .map_or(0, u16::from_le_bytes)
    };
    let (version, layer) = (u16_at(4), u16_at(6));
    match (layer, version) {
        (0, 1) => Ok(()),
        (0, _) => Err(cx.err(
            Some(4),
            ParseErrorKind::UnsupportedVersion(version),
            format!(
                "a WebAssembly module of binary version {version}; expected version 1, the only one weld reads"
            ),
        )),
        (1, _) => Err(cx.err(Some(0), ParseErrorKind::Component, COMPONENT)),
        _ => Err(cx.err(
            Some(6),
            ParseErrorKind::UnsupportedVersion(version),
            format!(
                "a WebAssembly binary of unknown layer {layer} (version {version}); expected a core module (layer 0, version 1)"
            ),
        )),
    }
}

/// The message for `bytes`, which do not start with [`MAGIC`]; `head` is their first bytes.
fn not_webassembly(bytes: &[u8], head: &[u8]) -> String {
    if is_webassembly_text(bytes) {
        return format!(
            "WebAssembly text, not a binary module; expected the binary format, which starts with {MAGIC_TEXT} (convert the text first, e.g. with `wasm-tools parse`)"
        );
    }
    let what = if bytes.starts_with(b"\x7fELF") {
        elf_kind(bytes)
    } else if bytes.starts_with(b"!<arch>\n") {
        "an ar archive (a static library)"
    } else {
        "a file of unknown format"
    };
    let found: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{what}, not a WebAssembly module: it starts with {}, not with {MAGIC_TEXT}",
        found.join(" ")
    )
}

/// What an ELF file is, from the `e_type` field of its header.
fn elf_kind(bytes: &[u8]) -> &'static str {
    // e_ident[EI_DATA] (byte 5) is 2 for big-endian files; e_type is the u16 at byte 16.
    let big_endian = bytes.get(5) == Some(&2);
    let e_type = bytes
        .get(16..18)
        .and_then(|v| <[u8; 2]>::try_from(v).ok())
        .map(|v| {
            if big_endian {
                u16::from_be_bytes(v)
            } else {
                u16::from_le_bytes(v)
            }
        });
    match e_type {
        Some(1) => "an ELF object file (native code)",
        Some(2) => "an ELF executable (a native program)",
        Some(3) => "an ELF shared object (a native library)",
        _ => "an ELF file (native code)",
    }
}

/// Whether `bytes` look like WebAssembly text: they are UTF-8 and, after white space and
/// comments (`;; …` to the end of the line, `(; … ;)` nested), start with `(`.
///
/// This only looks at how the text starts; whether it is valid WAT is for a WAT parser to say.
///
/// ```
/// assert!(weld_module::is_webassembly_text(b";; a library\n(module)"));
/// assert!(weld_module::is_webassembly_text(b"(; block ;) (module)"));
/// assert!(!weld_module::is_webassembly_text(b"\x7fELF"));
/// assert!(!weld_module::is_webassembly_text(b""));
/// ```
pub fn is_webassembly_text(bytes: &[u8]) -> bool {
    let Ok(mut rest) = std::str::from_utf8(bytes) else {
        return false;
    };
    loop {
        rest = rest.trim_start();
        if let Some(comment) = rest.strip_prefix(";;") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
        } else if rest.starts_with("(;") {
            match after_block_comment(rest) {
                Some(after) => rest = after,
                None => return false,
            }
        } else {
            return rest.starts_with('(');
        }
    }
}

/// What follows the block comment `text` starts with (comments nest), or `None` when it is not
/// closed.
fn after_block_comment(text: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut rest = text;
    loop {
        let close = rest.find(";)")?;
        match rest.find("(;") {
            Some(open) if open < close => {
                depth += 1;
                rest = rest.get(open + 2..)?;
            }
            _ => {
                depth = depth.checked_sub(1)?;
                rest = rest.get(close + 2..)?;
                if depth == 0 {
                    return Some(rest);
                }
            }
        }
    }
}

//! The first eight bytes: is this a WebAssembly core module at all?

use crate::ParseErrorKind;
use crate::parse::Ctx;

/// Rejects inputs that are not WebAssembly binaries at all with a message that says what they
/// look like (wasmparser's own messages dump the magic bytes as multi-line arrays).
pub(crate) fn check(cx: &Ctx<'_>, bytes: &[u8]) -> Result<(), crate::ParseError> {
    const MAGIC: &[u8] = b"\0asm";
    if bytes.is_empty() {
        return Err(cx.err(
            None,
            ParseErrorKind::Empty,
            "the input is empty (0 bytes); expected a WebAssembly module",
        ));
    }
    let head = bytes.get(..MAGIC.len()).unwrap_or(bytes);
    if !MAGIC.starts_with(head) {
        let found: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
        let text = bytes.trim_ascii_start();
        let hint = if bytes.starts_with(b"\x7fELF") {
            " (an ELF file: a native library, not a WebAssembly one?)"
        } else if text.starts_with(b"(") || text.starts_with(b";;") {
            " (WebAssembly text? weld links binary modules)"
        } else {
            ""
        };
        return Err(cx.err(
            Some(0),
            ParseErrorKind::NotWebAssembly,
            format!(
                "not a WebAssembly module: it starts with {}{hint}, not with the magic bytes 00 61 73 6d (\"\\0asm\")",
                found.join(" ")
            ),
        ));
    }
    if bytes.len() < 8 {
        return Err(cx.err(
            Some(bytes.len() as u64),
            ParseErrorKind::Truncated,
            format!(
                "the input ends inside the 8-byte module header ({} bytes)",
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
    if layer == 0 && version != 1 {
        return Err(cx.err(
            Some(4),
            ParseErrorKind::UnsupportedVersion(version),
            format!("unsupported binary version {version} (weld reads version 1 core modules)"),
        ));
    }
    Ok(())
}

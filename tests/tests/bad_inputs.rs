//! Bad inputs ("no panic on any input", part 2): a corpus of malformed, unsupported and
//! inconsistent libraries, each linked through the whole pipeline (`weld_tests::weld_link`).
//!
//! Every case asserts a specific outcome — the error variant and its message text, or a successful
//! link — except the random and fuzz inputs, where the only thing that can be asserted is that
//! weld returns (`Ok` or `Err`) instead of panicking. Panics are caught with `catch_unwind` and
//! reported as failures naming the case.
//!
//! `tests/bad-inputs/` holds input files; every file there is picked up by [`corpus_directory`]:
//!
//! - `fuzz-*`: reproducers dropped by a fuzzer; they must not make weld panic (alone, or linked
//!   together with the fixture program);
//! - any other `NAME` must come with `NAME.expect`, holding the exact message of linking `NAME`
//!   alone (as a library named `NAME`), or `ok` when that link must succeed;
//! - `README.md` describes the directory and is not an input.

use std::panic::{AssertUnwindSafe, catch_unwind};

use weld_component::{LinkError, Linked};
use weld_module::Library;
use weld_tests::{PROGRAM, Running, fixture, repo_root, weld_link};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The text of a panic payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

/// Runs `f`; a panic becomes `Err(panic message)`.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_text(&*p))
}

/// Links `libs` with weld; a panic fails the test, naming `case`.
fn link(case: &str, libs: &[(&str, Vec<u8>)]) -> Result<Linked, LinkError> {
    guarded(|| weld_link(libs)).unwrap_or_else(|p| panic!("case `{case}`: weld panicked: {p}"))
}

/// Parses one library; a panic fails the test, naming `case`.
fn parse<'a>(
    case: &str,
    name: &'a str,
    bytes: &'a [u8],
) -> Result<Library<'a>, weld_module::ParseError> {
    guarded(|| Library::parse(name, bytes))
        .unwrap_or_else(|p| panic!("case `{case}`: Library::parse panicked: {p}"))
}

/// Links `libs` (a panic fails, naming `case`); an error must not be `LinkError::Invalid`, which
/// claims that weld produced an invalid component from valid inputs.
fn checked_link(case: &str, libs: &[(&str, Vec<u8>)]) -> Result<Linked, LinkError> {
    let linked = link(case, libs);
    if let Err(LinkError::Invalid(e)) = &linked {
        panic!("case `{case}`: weld produced an invalid component: {e}");
    }
    linked
}

/// Links `libs`, which must fail; returns the error.
fn link_err(case: &str, libs: &[(&str, Vec<u8>)]) -> LinkError {
    match link(case, libs) {
        Ok(_) => panic!("case `{case}`: the link succeeded, expected an error"),
        Err(e) => e,
    }
}

/// Asserts that linking `libs` fails with exactly `expected` as the message.
fn assert_link_error(case: &str, libs: &[(&str, Vec<u8>)], expected: &str) -> LinkError {
    let err = link_err(case, libs);
    assert_eq!(err.to_string(), expected, "case `{case}`");
    err
}

/// Asserts that linking the one library `bytes` named `name` fails to parse with exactly
/// `message` at byte offset `offset`, both from `Library::parse` and through the whole link.
fn assert_parse_error(case: &str, name: &str, bytes: Vec<u8>, offset: Option<u64>, message: &str) {
    let err = parse(case, name, &bytes).expect_err(case);
    assert_eq!(
        (err.offset, err.message.as_str()),
        (offset, message),
        "case `{case}`"
    );
    let expected = match offset {
        Some(o) => format!("malformed input: {name}: at byte offset {o:#x}: {message}"),
        None => format!("malformed input: {name}: {message}"),
    };
    let err = assert_link_error(case, &[(name, bytes)], &expected);
    assert!(matches!(err, LinkError::Parse(_)), "case `{case}`: {err:?}");
}

/// The number in `text`, which must be exactly `prefix`, a decimal number and `suffix`.
fn number_between(text: &str, prefix: &str, suffix: &str) -> u64 {
    text.strip_prefix(prefix)
        .and_then(|t| t.strip_suffix(suffix))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected `{prefix}<number>{suffix}`, got `{text}`"))
}

/// Asserts that linking fails in resolution with exactly `expected`.
fn assert_resolve_error(case: &str, libs: &[(&str, Vec<u8>)], expected: &str) {
    let err = assert_link_error(case, libs, expected);
    assert!(
        matches!(err, LinkError::Resolve(_)),
        "case `{case}`: {err:?}"
    );
}

/// A module from the WAT text of its fields.
fn wat(fields: &str) -> Vec<u8> {
    wat::parse_str(format!("(module {fields})"))
        .unwrap_or_else(|e| panic!("bad test WAT: {e}\n{fields}"))
}

/// The imports every dynamic library has.
const ABI: &str = r#"
    (import "env" "memory" (memory 0))
    (import "env" "__indirect_function_table" (table 0 funcref))
    (import "env" "__stack_pointer" (global (mut i32)))
    (import "env" "__memory_base" (global i32))
    (import "env" "__table_base" (global i32))
"#;

/// Makes a library a pruning root without a WIT world: it is a command.
const START: &str = r#"(func (export "_start"))"#;

/// A library: `dylink.0` annotations, the ABI imports, then `fields`.
fn dylib(dylink: &str, fields: &str) -> Vec<u8> {
    wat(&format!("(@dylink.0 {dylink}) {ABI} {fields}"))
}

fn leb(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// A custom section with `payload` (the bytes after the name).
fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = leb(name.len() as u64);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = vec![0];
    out.extend(leb(body.len() as u64));
    out.extend(body);
    out
}

/// A `dylink.0` subsection.
fn subsection(id: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(leb(content.len() as u64));
    out.extend_from_slice(content);
    out
}

const HEADER: &[u8] = b"\0asm\x01\0\0\0";

/// Offset of the first byte of a `dylink.0` payload of fewer than 128 bytes placed right after
/// the header: header (8), section id (1), size (1), name length (1), "dylink.0" (8).
const DYLINK_PAYLOAD: u64 = 19;

/// A library whose first section is a hand-built `dylink.0` with `payload`, followed by the
/// sections of the WAT module `fields`.
fn with_dylink(payload: &[u8], fields: &str) -> Vec<u8> {
    assert!(
        payload.len() < 100,
        "DYLINK_PAYLOAD assumes a one-byte size"
    );
    let rest = wat(fields);
    let mut out = HEADER.to_vec();
    out.extend(custom_section("dylink.0", payload));
    out.extend_from_slice(&rest[HEADER.len()..]);
    out
}

/// Appends a custom section to a module.
fn append_custom(mut wasm: Vec<u8>, name: &str, payload: &[u8]) -> Vec<u8> {
    wasm.extend(custom_section(name, payload));
    wasm
}

/// Embeds the world `world` of the WIT package `wit` as a `component-type` section.
fn with_world(wasm: Vec<u8>, wit: &str, world: &str) -> Vec<u8> {
    weld_tests::embed_world(wasm, wit, world)
}

/// The fixture program: (name, bytes) in dependency order.
fn program() -> Vec<(&'static str, Vec<u8>)> {
    PROGRAM.iter().map(|n| (*n, fixture(n))).collect()
}

/// A deterministic PRNG (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Sizes of random inputs: every size up to 64, then some larger ones.
fn random_sizes() -> impl Iterator<Item = usize> {
    (0..=64).chain([65, 100, 127, 128, 200, 255, 256, 1000, 4096, 65536])
}

/// Failures collected over many cases, reported together.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    /// Runs `f` for `case`; a panic (or a failed assertion inside `f`) is recorded.
    fn run(&mut self, case: &str, f: impl FnOnce()) {
        if let Err(p) = guarded(f) {
            self.0.push(format!("{case}: {p}"));
        }
    }

    fn finish(self, what: &str) {
        if !self.0.is_empty() {
            let shown: Vec<&String> = self.0.iter().take(40).collect();
            panic!(
                "{} failures in {what}:\n{}",
                self.0.len(),
                shown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Random bytes, empty input, components
// ---------------------------------------------------------------------------------------------

/// Random bytes of many sizes: without the magic header they are always a parse error; after a
/// valid header (so the section parser sees them) anything but a panic is acceptable.
#[test]
fn random_bytes_never_panic() {
    let mut failures = Failures::default();
    let mut rng = Rng(0x5eed_0001);
    for size in random_sizes() {
        for round in 0..4 {
            let bytes = rng.bytes(size);
            let case = format!("random {size} bytes #{round}");
            failures.run(&case, || {
                let parsed = parse(&case, "librandom.so", &bytes);
                // 4 random bytes equal to "\0asm" would be a 1 in 2^32 coincidence; the seed is
                // fixed, so this is deterministic.
                let err = parsed.expect_err("random bytes parsed as a module");
                assert_eq!(err.offset.is_some(), size > 0, "{err}");
                assert!(
                    size == 0
                        || err.message.starts_with(
                            "a file of unknown format, not a WebAssembly module: it starts with "
                        ),
                    "{err}"
                );
                let linked = checked_link(&case, &[("librandom.so", bytes.clone())]);
                assert!(matches!(linked, Err(LinkError::Parse(_))), "{linked:?}");
            });
            let mut with_header = HEADER.to_vec();
            with_header.extend_from_slice(&bytes);
            let case = format!("header + random {size} bytes #{round}");
            failures.run(&case, || {
                let _ = parse(&case, "librandom.so", &with_header);
                let mut libs = program();
                libs.push(("librandom.so", with_header.clone()));
                let _ = checked_link(&case, &libs);
            });
        }
    }
    failures.finish("random inputs");
}

/// Structure-aware random modules: a valid header, then sections with real ids and consistent
/// sizes but random contents (random `dylink.0` payloads among them), linked alone and with the
/// fixture program. Only "no panic" can be asserted.
#[test]
fn random_sections_never_panic() {
    let mut failures = Failures::default();
    let mut rng = Rng(0x5eed_0002);
    for round in 0..1500 {
        let mut wasm = HEADER.to_vec();
        let sections = 1 + rng.below(4);
        for _ in 0..sections {
            let len = rng.below(48);
            let content = rng.bytes(len);
            match rng.below(4) {
                0 => wasm.extend(custom_section("dylink.0", &content)),
                1 => wasm.extend(custom_section("component-type", &content)),
                _ => {
                    wasm.push(rng.below(14) as u8);
                    wasm.extend(leb(len as u64));
                    wasm.extend(content);
                }
            }
        }
        let case = format!("random sections #{round}");
        failures.run(&case, || {
            let _ = parse(&case, "librandom.so", &wasm);
            let _ = checked_link(&case, &[("librandom.so", wasm.clone())]);
            let mut libs = program();
            libs.push(("librandom.so", wasm.clone()));
            let _ = checked_link(&case, &libs);
        });
    }
    failures.finish("random sections");
}

/// Random `dylink.0` subsections (known ids with random contents) in an otherwise valid library
/// that is a root.
#[test]
fn random_dylink_subsections_never_panic() {
    let mut failures = Failures::default();
    let mut rng = Rng(0x5eed_0003);
    let fields = format!("{ABI} {START}");
    for round in 0..2000 {
        let mut payload = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let len = rng.below(12);
            let content = rng.bytes(len);
            payload.extend(subsection(1 + rng.below(7) as u8, &content));
        }
        payload.truncate(99);
        let wasm = with_dylink(&payload, &fields);
        let case = format!("random dylink.0 #{round} {payload:02x?}");
        failures.run(&case, || {
            let _ = parse(&case, "librandom.so", &wasm);
            let _ = checked_link(&case, &[("librandom.so", wasm.clone())]);
        });
    }
    failures.finish("random dylink.0 subsections");
}

/// Random bytes as the `component-type` section of a root-to-be: the world does not decode.
#[test]
fn random_component_type_is_a_world_error() {
    let mut failures = Failures::default();
    let mut rng = Rng(0x5eed_0004);
    for size in random_sizes().take_while(|&s| s <= 4096) {
        let payload = rng.bytes(size);
        let wasm = append_custom(dylib("", ""), "component-type", &payload);
        let case = format!("random component-type of {size} bytes");
        failures.run(&case, || {
            let err = checked_link(&case, &[("libworld.so", wasm.clone())]).expect_err("linked");
            assert!(matches!(err, LinkError::World(_)), "{err:?}");
            assert!(
                err.to_string().starts_with(
                    "library `libworld.so`: its component-type section does not decode: "
                ),
                "{err}"
            );
        });
    }
    failures.finish("random component-type sections");
}

/// Random mutations of each fixture library (1 to 4 edits: a byte overwritten, inserted or removed,
/// or a bit flipped), linked in place of the original with the rest of the program. Beyond "no
/// panic", weld must not claim to have produced an invalid component ([`checked_link`]): a mutated
/// library that does not validate is `InvalidInput`.
#[test]
fn mutated_fixtures_never_panic() {
    let mut failures = Failures::default();
    let mut rng = Rng(0x5eed_0005);
    for name in all_fixtures() {
        let original = fixture(name);
        for round in 0..400 {
            let mut bytes = original.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len());
                match rng.below(4) {
                    0 => bytes[at] = rng.next() as u8,
                    1 => bytes.insert(at, rng.next() as u8),
                    2 => {
                        bytes.remove(at);
                    }
                    _ => bytes[at] ^= 1 << rng.below(8),
                }
            }
            let case = format!("{name} mutated #{round}");
            failures.run(&case, || {
                let _ = parse(&case, name, &bytes);
                let _ = checked_link(&case, &program_with(name, bytes.clone()));
            });
        }
    }
    failures.finish("mutated fixtures");
}

#[test]
fn empty_file() {
    assert_parse_error(
        "empty file",
        "libempty.so",
        Vec::new(),
        None,
        "an empty file (0 bytes), not a WebAssembly module",
    );
}

#[test]
fn component_instead_of_module() {
    let component = wat::parse_str("(component (core module))").unwrap();
    assert_parse_error(
        "component",
        "libcomponent.so",
        component,
        Some(0),
        "a WebAssembly component, not a core module; expected a core module (a dynamic library)",
    );
}

// ---------------------------------------------------------------------------------------------
// Truncated libraries
// ---------------------------------------------------------------------------------------------

/// Every fixture library, in program order, then the unused one.
fn all_fixtures() -> Vec<&'static str> {
    let mut names = PROGRAM.to_vec();
    names.push("libunused.so");
    names
}

/// The offsets at which a module can be cut and still be a module: right after the header and
/// after each section.
fn section_ends(wasm: &[u8]) -> std::collections::BTreeSet<usize> {
    let mut ends = std::collections::BTreeSet::from([HEADER.len()]);
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.unwrap_or_else(|e| panic!("fixture does not parse: {e}"));
        if let Some((_, range)) = payload.as_section() {
            ends.insert(range.end as usize);
        }
    }
    ends
}

/// The program with `name` replaced by (or, if absent, extended with) `bytes`.
fn program_with(name: &'static str, bytes: Vec<u8>) -> Vec<(&'static str, Vec<u8>)> {
    let mut libs = program();
    match libs.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = bytes,
        None => libs.push((name, bytes)),
    }
    libs
}

/// What wasmparser says about a module cut between its function and code sections.
const NO_CODE: &str = "function section has non-zero count but code section is absent";

/// Each fixture cut at every byte offset: a cut that is not at a section boundary is a parse
/// error naming the library, with an offset inside the input, and linking the program with the
/// cut library reports exactly that error. A cut at a section boundary parses, unless it drops
/// the code section of a library with functions ([`NO_CODE`]).
#[test]
fn truncated_at_every_byte() {
    let mut failures = Failures::default();
    for name in all_fixtures() {
        let bytes = fixture(name);
        let ends = section_ends(&bytes);
        assert_eq!(ends.last(), Some(&bytes.len()), "{name}");
        for len in 0..=bytes.len() {
            let cut = bytes[..len].to_vec();
            let case = format!("{name} cut to {len} of {} bytes", bytes.len());
            failures.run(&case, || {
                let parsed = parse(&case, name, &cut);
                let linked = checked_link(&case, &program_with(name, cut.clone()));
                match parsed {
                    Ok(_) => {
                        assert!(
                            ends.contains(&len),
                            "parsed, but {len} is not a section end"
                        );
                    }
                    Err(e) => {
                        if ends.contains(&len) {
                            assert_eq!(e.message, NO_CODE, "{len} is a section end");
                        }
                        assert_eq!(e.library, name);
                        match e.offset {
                            Some(at) => assert!(at <= len as u64, "offset past the end: {e}"),
                            None => assert_eq!(len, 0, "no offset: {e}"),
                        }
                        match &linked {
                            Err(LinkError::Parse(errors)) => {
                                assert_eq!(errors, std::slice::from_ref(&e))
                            }
                            other => panic!("expected the parse error {e}, got {other:?}"),
                        }
                        assert_eq!(
                            linked.err().map(|l| l.to_string()),
                            Some(format!("malformed input: {e}"))
                        );
                    }
                }
            });
        }
    }
    failures.finish("truncated fixtures");
}

/// Each fixture cut at every section boundary: the cut module parses, and linking it in place of
/// the original either succeeds or reports unresolved symbols; or the cut drops the code section
/// and it is a [`NO_CODE`] parse error. The complete library links and runs.
#[test]
fn truncated_at_section_boundaries() {
    let mut failures = Failures::default();
    for name in all_fixtures() {
        let bytes = fixture(name);
        for len in section_ends(&bytes) {
            let cut = bytes[..len].to_vec();
            let case = format!("{name} cut after the section ending at {len}");
            failures.run(&case, || {
                let parsed = parse(&case, name, &cut);
                let linked = checked_link(&case, &program_with(name, cut.clone()));
                match parsed {
                    // A shorter library misses exports the others import, or nothing at all.
                    Ok(lib) => {
                        assert_eq!(lib.bytes.len(), len);
                        // (Without its WIT world, libmain.so is no root, and the component would
                        // export nothing.)
                        assert!(
                            matches!(
                                linked,
                                Ok(_) | Err(LinkError::Resolve(_) | LinkError::NothingExported(_))
                            ),
                            "{linked:?}"
                        );
                    }
                    Err(e) => {
                        assert_eq!(e.message, NO_CODE);
                        assert!(matches!(linked, Err(LinkError::Parse(_))), "{linked:?}");
                    }
                }
                if len == bytes.len() {
                    let linked = linked.unwrap_or_else(|e| panic!("complete library: {e}"));
                    let mut run = Running::new(&linked.component).unwrap();
                    assert_eq!(run.call_s32("app-counter", &[]).unwrap(), 101);
                }
            });
        }
    }
    failures.finish("fixtures cut at section boundaries");
}

/// The offsets of the first operator of each function body of `wasm`.
fn body_offsets(wasm: &[u8]) -> Vec<u64> {
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .filter_map(|p| match p.unwrap() {
            wasmparser::Payload::CodeSectionEntry(body) => {
                Some(body.get_operators_reader().unwrap().original_position())
            }
            _ => None,
        })
        .collect()
}

/// weld's parser does not read function bodies; a library whose code does not validate is caught
/// by validation — and then the error must blame the library, not weld.
#[test]
fn invalid_library_code_blames_the_library() {
    let wasm = dylib("", r#"(func (export "_start") i32.add)"#);
    // The offset of the `i32.add`.
    let at = body_offsets(&wasm)[0];
    let err = link_err("invalid code", &[("libinvalid.so", wasm)]);
    assert!(matches!(err, LinkError::InvalidInput(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "library `libinvalid.so` is not a valid WebAssembly module: at byte offset {at:#x}: type mismatch: expected i32 but nothing on stack"
        )
    );
}

/// Every kept library whose code does not validate is named at once, each with its first error;
/// a pruned library's code does not matter (it is not in the output).
#[test]
fn invalid_code_is_reported_for_every_kept_library_and_not_for_pruned_ones() {
    let a = dylib(
        r#"(needed "libb.so")"#,
        r#"(func (export "_start") f32.const 1 i32.eqz drop)"#,
    );
    let b = dylib("", r#"(func (export "b") i64.const 1 i32.eqz drop)"#);
    let unused = dylib("", r#"(func (export "unused") i32.add)"#);
    let (at_a, at_b) = (body_offsets(&a)[0] + 5, body_offsets(&b)[0] + 2);
    let err = link_err(
        "two invalid kept libraries",
        &[
            ("liba.so", a.clone()),
            ("libunused.so", unused.clone()),
            ("libb.so", b),
        ],
    );
    assert!(matches!(err, LinkError::InvalidInput(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "library `liba.so` is not a valid WebAssembly module: at byte offset {at_a:#x}: type mismatch: expected i32, found f32\n\
             library `libb.so` is not a valid WebAssembly module: at byte offset {at_b:#x}: type mismatch: expected i32, found i64"
        )
    );

    // The same invalid library, unused: pruned, and the link succeeds.
    let linked = link(
        "invalid but pruned",
        &[("liba.so", dylib("", START)), ("libunused.so", unused)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        linked
            .report
            .libraries
            .iter()
            .filter(|l| l.kept.is_some())
            .count(),
        1
    );
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&linked.component)
        .unwrap();
}

/// Bodies are checked in batches on several threads; whatever the scheduling, the error
/// reported for a library is its first one (lowest offset), here in the first of many bodies
/// with another invalid body more than a megabyte later.
#[test]
fn the_first_invalid_body_of_a_large_library_is_reported() {
    let filler = "i32.const 0 drop ".repeat(2000);
    let mut fields = String::from(r#"(func (export "_start") i32.const 0 i64.eqz drop)"#);
    for i in 0..200 {
        fields.push_str(&format!(r#"(func (export "f{i}") {filler})"#));
    }
    fields.push_str(r#"(func (export "last") f64.const 0 i32.eqz drop)"#);
    let wasm = dylib("", &fields);
    assert!(wasm.len() > 1_000_000);
    let at = body_offsets(&wasm)[0] + 2;
    for round in 0..5 {
        let err = link_err("large invalid", &[("libbig.so", wasm.clone())]);
        assert_eq!(
            err.to_string(),
            format!(
                "library `libbig.so` is not a valid WebAssembly module: at byte offset {at:#x}: type mismatch: expected i64, found i32"
            ),
            "round {round}"
        );
    }
}

/// `Linker::encode_with` hands out the bytes that `encode` returns; when an input then turns out
/// to be invalid, the link fails after the hand-out.
#[test]
fn encode_with_hands_out_the_component_before_validation_ends() {
    let mut linker = weld_component::Linker::default();
    for (name, bytes) in program() {
        linker.library(name, bytes);
    }
    let mut early = None;
    let linked = linker
        .encode_with(|bytes| early = Some(bytes.to_vec()))
        .unwrap();
    assert_eq!(early.as_deref(), Some(linked.component.as_slice()));
    assert_eq!(linker.encode().unwrap().component, linked.component);

    let mut linker = weld_component::Linker::default();
    linker.library(
        "libinvalid.so",
        dylib("", r#"(func (export "_start") i32.add)"#),
    );
    let mut called = false;
    let err = linker.encode_with(|_| called = true).unwrap_err();
    assert!(matches!(err, LinkError::InvalidInput(_)), "{err:?}");
    assert!(called);

    // No component, no hand-out.
    let mut linker = weld_component::Linker::default();
    linker.library("libempty.so", b"\0asm".to_vec());
    let mut called = false;
    assert!(linker.encode_with(|_| called = true).is_err());
    assert!(!called);
}

// ---------------------------------------------------------------------------------------------
// Malformed dylink.0
// ---------------------------------------------------------------------------------------------

/// Hand-built `dylink.0` payloads that do not parse: the error names the library and the byte
/// offset of the bad subsection or field.
#[test]
fn malformed_dylink_subsections() {
    let fields = format!("{ABI} {START}");
    // (case, payload, offset relative to the payload start, message)
    // (case, payload, offset relative to the payload start, message). wasmparser reports an
    // invalid string one byte into it.
    let cases: &[(&str, Vec<u8>, u64, &str)] = &[
        (
            // MEM_INFO declares 2 bytes: memory size and alignment; the table fields are missing
            // inside the subsection (a NEEDED subsection follows).
            "truncated MEM_INFO",
            [subsection(1, &[16, 2]), subsection(2, &[0])].concat(),
            4,
            "dylink.0 MEM_INFO subsection: unexpected end-of-file",
        ),
        (
            "subsection size past the end of the section",
            vec![1, 0x40, 0, 0, 0, 0],
            2,
            "dylink.0 MEM_INFO subsection: unexpected end-of-file",
        ),
        (
            "MEM_INFO memory size LEB too long",
            subsection(1, &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0, 0, 0]),
            6,
            "dylink.0 MEM_INFO subsection: invalid var_u32: integer representation too long",
        ),
        (
            "MEM_INFO memory size LEB over 32 bits",
            subsection(1, &[0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0]),
            6,
            "dylink.0 MEM_INFO subsection: invalid var_u32: integer too large",
        ),
        (
            "unterminated LEB at the end of the subsection",
            subsection(1, &[0, 0, 0, 0x80]),
            6,
            "dylink.0 MEM_INFO subsection: unexpected end-of-file",
        ),
        (
            "invalid UTF-8 in NEEDED",
            subsection(2, &[1, 2, 0xff, 0xfe]),
            5,
            "dylink.0 NEEDED subsection: malformed UTF-8 encoding",
        ),
        (
            "NEEDED count far beyond the data",
            subsection(2, &[0xff, 0xff, 0xff, 0xff, 0x0f, 1, b'a']),
            9,
            "dylink.0 NEEDED subsection: unexpected end-of-file",
        ),
        (
            "NEEDED string length past the subsection",
            subsection(2, &[1, 50, b'a']),
            4,
            "dylink.0 NEEDED subsection: unexpected end-of-file",
        ),
        (
            "invalid UTF-8 in TARGET_ARCH",
            subsection(6, &[2, 0xc3, 0x28]),
            4,
            "dylink.0 TARGET_ARCH subsection: malformed UTF-8 encoding",
        ),
        (
            "EXPORT_INFO flags LEB too long",
            subsection(3, &[1, 1, b'f', 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
            9,
            "dylink.0 EXPORT_INFO subsection: invalid var_u32: integer representation too long",
        ),
        (
            "IMPORT_INFO without its field name",
            subsection(4, &[1, 3, b'e', b'n', b'v']),
            7,
            "dylink.0 IMPORT_INFO subsection: unexpected end-of-file",
        ),
        (
            "subsection id that is not a u7",
            vec![0x80, 0],
            0,
            "dylink.0 subsection: invalid u7",
        ),
        (
            // weld-module's own check; the offset is that of the subsection.
            "MEM_INFO memory alignment 2^40",
            subsection(1, &[4, 40, 0, 0]),
            0,
            "dylink.0 MEM_INFO subsection: memory alignment 2^40 does not fit in 32 bits",
        ),
        (
            "MEM_INFO table alignment 2^32 after a NEEDED subsection",
            [subsection(2, &[0]), subsection(1, &[0, 0, 1, 32])].concat(),
            3,
            "dylink.0 MEM_INFO subsection: table alignment 2^32 does not fit in 32 bits",
        ),
    ];
    for (case, payload, rel, message) in cases {
        let wasm = with_dylink(payload, &fields);
        assert_parse_error(
            case,
            "libdylink.so",
            wasm,
            Some(DYLINK_PAYLOAD + rel),
            message,
        );
    }
}

/// A `dylink.0` custom section whose declared size runs past the end of the input.
#[test]
fn dylink_section_past_the_end() {
    let mut wasm = HEADER.to_vec();
    wasm.extend([0, 0x7f, 8]);
    wasm.extend(b"dylink.0");
    wasm.extend(subsection(1, &[0, 0, 0, 0]));
    assert_parse_error(
        "dylink.0 section past the end",
        "libdylink.so",
        wasm,
        Some(10),
        "unexpected end-of-file",
    );
}

/// Odd but readable `dylink.0` contents are warnings, not errors: the library links.
#[test]
fn dylink_oddities_are_warnings() {
    let fields = format!("{ABI} {START}");
    let unknown = with_dylink(&subsection(42, &[1, 2, 3]), &fields);
    let lib = parse("unknown subsection", "libodd.so", &unknown).unwrap();
    let [warning] = lib.warnings.as_slice() else {
        panic!("{:?}", lib.warnings)
    };
    assert_eq!(
        (warning.offset, warning.kind, warning.message.as_str()),
        (
            Some(DYLINK_PAYLOAD),
            weld_module::WarningKind::UnknownDylinkSubsection(42),
            "unknown dylink.0 subsection type 42 ignored"
        )
    );
    let linked = link("unknown subsection", &[("libodd.so", unknown)]).unwrap();
    assert!(
        linked.report.warnings.iter().any(|w| w
            .to_string()
            .contains("unknown dylink.0 subsection type 42 ignored")),
        "{:?}",
        linked.report.warnings
    );

    // dylink.0 after another section, and twice.
    let mut late = wat(&format!("{ABI} {START}"));
    late.extend(custom_section("dylink.0", &subsection(1, &[8, 2, 0, 0])));
    late.extend(custom_section("dylink.0", &subsection(2, &[0])));
    let lib = parse("late dylink.0", "liblate.so", &late).unwrap();
    let messages: Vec<&str> = lib.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "dylink.0 is not the first section of the module",
            "a second dylink.0 section; its subsections are merged",
            "dylink.0 is not the first section of the module",
        ]
    );
    assert_eq!(lib.mem_info.memory_size, 8);
    link("late dylink.0", &[("liblate.so", late)]).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Absurd MEM_INFO sizes
// ---------------------------------------------------------------------------------------------

fn sized(memory: u32, table: u32, root: bool) -> Vec<u8> {
    dylib(
        &format!("(mem-info (memory {memory} 0) (table {table} 0))"),
        if root { START } else { "" },
    )
}

#[test]
fn memory_size_overflows_the_layout() {
    // Two libraries of 0xffffffff bytes each: the first one placed (libb.so, which liba.so
    // needs, so it is instantiated first) already overflows.
    let libs = [
        (
            "liba.so",
            dylib(
                r#"(mem-info (memory 0xffffffff 0)) (needed "libb.so")"#,
                START,
            ),
        ),
        ("libb.so", sized(u32::MAX, 0, false)),
    ];
    let err = assert_link_error(
        "two libraries of 4 GiB - 1",
        &libs,
        "memory layout overflow: placing `libb.so` (4294967295 bytes of data at alignment 1) goes past the 4 GiB of a 32-bit memory",
    );
    assert!(matches!(err, LinkError::Synth(_)), "{err:?}");

    // Two halves of the memory: libb.so is placed, then liba.so overflows.
    let libs = [
        (
            "liba.so",
            dylib(
                r#"(mem-info (memory 0x80000000 0)) (needed "libb.so")"#,
                START,
            ),
        ),
        ("libb.so", sized(0x8000_0000, 0, false)),
    ];
    assert_link_error(
        "two libraries of 2 GiB",
        &libs,
        "memory layout overflow: placing `liba.so` (2147483648 bytes of data at alignment 1) goes past the 4 GiB of a 32-bit memory",
    );

    // Everything fits below 4 GiB, but the heap end rounded up to a page does not.
    let size = u32::MAX - (1 << 20) - 4;
    assert_link_error(
        "heap end past 4 GiB",
        &[("liba.so", sized(size, 0, true))],
        "memory layout overflow: the stack (1048576 bytes) and all libraries' data need 4294967296 bytes, more than a 32-bit memory holds",
    );
}

#[test]
fn table_size_overflows_the_layout() {
    // The message names the library whose table region crosses the limit. The exact count
    // includes the slots weld itself reserves (slot 0, and whatever else the layout needs), so
    // only its lower bound is asserted.
    let assert_table_overflow = |case: &str, libs: &[(&str, Vec<u8>)], library: &str, at_least| {
        let err = link_err(case, libs);
        assert!(matches!(err, LinkError::Synth(_)), "case `{case}`: {err:?}");
        let count = number_between(
            &err.to_string(),
            &format!(
                "table layout overflow: placing the table region of `{library}` (dylink.0 MEM_INFO) brings the table to "
            ),
            " slots, more than a 32-bit table index holds",
        );
        assert!(count >= at_least, "case `{case}`: {err}");
    };
    assert_table_overflow(
        "table of 2^32 - 1 slots",
        &[("liba.so", sized(0, u32::MAX, true))],
        "liba.so",
        1 << 32,
    );
    let libs = [
        (
            "liba.so",
            dylib(
                r#"(mem-info (table 0xffffffff 0)) (needed "libb.so")"#,
                START,
            ),
        ),
        ("libb.so", sized(0, u32::MAX, false)),
    ];
    // libb.so is placed first (liba.so needs it), and already crosses the limit.
    assert_table_overflow("two tables of 2^32 - 1 slots", &libs, "libb.so", 1 << 32);
}

// ---------------------------------------------------------------------------------------------
// ABI imports of the wrong kind or type
// ---------------------------------------------------------------------------------------------

/// The byte offsets of the imports `module.name` in `wasm`.
fn import_offsets(wasm: &[u8], module: &str, name: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let Ok(wasmparser::Payload::ImportSection(reader)) = payload {
            for item in reader.into_imports_with_offsets() {
                let (off, import) = item.unwrap();
                if import.module == module && import.name == name {
                    out.push(off);
                }
            }
        }
    }
    assert!(!out.is_empty(), "no import {module}.{name}");
    out
}

/// The byte offset of the (first) import `module.name` in `wasm`.
fn import_offset(wasm: &[u8], module: &str, name: &str) -> u64 {
    import_offsets(wasm, module, name)[0]
}

#[test]
fn abi_imports_of_the_wrong_kind_or_type() {
    // (import, expected kind, found)
    let cases = [
        (
            r#"(import "env" "memory" (func))"#,
            "env.memory",
            "a memory",
            "function [] -> []",
        ),
        (
            r#"(import "env" "memory" (global i32))"#,
            "env.memory",
            "a memory",
            "global i32",
        ),
        (
            r#"(import "env" "__stack_pointer" (global i32))"#,
            "env.__stack_pointer",
            "a mutable i32 global",
            "global i32",
        ),
        (
            r#"(import "env" "__stack_pointer" (global (mut i64)))"#,
            "env.__stack_pointer",
            "a mutable i32 global",
            "global mut i64",
        ),
        (
            r#"(import "env" "__memory_base" (global (mut i32)))"#,
            "env.__memory_base",
            "an immutable i32 global",
            "global mut i32",
        ),
        (
            r#"(import "env" "__table_base" (func (result i32)))"#,
            "env.__table_base",
            "an immutable i32 global",
            "function [] -> [i32]",
        ),
        (
            r#"(import "GOT.mem" "x" (func))"#,
            "GOT.mem.x",
            "an i32 global",
            "function [] -> []",
        ),
        (
            r#"(import "GOT.mem" "x" (global (mut i64)))"#,
            "GOT.mem.x",
            "an i32 global",
            "global mut i64",
        ),
        (
            r#"(import "GOT.func" "x" (memory 1))"#,
            "GOT.func.x",
            "an i32 global",
            "memory min 1 pages",
        ),
        (
            r#"(import "env" "__indirect_function_table" (table 0 externref))"#,
            "env.__indirect_function_table",
            "a funcref table",
            "table externref min 0",
        ),
        (
            r#"(import "env" "some_table" (table 0 funcref))"#,
            "env.some_table",
            "a function, global or tag",
            "table funcref min 0",
        ),
    ];
    for (import, full_name, kind, found) in cases {
        let wasm = wat(&format!("{import} {START}"));
        let (module, name) = full_name.rsplit_once('.').unwrap();
        let at = import_offset(&wasm, module, name);
        assert_parse_error(
            import,
            "libkind.so",
            wasm,
            Some(at),
            &format!("import `{full_name}` must be {kind}, found {found}"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Unsupported inputs
// ---------------------------------------------------------------------------------------------

#[test]
fn unsupported_inputs() {
    let cases = [
        (
            "memory64",
            wat(&format!(
                r#"(import "env" "memory" (memory i64 1)) {START}"#
            )),
            "library `libunsup.so`: a 64-bit memory (memory64) in `env.memory` is not supported",
        ),
        (
            "shared memory",
            wat(&format!(
                r#"(import "env" "memory" (memory 1 2 shared)) {START}"#
            )),
            "library `libunsup.so`: a shared memory in `env.memory` is not supported",
        ),
        (
            "classic TLS",
            dylib(
                "",
                &format!(r#"(import "env" "__tls_base" (global i32)) {START}"#),
            ),
            "library `libunsup.so`: classic thread-local storage (`env.__tls_base`) is not supported",
        ),
        (
            "own memory",
            wat(&format!("(memory 1) {START}")),
            "library `libunsup.so`: a library that defines its own memory (it must import `env.memory`) is not supported",
        ),
        (
            "TARGET_ARCH wasm64",
            with_dylink(
                &[subsection(1, &[0, 0, 0, 0]), subsection(6, b"\x06wasm64")].concat(),
                &format!("{ABI} {START}"),
            ),
            "library `libunsup.so`: target architecture `wasm64` (dylink.0 TARGET_ARCH; weld links wasm32) is not supported",
        ),
    ];
    for (case, wasm, expected) in cases {
        assert_resolve_error(case, &[("libunsup.so", wasm)], expected);
    }

    // TARGET_ARCH wasm32 is fine.
    let wasm32 = with_dylink(&subsection(6, b"\x06wasm32"), &format!("{ABI} {START}"));
    assert_eq!(
        parse("wasm32", "libarch.so", &wasm32).unwrap().target_arch,
        Some("wasm32")
    );
    link("TARGET_ARCH wasm32", &[("libarch.so", wasm32)]).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Re-exported memory and table
// ---------------------------------------------------------------------------------------------

/// A library that re-exports the memory and table it imports (as Rust cdylibs do) links and runs;
/// so does a root that re-exports them too.
#[test]
fn reexported_memory_and_table_link_and_run() {
    let reexport = wat(r#"
        (@dylink.0 (mem-info (memory 4 2)))
        (import "env" "memory" (memory $m 0))
        (import "env" "__indirect_function_table" (table $t 0 funcref))
        (import "env" "__memory_base" (global $mb i32))
        (export "memory" (memory $m))
        (export "__indirect_function_table" (table $t))
        (func (export "reexp_f") (result i32)
          global.get $mb
          i32.const 7
          i32.store
          global.get $mb
          i32.load)
    "#);
    let root = wat(r#"
        (@dylink.0 (needed "libreexport.so"))
        (import "env" "memory" (memory $m 0))
        (import "env" "__indirect_function_table" (table $t 0 funcref))
        (import "env" "reexp_f" (func $reexp_f (result i32)))
        (export "memory" (memory $m))
        (export "__indirect_function_table" (table $t))
        (func (export "f") (result i32)
          call $reexp_f
          i32.const 35
          i32.add)
    "#);
    let root = with_world(
        root,
        "package t:t; world w { export f: func() -> s32; }",
        "w",
    );
    for libs in [
        vec![
            ("libreexport.so", reexport.clone()),
            ("libroot.so", root.clone()),
        ],
        vec![("libroot.so", root), ("libreexport.so", reexport)],
    ] {
        let linked = link("re-exported memory and table", &libs)
            .unwrap_or_else(|e| panic!("re-exported memory and table: {e}"));
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&linked.component)
            .unwrap();
        assert_eq!(
            linked
                .report
                .libraries
                .iter()
                .filter(|l| l.kept.is_some())
                .count(),
            2,
            "{:?}",
            linked.report.libraries
        );
        let mut run = Running::new(&linked.component).unwrap();
        assert_eq!(run.call_s32("f", &[]).unwrap(), 42);
    }
}

// ---------------------------------------------------------------------------------------------
// Error classes, end to end
// ---------------------------------------------------------------------------------------------

#[test]
fn duplicate_library_names() {
    assert_resolve_error(
        "duplicate names",
        &[("liba.so", dylib("", START)), ("liba.so", dylib("", ""))],
        "two inputs are named `liba.so`: library names must be unique (rename one with NAME=FILE)",
    );
}

#[test]
fn missing_needed_suggests_a_close_name() {
    assert_resolve_error(
        "missing NEEDED with a close name",
        &[
            ("libapp.so", dylib(r#"(needed "libbase.so")"#, START)),
            ("libbse.so", dylib("", "")),
        ],
        "library `libapp.so` needs `libbase.so` (dylink.0 NEEDED), but no input has that name; did you mean `libbse.so` (give it as `libbase.so=FILE`); inputs are named `libapp.so`, `libbse.so`",
    );
    assert_resolve_error(
        "missing NEEDED without a close name",
        &[("libapp.so", dylib(r#"(needed "libzzz.so")"#, START))],
        "library `libapp.so` needs `libzzz.so` (dylink.0 NEEDED), but no input has that name; inputs are named `libapp.so`",
    );

    // The fixture program with libbase.so given under a misspelt name: the missing library is
    // reported once, with every library needing it.
    let mut libs = program();
    libs[0].0 = "libbse.so";
    assert_resolve_error(
        "program with a misspelt libbase.so",
        &libs,
        "4 problems:\n  - `libbase.so` is not among the inputs; add it (it is in the dylink.0 NEEDED of 4 libraries: `libapp.so`, `libping.so`, `libpong.so`, `libmain.so`); did you mean `libbse.so` (give it as `libbase.so=FILE`); inputs are named `libbse.so`, `libapp.so`, `libping.so`, `libpong.so`, `libmain.so`",
    );
}

const STUB_HINT: &str =
    "hint: --stub-missing-functions links unresolved functions to stubs that trap when called";

#[test]
fn unresolved_symbol_without_candidates() {
    let function = r#"(import "env" "nosuch" (func (param i32) (result i32)))"#;
    let data = r#"(import "GOT.mem" "nodata" (global (mut i32)))"#;
    let other = ("libb.so", dylib("", ""));
    assert_resolve_error(
        "unresolved function",
        &[
            ("liba.so", dylib("", &format!("{function} {START}"))),
            other.clone(),
        ],
        &format!(
            "library `liba.so` imports `env.nosuch` (function [i32] -> [i32]), but no library defines `nosuch`\n{STUB_HINT}"
        ),
    );
    assert_resolve_error(
        "unresolved data",
        &[
            ("liba.so", dylib("", &format!("{data} {START}"))),
            other.clone(),
        ],
        "library `liba.so` imports `GOT.mem.nodata` (the address of a data symbol (an immutable i32 global)), but no library defines `nodata`",
    );
    assert_resolve_error(
        "unresolved function and data",
        &[
            ("liba.so", dylib("", &format!("{function} {data} {START}"))),
            other,
        ],
        &format!(
            "2 problems:\n  - library `liba.so` has 2 unresolved imports:\n      `env.nosuch` (function [i32] -> [i32]): no library defines `nosuch`\n      `GOT.mem.nodata` (the address of a data symbol (an immutable i32 global)): no library defines `nodata`\n{STUB_HINT}"
        ),
    );
}

#[test]
fn unresolved_symbol_defined_with_another_type() {
    let root = dylib(
        r#"(needed "libb.so")"#,
        &format!(r#"(import "env" "f" (func (param i32) (result i32))) {START}"#),
    );
    let other = dylib("", r#"(func (export "f") (result i64) i64.const 0)"#);
    assert_resolve_error(
        "type mismatch",
        &[("liba.so", root), ("libb.so", other)],
        "library `liba.so` imports `env.f` as function [i32] -> [i32], but `f` is defined with another type: `libb.so` exports function [] -> [i64]",
    );
}

#[test]
fn two_start_functions() {
    assert_resolve_error(
        "two _start",
        &[("liba.so", dylib("", START)), ("libb.so", dylib("", START))],
        "more than one library exports `_start`: `liba.so`, `libb.so` (a component has one entry point)",
    );
}

#[test]
fn both_initializers() {
    assert_resolve_error(
        "_initialize and __wasm_call_ctors",
        &[(
            "liba.so",
            dylib(
                "",
                &format!(
                    r#"(func (export "_initialize")) (func (export "__wasm_call_ctors")) {START}"#
                ),
            ),
        )],
        "library `liba.so` exports both `_initialize` and `__wasm_call_ctors`; weld would not know which one initializes it",
    );
}

#[test]
fn bad_abi_signatures() {
    for (export, sig, shown) in [
        ("__wasm_call_ctors", "(param i32)", "function [i32] -> []"),
        (
            "_initialize",
            "(result i32) i32.const 0",
            "function [] -> [i32]",
        ),
        (
            "__wasm_apply_data_relocs",
            "(param i64) (result f32) f32.const 0",
            "function [i64] -> [f32]",
        ),
    ] {
        assert_resolve_error(
            export,
            &[(
                "liba.so",
                dylib("", &format!(r#"(func (export "{export}") {sig}) {START}"#)),
            )],
            &format!(
                "library `liba.so` has `{export}` as an export of type {shown}, but the dynamic-linking ABI requires `function [] -> []`"
            ),
        );
    }
}

/// A library's structural error (here: an export of a function that does not exist) is reported
/// with the library name and the byte offset of the export.
#[test]
fn malformed_input_has_a_byte_offset() {
    // Export section with one export "f" of function 5; the module has no functions.
    let mut wasm = HEADER.to_vec();
    wasm.extend([7, 5, 1, 1, b'f', 0, 5]);
    assert_parse_error(
        "export of a missing function",
        "libexp.so",
        wasm,
        Some(11),
        "export `f` refers to function 5, but the module has only 0",
    );
}

// ---------------------------------------------------------------------------------------------
// tests/bad-inputs/
// ---------------------------------------------------------------------------------------------

/// Every file in `tests/bad-inputs/` (see the module documentation for the conventions).
#[test]
fn corpus_directory() {
    let dir = repo_root().join("tests/bad-inputs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut failures = Failures::default();
    let mut checked = 0;
    for path in &files {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            failures
                .0
                .push(format!("{}: not a UTF-8 file name", path.display()));
            continue;
        };
        if name == "README.md" || name.ends_with(".expect") {
            continue;
        }
        let Ok(bytes) = std::fs::read(path) else {
            // A fuzzer may be replacing files while the test runs.
            continue;
        };
        checked += 1;
        let fuzz = name.starts_with("fuzz-");
        let expect_path = dir.join(format!("{name}.expect"));
        let case = format!("tests/bad-inputs/{name}");
        failures.run(&case, || {
            let _ = parse(&case, name, &bytes);
            let mut libs = program();
            libs.push((name, bytes.clone()));
            let _ = checked_link(&case, &libs);
            let outcome = match checked_link(&case, &[(name, bytes.clone())]) {
                Ok(_) => "ok".to_string(),
                Err(e) => e.to_string(),
            };
            if fuzz {
                return;
            }
            match std::fs::read_to_string(&expect_path) {
                Ok(expected) => {
                    assert_eq!(outcome, expected.trim_end_matches('\n'), "linked alone");
                }
                Err(e) => panic!(
                    "cannot read {}: {e}; inputs other than fuzz-* must state their outcome. \
                     Linked alone, this one gives:\n{outcome}",
                    expect_path.display()
                ),
            }
        });
    }
    assert!(checked > 0, "no inputs in {}", dir.display());
    failures.finish("tests/bad-inputs");
}

// ---------------------------------------------------------------------------------------------
// Inputs that are valid core WebAssembly but cannot be linked into a component
// ---------------------------------------------------------------------------------------------

/// Each of these libraries validates on its own; without a check, the component weld builds from
/// it would not validate and weld would blame itself (`LinkError::Invalid`).
#[test]
fn valid_modules_weld_cannot_link_are_parse_errors() {
    let g = (
        "libg.so",
        dylib("", r#"(func (export "g") (result i32) i32.const 0)"#),
    );
    let cases = [
        (
            "env.memory imported twice",
            wat(&format!(
                r#"{ABI} (import "env" "memory" (memory 0)) {START}"#
            )),
            ("env", "memory", 1),
            "import `env.memory` appears twice (first at byte offset {first}); a module inside a component cannot import the same name twice",
        ),
        (
            "env.__stack_pointer imported twice",
            wat(&format!(
                r#"{ABI} (import "env" "__stack_pointer" (global (mut i32))) {START}"#
            )),
            ("env", "__stack_pointer", 1),
            "import `env.__stack_pointer` appears twice (first at byte offset {first}); a module inside a component cannot import the same name twice",
        ),
        (
            "shared GOT.mem global",
            dylib(
                "",
                &format!(r#"(import "GOT.mem" "x" (global (shared mut i32))) {START}"#),
            ),
            ("GOT.mem", "x", 0),
            "import `GOT.mem.x` must be an i32 global, found global shared mut i32 (the globals weld provides are not shared)",
        ),
        (
            "shared __stack_pointer",
            wat(&format!(
                r#"(import "env" "__stack_pointer" (global (shared mut i32))) {START}"#
            )),
            ("env", "__stack_pointer", 0),
            "import `env.__stack_pointer` must be a mutable i32 global, found global shared mut i32 (the globals weld provides are not shared)",
        ),
        (
            "exact function import",
            dylib(
                "",
                &format!(
                    r#"(type $t (func (result i32))) (import "env" "g" (func (exact (type $t)))) {START}"#
                ),
            ),
            ("env", "g", 0),
            "import `env.g` is an exact function import (`(func (exact ...))`), which weld does not support",
        ),
        (
            "function type in a recursion group",
            dylib(
                "",
                &format!(
                    r#"(rec (type $t (func (result i32))) (type (struct))) (import "env" "g" (func (type $t))) {START}"#
                ),
            ),
            ("env", "g", 0),
            "import `env.g` has type 0, which weld cannot link across modules: it is defined in a recursion group with other types (weld matches function types by their parameter and result lists)",
        ),
        (
            "parameter referring to a defined type",
            dylib(
                "",
                &format!(
                    r#"(type $s (struct)) (import "env" "r" (func (param (ref $s)))) {START}"#
                ),
            ),
            ("env", "r", 0),
            "import `env.r` has type 1, which weld cannot link across modules: a parameter or result is a reference to a type defined in the module (weld matches function types by their parameter and result lists)",
        ),
    ];
    for (case, wasm, (module, name, nth), message) in cases {
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&wasm)
            .unwrap_or_else(|e| panic!("case `{case}`: the test input does not validate: {e}"));
        let offsets = import_offsets(&wasm, module, name);
        let message = message.replace("{first}", &format!("{:#x}", offsets[0]));
        let err = link_err(case, &[("libodd.so", wasm.clone()), g.clone()]);
        assert_eq!(
            err.to_string(),
            format!(
                "malformed input: libodd.so: at byte offset {:#x}: {message}",
                offsets[nth]
            ),
            "case `{case}`"
        );
    }
}

/// Limits on the imported memory or table that the layout does not fit.
#[test]
fn import_limits_smaller_than_the_layout() {
    assert_link_error(
        "memory of at most 1 page",
        &[(
            "liba.so",
            wat(&format!(r#"(import "env" "memory" (memory 0 1)) {START}"#)),
        )],
        "library `liba.so` imports `env.memory` with at most 1 page, but the stack and all libraries' data need 16 pages",
    );
    // The slot count includes slots weld reserves for itself, so only its range is asserted.
    let err = link_err(
        "table of at most 0 slots",
        &[(
            "liba.so",
            wat(&format!(
                r#"(import "env" "__indirect_function_table" (table 0 0 funcref))
                   (import "GOT.func" "g" (global i32))
                   (func (export "g")) {START}"#
            )),
        )],
    );
    assert!(matches!(err, LinkError::Synth(_)), "{err:?}");
    let needed = number_between(
        &err.to_string(),
        "library `liba.so` imports `env.__indirect_function_table` with at most 0 slots, but the link needs ",
        "",
    );
    // Null slot 0 and the address of `g`.
    assert!((2..10).contains(&needed), "{err}");
    // A larger minimum than the layout needs is fine: the memory gets that many pages.
    let linked = link(
        "memory of at least 100 pages",
        &[(
            "liba.so",
            wat(&format!(r#"(import "env" "memory" (memory 100)) {START}"#)),
        )],
    )
    .unwrap();
    Running::new(&linked.component).unwrap();
}

/// Two libraries whose WIT worlds export the same function with different types.
#[test]
fn conflicting_worlds() {
    let lib = |result: &str, wit_result: &str| {
        with_world(
            dylib(
                "",
                &format!(r#"(func (export "f") (result {result}) {result}.const 1)"#),
            ),
            &format!("package t:t; world w {{ export f: func() -> {wit_result}; }}"),
            "w",
        )
    };
    let err = assert_link_error(
        "conflicting worlds",
        &[
            ("liba.so", lib("i32", "s32")),
            ("libb.so", lib("i64", "s64")),
        ],
        "library `libb.so`: its WIT world cannot be merged with the earlier libraries' worlds: failed to merge worlds from two documents: failed to merge world export f: failed to merge functions: different function result types: different kinds of types",
    );
    assert!(matches!(err, LinkError::World(_)), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Bugs in other crates (ignored until fixed)
// ---------------------------------------------------------------------------------------------

/// `env.__init_stack_pointer` is provided by the linker as an `i32` global; an import of another
/// type must be reported against the library, not turned into an invalid component.
#[test]

fn init_stack_pointer_of_the_wrong_type() {
    for ty in ["i64", "(mut f32)"] {
        let wasm = dylib(
            "",
            &format!(r#"(import "env" "__init_stack_pointer" (global {ty})) {START}"#),
        );
        let err = link_err(ty, &[("liba.so", wasm)]);
        let text = err.to_string();
        assert!(!matches!(err, LinkError::Invalid(_)), "{ty}: {err:?}");
        assert!(
            text.contains("liba.so") && text.contains("__init_stack_pointer"),
            "{ty}: {text}"
        );
    }
}

/// A 64-bit table is unsupported, like a 64-bit memory.
#[test]

fn table64_is_unsupported() {
    let wasm = wat(&format!(
        r#"(import "env" "__indirect_function_table" (table i64 0 funcref)) {START}"#
    ));
    let err = link_err("table64", &[("liba.so", wasm)]);
    let text = err.to_string();
    assert!(matches!(err, LinkError::Resolve(_)), "{err:?}");
    assert!(
        text.starts_with("library `liba.so`: ")
            && text.contains("`env.__indirect_function_table`")
            && text.ends_with(" is not supported"),
        "{text}"
    );
}

/// An import from a module outside the dynamic-linking ABI that no WIT world declares: the error
/// comes from the component encoder, about the synthesized main module, and does not say which
/// library has the import.
#[test]

fn undeclared_import_names_the_library() {
    let wasm = dylib("", &format!(r#"(import "foo" "bar" (func)) {START}"#));
    let err = link_err(
        "import foo.bar",
        &[("liba.so", dylib("", "")), ("libb.so", wasm)],
    );
    let text = err.to_string();
    assert!(
        text.contains("libb.so") && text.contains("foo") && text.contains("bar"),
        "{text}"
    );
}

/// A world export that no kept library implements: the error must say which library's world
/// declares it.
#[test]

fn missing_world_export_names_the_library() {
    let wasm = with_world(
        dylib("", ""),
        "package t:t; world w { export f: func() -> s32; }",
        "w",
    );
    let err = link_err("missing export f", &[("libw.so", wasm)]);
    let text = err.to_string();
    assert!(text.contains("libw.so") && text.contains("`f`"), "{text}");
}

/// The memory-limit error blames "the stack and all libraries' data" for pages that another
/// library's import minimum requires.
#[test]

fn memory_limit_error_names_the_minimum_it_conflicts_with() {
    let libs = [
        (
            "liba.so",
            wat(&format!(
                r#"(@dylink.0 (needed "libb.so")) (import "env" "memory" (memory 100)) {START}"#
            )),
        ),
        ("libb.so", wat(r#"(import "env" "memory" (memory 0 50))"#)),
    ];
    let err = link_err("max 50 vs min 100", &libs);
    let text = err.to_string();
    assert!(
        text.contains("libb.so") && text.contains("liba.so") && text.contains("100"),
        "{text}"
    );
    assert!(!text.contains("data need 100 pages"), "{text}");
}

/// More libraries than one component can hold: a clear error naming the limit, before anything
/// invalid is built.
#[test]
fn too_many_libraries_for_one_component() {
    let lib = wat::parse_str(r#"(module (@dylink.0) (func (export "f")))"#).unwrap();
    let mut linker = weld_component::Linker::default();
    for i in 0..weld_component::MAX_MODULES {
        linker.dl_openable(format!("lib{i}.so"), lib.clone());
    }
    let err = linker.encode().unwrap_err();
    assert!(matches!(err, LinkError::Limit(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("core modules (at most 1000)") && text.contains("for 1000 libraries"),
        "{text}"
    );
}

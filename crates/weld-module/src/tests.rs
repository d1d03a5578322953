use super::*;
use wasmparser::Payload;

fn parse(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).unwrap()
}

#[test]
fn classifies_imports_and_weak_flags() {
    let wasm = parse(
        r#"(module
          (@dylink.0
            (mem-info (memory 8 3) (table 2 0))
            (needed "libc.so" "libm.so")
            (import-info "env" "maybe" binding-weak)
            (import-info "env" "weak_data" binding-weak)
            (export-info "weakdef" binding-weak))
          (import "env" "memory" (memory 0))
          (import "env" "__indirect_function_table" (table 0 funcref))
          (import "env" "__stack_pointer" (global (mut i32)))
          (import "env" "__memory_base" (global i32))
          (import "env" "__table_base" (global i32))
          (import "env" "maybe" (func (param i32)))
          (import "env" "strong" (func (result i64)))
          (import "GOT.mem" "weak_data" (global (mut i32)))
          (import "GOT.func" "strong" (global (mut i32)))
          (import "$root" "wit-fn" (func))
          (global (export "data_sym") i32 (i32.const 16))
          (func (export "weakdef"))
          (func (export "__wasm_call_ctors"))
        )"#,
    );
    let lib = Library::parse("liba.so", &wasm).unwrap();
    assert!(lib.has_dylink);
    assert_eq!(
        lib.mem_info,
        MemInfo {
            memory_size: 8,
            memory_alignment: 8,
            table_size: 2,
            table_alignment: 1
        }
    );
    assert_eq!(lib.needed, ["libc.so", "libm.so"]);
    let classes: Vec<_> = lib.imports.iter().map(|i| (&i.class, i.weak)).collect();
    assert_eq!(classes[0], (&ImportClass::Memory, false));
    assert_eq!(classes[1], (&ImportClass::Table, false));
    assert_eq!(classes[2], (&ImportClass::StackPointer, false));
    assert_eq!(classes[3], (&ImportClass::MemoryBase, false));
    assert_eq!(classes[4], (&ImportClass::TableBase, false));
    assert_eq!(
        classes[5],
        (
            &ImportClass::Function(FuncSig::new([ValType::I32], [])),
            true
        )
    );
    assert_eq!(
        classes[6],
        (
            &ImportClass::Function(FuncSig::new([], [ValType::I64])),
            false
        )
    );
    // The weak flag of a GOT.mem import is recorded under `env` by wasm-ld.
    assert_eq!(classes[7], (&ImportClass::GotMem, true));
    assert_eq!(classes[8], (&ImportClass::GotFunc, false));
    assert_eq!(classes[9], (&ImportClass::Other, false));

    let data = lib.export("data_sym").unwrap();
    assert!(data.is_data());
    assert_eq!(data.const_i32, Some(16));
    assert!(lib.export("weakdef").unwrap().is_weak());
    assert_eq!(
        lib.export("__wasm_call_ctors").unwrap().special,
        Some(SpecialExport::CallCtors)
    );
}

#[test]
fn module_without_dylink_is_a_library_with_empty_mem_info() {
    let wasm = parse(r#"(module (func (export "f")))"#);
    let lib = Library::parse("plain", &wasm).unwrap();
    assert!(!lib.has_dylink);
    assert_eq!(lib.mem_info.memory_size, 0);
    assert_eq!(lib.mem_info.memory_alignment, 1);
    assert_eq!(lib.exports.len(), 1);
}

#[test]
fn unknown_dylink_subsection_is_a_warning() {
    // dylink.0 with MEM_INFO (all zero) and an unknown subsection type 42 with 2 bytes.
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    let mut payload = Vec::new();
    payload.push(8u8);
    payload.extend_from_slice(b"dylink.0");
    payload.extend_from_slice(&[1, 4, 0, 0, 0, 0]);
    payload.extend_from_slice(&[42, 2, 0xaa, 0xbb]);
    wasm.push(0);
    wasm.push(payload.len() as u8);
    wasm.extend_from_slice(&payload);
    let lib = Library::parse("libx.so", &wasm).unwrap();
    assert_eq!(lib.warnings.len(), 1, "{:?}", lib.warnings);
    assert!(
        lib.warnings[0]
            .message
            .contains("unknown dylink.0 subsection type 42")
    );
    // The offset of the subsection's id byte: header (8), section id and size (2), name (9),
    // MEM_INFO subsection (6).
    assert_eq!(lib.warnings[0].offset, Some(25));
}

#[test]
fn malformed_dylink_subsection_errors_name_the_subsection() {
    // dylink.0 payloads (after the name), the expected offset and message.
    let cases: &[(&[u8], u64, &str)] = &[
        // NEEDED with one string of length 2 that is not UTF-8.
        (
            &[2, 4, 1, 2, 0xff, 0xfe],
            24,
            "dylink.0 NEEDED subsection: malformed UTF-8 encoding",
        ),
        // MEM_INFO whose size runs past the section.
        (
            &[1, 0x40, 0, 0],
            21,
            "dylink.0 MEM_INFO subsection: unexpected end-of-file",
        ),
        // TARGET_ARCH with a 6-byte LEB for the string length.
        (
            &[6, 6, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
            25,
            "dylink.0 TARGET_ARCH subsection: invalid var_u32: integer representation too long",
        ),
        // An id that is not a u7.
        (&[0x80, 0], 19, "dylink.0 subsection: invalid u7"),
    ];
    for (payload, offset, message) in cases {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.push(0);
        wasm.push(9 + payload.len() as u8);
        wasm.push(8);
        wasm.extend_from_slice(b"dylink.0");
        wasm.extend_from_slice(payload);
        let err = Library::parse("libd.so", &wasm).unwrap_err();
        assert_eq!(
            (err.offset, err.message.as_str()),
            (Some(*offset), *message)
        );
    }
}

#[test]
fn wrong_kind_for_env_memory_is_an_error_with_offset() {
    let wasm = parse(r#"(module (import "env" "memory" (func)))"#);
    let err = Library::parse("libbad.so", &wasm).unwrap_err();
    assert_eq!(err.library, "libbad.so");
    assert!(err.offset.is_some());
    assert!(
        err.message
            .contains("`env.memory` must be a memory, found function"),
        "{err}"
    );
}

#[test]
fn truncated_input_is_an_error() {
    let wasm = parse(
        r#"(module (@dylink.0 (mem-info (memory 4 2))) (func (export "f") (result i32) i32.const 1))"#,
    );
    // Cutting at a section boundary leaves a valid (smaller) module; anywhere else is an error.
    // Either way, never a panic.
    let mut errors = 0;
    for len in 0..wasm.len() {
        if Library::parse("t", &wasm[..len]).is_err() {
            errors += 1;
        }
    }
    assert!(errors >= wasm.len() - 4, "{errors} of {}", wasm.len());
    assert!(Library::parse("t", &wasm[..wasm.len() - 1]).is_err());
}

#[test]
fn component_is_rejected() {
    let wasm = parse("(component)");
    let err = Library::parse("c", &wasm).unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::Component);
    assert_eq!(
        err.to_string(),
        "c: at byte offset 0x0: a WebAssembly component, not a core module; expected a core module (a dynamic library)"
    );
}

#[test]
fn huge_alignment_is_an_error() {
    let wasm = parse(r#"(module (@dylink.0 (mem-info (memory 4 40))))"#);
    let err = Library::parse("libhuge.so", &wasm).unwrap_err();
    assert!(err.message.contains("does not fit"), "{err}");
    // The offset is that of the MEM_INFO subsection: header (8), section id and size (2), name
    // length and "dylink.0" (9).
    assert_eq!(err.offset, Some(19), "{err}");
    assert_eq!(
        err.to_string(),
        "libhuge.so: at byte offset 0x13: dylink.0 MEM_INFO subsection: memory alignment 2^40 does not fit in 32 bits"
    );

    let wasm = parse(r#"(module (@dylink.0 (needed "a") (mem-info (memory 4 2) (table 1 32))))"#);
    let err = Library::parse("libhuge.so", &wasm).unwrap_err();
    // After the NEEDED subsection: id, size, count, length, "a".
    assert_eq!(err.offset, Some(19 + 5), "{err}");
    assert_eq!(
        err.message,
        "dylink.0 MEM_INFO subsection: table alignment 2^32 does not fit in 32 bits"
    );
}

#[test]
fn inputs_that_are_not_modules_say_what_they_look_like() {
    let magic = "not with the magic bytes 00 61 73 6d (\"\\0asm\")";
    let mut shared_object = b"\x7fELF\x02\x01\x01\0".to_vec();
    shared_object.extend([0; 8]);
    shared_object.extend([3, 0]);
    let cases: &[(&[u8], Option<u64>, String)] = &[
        (
            &shared_object,
            Some(0),
            format!("an ELF shared object (a native library), not a WebAssembly module: it starts with 7f 45 4c 46, {magic}"),
        ),
        (
            b"\x7fELF\x02\x01\x01\0",
            Some(0),
            format!("an ELF file (native code), not a WebAssembly module: it starts with 7f 45 4c 46, {magic}"),
        ),
        (
            b"!<arch>\n",
            Some(0),
            format!("an ar archive (a static library), not a WebAssembly module: it starts with 21 3c 61 72, {magic}"),
        ),
        (
            b"  (module)",
            Some(0),
            "WebAssembly text, not a binary module; expected the binary format, which starts with the magic bytes 00 61 73 6d (\"\\0asm\") (convert the text first, e.g. with `wasm-tools parse`)".to_string(),
        ),
        (
            b"\x01",
            Some(0),
            format!("a file of unknown format, not a WebAssembly module: it starts with 01, {magic}"),
        ),
        (
            b"\0as",
            Some(3),
            "a truncated WebAssembly module: the input ends inside the 8-byte header (3 bytes)".to_string(),
        ),
        (
            b"\0asm\x01\0",
            Some(6),
            "a truncated WebAssembly module: the input ends inside the 8-byte header (6 bytes)".to_string(),
        ),
        (
            b"\0asm\x02\0\0\0",
            Some(4),
            "a WebAssembly module of binary version 2; expected version 1, the only one weld reads".to_string(),
        ),
        (
            b"\0asm\x01\0\x02\0",
            Some(6),
            "a WebAssembly binary of unknown layer 2 (version 1); expected a core module (layer 0, version 1)".to_string(),
        ),
    ];
    for (bytes, offset, message) in cases {
        let err = Library::parse("libx.so", bytes).unwrap_err();
        assert_eq!(
            (err.offset, err.message.as_str()),
            (*offset, message.as_str())
        );
    }
}

#[test]
fn what_looks_like_webassembly_text() {
    let text: &[&[u8]] = &[
        b"(module)",
        b" \n\t(module)",
        b";; comment\n(module)",
        b"(; block (; nested ;) ;)(module)",
        b"(;;) ;;\n (",
    ];
    let not_text: &[&[u8]] = &[
        b"",
        b"   ",
        b";; only a comment",
        b"(; unclosed (module)",
        b"(;) (module)",
        b"module",
        b"\xff(module)",
        b"\x7fELF",
    ];
    for t in text {
        assert!(is_webassembly_text(t), "{}", String::from_utf8_lossy(t));
    }
    for t in not_text {
        assert!(!is_webassembly_text(t), "{}", String::from_utf8_lossy(t));
    }
}

#[test]
fn empty_input_says_so() {
    let err = Library::parse("libempty.so", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "libempty.so: an empty file (0 bytes), not a WebAssembly module"
    );
}

#[test]
fn truncated_code_section_points_into_the_input() {
    let wasm = parse(r#"(module (func (export "f") (result i32) i32.const 1))"#);
    // Every cut inside the code section (found, not hard-coded) is reported at its start.
    let code = wasmparser::Parser::new(0)
        .parse_all(&wasm)
        .find_map(|p| match p.unwrap() {
            Payload::CodeSectionStart {
                unchecked_range, ..
            } => Some(unchecked_range),
            _ => None,
        })
        .unwrap();
    for len in code.start as usize + 1..wasm.len() {
        let err = Library::parse("libcut.so", &wasm[..len]).unwrap_err();
        let at = err.offset.unwrap();
        assert!(
            at <= len as u64,
            "offset {at:#x} past the end ({len}): {err}"
        );
        assert_eq!(at, code.start, "{err}");
        assert_eq!(
            err.message,
            format!(
                "the code section (bytes {:#x}..{:#x}) runs past the end of the input ({len} bytes)",
                code.start, code.end
            )
        );
    }
}

#[test]
fn component_type_sections_are_borrowed() {
    let wasm = parse(r#"(module (@custom "component-type:foo" "abc"))"#);
    let lib = Library::parse("l", &wasm).unwrap();
    assert_eq!(lib.component_types.len(), 1);
    assert_eq!(lib.component_types[0].name, "component-type:foo");
    assert_eq!(lib.component_types[0].data, b"abc");
    // Borrowed, not copied: the slice points into the input.
    let range = wasm.as_ptr_range();
    assert!(range.contains(&lib.component_types[0].data.as_ptr()));
}

/// The byte offset of the `n`-th import (for expected error offsets).
fn import_offset(wasm: &[u8], n: usize) -> u64 {
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .find_map(|p| match p.unwrap() {
            Payload::ImportSection(r) => r.into_imports_with_offsets().nth(n).map(|i| i.unwrap().0),
            _ => None,
        })
        .unwrap()
}

fn export_offset(wasm: &[u8], n: usize) -> u64 {
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .find_map(|p| match p.unwrap() {
            Payload::ExportSection(r) => r.into_iter_with_offsets().nth(n).map(|e| e.unwrap().0),
            _ => None,
        })
        .unwrap()
}

#[test]
fn duplicate_imports_are_an_error() {
    // Valid core WebAssembly, but a component cannot instantiate it.
    let wasm = parse(
        r#"(module
          (import "env" "memory" (memory 0))
          (import "env" "f" (func))
          (import "env" "memory" (memory 0)))"#,
    );
    let err = Library::parse("libdup.so", &wasm).unwrap_err();
    assert_eq!(err.offset, Some(import_offset(&wasm, 2)));
    assert_eq!(
        err.message,
        format!(
            "import `env.memory` appears twice (first at byte offset {:#x}); a module inside a component cannot import the same name twice",
            import_offset(&wasm, 0)
        )
    );
}

#[test]
fn shared_globals_are_the_wrong_type() {
    for (import, expected) in [
        (
            r#"(import "GOT.mem" "x" (global (shared mut i32)))"#,
            "import `GOT.mem.x` must be an i32 global, found global shared mut i32 (the globals weld provides are not shared)",
        ),
        (
            r#"(import "GOT.func" "x" (global (shared i32)))"#,
            "import `GOT.func.x` must be an i32 global, found global shared i32 (the globals weld provides are not shared)",
        ),
        (
            r#"(import "env" "__stack_pointer" (global (shared mut i32)))"#,
            "import `env.__stack_pointer` must be a mutable i32 global, found global shared mut i32 (the globals weld provides are not shared)",
        ),
        (
            r#"(import "env" "__table_base" (global (shared i32)))"#,
            "import `env.__table_base` must be an immutable i32 global, found global shared i32 (the globals weld provides are not shared)",
        ),
        (
            r#"(import "env" "__init_stack_pointer" (global (shared i32)))"#,
            "import `env.__init_stack_pointer` must be a function, a non-shared global or a tag, found global shared i32 (the globals weld provides are not shared)",
        ),
    ] {
        let wasm = parse(&format!("(module {import})"));
        let err = Library::parse("libshared.so", &wasm).unwrap_err();
        assert_eq!(err.offset, Some(import_offset(&wasm, 0)), "{import}");
        assert_eq!(err.message, expected, "{import}");
    }
}

#[test]
fn table_display_shows_index_type_and_sharing() {
    let wasm = parse(r#"(module (import "env" "t" (table i64 3 funcref)))"#);
    let err = Library::parse("libt.so", &wasm).unwrap_err();
    assert_eq!(
        err.message,
        "import `env.t` must be a function, global or tag, found table i64 funcref min 3"
    );
}

#[test]
fn exact_function_imports_are_an_error() {
    let wasm = parse(
        r#"(module (type $t (func (result i32))) (import "env" "g" (func (exact (type $t)))))"#,
    );
    let err = Library::parse("libexact.so", &wasm).unwrap_err();
    assert_eq!(err.offset, Some(import_offset(&wasm, 0)));
    assert_eq!(
        err.message,
        "import `env.g` is an exact function import (`(func (exact ...))`), which weld does not support"
    );
}

#[test]
fn function_types_a_func_sig_cannot_describe_are_an_error() {
    const TAIL: &str = "which weld cannot link across modules: {} (weld matches function types by their parameter and result lists)";
    let msg = |subject: &str, ty: u32, issue: &str| {
        format!("{subject} has type {ty}, {}", TAIL.replace("{}", issue))
    };
    // (module, whether the problem is in an import (else the first export), message)
    let cases = [
        (
            r#"(module (rec (type $t (func)) (type (struct))) (import "env" "f" (func (type $t))))"#,
            true,
            msg(
                "import `env.f`",
                0,
                "it is defined in a recursion group with other types",
            ),
        ),
        (
            r#"(module (type $t (sub (func))) (import "env" "f" (func (type $t))))"#,
            true,
            msg(
                "import `env.f`",
                0,
                "it is not final or declares a supertype",
            ),
        ),
        (
            r#"(module (type $t (shared (func))) (import "env" "f" (func (type $t))))"#,
            true,
            msg("import `env.f`", 0, "it is a shared type"),
        ),
        (
            r#"(module (type $s (struct)) (import "env" "t" (tag (param (ref null $s)))))"#,
            true,
            msg(
                "import `env.t`",
                1,
                "a parameter or result is a reference to a type defined in the module",
            ),
        ),
        (
            r#"(module (type $s (struct)) (func (export "f") (result (ref null $s)) ref.null $s))"#,
            false,
            msg(
                "export `f`",
                1,
                "a parameter or result is a reference to a type defined in the module",
            ),
        ),
    ];
    for (text, in_import, expected) in cases {
        let wasm = parse(text);
        let err = Library::parse("libgc.so", &wasm).unwrap_err();
        let at = if in_import {
            import_offset(&wasm, 0)
        } else {
            export_offset(&wasm, 0)
        };
        assert_eq!(
            (err.offset, err.message.as_str()),
            (Some(at), expected.as_str()),
            "{text}"
        );
    }

    // Abstract references are the same in every module: fine.
    let wasm = parse(
        r#"(module (import "env" "f" (func (param externref funcref) (result (ref func)))))"#,
    );
    Library::parse("libref.so", &wasm).unwrap();
}

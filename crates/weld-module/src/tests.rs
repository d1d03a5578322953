use super::*;

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
    assert!(err.message.contains("found a component"), "{err}");
}

#[test]
fn huge_alignment_is_an_error() {
    let wasm = parse(r#"(module (@dylink.0 (mem-info (memory 4 40))))"#);
    let err = Library::parse("libhuge.so", &wasm).unwrap_err();
    assert!(err.message.contains("does not fit"), "{err}");
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

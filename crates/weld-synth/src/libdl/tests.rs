//! The generated libdl, checked as a library.

use super::*;

#[test]
fn libdl_is_a_valid_dynamic_library() {
    let wasm = libdl_module();
    wasmparser::validate(&wasm).unwrap();
    let lib = weld_module::Library::parse(LIBDL_NAME, &wasm).unwrap();
    assert!(lib.has_dylink);
    assert_eq!(lib.mem_info.memory_size, messages::region_size());
    let names: Vec<_> = lib.exports.iter().map(|e| e.name).collect();
    assert_eq!(names, ["dlopen", "dlsym", "dlclose", "dlerror"]);
    assert_eq!(built_in(), wasm.as_slice());
}

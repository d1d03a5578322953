//! `parse`: arbitrary bytes into `weld_module::Library::parse`. Property: it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    weld_fuzz::run_filtered(|| parse(data));
});

fn parse(data: &[u8]) {
    if let Ok(lib) = weld_module::Library::parse("fuzz.so", data) {
        // Touch what the parser returned, so lazily computed parts are exercised too.
        let _ = lib.export("__wasm_call_ctors");
        for s in [
            weld_module::SpecialExport::CallCtors,
            weld_module::SpecialExport::ApplyDataRelocs,
            weld_module::SpecialExport::Initialize,
            weld_module::SpecialExport::Start,
        ] {
            let _ = lib.special(s);
        }
        let _ = format!("{:?}", lib.imports);
    }
}

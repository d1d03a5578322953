//! `link`: a random but valid set of dynamic libraries (see `weld_fuzz::generate`) linked with
//! `weld_component::Linker`. Properties: no panic; every `Ok` component validates.
//!
//! With `WELD_FUZZ_DUMP=DIR` in the environment, every generated set is also written to `DIR`
//! (`link-<i>.so` and `link.txt`, overwritten each run): use it when reproducing one artifact.
//! With `WELD_FUZZ_KNOWN=substring|substring`, panics whose message contains one of the
//! substrings (failures already recorded in `tests/bad-inputs/`) are ignored.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn dump_dir() -> Option<&'static std::path::Path> {
    static DIR: OnceLock<Option<std::path::PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| std::env::var_os("WELD_FUZZ_DUMP").map(Into::into))
        .as_deref()
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(link) = weld_fuzz::generate(&mut u) else {
        return;
    };
    weld_fuzz::check_generated(&link);
    if let Some(dir) = dump_dir() {
        weld_fuzz::dump(&link, dir, "link").expect("writing WELD_FUZZ_DUMP");
    }
    weld_fuzz::run_filtered(|| weld_fuzz::link_and_check(&link));
});

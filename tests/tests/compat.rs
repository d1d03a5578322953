//! `weld_component::compat`: programs written for wit-component's `Linker` link with weld when
//! only their `use` line changes, and the component runs.

use weld_tests::{PROGRAM, Running, fixture};

/// Checks the fixture program's component (see tests/tests/program.rs).
fn check(component: &[u8]) {
    let mut run = Running::new(component).unwrap();
    assert_eq!(run.call_s32("app-counter", &[]).unwrap(), 101);
    assert!(run.call_bool("fn-ptrs-equal").unwrap());
}

/// Written as componentize-py writes its link step against wit-component ≤ 0.254, with
/// `use wit_component::Linker;` replaced.
#[test]
fn the_by_value_builder_links_the_program() -> anyhow::Result<()> {
    use weld_component::compat::Linker;

    let libraries: Vec<(&str, Vec<u8>, bool)> =
        PROGRAM.iter().map(|n| (*n, fixture(n), false)).collect();
    let mut linker = Linker::default()
        .validate(true)
        .use_built_in_libdl(true)
        .stack_size(1 << 20)
        .debug_names(true)
        .merge_imports_based_on_semver(true)
        .stub_missing_functions(false);
    for (name, bytes, dl_openable) in &libraries {
        linker = linker.library(name, bytes, *dl_openable)?;
    }
    let component: Vec<u8> = linker.encode()?;
    check(&component);
    Ok(())
}

/// The same source compiles against wit-component 0.263's `Linker` and against
/// `weld_component::compat::v263::Linker`; both components run.
macro_rules! link_with {
    ($linker:ty) => {{
        let mut linker = <$linker>::default();
        linker.stack_size(1 << 20).use_built_in_libdl(false);
        linker.encoder().validate(true).debug_names(true);
        for name in PROGRAM {
            linker.library(name, &fixture(name), false)?;
        }
        linker.encode()?
    }};
}

#[test]
fn the_0_263_builder_links_the_program() -> anyhow::Result<()> {
    check(&link_with!(weld_component::compat::v263::Linker));
    check(&link_with!(wit_component::Linker));
    Ok(())
}

#[test]
fn errors_keep_welds_wording() {
    let err = weld_component::compat::Linker::default()
        .library("libapp.so", &fixture("libapp.so"), false)
        .unwrap()
        .encode()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("library `libapp.so` needs `libbase.so` (dylink.0 NEEDED)"),
        "{err}"
    );
    assert!(err.downcast_ref::<weld_component::LinkError>().is_some());
}

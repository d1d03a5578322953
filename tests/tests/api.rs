//! weld-component as a crate user sees it: typed errors to match on and typed report rows, for
//! the problems a link most often has.

use weld_component::weld_graph::{Candidate, Expected, Problem};
use weld_component::weld_module::{EntityType, FuncSig, ValType};
use weld_component::{
    DuplicateRow, Kept, LinkError, Linked, Linker, ReportWarning, RootReason, SymbolKind,
    SymbolRow, Via,
};

/// A library named by `dylink` (the `@dylink.0` annotation's contents) with `body` inside a
/// module that has the ABI imports.
fn lib(dylink: &str, body: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module (@dylink.0 {dylink})
            (import "env" "memory" (memory 0))
            (import "env" "__memory_base" (global i32))
            {body})"#
    ))
    .unwrap()
}

/// The program: exports `_start` (so it is a root) and calls `answer`.
fn app(needed: &str) -> Vec<u8> {
    lib(
        needed,
        r#"(import "env" "answer" (func $answer (result i32)))
           (func (export "_start") (drop (call $answer)))"#,
    )
}

fn link(libs: &[(&str, Vec<u8>)], duplicates_are_errors: bool) -> Result<Linked, LinkError> {
    let mut linker = Linker::default();
    for (name, bytes) in libs {
        linker.library(*name, bytes.clone());
    }
    linker.duplicate_symbols_are_errors(duplicates_are_errors);
    linker.encode()
}

/// The resolution problems of a link that must fail at resolution.
fn problems(libs: &[(&str, Vec<u8>)], duplicates_are_errors: bool) -> Vec<Problem> {
    match link(libs, duplicates_are_errors) {
        Err(LinkError::Resolve(e)) => e.problems,
        other => panic!("expected a resolution error, got {other:?}"),
    }
}

const ANSWER: &str = r#"(func (export "answer") (result i32) (i32.const 42))"#;

#[test]
fn a_missing_library_is_a_typed_problem() {
    let problems = problems(&[("libapp.so", app(r#"(needed "libbase.so")"#))], false);
    let Some(Problem::MissingNeeded {
        library, needed, ..
    }) = problems.first()
    else {
        panic!("{problems:?}")
    };
    assert_eq!(
        (library.as_str(), needed.as_str()),
        ("libapp.so", "libbase.so")
    );
    // Its knock-on effect, the import it would have provided, is reported too.
    assert!(
        problems.iter().any(|p| matches!(p,
            Problem::Unresolved { name, expected: Expected::Entity(EntityType::Func(_)), .. }
                if name == "answer")),
        "{problems:?}"
    );
}

#[test]
fn a_type_mismatch_names_every_definition_with_its_type() {
    let base = lib(
        "",
        r#"(func (export "answer") (result i64) (i64.const 42))"#,
    );
    let problems = problems(&[("libapp.so", app("")), ("libbase.so", base)], false);
    assert_eq!(
        problems,
        [Problem::TypeMismatch {
            library: "libapp.so".into(),
            module: "env".into(),
            name: "answer".into(),
            expected: Expected::Entity(EntityType::Func(FuncSig::new([], [ValType::I32]))),
            candidates: vec![Candidate {
                library: "libbase.so".into(),
                ty: EntityType::Func(FuncSig::new([], [ValType::I64])),
            }],
            more_candidates: 0,
        }]
    );
}

#[test]
fn an_unresolved_import_is_a_typed_problem() {
    let problems = problems(&[("libapp.so", app(""))], false);
    assert_eq!(
        problems,
        [Problem::Unresolved {
            library: "libapp.so".into(),
            module: "env".into(),
            name: "answer".into(),
            expected: Expected::Entity(EntityType::Func(FuncSig::new([], [ValType::I32]))),
        }]
    );
}

#[test]
fn a_duplicate_definition_is_a_report_row_or_a_problem() {
    let libs = [
        ("libapp.so", app("")),
        ("liba.so", lib("", ANSWER)),
        ("libb.so", lib("", ANSWER)),
    ];
    let report = link(&libs, false).unwrap().report;
    let [
        DuplicateRow {
            symbol,
            winner,
            losers,
            ..
        },
    ] = report.duplicates.as_slice()
    else {
        panic!("{:?}", report.duplicates)
    };
    assert_eq!((symbol.as_str(), winner.as_str()), ("answer", "liba.so"));
    assert_eq!(losers, &["libb.so"]);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| matches!(w, ReportWarning::Duplicate(d) if *d == report.duplicates[0])),
        "{:?}",
        report.warnings
    );
    // The other rows say who provides `answer`, who uses it, and why each library is kept.
    let [
        SymbolRow {
            name,
            kind: SymbolKind::Function,
            via: Via::Env,
            provider: Some(provider),
            importers,
            shim: false,
            ..
        },
    ] = report.symbols.as_slice()
    else {
        panic!("{:?}", report.symbols)
    };
    assert_eq!((name.as_str(), provider.as_str()), ("answer", "liba.so"));
    assert_eq!(importers, &["libapp.so"]);
    let kept: Vec<_> = report.libraries.iter().map(|l| l.kept.clone()).collect();
    assert_eq!(
        kept,
        [
            Some(Kept::Root(RootReason::Start)),
            Some(Kept::ReferencedBy("libapp.so".into())),
            None,
        ]
    );
    assert_eq!(report.instantiation_order, ["liba.so", "libapp.so"]);

    assert_eq!(
        problems(&libs, true),
        [Problem::DuplicateSymbol {
            name: "answer".into(),
            winner: "liba.so".into(),
            others: vec!["libb.so".into()],
        }]
    );
}

#[test]
fn the_report_serializes() {
    let libs = [("libapp.so", app("")), ("libbase.so", lib("", ANSWER))];
    let report = link(&libs, false).unwrap().report;
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["libraries"][0]["name"], "libapp.so");
    assert_eq!(json["libraries"][0]["kept"]["root"], "start");
    assert_eq!(json["libraries"][1]["kept"]["referenced_by"], "libapp.so");
    assert_eq!(json["symbols"][0]["via"], "env");
    assert_eq!(json["instantiation_order"][0], "libbase.so");
}

/// The byte ranges of the component's top-level core modules, in index order.
fn core_modules(component: &[u8]) -> Vec<std::ops::Range<u64>> {
    let mut out = Vec::new();
    let mut depth = 0;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload.unwrap() {
            wasmparser::Payload::ModuleSection {
                unchecked_range, ..
            } => {
                if depth == 0 {
                    out.push(unchecked_range);
                }
                depth += 1;
            }
            wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth -= 1,
            _ => {}
        }
    }
    out
}

#[test]
fn the_reports_core_module_indices_point_at_the_libraries_bytes() {
    let libs: Vec<(&str, Vec<u8>)> = weld_tests::PROGRAM
        .iter()
        .map(|n| (*n, weld_tests::fixture(n)))
        .collect();
    let linked = link(&libs, false).unwrap();
    let modules = core_modules(&linked.component);
    for ((name, bytes), row) in libs.iter().zip(&linked.report.libraries) {
        let (module, _instance) = row.core.unwrap();
        let range = modules[module as usize].clone();
        let range = range.start as usize..range.end as usize;
        assert_eq!(&linked.component[range], &bytes[..], "{name}");
        assert_eq!(
            row.memory_size,
            u64::from(
                weld_module::Library::parse(name, bytes)
                    .unwrap()
                    .mem_info
                    .memory_size
            )
        );
    }
}

#[test]
fn the_report_names_each_librarys_needed_and_the_importers_calling_through_shims() {
    let libs: Vec<(&str, Vec<u8>)> = weld_tests::PROGRAM
        .iter()
        .map(|n| (*n, weld_tests::fixture(n)))
        .collect();
    let report = link(&libs, false).unwrap().report;
    for ((name, bytes), row) in libs.iter().zip(&report.libraries) {
        let needed = weld_module::Library::parse(name, bytes).unwrap().needed;
        assert_eq!(row.needed, needed, "{name}");
    }
    // libping and libpong call each other: one of the two calls goes through a shim.
    let shimmed: Vec<_> = report.symbols.iter().filter(|s| s.shim).collect();
    assert!(!shimmed.is_empty(), "{:?}", report.symbols);
    for s in &report.symbols {
        assert_eq!(s.shim, !s.shim_importers.is_empty(), "{s:?}");
        assert!(s.shim_importers.iter().all(|i| s.importers.contains(i)));
    }
    // A shim is needed exactly when the provider is not instantiated before the importer.
    let position = |n: &str| report.instantiation_order.iter().position(|o| o == n);
    for s in report.symbols.iter().filter(|s| s.via == Via::Env) {
        let Some(provider) = &s.provider else {
            continue;
        };
        for importer in &s.importers {
            assert_eq!(
                s.shim_importers.contains(importer),
                position(provider) >= position(importer),
                "{s:?}"
            );
        }
    }
}

//! `weld_component::search`: NEEDED libraries found in search directories and in RUNTIME_PATH
//! (with `$ORIGIN`), then linked and run.

use std::path::{Path, PathBuf};

use weld_component::Linker;
use weld_component::search::{FoundIn, Known, find};
use weld_tests::{Running, fixture, repo_root};

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| e.to_string())
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weld-search-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_program_links_from_its_main_library_and_a_search_directory() {
    let main = fixture("libmain.so");
    let dirs = [
        PathBuf::from("/nonexistent"),
        repo_root().join("tests/fixtures"),
    ];
    let known = [Known {
        name: "libmain.so",
        file: None,
        bytes: &main,
    }];
    let found = find(&dirs, &known, read).unwrap();
    let mut names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
    names.sort_unstable();
    // libmain.so needs libapp.so, libbase.so and libping.so; libping.so needs libpong.so.
    assert_eq!(
        names,
        ["libapp.so", "libbase.so", "libping.so", "libpong.so"]
    );
    assert!(found.iter().all(|f| f.found_in == FoundIn::SearchDir(1)));
    let pong = found.iter().find(|f| f.name == "libpong.so").unwrap();
    assert_eq!(pong.needed_by, "libping.so");

    let mut linker = Linker::default();
    linker.library("libmain.so", main.as_slice());
    for f in &found {
        linker.library(f.name.clone(), f.bytes.as_slice());
    }
    let linked = linker.encode().unwrap();
    let mut run = Running::new(&linked.component).unwrap();
    assert_eq!(run.call_s32("app-counter", &[]).unwrap(), 101);
}

#[test]
fn runtime_path_origin_is_the_needing_librarys_directory() {
    let dir = temp_dir("origin");
    std::fs::create_dir_all(dir.join("deps")).unwrap();
    let app = wat::parse_str(
        r#"(module (@dylink.0 (needed "libdep.so") (runtime-path "$ORIGIN/deps"))
            (import "env" "dep" (func (result i32)))
            (func (export "_start") (drop (call 0))))"#,
    )
    .unwrap();
    let dep =
        wat::parse_str(r#"(module (@dylink.0) (func (export "dep") (result i32) i32.const 7))"#)
            .unwrap();
    std::fs::write(dir.join("app.so"), &app).unwrap();
    std::fs::write(dir.join("deps/libdep.so"), &dep).unwrap();
    let app_path = dir.join("app.so");
    let known = [Known {
        name: "app.so",
        file: Some(&app_path),
        bytes: &app,
    }];
    let found = find(&[], &known, read).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].path, dir.join("deps").join("libdep.so"));
    assert_eq!(
        found[0].found_in,
        FoundIn::RuntimePath("$ORIGIN/deps".into())
    );
}

#[test]
fn a_library_found_nowhere_is_reported_with_the_directories_searched() {
    let main = fixture("libapp.so");
    let dir = temp_dir("empty");
    let known = [Known {
        name: "libapp.so",
        file: None,
        bytes: &main,
    }];
    assert!(
        find(std::slice::from_ref(&dir), &known, read)
            .unwrap()
            .is_empty()
    );
    let mut linker = Linker::default();
    linker.library("libapp.so", main.as_slice());
    linker.options_mut().search_dirs = vec![dir.clone()];
    let err = linker.encode().unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "library `libapp.so` needs `libbase.so` (dylink.0 NEEDED), but no input has that name; it is in none of the search directories `{}`",
            dir.display()
        )),
        "{err}"
    );
}

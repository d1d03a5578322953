//! Links library files with the same checks as the `link` fuzz target: a reproducer saved in
//! `tests/bad-inputs/` is confirmed (or shown fixed) with it. The `.txt` written next to a
//! dumped set is exactly this command line.
//!
//! ```sh
//! cargo run --example link_files -- [--stub] [--stack-size=N] [--duplicate-symbols-are-errors]
//!     [--built-in-libdl] [--no-debug-names] [--return-call-ref] [--dl-openable] NAME=FILE...
//! ```
//! (`--dl-openable` applies to the next `NAME=FILE`; file names are relative to the directory
//! the command runs in.)
fn main() {
    let mut link = weld_fuzz::GeneratedLink::new(Vec::new());
    let mut dl_openable = false;
    for arg in std::env::args().skip(1) {
        if arg == "--dl-openable" {
            dl_openable = true;
        } else if arg.starts_with("--") {
            assert!(link.set_flag(&arg), "unknown option {arg}");
        } else {
            let (name, file) = arg.split_once('=').expect("NAME=FILE");
            link.libraries.push(weld_fuzz::GeneratedLibrary {
                name: name.to_string(),
                bytes: std::fs::read(file).expect("reading FILE"),
                dl_openable,
            });
            dl_openable = false;
        }
    }
    weld_fuzz::link_and_check(&link);
    eprintln!("no failure: weld did not panic and any Ok output validates");
}

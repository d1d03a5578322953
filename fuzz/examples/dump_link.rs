//! Turns `link` fuzz inputs (artifacts or corpus entries) into the library sets they generate,
//! and optionally links them, outside libFuzzer.
//!
//! ```sh
//! cargo run --example dump_link -- INPUT OUT_DIR PREFIX   # writes OUT_DIR/PREFIX-<i>.so + PREFIX.txt
//! cargo run --example dump_link -- INPUT                  # only links (panics like the target)
//! ```
use arbitrary::Unstructured;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(input) = args.first() else {
        eprintln!("usage: dump_link INPUT [OUT_DIR PREFIX]");
        std::process::exit(2);
    };
    let data = std::fs::read(input).expect("reading INPUT");
    let link = weld_fuzz::generate(&mut Unstructured::new(&data)).expect("generate");
    weld_fuzz::check_generated(&link);
    if let [_, dir, prefix, ..] = args.as_slice() {
        weld_fuzz::dump(&link, std::path::Path::new(dir), prefix).expect("writing the set");
        eprintln!("wrote {} libraries to {dir}", link.libraries.len());
    }
    weld_fuzz::link_and_check(&link);
    eprintln!("linked without a failure");
}

//! Summarises what a `link` corpus exercises: how many inputs link (`Ok`) and, for the others,
//! which error variant weld returns, with one example message each; `Ok-but-invalid` counts
//! the `Ok` outputs that do not validate (the property the `link` target checks).
//!
//! ```sh
//! cargo run --release --example link_stats -- corpus/link
//! WRITE_LIBS=corpus/parse cargo run --release --example link_stats -- corpus/link  # also seed `parse`
//! ```
use arbitrary::Unstructured;
use std::collections::BTreeMap;

fn main() {
    let dir = std::env::args().nth(1).expect("usage: link_stats CORPUS_DIR");
    let mut ok = 0usize;
    let mut errors: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut libs = 0usize;
    let mut total = 0usize;
    for entry in std::fs::read_dir(&dir).expect("reading the corpus") {
        let data = std::fs::read(entry.expect("entry").path()).expect("reading an input");
        let Ok(link) = weld_fuzz::generate(&mut Unstructured::new(&data)) else {
            continue;
        };
        total += 1;
        libs += link.libraries.len();
        if let Some(dir) = std::env::var_os("WRITE_LIBS") {
            // Seeds for the `parse` corpus: every generated library, named by content.
            for lib in &link.libraries {
                let mut h = std::hash::DefaultHasher::new();
                std::hash::Hash::hash(&lib.bytes, &mut h);
                let name = format!("gen-{:016x}.so", std::hash::Hasher::finish(&h));
                std::fs::write(std::path::Path::new(&dir).join(name), &lib.bytes)
                    .expect("writing WRITE_LIBS");
            }
        }
        let mut linker = weld_component::Linker::default();
        linker.validate(false);
        weld_fuzz::configure(&mut linker, &link);
        match linker.encode() {
            Ok(linked) => {
                ok += 1;
                if let Err(e) =
                    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                        .validate_all(&linked.component)
                {
                    let msg: String = e.to_string().chars().take(160).collect();
                    if std::env::var_os("VERBOSE").is_some() {
                        println!("  invalid: {msg}");
                    }
                    let slot = errors.entry("Ok-but-invalid".into()).or_insert((0, msg));
                    slot.0 += 1;
                }
            }
            Err(e) => {
                let dbg = format!("{e:?}");
                let variant = dbg.split(['(', ' ']).next().unwrap_or("?").to_string();
                let msg: String = e.to_string().lines().next().unwrap_or("").chars().take(160).collect();
                let slot = errors.entry(variant).or_insert((0, msg));
                slot.0 += 1;
                if std::env::var_os("VERBOSE").is_some() {
                    for line in e.to_string().lines() {
                        println!("  {line}");
                    }
                }
            }
        }
    }
    println!("{total} inputs, {libs} libraries, {ok} linked (Ok)");
    for (variant, (count, example)) in errors {
        println!("Err {variant}: {count}  e.g. {example}");
    }
}

//! Links many generated library sets twice — each library apart, then fused into one core
//! module (`LinkOptions::fuse`) — with validation on, and prints every set where the two
//! disagree: one links and the other fails, or either panics. A fused link that fails where the
//! plain link succeeds is a weld bug (or a documented limit of fusion, named in its message).
//!
//! ```sh
//! cargo run --release --example fuse_diff -- [--seeds N]
//! ```
use std::panic::{AssertUnwindSafe, catch_unwind};

use arbitrary::Unstructured;

/// How one link ended.
enum Outcome {
    Ok,
    Err(String),
    Panic,
}

fn link(generated: &weld_fuzz::GeneratedLink, fuse: bool) -> Outcome {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut linker = weld_component::Linker::default();
        weld_fuzz::configure(&mut linker, generated);
        linker.fuse(fuse);
        linker.encode().map(|_| ()).map_err(|e| e.to_string())
    }));
    match result {
        Ok(Ok(())) => Outcome::Ok,
        Ok(Err(e)) => Outcome::Err(e),
        Err(_) => Outcome::Panic,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds: u64 = match args.as_slice() {
        [] => 2000,
        [flag, n] if flag == "--seeds" => n.parse().expect("--seeds N"),
        _ => panic!("usage: fuse_diff [--seeds N]"),
    };
    let (mut both, mut neither, mut differ) = (0, 0, 0);
    for seed in 0..seeds {
        let data = weld_fuzz::seed_bytes(seed, 256 + (seed as usize * 97) % 8000);
        let Ok(generated) = weld_fuzz::generate(&mut Unstructured::new(&data)) else {
            continue;
        };
        match (link(&generated, false), link(&generated, true)) {
            (Outcome::Ok, Outcome::Ok) => both += 1,
            (Outcome::Err(_), Outcome::Err(_)) => neither += 1,
            (apart, fused) => {
                differ += 1;
                let say = |o: &Outcome| match o {
                    Outcome::Ok => "links".to_string(),
                    Outcome::Err(e) => format!("fails: {e}"),
                    Outcome::Panic => "PANICS".to_string(),
                };
                println!("{seed}: apart {}\n{seed}: fused {}", say(&apart), say(&fused));
            }
        }
    }
    println!("fuse_diff: {both} link both ways, {neither} fail both ways, {differ} differ");
}

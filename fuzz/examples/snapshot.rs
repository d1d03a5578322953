//! Links many generated library sets (the `link` target's generator, fed from a fixed
//! pseudo-random sequence) and prints one line per set: the size and a digest of the component,
//! or the error text, and a digest of the report. Run it before and after a change that must not
//! change behaviour (a restructuring) and compare the two outputs with `diff`.
//!
//! ```sh
//! cargo run --release --example snapshot -- [--seeds N] > before.txt
//! ```
use arbitrary::Unstructured;

/// FNV-1a, 64 bits: enough to tell outputs apart, with no dependency.
fn digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds: u64 = match args.as_slice() {
        [] => 2000,
        [flag, n] if flag == "--seeds" => n.parse().expect("--seeds N"),
        _ => panic!("usage: snapshot [--seeds N]"),
    };
    for seed in 0..seeds {
        let data = weld_fuzz::seed_bytes(seed, 256 + (seed as usize * 97) % 8000);
        let Ok(link) = weld_fuzz::generate(&mut Unstructured::new(&data)) else {
            println!("{seed}: not generated");
            continue;
        };
        let mut linker = weld_component::Linker::default();
        linker.validate(false);
        weld_fuzz::configure(&mut linker, &link);
        match linker.encode() {
            Ok(linked) => println!(
                "{seed}: ok {} bytes {:016x} report {:016x}",
                linked.component.len(),
                digest(&linked.component),
                digest(linked.report.lines().join("\n").as_bytes()),
            ),
            Err(e) => println!("{seed}: error {:?}", e.to_string()),
        }
    }
}

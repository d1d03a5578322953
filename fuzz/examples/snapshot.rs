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

/// splitmix64: the byte stream of one seed.
fn bytes_of(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds: u64 = match args.as_slice() {
        [] => 2000,
        [flag, n] if flag == "--seeds" => n.parse().expect("--seeds N"),
        _ => panic!("usage: snapshot [--seeds N]"),
    };
    for seed in 0..seeds {
        let data = bytes_of(seed, 256 + (seed as usize * 97) % 8000);
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

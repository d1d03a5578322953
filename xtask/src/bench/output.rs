//! The speed of the output, fused against apart, in wasmtime: a loop of calls from one C
//! library into small functions of another, and the instantiation of the CPython component.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use wasmtime::component::Val;
use weld_tests::{Compiled, Mode, fixture, weld_link_in};

use super::{Bench, cpython_set, median};

/// Calls per `calls(n)` run: 2n cross-library calls.
const CALLS: i32 = 5_000_000;

/// The call loop of `libcaller.so` into `libcallee.so`, apart and fused: the median time of a
/// `calls(CALLS)` over the bench's runs, and per cross-library call.
pub(crate) fn calls(bench: &Bench) -> Result<()> {
    println!("\n| output speed (wasmtime) | apart | fused | fused / apart |");
    println!("| --- | --- | --- | --- |");
    for inlining in [false, true] {
        calls_with(bench, inlining)?;
    }
    Ok(())
}

/// [`calls`] in one wasmtime configuration: the default, or with Cranelift's inliner on.
fn calls_with(bench: &Bench, inlining: bool) -> Result<()> {
    let libs = [
        ("libcaller.so", fixture("libcaller.so")),
        ("libcallee.so", fixture("libcallee.so")),
    ];
    let expected = expected_calls(CALLS);
    let mut medians = Vec::new();
    for mode in [Mode::Apart, Mode::Fused] {
        let linked = weld_link_in(mode, &libs).map_err(|e| anyhow::anyhow!("{e}"))?;
        let compiled = match inlining {
            false => Compiled::new(&linked.component)?,
            true => Compiled::inlined(&linked.component)?,
        };
        let mut running = compiled.instantiate()?;
        let mut times = Vec::new();
        for _ in 0..bench.runs.max(3) {
            let start = Instant::now();
            let got = running.call_s32("calls", &[Val::S32(CALLS)])?;
            times.push(start.elapsed());
            ensure!(
                got == expected,
                "{mode:?}: calls() = {got}, expected {expected}"
            );
        }
        medians.push(median(times));
    }
    let [apart, fused] = medians[..] else {
        bail!("two modes, two medians");
    };
    let per_call = |d: Duration| d.as_secs_f64() * 1e9 / (2.0 * f64::from(CALLS));
    println!(
        "| {} cross-library calls (libcaller -> libcallee){} | {:.3} s ({:.2} ns/call) | {:.3} s ({:.2} ns/call) | {:.3} |",
        2 * i64::from(CALLS),
        if inlining {
            ", Cranelift inlining on"
        } else {
            ""
        },
        apart.as_secs_f64(),
        per_call(apart),
        fused.as_secs_f64(),
        per_call(fused),
        fused.as_secs_f64() / apart.as_secs_f64()
    );
    Ok(())
}

/// What `calls(n)` returns (see tests/fixtures/src/caller.c).
pub(crate) fn expected_calls(n: i32) -> i32 {
    let (mut acc, mut mix) = (0i32, 0i32);
    for i in 0..n {
        acc = acc.wrapping_add(1);
        mix = (mix ^ i).wrapping_add(3);
    }
    acc.wrapping_add(mix & 0xff)
}

/// The CPython component (driver + set), linked apart and fused by the release weld, each
/// compiled once with its imports resolved (as a host instantiating it repeatedly would), then
/// instantiated alternately — after a warm-up of each, since a process's first instantiations
/// are slower whichever component comes first: the median instantiation of each.
pub(crate) fn cpython_instantiation(bench: &Bench) -> Result<()> {
    let Some((set, extra)) = cpython_set(&bench.root) else {
        return Ok(());
    };
    let mut compiled = Vec::new();
    for (label, fuse) in [("apart", false), ("fused", true)] {
        let out = bench.dir.join(format!("cpython.{label}.wasm"));
        let status = Command::new(&bench.weld)
            .arg("link")
            .args(fuse.then_some("--fuse"))
            .args(&set)
            .args(&extra)
            .arg("-o")
            .arg(&out)
            .status()?;
        ensure!(
            status.success(),
            "weld failed to link the CPython set ({label})"
        );
        compiled.push(Compiled::new(&std::fs::read(&out)?)?);
    }
    let runs = (bench.runs * 5).max(51);
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); compiled.len()];
    for round in 0..runs + 10 {
        for (c, t) in compiled.iter().zip(times.iter_mut()) {
            let start = Instant::now();
            drop(c.instantiate()?);
            if round >= 10 {
                t.push(start.elapsed());
            }
        }
    }
    let medians: Vec<_> = times.into_iter().map(median).collect();
    let [apart, fused] = medians[..] else {
        bail!("two modes, two medians");
    };
    println!(
        "| CPython component instantiation (constructors included) | {:.2} ms | {:.2} ms | {:.3} |",
        apart.as_secs_f64() * 1e3,
        fused.as_secs_f64() * 1e3,
        fused.as_secs_f64() / apart.as_secs_f64()
    );
    Ok(())
}

//! Fusion at scale: chains of thousands of libraries (more than a component's 1,000 core
//! modules allow apart) linked with `weld link --fuse`, timed, measured for peak memory,
//! validated and run in wasmtime.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::{Bench, chain, check_chain};

/// Links chains of `sizes` libraries with fusion; prints time, peak memory and the run's result.
pub(crate) fn chains(bench: &Bench, sizes: &[usize]) -> Result<()> {
    if sizes.is_empty() {
        return Ok(());
    }
    println!("\n| fused chain | weld link --fuse (wall) | peak memory | output | check |");
    println!("| --- | --- | --- | --- | --- |");
    for &n in sizes {
        let set = chain::write_chain(&bench.dir, n)?;
        let out = bench.dir.join(format!("chain-{n}.fused.wasm"));
        let mut args: Vec<&std::ffi::OsStr> = vec!["link".as_ref(), "--fuse".as_ref()];
        args.extend(set.iter().map(|p| p.as_os_str()));
        args.extend(["-o".as_ref(), out.as_os_str()]);
        let (wall, peak) = measured(&bench.weld, &args)?;
        let size = std::fs::metadata(&out)?.len();
        // weld validated it; this runs it.
        let check = check_chain(&bench.weld, &set, &out, n, &["--fuse"])?;
        println!(
            "| {n} libraries | {:.3} s | {:.1} MiB | {:.1} MiB | {check} |",
            wall.as_secs_f64(),
            peak as f64 / 1024.0,
            size as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(())
}

/// Runs `bin args`; returns its wall time and peak resident memory (KiB).
fn measured(bin: &Path, args: &[&std::ffi::OsStr]) -> Result<(Duration, u64)> {
    let start = Instant::now();
    let child = Command::new(bin).args(args).spawn()?;
    let (ok, peak) = wait_with_peak(child)?;
    let wall = start.elapsed();
    if !ok {
        bail!("{} failed", bin.display());
    }
    Ok((wall, peak))
}

/// Waits for `child`; returns whether it succeeded and its peak resident memory (KiB).
#[cfg(unix)]
fn wait_with_peak(child: std::process::Child) -> Result<(bool, u64)> {
    let pid = libc::pid_t::try_from(child.id())?;
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills; `status` is a valid out-pointer; the
    // child is ours and not waited for elsewhere.
    #[allow(unsafe_code)]
    let (reaped, usage) = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let reaped = libc::wait4(pid, &mut status, 0, &mut usage);
        (reaped, usage)
    };
    if reaped != pid {
        bail!(
            "waiting for weld failed: {}",
            std::io::Error::last_os_error()
        );
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Ok((ok, u64::try_from(usage.ru_maxrss).unwrap_or(0)))
}

/// Waits for `child`; peak memory is not measured on this platform.
#[cfg(not(unix))]
fn wait_with_peak(mut child: std::process::Child) -> Result<(bool, u64)> {
    Ok((child.wait()?.success(), 0))
}

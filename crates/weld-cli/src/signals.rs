//! Signals that would otherwise leave a mess or kill weld without a word.
//!
//! - SIGINT, SIGTERM and SIGHUP remove the staging file (see `output`), then weld dies of the
//!   signal as it would have without the handler. A signal that weld was started ignoring (SIGHUP
//!   under `nohup`, SIGINT in a background job) stays ignored.
//! - SIGBUS inside a memory-mapped input (the file shrank while weld was reading it) prints an
//!   error naming the file, removes the staging file and exits with status 1. A SIGBUS anywhere
//!   else removes the staging file and kills weld as before.
//!
//! A handler may only call async-signal-safe functions, so everything it needs is prepared
//! before it can be needed: the staging file's path as a C string before the file is created,
//! and for each mapped input its address range and complete message before any byte of it is
//! read. These are leaked (they are small and few), so a handler running on any thread never
//! reads freed memory.
//!
//! Only unix has these signals; elsewhere the functions do nothing.

#[cfg(unix)]
pub(crate) use unix::{Watch, clear_staging, install, set_staging, watch};

#[cfg(not(unix))]
pub(crate) use other::{Watch, clear_staging, install, set_staging, watch};

#[cfg(unix)]
#[allow(unsafe_code)]
mod unix {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::ptr;
    use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

    use libc::{c_char, c_int, c_void, siginfo_t};

    /// The staging file's path (a leaked C string), or null when there is none.
    static STAGING: AtomicPtr<c_char> = AtomicPtr::new(ptr::null_mut());

    /// The most recently watched mapping; each links to the one watched before it.
    static REGIONS: AtomicPtr<Region> = AtomicPtr::new(ptr::null_mut());

    /// Set by the first thread that reports a SIGBUS in an input, so the message is written once.
    static REPORTING: AtomicBool = AtomicBool::new(false);

    /// A memory-mapped input as the SIGBUS handler sees it.
    struct Region {
        /// The mapping's address range, `start..end`.
        start: usize,
        end: usize,
        /// The whole line to print for a fault inside it.
        message: &'static [u8],
        /// False once the mapping is about to be unmapped.
        live: AtomicBool,
        /// The region watched before this one.
        next: Option<&'static Region>,
    }

    /// Keeps a mapping known to the SIGBUS handler until it is dropped, which must happen before
    /// the mapping is unmapped.
    pub(crate) struct Watch(&'static Region);

    impl Drop for Watch {
        fn drop(&mut self) {
            self.0.live.store(false, Ordering::Release);
        }
    }

    /// Makes a SIGBUS inside `bytes`, the mapping of the file `path`, an error naming the file.
    /// Call it before reading any of `bytes`.
    pub(crate) fn watch(bytes: &[u8], path: &Path) -> Watch {
        let message = format!(
            "error: input `{}` changed while weld was reading it (was it truncated?)\n",
            path.display()
        );
        let start = bytes.as_ptr() as usize;
        let region = Box::into_raw(Box::new(Region {
            start,
            end: start.saturating_add(bytes.len()),
            message: Box::leak(message.into_bytes().into_boxed_slice()),
            live: AtomicBool::new(true),
            next: None,
        }));
        let mut head = REGIONS.load(Ordering::Acquire);
        loop {
            // SAFETY: `region` is not shared yet, so it may be written; every pointer stored in
            // REGIONS comes from `Box::into_raw` and is never freed.
            unsafe { (*region).next = head.as_ref() };
            match REGIONS.compare_exchange(head, region, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(current) => head = current,
            }
        }
        // SAFETY: the region is never freed, and from now on it is only read.
        Watch(unsafe { &*region })
    }

    impl Region {
        /// The live region, this one or one watched before it, that contains `address`.
        fn find(&'static self, address: usize) -> Option<&'static Region> {
            let mut region = Some(self);
            while let Some(r) = region {
                if r.live.load(Ordering::Acquire) && (r.start..r.end).contains(&address) {
                    return Some(r);
                }
                region = r.next;
            }
            None
        }
    }

    /// Records `path` as the staging file, to be removed if weld is killed by a signal. Call it
    /// before creating the file.
    pub(crate) fn set_staging(path: &Path) {
        let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
            // A path with a NUL byte cannot be created either.
            return;
        };
        // The previous path, if any, is leaked: a handler may be reading it.
        STAGING.store(c_path.into_raw(), Ordering::Release);
    }

    /// Forgets the staging file: it was renamed into place or removed.
    pub(crate) fn clear_staging() {
        STAGING.store(ptr::null_mut(), Ordering::Release);
    }

    /// Installs the handlers (see the module documentation).
    pub(crate) fn install() {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let handler: extern "C" fn(c_int) = on_termination;
            set_action(signal, handler as usize, libc::SA_RESETHAND);
        }
        let handler: extern "C" fn(c_int, *mut siginfo_t, *mut c_void) = on_bus;
        set_action(libc::SIGBUS, handler as usize, libc::SA_SIGINFO);
    }

    /// Sets `handler` for `signal`, unless the signal is ignored.
    fn set_action(signal: c_int, handler: usize, flags: c_int) {
        // SAFETY: `sigaction` is given valid pointers to initialized structures (all-zero is a
        // valid `sigaction`); the handlers only call async-signal-safe functions.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, ptr::null(), &mut old) != 0
                || old.sa_sigaction == libc::SIG_IGN
            {
                return;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler;
            action.sa_flags = flags;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, ptr::null_mut());
        }
    }

    /// Removes the staging file, if there is one. Async-signal-safe.
    fn remove_staging() {
        let path = STAGING.load(Ordering::Acquire);
        if !path.is_null() {
            // SAFETY: a non-null STAGING is a leaked, NUL-terminated C string.
            unsafe { libc::unlink(path) };
        }
    }

    /// SIGINT, SIGTERM, SIGHUP: remove the staging file, then die of the signal. SA_RESETHAND
    /// has restored the default action; the signal raised here is blocked until the handler
    /// returns, and then kills the process.
    extern "C" fn on_termination(signal: c_int) {
        remove_staging();
        // SAFETY: `raise` is async-signal-safe.
        unsafe { libc::raise(signal) };
    }

    /// SIGBUS: a fault inside a watched input is reported and ends weld with status 1; any
    /// other SIGBUS gets the default action (death by the signal) once the handler returns.
    extern "C" fn on_bus(signal: c_int, info: *mut siginfo_t, _context: *mut c_void) {
        let address = fault_address(info);
        // SAFETY: every pointer stored in REGIONS comes from `Box::into_raw` and is never freed.
        let head = unsafe { REGIONS.load(Ordering::Acquire).as_ref() };
        if let Some(region) = head.and_then(|h| h.find(address)) {
            if !REPORTING.swap(true, Ordering::AcqRel) {
                write_stderr(region.message);
                remove_staging();
                // SAFETY: `_exit` is async-signal-safe and ends every thread.
                unsafe { libc::_exit(1) };
            }
            // Another thread is reporting and will end the process.
            loop {
                // SAFETY: `pause` is async-signal-safe.
                unsafe { libc::pause() };
            }
        }
        remove_staging();
        // SAFETY: `sigaction` and `raise` are async-signal-safe. With the default action back,
        // the raised signal (pending until the handler returns) or the fault, which recurs when
        // it returns, kills weld.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, ptr::null_mut());
            libc::raise(signal);
        }
    }

    /// Writes all of `bytes` to stderr, as far as possible. Async-signal-safe.
    fn write_stderr(mut bytes: &[u8]) {
        while !bytes.is_empty() {
            // SAFETY: `write` reads at most `bytes.len()` bytes from a valid slice.
            let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
            match usize::try_from(n) {
                Ok(n) if n > 0 => bytes = bytes.get(n..).unwrap_or_default(),
                _ => return,
            }
        }
    }

    /// The faulting address of a SIGBUS, or 0 where it is not known.
    fn fault_address(info: *mut siginfo_t) -> usize {
        if info.is_null() {
            return 0;
        }
        // SAFETY: the kernel passes a valid `siginfo_t` to an SA_SIGINFO handler.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        return unsafe { (*info).si_addr() } as usize;
        #[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
        return unsafe { (*info).si_addr } as usize;
        #[allow(unreachable_code)]
        0
    }
}

#[cfg(not(unix))]
mod other {
    use std::path::Path;

    /// Nothing to watch without SIGBUS.
    pub(crate) struct Watch;

    /// Does nothing: there is no SIGBUS.
    pub(crate) fn watch(_bytes: &[u8], _path: &Path) -> Watch {
        Watch
    }

    /// Does nothing: no handler removes the staging file.
    pub(crate) fn set_staging(_path: &Path) {}

    /// Does nothing.
    pub(crate) fn clear_staging() {}

    /// Does nothing.
    pub(crate) fn install() {}
}

//! Validation, arranged so that most of it overlaps with linking.
//!
//! Nearly all of the cost of validating a linked component is checking the function bodies of
//! the libraries, which weld copies into the output unchanged. A core module is validated the
//! same way on its own as inside a component (same features; its imports carry their types), so
//! weld checks each kept library's bodies from the library's own bytes, on background threads,
//! while the main thread synthesizes and encodes. The output is then validated structurally —
//! every section, type, import, export and instantiation — with the bodies of modules already
//! checked skipped by byte range. The verdict is that of validating the output in full.
//!
//! The work is a queue of body batches: one thread walks the libraries' sections in order and
//! fills the queue, the others (and the main thread, once the output is ready) take batches from
//! it. Errors are reported per library, the lowest offset first, so the result does not depend
//! on scheduling.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::thread::{Scope, ScopedJoinHandle};

use wasmparser::{
    BinaryReaderError, FuncToValidate, FuncValidatorAllocations, FunctionBody, Parser,
    ValidPayload, Validator, ValidatorResources, WasmFeatures,
};

/// Bytes of function bodies per queued batch: large enough to make queue traffic negligible,
/// small enough to balance libpython's 9 MB of code over the available cores.
const BATCH_BYTES: usize = 128 * 1024;

type Body<'a> = (FuncToValidate<ValidatorResources>, FunctionBody<'a>);

struct Batch<'a> {
    /// Position of the library in the list given to [`InputValidation::start`].
    library: usize,
    bodies: Vec<Body<'a>>,
}

#[derive(Default)]
struct State<'a> {
    queue: VecDeque<Batch<'a>>,
    /// Every library's sections have been walked; no more batches will come.
    done: bool,
    /// Per library, the error with the lowest byte offset found so far.
    errors: Vec<Option<BinaryReaderError>>,
}

struct Shared<'a> {
    state: Mutex<State<'a>>,
    ready: Condvar,
    /// The link failed or finished: stop as soon as possible.
    cancelled: AtomicBool,
    /// Per library: pruned, so its remaining work is dropped.
    skip: Vec<AtomicBool>,
}

impl<'a> Shared<'a> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<'a>> {
        // A poisoned lock means a validator thread panicked (`finish` passes the panic on); the
        // state is still consistent (every update is a single push or assignment).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, library: usize, error: BinaryReaderError) {
        let mut state = self.lock();
        if let Some(slot) = state.errors.get_mut(library) {
            let lower = slot.as_ref().is_none_or(|e| error.offset() < e.offset());
            if lower {
                *slot = Some(error);
            }
        }
    }

    fn push(&self, batch: Batch<'a>) {
        self.lock().queue.push_back(batch);
        self.ready.notify_one();
    }

    fn finish_producing(&self) {
        self.lock().done = true;
        self.ready.notify_all();
    }

    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    fn skipped(&self, library: usize) -> bool {
        self.skip
            .get(library)
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// Validates batches until the queue is empty and closed.
    fn consume(&self) {
        let mut allocs = FuncValidatorAllocations::default();
        loop {
            let batch = {
                let mut state = self.lock();
                loop {
                    if self.cancelled() {
                        break None;
                    }
                    if let Some(b) = state.queue.pop_front() {
                        break Some(b);
                    }
                    if state.done {
                        break None;
                    }
                    state = self
                        .ready
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            };
            let Some(batch) = batch else {
                return;
            };
            if self.skipped(batch.library) {
                continue;
            }
            // Later bodies of a batch have higher offsets: its first error is enough.
            if let Err(e) = check_bodies(batch.bodies, &mut allocs) {
                self.record(batch.library, e);
            }
        }
    }

    /// Walks every library's sections in order, validating the structure and queueing bodies.
    fn produce(&self, libraries: &[&'a [u8]]) {
        for (library, bytes) in libraries.iter().enumerate() {
            if self.cancelled() {
                break;
            }
            if self.skipped(library) {
                continue;
            }
            let mut validator = Validator::new_with_features(WasmFeatures::all());
            let mut batch = Vec::new();
            let mut size = 0usize;
            let mut failed = None;
            for payload in Parser::new(0).parse_all(bytes) {
                if self.cancelled() {
                    break;
                }
                let step = payload.and_then(|p| validator.payload(&p));
                match step {
                    Ok(ValidPayload::Func(func, body)) => {
                        size += body.as_bytes().len();
                        batch.push((func, body));
                        if size >= BATCH_BYTES {
                            self.push(Batch {
                                library,
                                bodies: std::mem::take(&mut batch),
                            });
                            size = 0;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                self.push(Batch {
                    library,
                    bodies: batch,
                });
            }
            if let Some(e) = failed {
                self.record(library, e);
            }
        }
        self.finish_producing();
    }
}

/// Background validation of input libraries, started with [`InputValidation::start`] and
/// collected with [`InputValidation::finish`].
pub(crate) struct InputValidation<'scope, 'a> {
    shared: &'scope Shared<'a>,
    threads: Vec<ScopedJoinHandle<'scope, ()>>,
}

impl Drop for InputValidation<'_, '_> {
    /// Stops the threads early when the link ends without calling `finish` (an error).
    fn drop(&mut self) {
        self.shared.cancelled.store(true, Ordering::Relaxed);
        // Taking the lock orders the store before any consumer's next check.
        drop(self.shared.lock());
        self.shared.ready.notify_all();
    }
}

/// Storage for the queue; lives outside the thread scope so the threads may borrow it.
pub(crate) struct Queue<'a>(Shared<'a>);

impl<'a> Queue<'a> {
    /// An empty queue for `libraries` libraries.
    pub(crate) fn new(libraries: usize) -> Self {
        Queue(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                done: false,
                errors: std::iter::repeat_with(|| None).take(libraries).collect(),
            }),
            ready: Condvar::new(),
            cancelled: AtomicBool::new(false),
            skip: std::iter::repeat_with(|| AtomicBool::new(false))
                .take(libraries)
                .collect(),
        })
    }
}

impl<'scope, 'a: 'scope> InputValidation<'scope, 'a> {
    /// Starts validating `libraries` (module bytes) on background threads: one walks the
    /// sections, the others check bodies; with one core, a single thread does both. Dropping the
    /// result without calling [`InputValidation::finish`] stops the threads early.
    pub(crate) fn start<'env>(
        scope: &'scope Scope<'scope, 'env>,
        queue: &'scope Queue<'a>,
        libraries: Vec<&'a [u8]>,
    ) -> Self
    where
        'a: 'env,
    {
        let shared = &queue.0;
        let cores = cores();
        let mut threads = Vec::with_capacity(cores);
        threads.push(scope.spawn(move || {
            shared.produce(&libraries);
            shared.consume();
        }));
        for _ in 1..cores {
            threads.push(scope.spawn(move || shared.consume()));
        }
        InputValidation { shared, threads }
    }

    /// Drops the remaining work of the libraries for which `keep` is false (pruned ones).
    pub(crate) fn prune(&self, keep: impl Fn(usize) -> bool) {
        for (library, skip) in self.shared.skip.iter().enumerate() {
            if !keep(library) {
                skip.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Helps with the remaining bodies on the calling thread, waits for the others and returns,
    /// per library (positions as given to [`InputValidation::start`]), the first error found.
    /// Libraries dropped by [`InputValidation::prune`] may or may not have been checked.
    pub(crate) fn finish(mut self) -> Vec<(usize, BinaryReaderError)> {
        self.shared.consume();
        for t in std::mem::take(&mut self.threads) {
            // A panic in wasmparser is passed on as it would be had the main thread validated:
            // the bodies it was checking must not pass as valid.
            if let Err(panic) = t.join() {
                std::panic::resume_unwind(panic);
            }
        }
        let mut state = self.shared.lock();
        std::mem::take(&mut state.errors)
            .into_iter()
            .enumerate()
            .filter_map(|(i, e)| e.map(|e| (i, e)))
            .collect()
    }
}

/// Validates a component or module in full, skipping the function bodies that lie inside one of
/// `checked` (byte ranges of modules whose bodies were validated already, in ascending order and
/// not overlapping). The bodies that remain
/// are checked on all cores when there are many.
pub(crate) fn validate_skipping(
    bytes: &[u8],
    checked: &[Range<usize>],
) -> Result<(), BinaryReaderError> {
    let mut validator = Validator::new_with_features(WasmFeatures::all());
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        if let ValidPayload::Func(func, body) = validator.payload(&payload?)? {
            let at = usize::try_from(body.range().start).unwrap_or(usize::MAX);
            // `checked` is in ascending order: the candidate is the last range starting at or
            // before the body.
            let candidate = checked.partition_point(|r| r.start <= at).checked_sub(1);
            let skip = candidate
                .and_then(|i| checked.get(i))
                .is_some_and(|r| r.contains(&at));
            if !skip {
                bodies.push((func, body));
            }
        }
    }
    validate_bodies(bodies)
}

/// Checks function bodies, split among the available cores when there are many; the error
/// reported is the one with the lowest offset.
fn validate_bodies(bodies: Vec<Body<'_>>) -> Result<(), BinaryReaderError> {
    let threads = cores();
    let check =
        |chunk: Vec<Body<'_>>| check_bodies(chunk, &mut FuncValidatorAllocations::default());
    if threads == 1 || bodies.len() < 64 {
        return check(bodies);
    }
    // Balance by body size rather than count.
    let total: usize = bodies.iter().map(|(_, b)| b.as_bytes().len()).sum();
    let share = total / threads + 1;
    let mut chunks: Vec<Vec<_>> = Vec::with_capacity(threads);
    let mut current = Vec::new();
    let mut size = 0;
    for (func, body) in bodies {
        size += body.as_bytes().len();
        current.push((func, body));
        if size >= share {
            chunks.push(std::mem::take(&mut current));
            size = 0;
        }
    }
    chunks.push(current);
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || check(chunk)))
            .collect();
        // Chunks are in offset order and each stops at its first error: the first failing
        // chunk holds the lowest offset.
        let mut first = Ok(());
        for h in handles {
            // As in `InputValidation::finish`, a validator panic is passed on, never taken for
            // success.
            let r = h
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            if first.is_ok() {
                first = r;
            }
        }
        first
    })
}

/// The number of validating threads: the available cores, at most 8.
fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
}

/// Checks `bodies` in order, stopping at the first error; `allocs` is reused across bodies (and
/// calls).
fn check_bodies<'a>(
    bodies: impl IntoIterator<Item = Body<'a>>,
    allocs: &mut FuncValidatorAllocations,
) -> Result<(), BinaryReaderError> {
    for (func, body) in bodies {
        let mut v = func.into_validator(std::mem::take(allocs));
        let result = v.validate(&body);
        *allocs = v.into_allocations();
        result?;
    }
    Ok(())
}

/// Validates `bytes` (a module or component) with every feature enabled, checking function
/// bodies on all available cores: the structure is validated in order, the bodies collected and
/// split among threads. Same verdict as `Validator::validate_all`; most of the work for large
/// libraries such as libpython is in the bodies.
pub fn validate(bytes: &[u8]) -> Result<(), BinaryReaderError> {
    validate_skipping(bytes, &[])
}

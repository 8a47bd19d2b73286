//! Helper threads that spin for a short time after each job before they park.
//!
//! Training calls the batch gradient many times a second, with a serial optimiser step in
//! between. An idle rayon 1.13 worker sleeps after 33 rounds of `yield_now`, which takes tens
//! of microseconds on an idle machine. On the 2-vCPU virtual machine of the benchmarks a
//! sleeping worker took up to about a millisecond to wake, so the caller waited for the last
//! chunk. These helpers instead poll for the next job for up to [`SPIN_TIME`] and only then
//! park, and on Linux a helper moves off the caller's CPU when it finds itself there. Which
//! thread runs a task never changes its result.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, TryLockError};
use std::thread::Thread;
use std::time::{Duration, Instant};

use rayon::prelude::*;

/// How long an idle helper polls for the next job before it parks, and a caller for a
/// running helper. It covers the work between two gradients of the read-out benchmark's
/// training loop (about 0.15 ms at 100 units, mostly the optimiser step) several times over,
/// and bounds the CPU time an idle helper burns after each job.
const SPIN_TIME: Duration = Duration::from_millis(1);

/// Polls between two reads of the clock while a thread spins.
const POLLS_PER_CLOCK_READ: u32 = 64;

/// Helper states. The caller moves a helper from `IDLE` to `POSTED`; the helper takes the
/// job by moving it to `RUNNING` and reports `DONE`. A caller that finishes every task first
/// takes an untaken job back by moving `POSTED` to `IDLE`.
const IDLE: u32 = 0;
const POSTED: u32 = 1;
const RUNNING: u32 = 2;
const DONE: u32 = 3;

/// Runs `task(0)`, ..., `task(n_tasks - 1)` on the calling thread and up to `threads - 1`
/// helper threads, and returns the results in task order.
///
/// Tasks are handed out one at a time, so a helper that starts late takes fewer of them.
/// When the caller runs out of tasks, it takes back the job of any helper that has not
/// started, so it waits only for helpers that are running a task. Helpers spin after a job
/// only while `threads` does not exceed the number of CPUs, because spinning on a shared CPU
/// delays the threads being waited for. If another thread is already using the helpers, the
/// tasks run on the current rayon pool instead. A panic in a task is raised again in the
/// caller once every helper has left the job.
pub(crate) fn map_indexed<R, F>(n_tasks: usize, threads: usize, task: F) -> Vec<R>
where
    R: Send,
    F: Fn(usize) -> R + Sync,
{
    let n_helpers = threads.min(n_tasks).saturating_sub(1);
    if n_helpers == 0 {
        return (0..n_tasks).map(task).collect();
    }
    let mut helpers = match HELPERS.try_lock() {
        Ok(helpers) => helpers,
        // A panic never leaves the list half-changed: helpers are only appended.
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => {
            return (0..n_tasks).into_par_iter().map(&task).collect();
        }
    };
    while helpers.len() < n_helpers {
        let index = helpers.len();
        match Helper::spawn(index) {
            Ok(helper) => helpers.push(helper),
            Err(_) => break,
        }
    }
    // The mask is read on every call, so that helpers stop spinning as soon as the caller
    // is confined to fewer CPUs than threads.
    let cpus = available_cpus().min(placement::own_cpu_count().unwrap_or(usize::MAX));
    let spin = threads <= cpus;
    let job = Job {
        task: &task,
        next: AtomicUsize::new(0),
        results: (0..n_tasks).map(|_| OnceLock::new()).collect(),
        panic: Mutex::new(None),
    };
    let erased = ErasedJob {
        data: std::ptr::from_ref(&job).cast(),
        run: run_erased::<R>,
    };
    let posted = &helpers[..n_helpers.min(helpers.len())];
    let caller_cpu = placement::current_cpu();
    for helper in posted {
        helper.post(erased, spin, caller_cpu);
    }
    job.run();
    let caller_cpu = placement::current_cpu();
    for helper in posted {
        helper.collect(spin, caller_cpu);
    }
    drop(helpers);

    let Job { results, panic, .. } = job;
    if let Some(payload) = panic.into_inner().unwrap_or_else(|e| e.into_inner()) {
        resume_unwind(payload);
    }
    results
        .into_iter()
        .map(|slot| slot.into_inner().expect("every task ran once"))
        .collect()
}

/// Returns the number of CPUs this process may use, read once per process.
///
/// `std::thread::available_parallelism` reads the cgroup files and the CPU affinity on every
/// call. On the 2-vCPU benchmark machine that took about 27 microseconds, a sixth of a
/// two-thread gradient of the 20-unit read-out benchmark.
fn available_cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Helper threads, created on first use and kept for the life of the process. The lock is
/// held by the one caller whose job they run.
static HELPERS: Mutex<Vec<Helper>> = Mutex::new(Vec::new());

/// One job: a task, the index of the next task to hand out, and one result slot per task.
struct Job<'a, R> {
    task: &'a (dyn Fn(usize) -> R + Sync),
    next: AtomicUsize,
    results: Vec<OnceLock<R>>,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl<R: Send> Job<'_, R> {
    /// Takes tasks until none is left. After a panic no further task is handed out.
    fn run(&self) {
        let n_tasks = self.results.len();
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= n_tasks {
                return;
            }
            match catch_unwind(AssertUnwindSafe(|| (self.task)(index))) {
                Ok(result) => {
                    if self.results[index].set(result).is_err() {
                        unreachable!("task {index} was handed out twice");
                    }
                }
                Err(payload) => {
                    self.next.store(n_tasks, Ordering::Relaxed);
                    let mut slot = self.panic.lock().unwrap_or_else(|e| e.into_inner());
                    slot.get_or_insert(payload);
                    return;
                }
            }
        }
    }
}

/// Runs the job behind `data`.
///
/// # Safety
/// `data` must point to a live `Job<R>`.
unsafe fn run_erased<R: Send>(data: *const ()) {
    // SAFETY: guaranteed by the caller.
    let job = unsafe { &*data.cast::<Job<'_, R>>() };
    job.run();
}

/// A job with its result type erased, so that one helper thread serves any caller.
#[derive(Clone, Copy)]
struct ErasedJob {
    data: *const (),
    run: unsafe fn(*const ()),
}

// SAFETY: the job behind `data` is `Sync` (atomics, `OnceLock` slots of `Send` results, a
// mutex and a `Sync` task), and `map_indexed` keeps it alive until every helper that took
// it has reported `DONE`.
unsafe impl Send for ErasedJob {}

/// State shared between the caller and one helper thread.
struct Shared {
    state: AtomicU32,
    /// Whether the helper spins after this job, set by the caller with the job.
    spin: AtomicBool,
    /// Whether the helper is parked or about to park.
    parked: AtomicBool,
    /// The CPU the caller ran on when it posted the job ([`placement::UNKNOWN_CPU`] if
    /// not known).
    caller_cpu: AtomicUsize,
    /// The CPU the helper ran on when it took its job.
    helper_cpu: AtomicUsize,
    job: Mutex<Option<ErasedJob>>,
    /// The caller waiting for `DONE`, once it has stopped spinning and parks.
    waiter: Mutex<Option<Thread>>,
}

struct Helper {
    shared: Arc<Shared>,
    thread: Thread,
}

impl Helper {
    fn spawn(index: usize) -> std::io::Result<Helper> {
        let shared = Arc::new(Shared {
            state: AtomicU32::new(IDLE),
            spin: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            caller_cpu: AtomicUsize::new(placement::UNKNOWN_CPU),
            helper_cpu: AtomicUsize::new(placement::UNKNOWN_CPU),
            job: Mutex::new(None),
            waiter: Mutex::new(None),
        });
        let for_thread = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name(format!("rnn-core-helper-{index}"))
            .spawn(move || helper_loop(&for_thread))?;
        Ok(Helper {
            shared,
            thread: handle.thread().clone(),
        })
    }

    /// Hands `job` to the helper and wakes it if it is parked.
    fn post(&self, job: ErasedJob, spin: bool, caller_cpu: usize) {
        *self.shared.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(job);
        self.shared.spin.store(spin, Ordering::Relaxed);
        self.shared.caller_cpu.store(caller_cpu, Ordering::Relaxed);
        self.shared.state.store(POSTED, Ordering::SeqCst);
        if self.shared.parked.load(Ordering::SeqCst) {
            self.thread.unpark();
        }
    }

    /// Takes the job back if the helper has not started it, else waits until it is done.
    fn collect(&self, spin: bool, caller_cpu: usize) {
        let state = &self.shared.state;
        if state
            .compare_exchange(POSTED, IDLE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return;
        }

        // The helper is running its last task, so the wait is short unless the helper
        // started late or its CPU is taken by another process. After the spin the caller
        // parks, so that it does not hold a CPU the helper may need. It parks at once if
        // the helper was on the caller's CPU when it took the job.
        let shares_cpu = caller_cpu != placement::UNKNOWN_CPU
            && self.shared.helper_cpu.load(Ordering::Relaxed) == caller_cpu;
        let spin_time = if spin && !shares_cpu {
            SPIN_TIME
        } else {
            Duration::ZERO
        };
        let started = Instant::now();
        let mut polls = 0u32;
        while state.load(Ordering::Acquire) != DONE {
            polls = polls.wrapping_add(1);
            if !polls.is_multiple_of(POLLS_PER_CLOCK_READ) || started.elapsed() < spin_time {
                std::hint::spin_loop();
                continue;
            }
            *self.shared.waiter.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(std::thread::current());
            if state.load(Ordering::SeqCst) != DONE {
                // The timeout only bounds the wait should a wake-up be missed.
                std::thread::park_timeout(SPIN_TIME);
            }
        }

        self.shared
            .waiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        state.store(IDLE, Ordering::Release);
    }
}

/// Waits for posted jobs and runs them, spinning for up to [`SPIN_TIME`] after each job (if
/// the job asked for it), then parking.
///
/// A helper that finds itself on the CPU of the thread that posted the last job moves to
/// another CPU it may use. On the 2-vCPU benchmark machine the scheduler sometimes kept the
/// two threads on one CPU for milliseconds while the other CPU idled. The spinning helper
/// then took the caller's CPU time, or the caller waited for a helper that could not run.
fn helper_loop(shared: &Shared) {
    let leave_caller_cpu = || {
        let cpu = placement::current_cpu();
        if cpu != placement::UNKNOWN_CPU && cpu == shared.caller_cpu.load(Ordering::Relaxed) {
            placement::leave(cpu);
        }
    };
    loop {
        let finished = Instant::now();
        let spin_time = if shared.spin.load(Ordering::Relaxed) {
            SPIN_TIME
        } else {
            Duration::ZERO
        };
        let mut polls = 0u32;
        while shared.state.load(Ordering::Acquire) != POSTED {
            polls = polls.wrapping_add(1);
            if !polls.is_multiple_of(POLLS_PER_CLOCK_READ) {
                std::hint::spin_loop();
                continue;
            }
            if finished.elapsed() < spin_time {
                leave_caller_cpu();
                continue;
            }
            // Announce the park before the last check, so that a caller that posts after
            // the check reads `parked` and unparks this thread.
            shared.parked.store(true, Ordering::SeqCst);
            if shared.state.load(Ordering::SeqCst) != POSTED {
                std::thread::park();
            }
            shared.parked.store(false, Ordering::SeqCst);
        }
        // Stored before the job is taken, so that a caller that finds it taken reads it.
        leave_caller_cpu();
        shared
            .helper_cpu
            .store(placement::current_cpu(), Ordering::Relaxed);
        if shared
            .state
            .compare_exchange(POSTED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // The caller took the job back.
            continue;
        }
        let job = shared
            .job
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("a posted job");
        // SAFETY: the caller keeps the job alive until this helper reports `DONE`.
        unsafe { (job.run)(job.data) };
        // The waiter is read under its lock after `DONE` is stored, and the caller stores
        // itself under the same lock before its last check of `DONE`, so a parked caller
        // is always woken.
        let waiter = shared.waiter.lock().unwrap_or_else(|e| e.into_inner());
        shared.state.store(DONE, Ordering::SeqCst);
        if let Some(caller) = waiter.as_ref() {
            caller.unpark();
        }
        drop(waiter);
    }
}

/// Reading the CPU of a thread, and moving a helper thread off a CPU (Linux only).
#[cfg(target_os = "linux")]
mod placement {
    use std::mem::{size_of, MaybeUninit};

    /// Marker for a CPU that could not be read.
    pub(super) const UNKNOWN_CPU: usize = usize::MAX;

    /// Number of CPUs a `cpu_set_t` can name.
    const SET_BITS: usize = 8 * size_of::<libc::cpu_set_t>();

    /// Returns the CPU the calling thread runs on now, or [`UNKNOWN_CPU`].
    pub(super) fn current_cpu() -> usize {
        // SAFETY: `sched_getcpu` has no arguments and no preconditions.
        let cpu = unsafe { libc::sched_getcpu() };
        usize::try_from(cpu).unwrap_or(UNKNOWN_CPU)
    }

    /// Returns the calling thread's CPU mask, or `None` if it cannot be read.
    pub(super) fn own_mask() -> Option<libc::cpu_set_t> {
        let mut set = MaybeUninit::<libc::cpu_set_t>::zeroed();
        // SAFETY: `set` is a writable `cpu_set_t` of the size passed, and pid 0 names the
        // calling thread.
        let status =
            unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), set.as_mut_ptr()) };
        // SAFETY: all-zero bytes are a valid (empty) `cpu_set_t`, and a successful call
        // filled it in.
        (status == 0).then(|| unsafe { set.assume_init() })
    }

    /// Sets the calling thread's CPU mask and returns whether the call succeeded.
    pub(super) fn set_own_mask(mask: &libc::cpu_set_t) -> bool {
        // SAFETY: `mask` is a valid `cpu_set_t` of the size passed, and pid 0 names the
        // calling thread.
        unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), mask) == 0 }
    }

    /// Returns whether `mask` contains `cpu`.
    pub(super) fn contains(mask: &libc::cpu_set_t, cpu: usize) -> bool {
        // SAFETY: `cpu` is below the number of CPUs the set can name.
        cpu < SET_BITS && unsafe { libc::CPU_ISSET(cpu, mask) }
    }

    /// Returns the number of CPUs in `mask`.
    pub(super) fn count(mask: &libc::cpu_set_t) -> usize {
        // SAFETY: `mask` is a valid `cpu_set_t`.
        usize::try_from(unsafe { libc::CPU_COUNT(mask) }).unwrap_or(0)
    }

    /// Returns the number of CPUs the calling thread may run on now, or `None`.
    pub(super) fn own_cpu_count() -> Option<usize> {
        own_mask().as_ref().map(count)
    }

    /// Moves the calling thread off `cpu` to another CPU of its mask, and returns whether it
    /// left. The mask is narrowed to leave `cpu` out, which migrates the thread at once, and
    /// then set back as it was unless it changed meanwhile. Does nothing if the mask lacks
    /// `cpu` or has no other CPU, or a call fails: the thread then stays where it is, which
    /// costs time but never changes a result.
    ///
    /// NOTE: a mask that another program (such as `taskset -a -p`) sets between the reading
    /// and the narrowing, or between the last check and the setting back, is overwritten.
    /// The windows last a few microseconds per move; Linux has no call that compares and
    /// sets a mask in one step.
    pub(super) fn leave(cpu: usize) -> bool {
        let Some(mask) = own_mask() else {
            return false;
        };
        if !contains(&mask, cpu) {
            return false;
        }
        let mut narrowed = mask;
        // SAFETY: `contains` checked that `cpu` is below the number of CPUs the set can name.
        unsafe { libc::CPU_CLR(cpu, &mut narrowed) };
        if count(&narrowed) == 0 || !set_own_mask(&narrowed) {
            return false;
        }
        let left = current_cpu() != cpu;
        if own_mask().is_some_and(|now| same_cpus(&now, &narrowed)) {
            set_own_mask(&mask);
        }
        left
    }

    /// Returns whether two masks contain the same CPUs.
    pub(super) fn same_cpus(a: &libc::cpu_set_t, b: &libc::cpu_set_t) -> bool {
        // SAFETY: both are valid `cpu_set_t`s.
        unsafe { libc::CPU_EQUAL(a, b) }
    }
}

/// Other systems: the CPU is never known, so a helper never moves.
#[cfg(not(target_os = "linux"))]
mod placement {
    pub(super) const UNKNOWN_CPU: usize = usize::MAX;

    pub(super) fn current_cpu() -> usize {
        UNKNOWN_CPU
    }

    pub(super) fn own_cpu_count() -> Option<usize> {
        None
    }

    pub(super) fn leave(_cpu: usize) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_task_order() {
        for threads in [1, 2, 3, 8] {
            for n_tasks in [0, 1, 2, 5, 17] {
                let results = map_indexed(n_tasks, threads, |i| i * i);
                let expected: Vec<usize> = (0..n_tasks).map(|i| i * i).collect();
                assert_eq!(results, expected, "{threads} threads, {n_tasks} tasks");
            }
        }
    }

    #[test]
    fn each_task_runs_once() {
        let counts: Vec<AtomicUsize> = (0..40).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..50 {
            map_indexed(counts.len(), 4, |i| {
                counts[i].fetch_add(1, Ordering::Relaxed)
            });
        }
        for (i, count) in counts.iter().enumerate() {
            assert_eq!(count.load(Ordering::Relaxed), 50, "task {i}");
        }
    }

    #[test]
    fn calls_after_a_park_still_run() {
        // The second call comes after the helpers have parked.
        assert_eq!(map_indexed(3, 2, |i| i + 1), vec![1, 2, 3]);
        std::thread::sleep(SPIN_TIME * 3);
        assert_eq!(map_indexed(3, 2, |i| i + 1), vec![1, 2, 3]);
    }

    #[test]
    fn concurrent_callers_get_own_results() {
        let outputs: Vec<Vec<usize>> = (0..4usize)
            .into_par_iter()
            .map(|caller| map_indexed(9, 2, |i| 100 * caller + i))
            .collect();
        for (caller, output) in outputs.iter().enumerate() {
            let expected: Vec<usize> = (0..9).map(|i| 100 * caller + i).collect();
            assert_eq!(*output, expected, "caller {caller}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn leaving_a_cpu_keeps_the_mask() {
        // A fresh thread, so that the test's own thread keeps its CPU mask.
        std::thread::spawn(|| {
            let mask = placement::own_mask().expect("sched_getaffinity works on Linux");
            let cpu = placement::current_cpu();
            assert!(
                placement::contains(&mask, cpu),
                "cpu {cpu} outside the mask"
            );
            let left = placement::leave(cpu);
            // `sched_setaffinity` returns once the thread runs on a CPU of the new mask, so
            // the thread leaves whenever the mask has another CPU.
            assert_eq!(left, placement::count(&mask) >= 2);
            let after = placement::own_mask().unwrap();
            assert!(
                placement::same_cpus(&after, &mask),
                "the mask must be set back"
            );
        })
        .join()
        .unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn leaving_never_widens_a_narrowed_mask() {
        std::thread::spawn(|| {
            // A mask of the current CPU alone, as a user's `taskset` could leave it.
            let cpu = placement::current_cpu();
            let mut only = placement::own_mask().unwrap();
            // SAFETY: a `cpu_set_t` is plain bits, and `cpu` came from `sched_getcpu`.
            unsafe {
                libc::CPU_ZERO(&mut only);
                libc::CPU_SET(cpu, &mut only);
            }
            assert!(placement::set_own_mask(&only));
            assert!(!placement::leave(cpu), "no other CPU to move to");
            // A CPU outside the mask is not left either.
            assert!(!placement::leave(cpu + 1));
            let after = placement::own_mask().unwrap();
            assert!(placement::same_cpus(&after, &only));
            assert_eq!(placement::current_cpu(), cpu);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn task_panic_reaches_caller() {
        let outcome = catch_unwind(|| {
            map_indexed(6, 2, |i| {
                assert!(i != 4, "task 4 fails");
                i
            })
        });
        let payload = outcome.expect_err("the panic of task 4");
        let message = match payload.downcast_ref::<&str>() {
            Some(text) => (*text).to_string(),
            None => payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default(),
        };
        assert!(message.contains("task 4 fails"), "{message}");
        // The helpers serve the next call.
        assert_eq!(map_indexed(4, 2, |i| i), vec![0, 1, 2, 3]);
    }
}

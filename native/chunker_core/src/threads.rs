//! Priority of the engine's background threads.
//!
//! The rayon pools run bulk work (parallel chunking, pipeline stages, batch
//! and BLAKE3 hashing) next to the BEAM, whose normal schedulers must wake
//! within a millisecond or two. Every pool thread calls
//! [`lower_priority`] when it starts, so on a busy machine the kernel runs a
//! waking scheduler thread before our bulk work instead of sharing the cores
//! with it evenly.
//!
//! Long single-threaded calls (compressing or hashing megabytes) get the
//! same treatment through [`offload`]: a caller on a thread we do not own
//! (a BEAM dirty scheduler) hands the work to a lowered pool thread and
//! sleeps until it is done, instead of competing with the normal
//! schedulers at full priority.

use std::sync::OnceLock;

/// Work on at least this many bytes is [`offload`]ed: about 1-3 ms of
/// compression, against a hand-off of some 10-30 µs.
pub const OFFLOAD_MIN_BYTES: usize = 1 << 20;

/// Nice value of background threads (19, the lowest priority: idle cores
/// still go to the pool, so throughput is unchanged when the BEAM is idle).
pub const WORKER_NICE: i32 = 19;

/// Lowers the calling thread's scheduling priority: on Linux, `SCHED_BATCH`
/// (never preempts on wakeup) at nice [`WORKER_NICE`], for this thread only.
/// Best effort: a refusal leaves the thread as it was. No-op elsewhere.
pub fn lower_priority() {
    #[cfg(target_os = "linux")]
    linux::lower_priority();
}

/// A rayon pool builder whose threads are named `{prefix}-{i}` and run at
/// the lowered priority.
pub fn pool_builder(prefix: &'static str) -> rayon::ThreadPoolBuilder {
    rayon::ThreadPoolBuilder::new()
        .thread_name(move |i| format!("{prefix}-{i}"))
        .start_handler(|_| lower_priority())
}

/// Makes rayon's global pool (used by BLAKE3's `update_rayon` and parallel
/// iterators outside our own pools) a lowered-priority pool, once, if
/// nothing built it before. Does nothing on a pool thread (the work stays
/// on that pool). Cheap after the first call.
pub fn init_global_pool() {
    static DONE: OnceLock<()> = OnceLock::new();
    if rayon::current_thread_index().is_some() {
        return;
    }
    DONE.get_or_init(|| {
        // An error only means the global pool already exists.
        let _ = pool_builder("chunker-global").build_global();
    });
}

/// Runs `work` (on about `bytes` bytes) on the lowered-priority offload
/// pool and waits for it, the calling thread asleep, when `bytes` is at
/// least [`OFFLOAD_MIN_BYTES`]; runs it on the calling thread when the work
/// is smaller, the caller is already a pool thread, or no pool could be
/// started. A panic in `work` resumes on the caller.
pub fn offload<R: Send>(bytes: usize, work: impl FnOnce() -> R + Send) -> R {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    if bytes < OFFLOAD_MIN_BYTES || rayon::current_thread_index().is_some() {
        return work();
    }
    let pool = POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        pool_builder("chunker-offload")
            .num_threads(cores)
            .build()
            .ok()
    });
    match pool {
        Some(pool) => pool.install(work),
        None => work(),
    }
}

/// CPU time the calling thread has used (Linux; `None` elsewhere). Unlike
/// wall time it does not grow while the OS runs other threads.
pub fn thread_cpu_time() -> Option<std::time::Duration> {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the clock id is a
        // constant the kernel supports.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        (rc == 0).then(|| std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

#[cfg(target_os = "linux")]
mod linux {
    use super::WORKER_NICE;

    pub fn lower_priority() {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: plain syscall on the calling thread (pid 0) with a valid,
        // initialized parameter struct; failure only leaves the default
        // policy.
        unsafe {
            libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
        }
        // SAFETY: gettid has no preconditions; setpriority on one thread id
        // (Linux nice is per thread) only changes that thread's nice value,
        // and failure leaves it unchanged.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, WORKER_NICE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This thread's nice value and scheduling policy.
    #[cfg(target_os = "linux")]
    fn priority() -> (i32, i32) {
        // SAFETY: gettid has no preconditions; getpriority and
        // sched_getscheduler only read the calling thread's attributes.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            *libc::__errno_location() = 0;
            let nice = libc::getpriority(libc::PRIO_PROCESS, tid);
            (nice, libc::sched_getscheduler(0))
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pool_threads_run_lowered_and_the_caller_does_not() {
        let before = priority();
        let pool = pool_builder("threads-test").num_threads(2).build().unwrap();
        let inside: Vec<(i32, i32)> = pool.broadcast(|_| priority());
        assert_eq!(inside, vec![(WORKER_NICE, libc::SCHED_BATCH); 2]);
        assert_eq!(priority(), before, "only the pool's threads change");
        let name = pool.install(|| std::thread::current().name().map(String::from));
        assert!(name.unwrap().starts_with("threads-test-"));
    }

    #[test]
    fn offload_runs_big_work_on_a_pool_thread_and_small_work_inline() {
        let caller = std::thread::current().id();
        let (thread, name) = offload(OFFLOAD_MIN_BYTES, || {
            let t = std::thread::current();
            (t.id(), t.name().map(String::from))
        });
        assert_ne!(thread, caller);
        assert!(name.unwrap().starts_with("chunker-offload-"));
        #[cfg(target_os = "linux")]
        assert_eq!(
            offload(OFFLOAD_MIN_BYTES, priority),
            (WORKER_NICE, libc::SCHED_BATCH)
        );
        let small = offload(OFFLOAD_MIN_BYTES - 1, || std::thread::current().id());
        assert_eq!(small, caller);
        let nested = offload(OFFLOAD_MIN_BYTES, || {
            let outer = std::thread::current().id();
            offload(OFFLOAD_MIN_BYTES, || std::thread::current().id()) == outer
        });
        assert!(nested, "work offloaded from a pool thread stays on it");
        let panicked = std::panic::catch_unwind(|| offload(OFFLOAD_MIN_BYTES, || panic!("boom")));
        assert!(panicked.is_err(), "a panic reaches the caller");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn thread_cpu_time_counts_work_not_sleep() {
        let t0 = thread_cpu_time().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let slept = thread_cpu_time().unwrap() - t0;
        let t1 = thread_cpu_time().unwrap();
        let mut x = 0u64;
        let until = std::time::Instant::now() + std::time::Duration::from_millis(30);
        while std::time::Instant::now() < until {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        let busy = thread_cpu_time().unwrap() - t1;
        assert!(slept < std::time::Duration::from_millis(10), "{slept:?}");
        assert!(busy > slept, "{busy:?} vs {slept:?}");
    }

    #[test]
    fn lower_priority_is_idempotent_and_global_pool_init_is_safe_twice() {
        std::thread::spawn(|| {
            lower_priority();
            lower_priority();
        })
        .join()
        .unwrap();
        init_global_pool();
        init_global_pool();
        assert!(rayon::current_num_threads() >= 1);
    }
}

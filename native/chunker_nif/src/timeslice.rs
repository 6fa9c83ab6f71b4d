//! Charges normal-scheduler NIF work to the calling process.
//!
//! A NIF call counts as one reduction, so a process looping over small
//! normal-scheduler NIFs (50 µs each, say) would hold its scheduler for many
//! milliseconds without being preempted, and every process queued behind it
//! (a 1 ms timer, a request) would wait. [`charged`] reports the call's
//! wall time with `enif_consume_timeslice`, a whole timeslice per
//! [`SLICE_US`], so the BEAM preempts such a loop after half a millisecond
//! of NIF work, leaving room for the OS to delay the scheduler thread
//! without the schedule reaching 2 ms. On dirty schedulers the report is a
//! no-op.
//!
//! A probe, off by default (one relaxed load per call), records the longest
//! thread CPU time of these calls: how long our code held a normal
//! scheduler, without the time the OS ran other threads in between, which
//! wall-clock measures (`long_schedule`) include. The scheduler-health test
//! turns it on.

use chunker_core::threads::thread_cpu_time;
use rustler::Env;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// NIF wall time charged as one whole timeslice (µs).
const SLICE_US: u128 = 500;

static PROBE: AtomicBool = AtomicBool::new(false);
static MAX_CPU_US: AtomicU64 = AtomicU64::new(0);

/// Runs `work` and charges its wall time to the calling process.
pub fn charged<T>(env: Env, work: impl FnOnce() -> T) -> T {
    let cpu_start = if PROBE.load(Ordering::Relaxed) {
        thread_cpu_time()
    } else {
        None
    };
    let start = Instant::now();
    let out = work();
    let percent = start.elapsed().as_micros() * 100 / SLICE_US;
    if let Some(cpu) = cpu_start.and_then(|t0| Some(thread_cpu_time()?.saturating_sub(t0))) {
        MAX_CPU_US.fetch_max(cpu.as_micros() as u64, Ordering::Relaxed);
    }
    if percent > 0 {
        rustler::schedule::consume_timeslice(env, percent.min(100) as i32);
    }
    out
}

/// Turns the CPU-time probe on or off; returns the longest CPU time (µs) of
/// a charged call recorded since the previous call, and starts afresh.
#[rustler::nif]
fn timeslice_probe(on: bool) -> u64 {
    PROBE.store(on, Ordering::Relaxed);
    MAX_CPU_US.swap(0, Ordering::Relaxed)
}

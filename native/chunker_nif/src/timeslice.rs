//! Charges normal-scheduler NIF work to the calling process.
//!
//! A NIF call counts as one reduction, so a process looping over small
//! normal-scheduler NIFs (50 µs each, say) would hold its scheduler for many
//! milliseconds without being preempted, and every process queued behind it
//! (a 1 ms timer, a request) would wait. [`charged`] reports the call's
//! wall time with `enif_consume_timeslice` (a timeslice is about 1 ms), so
//! the BEAM preempts such a loop after about a millisecond of NIF work. On
//! dirty schedulers the report is a no-op.

use rustler::Env;
use std::time::Instant;

/// Runs `work` and charges its wall time to the calling process.
pub fn charged<T>(env: Env, work: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = work();
    let percent = start.elapsed().as_micros() / 10;
    if percent > 0 {
        rustler::schedule::consume_timeslice(env, percent.min(100) as i32);
    }
    out
}

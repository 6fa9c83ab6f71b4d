//! Pipeline metrics switched on, sampled, snapshotted, reset and off (its
//! own test binary: the metrics are process-wide).
#![cfg(not(chunker_no_metrics))]

use chunker_core::metrics::{self, Stage, Timer, STAGES};
use std::time::Duration;

fn stage(s: &metrics::Snapshot, which: Stage) -> &metrics::StageSnapshot {
    &s.stages.iter().find(|(st, _)| *st == which).unwrap().1
}

#[test]
fn counts_and_samples_then_reset_and_off() {
    assert_eq!(
        STAGES.map(Stage::name),
        ["chunk", "hash", "compress"],
        "stage names are the public keys"
    );
    metrics::configure(0.0).unwrap();
    assert!(!metrics::enabled());

    // Everything timed at rate 1.
    metrics::configure(1.0).unwrap();
    assert!(metrics::enabled());
    for _ in 0..10 {
        let t = Timer::start();
        std::thread::sleep(Duration::from_micros(200));
        t.stop(Stage::Hash, 1000);
    }
    metrics::count_chunks(3, 3000);
    metrics::count_known(500);
    metrics::count_compressed(2000, 700);
    let s = metrics::snapshot();
    assert!(s.enabled);
    assert_eq!(s.sample_every, 1);
    let h = stage(&s, Stage::Hash);
    assert_eq!((h.ops, h.bytes, h.samples), (10, 10_000, 10));
    assert!(h.total_ns >= 10 * 200_000, "{} ns", h.total_ns);
    assert!(h.p50_ns >= 200_000 && h.p50_ns <= h.p99_ns && h.p99_ns <= h.p999_ns);
    let c = stage(&s, Stage::Compress);
    assert_eq!((c.ops, c.samples, c.p50_ns), (0, 0, 0));
    assert_eq!((s.chunks, s.chunk_bytes), (3, 3000));
    assert_eq!((s.known_chunks, s.known_bytes), (1, 500));
    assert_eq!((s.compress_in, s.compress_out), (2000, 700));

    // Rate 0.25: every operation counted, one in four timed.
    metrics::reset();
    metrics::configure(0.25).unwrap();
    for _ in 0..100 {
        Timer::start().stop(Stage::Chunk, 10);
    }
    let s = metrics::snapshot();
    assert_eq!(s.sample_every, 4);
    let ch = stage(&s, Stage::Chunk);
    assert_eq!((ch.ops, ch.bytes, ch.samples), (100, 1000, 25));
    assert_eq!(stage(&s, Stage::Hash).ops, 0, "reset cleared the stages");
    assert_eq!((s.chunks, s.known_chunks, s.compress_in), (0, 0, 0));

    // Off: probes record nothing.
    metrics::reset();
    metrics::configure(0.0).unwrap();
    Timer::start().stop(Stage::Compress, 99);
    metrics::count_chunks(1, 1);
    metrics::count_known(1);
    metrics::count_compressed(1, 1);
    let s = metrics::snapshot();
    assert!(!s.enabled);
    assert_eq!(stage(&s, Stage::Compress).ops, 0);
    assert_eq!((s.chunks, s.known_bytes, s.compress_out), (0, 0, 0));
}

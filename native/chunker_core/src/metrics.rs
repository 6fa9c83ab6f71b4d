//! Process-wide pipeline metrics, zero cost when off.
//!
//! Off (the default) every probe is one relaxed atomic load and a branch.
//! On ([`configure`] with a sample rate in (0, 1]), counters are exact and
//! one operation in `1 / rate` per thread is timed into a log-bucketed
//! latency histogram (4 buckets per power of two, so percentiles are within
//! 19%); stage times are estimated from the sampled ones.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// A timed pipeline stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Cut-point search, per fed piece.
    Chunk = 0,
    /// Digest, per chunk.
    Hash = 1,
    /// Compression, per chunk.
    Compress = 2,
}

/// Every stage, in index order.
pub const STAGES: [Stage; 3] = [Stage::Chunk, Stage::Hash, Stage::Compress];

impl Stage {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Chunk => "chunk",
            Stage::Hash => "hash",
            Stage::Compress => "compress",
        }
    }
}

const BUCKETS: usize = 256;

/// Sample one operation in this many; 0 means metrics are off.
static SAMPLE_EVERY: AtomicU64 = AtomicU64::new(0);

struct StageStats {
    ops: AtomicU64,
    bytes: AtomicU64,
    sampled_ns: AtomicU64,
    histogram: [AtomicU64; BUCKETS],
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const STAGE_ZERO: StageStats = StageStats {
    ops: ZERO,
    bytes: ZERO,
    sampled_ns: ZERO,
    histogram: [ZERO; BUCKETS],
};

static STAGE_STATS: [StageStats; 3] = [STAGE_ZERO; 3];
static CHUNKS: AtomicU64 = ZERO;
static CHUNK_BYTES: AtomicU64 = ZERO;
static KNOWN_CHUNKS: AtomicU64 = ZERO;
static KNOWN_BYTES: AtomicU64 = ZERO;
static COMPRESS_IN: AtomicU64 = ZERO;
static COMPRESS_OUT: AtomicU64 = ZERO;

thread_local! {
    static TICK: Cell<u64> = const { Cell::new(0) };
}

/// Turns metrics on with `rate` in (0, 1] (1: time everything), or off
/// with 0. Values outside [0, 1] (or NaN) are rejected.
pub fn configure(rate: f64) -> Result<(), String> {
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("sample rate {rate} is not in 0.0..1.0"));
    }
    let every = if rate == 0.0 {
        0
    } else {
        (1.0 / rate).round().max(1.0) as u64
    };
    SAMPLE_EVERY.store(every, Relaxed);
    Ok(())
}

/// Whether metrics are on (never in a build with `--cfg chunker_no_metrics`,
/// which compiles every probe out: the reference for their cost).
#[inline]
pub fn enabled() -> bool {
    !cfg!(chunker_no_metrics) && SAMPLE_EVERY.load(Relaxed) != 0
}

/// Times one operation when metrics are on and this one is sampled.
pub struct Timer {
    every: u64,
    start: Option<Instant>,
}

impl Timer {
    /// Starts timing (a no-op when metrics are off).
    #[inline]
    pub fn start() -> Timer {
        let every = if cfg!(chunker_no_metrics) {
            0
        } else {
            SAMPLE_EVERY.load(Relaxed)
        };
        if every == 0 {
            return Timer { every, start: None };
        }
        let tick = TICK.with(|t| {
            let v = t.get().wrapping_add(1);
            t.set(v);
            v
        });
        Timer {
            every,
            start: (tick % every == 0).then(Instant::now),
        }
    }

    /// Records the operation (`bytes` processed) under `stage`.
    #[inline]
    pub fn stop(self, stage: Stage, bytes: u64) {
        if self.every == 0 {
            return;
        }
        let s = &STAGE_STATS[stage as usize];
        s.ops.fetch_add(1, Relaxed);
        s.bytes.fetch_add(bytes, Relaxed);
        if let Some(start) = self.start {
            let ns = start.elapsed().as_nanos().min(u64::MAX as u128) as u64;
            s.sampled_ns.fetch_add(ns, Relaxed);
            s.histogram[bucket(ns)].fetch_add(1, Relaxed);
        }
    }
}

/// Counts chunks delivered.
#[inline]
pub fn count_chunks(chunks: u64, bytes: u64) {
    if enabled() {
        CHUNKS.fetch_add(chunks, Relaxed);
        CHUNK_BYTES.fetch_add(bytes, Relaxed);
    }
}

/// Counts a chunk skipped because the store has it.
#[inline]
pub fn count_known(bytes: u64) {
    if enabled() {
        KNOWN_CHUNKS.fetch_add(1, Relaxed);
        KNOWN_BYTES.fetch_add(bytes, Relaxed);
    }
}

/// Counts one compression, `input` bytes to `output` bytes.
#[inline]
pub fn count_compressed(input: u64, output: u64) {
    if enabled() {
        COMPRESS_IN.fetch_add(input, Relaxed);
        COMPRESS_OUT.fetch_add(output, Relaxed);
    }
}

/// Histogram bucket of a latency: 4 per power of two.
fn bucket(ns: u64) -> usize {
    if ns < 4 {
        return ns as usize;
    }
    let log = 63 - ns.leading_zeros() as usize;
    let sub = ((ns >> (log - 2)) & 3) as usize;
    (log * 4 + sub).min(BUCKETS - 1)
}

/// Largest latency (ns) that falls in bucket `i`.
fn bucket_upper(i: usize) -> u64 {
    if i < 4 {
        return i as u64;
    }
    let (log, sub) = (i / 4, (i % 4) as u64);
    ((4 + sub + 1) << (log - 2)) - 1
}

/// A stage's numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageSnapshot {
    pub ops: u64,
    pub bytes: u64,
    /// Estimated total time (sampled time scaled by the sample rate).
    pub total_ns: u64,
    pub samples: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
}

/// Everything at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub enabled: bool,
    pub sample_every: u64,
    pub chunks: u64,
    pub chunk_bytes: u64,
    pub known_chunks: u64,
    /// Bytes not compressed nor stored because the store had them.
    pub known_bytes: u64,
    pub compress_in: u64,
    pub compress_out: u64,
    pub stages: Vec<(Stage, StageSnapshot)>,
}

/// Reads every counter and histogram.
pub fn snapshot() -> Snapshot {
    let every = SAMPLE_EVERY.load(Relaxed);
    let stages = STAGES
        .iter()
        .map(|&stage| {
            let s = &STAGE_STATS[stage as usize];
            let counts: Vec<u64> = s.histogram.iter().map(|b| b.load(Relaxed)).collect();
            let samples: u64 = counts.iter().sum();
            let pct = |q: f64| percentile(&counts, samples, q);
            (
                stage,
                StageSnapshot {
                    ops: s.ops.load(Relaxed),
                    bytes: s.bytes.load(Relaxed),
                    total_ns: s.sampled_ns.load(Relaxed).saturating_mul(every.max(1)),
                    samples,
                    p50_ns: pct(0.5),
                    p99_ns: pct(0.99),
                    p999_ns: pct(0.999),
                },
            )
        })
        .collect();
    Snapshot {
        enabled: every != 0,
        sample_every: every,
        chunks: CHUNKS.load(Relaxed),
        chunk_bytes: CHUNK_BYTES.load(Relaxed),
        known_chunks: KNOWN_CHUNKS.load(Relaxed),
        known_bytes: KNOWN_BYTES.load(Relaxed),
        compress_in: COMPRESS_IN.load(Relaxed),
        compress_out: COMPRESS_OUT.load(Relaxed),
        stages,
    }
}

fn percentile(counts: &[u64], total: u64, q: f64) -> u64 {
    if total == 0 {
        return 0;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, &c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return bucket_upper(i);
        }
    }
    bucket_upper(counts.len() - 1)
}

/// Zeroes every counter and histogram.
pub fn reset() {
    for s in &STAGE_STATS {
        s.ops.store(0, Relaxed);
        s.bytes.store(0, Relaxed);
        s.sampled_ns.store(0, Relaxed);
        for b in &s.histogram {
            b.store(0, Relaxed);
        }
    }
    for c in [
        &CHUNKS,
        &CHUNK_BYTES,
        &KNOWN_CHUNKS,
        &KNOWN_BYTES,
        &COMPRESS_IN,
        &COMPRESS_OUT,
    ] {
        c.store(0, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_their_values_within_a_quarter_octave() {
        for ns in (0..5000u64).chain([1 << 20, (1 << 20) + 12345, 987_654_321]) {
            let b = bucket(ns);
            assert!(bucket_upper(b) >= ns, "{ns} in bucket {b}");
            assert!(
                (bucket_upper(b) as f64) < (ns as f64) * 1.26 + 1.0,
                "{ns}: {}",
                bucket_upper(b)
            );
            if b > 0 && b != 8 {
                assert!(bucket_upper(b - 1) < ns, "{ns} belongs to a lower bucket");
            }
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut counts = vec![0u64; BUCKETS];
        // 990 fast ops at 1000 ns, 9 at 1 ms, 1 at 1 s.
        counts[bucket(1000)] = 990;
        counts[bucket(1_000_000)] = 9;
        counts[bucket(1_000_000_000)] = 1;
        assert_eq!(percentile(&counts, 1000, 0.5), bucket_upper(bucket(1000)));
        assert_eq!(percentile(&counts, 1000, 0.99), bucket_upper(bucket(1000)));
        assert_eq!(
            percentile(&counts, 1000, 0.999),
            bucket_upper(bucket(1_000_000))
        );
        assert_eq!(percentile(&counts, 0, 0.5), 0);
    }

    #[test]
    fn rejects_bad_rates() {
        assert!(configure(1.5).is_err());
        assert!(configure(-0.1).is_err());
        assert!(configure(f64::NAN).is_err());
    }
}

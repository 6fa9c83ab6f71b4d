//! Ingest pipeline: chunk + SHA-256 + zstd on the worker pool vs the same
//! stages one after another on one thread (the reference), the digest
//! cache, and (group `pipeline-metrics`) the cost of metrics: off, sampled
//! 1%, always. Build with `RUSTFLAGS="--cfg chunker_no_metrics"` for the
//! build without metrics.

use crate::data;
use crate::harness::{median_seconds, Args, Case};
use chunker_core::cache::HashCache;
use chunker_core::cdc::ChunkerConfig;
use chunker_core::compress::{self, Algo};
use chunker_core::digest::HashAlgo;
use chunker_core::metrics;
use chunker_core::pipeline::{self, Compressor, Options, Output, Pipeline, Room, Sink};
use std::hint::black_box;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};

struct ChannelSink(Mutex<Sender<Vec<Output>>>);

impl Sink for ChannelSink {
    fn deliver(&self, batch: Vec<Output>) -> bool {
        self.0.lock().unwrap().send(batch).is_ok()
    }
}

fn zstd(level: i32) -> Arc<dyn Compressor> {
    Arc::new(move |data: &[u8], out: &mut Vec<u8>| {
        compress::compress_into(data, Algo::Zstd, level, out)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// Feeds `data` in 1 MiB slices honouring backpressure; returns the stored bytes.
fn ingest(data: &[u8], level: i32) -> usize {
    let (tx, rx) = channel();
    let mut options = Options::new(ChunkerConfig::default());
    options.algo = Some(HashAlgo::Sha256);
    options.compressor = Some(zstd(level));
    let mut p = Pipeline::new(options, ChannelSink(Mutex::new(tx)));
    let control = p.control().clone();
    let (mut seen, mut stored) = (0u64, 0usize);
    let mut take = |batch: Vec<Output>, seen: &mut u64| {
        *seen += batch.len() as u64;
        let bytes = batch.iter().map(|o| o.chunk.length as u64).sum();
        stored += batch
            .iter()
            .map(|o| o.compressed.as_ref().map_or(0, Vec::len))
            .sum::<usize>();
        control.ack(bytes)
    };
    for slice in data.chunks(1 << 20) {
        let mut room = p.feed(slice).expect("feed");
        while room == Room::Full {
            room = take(rx.recv().expect("a delivery"), &mut seen);
        }
        while let Ok(batch) = rx.try_recv() {
            take(batch, &mut seen);
        }
    }
    let total = p.finish().expect("finish");
    while seen < total {
        take(rx.recv().expect("a delivery"), &mut seen);
    }
    stored
}

/// CPU seconds of this process so far (all threads), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or(vec![], |(_, rest)| rest.split(' ').collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (11 and 12 after the name), 100 Hz.
    (ticks(11) + ticks(12)) / 100.0
}

/// Median wall seconds of `runs` calls and CPU seconds per call (warm-up
/// included in the CPU average): a `.../cpu` case's MB/s is MB per CPU
/// second, so its ratio to the sequential one is the parallel efficiency
/// whatever else loads the machine.
fn timed(name: String, n: usize, runs: usize, f: impl FnMut()) -> (Case, Case) {
    let cpu0 = cpu_seconds();
    let wall = median_seconds(runs, f);
    let cpu = (cpu_seconds() - cpu0) / (runs.max(1) + 1) as f64;
    (
        Case::new(name.clone(), n, wall),
        Case::new(format!("{name}/cpu"), n, cpu.max(1e-9)),
    )
}

pub fn run(args: &Args) -> Vec<Case> {
    let n = args.bytes();
    let real = data::real(n);
    let config = ChunkerConfig::default();
    let mut cases = Vec::new();
    metrics::configure(0.0).expect("valid rate");
    for level in [1, 3] {
        let c = zstd(level);
        let (sequential, sequential_cpu) = timed(
            format!("sequential/sha256+zstd-{level}/real"),
            n,
            args.runs,
            || {
                black_box(
                    pipeline::sequential(&real, &config, Some(HashAlgo::Sha256), Some(&*c))
                        .expect("compress"),
                );
            },
        );
        let (concurrent, concurrent_cpu) = timed(
            format!("pipeline/sha256+zstd-{level}/real"),
            n,
            args.runs,
            || {
                black_box(ingest(&real, level));
            },
        );
        // The machine's own scaling limit: the sequential stages on each
        // half of the data in two threads at once (no pipeline).
        let (halves, halves_cpu) = timed(
            format!("two-threads-on-halves/sha256+zstd-{level}/real"),
            n,
            args.runs,
            || {
                std::thread::scope(|scope| {
                    for half in real.chunks(real.len().div_ceil(2)) {
                        let c = &c;
                        scope.spawn(move || {
                            black_box(
                                pipeline::sequential(
                                    half,
                                    &config,
                                    Some(HashAlgo::Sha256),
                                    Some(&**c),
                                )
                                .expect("compress"),
                            );
                        });
                    }
                });
            },
        );
        let concurrent = concurrent.vs(&sequential);
        let concurrent_cpu = concurrent_cpu.vs(&sequential_cpu);
        let halves = halves.vs(&sequential);
        let halves_cpu = halves_cpu.vs(&sequential_cpu);
        cases.extend([
            sequential,
            concurrent,
            halves,
            sequential_cpu,
            concurrent_cpu,
            halves_cpu,
        ]);
    }
    cases.extend(cache_cases(&real, args));
    cases
}

/// The `pipeline-metrics` group: only the metrics cases (run it from a
/// build with and one without `--cfg chunker_no_metrics`, alternately).
pub fn run_metrics(args: &Args) -> Vec<Case> {
    let real = data::real(args.bytes());
    let cases = metrics_cases(&real, args);
    metrics::configure(0.0).expect("valid rate");
    cases
}

/// Pipeline zstd-1 with metrics off, sampled 1% and always (only off in a
/// build without metrics).
fn metrics_cases(real: &[u8], args: &Args) -> Vec<Case> {
    let n = real.len();
    let mut cases = Vec::new();
    let build = if cfg!(chunker_no_metrics) {
        "no-metrics-build"
    } else {
        "metrics-build"
    };
    let mut off = None;
    for (name, rate) in [("off", 0.0), ("sampled-1pct", 0.01), ("always", 1.0)] {
        if cfg!(chunker_no_metrics) && rate > 0.0 {
            continue;
        }
        metrics::configure(rate).expect("valid rate");
        let case = Case::new(
            format!("pipeline/zstd-1/{build}/metrics-{name}"),
            n,
            median_seconds(args.runs, || {
                black_box(ingest(real, 1));
            }),
        );
        let case = match &off {
            Some(reference) => case.vs(reference),
            None => case,
        };
        if off.is_none() {
            off = Some(Case::new(case.name.clone(), case.bytes, case.seconds));
        }
        cases.push(case);
    }
    cases
}

/// The digest cache on 512 KiB pieces: plain digests vs all misses (a
/// fresh cache: fingerprint + copy + digest) vs all hits (fingerprint +
/// full comparison), one thread.
fn cache_cases(data: &[u8], args: &Args) -> Vec<Case> {
    let pieces: Vec<&[u8]> = data.chunks(512 * 1024).collect();
    let n = data.len();
    let mut cases = Vec::new();
    for algo in [HashAlgo::Sha256, HashAlgo::Blake3] {
        let name = algo.name();
        let plain = Case::new(
            format!("digest/{name}/512K"),
            n,
            median_seconds(args.runs, || {
                for p in &pieces {
                    black_box(algo.digest(p));
                }
            }),
        );
        let fresh = || HashCache::new(1 << 20, n * 2);
        let miss = Case::new(
            format!("cache-miss/{name}/512K"),
            n,
            median_seconds(args.runs, || {
                let cache = fresh();
                for p in &pieces {
                    black_box(cache.digest(algo, p));
                }
            }),
        )
        .vs(&plain);
        let warm = fresh();
        for p in &pieces {
            warm.digest(algo, p);
        }
        let hit = Case::new(
            format!("cache-hit/{name}/512K"),
            n,
            median_seconds(args.runs, || {
                for p in &pieces {
                    black_box(warm.digest(algo, p));
                }
            }),
        )
        .vs(&plain);
        cases.extend([plain, miss, hit]);
    }
    cases
}

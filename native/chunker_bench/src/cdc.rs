//! Chunking: ours (single thread, parallel, streaming, with SHA-256) vs the
//! `fastcdc` crate's v2020 (then `sha2`) vs `memcpy`.
//!
//! Ratios: `chunker/*` and `chunker_stream64K/*` vs the crate (single thread;
//! the stream is also compared with our eager scan in `stream_vs_eager`),
//! `chunker_parallel/*` vs our single thread, `chunker+sha256/*` (parallel)
//! vs the crate then `sha2`, sequential.

use crate::data;
use crate::harness::{median_seconds, Args, Case};
use chunker_core::cdc::{self, engines::Engine, ChunkerConfig, StreamChunker};
use chunker_core::digest::HashAlgo;
use sha2::Digest as _;
use std::hint::black_box;

/// Median seconds of a single-thread case: wall time, or this thread's CPU
/// time with `CHUNKER_BENCH_CLOCK=thread` (steadier on a machine shared with
/// other work; the parallel cases always use wall time).
fn single(args: &Args, mut f: impl FnMut()) -> f64 {
    if std::env::var("CHUNKER_BENCH_CLOCK").as_deref() != Ok("thread") {
        return median_seconds(args.runs, f);
    }
    f();
    let mut times: Vec<f64> = (0..args.runs.max(1))
        .map(|_| {
            let t = thread_cpu_seconds();
            f();
            thread_cpu_seconds() - t
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant
    // every Linux kernel supports.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

const SETS: [(u64, u64, u64); 2] = [(131_072, 524_288, 2_097_152), (16_384, 65_536, 262_144)];

pub fn run(args: &Args) -> Vec<Case> {
    let n = args.bytes();
    let sets: [(&str, Vec<u8>); 4] = [
        ("random", data::random(n)),
        ("real", data::real(n)),
        ("text", data::text(n)),
        ("zero_runs", data::zero_runs(n)),
    ];
    let threads = cdc::pool_threads();
    let mut cases = Vec::new();
    for (set, bytes) in &sets {
        let mut dst = vec![0u8; bytes.len()];
        let memcpy = Case::new(
            format!("memcpy/{set}"),
            n,
            median_seconds(args.runs, || {
                dst.copy_from_slice(black_box(bytes));
                black_box(&dst);
            }),
        );
        for (min, avg, max) in SETS {
            let label = format!("{}K", avg / 1024);
            let (mn, av, mx) = (min as usize, avg as usize, max as usize);
            let config = ChunkerConfig::new(min, avg, max, 1).expect("valid options");
            let reference = Case::new(
                format!("fastcdc_crate/{set}/{label}"),
                n,
                single(args, || {
                    black_box(fastcdc::v2020::FastCDC::new(bytes, mn, av, mx).count());
                }),
            );
            let ours = Case::new(
                format!("chunker/{set}/{label}"),
                n,
                single(args, || {
                    black_box(config.chunks(bytes).count());
                }),
            )
            .vs(&reference);
            if matches!(*set, "random" | "real") {
                for engine in Engine::available() {
                    Engine::force(Some(engine));
                    let case = Case::new(
                        format!("chunker_{engine:?}/{set}/{label}").to_lowercase(),
                        n,
                        single(args, || {
                            black_box(config.chunks(bytes).count());
                        }),
                    )
                    .vs(&reference);
                    Engine::force(None);
                    cases.push(case);
                }
            }
            let parallel = Case::new(
                format!("chunker_parallel{threads}t/{set}/{label}"),
                n,
                median_seconds(args.runs, || {
                    black_box(cdc::chunk_parallel(&config, bytes, threads).len());
                }),
            )
            .vs(&ours);
            let stream = Case::new(
                format!("chunker_stream64K/{set}/{label}"),
                n,
                single(args, || {
                    let mut s = StreamChunker::new(config);
                    let mut out = Vec::with_capacity(1024);
                    let mut count = 0;
                    for piece in bytes.chunks(64 << 10) {
                        s.feed(piece, &mut out).expect("feed");
                        count += out.len();
                        out.clear();
                    }
                    count += s.finish().expect("finish").iter().count();
                    black_box(count);
                }),
            );
            let stream_vs_eager = Case {
                name: format!("stream_vs_eager/{set}/{label}"),
                ..Case::new("", n, stream.seconds)
            }
            .vs(&ours);
            let stream = stream.vs(&reference);
            cases.extend([reference, ours, parallel, stream, stream_vs_eager]);
        }
        if *set != "text" {
            let (min, avg, max) = SETS[0];
            let config = ChunkerConfig::new(min, avg, max, 1).expect("valid options");
            let reference = Case::new(
                format!("fastcdc_crate+sha2/{set}/512K"),
                n,
                median_seconds(args.runs, || {
                    for c in fastcdc::v2020::FastCDC::new(
                        bytes,
                        min as usize,
                        avg as usize,
                        max as usize,
                    ) {
                        black_box(sha2::Sha256::digest(&bytes[c.offset..c.offset + c.length]));
                    }
                }),
            );
            let ours = Case::new(
                format!("chunker+sha256/{set}/512K"),
                n,
                median_seconds(args.runs, || {
                    black_box(cdc::chunk_digests(&config, bytes, Some(HashAlgo::Sha256)).len());
                }),
            )
            .vs(&reference);
            cases.extend([reference, ours]);
        }
        cases.push(memcpy);
    }
    cases.extend(per_chunk(args));
    cases
}

/// Iterator cost per chunk at the smallest sizes (64/256/1024): the time per
/// chunk including hashing its ~200 bytes, vs the crate's.
fn per_chunk(args: &Args) -> Vec<Case> {
    let n = args.bytes().min(64 << 20);
    let bytes = data::random(n);
    let config = ChunkerConfig::new(64, 256, 1024, 1).expect("valid options");
    let chunks = config.chunks(&bytes).count();
    let reference = Case::new(
        format!("fastcdc_crate/per_chunk_64-256-1K/{chunks}_chunks"),
        n,
        single(args, || {
            black_box(fastcdc::v2020::FastCDC::new(&bytes, 64, 256, 1024).count());
        }),
    );
    let ours = Case::new(
        format!("chunker/per_chunk_64-256-1K/{chunks}_chunks"),
        n,
        single(args, || {
            black_box(config.chunks(&bytes).count());
        }),
    )
    .vs(&reference);
    eprintln!(
        "per chunk (64/256/1024, random): ours {:.1} ns, crate {:.1} ns",
        ours.seconds * 1e9 / chunks as f64,
        reference.seconds * 1e9 / chunks as f64
    );
    vec![reference, ours]
}

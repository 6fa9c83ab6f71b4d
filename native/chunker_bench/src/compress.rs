//! Compression: ours vs the C CLIs' own benchmarks (`zstd -b1`, `zstd -b3`,
//! `lz4 -b1`) on the same file in the same run; context reuse vs a fresh
//! context per chunk; zstd dictionary gain on 16 KiB chunks; the batch
//! parallel threshold. Sizes are in the case names (`size=` is the
//! compressed fraction of the input). The CLIs report their fastest
//! iteration, so the cases compared with them use our fastest run too.

use crate::data;
use crate::harness::{median_seconds, Args, Case};
use chunker_core::compress::{self, batch, dict, Algo};
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// `CHUNKER_BENCH_COMPRESS=cli` runs only the comparison with the CLIs
/// (what `bench/compress.exs` uses for the core's figures),
/// `CHUNKER_BENCH_COMPRESS=batch` only the batch threshold.
pub fn run(args: &Args) -> Vec<Case> {
    let n = args.bytes();
    let real = data::real(n);
    let mut cases = Vec::new();
    let only = std::env::var("CHUNKER_BENCH_COMPRESS").unwrap_or_default();
    if only != "batch" {
        cli_comparison(args, &real, &mut cases);
    }
    if only.is_empty() {
        reuse(args, &real, &mut cases);
        dictionary(args, &real, &mut cases);
    }
    if only != "cli" {
        batch_threshold(args, &real, &mut cases);
    }
    cases
}

/// Fastest of `runs` calls of `f` (after one warm-up call), seconds.
fn best_seconds(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// MB/s (compression, decompression) from a `zstd -b`/`lz4 -b` result line
/// such as ` 3#file : 67108864 -> 23011450 (x2.916), 201.3 MB/s, 1000.5 MB/s`.
fn parse_cli_bench(output: &str) -> Option<(f64, f64)> {
    // Progress lines repeat the result; the last one with both speeds is final.
    output.split(['\n', '\r']).rev().find_map(|line| {
        if !line.contains("->") {
            return None;
        }
        let mut speeds = line.split("MB/s").filter_map(|part| {
            part.rsplit([',', ' '])
                .find(|w| !w.is_empty())?
                .parse::<f64>()
                .ok()
        });
        Some((speeds.next()?, speeds.next()?))
    })
}

/// Runs `cli -b<level> -i1 file` and returns its (compress, decompress) MB/s.
fn cli_bench(cli: &str, level: i32, file: &Path) -> Option<(f64, f64)> {
    let out = Command::new(cli)
        .args([format!("-b{level}"), "-i1".into()])
        .arg(file)
        .output()
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    parse_cli_bench(&text)
}

fn size_label(packed: usize, input: usize) -> String {
    format!("size={:.3}", packed as f64 / input as f64)
}

fn cli_comparison(args: &Args, real: &[u8], cases: &mut Vec<Case>) {
    let n = real.len();
    let file = std::env::temp_dir().join(format!("chunker-bench-compress-{}", std::process::id()));
    std::fs::write(&file, real).expect("write the bench file");
    for (algo, cli, level) in [
        (Algo::Zstd, "zstd", 1),
        (Algo::Zstd, "zstd", 3),
        (Algo::Lz4, "lz4", 1),
    ] {
        let mut out = Vec::new();
        let mut back = Vec::new();
        let packed = compress::compress(real, algo, level).unwrap();
        // Three rounds, ours and the CLI's alternating, so load changes on
        // a shared machine hit both; the fastest of each is kept.
        let (mut c_s, mut d_s) = (f64::INFINITY, f64::INFINITY);
        let mut reference: Option<(f64, f64)> = None;
        for _ in 0..3 {
            c_s = c_s.min(best_seconds(args.runs, || {
                compress::compress_into(black_box(real), algo, level, &mut out).unwrap();
            }));
            d_s = d_s.min(best_seconds(args.runs, || {
                compress::decompress_into(black_box(&packed), algo, n as u64, &mut back).unwrap();
            }));
            if let Some((c, d)) = cli_bench(cli, level, &file) {
                let (rc, rd) = reference.unwrap_or((0.0, 0.0));
                reference = Some((rc.max(c), rd.max(d)));
            }
        }
        assert_eq!(back, real);
        let name = format!("{}-{level}", algo.name());
        let ours = Case::new(
            format!("{name}/real/{}", size_label(packed.len(), n)),
            n,
            c_s,
        );
        let ours_d = Case::new(format!("{name}/real/decompress"), n, d_s);
        match reference {
            Some((c, d)) => {
                let reference = Case::new(format!("{cli} -b{level} (CLI)"), n, n as f64 / 1e6 / c);
                let reference_d = Case::new(
                    format!("{cli} -b{level} decompress (CLI)"),
                    n,
                    n as f64 / 1e6 / d,
                );
                cases.push(ours.vs(&reference));
                cases.push(reference);
                cases.push(ours_d.vs(&reference_d));
                cases.push(reference_d);
            }
            None => {
                eprintln!("{cli} -b{level}: not available or output not understood");
                cases.push(ours);
                cases.push(ours_d);
            }
        }
    }
    let _ = std::fs::remove_file(&file);
}

/// Cached contexts (`compress_into`) vs a fresh context per chunk.
fn reuse(args: &Args, real: &[u8], cases: &mut Vec<Case>) {
    for (algo, level, span) in [
        (Algo::Zstd, 3, 16 << 20),
        (Algo::Zstd, 1, 16 << 20),
        (Algo::Lz4, 1, 16 << 20),
        (Algo::Xz, 6, 2 << 20),
    ] {
        let span = &real[..span.min(real.len())];
        for chunk in [16 << 10, 512 << 10] {
            let mut out = Vec::new();
            let fresh = median_seconds(args.runs, || {
                for c in span.chunks(chunk) {
                    compress::compress_uncached_into(black_box(c), algo, level, &mut out).unwrap();
                }
            });
            let reused = median_seconds(args.runs, || {
                for c in span.chunks(chunk) {
                    compress::compress_into(black_box(c), algo, level, &mut out).unwrap();
                }
            });
            let name = format!("{}-{level}/{}K-chunks", algo.name(), chunk >> 10);
            let fresh = Case::new(format!("{name}/fresh-context"), span.len(), fresh);
            cases.push(Case::new(format!("{name}/reused-context"), span.len(), reused).vs(&fresh));
            cases.push(fresh);
        }
    }
}

/// Ratio and speed with a dictionary trained on other chunks of the data.
fn dictionary(args: &Args, real: &[u8], cases: &mut Vec<Case>) {
    const CHUNK: usize = 16 << 10;
    let chunks: Vec<&[u8]> = real.chunks_exact(CHUNK).take(2000).collect();
    // train on every other chunk, test on the rest
    let samples: Vec<&[u8]> = chunks.iter().step_by(2).copied().collect();
    let tests: Vec<&[u8]> = chunks.iter().skip(1).step_by(2).copied().collect();
    let total: usize = tests.iter().map(|t| t.len()).sum();
    let raw = dict::train(&samples, 112_640).expect("train");
    let d = dict::Dictionary::new(&raw, 3).expect("load");
    let mut out = Vec::new();
    let (mut plain_size, mut dict_size) = (0, 0);
    for t in &tests {
        plain_size += compress::compress_into(t, Algo::Zstd, 3, &mut out).unwrap();
        dict_size += d.compress_into(t, &mut out).unwrap();
    }
    let plain = median_seconds(args.runs, || {
        for t in &tests {
            compress::compress_into(black_box(t), Algo::Zstd, 3, &mut out).unwrap();
        }
    });
    let with = median_seconds(args.runs, || {
        for t in &tests {
            d.compress_into(black_box(t), &mut out).unwrap();
        }
    });
    let plain = Case::new(
        format!(
            "zstd-3/16K-chunks/no-dict/{}",
            size_label(plain_size, total)
        ),
        total,
        plain,
    );
    cases.push(
        Case::new(
            format!(
                "zstd-3/16K-chunks/dict-110K/{} (gain {:.1}%)",
                size_label(dict_size, total),
                100.0 * (1.0 - dict_size as f64 / plain_size as f64)
            ),
            total,
            with,
        )
        .vs(&plain),
    );
    cases.push(plain);
}

/// Parallel vs sequential batches of 16 KiB items, by batch total.
fn batch_threshold(args: &Args, real: &[u8], cases: &mut Vec<Case>) {
    for total in [64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20, 8 << 20] {
        let items: Vec<&[u8]> = real[..total.min(real.len())].chunks(16 << 10).collect();
        let seq = median_seconds(args.runs * 4, || {
            black_box(batch::compress_batch_above(
                usize::MAX,
                &items,
                Algo::Zstd,
                3,
            ));
        });
        let par = median_seconds(args.runs * 4, || {
            black_box(batch::compress_batch_above(0, &items, Algo::Zstd, 3));
        });
        let name = format!("zstd-3/batch-{}K", total >> 10);
        let seq = Case::new(format!("{name}/sequential"), total, seq);
        cases.push(Case::new(format!("{name}/parallel"), total, par).vs(&seq));
        cases.push(seq);
    }
}

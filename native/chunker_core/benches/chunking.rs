//! Criterion: our FastCDC 2020 against the `fastcdc` crate's v2020 on the same
//! 64 MiB of real files (the OTP installation, or `CHUNKER_BENCH_DIR`).

use chunker_core::cdc::ChunkerConfig;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::{Path, PathBuf};

const SIZE: usize = 64 << 20;

/// Concatenates regular files under `dir` (sorted walk) up to `SIZE` bytes,
/// topping up with a deterministic pseudo-random tail if the tree is small.
fn real_data() -> Vec<u8> {
    let dir = std::env::var_os("CHUNKER_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib"));
    let mut out = Vec::with_capacity(SIZE);
    collect(&dir, &mut out);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while out.len() < SIZE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as u8);
    }
    out.truncate(SIZE);
    out
}

fn collect(dir: &Path, out: &mut Vec<u8>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if out.len() >= SIZE {
            return;
        }
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            collect(&p, out);
        } else if meta.is_file() {
            if let Ok(bytes) = std::fs::read(&p) {
                out.extend_from_slice(&bytes);
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    let data = real_data();
    let mut group = c.benchmark_group("fastcdc2020_64MiB");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    for (min, avg, max) in [(131_072, 524_288, 2_097_152), (16_384, 65_536, 262_144)] {
        let config = ChunkerConfig::new(min, avg, max, 1).expect("valid");
        let label = format!("{}K", avg / 1024);
        group.bench_function(format!("chunker/{label}"), |b| {
            b.iter(|| config.chunks(&data).count())
        });
        group.bench_function(format!("fastcdc_crate/{label}"), |b| {
            b.iter(|| {
                fastcdc::v2020::FastCDC::new(&data, min as usize, avg as usize, max as usize)
                    .count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

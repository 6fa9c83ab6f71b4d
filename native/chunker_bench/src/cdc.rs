//! Chunking: ours vs the `fastcdc` crate's v2020 vs `memcpy`.

use crate::data;
use crate::harness::{median_seconds, Args, Case};
use chunker_core::cdc::ChunkerConfig;
use std::hint::black_box;

pub fn run(args: &Args) -> Vec<Case> {
    let n = args.bytes();
    let sets: [(&str, Vec<u8>); 4] = [
        ("random", data::random(n)),
        ("real", data::real(n)),
        ("text", data::text(n)),
        ("zero_runs", data::zero_runs(n)),
    ];
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
        for (min, avg, max) in [
            (131_072u64, 524_288u64, 2_097_152u64),
            (16_384, 65_536, 262_144),
        ] {
            let label = format!("{}K", avg / 1024);
            let reference = Case::new(
                format!("fastcdc_crate/{set}/{label}"),
                n,
                median_seconds(args.runs, || {
                    let it = fastcdc::v2020::FastCDC::new(
                        bytes,
                        min as usize,
                        avg as usize,
                        max as usize,
                    );
                    black_box(it.count());
                }),
            );
            let config = ChunkerConfig::new(min, avg, max, 1).expect("valid options");
            let ours = Case::new(
                format!("chunker/{set}/{label}"),
                n,
                median_seconds(args.runs, || {
                    black_box(config.chunks(bytes).count());
                }),
            )
            .vs(&reference);
            cases.push(reference);
            cases.push(ours);
        }
        cases.push(memcpy);
    }
    cases
}

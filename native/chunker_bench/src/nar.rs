//! NAR: streaming read, write, plain vs NAR-aware chunking, reference
//! normalisation. References: `memcpy` of the same bytes (read, write,
//! normalise) and plain FastCDC over the same NAR (NAR-aware chunking).

use crate::data;
use crate::harness::{median_seconds, Args, Case};
use chunker_core::cdc::ChunkerConfig;
use chunker_core::nar::{self, refs, Event, NarChunking, NarEncoder, NarReader};
use std::hint::black_box;

/// A NAR of one directory holding files of `sizes` (cycled) cut from `body`.
fn build(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut enc = NarEncoder::new(Vec::with_capacity(body.len() + body.len() / 8)).unwrap();
    enc.dir_start().unwrap();
    let (mut pos, mut i) = (0, 0);
    while pos < body.len() {
        let n = sizes[i % sizes.len()].min(body.len() - pos);
        enc.entry_start(format!("f{i:08}").as_bytes()).unwrap();
        enc.regular(i % 3 == 0, n as u64, &body[pos..pos + n])
            .unwrap();
        enc.entry_end().unwrap();
        pos += n;
        i += 1;
    }
    enc.dir_end().unwrap();
    enc.finish().unwrap()
}

fn read(nar: &[u8], feed: usize) -> usize {
    let mut reader = NarReader::new();
    let mut entries = 0;
    for piece in nar.chunks(feed) {
        reader
            .feed(piece, &mut |e| {
                if let Event::Entry(_) = e {
                    entries += 1
                }
            })
            .expect("valid NAR");
    }
    reader.finish().expect("complete NAR");
    entries
}

pub fn run(args: &Args) -> Vec<Case> {
    let n = args.bytes();
    let body = data::real(n);
    let sets = [
        // A package-like mix (1 KiB .. 4 MiB) and many small files.
        (
            "mixed",
            build(&body, &[1024, 300_000, 12_000, 4 << 20, 70_000, 2_500]),
        ),
        ("small_files", build(&body, &[4096, 700, 16_384])),
    ];
    let mut cases = Vec::new();
    for (set, nar) in &sets {
        let len = nar.len();
        let mut dst = vec![0u8; len];
        let memcpy = Case::new(
            format!("memcpy/{set}"),
            len,
            median_seconds(args.runs, || {
                dst.copy_from_slice(black_box(nar));
                black_box(&dst);
            }),
        );
        for feed in [1usize << 20, 64 << 10] {
            let case = Case::new(
                format!("nar_read/{set}/feed_{}K", feed >> 10),
                len,
                median_seconds(args.runs, || {
                    black_box(read(black_box(nar), feed));
                }),
            )
            .vs(&memcpy);
            cases.push(case);
        }
        let list = nar::entries(nar).expect("valid NAR");
        cases.push(
            Case::new(
                format!("nar_write/{set}"),
                len,
                median_seconds(args.runs, || {
                    let mut out = Vec::with_capacity(len);
                    let mut enc = NarEncoder::new(&mut out).unwrap();
                    enc.dir_start().unwrap();
                    for e in &list[1..] {
                        if let nar::Kind::Regular {
                            executable,
                            size,
                            contents,
                        } = e.kind
                        {
                            enc.entry_start(&e.path).unwrap();
                            let c = contents as usize;
                            enc.regular(executable, size, &nar[c..c + size as usize])
                                .unwrap();
                            enc.entry_end().unwrap();
                        }
                    }
                    enc.dir_end().unwrap();
                    enc.finish().unwrap();
                    black_box(&out);
                }),
            )
            .vs(&memcpy),
        );
        let hashes: Vec<Vec<u8>> = (0..16u8)
            .map(|i| {
                (0..32u8)
                    .map(|j| b"0123456789abcdfg"[((i ^ j) % 16) as usize])
                    .collect()
            })
            .collect();
        cases.push(
            Case::new(
                format!("nar_normalize/{set}/16_refs"),
                len,
                median_seconds(args.runs, || {
                    dst.copy_from_slice(nar);
                    black_box(refs::normalize(&mut dst, &hashes).unwrap());
                }),
            )
            .vs(&memcpy),
        );
        cases.push(memcpy);
        for (min, avg, max) in [
            (131_072u64, 524_288u64, 2_097_152u64),
            (16_384, 65_536, 262_144),
        ] {
            let config = ChunkerConfig::new(min, avg, max, 1).expect("valid");
            let label = format!("{}K", avg / 1024);
            let plain = Case::new(
                format!("nar_chunk/{set}/{label}/plain_fastcdc"),
                len,
                median_seconds(args.runs, || {
                    black_box(config.chunks(black_box(nar)).count());
                }),
            );
            let how = NarChunking {
                config,
                nar_aware: true,
                metadata_chunks: true,
            };
            let aware = Case::new(
                format!("nar_chunk/{set}/{label}/nar_aware"),
                len,
                median_seconds(args.runs, || {
                    black_box(nar::chunk_nar(nar, &how, &[], None).unwrap());
                }),
            )
            .vs(&plain);
            cases.push(plain);
            cases.push(aware);
        }
    }
    cases
}

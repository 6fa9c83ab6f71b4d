//! Hashing and Nix encodings: SHA-256 (vs `memcpy`), BLAKE3 single- vs
//! multi-threaded, Nix base-32 of a 32-byte digest (one case = 1M encodes;
//! ns per encode = seconds * 1000).

use crate::data;
use crate::harness::{median_seconds, Args, Case};
use chunker_core::digest::HashAlgo;
use chunker_core::nix::{base32, Algo, Hash};
use std::hint::black_box;

pub fn run(args: &Args) -> Vec<Case> {
    let n = args.bytes();
    let bytes = data::random(n);
    let mut dst = vec![0u8; n];
    let memcpy = Case::new(
        "memcpy",
        n,
        median_seconds(args.runs, || {
            dst.copy_from_slice(black_box(&bytes));
            black_box(&dst);
        }),
    );
    let sha = Case::new(
        "sha256",
        n,
        median_seconds(args.runs, || {
            black_box(HashAlgo::Sha256.digest(black_box(&bytes)));
        }),
    )
    .vs(&memcpy);
    let b3 = Case::new(
        "blake3/1-thread",
        n,
        median_seconds(args.runs, || {
            black_box(HashAlgo::Blake3.digest(black_box(&bytes)));
        }),
    );
    let b3_mt = Case::new(
        format!("blake3/{}-threads", rayon::current_num_threads()),
        n,
        median_seconds(args.runs, || {
            black_box(HashAlgo::Blake3.digest_parallel(black_box(&bytes)));
        }),
    )
    .vs(&b3);

    let one_mib = &bytes[..1 << 20];
    let sha_1mib = Case::new(
        "sha256/1MiB",
        1 << 20,
        median_seconds(args.runs * 20, || {
            black_box(HashAlgo::Sha256.digest(black_box(one_mib)));
        }),
    );

    // Where multi-threaded BLAKE3 starts to pay (BLAKE3_PARALLEL_MIN).
    let mut sweep = Vec::new();
    for kib in [128usize, 256, 512, 1024, 4096] {
        let input = &bytes[..(kib << 10).min(n)];
        let runs = args.runs * 20;
        let single = Case::new(
            format!("blake3/{kib}KiB/1-thread"),
            input.len(),
            median_seconds(runs, || {
                black_box(blake3::hash(black_box(input)));
            }),
        );
        let multi = Case::new(
            format!("blake3/{kib}KiB/rayon"),
            input.len(),
            median_seconds(runs, || {
                black_box(
                    blake3::Hasher::new()
                        .update_rayon(black_box(input))
                        .finalize(),
                );
            }),
        )
        .vs(&single);
        sweep.push(single);
        sweep.push(multi);
    }

    const ITERS: usize = 1_000_000;
    let digest = HashAlgo::Sha256.digest(b"chunker");
    let mut out = [0u8; 52];
    let enc = Case::new(
        "nix/base32_encode_32B x1M",
        32 * ITERS,
        median_seconds(args.runs, || {
            for _ in 0..ITERS {
                base32::encode_into(black_box(&digest), &mut out);
                black_box(&out);
            }
        }),
    );
    let s = base32::encode(&digest);
    let dec = Case::new(
        "nix/base32_decode_52c x1M",
        32 * ITERS,
        median_seconds(args.runs, || {
            for _ in 0..ITERS {
                black_box(base32::decode(black_box(s.as_bytes())).ok());
            }
        }),
    );
    let prefixed = format!("sha256:{s}");
    let parse = Case::new(
        "nix/hash_parse_base32 x1M",
        32 * ITERS,
        median_seconds(args.runs, || {
            for _ in 0..ITERS {
                black_box(Hash::parse(black_box(&prefixed), Some(Algo::Sha256)).ok());
            }
        }),
    );
    let mut cases = vec![memcpy, sha, sha_1mib, b3, b3_mt, enc, dec, parse];
    cases.extend(sweep);
    cases
}

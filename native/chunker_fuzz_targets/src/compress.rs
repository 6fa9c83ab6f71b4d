//! Decompressors with small limits, and compression round trips.

use crate::input::{Input, Rng};
use chunker_core::compress::{self, stream::Decoder, Algo, Error};

const ALGOS: [Algo; 5] = [Algo::Zstd, Algo::Lz4, Algo::Xz, Algo::Bzip2, Algo::None];

/// Target `decompress`: format, limit (small), feed splits and bytes.
///
/// Decoding attacker bytes must never give more than `limit` bytes; the
/// one-shot and streaming decoders (fed in pieces, format given or
/// detected) must agree; an accepted input must decode again under a limit
/// of exactly its size and be refused one byte below it. Then the bytes
/// themselves are compressed and must round-trip under a tight limit.
pub fn decompress(bytes: &[u8]) {
    let mut input = Input::new(bytes);
    let algo = ALGOS[input.u8() as usize % ALGOS.len()];
    let limit = match input.u8() % 4 {
        0 => 0,
        1 => input.u8() as u64,
        _ => input.u16() as u64 * 4,
    };
    let split = 1 + input.u8() as usize;
    let src = input.rest();

    let one_shot = compress::decompress(src, algo, limit);
    check_limit(&one_shot, limit);
    let streamed = stream_decode(Some(algo), src, split, limit);
    check_limit(&streamed, limit);
    assert_eq!(
        verdict(&one_shot),
        verdict(&streamed),
        "{algo:?}: one-shot {one_shot:?} vs streamed {streamed:?}"
    );
    if let Ok(out) = &one_shot {
        assert_eq!(
            Some(out),
            streamed.as_ref().ok(),
            "{algo:?}: outputs differ"
        );
        let exact = compress::decompress(src, algo, out.len() as u64);
        assert_eq!(exact.as_ref(), Ok(out), "limit == size must succeed");
        if !out.is_empty() {
            let below = out.len() as u64 - 1;
            assert_eq!(
                compress::decompress(src, algo, below),
                Err(Error::SizeExceeded(below)),
                "limit below size must be refused"
            );
        }
    }
    if compress::detect(src) == Some(algo) {
        let auto = stream_decode(None, src, split, limit);
        assert_eq!(
            verdict(&auto),
            verdict(&one_shot),
            "{algo:?}: detected vs given"
        );
    }

    // Round trip of the bytes themselves, at the fastest level.
    let level = algo.levels().0.max(1).min(algo.levels().1);
    let packed = compress::compress(src, algo, level).expect("compress");
    if algo != Algo::None {
        assert_eq!(
            compress::detect(&packed),
            Some(algo),
            "magic of our own output"
        );
    }
    let n = src.len() as u64;
    assert_eq!(compress::decompress(&packed, algo, n).as_deref(), Ok(src));
    if n > 0 {
        assert_eq!(
            compress::decompress(&packed, algo, n - 1),
            Err(Error::SizeExceeded(n - 1))
        );
    }
}

fn check_limit(result: &Result<Vec<u8>, Error>, limit: u64) {
    match result {
        Ok(out) => assert!(out.len() as u64 <= limit, "output over the limit"),
        Err(Error::SizeExceeded(l)) => assert_eq!(*l, limit),
        Err(Error::Corrupt(_) | Error::UnknownFormat) => {}
        Err(other) => panic!("unexpected error decoding attacker bytes: {other:?}"),
    }
}

/// Accepted or refused. Which error a refused input gets may differ (bytes
/// both corrupt and too large can be caught either way first).
fn verdict(result: &Result<Vec<u8>, Error>) -> bool {
    result.is_ok()
}

fn stream_decode(
    algo: Option<Algo>,
    src: &[u8],
    split: usize,
    limit: u64,
) -> Result<Vec<u8>, Error> {
    let mut dec = Decoder::new(algo, limit)?;
    let mut out = Vec::new();
    for piece in src.chunks(split) {
        dec.update(piece, &mut out)?;
        assert!(
            out.len() as u64 <= limit + 1,
            "streamed output far over the limit"
        );
    }
    dec.finish(&mut out)?;
    assert!(out.len() as u64 <= limit, "streamed output over the limit");
    assert!(matches!(dec.finish(&mut out), Err(Error::Finished)));
    Ok(out)
}

/// A `decompress` input: real compressed data (sometimes a bomb: many
/// zeros under a small limit), lightly corrupted now and then.
pub fn generate_decompress_input(rng: &mut Rng) -> Vec<u8> {
    let which = rng.below(ALGOS.len() as u64) as usize;
    let algo = ALGOS[which];
    let bomb = rng.below(8) == 0;
    let plain = if bomb {
        vec![0u8; 1 << (10 + rng.below(8))]
    } else {
        let len = rng.len_up_to(16 << 10);
        rng.structured(len)
    };
    let mut packed = compress::compress(&plain, algo, algo.levels().0.max(1).min(algo.levels().1))
        .expect("compress");
    if rng.below(4) == 0 && !packed.is_empty() {
        let i = rng.below(packed.len() as u64) as usize;
        match rng.below(3) {
            0 => packed[i] ^= 1 << rng.below(8),
            1 => packed.truncate(i),
            _ => packed.push(rng.byte()),
        }
    }
    let mut out = vec![which as u8];
    let limit = if bomb {
        rng.below(60_000)
    } else {
        plain.len() as u64 + rng.below(3)
    };
    let limit = limit.min(65_535 * 4);
    out.push(2);
    out.extend(((limit / 4) as u16).to_le_bytes());
    out.push(rng.byte());
    out.extend(packed);
    out
}

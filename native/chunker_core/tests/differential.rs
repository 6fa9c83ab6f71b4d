//! Differential tests: every entry point gives exactly the cut points of the
//! `fastcdc` crate's `v2020::FastCDC` (the oracle).

use chunker_core::cdc::engines::Engine;
use chunker_core::cdc::{
    chunk_digests, chunk_parallel, chunk_reader, engines, Chunk, ChunkerConfig, HashingStream,
    StreamChunker,
};
use chunker_core::digest::HashAlgo;
use fastcdc::v2020::{FastCDC, Normalization};
use proptest::prelude::*;
use rand::{rngs::SmallRng, Rng, RngCore, SeedableRng};

fn level(n: u64) -> Normalization {
    match n {
        0 => Normalization::Level0,
        1 => Normalization::Level1,
        2 => Normalization::Level2,
        _ => Normalization::Level3,
    }
}

fn oracle(data: &[u8], min: u64, avg: u64, max: u64, norm: u64) -> Vec<Chunk> {
    FastCDC::with_level(data, min as usize, avg as usize, max as usize, level(norm))
        .map(|c| Chunk {
            offset: c.offset as u64,
            length: c.length,
        })
        .collect()
}

/// Data with structure: random runs, repeated blocks and zero runs, so cut
/// points land everywhere, including near min/avg/max.
fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = vec![0u8; len];
    let mut i = 0;
    while i < len {
        let run = rng.gen_range(1..=65_536).min(len - i);
        match rng.gen_range(0..4) {
            0 => {} // zeros
            1 if i >= run => out.copy_within(i - run..i, i),
            _ => rng.fill_bytes(&mut out[i..i + run]),
        }
        i += run;
    }
    out
}

/// Data dominated by long runs of one repeated byte (several values, some
/// whose steady hash hits the masks), with short random or periodic pieces.
fn runs_data(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let n = rng.gen_range(1..=40_000).min(len - out.len());
        match rng.gen_range(0..5) {
            0 => out.extend((0..n).map(|_| rng.gen::<u8>())),
            1 => {
                let period: Vec<u8> = (0..rng.gen_range(2..60)).map(|_| rng.gen()).collect();
                out.extend(period.iter().cycle().take(n));
            }
            _ => {
                let b = [0u8, 0xff, rng.gen()][rng.gen_range(0..3)];
                let n = (n * 8).min(len - out.len());
                out.resize(out.len() + n, b);
            }
        }
    }
    out
}

/// Forces a scan engine while alive. Tests forcing engines take a lock so
/// they do not switch each other's engine mid-check (other tests may run on
/// a forced engine meanwhile: every engine gives the same cuts).
struct Forced(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

impl Forced {
    fn new(engine: Engine) -> Self {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        Engine::force(Some(engine));
        assert_eq!(Engine::current(), engine);
        Forced(guard)
    }
}

impl Drop for Forced {
    fn drop(&mut self) {
        Engine::force(None);
    }
}

/// Even value in `lo..=hi`.
fn even(rng: &mut SmallRng, lo: u64, hi: u64) -> u64 {
    rng.gen_range(lo / 2..=hi / 2) * 2
}

fn random_config(rng: &mut SmallRng) -> (u64, u64, u64, u64) {
    let avg = even(rng, 256, 65_536);
    let min = even(rng, 64, avg.min(1_048_576));
    let max = even(rng, avg.max(1024), (avg * 8).clamp(1024, 16_777_216));
    (min, avg, max, rng.gen_range(0..=3))
}

fn stream_cuts(
    config: ChunkerConfig,
    data: &[u8],
    rng: &mut SmallRng,
    max_feed: usize,
) -> Vec<Chunk> {
    let mut s = StreamChunker::new(config);
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let n = rng.gen_range(0..=max_feed).min(data.len() - i);
        s.feed(&data[i..i + n], &mut out).unwrap();
        i += n;
    }
    out.extend(s.finish().unwrap());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn eager_stream_and_reader_match_fastcdc(seed: u64, len in 0usize..600_000) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let (min, avg, max, norm) = random_config(&mut rng);
        let input = data(seed, len);
        let config = ChunkerConfig::new(min, avg, max, norm).unwrap();
        let expected = oracle(&input, min, avg, max, norm);

        let eager: Vec<Chunk> = config.chunks(&input).collect();
        prop_assert_eq!(&eager, &expected);

        let max_feed = [1, 7, 4096, 65_536, 1 << 20][rng.gen_range(0..5)];
        prop_assert_eq!(&stream_cuts(config, &input, &mut rng, max_feed), &expected);

        let buffer = rng.gen_range(1..100_000);
        let from_reader = chunk_reader(&input[..], config, Some(HashAlgo::Sha256), buffer).unwrap();
        let cuts: Vec<Chunk> = from_reader.iter().map(|c| c.chunk).collect();
        prop_assert_eq!(&cuts, &expected);
        for c in &from_reader {
            let bytes = &input[c.chunk.offset as usize..c.chunk.end() as usize];
            prop_assert_eq!(c.digest, Some(HashAlgo::Sha256.digest(bytes)));
        }
    }

    #[test]
    fn one_byte_feeds_match(seed: u64, len in 0usize..40_000) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let (min, avg, max, norm) = (64, 256, 1024, rng.gen_range(0..=3));
        let input = data(seed, len);
        let config = ChunkerConfig::new(min, avg, max, norm).unwrap();
        let mut s = StreamChunker::new(config);
        let mut out = Vec::new();
        for b in &input {
            s.feed(std::slice::from_ref(b), &mut out).unwrap();
        }
        out.extend(s.finish().unwrap());
        prop_assert_eq!(out, oracle(&input, min, avg, max, norm));
    }

    #[test]
    fn hashing_stream_payloads_and_digests(seed: u64, len in 0usize..300_000) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let (min, avg, max, norm) = random_config(&mut rng);
        let input = data(seed, len);
        let config = ChunkerConfig::new(min, avg, max, norm).unwrap();
        let algo = if rng.gen() { HashAlgo::Sha256 } else { HashAlgo::Blake3 };
        let mut s = HashingStream::new(config, Some(algo), true);
        let mut got = Vec::new();
        let mut i = 0;
        while i < input.len() {
            let n = rng.gen_range(1..=20_000).min(input.len() - i);
            let feed = &input[i..i + n];
            let mut out = Vec::new();
            s.feed(feed, &mut out).unwrap();
            for c in out {
                let bytes = match c.payload {
                    chunker_core::cdc::Payload::InFeed { start, end } => feed[start..end].to_vec(),
                    chunker_core::cdc::Payload::Owned(v) => v,
                    chunker_core::cdc::Payload::None => panic!("payload asked for"),
                };
                got.push((c.chunk, c.digest, bytes));
            }
            i += n;
        }
        if let Some(c) = s.finish().unwrap() {
            let chunker_core::cdc::Payload::Owned(v) = c.payload else { panic!("last chunk is owned") };
            got.push((c.chunk, c.digest, v));
        }
        let expected = oracle(&input, min, avg, max, norm);
        prop_assert_eq!(got.len(), expected.len());
        for ((chunk, digest, bytes), want) in got.iter().zip(&expected) {
            let slice = &input[want.offset as usize..want.end() as usize];
            prop_assert_eq!(chunk, want);
            prop_assert_eq!(bytes.as_slice(), slice);
            prop_assert_eq!(*digest, Some(algo.digest(slice)));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Every engine (each scan level this CPU has, forced in turn; run
    /// skipping; parallel with any number of segments; streaming) gives the
    /// crate's cuts.
    #[test]
    fn every_engine_matches_fastcdc(seed: u64, len in 0usize..800_000, runs: bool) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let (min, avg, max, norm) = random_config(&mut rng);
        let input = if runs { runs_data(seed, len) } else { data(seed, len) };
        let config = ChunkerConfig::new(min, avg, max, norm).unwrap();
        let expected = oracle(&input, min, avg, max, norm);
        prop_assert_eq!(&engines::serial(&config, &input), &expected);
        for engine in Engine::available() {
            let _forced = Forced::new(engine);
            prop_assert_eq!(&config.chunks(&input).collect::<Vec<_>>(), &expected, "{:?}", engine);
            prop_assert_eq!(&engines::run_skipping(&config, &input), &expected, "{:?}", engine);
            let segments = rng.gen_range(2..=12);
            prop_assert_eq!(&chunk_parallel(&config, &input, segments), &expected, "{:?}", engine);
            let max_feed = [1, 100, 4096, 100_000][rng.gen_range(0..4)];
            prop_assert_eq!(&stream_cuts(config, &input, &mut rng, max_feed), &expected, "{:?}", engine);
        }
    }

    /// Streaming with random splits, 1-byte feeds mixed in.
    #[test]
    fn random_splits_match(seed: u64, len in 0usize..300_000, runs: bool) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let (min, avg, max, norm) = random_config(&mut rng);
        let input = if runs { runs_data(seed, len) } else { data(seed, len) };
        let config = ChunkerConfig::new(min, avg, max, norm).unwrap();
        let mut s = StreamChunker::new(config);
        let mut out = Vec::new();
        let mut i = 0;
        while i < input.len() {
            let n = match rng.gen_range(0..4) {
                0 => 1,
                1 => rng.gen_range(0..64),
                _ => rng.gen_range(0..100_000),
            }
            .min(input.len() - i);
            s.feed(&input[i..i + n], &mut out).unwrap();
            i += n;
        }
        out.extend(s.finish().unwrap());
        prop_assert_eq!(out, oracle(&input, min, avg, max, norm));
    }
}

#[test]
fn parallel_digests_match_serial() {
    // 12 MiB: above the default parallel threshold.
    let input = data(7, 12 << 20);
    let config = ChunkerConfig::new(16_384, 65_536, 262_144, 1).unwrap();
    let expected = oracle(&input, 16_384, 65_536, 262_144, 1);
    for algo in [None, Some(HashAlgo::Sha256), Some(HashAlgo::Blake3)] {
        let got = chunk_digests(&config, &input, algo);
        assert_eq!(got.len(), expected.len());
        for ((chunk, digest), want) in got.iter().zip(&expected) {
            assert_eq!(chunk, want);
            let bytes = &input[want.offset as usize..want.end() as usize];
            assert_eq!(*digest, algo.map(|a| a.digest(bytes)));
        }
    }
}

#[test]
fn parallel_long_runs() {
    // Zero-filled and constant inputs, and a zero run starting off the
    // max_size grid (so the seam walk cannot line up by position).
    let config = ChunkerConfig::new(4096, 16_384, 65_536, 1).unwrap();
    let mut shifted = data(3, 12_345);
    shifted.resize(8 << 20, 0);
    for input in [vec![0u8; 8 << 20], vec![0xAB; 5 << 20], shifted] {
        let expected = oracle(&input, 4096, 16_384, 65_536, 1);
        for segments in [2, 3, 7] {
            assert_eq!(chunk_parallel(&config, &input, segments), expected);
        }
    }
}

#[test]
fn large_inputs_all_levels() {
    // 64 MiB at the NAR defaults and a small configuration, every level.
    let input = data(42, 64 << 20);
    for (min, avg, max) in [(131_072, 524_288, 2_097_152), (16_384, 65_536, 262_144)] {
        for norm in 0..=3 {
            let config = ChunkerConfig::new(min, avg, max, norm).unwrap();
            let expected = oracle(&input, min, avg, max, norm);
            assert_eq!(config.chunks(&input).collect::<Vec<_>>(), expected);
            assert_eq!(chunk_parallel(&config, &input, 2), expected);
            let mut rng = SmallRng::seed_from_u64(norm);
            assert_eq!(stream_cuts(config, &input, &mut rng, 1 << 20), expected);
        }
    }
}

#[test]
fn edge_sizes() {
    let config = ChunkerConfig::new(64, 256, 1024, 1).unwrap();
    for len in [
        0, 1, 2, 63, 64, 65, 66, 255, 256, 257, 1023, 1024, 1025, 2048, 2049,
    ] {
        for input in [vec![0u8; len], data(len as u64, len)] {
            let expected = oracle(&input, 64, 256, 1024, 1);
            assert_eq!(
                config.chunks(&input).collect::<Vec<_>>(),
                expected,
                "len {len}"
            );
            let mut rng = SmallRng::seed_from_u64(len as u64);
            assert_eq!(
                stream_cuts(config, &input, &mut rng, 3),
                expected,
                "len {len}"
            );
        }
    }
}

#[test]
fn masks_match_the_crate() {
    use chunker_core::cdc::ChunkerConfig as C;
    for avg in [256u64, 300, 1000, 3000, 65_536, 524_288, 4_194_304] {
        for norm in 0..=3 {
            let c = C::new(64, avg & !1, 16_777_216, norm).unwrap();
            let expected = fastcdc::v2020::select_masks((avg & !1) as usize, level(norm));
            assert_eq!(c.masks(), expected, "avg {avg} level {norm}");
        }
    }
}

#[test]
fn feeding_after_finish_is_an_error() {
    let mut s = StreamChunker::new(ChunkerConfig::default());
    s.feed(b"abc", &mut Vec::new()).unwrap();
    assert_eq!(s.finish().unwrap().map(|c| c.length), Some(3));
    assert!(matches!(
        s.feed(b"x", &mut Vec::new()),
        Err(chunker_core::cdc::Error::Finished)
    ));
    assert!(matches!(
        s.finish(),
        Err(chunker_core::cdc::Error::Finished)
    ));
}

//! Inputs found by fuzzing (native/fuzz), kept as plain regression tests.

use chunker_core::cdc::{ChunkerConfig, HashingStream, StreamChunker};
use chunker_core::digest::HashAlgo;

/// min_size == max_size: feeding fewer than max_size bytes used to emit
/// chunks past the fed data forever (unbounded memory, a hung scheduler).
#[test]
fn min_equal_to_max_streams_like_eager() {
    for size in [1024u64, 1_048_576] {
        let config = ChunkerConfig::new(size, size, size, 2).unwrap();
        let data: Vec<u8> = (0..3 * size + 100).map(|i| (i * 7 % 251) as u8).collect();
        let eager: Vec<_> = config.chunks(&data).collect();
        assert_eq!(eager.len(), 4);
        for piece in [1, 100, size as usize - 1, size as usize, size as usize + 1] {
            let mut s = StreamChunker::new(config);
            let mut out = Vec::new();
            for feed in data.chunks(piece) {
                s.feed(feed, &mut out).unwrap();
                assert!(out.last().is_none_or(|c| c.end() <= s.fed()));
            }
            out.extend(s.finish().unwrap());
            assert_eq!(out, eager, "size {size}, feeds of {piece}");
        }
        let mut h = HashingStream::new(config, Some(HashAlgo::Sha256), true);
        let mut out = Vec::new();
        h.feed(&data[..100], &mut out).unwrap();
        assert!(out.is_empty());
    }
}

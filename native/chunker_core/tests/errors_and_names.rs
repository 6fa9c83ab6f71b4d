//! The messages, names and small public helpers the NIF and users see:
//! error texts (they reach Elixir as `Chunker.Error` messages), format
//! names, the uncached codec entry points and the worker pool's size.

use chunker_core::cdc;
use chunker_core::compress::{self, Algo};
use chunker_core::pipeline::pool;
use std::error::Error as _;

#[test]
fn chunking_errors_say_what_went_wrong() {
    let invalid = cdc::Error::InvalidOptions {
        field: "avg_size",
        reason: "must be a power of two".into(),
    };
    assert_eq!(
        invalid.to_string(),
        "invalid option avg_size: must be a power of two"
    );
    assert_eq!(
        cdc::Error::Finished.to_string(),
        "the stream is already finished"
    );
    assert_eq!(
        cdc::Error::Overflow.to_string(),
        "stream offset overflows u64"
    );
    let io: cdc::Error = std::io::Error::other("disk on fire").into();
    assert_eq!(io.to_string(), "I/O error: disk on fire");
    assert_eq!(io.source().unwrap().to_string(), "disk on fire");
    assert!(invalid.source().is_none());
}

#[test]
fn compression_errors_and_names() {
    for algo in Algo::ALL {
        assert_eq!(Algo::from_name(algo.name()), Some(algo));
    }
    assert_eq!(Algo::from_name("gzip"), None);
    let cases = [
        (
            Algo::Zstd.check_level(23).unwrap_err(),
            "level 23 is not in 1..22 for zstd",
        ),
        (
            compress::Error::SizeExceeded(1024),
            "output exceeds the limit of 1024 bytes",
        ),
        (
            compress::Error::Corrupt(Algo::Xz),
            "truncated or corrupt xz data",
        ),
        (compress::Error::UnknownFormat, "unknown compression format"),
        (compress::Error::Finished, "the stream is already finished"),
        (
            compress::Error::Dictionary("too few samples".into()),
            "dictionary error: too few samples",
        ),
        (
            compress::Error::Library(Algo::Bzip2, "out of memory".into()),
            "bzip2 library error: out of memory",
        ),
    ];
    for (err, text) in cases {
        assert_eq!(err.to_string(), text);
    }
}

#[test]
fn uncached_entry_points_round_trip_and_keep_the_limit() {
    let data = b"nix store path ".repeat(500);
    for algo in [Algo::Zstd, Algo::Lz4, Algo::Xz, Algo::Bzip2] {
        let mut packed = Vec::new();
        let n = compress::compress_uncached_into(&data, algo, algo.default_level(), &mut packed)
            .unwrap();
        assert_eq!(n, packed.len(), "{algo:?}");
        assert!(packed.len() < data.len() / 4, "{algo:?}: {}", packed.len());
        let mut out = Vec::new();
        compress::decompress_uncached_into(&packed, algo, data.len() as u64, &mut out).unwrap();
        assert_eq!(out, data, "{algo:?}");
        let mut short = Vec::new();
        assert_eq!(
            compress::decompress_uncached_into(&packed, algo, 100, &mut short),
            Err(compress::Error::SizeExceeded(100)),
            "{algo:?}"
        );
        // What was produced before the error: at most limit + 1 bytes.
        assert!(short.len() <= 101, "{algo:?}: {}", short.len());
    }
}

#[test]
fn the_worker_pool_is_sized_once() {
    assert!(pool::configure(3), "first configure creates the pool");
    assert_eq!(pool::threads(), 3);
    assert!(!pool::configure(5), "its size cannot change");
    assert_eq!(pool::threads(), 3);
}

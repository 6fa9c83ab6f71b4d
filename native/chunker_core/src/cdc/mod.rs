//! FastCDC 2020 content-defined chunking.
//!
//! Cut points are identical to those of the `fastcdc` crate's `v2020::FastCDC`
//! (same gear table, masks, normalization and min/avg/max bounds), which the
//! differential tests in `tests/` check. Every entry point shares one scanner
//! (lanes of independent hash chains, AVX-512 when the CPU has it, see
//! [`engines::Engine`]):
//!
//! - [`ChunkerConfig::chunks`]: an iterator over a slice (no allocation);
//! - [`chunk_all`] / [`chunk_digests`]: a whole slice, in parallel on the
//!   chunker's own rayon pool when it is big ([`parallel_threshold`]);
//! - [`StreamChunker`]: resumable, fed in any pieces, O(bytes) total work;
//! - [`chunk_file`]: a file through a bounded read buffer.
//!
//! ```
//! use chunker_core::cdc::ChunkerConfig;
//! let config = ChunkerConfig::new(64, 256, 1024, 1).unwrap();
//! let data: Vec<u8> = (0..10_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
//! let total: usize = config.chunks(&data).map(|c| c.length).sum();
//! assert_eq!(total, data.len());
//! ```

mod config;
mod error;
mod file;
mod parallel;
mod scan;
mod slice;
mod stream;

pub use config::{ChunkerConfig, Normalization};
pub use error::Error;
pub use file::{chunk_file, chunk_reader, DEFAULT_READ_BUFFER};
pub use parallel::set_parallel_threshold;
pub use parallel::{
    chunk_all, chunk_parallel, parallel_threshold, pool, pool_threads, DEFAULT_PARALLEL_THRESHOLD,
};
pub use slice::{chunk_digests, Chunks};
pub use stream::{HashedChunk, HashingStream, Payload, StreamChunker};

/// A chunk: `length` bytes starting at `offset` of the input (or stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chunk {
    /// Absolute byte offset of the chunk's first byte.
    pub offset: u64,
    /// Length in bytes (never more than the configured `max_size`).
    pub length: usize,
}

impl Chunk {
    /// Offset one past the chunk's last byte.
    pub fn end(&self) -> u64 {
        self.offset + self.length as u64
    }
}

/// The internal scan variants, for the differential tests and benchmarks.
#[doc(hidden)]
pub mod engines {
    pub use super::scan::Engine;
    use super::{scan, Chunk, ChunkerConfig};

    fn walk(data: &[u8], cut: impl Fn(&[u8]) -> usize) -> Vec<Chunk> {
        let mut out = Vec::new();
        let mut x = 0;
        while x < data.len() {
            let length = cut(&data[x..]);
            out.push(Chunk {
                offset: x as u64,
                length,
            });
            x += length;
        }
        out
    }

    /// Chunks with the plain byte-at-a-time scan (no lanes).
    pub fn serial(config: &ChunkerConfig, data: &[u8]) -> Vec<Chunk> {
        walk(data, |d| scan::cut_serial(config, d))
    }

    /// Chunks with the run-skipping scan of the parallel merge walk.
    pub fn run_skipping(config: &ChunkerConfig, data: &[u8]) -> Vec<Chunk> {
        walk(data, |d| scan::cut_runs(config, d))
    }
}

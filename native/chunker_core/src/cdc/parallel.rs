//! Parallel chunking of big inputs on a dedicated, bounded rayon pool, with
//! output identical to the serial scan.
//!
//! The input is split into one segment per pool thread, at multiples of
//! `max_size`. Each segment is chunked speculatively as if a chunk started
//! at its first byte, until a cut reaches the next segment. Then one serial
//! walk fixes the seams: from the last true cut before a seam it computes
//! true cuts until one lands on a cut of the next segment's chain (content
//! defined chunking resynchronizes within a chunk or two); from there on the
//! chains are identical, because a cut depends only on where its chunk
//! starts. Runs of one repeated byte never resynchronize by content, so the
//! walk skips their inside ([`scan::cut_runs`]) instead of re-hashing them;
//! and since segments start at multiples of `max_size`, all-`max_size` chains
//! (zero-filled inputs) line up at once.

use super::{scan, Chunk, ChunkerConfig};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Inputs at least this big are chunked in parallel unless
/// `CHUNKER_PARALLEL_THRESHOLD` (bytes) says otherwise. Measured on 2 cores:
/// below a few MiB the seam walk and the thread hand-off eat the gain.
pub const DEFAULT_PARALLEL_THRESHOLD: usize = 4 << 20;

/// Each segment spans at least this many `max_size`s.
const MIN_SEGMENT_MAXES: usize = 4;

static SET: AtomicBool = AtomicBool::new(false);
static SET_THRESHOLD: AtomicUsize = AtomicUsize::new(0);

/// Sets the parallel threshold in bytes, overriding the environment (the
/// Elixir application does it at start from its configuration).
pub fn set_parallel_threshold(bytes: usize) {
    SET_THRESHOLD.store(bytes, Ordering::Relaxed);
    SET.store(true, Ordering::Release);
}

/// The parallel threshold in bytes: the last [`set_parallel_threshold`],
/// else `CHUNKER_PARALLEL_THRESHOLD` (read once), else the default.
pub fn parallel_threshold() -> usize {
    if SET.load(Ordering::Acquire) {
        return SET_THRESHOLD.load(Ordering::Relaxed);
    }
    static THRESHOLD: OnceLock<usize> = OnceLock::new();
    *THRESHOLD.get_or_init(|| {
        std::env::var("CHUNKER_PARALLEL_THRESHOLD")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_PARALLEL_THRESHOLD)
    })
}

/// The chunker's own rayon pool (not the global one), created on first use
/// with rayon's default size: `RAYON_NUM_THREADS` if set, else one thread
/// per logical CPU, at lowered priority ([`crate::threads`]). `None` if threads cannot be spawned.
pub fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| crate::threads::pool_builder("chunker-cdc").build().ok())
        .as_ref()
}

/// Threads of [`pool`] (1 if there is none).
pub fn pool_threads() -> usize {
    pool().map_or(1, |p| p.current_num_threads())
}

/// All chunks of `data`: in parallel on [`pool`] when `data` is at least
/// [`parallel_threshold`] bytes, serially otherwise. Same result either way.
pub fn chunk_all(config: &ChunkerConfig, data: &[u8]) -> Vec<Chunk> {
    if data.len() >= parallel_threshold() {
        chunk_parallel(config, data, pool_threads())
    } else {
        config.chunks(data).collect()
    }
}

/// All chunks of `data`, with up to `segments` segments chunked in parallel
/// on [`pool`] (fewer if `data` is small; serially if only one is left).
pub fn chunk_parallel(config: &ChunkerConfig, data: &[u8], segments: usize) -> Vec<Chunk> {
    let unit = config.max_size;
    let segments = segments.min(data.len() / (unit * MIN_SEGMENT_MAXES)).max(1);
    let pool = match pool() {
        Some(p) if segments > 1 => p,
        _ => return config.chunks(data).collect(),
    };
    // Segment starts, multiples of max_size, strictly increasing.
    let units = data.len() / unit;
    let starts: Vec<usize> = (0..segments).map(|k| k * units / segments * unit).collect();
    let chains: Vec<Vec<usize>> = pool.install(|| {
        (0..segments)
            .into_par_iter()
            .map(|k| {
                let stop = starts.get(k + 1).copied().unwrap_or(data.len());
                chain(config, data, starts[k], stop)
            })
            .collect()
    });
    to_chunks(&merge(config, data, &chains))
}

/// Cut positions from `start` (included) until one is `>= stop`.
fn chain(config: &ChunkerConfig, data: &[u8], start: usize, stop: usize) -> Vec<usize> {
    let mut cuts = Vec::with_capacity((stop - start) / config.min_size.max(1) / 2 + 2);
    let mut x = start;
    cuts.push(x);
    while x < stop && x < data.len() {
        x += scan::cut(config, &data[x..]);
        cuts.push(x);
    }
    cuts
}

/// Joins the speculative chains into the true cut list (see the module doc).
fn merge(config: &ChunkerConfig, data: &[u8], chains: &[Vec<usize>]) -> Vec<usize> {
    let mut out = chains[0].clone();
    for chain in &chains[1..] {
        let mut j = 0;
        loop {
            let x = *out.last().expect("starts at 0");
            if x >= data.len() {
                return out;
            }
            while j < chain.len() && chain[j] < x {
                j += 1;
            }
            if j == chain.len() {
                break; // walked past this chain: try the next one
            }
            if chain[j] == x {
                out.extend_from_slice(&chain[j + 1..]);
                break;
            }
            out.push(x + scan::cut_runs(config, &data[x..]));
        }
    }
    while let Some(&x) = out.last() {
        if x >= data.len() {
            break;
        }
        out.push(x + scan::cut_runs(config, &data[x..]));
    }
    out
}

fn to_chunks(cuts: &[usize]) -> Vec<Chunk> {
    cuts.windows(2)
        .map(|w| Chunk {
            offset: w[0] as u64,
            length: w[1] - w[0],
        })
        .collect()
}

/// Digests of `chunks` (slices of `data`), in parallel on [`pool`] when
/// `data` is at least [`parallel_threshold`] bytes.
pub(crate) fn digests(
    data: &[u8],
    chunks: &[Chunk],
    algo: crate::digest::HashAlgo,
) -> Vec<[u8; 32]> {
    let one = |c: &Chunk| algo.digest(&data[c.offset as usize..c.end() as usize]);
    match pool() {
        Some(pool) if data.len() >= parallel_threshold() && chunks.len() > 1 => {
            pool.install(|| chunks.par_iter().with_max_len(1).map(one).collect())
        }
        _ => chunks.iter().map(one).collect(),
    }
}

//! Many independent inputs at once, on several threads when the total is
//! big enough to pay for starting them.

use super::{compress, decompress, Algo, Error};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Below this many input bytes in total a batch runs on the calling thread
/// only. Measured with `CHUNKER_BENCH_COMPRESS=batch chunker-bench --only
/// compress` (zstd-3, 16 KiB items, 2 cores, parallel vs sequential):
/// with a core free, 0.97x at 64 and 128 KiB, 1.66x at 256 KiB, 1.70x at
/// 512 KiB, 1.76x at 1 MiB; with both cores busy (load 4), 0.93-0.97x up
/// to 512 KiB, 0.97-1.07x at 1 MiB, 1.08-1.31x at 8 MiB; saturated (load
/// 8), 0.87x at 256 KiB, 0.85-0.96x up to 1 MiB, 1.54x at 8 MiB. Parallel
/// from 256 KiB gains 1.6x when a core is free and costs 3-13% when none
/// is (the helper thread's start; the caller takes the items it does not).
pub const PARALLEL_MIN_BYTES: usize = 256 << 10;

/// Runs `f` on every item, in parallel above [`PARALLEL_MIN_BYTES`];
/// results are in input order.
fn run<T: Send>(items: &[&[u8]], f: impl Fn(&[u8]) -> T + Sync) -> Vec<T> {
    run_above(PARALLEL_MIN_BYTES, items, f)
}

fn run_above<T: Send>(min_bytes: usize, items: &[&[u8]], f: impl Fn(&[u8]) -> T + Sync) -> Vec<T> {
    let total: usize = items.iter().map(|i| i.len()).sum();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if total < min_bytes || threads < 2 {
        return items.iter().map(|i| f(i)).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            done.push((i, f(item)));
        }
        done
    };
    // The calling thread works too: `threads - 1` helpers are started.
    let mut results: Vec<(usize, T)> = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in helpers {
            all.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        all
    });
    results.sort_unstable_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Compresses each item; one result per item, in order.
pub fn compress_batch(items: &[&[u8]], algo: Algo, level: i32) -> Vec<Result<Vec<u8>, Error>> {
    run(items, |i| compress(i, algo, level))
}

/// Decompresses each item with the same limit; one result per item, in order.
pub fn decompress_batch(items: &[&[u8]], algo: Algo, limit: u64) -> Vec<Result<Vec<u8>, Error>> {
    run(items, |i| decompress(i, algo, limit))
}

/// [`compress_batch`] with another parallel threshold (0: always parallel,
/// `usize::MAX`: never), to measure it.
#[doc(hidden)]
pub fn compress_batch_above(
    min_bytes: usize,
    items: &[&[u8]],
    algo: Algo,
    level: i32,
) -> Vec<Result<Vec<u8>, Error>> {
    run_above(min_bytes, items, |i| compress(i, algo, level))
}

//! The `:auto` strategy: store data uncompressed when compressing it does
//! not save enough (already-compressed data), estimated cheaply first.

use super::{compress_into, Algo, Error};
use std::cell::RefCell;

/// Inputs up to this size are compressed directly (an estimate would cost
/// about as much).
const SAMPLE_MIN_INPUT: usize = 64 << 10;
/// Bytes per sample window; three windows (start, middle, end) are taken.
const SAMPLE_WINDOW: usize = 8 << 10;

thread_local! {
    static SCRATCH: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// The fraction of `src` that zstd level 1 saves on three 8 KiB windows
/// (start, middle, end), or on all of `src` if it is small.
pub fn estimate_savings(src: &[u8]) -> Result<f64, Error> {
    if src.is_empty() {
        return Ok(0.0);
    }
    SCRATCH.with(|s| {
        let (sample, out) = &mut *s.borrow_mut();
        sample.clear();
        if src.len() <= SAMPLE_MIN_INPUT {
            sample.extend_from_slice(src);
        } else {
            let mid = src.len() / 2 - SAMPLE_WINDOW / 2;
            for start in [0, mid, src.len() - SAMPLE_WINDOW] {
                sample.extend_from_slice(&src[start..start + SAMPLE_WINDOW]);
            }
        }
        compress_into(sample, Algo::Zstd, 1, out)?;
        Ok(1.0 - out.len() as f64 / sample.len() as f64)
    })
}

/// Compresses `src` with `algo` unless it saves less than `min_savings`
/// (a fraction, e.g. 0.05) of the input: first estimated on a sample with
/// [`estimate_savings`] (skipping the real compression when the sample
/// saves less than half of `min_savings`), then checked on the real output.
///
/// Returns the format chosen: `algo` with the output in `out`, or
/// [`Algo::None`] with `out` empty (the payload is `src` itself).
pub fn compress_auto_into(
    src: &[u8],
    algo: Algo,
    level: i32,
    min_savings: f64,
    out: &mut Vec<u8>,
) -> Result<Algo, Error> {
    algo.check_level(level)?;
    out.clear();
    if algo == Algo::None || src.is_empty() {
        return Ok(Algo::None);
    }
    if src.len() > SAMPLE_MIN_INPUT && estimate_savings(src)? < min_savings / 2.0 {
        return Ok(Algo::None);
    }
    compress_into(src, algo, level, out)?;
    let saved = 1.0 - out.len() as f64 / src.len() as f64;
    if saved < min_savings {
        out.clear();
        Ok(Algo::None)
    } else {
        Ok(algo)
    }
}

//! The gear-hash scanner every entry point uses.
//!
//! FastCDC 2020 semantics, as `fastcdc::v2020::cut_gear` computes them: in a
//! chunk starting at `s`, the hash is reset to 0 at `s + min_size`; for each
//! later position `i` it becomes `(h << 1) + GEAR[data[i]]`; the chunk ends
//! at the first `i` (chunk length `i - s`) where `h & mask == 0`, with
//! `mask_s` while `i - s < avg_size` and `mask_l` after. Because the crate
//! tests positions in pairs, a position at an even distance from `s` counts
//! only when the byte after it exists; with no hit the chunk is
//! `min(remaining, max_size)` long.

use super::ChunkerConfig;

include!(concat!(env!("OUT_DIR"), "/gear.rs"));

/// Advances `hash` over `data[from..to]`; returns the first index whose
/// updated hash has no bit of `mask` set (the hash then includes that byte).
#[inline]
pub(crate) fn scan(
    data: &[u8],
    from: usize,
    to: usize,
    mask: u64,
    hash: &mut u64,
) -> Option<usize> {
    let mut h = *hash;
    for (i, &byte) in data[from..to].iter().enumerate() {
        h = (h << 1).wrapping_add(GEAR[byte as usize]);
        if h & mask == 0 {
            *hash = h;
            return Some(from + i);
        }
    }
    *hash = h;
    None
}

/// Length of the chunk at the start of `data`, where `data` is all that
/// remains of the input.
pub(crate) fn cut(cfg: &ChunkerConfig, data: &[u8]) -> usize {
    let remaining = data.len();
    if remaining <= cfg.min_size {
        return remaining;
    }
    let end = remaining.min(cfg.max_size);
    // Positions at an even distance need the byte after them (pair rule).
    let test_end = end & !1;
    let center = cfg.avg_size.min(test_end);
    let mut hash = 0;
    if let Some(i) = scan(data, cfg.min_size, center, cfg.mask_s, &mut hash) {
        return i;
    }
    if let Some(i) = scan(
        data,
        center.max(cfg.min_size),
        test_end,
        cfg.mask_l,
        &mut hash,
    ) {
        return i;
    }
    end
}

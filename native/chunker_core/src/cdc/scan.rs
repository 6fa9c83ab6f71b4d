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
//!
//! # Why the scan can be split into independent lanes
//!
//! Every mask bit is below 48 ([`HASH_BITS`]), and the hash at `i` is
//! `sum GEAR[data[j]] << (i - j)`: terms with `i - j >= 48` have no bit below
//! 48, and carries only go upwards. So `h & mask` at `i` depends only on the
//! bytes `max(reset, i - 47)..=i`. A hash started from 0 at any `p` with
//! `reset <= p <= i - 47` is therefore exact (modulo 2^48, which is all a mask
//! sees). [`scan`] cuts a range into blocks of [`LANES`] contiguous lanes;
//! lane 0 continues the carried hash, every other lane first hashes the 47
//! bytes before its start (a warm-up without tests) and then runs
//! independently. The four dependency chains interleave, so the CPU overlaps
//! them instead of waiting on one `shift -> add` chain per byte. The first hit
//! in position order is then resolved exactly (lanes before the hitting one
//! are finished first).

use super::ChunkerConfig;

include!(concat!(env!("OUT_DIR"), "/gear.rs"));

/// Only the hash bits below this can influence a cut (all masks fit).
pub(crate) const HASH_BITS: u32 = 48;
/// Bytes of history a fresh lane hashes before its first tested position.
pub(crate) const WARM_UP: usize = HASH_BITS as usize - 1;
/// Independent hash chains per block.
pub(crate) const LANES: usize = 4;
/// Shortest lane worth its warm-up.
const MIN_LANE: usize = 64;

#[inline(always)]
fn step(h: u64, byte: u8) -> u64 {
    h.wrapping_add(h).wrapping_add(GEAR[byte as usize])
}

/// The serial scan (reference semantics, short ranges and the tail of
/// [`scan`]). Advances `hash` over `data[from..to]`; returns the first index
/// whose updated hash has no bit of `mask` set.
///
/// Bytes go in pairs, as in the crate: `h' = (h << 2) + (2 G[a] + G[b])`
/// keeps one shift and one add per two bytes on the dependency chain; the
/// hash at `a` is tested as `2 h_a = (h << 2) + 2 G[a]` against `mask << 1`.
#[inline]
pub(crate) fn scan_serial(
    data: &[u8],
    from: usize,
    to: usize,
    mask: u64,
    hash: &mut u64,
) -> Option<usize> {
    let mut h = *hash;
    let mask2 = mask << 1;
    let range = &data[from..to];
    let mut pairs = range.chunks_exact(2);
    for (k, pair) in pairs.by_ref().enumerate() {
        let ga = GEAR[pair[0] as usize] << 1;
        let x = h << 2;
        let ha2 = x.wrapping_add(ga);
        if ha2 & mask2 == 0 {
            *hash = ha2 >> 1;
            return Some(from + 2 * k);
        }
        h = x.wrapping_add(ga.wrapping_add(GEAR[pair[1] as usize]));
        if h & mask == 0 {
            *hash = h;
            return Some(from + 2 * k + 1);
        }
    }
    if let [last] = pairs.remainder() {
        h = step(h, *last);
        if h & mask == 0 {
            *hash = h;
            return Some(to - 1);
        }
    }
    *hash = h;
    None
}

/// Like [`scan_serial`] (same result; `hash` is exact modulo 2^48 afterwards),
/// with [`LANES`] interleaved hash chains of up to `lane` bytes per block.
#[inline]
pub(crate) fn scan(
    data: &[u8],
    from: usize,
    to: usize,
    mask: u64,
    hash: &mut u64,
    lane: usize,
) -> Option<usize> {
    debug_assert!(mask >> HASH_BITS == 0);
    let mut pos = from;
    let data = &data[..to];
    while to - pos >= LANES * MIN_LANE {
        let s = lane.max(MIN_LANE).min((to - pos) / LANES);
        if let Some(hit) = block(data, pos, s, mask, hash) {
            return Some(hit);
        }
        pos += LANES * s;
    }
    scan_serial(data, pos, to, mask, hash)
}

/// Warm-up hash of the `WARM_UP` bytes before `p` (exact for positions >= p).
#[inline(always)]
fn warm(data: &[u8], p: usize) -> u64 {
    data[p - WARM_UP..p].iter().fold(0, |h, &b| step(h, b))
}

/// One block: lanes `pos + k*s .. pos + (k+1)*s`, lane 0 continuing `hash`.
#[inline(always)]
fn block(data: &[u8], pos: usize, s: usize, mask: u64, hash: &mut u64) -> Option<usize> {
    let a = &data[pos..pos + s];
    let b = &data[pos + s..pos + 2 * s];
    let c = &data[pos + 2 * s..pos + 3 * s];
    let d = &data[pos + 3 * s..pos + 4 * s];
    let mut h0 = *hash;
    let (mut h1, mut h2, mut h3) = (
        warm(data, pos + s),
        warm(data, pos + 2 * s),
        warm(data, pos + 3 * s),
    );
    for t in 0..s {
        h0 = step(h0, a[t]);
        if h0 & mask == 0 {
            return Some(pos + t);
        }
        h1 = step(h1, b[t]);
        if h1 & mask == 0 {
            return Some(resolve(data, pos, s, mask, t, &mut [h0], pos + s + t));
        }
        h2 = step(h2, c[t]);
        if h2 & mask == 0 {
            return Some(resolve(
                data,
                pos,
                s,
                mask,
                t,
                &mut [h0, h1],
                pos + 2 * s + t,
            ));
        }
        h3 = step(h3, d[t]);
        if h3 & mask == 0 {
            return Some(resolve(
                data,
                pos,
                s,
                mask,
                t,
                &mut [h0, h1, h2],
                pos + 3 * s + t,
            ));
        }
    }
    *hash = h3;
    None
}

/// A later lane hit at step `t` (position `hit`): the earlier lanes still
/// have steps `t + 1..s` to test, in order, before that hit stands.
#[cold]
fn resolve(
    data: &[u8],
    pos: usize,
    s: usize,
    mask: u64,
    t: usize,
    hashes: &mut [u64],
    hit: usize,
) -> usize {
    for (k, h) in hashes.iter_mut().enumerate() {
        let start = pos + k * s;
        if let Some(i) = scan_serial(data, start + t + 1, start + s, mask, h) {
            return i;
        }
    }
    hit
}

/// Lane length for a configuration: long lanes amortize the warm-up, short
/// ones waste less past the cut; the balance is near `sqrt(16 * avg)`.
pub(crate) fn lane_len(avg_size: usize) -> usize {
    let s = ((16 * avg_size) as f64).sqrt() as usize;
    s.clamp(256, 4096)
}

/// Length of the chunk at the start of `data`, where `data` is all that
/// remains of the input.
#[inline]
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
    if let Some(i) = scan(data, cfg.min_size, center, cfg.mask_s, &mut hash, cfg.lane) {
        return i;
    }
    if let Some(i) = scan(
        data,
        center.max(cfg.min_size),
        test_end,
        cfg.mask_l,
        &mut hash,
        cfg.lane,
    ) {
        return i;
    }
    end
}

/// [`cut`] with the plain serial scan: the reference the tests compare with.
pub(crate) fn cut_serial(cfg: &ChunkerConfig, data: &[u8]) -> usize {
    let remaining = data.len();
    if remaining <= cfg.min_size {
        return remaining;
    }
    let end = remaining.min(cfg.max_size);
    let test_end = end & !1;
    let center = cfg.avg_size.min(test_end);
    let mut hash = 0;
    if let Some(i) = scan_serial(data, cfg.min_size, center, cfg.mask_s, &mut hash) {
        return i;
    }
    scan_serial(
        data,
        center.max(cfg.min_size),
        test_end,
        cfg.mask_l,
        &mut hash,
    )
    .unwrap_or(end)
}

/// Runs shorter than this are scanned normally by [`scan_runs`].
const MIN_RUN: usize = 4096;

/// Like [`scan`], but skips the inside of long runs of one repeated byte:
/// 48 bytes into such a run the hash is the same at every position (see the
/// module doc), so if it did not hit there it cannot hit before the run ends.
/// Used where the same bytes may be re-scanned (the parallel merge walk).
pub(crate) fn scan_runs(
    data: &[u8],
    from: usize,
    to: usize,
    mask: u64,
    hash: &mut u64,
    lane: usize,
) -> Option<usize> {
    let mut pos = from;
    while pos < to {
        let (run, run_end) = next_run(data, pos, to);
        let stop = (run + HASH_BITS as usize).min(to);
        if let Some(i) = scan(data, pos, stop, mask, hash, lane) {
            return Some(i);
        }
        pos = stop.max(run_end);
    }
    None
}

/// The first run of at least [`MIN_RUN`] equal bytes starting at or after
/// `pos` (clipped to `pos..to`), as `(start, end)`; `(to, to)` if none.
fn next_run(data: &[u8], pos: usize, to: usize) -> (usize, usize) {
    const BLOCK: usize = 64;
    let uniform = |block: &[u8], b: u8| block.iter().fold(0u8, |acc, &x| acc | (x ^ b)) == 0;
    let mut i = pos.next_multiple_of(BLOCK);
    while i + BLOCK <= to {
        let b = data[i];
        if !uniform(&data[i..i + BLOCK], b) {
            i += BLOCK;
            continue;
        }
        let before = data[pos..i].iter().rev().take_while(|&&x| x == b).count();
        let mut end = i + BLOCK;
        while end + BLOCK <= to && uniform(&data[end..end + BLOCK], b) {
            end += BLOCK;
        }
        end += data[end..to].iter().take_while(|&&x| x == b).count();
        if end - (i - before) >= MIN_RUN {
            return (i - before, end);
        }
        i = end.next_multiple_of(BLOCK);
    }
    (to, to)
}

/// [`cut`] with [`scan_runs`].
pub(crate) fn cut_runs(cfg: &ChunkerConfig, data: &[u8]) -> usize {
    let remaining = data.len();
    if remaining <= cfg.min_size {
        return remaining;
    }
    let end = remaining.min(cfg.max_size);
    let test_end = end & !1;
    let center = cfg.avg_size.min(test_end);
    let mut hash = 0;
    if let Some(i) = scan_runs(data, cfg.min_size, center, cfg.mask_s, &mut hash, cfg.lane) {
        return i;
    }
    let from = center.max(cfg.min_size);
    scan_runs(data, from, test_end, cfg.mask_l, &mut hash, cfg.lane).unwrap_or(end)
}

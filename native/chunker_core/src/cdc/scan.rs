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
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

include!(concat!(env!("OUT_DIR"), "/gear.rs"));

/// Only the hash bits below this can influence a cut (all masks fit).
pub(crate) const HASH_BITS: u32 = 48;
/// Bytes of history a fresh lane hashes before its first tested position.
pub(crate) const WARM_UP: usize = HASH_BITS as usize - 1;
/// Independent hash chains per block.
pub(crate) const LANES: usize = 4;
/// Masks with at most this many bits are scanned serially by every engine.
const SERIAL_MAX_BITS: u32 = 11;
/// Shortest lane worth its warm-up.
const MIN_LANE: usize = 64;

#[inline(always)]
fn step(h: u64, byte: u8) -> u64 {
    h.wrapping_add(h).wrapping_add(GEAR[byte as usize])
}

/// `GEAR[i] << 1`, for the pair-wise serial scan.
const GEAR_LS: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = GEAR[i] << 1;
        i += 1;
    }
    t
};

/// The serial scan (reference semantics, short ranges and the tail of
/// [`scan`]). Advances `hash` over `data[from..to]`; returns the first index
/// whose updated hash has no bit of `mask` set.
///
/// Bytes go in pairs, as in the crate: `2 h_a = (h << 2) + 2 G[a]` is tested
/// against `mask << 1`, then `h_b = 2 h_a + G[b]`.
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
    let pairs = range.len() / 2;
    for k in 0..pairs {
        let a = 2 * k;
        h = (h << 2).wrapping_add(GEAR_LS[range[a] as usize]);
        if h & mask2 == 0 {
            *hash = h >> 1;
            return Some(from + a);
        }
        h = h.wrapping_add(GEAR[range[a + 1] as usize]);
        if h & mask == 0 {
            *hash = h;
            return Some(from + a + 1);
        }
    }
    if range.len() % 2 == 1 {
        h = step(h, range[range.len() - 1]);
        if h & mask == 0 {
            *hash = h;
            return Some(to - 1);
        }
    }
    *hash = h;
    None
}

/// The scan implementations; all give the same cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// One hash chain, two bytes per step ([`scan_serial`]).
    Serial = 1,
    /// [`LANES`] interleaved scalar chains (portable; the fallback).
    Lanes = 2,
    /// 8 chains in one AVX-512 register, gear values gathered (x86_64 with
    /// AVX-512F, detected at run time).
    Avx512 = 3,
}

impl Engine {
    /// Every engine this CPU can run, slowest first.
    pub fn available() -> Vec<Engine> {
        let mut all = vec![Engine::Serial, Engine::Lanes];
        if avx512_available() {
            all.push(Engine::Avx512);
        }
        all
    }

    /// The engine [`scan`] uses: the forced one if any, else the fastest.
    pub fn current() -> Engine {
        match FORCED.load(Ordering::Relaxed) {
            1 => Engine::Serial,
            2 => Engine::Lanes,
            3 => Engine::Avx512,
            _ if avx512_available() => Engine::Avx512,
            _ => Engine::Lanes,
        }
    }

    /// Forces an engine process-wide (`None`: back to the fastest). For
    /// tests and benchmarks; an engine the CPU lacks is ignored.
    pub fn force(engine: Option<Engine>) {
        let value = match engine {
            Some(Engine::Avx512) if !avx512_available() => 0,
            Some(e) => e as u8,
            None => 0,
        };
        FORCED.store(value, Ordering::Relaxed);
    }
}

static FORCED: AtomicU8 = AtomicU8::new(0);

fn avx512_available() -> bool {
    #[cfg(all(target_arch = "x86_64", chunker_avx512))]
    {
        static DETECTED: OnceLock<bool> = OnceLock::new();
        *DETECTED.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(all(target_arch = "x86_64", chunker_avx512)))]
    false
}

/// Like [`scan_serial`] (same result; `hash` is exact modulo 2^48 afterwards),
/// with the fastest available [`Engine`].
#[inline]
pub(crate) fn scan(
    data: &[u8],
    from: usize,
    to: usize,
    mask: u64,
    hash: &mut u64,
) -> Option<usize> {
    debug_assert!(mask >> HASH_BITS == 0);
    let lane = lane_for(mask);
    // A hit is expected about every 2^bits bytes: with at most 11 mask bits
    // lanes would mostly hash past the cut (and pay their warm-up) for
    // nothing, so small chunk sizes stay serial.
    if mask.count_ones() <= SERIAL_MAX_BITS {
        return scan_serial(data, from, to, mask, hash);
    }
    match Engine::current() {
        Engine::Serial => scan_serial(data, from, to, mask, hash),
        Engine::Lanes => scan_lanes(data, from, to, mask, hash, lane),
        Engine::Avx512 => scan_avx512(data, from, to, mask, hash, lane),
    }
}

#[inline]
fn scan_lanes(
    data: &[u8],
    from: usize,
    to: usize,
    mask: u64,
    hash: &mut u64,
    lane: usize,
) -> Option<usize> {
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

#[cfg(not(all(target_arch = "x86_64", chunker_avx512)))]
fn scan_avx512(
    data: &[u8],
    from: usize,
    to: usize,
    mask: u64,
    hash: &mut u64,
    lane: usize,
) -> Option<usize> {
    scan_lanes(data, from, to, mask, hash, lane)
}

/// The first 48 positions go serially (their history may lie before `data`,
/// in the carried hash); after that every lane warms up from `data` itself.
#[cfg(all(target_arch = "x86_64", chunker_avx512))]
fn scan_avx512(
    data: &[u8],
    from: usize,
    to: usize,
    mask: u64,
    hash: &mut u64,
    lane: usize,
) -> Option<usize> {
    const HISTORY: usize = avx512::WARM;
    if to - from < avx512::LANES * MIN_LANE + HISTORY {
        return scan_lanes(data, from, to, mask, hash, lane);
    }
    let head = from + HISTORY;
    if let Some(hit) = scan_serial(data, from, head, mask, hash) {
        return Some(hit);
    }
    let data = &data[..to];
    // SAFETY: AVX-512F was detected (`Engine::current` only picks `Avx512`
    // when it is), and `head >= HISTORY` as `blocks` requires.
    let (hit, pos) = unsafe { avx512::blocks(data, head, mask, lane, hash) };
    match hit {
        Some(hit) => Some(hit),
        None => scan_lanes(data, pos, to, mask, hash, lane),
    }
}

// Only built by compilers that have the intrinsics (see build.rs), so the
// MSRV lint does not apply.
#[cfg(all(target_arch = "x86_64", chunker_avx512))]
#[allow(clippy::incompatible_msrv)]
mod avx512 {
    use super::{scan_serial, GEAR, MIN_LANE};
    use std::arch::x86_64::*;

    pub(super) const LANES: usize = 8;
    /// Warm-up bytes per lane (>= 47): one batch of 8 steps x 8 bytes.
    pub(super) const WARM: usize = 64;
    /// Bytes per lane and batch (one 64-byte row per lane, transposed).
    const BATCH: usize = 64;

    /// 8x8 transpose of u64s: `rows[k]` holds lane k's next 64 bytes; the
    /// result's `g`th vector holds every lane's `g`th 8 bytes.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose(r: [__m512i; 8]) -> [__m512i; 8] {
        let a = [
            _mm512_unpacklo_epi64(r[0], r[1]),
            _mm512_unpackhi_epi64(r[0], r[1]),
            _mm512_unpacklo_epi64(r[2], r[3]),
            _mm512_unpackhi_epi64(r[2], r[3]),
            _mm512_unpacklo_epi64(r[4], r[5]),
            _mm512_unpackhi_epi64(r[4], r[5]),
            _mm512_unpacklo_epi64(r[6], r[7]),
            _mm512_unpackhi_epi64(r[6], r[7]),
        ];
        let b = [
            _mm512_shuffle_i64x2::<0x88>(a[0], a[2]),
            _mm512_shuffle_i64x2::<0xDD>(a[0], a[2]),
            _mm512_shuffle_i64x2::<0x88>(a[1], a[3]),
            _mm512_shuffle_i64x2::<0xDD>(a[1], a[3]),
            _mm512_shuffle_i64x2::<0x88>(a[4], a[6]),
            _mm512_shuffle_i64x2::<0xDD>(a[4], a[6]),
            _mm512_shuffle_i64x2::<0x88>(a[5], a[7]),
            _mm512_shuffle_i64x2::<0xDD>(a[5], a[7]),
        ];
        [
            _mm512_shuffle_i64x2::<0x88>(b[0], b[4]),
            _mm512_shuffle_i64x2::<0x88>(b[2], b[6]),
            _mm512_shuffle_i64x2::<0x88>(b[1], b[5]),
            _mm512_shuffle_i64x2::<0x88>(b[3], b[7]),
            _mm512_shuffle_i64x2::<0xDD>(b[0], b[4]),
            _mm512_shuffle_i64x2::<0xDD>(b[2], b[6]),
            _mm512_shuffle_i64x2::<0xDD>(b[1], b[5]),
            _mm512_shuffle_i64x2::<0xDD>(b[3], b[7]),
        ]
    }

    /// Scans from `pos` in blocks of 8 lanes while at least `8 * MIN_LANE`
    /// bytes remain before `data.len()`. Returns the first hit, or none and
    /// the position reached, with `hash` the exact (mod 2^48) hash there.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `pos >= WARM`, and the bytes before
    /// `pos` must all be hashed ones (after the reset).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn blocks(
        data: &[u8],
        mut pos: usize,
        mask: u64,
        lane: usize,
        hash: &mut u64,
    ) -> (Option<usize>, usize) {
        let to = data.len();
        let m = _mm512_set1_epi64(mask as i64);
        let bytemask = _mm512_set1_epi64(0xff);
        let gear = GEAR.as_ptr() as *const i64;
        while to - pos >= LANES * MIN_LANE {
            let s = lane.max(MIN_LANE).min((to - pos) / LANES) / BATCH * BATCH;
            // Lane k tests pos + k*s .. pos + (k+1)*s, after hashing the
            // WARM bytes before it; `q[k]` is where its hashing starts.
            let q: [usize; LANES] = std::array::from_fn(|k| pos + k * s - WARM);
            assert!(q[0] + WARM <= pos && q[LANES - 1] + WARM + s <= to);
            let mut h = _mm512_setzero_si512();
            // Lowest lane with a hit so far, the batch of its first hit and
            // the hashes before that batch. Lanes above it need no testing
            // any more, lanes below it go on (their bytes come first).
            let mut best: Option<(usize, usize, __m512i)> = None;
            let mut watch: u8 = 0xff;
            for batch in 0..(WARM + s) / BATCH {
                let off = batch * BATCH;
                // SAFETY: q[k] + off + 64 <= q[k] + WARM + s <= to (asserted
                // above, the batches cover exactly WARM + s bytes), so each
                // 64-byte unaligned load is inside `data`.
                let rows: [__m512i; LANES] = std::array::from_fn(|k| unsafe {
                    _mm512_loadu_si512(data.as_ptr().add(q[k] + off) as *const _)
                });
                let words = transpose(rows);
                let before = h;
                let mut hits: u8 = 0;
                for w in words {
                    for j in 0..8 {
                        let shift = _mm512_set1_epi64(8 * j);
                        let idx = _mm512_and_si512(_mm512_srlv_epi64(w, shift), bytemask);
                        // SAFETY: every index is a byte (0..=255) and GEAR
                        // has 256 entries of 8 bytes.
                        let g = unsafe { _mm512_i64gather_epi64::<8>(idx, gear) };
                        h = _mm512_add_epi64(_mm512_add_epi64(h, h), g);
                        hits |= _mm512_testn_epi64_mask(h, m);
                    }
                }
                hits &= watch;
                if hits != 0 && off >= WARM {
                    let first = hits.trailing_zeros() as usize;
                    best = Some((first, off, before));
                    watch = (1u8 << first).wrapping_sub(1);
                    if first == 0 {
                        break;
                    }
                }
            }
            if let Some((k, off, before)) = best {
                let mut at_start = [0u64; LANES];
                // SAFETY: `at_start` has room for 64 bytes; unaligned store.
                unsafe { _mm512_storeu_si512(at_start.as_mut_ptr() as *mut _, before) };
                let from = q[k] + off;
                let hit = scan_serial(data, from, from + BATCH, mask, &mut at_start[k]);
                debug_assert!(hit.is_some());
                return (hit, pos);
            }
            let mut last = [0u64; LANES];
            // SAFETY: `last` has room for 64 bytes; unaligned store.
            unsafe { _mm512_storeu_si512(last.as_mut_ptr() as *mut _, h) };
            *hash = last[LANES - 1];
            pos += LANES * s;
        }
        (None, pos)
    }
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

/// Lane length for a mask: long lanes amortize the warm-up and the
/// per-block work, short ones waste less past the cut, which comes after
/// about `2^bits` bytes. Measured best near `16 * 2^(bits / 2)` (4 KiB lanes
/// for the 15- and 17-bit masks of 64 KiB average chunks).
fn lane_for(mask: u64) -> usize {
    (1usize << (mask.count_ones() / 2 + 4)).clamp(256, 8192)
}

/// Length of the chunk at the start of `data`, where `data` is all that
/// remains of the input.
#[inline]
pub(crate) fn cut(cfg: &ChunkerConfig, data: &[u8]) -> usize {
    cut_with(cfg, data, scan)
}

/// [`cut`] with the plain serial scan: the reference the tests compare with.
pub(crate) fn cut_serial(cfg: &ChunkerConfig, data: &[u8]) -> usize {
    cut_with(cfg, data, scan_serial)
}

/// FastCDC 2020's cut: the strict mask up to the average size, the loose
/// one after it, `max_size` if neither hits. `scan` finds the first hit.
#[inline(always)]
fn cut_with(
    cfg: &ChunkerConfig,
    data: &[u8],
    scan: impl Fn(&[u8], usize, usize, u64, &mut u64) -> Option<usize>,
) -> usize {
    let remaining = data.len();
    if remaining <= cfg.min_size {
        return remaining;
    }
    let end = remaining.min(cfg.max_size);
    // Positions at an even distance need the byte after them (pair rule).
    let test_end = end & !1;
    let center = cfg.avg_size.min(test_end);
    let mut hash = 0;
    scan(data, cfg.min_size, center, cfg.mask_s, &mut hash)
        .or_else(|| {
            scan(
                data,
                center.max(cfg.min_size),
                test_end,
                cfg.mask_l,
                &mut hash,
            )
        })
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
) -> Option<usize> {
    let mut pos = from;
    while pos < to {
        let (run, run_end) = next_run(data, pos, to);
        let stop = (run + HASH_BITS as usize).min(to);
        if let Some(i) = scan(data, pos, stop, mask, hash) {
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
    if let Some(i) = scan_runs(data, cfg.min_size, center, cfg.mask_s, &mut hash) {
        return i;
    }
    let from = center.max(cfg.min_size);
    scan_runs(data, from, test_end, cfg.mask_l, &mut hash).unwrap_or(end)
}

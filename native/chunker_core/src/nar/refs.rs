//! Reference normalisation: store-path hashes replaced by a placeholder.
//!
//! A rebuilt package differs from the previous build mostly in the 32
//! characters of the store-path hashes it references. [`normalize`]
//! replaces every occurrence of a given reference hash in the NAR's bytes
//! (in practice: file contents and symlink targets) by [`PLACEHOLDER`],
//! which has the same length, so offsets do not move, and records a
//! [`Patch`] per occurrence. [`restore`] puts the original hashes back, so
//! the NAR is rebuilt byte-identically from the normalised bytes (or its
//! chunks) and the patch list. [`encode_patches`] gives a compact form
//! (varint deltas, about 2-3 bytes per occurrence).

use std::collections::HashMap;
use std::fmt;

/// Length of a store-path hash (nix-base32 characters).
pub const HASH_LEN: usize = 32;

/// What each occurrence becomes: 32 `e`s. `e` is not a nix-base32 digit, so
/// the placeholder is never itself a reference hash.
pub const PLACEHOLDER: [u8; HASH_LEN] = [b'e'; HASH_LEN];

/// The nix-base32 alphabet (no `e`, `o`, `u`, `t`).
const ALPHABET: &[u8] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// One replaced occurrence: its NAR offset and which reference it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Patch {
    pub offset: u64,
    /// Index into the reference list.
    pub reference: u32,
}

/// Invalid references or patch lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefsError {
    /// Reference `index` is not 32 nix-base32 characters.
    InvalidReference(usize),
    /// A patch list that does not decode, or does not fit the data.
    InvalidPatches,
}

impl fmt::Display for RefsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidReference(i) => write!(f, "reference {i} is not a store-path hash"),
            Self::InvalidPatches => f.write_str("invalid patch list"),
        }
    }
}

impl std::error::Error for RefsError {}

/// Checks each reference is a 32-character nix-base32 hash.
pub fn validate(refs: &[Vec<u8>]) -> Result<(), RefsError> {
    match refs
        .iter()
        .position(|r| r.len() != HASH_LEN || !r.iter().all(|b| ALPHABET.contains(b)))
    {
        Some(i) => Err(RefsError::InvalidReference(i)),
        None => Ok(()),
    }
}

/// All ones for a nix-base32 digit, zero otherwise (branch-free run counting).
const DIGIT_MASK: [usize; 256] = {
    let mut table = [0usize; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = usize::MAX;
        i += 1;
    }
    table
};

/// Replaces, in place, every occurrence of each reference in `data` (a
/// whole NAR, at offset 0) by [`PLACEHOLDER`]; returns the patches in
/// offset order. Occurrences are found leftmost first, without overlap.
///
/// One branch-free pass counts the current run of nix-base32 digits; only
/// where a run reaches 32 digits (rare outside store paths: `e`, `o`, `t`,
/// `u` end runs in text) is the window checked, first by its two leading
/// bytes, then in a hash map.
pub fn normalize(data: &mut [u8], refs: &[Vec<u8>]) -> Result<Vec<Patch>, RefsError> {
    validate(refs)?;
    let mut patches = Vec::new();
    if refs.is_empty() {
        return Ok(patches);
    }
    let mut index: HashMap<&[u8], u32> = HashMap::with_capacity(refs.len());
    // Cheap pre-filter on a window's first two bytes before the lookup.
    let mut prefix = vec![false; 1 << 16];
    for (i, r) in refs.iter().enumerate() {
        index.entry(&r[..]).or_insert(i as u32);
        prefix[usize::from(r[0]) << 8 | usize::from(r[1])] = true;
    }
    let mut run = 0usize;
    for i in 0..data.len() {
        run = (run + 1) & DIGIT_MASK[usize::from(data[i])];
        if run < HASH_LEN {
            continue;
        }
        let start = i + 1 - HASH_LEN;
        if !prefix[usize::from(data[start]) << 8 | usize::from(data[start + 1])] {
            continue;
        }
        if let Some(&reference) = index.get(&data[start..=i]) {
            patches.push(Patch {
                offset: start as u64,
                reference,
            });
            data[start..=i].copy_from_slice(&PLACEHOLDER);
            run = 0;
        }
    }
    Ok(patches)
}

/// Undoes [`normalize`] on `data`, which holds the bytes from NAR offset
/// `base` on (a whole NAR with `base = 0`, or one chunk). Patches outside
/// `data` are skipped; one straddling its edge restores the part inside.
pub fn restore(
    data: &mut [u8],
    base: u64,
    patches: &[Patch],
    refs: &[Vec<u8>],
) -> Result<(), RefsError> {
    let end = base + data.len() as u64;
    let first = patches.partition_point(|p| p.offset + HASH_LEN as u64 <= base);
    for p in &patches[first..] {
        if p.offset >= end {
            break;
        }
        let hash = refs
            .get(p.reference as usize)
            .filter(|r| r.len() == HASH_LEN)
            .ok_or(RefsError::InvalidPatches)?;
        for (i, &b) in hash.iter().enumerate() {
            let at = p.offset + i as u64;
            if at >= base && at < end {
                data[(at - base) as usize] = b;
            }
        }
    }
    Ok(())
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn get_varint(bytes: &[u8], pos: &mut usize) -> Result<u64, RefsError> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos).ok_or(RefsError::InvalidPatches)?;
        *pos += 1;
        n |= u64::from(b & 0x7f)
            .checked_shl(shift)
            .filter(|v| v >> shift == u64::from(b & 0x7f))
            .ok_or(RefsError::InvalidPatches)?;
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(RefsError::InvalidPatches)
}

/// Compact encoding: varint count, then per patch the varint gap since the
/// previous patch's end and the varint reference index.
///
/// ```
/// use chunker_core::nar::refs::{decode_patches, encode_patches, Patch};
/// let patches = vec![Patch { offset: 100, reference: 0 }, Patch { offset: 140, reference: 3 }];
/// let bytes = encode_patches(&patches);
/// assert_eq!(bytes, [2, 100, 0, 8, 3]);
/// assert_eq!(decode_patches(&bytes).unwrap(), patches);
/// ```
pub fn encode_patches(patches: &[Patch]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + patches.len() * 3);
    put_varint(&mut out, patches.len() as u64);
    let mut next = 0u64;
    for p in patches {
        put_varint(&mut out, p.offset - next);
        put_varint(&mut out, u64::from(p.reference));
        next = p.offset + HASH_LEN as u64;
    }
    out
}

/// Decodes [`encode_patches`] output (patches in order, non-overlapping).
pub fn decode_patches(bytes: &[u8]) -> Result<Vec<Patch>, RefsError> {
    let mut pos = 0;
    let count = get_varint(bytes, &mut pos)?;
    // Each patch takes at least 2 bytes: bound the allocation by the input.
    if count > (bytes.len() / 2) as u64 {
        return Err(RefsError::InvalidPatches);
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut next = 0u64;
    for _ in 0..count {
        let gap = get_varint(bytes, &mut pos)?;
        let reference =
            u32::try_from(get_varint(bytes, &mut pos)?).map_err(|_| RefsError::InvalidPatches)?;
        let offset = next.checked_add(gap).ok_or(RefsError::InvalidPatches)?;
        next = offset
            .checked_add(HASH_LEN as u64)
            .ok_or(RefsError::InvalidPatches)?;
        out.push(Patch { offset, reference });
    }
    if pos != bytes.len() {
        return Err(RefsError::InvalidPatches);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn hash(rng: &mut SmallRng) -> Vec<u8> {
        (0..HASH_LEN)
            .map(|_| ALPHABET[rng.gen_range(0..32)])
            .collect()
    }

    #[test]
    fn normalize_then_restore_is_identity_and_hides_refs() {
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..200 {
            let refs: Vec<Vec<u8>> = (0..rng.gen_range(0..5)).map(|_| hash(&mut rng)).collect();
            let mut data = Vec::new();
            for _ in 0..rng.gen_range(0..20) {
                let filler = rng.gen_range(0..50);
                data.extend((0..filler).map(|_| rng.gen::<u8>()));
                if !refs.is_empty() {
                    data.extend_from_slice(b"/nix/store/");
                    data.extend_from_slice(&refs[rng.gen_range(0..refs.len())]);
                }
            }
            let original = data.clone();
            let patches = normalize(&mut data, &refs).unwrap();
            for r in &refs {
                assert!(!data.windows(HASH_LEN).any(|w| w == &r[..]));
            }
            assert_eq!(decode_patches(&encode_patches(&patches)).unwrap(), patches);
            // Whole, and piecewise at random cuts.
            let mut whole = data.clone();
            restore(&mut whole, 0, &patches, &refs).unwrap();
            assert_eq!(whole, original);
            let mut pos = 0;
            let mut rebuilt = Vec::new();
            while pos < data.len() {
                let n = rng.gen_range(1..=40).min(data.len() - pos);
                let mut piece = data[pos..pos + n].to_vec();
                restore(&mut piece, pos as u64, &patches, &refs).unwrap();
                rebuilt.extend(piece);
                pos += n;
            }
            assert_eq!(rebuilt, original);
        }
    }

    /// Leftmost, non-overlapping, window by window: the plain definition.
    fn naive(data: &[u8], refs: &[Vec<u8>]) -> Vec<Patch> {
        let mut out = Vec::new();
        let mut i = 0;
        while i + HASH_LEN <= data.len() {
            match refs.iter().position(|r| r[..] == data[i..i + HASH_LEN]) {
                Some(r) => {
                    out.push(Patch {
                        offset: i as u64,
                        reference: r as u32,
                    });
                    i += HASH_LEN;
                }
                None => i += 1,
            }
        }
        out
    }

    #[test]
    fn matches_the_naive_scan_on_digit_heavy_data() {
        let mut rng = SmallRng::seed_from_u64(2);
        for _ in 0..300 {
            // Short hashes from a 2-letter alphabet make adjacent and
            // overlapping occurrences common.
            let refs: Vec<Vec<u8>> = (0..rng.gen_range(1..4))
                .map(|_| (0..HASH_LEN).map(|_| b"ab"[rng.gen_range(0..2)]).collect())
                .collect();
            let mut data = Vec::new();
            while data.len() < 2000 {
                match rng.gen_range(0..4) {
                    0 => data.extend_from_slice(&refs[rng.gen_range(0..refs.len())]),
                    1 => data.push(b"ab"[rng.gen_range(0..2)]),
                    2 => data.push(ALPHABET[rng.gen_range(0..32)]),
                    _ => data.push(rng.gen()),
                }
            }
            let expected = naive(&data, &refs);
            let mut copy = data.clone();
            assert_eq!(normalize(&mut copy, &refs).unwrap(), expected);
            restore(&mut copy, 0, &expected, &refs).unwrap();
            assert_eq!(copy, data);
        }
    }

    #[test]
    fn invalid_inputs() {
        let bad = vec![b"e".repeat(32)];
        assert_eq!(validate(&bad), Err(RefsError::InvalidReference(0)));
        assert_eq!(
            validate(&[b"0".repeat(32), b"0".repeat(31)]),
            Err(RefsError::InvalidReference(1))
        );
        for bytes in [&[][..], &[1], &[1, 0], &[0x80], &[1, 0, 0, 0], &[0xff; 12]] {
            assert_eq!(
                decode_patches(bytes),
                Err(RefsError::InvalidPatches),
                "{bytes:?}"
            );
        }
        assert_eq!(decode_patches(&[0]).unwrap(), vec![]);
    }
}

//! Chunking a NAR: plain FastCDC, or NAR-aware.
//!
//! **Plain** is FastCDC 2020 over the NAR's bytes, exactly
//! [`ChunkerConfig::chunks`].
//!
//! **NAR-aware** uses the NAR's structure (cut points stay FastCDC 2020 from
//! [`crate::cdc`]):
//!
//! - the contents of each file of at least `min_size` bytes are chunked on
//!   their own (FastCDC from the contents' first byte to their last), so the
//!   same file in two NARs gives the same chunks wherever it sits;
//! - everything else (metadata, padding and files smaller than `min_size`)
//!   forms the runs between those contents; each run is cut by FastCDC, and
//!   a natural cut moves to the nearest entry boundary (an `entry` token)
//!   lying within `avg_size / 4` of it (never beyond `max_size`), so small
//!   files are grouped and chunks tend to start where entries start;
//! - with `metadata_chunks`, the NAR header (up to the first entry) and each
//!   large file's metadata (its `entry` token up to its contents) are
//!   separate small chunks.
//!
//! Padding always sits in a run that also holds the `)` token closing the
//! file, so no chunk is padding alone. Every chunk records the range of
//! entries it overlaps.
//!
//! With reference normalisation ([`super::refs`]), cut points and digests
//! are computed over the **normalised** bytes; the NAR structure is parsed
//! from the original (offsets coincide, the placeholder has the same length).

use super::reader::{entries, Entry, FormatError, Kind};
use super::refs::{self, Patch, RefsError};
use crate::cdc::ChunkerConfig;
use crate::digest::HashAlgo;
use std::fmt;

/// How to chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NarChunking {
    pub config: ChunkerConfig,
    /// Use the NAR's structure (off: plain FastCDC).
    pub nar_aware: bool,
    /// With `nar_aware`: the header and large files' metadata as separate chunks.
    pub metadata_chunks: bool,
}

/// What a chunk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChunkKind {
    /// Only metadata (tokens, padding), no content bytes.
    Metadata,
    /// Only content bytes of one file.
    Contents,
    /// Both, or contents of several files.
    Mixed,
}

/// A chunk of a NAR and the entries it overlaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarChunk {
    pub offset: u64,
    pub length: usize,
    /// Indices (in [`Chunked::entries`]) of the first and last entry whose
    /// span (from its start to the next entry's start) the chunk overlaps.
    pub entries: (usize, usize),
    pub kind: ChunkKind,
    /// Digest of the chunk's (normalised, if normalising) bytes.
    pub digest: Option<[u8; 32]>,
}

/// A chunked NAR.
#[derive(Debug, Clone)]
pub struct Chunked {
    pub entries: Vec<Entry>,
    pub chunks: Vec<NarChunk>,
    /// Reference occurrences replaced before chunking (empty without references).
    pub patches: Vec<Patch>,
}

/// Why chunking failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    Format(FormatError),
    Refs(RefsError),
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format(e) => e.fmt(f),
            Self::Refs(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ChunkError {}

/// Parses and chunks `nar`. With `refs` non-empty, the bytes are normalised
/// first ([`refs::normalize`]); the normalised NAR is returned alongside
/// (`None` without references: the chunks' bytes are `nar`'s).
pub fn chunk_nar(
    nar: &[u8],
    how: &NarChunking,
    refs: &[Vec<u8>],
    algo: Option<HashAlgo>,
) -> Result<(Chunked, Option<Vec<u8>>), ChunkError> {
    let entries = entries(nar).map_err(ChunkError::Format)?;
    refs::validate(refs).map_err(ChunkError::Refs)?;
    let (patches, normalized) = if refs.is_empty() {
        (Vec::new(), None)
    } else {
        let mut copy = nar.to_vec();
        let patches = refs::normalize(&mut copy, refs).map_err(ChunkError::Refs)?;
        (patches, Some(copy))
    };
    let bytes = normalized.as_deref().unwrap_or(nar);
    let cuts = if how.nar_aware {
        aware_cuts(bytes, &entries, how)
    } else {
        how.config.chunks(bytes).map(|c| c.end()).collect()
    };
    let chunks = describe(bytes, &entries, &cuts, algo);
    Ok((
        Chunked {
            entries,
            chunks,
            patches,
        },
        normalized,
    ))
}

/// The end offsets of the NAR-aware chunks.
fn aware_cuts(bytes: &[u8], entries: &[Entry], how: &NarChunking) -> Vec<u64> {
    let min = how.config.min_size() as u64;
    let len = bytes.len() as u64;
    // Hard cuts, and which segments are a large file's contents.
    let mut hard: Vec<u64> = Vec::new();
    let mut contents_starts: Vec<u64> = Vec::new();
    if how.metadata_chunks {
        if let Some(first) = entries.get(1) {
            hard.push(first.start);
        }
    }
    for e in entries {
        if let Kind::Regular { size, contents, .. } = e.kind {
            if size >= min {
                if how.metadata_chunks {
                    hard.push(e.start);
                }
                hard.extend([contents, contents + size]);
                contents_starts.push(contents);
            }
        }
    }
    hard.push(len);
    hard.retain(|&c| c > 0);
    hard.sort_unstable();
    hard.dedup();
    let boundaries: Vec<u64> = entries.iter().map(|e| e.start).filter(|&s| s > 0).collect();

    let mut cuts = Vec::new();
    let mut start = 0u64;
    for &end in &hard {
        if contents_starts.binary_search(&start).is_ok() {
            let seg = &bytes[start as usize..end as usize];
            cuts.extend(how.config.chunks(seg).map(|c| start + c.end()));
        } else {
            run_cuts(bytes, start, end, &boundaries, how, &mut cuts);
        }
        start = end;
    }
    cuts
}

/// FastCDC over `bytes[start..end]`, each natural cut snapped to the
/// nearest entry boundary within `avg / 4`.
fn run_cuts(
    bytes: &[u8],
    start: u64,
    end: u64,
    boundaries: &[u64],
    how: &NarChunking,
    cuts: &mut Vec<u64>,
) {
    let (avg, max) = (how.config.avg_size() as u64, how.config.max_size() as u64);
    let reach = avg / 4;
    let mut pos = start;
    while pos < end {
        let natural = how
            .config
            .chunks(&bytes[pos as usize..end as usize])
            .next()
            .map_or(end, |c| pos + c.length as u64);
        let mut cut = natural;
        if natural < end {
            let lo = natural.saturating_sub(reach).max(pos + 1);
            let hi = (natural + reach).min(pos + max).min(end - 1);
            let from = boundaries.partition_point(|&b| b < lo);
            let best = boundaries[from..]
                .iter()
                .take_while(|&&b| b <= hi)
                .min_by_key(|&&b| b.abs_diff(natural));
            if let Some(&b) = best {
                cut = b;
            }
        }
        cuts.push(cut);
        pos = cut;
    }
}

/// Chunk records for the given end offsets.
fn describe(
    bytes: &[u8],
    entries: &[Entry],
    cuts: &[u64],
    algo: Option<HashAlgo>,
) -> Vec<NarChunk> {
    // Content ranges in NAR order, to classify chunks.
    let contents: Vec<(u64, u64)> = entries
        .iter()
        .filter_map(|e| match e.kind {
            Kind::Regular { size, contents, .. } if size > 0 => Some((contents, contents + size)),
            _ => None,
        })
        .collect();
    let mut out = Vec::with_capacity(cuts.len());
    let mut start = 0u64;
    for &end in cuts {
        let first = entries
            .partition_point(|e| e.start <= start)
            .saturating_sub(1);
        let last = entries.partition_point(|e| e.start < end).saturating_sub(1);
        let i = contents.partition_point(|&(_, e)| e <= start);
        let overlapping = contents[i..].iter().take_while(|&&(s, _)| s < end);
        let (mut n, mut covered) = (0, 0u64);
        for &(s, e) in overlapping {
            n += 1;
            covered += e.min(end) - s.max(start);
        }
        let kind = match (n, covered == end - start) {
            (0, _) => ChunkKind::Metadata,
            (1, true) => ChunkKind::Contents,
            _ => ChunkKind::Mixed,
        };
        let data = &bytes[start as usize..end as usize];
        out.push(NarChunk {
            offset: start,
            length: data.len(),
            entries: (first, last),
            kind,
            digest: algo.map(|a| a.digest(data)),
        });
        start = end;
    }
    out
}

/// Rebuilds the original NAR from its chunks' bytes (in order; normalised
/// when references were given) and the patch list.
pub fn rebuild<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
    patches: &[Patch],
    refs: &[Vec<u8>],
) -> Result<Vec<u8>, RefsError> {
    let mut out: Vec<u8> = Vec::new();
    for c in chunks {
        out.extend_from_slice(c);
    }
    let ordered = patches
        .windows(2)
        .all(|w| w[0].offset + refs::HASH_LEN as u64 <= w[1].offset);
    let fits = patches
        .last()
        .is_none_or(|p| p.offset + refs::HASH_LEN as u64 <= out.len() as u64);
    if !ordered || !fits {
        return Err(RefsError::InvalidPatches);
    }
    refs::restore(&mut out, 0, patches, refs)?;
    Ok(out)
}

//! Compression with one hard output limit for every format.
//!
//! - [`compress`] / [`compress_into`]: zstd (levels 1-22, default 3), LZ4
//!   frame (levels 1-12, default 1), xz (LZMA2, levels 0-9, default 6),
//!   bzip2 (levels 1-9, default 9) and `None` (a copy).
//! - [`decompress`] / [`decompress_into`]: the same formats, concatenated
//!   frames/streams included, with a limit: an output of exactly `limit`
//!   bytes succeeds, one byte more is [`Error::SizeExceeded`], detected
//!   after producing at most `limit + 1` bytes. Truncated or corrupt input
//!   is [`Error::Corrupt`], never a partial success.
//! - [`detect`]: the format from the magic bytes.
//! - [`stream`]: streaming encoders/decoders with the same limits.
//! - [`dict`]: zstd dictionaries; [`auto`]: skip incompressible data;
//!   [`batch`]: many inputs in parallel.
//!
//! Encoder and decoder contexts of the one-shot functions are cached per
//! thread, so small inputs do not pay context setup on every call.

pub mod auto;
pub mod batch;
mod bounded;
mod bzip2;
mod cache;
pub mod dict;
mod lz4;
pub mod stream;
mod xz;
mod zstd;

use std::fmt;

/// The default decompression limit: 1 GiB.
pub const DEFAULT_LIMIT: u64 = 1 << 30;

/// A compression format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algo {
    Zstd,
    Lz4,
    Xz,
    Bzip2,
    /// No compression: the bytes as they are.
    None,
}

impl Algo {
    /// Every format, `None` last.
    pub const ALL: [Algo; 5] = [Algo::Zstd, Algo::Lz4, Algo::Xz, Algo::Bzip2, Algo::None];

    /// The lower-case name (`"zstd"`, `"lz4"`, `"xz"`, `"bzip2"`, `"none"`).
    pub fn name(self) -> &'static str {
        match self {
            Algo::Zstd => "zstd",
            Algo::Lz4 => "lz4",
            Algo::Xz => "xz",
            Algo::Bzip2 => "bzip2",
            Algo::None => "none",
        }
    }

    /// Parses a name as given by [`Algo::name`].
    pub fn from_name(name: &str) -> Option<Algo> {
        Algo::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The valid levels, inclusive.
    pub fn levels(self) -> (i32, i32) {
        match self {
            Algo::Zstd => (1, 22),
            Algo::Lz4 => (1, 12),
            Algo::Xz => (0, 9),
            Algo::Bzip2 => (1, 9),
            Algo::None => (0, 0),
        }
    }

    /// The level used when none is given (the CLI's default).
    pub fn default_level(self) -> i32 {
        match self {
            Algo::Zstd => 3,
            Algo::Lz4 => 1,
            Algo::Xz => 6,
            Algo::Bzip2 => 9,
            Algo::None => 0,
        }
    }

    /// `Ok(level)` if it is valid for this format.
    pub fn check_level(self, level: i32) -> Result<i32, Error> {
        let (lo, hi) = self.levels();
        if (lo..=hi).contains(&level) {
            Ok(level)
        } else {
            Err(Error::InvalidLevel { algo: self, level })
        }
    }
}

/// Errors from compression and decompression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The level is outside [`Algo::levels`].
    InvalidLevel { algo: Algo, level: i32 },
    /// The output would exceed the limit (the limit is given).
    SizeExceeded(u64),
    /// The input is truncated or corrupt for this format.
    Corrupt(Algo),
    /// Auto-detection found no known magic bytes.
    UnknownFormat,
    /// The stream was already finished.
    Finished,
    /// The dictionary could not be trained or loaded.
    Dictionary(String),
    /// The C library failed (allocation failure, internal error).
    Library(Algo, String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidLevel { algo, level } => {
                let (lo, hi) = algo.levels();
                write!(f, "level {level} is not in {lo}..{hi} for {}", algo.name())
            }
            Error::SizeExceeded(limit) => write!(f, "output exceeds the limit of {limit} bytes"),
            Error::Corrupt(algo) => write!(f, "truncated or corrupt {} data", algo.name()),
            Error::UnknownFormat => f.write_str("unknown compression format"),
            Error::Finished => f.write_str("the stream is already finished"),
            Error::Dictionary(why) => write!(f, "dictionary error: {why}"),
            Error::Library(algo, why) => write!(f, "{} library error: {why}", algo.name()),
        }
    }
}

impl std::error::Error for Error {}

/// The format of `data` from its magic bytes: zstd (also skippable frames),
/// LZ4 frame, xz, bzip2. `None` if unknown or too short to tell.
pub fn detect(data: &[u8]) -> Option<Algo> {
    let magic = u32::from_le_bytes(data.get(..4)?.try_into().ok()?);
    match magic {
        0xFD2F_B528 => return Some(Algo::Zstd),
        0x184D_2204 => return Some(Algo::Lz4),
        m if m & 0xFFFF_FFF0 == 0x184D_2A50 => return Some(Algo::Zstd),
        _ => {}
    }
    if data.starts_with(&[0xFD, b'7', b'z', b'X', b'Z', 0x00]) {
        return Some(Algo::Xz);
    }
    if data.starts_with(b"BZh") && (b'1'..=b'9').contains(&data[3]) {
        return Some(Algo::Bzip2);
    }
    None
}

/// Compresses `src` into a new vector.
pub fn compress(src: &[u8], algo: Algo, level: i32) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    compress_into(src, algo, level, &mut out)?;
    Ok(out)
}

/// Compresses `src` into `out` (cleared first); returns the bytes written.
/// The encoder context is reused across calls on the same thread.
pub fn compress_into(
    src: &[u8],
    algo: Algo,
    level: i32,
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    let level = algo.check_level(level)?;
    out.clear();
    match algo {
        Algo::Zstd => zstd::compress_into(src, level, out)?,
        Algo::Lz4 => lz4::compress_into(src, level, out)?,
        Algo::Xz => xz::compress_into(src, level, out)?,
        Algo::Bzip2 => bzip2::compress_into(src, level, out)?,
        Algo::None => out.extend_from_slice(src),
    }
    Ok(out.len())
}

/// [`compress_into`] with a fresh encoder context instead of the cached
/// one: the baseline for measuring context reuse.
#[doc(hidden)]
pub fn compress_uncached_into(
    src: &[u8],
    algo: Algo,
    level: i32,
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    cache::uncached(|| compress_into(src, algo, level, out))
}

/// [`decompress_into`] with a fresh decoder context.
#[doc(hidden)]
pub fn decompress_uncached_into(
    src: &[u8],
    algo: Algo,
    limit: u64,
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    cache::uncached(|| decompress_into(src, algo, limit, out))
}

/// Decompresses `src` into a new vector, at most `limit` bytes.
pub fn decompress(src: &[u8], algo: Algo, limit: u64) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    decompress_into(src, algo, limit, &mut out)?;
    Ok(out)
}

/// Decompresses `src` into `out` (cleared first), at most `limit` bytes;
/// returns the bytes written. On error `out` holds what was produced
/// before the error (never more than `limit + 1` bytes) and must not be
/// used as a result. The decoder context is reused across calls on the
/// same thread.
pub fn decompress_into(
    src: &[u8],
    algo: Algo,
    limit: u64,
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    out.clear();
    match algo {
        Algo::None => {
            if src.len() as u64 > limit {
                return Err(Error::SizeExceeded(limit));
            }
            out.extend_from_slice(src);
        }
        _ => cache::with_decoder(algo, limit, |dec| dec.decode_all(src, out))?,
    }
    Ok(out.len())
}

/// Detects the format with [`detect`], then decompresses like
/// [`decompress_into`]; returns the format and the bytes written.
pub fn decompress_auto_into(
    src: &[u8],
    limit: u64,
    out: &mut Vec<u8>,
) -> Result<(Algo, usize), Error> {
    let algo = detect(src).ok_or(Error::UnknownFormat)?;
    decompress_into(src, algo, limit, out).map(|n| (algo, n))
}

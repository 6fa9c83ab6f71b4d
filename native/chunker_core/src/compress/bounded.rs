//! The bounded decoding loop shared by every format: output grows inside
//! the caller's vector, never past `limit + 1` bytes in total.

use super::{bzip2, lz4, xz, zstd, Algo, Error};
use std::mem::MaybeUninit;

/// First output allocation when the vector has no spare room.
const MIN_GROW: usize = 64 << 10;

/// What one decoder step did.
pub(crate) struct Progress {
    pub consumed: usize,
    pub produced: usize,
    /// The input seen so far ends exactly after a complete frame/stream.
    pub done: bool,
}

/// Why a decoder step failed.
pub(crate) enum StepError {
    Corrupt,
    /// The data needs more memory (window, dictionary) than the limit allows.
    TooLarge,
}

/// One format's incremental decoder, writing into uninitialized memory.
pub(crate) trait RawDecoder: Send {
    /// Decodes from `src` into `dst`; must initialize the first `produced`
    /// bytes of `dst`. `finish`: no more input will follow.
    fn step(
        &mut self,
        src: &[u8],
        dst: &mut [MaybeUninit<u8>],
        finish: bool,
    ) -> Result<Progress, StepError>;
    /// Forgets the current input and prepares for a new one with `limit`.
    fn reset(&mut self, limit: u64) -> Result<(), Error>;
    /// Approximate memory held by the decoder, bytes.
    fn memory(&self) -> usize;
    /// The zstd decoder, to attach a dictionary.
    fn as_zstd(&mut self) -> Option<&mut zstd::Decoder> {
        None
    }
}

/// Copies its input (the `None` format).
struct Copy;

impl RawDecoder for Copy {
    fn step(
        &mut self,
        src: &[u8],
        dst: &mut [MaybeUninit<u8>],
        _finish: bool,
    ) -> Result<Progress, StepError> {
        let n = src.len().min(dst.len());
        for (d, s) in dst[..n].iter_mut().zip(&src[..n]) {
            d.write(*s);
        }
        Ok(Progress {
            consumed: n,
            produced: n,
            done: true,
        })
    }
    fn reset(&mut self, _limit: u64) -> Result<(), Error> {
        Ok(())
    }
    fn memory(&self) -> usize {
        0
    }
}

/// A decoder with a hard output limit over all its calls.
pub(crate) struct Bounded {
    raw: Box<dyn RawDecoder>,
    pub algo: Algo,
    pub limit: u64,
    pub produced: u64,
}

impl Bounded {
    pub fn new(algo: Algo, limit: u64) -> Result<Self, Error> {
        let raw: Box<dyn RawDecoder> = match algo {
            Algo::Zstd => Box::new(zstd::Decoder::new(limit)?),
            Algo::Lz4 => Box::new(lz4::Decoder::new()?),
            Algo::Xz => Box::new(xz::Decoder::new(limit)?),
            Algo::Bzip2 => Box::new(bzip2::Decoder::new()),
            Algo::None => Box::new(Copy),
        };
        Ok(Bounded {
            raw,
            algo,
            limit,
            produced: 0,
        })
    }

    /// The zstd decoder, to attach a dictionary.
    pub fn raw_mut(&mut self) -> &mut dyn RawDecoder {
        &mut *self.raw
    }

    pub fn reset(&mut self, limit: u64) -> Result<(), Error> {
        self.raw.reset(limit)?;
        self.limit = limit;
        self.produced = 0;
        Ok(())
    }

    pub fn memory(&self) -> usize {
        self.raw.memory()
    }

    /// Decodes all of `src` (a complete input), appending to `out`.
    pub fn decode_all(&mut self, src: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if self.run(src, out, true)? {
            Ok(())
        } else {
            Err(Error::Corrupt(self.algo))
        }
    }

    /// Decodes the next piece of the input, appending to `out`.
    pub fn update(&mut self, src: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.run(src, out, false).map(|_| ())
    }

    /// Ends the input: flushes the rest and checks it was complete.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.decode_all(&[], out)
    }

    /// Returns whether the input seen so far is complete.
    fn run(&mut self, mut src: &[u8], out: &mut Vec<u8>, finish: bool) -> Result<bool, Error> {
        loop {
            // At most one byte past the limit may ever be produced.
            let allow = usize::try_from(self.limit - self.produced)
                .unwrap_or(usize::MAX - 1)
                .saturating_add(1);
            if out.capacity() == out.len() {
                let grow = out
                    .capacity()
                    .max(src.len().saturating_mul(2))
                    .max(MIN_GROW)
                    .min(allow);
                out.try_reserve_exact(grow)
                    .map_err(|_| Error::Library(self.algo, "out of memory".into()))?;
            }
            let room = (out.capacity() - out.len()).min(allow);
            let len = out.len();
            let dst = &mut out.spare_capacity_mut()[..room];
            let p = self.raw.step(src, dst, finish).map_err(|e| match e {
                StepError::Corrupt => Error::Corrupt(self.algo),
                StepError::TooLarge => Error::SizeExceeded(self.limit),
            })?;
            assert!(p.produced <= room && p.consumed <= src.len());
            // SAFETY: `step` initialized the first `p.produced` bytes of
            // `dst`, which starts at `out[len]` and lies within capacity.
            unsafe { out.set_len(len + p.produced) };
            self.produced += p.produced as u64;
            src = &src[p.consumed..];
            if self.produced > self.limit {
                return Err(Error::SizeExceeded(self.limit));
            }
            if p.produced < room {
                // The decoder has no more output for the input it consumed.
                if src.is_empty() {
                    return Ok(p.done);
                }
                if p.consumed == 0 && p.produced == 0 {
                    return Err(Error::Corrupt(self.algo));
                }
            }
        }
    }
}

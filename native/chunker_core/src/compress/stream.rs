//! Streaming compression and decompression (`update` pieces, then
//! `finish`), for inputs bigger than memory. Decoders enforce the same
//! hard limit over the whole stream as the one-shot functions.

use super::bounded::Bounded;
use super::{bzip2, detect, lz4, xz, zstd, Algo, Error};

enum Inner {
    Zstd(zstd::Cctx),
    Lz4(lz4::Encoder),
    Xz(xz::Encoder),
    Bzip2(bzip2::Encoder),
    None,
}

/// A streaming encoder producing one frame/stream.
pub struct Encoder {
    algo: Algo,
    inner: Inner,
    finished: bool,
}

impl Encoder {
    pub fn new(algo: Algo, level: i32) -> Result<Self, Error> {
        let level = algo.check_level(level)?;
        let inner = match algo {
            Algo::Zstd => {
                let mut cctx = zstd::Cctx::new()?;
                cctx.prepare(level)?;
                Inner::Zstd(cctx)
            }
            Algo::Lz4 => Inner::Lz4(lz4::Encoder::new(level)?),
            Algo::Xz => Inner::Xz(xz::Encoder::new(level)?),
            Algo::Bzip2 => Inner::Bzip2(bzip2::Encoder::new(level)?),
            Algo::None => Inner::None,
        };
        Ok(Encoder {
            algo,
            inner,
            finished: false,
        })
    }

    pub fn algo(&self) -> Algo {
        self.algo
    }

    /// Compresses the next piece, appending whatever output is ready to `out`.
    pub fn update(&mut self, src: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if self.finished {
            return Err(Error::Finished);
        }
        match &mut self.inner {
            Inner::Zstd(c) => c.compress_stream(src, out, false),
            Inner::Lz4(e) => e.update(src, out),
            Inner::Xz(e) => e.update(src, out),
            Inner::Bzip2(e) => e.update(src, out),
            Inner::None => {
                out.extend_from_slice(src);
                Ok(())
            }
        }
    }

    /// Ends the stream, appending the rest of the output to `out`.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.finished {
            return Err(Error::Finished);
        }
        self.finished = true;
        match &mut self.inner {
            Inner::Zstd(c) => c.compress_stream(&[], out, true),
            Inner::Lz4(e) => e.finish(out),
            Inner::Xz(e) => e.finish(out),
            Inner::Bzip2(e) => e.finish(out),
            Inner::None => Ok(()),
        }
    }
}

/// Bytes buffered before auto-detection gives up (the longest magic).
const MAGIC_MAX: usize = 6;

/// A streaming decoder with a hard output limit over the whole stream;
/// with no format given, it is detected from the first bytes.
pub struct Decoder {
    limit: u64,
    inner: Option<Bounded>,
    /// Input held back until the format is known.
    pending: Vec<u8>,
    finished: bool,
}

impl Decoder {
    /// `algo: None` detects the format from the magic bytes.
    pub fn new(algo: Option<Algo>, limit: u64) -> Result<Self, Error> {
        let inner = algo.map(|a| Bounded::new(a, limit)).transpose()?;
        Ok(Decoder {
            limit,
            inner,
            pending: Vec::new(),
            finished: false,
        })
    }

    /// The format, once known.
    pub fn algo(&self) -> Option<Algo> {
        self.inner.as_ref().map(|b| b.algo)
    }

    /// Bytes produced so far.
    pub fn produced(&self) -> u64 {
        self.inner.as_ref().map_or(0, |b| b.produced)
    }

    /// Decodes the next piece, appending output to `out`. After an error
    /// the decoder is finished.
    pub fn update(&mut self, src: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if self.finished {
            return Err(Error::Finished);
        }
        let result = self.update_inner(src, out);
        self.finished = result.is_err();
        result
    }

    fn update_inner(&mut self, src: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if self.inner.is_none() {
            self.pending.extend_from_slice(src);
            if self.pending.len() < MAGIC_MAX && detect(&self.pending).is_none() {
                return Ok(());
            }
            let algo = detect(&self.pending).ok_or(Error::UnknownFormat)?;
            let mut inner = Bounded::new(algo, self.limit)?;
            let pending = std::mem::take(&mut self.pending);
            inner.update(&pending, out)?;
            self.inner = Some(inner);
            return Ok(());
        }
        self.inner.as_mut().expect("format known").update(src, out)
    }

    /// Ends the input: flushes the rest to `out` and checks that the stream
    /// was complete (a truncated stream is [`Error::Corrupt`]).
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.finished {
            return Err(Error::Finished);
        }
        self.finished = true;
        if self.inner.is_none() {
            let algo = detect(&self.pending).ok_or(Error::UnknownFormat)?;
            let mut inner = Bounded::new(algo, self.limit)?;
            let pending = std::mem::take(&mut self.pending);
            inner.update(&pending, out)?;
            self.inner = Some(inner);
        }
        self.inner.as_mut().expect("format known").finish(out)
    }
}

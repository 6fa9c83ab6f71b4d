//! bzip2 through libbz2 (bzip2-sys): one-shot, streaming, bounded decoding
//! (concatenated streams included). libbz2 has no context reuse: each
//! stream allocates its own state.

use super::bounded::{Progress, RawDecoder, StepError};
use super::{Algo, Error};
use bzip2_sys::*;
use std::mem::MaybeUninit;
use std::os::raw::c_int;

/// A `bz_stream` on the heap: libbz2 keeps a pointer to it in its state,
/// so it must not move after init.
struct BzStream(Box<bz_stream>);

// SAFETY: the stream is owned by this value and only used through `&mut self`.
unsafe impl Send for BzStream {}

impl BzStream {
    fn zeroed() -> Self {
        // SAFETY: an all-zero bz_stream (null allocators = malloc/free) is
        // the documented initial state.
        BzStream(Box::new(unsafe { std::mem::zeroed() }))
    }

    /// Runs `f` with the stream's in/out windows set: (consumed, produced, ret).
    ///
    /// # Safety
    /// `dst` must be valid for writes of `dst_len` bytes.
    unsafe fn run(
        &mut self,
        src: &[u8],
        dst: *mut u8,
        dst_len: usize,
        f: impl FnOnce(*mut bz_stream) -> c_int,
    ) -> (usize, usize, c_int) {
        let s = &mut *self.0;
        let in_len = src.len().min(u32::MAX as usize);
        let out_len = dst_len.min(u32::MAX as usize);
        s.next_in = src.as_ptr() as *mut _;
        s.avail_in = in_len as u32;
        s.next_out = dst.cast();
        s.avail_out = out_len as u32;
        let ret = f(s);
        let consumed = in_len - s.avail_in as usize;
        let produced = out_len - s.avail_out as usize;
        s.next_in = std::ptr::null_mut();
        s.avail_in = 0;
        s.next_out = std::ptr::null_mut();
        s.avail_out = 0;
        (consumed, produced, ret)
    }
}

fn lib_err(what: &str, ret: c_int) -> Error {
    Error::Library(Algo::Bzip2, format!("{what} returned {ret}"))
}

/// A bzip2 compressor (one stream).
pub(super) struct Encoder(BzStream);

impl Encoder {
    pub fn new(level: i32) -> Result<Self, Error> {
        let mut s = BzStream::zeroed();
        // SAFETY: init on a zeroed, pinned stream.
        let ret = unsafe { BZ2_bzCompressInit(&mut *s.0, level, 0, 0) };
        if ret != BZ_OK {
            return Err(lib_err("BZ2_bzCompressInit", ret));
        }
        Ok(Encoder(s))
    }

    fn code(&mut self, mut src: &[u8], out: &mut Vec<u8>, action: c_int) -> Result<(), Error> {
        loop {
            out.reserve((src.len() / 2).max(64 << 10));
            let len = out.len();
            let room = out.capacity() - len;
            // SAFETY: the spare capacity is writable for `room` bytes; the
            // length grows only by what libbz2 wrote.
            let (consumed, produced, ret) = unsafe {
                self.0.run(src, out.as_mut_ptr().add(len), room, |s| {
                    BZ2_bzCompress(s, action)
                })
            };
            // SAFETY: see above.
            unsafe { out.set_len(len + produced) };
            src = &src[consumed..];
            match ret {
                BZ_STREAM_END => return Ok(()),
                BZ_RUN_OK if src.is_empty() => return Ok(()),
                BZ_RUN_OK | BZ_FINISH_OK => {}
                other => return Err(lib_err("BZ2_bzCompress", other)),
            }
        }
    }

    pub fn update(&mut self, src: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if src.is_empty() {
            return Ok(());
        }
        self.code(src, out, BZ_RUN)
    }

    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.code(&[], out, BZ_FINISH)
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: the stream was initialized by BZ2_bzCompressInit; ended once.
        unsafe { BZ2_bzCompressEnd(&mut *self.0 .0) };
    }
}

/// One-shot compression.
pub(super) fn compress_into(src: &[u8], level: i32, out: &mut Vec<u8>) -> Result<(), Error> {
    out.reserve_exact(src.len() + src.len() / 100 + 600);
    let mut enc = Encoder::new(level)?;
    enc.update(src, out)?;
    enc.finish(out)
}

#[derive(PartialEq)]
enum State {
    Idle,
    Active,
    Ended,
}

/// Incremental bzip2 decoder (concatenated streams included).
pub(crate) struct Decoder {
    s: BzStream,
    state: State,
}

impl Decoder {
    pub fn new() -> Self {
        Decoder {
            s: BzStream::zeroed(),
            state: State::Idle,
        }
    }

    fn end(&mut self) {
        if self.state != State::Idle {
            // SAFETY: the stream was initialized by BZ2_bzDecompressInit.
            unsafe { BZ2_bzDecompressEnd(&mut *self.s.0) };
            self.state = State::Idle;
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        self.end();
    }
}

impl RawDecoder for Decoder {
    fn step(
        &mut self,
        src: &[u8],
        dst: &mut [MaybeUninit<u8>],
        _finish: bool,
    ) -> Result<Progress, StepError> {
        if self.state == State::Ended {
            if src.is_empty() {
                return Ok(Progress {
                    consumed: 0,
                    produced: 0,
                    done: true,
                });
            }
            self.end();
        }
        if self.state == State::Idle {
            if src.is_empty() {
                return Ok(Progress {
                    consumed: 0,
                    produced: 0,
                    done: false,
                });
            }
            // SAFETY: init on an ended or zeroed, pinned stream.
            if unsafe { BZ2_bzDecompressInit(&mut *self.s.0, 0, 0) } != BZ_OK {
                return Err(StepError::TooLarge);
            }
            self.state = State::Active;
        }
        // SAFETY: `dst` is writable for its length.
        let (consumed, produced, ret) = unsafe {
            self.s.run(src, dst.as_mut_ptr().cast(), dst.len(), |s| {
                BZ2_bzDecompress(s)
            })
        };
        match ret {
            BZ_OK => Ok(Progress {
                consumed,
                produced,
                done: false,
            }),
            BZ_STREAM_END => {
                self.state = State::Ended;
                Ok(Progress {
                    consumed,
                    produced,
                    done: true,
                })
            }
            BZ_MEM_ERROR => Err(StepError::TooLarge),
            _ => Err(StepError::Corrupt),
        }
    }

    fn reset(&mut self, _limit: u64) -> Result<(), Error> {
        self.end();
        Ok(())
    }

    fn memory(&self) -> usize {
        // 900k blocks: about 3.6 MiB while active.
        4 << 20
    }
}

//! xz (LZMA2, CRC64 check like the CLI) through liblzma: one-shot,
//! streaming, bounded decoding.

use super::bounded::{Progress, RawDecoder, StepError};
use super::cache::with_cached;
use super::{Algo, Error};
use liblzma_sys::*;
use std::cell::RefCell;
use std::mem::MaybeUninit;

/// An `lzma_stream` on the heap (liblzma keeps no pointer to it, but a box
/// keeps its address stable anyway), ended on drop.
pub(super) struct Lzma(Box<lzma_stream>);

// SAFETY: the stream is owned by this value and only used through `&mut self`.
unsafe impl Send for Lzma {}

impl Lzma {
    fn new() -> Self {
        // SAFETY: LZMA_STREAM_INIT is all zeros (null pointers, zero sizes).
        Lzma(Box::new(unsafe { std::mem::zeroed() }))
    }

    fn memory(&self) -> usize {
        // SAFETY: FFI reading an initialized (possibly empty) stream.
        unsafe { lzma_memusage(&*self.0) as usize }
    }

    /// Runs `lzma_code` from `src` into `dst`: (consumed, produced, ret).
    ///
    /// # Safety
    /// `dst` must be valid for writes of `dst_len` bytes.
    unsafe fn code(
        &mut self,
        src: &[u8],
        dst: *mut u8,
        dst_len: usize,
        action: lzma_action,
    ) -> (usize, usize, lzma_ret) {
        let s = &mut *self.0;
        s.next_in = src.as_ptr();
        s.avail_in = src.len();
        s.next_out = dst;
        s.avail_out = dst_len;
        let ret = lzma_code(s, action);
        let consumed = src.len() - s.avail_in;
        let produced = dst_len - s.avail_out;
        s.next_in = std::ptr::null();
        s.avail_in = 0;
        s.next_out = std::ptr::null_mut();
        s.avail_out = 0;
        (consumed, produced, ret)
    }

    /// Appends the output of `src` to `out`; with `LZMA_FINISH`, until the
    /// stream ends.
    fn encode(
        &mut self,
        mut src: &[u8],
        out: &mut Vec<u8>,
        action: lzma_action,
    ) -> Result<(), Error> {
        loop {
            out.reserve((src.len() / 2).max(64 << 10));
            let len = out.len();
            let room = out.capacity() - len;
            // SAFETY: the spare capacity is writable for `room` bytes; the
            // length grows only by what liblzma wrote.
            let (consumed, produced, ret) =
                unsafe { self.code(src, out.as_mut_ptr().add(len), room, action) };
            // SAFETY: see above.
            unsafe { out.set_len(len + produced) };
            src = &src[consumed..];
            match ret {
                LZMA_STREAM_END => return Ok(()),
                LZMA_OK if action == LZMA_RUN && src.is_empty() && produced < room => return Ok(()),
                LZMA_OK => {}
                other => {
                    return Err(Error::Library(
                        Algo::Xz,
                        format!("lzma_code returned {other}"),
                    ))
                }
            }
        }
    }
}

impl Drop for Lzma {
    fn drop(&mut self) {
        // SAFETY: ending a zeroed or initialized stream is allowed, once.
        unsafe { lzma_end(&mut *self.0) };
    }
}

fn init_err(ret: lzma_ret) -> Error {
    Error::Library(Algo::Xz, format!("encoder init returned {ret}"))
}

/// Initializes `lzma` as an xz encoder at preset `level`, with the LZMA2
/// dictionary shrunk to the input size when known and smaller (same
/// output format, far less memory for small inputs).
fn init_encoder(lzma: &mut Lzma, level: i32, size: Option<usize>) -> Result<(), Error> {
    // SAFETY: zeroed options are filled in by lzma_lzma_preset.
    let mut opts: lzma_options_lzma = unsafe { std::mem::zeroed() };
    // SAFETY: FFI writing into `opts`; returns true on an invalid preset.
    if unsafe { lzma_lzma_preset(&mut opts, level as u32) } != 0 {
        return Err(Error::InvalidLevel {
            algo: Algo::Xz,
            level,
        });
    }
    if let Some(size) = size {
        let need = size
            .max(4096)
            .next_power_of_two()
            .min(u32::MAX as usize / 2 + 1) as u32;
        opts.dict_size = opts.dict_size.min(need);
    }
    let filters = [
        lzma_filter {
            id: LZMA_FILTER_LZMA2,
            options: (&mut opts as *mut lzma_options_lzma).cast(),
        },
        lzma_filter {
            id: LZMA_VLI_UNKNOWN,
            options: std::ptr::null_mut(),
        },
    ];
    // SAFETY: `filters` is terminated and `opts` outlives the call (liblzma
    // copies the options); re-initializing reuses the stream's memory.
    let ret = unsafe { lzma_stream_encoder(&mut *lzma.0, filters.as_ptr(), LZMA_CHECK_CRC64) };
    if ret == LZMA_OK {
        Ok(())
    } else {
        Err(init_err(ret))
    }
}

thread_local! {
    static ENCODER: RefCell<Option<Lzma>> = const { RefCell::new(None) };
}

/// One-shot compression with this thread's cached stream.
pub(super) fn compress_into(src: &[u8], level: i32, out: &mut Vec<u8>) -> Result<(), Error> {
    with_cached(
        &ENCODER,
        || Ok(Lzma::new()),
        Lzma::memory,
        |lzma| {
            init_encoder(lzma, level, Some(src.len()))?;
            // SAFETY: plain FFI.
            out.reserve_exact(unsafe { lzma_stream_buffer_bound(src.len()) }.max(64));
            lzma.encode(src, out, LZMA_FINISH)
        },
    )
}

/// A streaming xz encoder.
pub(super) struct Encoder(Lzma);

impl Encoder {
    pub fn new(level: i32) -> Result<Self, Error> {
        let mut lzma = Lzma::new();
        init_encoder(&mut lzma, level, None)?;
        Ok(Encoder(lzma))
    }

    pub fn update(&mut self, src: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.0.encode(src, out, LZMA_RUN)
    }

    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.0.encode(&[], out, LZMA_FINISH)
    }
}

/// Decoder memory limit: the output limit plus 16 MiB, at least 96 MiB
/// (a level-9 stream needs 65 MiB).
fn memlimit(limit: u64) -> u64 {
    limit.saturating_add(16 << 20).max(96 << 20)
}

/// Incremental xz decoder (concatenated streams and padding included).
pub(crate) struct Decoder {
    lzma: Lzma,
    ended: bool,
}

impl Decoder {
    pub fn new(limit: u64) -> Result<Self, Error> {
        let mut d = Decoder {
            lzma: Lzma::new(),
            ended: false,
        };
        d.reset(limit)?;
        Ok(d)
    }
}

impl RawDecoder for Decoder {
    fn step(
        &mut self,
        src: &[u8],
        dst: &mut [MaybeUninit<u8>],
        finish: bool,
    ) -> Result<Progress, StepError> {
        if self.ended {
            return if src.is_empty() {
                Ok(Progress {
                    consumed: 0,
                    produced: 0,
                    done: true,
                })
            } else {
                Err(StepError::Corrupt)
            };
        }
        let action = if finish { LZMA_FINISH } else { LZMA_RUN };
        // SAFETY: `dst` is writable for its length.
        let (consumed, produced, ret) = unsafe {
            self.lzma
                .code(src, dst.as_mut_ptr().cast(), dst.len(), action)
        };
        match ret {
            LZMA_OK | LZMA_BUF_ERROR => Ok(Progress {
                consumed,
                produced,
                done: false,
            }),
            LZMA_STREAM_END => {
                self.ended = true;
                Ok(Progress {
                    consumed,
                    produced,
                    done: true,
                })
            }
            LZMA_MEMLIMIT_ERROR | LZMA_MEM_ERROR => Err(StepError::TooLarge),
            _ => Err(StepError::Corrupt),
        }
    }

    fn reset(&mut self, limit: u64) -> Result<(), Error> {
        // SAFETY: re-initializing an existing stream reuses its memory.
        let ret =
            unsafe { lzma_stream_decoder(&mut *self.lzma.0, memlimit(limit), LZMA_CONCATENATED) };
        if ret != LZMA_OK {
            return Err(init_err(ret));
        }
        self.ended = false;
        Ok(())
    }

    fn memory(&self) -> usize {
        self.lzma.memory()
    }
}

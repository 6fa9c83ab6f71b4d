//! zstd through the C library (zstd-safe): one-shot, streaming, bounded decoding.

use super::bounded::{Progress, RawDecoder, StepError};
use super::cache::with_cached;
use super::{Algo, Error};
use std::cell::RefCell;
use std::mem::MaybeUninit;
use zstd_safe::{
    zstd_sys, CCtx, CParameter, DCtx, DDict, DParameter, InBuffer, OutBuffer, ResetDirective,
    WriteBuf,
};

fn lib_err(code: usize) -> Error {
    Error::Library(Algo::Zstd, zstd_safe::get_error_name(code).to_string())
}

thread_local! {
    pub(super) static CCTX: RefCell<Option<CCtx<'static>>> = const { RefCell::new(None) };
}

pub(super) fn new_cctx() -> Result<CCtx<'static>, Error> {
    CCtx::try_create().ok_or_else(|| Error::Library(Algo::Zstd, "cannot allocate a context".into()))
}

/// Resets `cctx` for a new frame at `level`, with a content checksum (as
/// the CLI writes by default).
pub(super) fn prepare(cctx: &mut CCtx<'static>, level: i32) -> Result<(), Error> {
    cctx.reset(ResetDirective::SessionAndParameters)
        .map_err(lib_err)?;
    cctx.set_parameter(CParameter::CompressionLevel(level))
        .map_err(lib_err)?;
    cctx.set_parameter(CParameter::ChecksumFlag(true))
        .map_err(lib_err)?;
    Ok(())
}

/// One-shot compression with this thread's cached context.
pub(super) fn compress_into(src: &[u8], level: i32, out: &mut Vec<u8>) -> Result<(), Error> {
    with_cached(
        &CCTX,
        new_cctx,
        |c| c.sizeof(),
        |cctx| {
            prepare(cctx, level)?;
            out.reserve_exact(zstd_safe::compress_bound(src.len()));
            cctx.compress2(out, src).map_err(lib_err)?;
            Ok(())
        },
    )
}

/// Streaming compression step: appends to `out`; `end` finishes the frame.
pub(super) fn stream_compress(
    cctx: &mut CCtx<'static>,
    src: &[u8],
    out: &mut Vec<u8>,
    end: bool,
) -> Result<(), Error> {
    let mut input = InBuffer::around(src);
    let directive = if end {
        zstd_sys::ZSTD_EndDirective::ZSTD_e_end
    } else {
        zstd_sys::ZSTD_EndDirective::ZSTD_e_continue
    };
    loop {
        out.reserve(CCtx::out_size().max(src.len() / 2));
        let pos = out.len();
        let mut output = OutBuffer::around_pos(out, pos);
        let remaining = cctx
            .compress_stream2(&mut output, &mut input, directive)
            .map_err(lib_err)?;
        let room_left = output.capacity() > output.pos();
        let input_done = input.pos() == src.len();
        if input_done && (if end { remaining == 0 } else { room_left }) {
            return Ok(());
        }
    }
}

/// A slice of uninitialized memory that zstd writes into.
struct Spare<'a> {
    buf: &'a mut [MaybeUninit<u8>],
    filled: usize,
}

// SAFETY: `as_slice` covers only the `filled` bytes zstd reported written;
// `capacity` and `as_mut_ptr` describe exactly the borrowed buffer.
unsafe impl WriteBuf for Spare<'_> {
    fn as_slice(&self) -> &[u8] {
        // SAFETY: the first `filled` bytes were initialized by zstd.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast(), self.filled) }
    }
    fn capacity(&self) -> usize {
        self.buf.len()
    }
    fn as_mut_ptr(&mut self) -> *mut u8 {
        self.buf.as_mut_ptr().cast()
    }
    unsafe fn filled_until(&mut self, n: usize) {
        self.filled = n;
    }
}

/// Largest window accepted for a limit: enough for any output up to the
/// limit, at least zstd's default of 128 MiB (any level's streamed frames).
/// A window is allocated lazily (pages are touched only as output is
/// produced, and output stops at the limit), so resident memory follows
/// the limit, not the window.
fn window_log_max(limit: u64) -> u32 {
    let log = 64 - limit.max(1).saturating_sub(1).leading_zeros();
    log.clamp(27, 31)
}

/// Incremental zstd decoder (concatenated and skippable frames included).
pub(crate) struct Decoder {
    dctx: DCtx<'static>,
    /// Last hint from zstd: 0 when the input ends after a complete frame.
    hint: usize,
    started: bool,
}

impl Decoder {
    pub fn new(limit: u64) -> Result<Self, Error> {
        let dctx = DCtx::try_create()
            .ok_or_else(|| Error::Library(Algo::Zstd, "cannot allocate a context".into()))?;
        let mut d = Decoder {
            dctx,
            hint: 1,
            started: false,
        };
        d.reset(limit)?;
        Ok(d)
    }

    /// Decodes frames made with this dictionary (until the next reset).
    /// The dictionary must outlive every use before that reset.
    pub fn use_dictionary(&mut self, ddict: &DDict<'static>) -> Result<(), Error> {
        self.dctx.ref_ddict(ddict).map_err(lib_err).map(|_| ())
    }
}

impl RawDecoder for Decoder {
    fn step(
        &mut self,
        src: &[u8],
        dst: &mut [MaybeUninit<u8>],
        _finish: bool,
    ) -> Result<Progress, StepError> {
        let mut input = InBuffer::around(src);
        let mut spare = Spare {
            buf: dst,
            filled: 0,
        };
        let mut output = OutBuffer::around(&mut spare);
        let hint = self
            .dctx
            .decompress_stream(&mut output, &mut input)
            .map_err(|code| {
                // SAFETY: plain FFI on an error code.
                let kind = unsafe { zstd_sys::ZSTD_getErrorCode(code) };
                if kind == zstd_sys::ZSTD_ErrorCode::ZSTD_error_frameParameter_windowTooLarge {
                    StepError::TooLarge
                } else {
                    StepError::Corrupt
                }
            })?;
        let (consumed, produced) = (input.pos(), output.pos());
        // Once a frame is complete, only new input starts another one (an
        // empty call then asks for a header, which is not truncation).
        if consumed > 0 || produced > 0 || self.hint != 0 {
            self.hint = hint;
        }
        self.started |= consumed > 0;
        Ok(Progress {
            consumed,
            produced,
            done: self.started && self.hint == 0,
        })
    }

    fn reset(&mut self, limit: u64) -> Result<(), Error> {
        self.dctx
            .reset(ResetDirective::SessionAndParameters)
            .map_err(lib_err)?;
        self.dctx
            .set_parameter(DParameter::WindowLogMax(window_log_max(limit)))
            .map_err(lib_err)?;
        self.hint = 1;
        self.started = false;
        Ok(())
    }

    fn memory(&self) -> usize {
        self.dctx.sizeof()
    }

    fn as_zstd(&mut self) -> Option<&mut Decoder> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::window_log_max;

    #[test]
    fn window_follows_the_limit() {
        assert_eq!(window_log_max(0), 27);
        assert_eq!(window_log_max(1 << 20), 27);
        assert_eq!(window_log_max(1 << 30), 30);
        assert_eq!(window_log_max((1 << 30) + 1), 31);
        assert_eq!(window_log_max(u64::MAX), 31);
    }
}

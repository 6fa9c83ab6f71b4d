//! zstd through the C library (zstd-sys for compression, zstd-safe for
//! decoding): one-shot, streaming, bounded decoding.

use super::bounded::{Progress, RawDecoder, StepError};
use super::cache::with_cached;
use super::{Algo, Error};
use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use zstd_safe::zstd_sys::{self, ZSTD_cParameter};
use zstd_safe::{DCtx, DDict, DParameter, InBuffer, OutBuffer, ResetDirective, WriteBuf};

fn lib_err(code: usize) -> Error {
    Error::Library(Algo::Zstd, zstd_safe::get_error_name(code).to_string())
}

fn check(code: usize) -> Result<usize, Error> {
    // SAFETY: plain FFI on an integer result code.
    if unsafe { zstd_sys::ZSTD_isError(code) } != 0 {
        Err(lib_err(code))
    } else {
        Ok(code)
    }
}

/// zstd 1.5.7's block pre-splitter (`ZSTD_c_blockSplitterLevel`, an
/// experimental parameter that zstd-safe does not expose).
const BLOCK_SPLITTER_LEVEL: ZSTD_cParameter = ZSTD_cParameter::ZSTD_c_experimentalParam20;

/// The highest level whose frames are cut into fixed 128 KiB blocks: the
/// pre-splitter (new in zstd 1.5.7, absent from the 1.5.4 CLI) cost 15% of
/// level 3's speed on 64 MiB of real files for 1.9% smaller output, and
/// 2% of level 1's for 0.7%; it runs only on inputs over 128 KiB. From
/// level 5 on it stays at zstd's default.
const NO_SPLIT_MAX_LEVEL: i32 = 4;

/// A zstd compression context, used through the C API directly so that
/// experimental parameters can be set. Freed on drop.
pub(super) struct Cctx(NonNull<zstd_sys::ZSTD_CCtx>);

// SAFETY: a ZSTD_CCtx has no thread affinity; it is owned by this value and
// only used through `&mut self`.
unsafe impl Send for Cctx {}

impl Drop for Cctx {
    fn drop(&mut self) {
        // SAFETY: the context came from ZSTD_createCCtx and is freed once.
        unsafe { zstd_sys::ZSTD_freeCCtx(self.0.as_ptr()) };
    }
}

impl Cctx {
    pub fn new() -> Result<Self, Error> {
        // SAFETY: plain FFI; a null result is handled.
        NonNull::new(unsafe { zstd_sys::ZSTD_createCCtx() })
            .map(Cctx)
            .ok_or_else(|| Error::Library(Algo::Zstd, "cannot allocate a context".into()))
    }

    fn set(&mut self, param: ZSTD_cParameter, value: i32) -> Result<(), Error> {
        // SAFETY: the context is valid; zstd checks the parameter and value.
        check(unsafe { zstd_sys::ZSTD_CCtx_setParameter(self.0.as_ptr(), param, value) })?;
        Ok(())
    }

    /// Forgets the current frame, the parameters and any dictionary.
    pub fn reset(&mut self) -> Result<(), Error> {
        // SAFETY: the context is valid.
        check(unsafe {
            zstd_sys::ZSTD_CCtx_reset(
                self.0.as_ptr(),
                zstd_sys::ZSTD_ResetDirective::ZSTD_reset_session_and_parameters,
            )
        })?;
        Ok(())
    }

    /// Resets the context for a new frame at `level` with a content
    /// checksum (as the CLI writes by default).
    pub fn prepare(&mut self, level: i32) -> Result<(), Error> {
        self.reset()?;
        self.set(ZSTD_cParameter::ZSTD_c_compressionLevel, level)?;
        self.set(ZSTD_cParameter::ZSTD_c_checksumFlag, 1)?;
        if level <= NO_SPLIT_MAX_LEVEL {
            // 1: no splitting (fixed 128 KiB blocks); 0 is zstd's "auto".
            self.set(BLOCK_SPLITTER_LEVEL, 1)?;
        }
        Ok(())
    }

    /// Compresses with this dictionary until the next [`Cctx::reset`];
    /// the dictionary must outlive every use before then.
    pub fn ref_cdict(&mut self, cdict: NonNull<zstd_sys::ZSTD_CDict>) -> Result<(), Error> {
        // SAFETY: both pointers are valid; the caller keeps the dictionary
        // alive while it is referenced.
        check(unsafe { zstd_sys::ZSTD_CCtx_refCDict(self.0.as_ptr(), cdict.as_ptr()) })?;
        Ok(())
    }

    /// Memory held by the context, bytes.
    pub fn sizeof(&self) -> usize {
        // SAFETY: the context is valid.
        unsafe { zstd_sys::ZSTD_sizeof_CCtx(self.0.as_ptr()) }
    }

    /// One frame of all of `src`, appended to `out` (the source size is
    /// known, so the frame records it and parameters fit it).
    pub fn compress2(&mut self, src: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        out.reserve_exact(zstd_safe::compress_bound(src.len()));
        let len = out.len();
        // SAFETY: the destination is the vector's spare capacity, at least
        // the compress bound; `set_len` covers only the bytes written.
        unsafe {
            let n = check(zstd_sys::ZSTD_compress2(
                self.0.as_ptr(),
                out.as_mut_ptr().add(len).cast(),
                out.capacity() - len,
                src.as_ptr().cast(),
                src.len(),
            ))?;
            out.set_len(len + n);
        }
        Ok(())
    }

    /// Streaming step: appends output to `out`; `end` finishes the frame.
    pub fn compress_stream(
        &mut self,
        src: &[u8],
        out: &mut Vec<u8>,
        end: bool,
    ) -> Result<(), Error> {
        let directive = if end {
            zstd_sys::ZSTD_EndDirective::ZSTD_e_end
        } else {
            zstd_sys::ZSTD_EndDirective::ZSTD_e_continue
        };
        let mut input = zstd_sys::ZSTD_inBuffer {
            src: src.as_ptr().cast(),
            size: src.len(),
            pos: 0,
        };
        loop {
            // SAFETY: plain FFI returning a constant.
            out.reserve(unsafe { zstd_sys::ZSTD_CStreamOutSize() }.max(src.len() / 2));
            let len = out.len();
            let mut output = zstd_sys::ZSTD_outBuffer {
                // SAFETY: the spare capacity starts at `len`, within the allocation.
                dst: unsafe { out.as_mut_ptr().add(len) }.cast(),
                size: out.capacity() - len,
                pos: 0,
            };
            // SAFETY: `input` describes `src`, `output` the spare capacity;
            // zstd writes at most `output.size` bytes and reports `pos`.
            let remaining = check(unsafe {
                zstd_sys::ZSTD_compressStream2(self.0.as_ptr(), &mut output, &mut input, directive)
            })?;
            // SAFETY: zstd initialized `output.pos` bytes after `len`.
            unsafe { out.set_len(len + output.pos) };
            let room_left = output.pos < output.size;
            let input_done = input.pos == src.len();
            if input_done && (if end { remaining == 0 } else { room_left }) {
                return Ok(());
            }
        }
    }
}

thread_local! {
    pub(super) static CCTX: RefCell<Option<Cctx>> = const { RefCell::new(None) };
}

/// One-shot compression with this thread's cached context.
pub(super) fn compress_into(src: &[u8], level: i32, out: &mut Vec<u8>) -> Result<(), Error> {
    with_cached(&CCTX, Cctx::new, Cctx::sizeof, |cctx| {
        cctx.prepare(level)?;
        cctx.compress2(src, out)
    })
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

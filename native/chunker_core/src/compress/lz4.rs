//! LZ4 frame format through the C library (lz4-sys): one-shot, streaming,
//! bounded decoding.
//!
//! Frames have independent blocks (the `lz4` CLI's default) and, unlike
//! the CLI's, no content checksum: XXH32 runs at about half the speed of
//! LZ4 decoding, so the checksum cost 30% of compression time and 60% of
//! decompression time, for integrity a binary cache already has (chunks
//! and NARs are checked against their hashes after decoding). Frames
//! that carry a checksum (the CLI's) are still verified.

use super::bounded::{Progress, RawDecoder, StepError};
use super::cache::with_cached;
use super::{Algo, Error};
use lz4_sys::{
    BlockChecksum, BlockMode, BlockSize, ContentChecksum, FrameType, LZ4FCompressionContext,
    LZ4FDecompressionContext, LZ4FFrameInfo, LZ4FPreferences, LZ4F_compressBegin,
    LZ4F_compressBound, LZ4F_compressEnd, LZ4F_compressUpdate, LZ4F_createCompressionContext,
    LZ4F_createDecompressionContext, LZ4F_decompress, LZ4F_freeCompressionContext,
    LZ4F_freeDecompressionContext, LZ4F_getErrorName, LZ4F_isError, LZ4F_resetDecompressionContext,
    LZ4F_VERSION,
};
use std::cell::RefCell;
use std::mem::MaybeUninit;

/// Largest frame header (LZ4F_HEADER_SIZE_MAX) plus end mark and a checksum.
const FRAME_OVERHEAD: usize = 19 + 8;

fn check(code: usize) -> Result<usize, Error> {
    // SAFETY: plain FFI on an integer result code.
    if unsafe { LZ4F_isError(code) } != 0 {
        // SAFETY: LZ4F_getErrorName returns a static NUL-terminated string.
        let name = unsafe { std::ffi::CStr::from_ptr(LZ4F_getErrorName(code)) };
        Err(Error::Library(
            Algo::Lz4,
            name.to_string_lossy().into_owned(),
        ))
    } else {
        Ok(code)
    }
}

/// An LZ4F compression context, freed on drop.
pub(super) struct Cctx(LZ4FCompressionContext);

impl Cctx {
    fn new() -> Result<Self, Error> {
        let mut ctx = LZ4FCompressionContext(std::ptr::null_mut());
        // SAFETY: FFI; `ctx` receives a new context or stays null on error.
        check(unsafe { LZ4F_createCompressionContext(&mut ctx, LZ4F_VERSION) })?;
        Ok(Cctx(ctx))
    }
}

impl Drop for Cctx {
    fn drop(&mut self) {
        // SAFETY: the context was created by LZ4F_createCompressionContext
        // and is freed once.
        unsafe { LZ4F_freeCompressionContext(self.0) };
    }
}

thread_local! {
    static CCTX: RefCell<Option<Cctx>> = const { RefCell::new(None) };
}

/// The smallest block size holding `len` bytes (as LZ4F_compressFrame does).
fn block_size(len: usize) -> BlockSize {
    match len {
        0..=0x1_0000 => BlockSize::Max64KB,
        0x1_0001..=0x4_0000 => BlockSize::Max256KB,
        0x4_0001..=0x10_0000 => BlockSize::Max1MB,
        _ => BlockSize::Max4MB,
    }
}

fn prefs(level: i32, block: BlockSize, auto_flush: bool) -> LZ4FPreferences {
    LZ4FPreferences {
        frame_info: LZ4FFrameInfo {
            block_size_id: block,
            block_mode: BlockMode::Independent,
            content_checksum_flag: ContentChecksum::NoChecksum,
            frame_type: FrameType::Frame,
            content_size: 0,
            dict_id: 0,
            block_checksum_flag: BlockChecksum::NoBlockChecksum,
        },
        compression_level: level as u32,
        auto_flush: auto_flush as u32,
        favor_dec_speed: 0,
        reserved: [0; 3],
    }
}

fn bound(len: usize, prefs: &LZ4FPreferences) -> usize {
    // SAFETY: FFI reading `prefs`.
    unsafe { LZ4F_compressBound(len, prefs) }
}

/// One-shot compression with this thread's cached context.
pub(super) fn compress_into(src: &[u8], level: i32, out: &mut Vec<u8>) -> Result<(), Error> {
    let p = prefs(level, block_size(src.len()), true);
    with_cached(
        &CCTX,
        Cctx::new,
        |_| 0,
        |ctx| {
            out.reserve_exact(bound(src.len(), &p) + FRAME_OVERHEAD);
            let cap = out.capacity();
            let dst = out.as_mut_ptr();
            // SAFETY: `dst` points to `cap` writable bytes; each call writes
            // at most its given capacity (the bound covers the worst case),
            // and `set_len` covers only the bytes the calls reported.
            unsafe {
                let mut n = check(LZ4F_compressBegin(ctx.0, dst, cap, &p))?;
                n += check(LZ4F_compressUpdate(
                    ctx.0,
                    dst.add(n),
                    cap - n,
                    src.as_ptr(),
                    src.len(),
                    std::ptr::null(),
                ))?;
                n += check(LZ4F_compressEnd(
                    ctx.0,
                    dst.add(n),
                    cap - n,
                    std::ptr::null(),
                ))?;
                out.set_len(n);
            }
            Ok(())
        },
    )
}

/// A streaming LZ4 frame encoder (4 MiB blocks, like the CLI).
pub(super) struct Encoder {
    ctx: Cctx,
    prefs: LZ4FPreferences,
    started: bool,
}

impl Encoder {
    pub fn new(level: i32) -> Result<Self, Error> {
        Ok(Encoder {
            ctx: Cctx::new()?,
            prefs: prefs(level, BlockSize::Max4MB, false),
            started: false,
        })
    }

    fn begin(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        if !self.started {
            out.reserve(FRAME_OVERHEAD);
            let len = out.len();
            // SAFETY: the spare capacity holds at least 19 bytes, the
            // largest header; `set_len` covers the bytes written.
            unsafe {
                let n = check(LZ4F_compressBegin(
                    self.ctx.0,
                    out.as_mut_ptr().add(len),
                    out.capacity() - len,
                    &self.prefs,
                ))?;
                out.set_len(len + n);
            }
            self.started = true;
        }
        Ok(())
    }

    pub fn update(&mut self, src: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.begin(out)?;
        out.reserve(bound(src.len(), &self.prefs));
        let len = out.len();
        // SAFETY: the spare capacity is at least the bound for `src`.
        unsafe {
            let n = check(LZ4F_compressUpdate(
                self.ctx.0,
                out.as_mut_ptr().add(len),
                out.capacity() - len,
                src.as_ptr(),
                src.len(),
                std::ptr::null(),
            ))?;
            out.set_len(len + n);
        }
        Ok(())
    }

    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.begin(out)?;
        out.reserve(bound(0, &self.prefs) + FRAME_OVERHEAD);
        let len = out.len();
        // SAFETY: the spare capacity is at least the bound for flushing.
        unsafe {
            let n = check(LZ4F_compressEnd(
                self.ctx.0,
                out.as_mut_ptr().add(len),
                out.capacity() - len,
                std::ptr::null(),
            ))?;
            out.set_len(len + n);
        }
        Ok(())
    }
}

/// Incremental LZ4 frame decoder (concatenated frames included).
pub(crate) struct Decoder {
    ctx: LZ4FDecompressionContext,
    hint: usize,
    started: bool,
}

// SAFETY: the context is owned by this value and only used through `&mut self`.
unsafe impl Send for Decoder {}

impl Decoder {
    pub fn new() -> Result<Self, Error> {
        let mut ctx = LZ4FDecompressionContext(std::ptr::null_mut());
        // SAFETY: FFI; `ctx` receives a new context.
        check(unsafe { LZ4F_createDecompressionContext(&mut ctx, LZ4F_VERSION) })?;
        Ok(Decoder {
            ctx,
            hint: 1,
            started: false,
        })
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: created by LZ4F_createDecompressionContext, freed once.
        unsafe { LZ4F_freeDecompressionContext(self.ctx) };
    }
}

impl RawDecoder for Decoder {
    fn step(
        &mut self,
        src: &[u8],
        dst: &mut [MaybeUninit<u8>],
        _finish: bool,
    ) -> Result<Progress, StepError> {
        let mut dst_size = dst.len();
        let mut src_size = src.len();
        // SAFETY: `dst` is writable for `dst_size` bytes and `src` readable
        // for `src_size`; LZ4F writes back how much it used of each.
        let hint = unsafe {
            LZ4F_decompress(
                self.ctx,
                dst.as_mut_ptr().cast(),
                &mut dst_size,
                src.as_ptr(),
                &mut src_size,
                std::ptr::null(),
            )
        };
        // SAFETY: plain FFI on an integer result code.
        if unsafe { LZ4F_isError(hint) } != 0 {
            return Err(StepError::Corrupt);
        }
        if src_size > 0 || dst_size > 0 || self.hint != 0 {
            self.hint = hint;
        }
        self.started |= src_size > 0;
        Ok(Progress {
            consumed: src_size,
            produced: dst_size,
            done: self.started && self.hint == 0,
        })
    }

    fn reset(&mut self, _limit: u64) -> Result<(), Error> {
        // SAFETY: the context is valid; resetting makes it ready for a new frame.
        unsafe { LZ4F_resetDecompressionContext(self.ctx) };
        self.hint = 1;
        self.started = false;
        Ok(())
    }

    fn memory(&self) -> usize {
        // At most one 4 MiB block buffer plus the context.
        4 << 20
    }
}

//! zstd dictionaries: training from sample chunks, and a prepared
//! dictionary (digested for compression at one level and for
//! decompression) shared between threads.

use super::cache::{with_cached, with_decoder};
use super::zstd::{Cctx, CCTX};
use super::{Algo, Error};
use std::ptr::NonNull;
use zstd_safe::{zstd_sys, DDict};

/// Trains a dictionary of at most `max_size` bytes from `samples`
/// (ZDICT_trainFromBuffer). Needs enough samples (dozens at least).
pub fn train(samples: &[&[u8]], max_size: usize) -> Result<Vec<u8>, Error> {
    let sizes: Vec<usize> = samples.iter().map(|s| s.len()).collect();
    let joined = samples.concat();
    let mut dict = Vec::with_capacity(max_size);
    zstd_safe::train_from_buffer(&mut dict, &joined, &sizes)
        .map_err(|code| Error::Dictionary(zstd_safe::get_error_name(code).to_string()))?;
    Ok(dict)
}

/// A dictionary digested for compression (the C API directly, to be used
/// by [`Cctx`]), freed on drop.
struct CDict(NonNull<zstd_sys::ZSTD_CDict>);

// SAFETY: zstd documents a CDict as read-only once created, usable by
// several threads at the same time; this value owns it.
unsafe impl Send for CDict {}
// SAFETY: as above: only read after creation.
unsafe impl Sync for CDict {}

impl CDict {
    fn new(raw: &[u8], level: i32) -> Option<Self> {
        // SAFETY: `raw` is readable for its length; zstd copies it.
        NonNull::new(unsafe { zstd_sys::ZSTD_createCDict(raw.as_ptr().cast(), raw.len(), level) })
            .map(CDict)
    }
}

impl Drop for CDict {
    fn drop(&mut self) {
        // SAFETY: made by ZSTD_createCDict and freed once; no context
        // references it any more (they reset after each use).
        unsafe { zstd_sys::ZSTD_freeCDict(self.0.as_ptr()) };
    }
}

/// A dictionary prepared for compression at one level and for decompression.
pub struct Dictionary {
    id: u32,
    level: i32,
    size: usize,
    cdict: CDict,
    ddict: DDict<'static>,
}

impl Dictionary {
    /// Prepares `raw` (a trained dictionary, or any bytes as a raw-content
    /// dictionary) for compression at `level`.
    pub fn new(raw: &[u8], level: i32) -> Result<Self, Error> {
        let level = Algo::Zstd.check_level(level)?;
        let fail = || Error::Dictionary("zstd could not load the dictionary".into());
        let cdict = CDict::new(raw, level).ok_or_else(fail)?;
        let ddict = DDict::try_create(raw).ok_or_else(fail)?;
        Ok(Dictionary {
            id: zstd_safe::get_dict_id(raw).map_or(0, |id| id.get()),
            level,
            size: raw.len(),
            cdict,
            ddict,
        })
    }

    /// The dictionary id written in frames (0 for raw-content dictionaries).
    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn level(&self) -> i32 {
        self.level
    }

    /// The raw dictionary size, bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Compresses `src` into `out` (cleared first) with the dictionary and a
    /// content checksum; returns the bytes written.
    pub fn compress_into(&self, src: &[u8], out: &mut Vec<u8>) -> Result<usize, Error> {
        out.clear();
        with_cached(&CCTX, Cctx::new, Cctx::sizeof, |cctx| {
            cctx.prepare(self.level)?;
            cctx.ref_cdict(self.cdict.0)?;
            let result = cctx.compress2(src, out);
            // Drop the reference to the dictionary before the context is cached.
            cctx.reset()?;
            result
        })?;
        Ok(out.len())
    }

    /// Decompresses `src` (made with this dictionary) into `out` (cleared
    /// first), at most `limit` bytes, like [`super::decompress_into`].
    pub fn decompress_into(
        &self,
        src: &[u8],
        limit: u64,
        out: &mut Vec<u8>,
    ) -> Result<usize, Error> {
        out.clear();
        with_decoder(Algo::Zstd, limit, |dec| {
            // The cached zstd slot only ever holds a zstd decoder.
            let zdec = dec.raw_mut().as_zstd().expect("a zstd decoder");
            zdec.use_dictionary(&self.ddict)?;
            let result = dec.decode_all(src, out);
            // Drop the reference to the dictionary before the decoder is cached.
            dec.reset(limit)?;
            result
        })?;
        Ok(out.len())
    }
}

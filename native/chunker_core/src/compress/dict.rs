//! zstd dictionaries: training from sample chunks, and a prepared
//! dictionary (digested for compression at one level and for
//! decompression) shared between threads.

use super::cache::{with_cached, with_decoder};
use super::zstd::{self as z, CCTX};
use super::{Algo, Error};
use zstd_safe::{CDict, DDict, ResetDirective};

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

/// A dictionary prepared for compression at one level and for decompression.
pub struct Dictionary {
    id: u32,
    level: i32,
    size: usize,
    cdict: CDict<'static>,
    ddict: DDict<'static>,
}

impl Dictionary {
    /// Prepares `raw` (a trained dictionary, or any bytes as a raw-content
    /// dictionary) for compression at `level`.
    pub fn new(raw: &[u8], level: i32) -> Result<Self, Error> {
        let level = Algo::Zstd.check_level(level)?;
        let fail = || Error::Dictionary("zstd could not load the dictionary".into());
        let cdict = CDict::try_create(raw, level).ok_or_else(fail)?;
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
        with_cached(
            &CCTX,
            z::new_cctx,
            |c| c.sizeof(),
            |cctx| {
                z::prepare(cctx, self.level)?;
                let lib = |c| Error::Library(Algo::Zstd, zstd_safe::get_error_name(c).into());
                cctx.ref_cdict(&self.cdict).map_err(lib)?;
                out.reserve_exact(zstd_safe::compress_bound(src.len()));
                let result = cctx.compress2(out, src).map_err(lib);
                // Drop the reference to the dictionary before the context is cached.
                cctx.reset(ResetDirective::SessionAndParameters)
                    .map_err(lib)?;
                result
            },
        )
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

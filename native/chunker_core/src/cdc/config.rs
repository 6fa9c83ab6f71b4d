//! Validated chunker options and the FastCDC 2020 masks.

use super::Error;

/// Smallest and largest `min_size` (as in `fastcdc::v2020`).
pub const MIN_SIZE_RANGE: (u64, u64) = (64, 1_048_576);
/// Smallest and largest `avg_size`.
pub const AVG_SIZE_RANGE: (u64, u64) = (256, 4_194_304);
/// Smallest and largest `max_size`.
pub const MAX_SIZE_RANGE: (u64, u64) = (1024, 16_777_216);

/// Cut-point masks indexed by the rounded log2 of the target size: the values
/// FastCDC 2020 uses (C reference implementation up to 128 KiB, restic-FastCDC
/// beyond). They are part of the chunk-format definition, so they must match
/// `fastcdc::v2020::MASKS` exactly; a test checks that.
pub(crate) const MASKS: [u64; 26] = [
    0,
    0,
    0,
    0,
    0,
    0x0000_0000_0180_4110,
    0x0000_0000_0180_3110,
    0x0000_0000_1803_5100,
    0x0000_0018_0003_5300,
    0x0000_0190_0035_3000,
    0x0000_5900_0353_0000,
    0x0000_d900_0353_0000,
    0x0000_d901_0353_0000,
    0x0000_d903_0353_0000,
    0x0000_d903_1353_0000,
    0x0000_d90f_0353_0000,
    0x0000_d903_0353_7000,
    0x0000_d907_0353_7000,
    0x0000_d907_0753_7000,
    0x0000_d917_0753_7000,
    0x0000_d917_4753_7000,
    0x0000_d917_6753_7000,
    0x0000_d937_6753_7000,
    0x0000_d937_7753_7000,
    0x0000_d937_7757_7000,
    0x0000_db37_7757_7000,
];

// The scan relies on every mask bit being below `scan::HASH_BITS`.
const _: () = {
    let mut i = 0;
    while i < MASKS.len() {
        assert!(MASKS[i] >> super::scan::HASH_BITS == 0);
        i += 1;
    }
};

/// Chunk-size normalization level (FastCDC paper, section 4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Normalization {
    Level0 = 0,
    Level1 = 1,
    Level2 = 2,
    Level3 = 3,
}

/// Validated FastCDC 2020 parameters with their precomputed masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkerConfig {
    pub(crate) min_size: usize,
    pub(crate) avg_size: usize,
    pub(crate) max_size: usize,
    pub(crate) normalization: Normalization,
    pub(crate) mask_s: u64,
    pub(crate) mask_l: u64,
}

impl Default for ChunkerConfig {
    /// 128 KiB / 512 KiB / 2 MiB, normalization 1: tuned for NARs.
    fn default() -> Self {
        Self::new(131_072, 524_288, 2_097_152, 1).expect("defaults are valid")
    }
}

impl ChunkerConfig {
    /// Validates the options. Sizes must be even, within the `fastcdc::v2020`
    /// bounds and ordered `min <= avg <= max`; `normalization` is 0..=3.
    /// Values are taken as `u64` so nothing is silently truncated.
    pub fn new(
        min_size: u64,
        avg_size: u64,
        max_size: u64,
        normalization: u64,
    ) -> Result<Self, Error> {
        check_size("min_size", min_size, MIN_SIZE_RANGE)?;
        check_size("avg_size", avg_size, AVG_SIZE_RANGE)?;
        check_size("max_size", max_size, MAX_SIZE_RANGE)?;
        if min_size > avg_size {
            return Err(invalid("min_size", "must not exceed avg_size".into()));
        }
        if avg_size > max_size {
            return Err(invalid("avg_size", "must not exceed max_size".into()));
        }
        let normalization = match normalization {
            0 => Normalization::Level0,
            1 => Normalization::Level1,
            2 => Normalization::Level2,
            3 => Normalization::Level3,
            n => return Err(invalid("normalization", format!("{n} is not in 0..3"))),
        };
        // The range checks above make these conversions lossless.
        let avg = avg_size as usize;
        let (mask_s, mask_l) = select_masks(avg, normalization);
        Ok(Self {
            min_size: min_size as usize,
            avg_size: avg,
            max_size: max_size as usize,
            normalization,
            mask_s,
            mask_l,
        })
    }

    /// Minimum chunk size (bytes); only the last chunk may be smaller.
    pub fn min_size(&self) -> usize {
        self.min_size
    }

    /// Target average chunk size (bytes).
    pub fn avg_size(&self) -> usize {
        self.avg_size
    }

    /// Maximum chunk size (bytes).
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Normalization level.
    pub fn normalization(&self) -> Normalization {
        self.normalization
    }

    /// The strict mask (used before `avg_size`) and the loose one (after).
    pub fn masks(&self) -> (u64, u64) {
        (self.mask_s, self.mask_l)
    }

    /// Iterates over the chunks of `data`.
    pub fn chunks<'a>(&self, data: &'a [u8]) -> super::Chunks<'a> {
        super::Chunks::new(*self, data)
    }
}

fn invalid(field: &'static str, reason: String) -> Error {
    Error::InvalidOptions { field, reason }
}

fn check_size(field: &'static str, value: u64, (lo, hi): (u64, u64)) -> Result<(), Error> {
    if value < lo || value > hi {
        return Err(invalid(field, format!("{value} is not in {lo}..{hi}")));
    }
    if value % 2 != 0 {
        return Err(invalid(field, format!("{value} is not even")));
    }
    Ok(())
}

/// Mask bucket: log2 of `avg_size` rounded to nearest, as `fastcdc::v2020` does.
fn select_masks(avg_size: usize, level: Normalization) -> (u64, u64) {
    let bits = (avg_size as f64).log2().round() as usize;
    let n = level as usize;
    (MASKS[bits + n], MASKS[bits - n])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(r: Result<ChunkerConfig, Error>) -> &'static str {
        match r {
            Err(Error::InvalidOptions { field, .. }) => field,
            other => panic!("expected InvalidOptions, got {other:?}"),
        }
    }

    #[test]
    fn rejects_out_of_range_and_odd_values() {
        assert_eq!(field_of(ChunkerConfig::new(62, 256, 1024, 1)), "min_size");
        assert_eq!(field_of(ChunkerConfig::new(65, 256, 1024, 1)), "min_size");
        assert_eq!(field_of(ChunkerConfig::new(64, 254, 1024, 1)), "avg_size");
        assert_eq!(field_of(ChunkerConfig::new(64, 256, 1022, 1)), "max_size");
        assert_eq!(
            field_of(ChunkerConfig::new(64, 256, 1 << 40, 1)),
            "max_size"
        );
        assert_eq!(
            field_of(ChunkerConfig::new(64, 256, u64::MAX, 1)),
            "max_size"
        );
        assert_eq!(
            field_of(ChunkerConfig::new(64, 256, 1024, 4)),
            "normalization"
        );
        assert_eq!(
            field_of(ChunkerConfig::new(4096, 2048, 8192, 1)),
            "min_size"
        );
        assert_eq!(field_of(ChunkerConfig::new(64, 8192, 4096, 1)), "avg_size");
        // u32 overflow is not truncated: 2^32 + 1024 would wrap to a valid 1024.
        assert_eq!(
            field_of(ChunkerConfig::new(64, 256, (1 << 32) + 1024, 1)),
            "max_size"
        );
    }

    #[test]
    fn defaults_are_nar_tuned() {
        let c = ChunkerConfig::default();
        assert_eq!(
            (c.min_size(), c.avg_size(), c.max_size()),
            (131_072, 524_288, 2_097_152)
        );
        assert_eq!(c.normalization(), Normalization::Level1);
    }
}

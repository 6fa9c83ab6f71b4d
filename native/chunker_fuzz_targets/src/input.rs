//! Decoding structured values from fuzzer bytes, and the generator side.

/// A cursor over fuzzer bytes. Reads past the end yield zeros, so every
/// byte string decodes to some input (the fuzzer never wastes a run).
#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn u64(&mut self) -> u64 {
        (self.u32() as u64) | ((self.u32() as u64) << 32)
    }

    /// Even value in `lo..=hi` (`lo`, `hi` even).
    pub fn even_in(&mut self, lo: u64, hi: u64) -> u64 {
        lo + (self.u32() as u64 % ((hi - lo) / 2 + 1)) * 2
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// SplitMix64: a small deterministic generator for the replay runner (no
/// dependency, so the libFuzzer build stays lean).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-ish value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            *b = self.byte();
        }
    }

    /// `len` bytes with structure: random runs, zero runs and repeats of
    /// earlier bytes, so content-defined cuts land everywhere.
    pub fn structured(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        let mut i = 0;
        while i < len {
            let run = (1 + self.below(8192) as usize).min(len - i);
            match self.below(4) {
                0 => {}
                1 if i >= run => out.copy_within(i - run..i, i),
                _ => self.fill(&mut out[i..i + run]),
            }
            i += run;
        }
        out
    }

    /// A length, mostly small, sometimes up to `max`.
    pub fn len_up_to(&mut self, max: usize) -> usize {
        match self.below(4) {
            0 => self.below(64) as usize,
            1 => self.below(4096) as usize,
            _ => self.below(max as u64 + 1) as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_zero() {
        let mut i = Input::new(&[1, 2, 3]);
        assert_eq!(i.u16(), 0x0201);
        assert_eq!(i.u32(), 3);
        assert_eq!(i.u64(), 0);
        assert!(i.rest().is_empty());
    }

    #[test]
    fn even_in_stays_in_range() {
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            let bytes = rng.next_u64().to_le_bytes();
            let v = Input::new(&bytes).even_in(64, 1024);
            assert!((64..=1024).contains(&v) && v % 2 == 0, "{v}");
        }
    }
}

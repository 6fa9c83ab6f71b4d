//! Nix's base-32: alphabet `0123456789abcdfghijklmnpqrsvwxyz` (no `e o u t`)
//! and Nix's bit order: the last character holds the lowest 5 bits of the
//! first byte. This is not RFC 4648.

use std::fmt;

/// The 32 digits in value order.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

const INVALID: u8 = 0xff;

const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 32 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Why a base-32 string was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No byte length encodes to this many characters.
    InvalidLength(usize),
    /// A character outside the alphabet, at this position.
    InvalidChar { position: usize, char: char },
    /// The first character carries bits beyond the decoded length.
    NonZeroPadding,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidLength(n) => write!(f, "{n} is not a valid base-32 length"),
            Error::InvalidChar { position, char } => {
                write!(f, "invalid base-32 character {char:?} at {position}")
            }
            Error::NonZeroPadding => f.write_str("non-zero leftover bits in base-32 string"),
        }
    }
}

impl std::error::Error for Error {}

/// Number of characters encoding `bytes` bytes (`ceil(8 * bytes / 5)`).
pub const fn encoded_len(bytes: usize) -> usize {
    (bytes * 8).div_ceil(5)
}

/// Number of bytes a string of `chars` characters decodes to, if any length does.
pub fn decoded_len(chars: usize) -> Option<usize> {
    let bytes = chars * 5 / 8;
    (encoded_len(bytes) == chars).then_some(bytes)
}

/// Writes the encoding of `bytes` to `out` (`out.len()` must be
/// `encoded_len(bytes.len())`).
///
/// Read as one little-endian number, the bytes are cut into 5-bit digits
/// from the least significant end, and the last character is the first
/// digit. Five bytes are exactly eight digits, so groups are done at once.
pub fn encode_into(bytes: &[u8], out: &mut [u8]) {
    assert_eq!(out.len(), encoded_len(bytes.len()), "output length");
    let mut end = out.len();
    let mut groups = bytes.chunks_exact(5);
    for group in &mut groups {
        let mut word = [0u8; 8];
        word[..5].copy_from_slice(group);
        let v = u64::from_le_bytes(word);
        let slots: &mut [u8; 8] = (&mut out[end - 8..end]).try_into().expect("8 digits");
        for (k, slot) in slots.iter_mut().enumerate() {
            *slot = ALPHABET[((v >> (5 * (7 - k))) & 31) as usize];
        }
        end -= 8;
    }
    let rest = groups.remainder();
    let mut word = [0u8; 8];
    word[..rest.len()].copy_from_slice(rest);
    let mut v = u64::from_le_bytes(word);
    for slot in out[..end].iter_mut().rev() {
        *slot = ALPHABET[(v & 31) as usize];
        v >>= 5;
    }
}

/// Encodes any number of bytes exactly as Nix prints hashes in base 32.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = vec![0u8; encoded_len(bytes.len())];
    encode_into(bytes, &mut out);
    // The alphabet is ASCII.
    String::from_utf8(out).expect("base-32 output is ASCII")
}

/// Decodes a Nix base-32 string, rejecting bad characters, impossible
/// lengths and non-zero leftover bits (as Nix does).
pub fn decode(s: &[u8]) -> Result<Vec<u8>, Error> {
    let n = decoded_len(s.len()).ok_or(Error::InvalidLength(s.len()))?;
    let mut out = vec![0u8; n];
    let mut end = s.len();
    for group in out.chunks_mut(5) {
        let digits = encoded_len(group.len());
        let start = end - digits;
        let mut v = 0u64;
        for (k, &c) in s[start..end].iter().enumerate() {
            let digit = DECODE[c as usize];
            if digit == INVALID {
                return Err(Error::InvalidChar {
                    position: start + k,
                    char: c as char,
                });
            }
            v = v << 5 | digit as u64;
        }
        if v >> (8 * group.len()) != 0 {
            return Err(Error::NonZeroPadding);
        }
        group.copy_from_slice(&v.to_le_bytes()[..group.len()]);
        end = start;
    }
    Ok(out)
}

/// The straightforward per-character form of Nix's loop, kept as the
/// reference the grouped code is tested against.
#[cfg(test)]
fn encode_reference(bytes: &[u8]) -> String {
    let len = encoded_len(bytes.len());
    (0..len)
        .rev()
        .map(|n| {
            let (i, j) = (n * 5 / 8, n * 5 % 8);
            let lo = (bytes[i] >> j) as u16;
            let hi = bytes.get(i + 1).map_or(0, |&b| (b as u16) << (8 - j));
            ALPHABET[((lo | hi) & 0x1f) as usize] as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        // sha256("") as Nix prints it (`nix-hash --type sha256 --to-base32`).
        let empty = [
            0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f,
            0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b,
            0x78, 0x52, 0xb8, 0x55,
        ];
        let s = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73";
        assert_eq!(encode(&empty), s);
        assert_eq!(decode(s.as_bytes()).unwrap(), empty);
        assert_eq!(encode(&[]), "");
        assert_eq!(encode(&[0x1f]), "0z");
        assert_eq!(encode(&[0xff]), "7z");
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(decode(b"0"), Err(Error::InvalidLength(1)));
        assert_eq!(decode(b"000"), Err(Error::InvalidLength(3)));
        assert_eq!(
            decode(b"0e"),
            Err(Error::InvalidChar {
                position: 1,
                char: 'e'
            })
        );
        // One byte: 10 bits, the top 2 must be zero.
        assert_eq!(decode(b"7z").unwrap(), [0xff]);
        assert_eq!(decode(b"8z"), Err(Error::NonZeroPadding));
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let s = encode(&bytes);
            prop_assert_eq!(&s, &encode_reference(&bytes));
            prop_assert_eq!(s.len(), encoded_len(bytes.len()));
            prop_assert_eq!(decode(s.as_bytes()).unwrap(), bytes);
        }

        #[test]
        fn decode_never_panics(s in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(bytes) = decode(&s) {
                let again = encode(&bytes);
                prop_assert_eq!(again.as_bytes(), &s[..]);
            }
        }
    }
}

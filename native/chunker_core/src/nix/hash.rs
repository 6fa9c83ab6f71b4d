//! Hash strings in every form Nix accepts and prints: `algo:base32`,
//! `algo:base16`, `algo:base64` and SRI `algo-base64`. The encoding of a
//! prefixed hash is told apart by its length, as Nix does.

use super::base32;
use base64::Engine as _;
use std::fmt;

/// A hash algorithm Nix knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Algo {
    pub const ALL: [Algo; 4] = [Algo::Md5, Algo::Sha1, Algo::Sha256, Algo::Sha512];

    /// Parses `md5`, `sha1`, `sha256` or `sha512`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The name as Nix prints it.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Md5 => "md5",
            Algo::Sha1 => "sha1",
            Algo::Sha256 => "sha256",
            Algo::Sha512 => "sha512",
        }
    }

    /// Digest size in bytes.
    pub fn size(self) -> usize {
        match self {
            Algo::Md5 => 16,
            Algo::Sha1 => 20,
            Algo::Sha256 => 32,
            Algo::Sha512 => 64,
        }
    }
}

/// How a hash is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Lower-case hexadecimal.
    Base16,
    /// Nix base-32.
    Base32,
    /// Standard base 64 with padding.
    Base64,
    /// Subresource integrity: `algo-base64`, always with the algorithm.
    Sri,
}

/// Why a hash string was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The algorithm name is not one Nix knows.
    UnknownAlgo(String),
    /// No `algo:` / `algo-` prefix and no algorithm given.
    MissingAlgo,
    /// The prefix names another algorithm than the one expected.
    AlgoMismatch { expected: Algo, found: Algo },
    /// No encoding of this algorithm has this length.
    InvalidLength(usize),
    /// Bad characters for the encoding the length implies.
    InvalidEncoding(Encoding),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownAlgo(a) => write!(f, "unknown hash algorithm {a:?}"),
            Error::MissingAlgo => f.write_str("hash has no algorithm prefix"),
            Error::AlgoMismatch { expected, found } => write!(
                f,
                "expected a {} hash, got {}",
                expected.name(),
                found.name()
            ),
            Error::InvalidLength(n) => write!(f, "hash has wrong length {n}"),
            Error::InvalidEncoding(e) => write!(f, "invalid {e:?} hash"),
        }
    }
}

impl std::error::Error for Error {}

/// A digest together with its algorithm.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Hash {
    algo: Algo,
    bytes: [u8; 64],
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_string(Encoding::Base32, true))
    }
}

impl Hash {
    /// A hash from its raw digest; `None` if the size is wrong for `algo`.
    pub fn from_bytes(algo: Algo, digest: &[u8]) -> Option<Self> {
        (digest.len() == algo.size()).then(|| {
            let mut bytes = [0u8; 64];
            bytes[..digest.len()].copy_from_slice(digest);
            Hash { algo, bytes }
        })
    }

    /// The SHA-256 of `data`.
    pub fn sha256(data: &[u8]) -> Self {
        Self::from_bytes(Algo::Sha256, &crate::digest::HashAlgo::Sha256.digest(data))
            .expect("32 bytes")
    }

    pub fn algo(&self) -> Algo {
        self.algo
    }

    /// The raw digest.
    pub fn digest(&self) -> &[u8] {
        &self.bytes[..self.algo.size()]
    }

    /// Parses a prefixed hash (`algo:<base16|base32|base64>`) or an SRI hash
    /// (`algo-<base64>`). With `algo` given, an unprefixed hash is accepted
    /// too and a prefix must name that algorithm.
    pub fn parse(s: &str, algo: Option<Algo>) -> Result<Self, Error> {
        let (found, rest, sri) = match s.find(':') {
            Some(i) => (Some(algo_named(&s[..i])?), &s[i + 1..], false),
            None => match s.find('-') {
                Some(i) => (Some(algo_named(&s[..i])?), &s[i + 1..], true),
                None => (None, s, false),
            },
        };
        let algo = match (found, algo) {
            (Some(f), Some(e)) if f != e => {
                return Err(Error::AlgoMismatch {
                    expected: e,
                    found: f,
                })
            }
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => return Err(Error::MissingAlgo),
        };
        Self::parse_digest(rest, algo, sri)
    }

    fn parse_digest(rest: &str, algo: Algo, sri: bool) -> Result<Self, Error> {
        let size = algo.size();
        let digest = if !sri && rest.len() == size * 2 {
            hex_decode(rest.as_bytes()).ok_or(Error::InvalidEncoding(Encoding::Base16))?
        } else if !sri && rest.len() == base32::encoded_len(size) {
            base32::decode(rest.as_bytes()).map_err(|_| Error::InvalidEncoding(Encoding::Base32))?
        } else if sri || rest.len() == size.div_ceil(3) * 4 {
            let enc = if sri { Encoding::Sri } else { Encoding::Base64 };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .map_err(|_| Error::InvalidEncoding(enc))?;
            if bytes.len() != size {
                return Err(Error::InvalidLength(rest.len()));
            }
            bytes
        } else {
            return Err(Error::InvalidLength(rest.len()));
        };
        Ok(Self::from_bytes(algo, &digest).expect("decoded size checked"))
    }

    /// Prints the hash; `with_algo` adds the `algo:` prefix (SRI always has
    /// its `algo-` prefix).
    pub fn to_string(&self, encoding: Encoding, with_algo: bool) -> String {
        let d = self.digest();
        let body = match encoding {
            Encoding::Base16 => hex_encode(d),
            Encoding::Base32 => base32::encode(d),
            Encoding::Base64 | Encoding::Sri => base64::engine::general_purpose::STANDARD.encode(d),
        };
        match encoding {
            Encoding::Sri => format!("{}-{body}", self.algo.name()),
            _ if with_algo => format!("{}:{body}", self.algo.name()),
            _ => body,
        }
    }
}

fn algo_named(name: &str) -> Result<Algo, Error> {
    Algo::from_name(name).ok_or_else(|| Error::UnknownAlgo(name.to_string()))
}

/// Lower-case hexadecimal.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Decodes hexadecimal (either case, as Nix accepts).
pub fn hex_decode(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_every_form() {
        let h = Hash::sha256(b"");
        for s in [
            format!("sha256:{EMPTY_SHA256}"),
            "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73".into(),
            "sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".into(),
            "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".into(),
            format!("sha256:{}", EMPTY_SHA256.to_uppercase()),
        ] {
            assert_eq!(Hash::parse(&s, None), Ok(h.clone()), "{s}");
        }
        assert_eq!(Hash::parse(EMPTY_SHA256, Some(Algo::Sha256)), Ok(h.clone()));
        assert_eq!(
            h.to_string(Encoding::Sri, false),
            "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(h.to_string(Encoding::Base16, false), EMPTY_SHA256);
    }

    #[test]
    fn rejects_bad_hashes() {
        assert_eq!(Hash::parse(EMPTY_SHA256, None), Err(Error::MissingAlgo));
        assert_eq!(
            Hash::parse("sha3:00", None),
            Err(Error::UnknownAlgo("sha3".into()))
        );
        assert_eq!(Hash::parse("sha256:00", None), Err(Error::InvalidLength(2)));
        assert_eq!(
            Hash::parse("md5:d41d8cd98f00b204e9800998ecf8427e", Some(Algo::Sha1)),
            Err(Error::AlgoMismatch {
                expected: Algo::Sha1,
                found: Algo::Md5
            })
        );
        let bad16 = format!("sha256:{}g", &EMPTY_SHA256[1..]);
        assert_eq!(
            Hash::parse(&bad16, None),
            Err(Error::InvalidEncoding(Encoding::Base16))
        );
        assert_eq!(
            Hash::parse("sha256-AAAA", None),
            Err(Error::InvalidLength(4))
        );
    }

    proptest! {
        #[test]
        fn every_encoding_round_trips(algo in 0usize..4, seed in proptest::collection::vec(any::<u8>(), 64)) {
            let algo = Algo::ALL[algo];
            let h = Hash::from_bytes(algo, &seed[..algo.size()]).unwrap();
            for enc in [Encoding::Base16, Encoding::Base32, Encoding::Base64, Encoding::Sri] {
                prop_assert_eq!(Hash::parse(&h.to_string(enc, true), None), Ok(h.clone()));
                prop_assert_eq!(Hash::parse(&h.to_string(enc, false), Some(algo)), Ok(h.clone()));
            }
        }

        #[test]
        fn parse_never_panics(s in "[a-z0-9:+/=-]{0,140}") {
            let _ = Hash::parse(&s, None);
            let _ = Hash::parse(&s, Some(Algo::Sha256));
        }
    }
}

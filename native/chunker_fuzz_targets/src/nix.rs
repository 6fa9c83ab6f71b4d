//! Nix encodings: base-32, hash strings, store paths.
//!
//! Oracles: a per-character base-32 encoder written from Nix's
//! `printHash32` loop (independent of the grouped code in the core), round
//! trips through every encoding, and the store-path rules restated.

use crate::input::{Input, Rng};
use chunker_core::nix::{base32, store_path, Algo, Encoding, Hash, StorePath};

/// Nix's `printHash32`: character `n` (from the end) holds bits `5n..5n+5`
/// of the bytes read as one little-endian number.
fn reference_base32(bytes: &[u8]) -> String {
    let len = base32::encoded_len(bytes.len());
    (0..len)
        .rev()
        .map(|n| {
            let b = n * 5;
            let (i, j) = (b / 8, b % 8);
            let lo = bytes[i] >> j;
            let hi = if i + 1 < bytes.len() {
                ((bytes[i + 1] as u16) << (8 - j)) as u8
            } else {
                0
            };
            base32::ALPHABET[((lo | hi) & 31) as usize] as char
        })
        .collect()
}

const ENCODINGS: [Encoding; 4] = [
    Encoding::Base16,
    Encoding::Base32,
    Encoding::Base64,
    Encoding::Sri,
];

/// Target `nix_encodings`: a selector byte, then bytes or a string.
///
/// - 0: bytes encode to the reference base-32 and decode back;
/// - 1: a string decodes only if it is canonical base-32 (re-encodes to
///   itself) of a possible length;
/// - 2: a hash string parses (with or without an expected algorithm) only
///   to a hash that prints and re-parses to itself in every encoding;
/// - 3: a store path parses exactly when the rules hold, and round trips.
pub fn nix_encodings(bytes: &[u8]) {
    let mut input = Input::new(bytes);
    let selector = input.u8();
    let rest = input.rest();
    match selector % 4 {
        0 => base32_bytes(rest),
        1 => base32_string(rest),
        2 => hash_string(rest),
        _ => store_path_string(rest),
    }
}

fn base32_bytes(bytes: &[u8]) {
    let encoded = base32::encode(bytes);
    assert_eq!(encoded, reference_base32(bytes));
    assert_eq!(base32::decoded_len(encoded.len()), Some(bytes.len()));
    assert_eq!(base32::decode(encoded.as_bytes()).as_deref(), Ok(bytes));
}

fn base32_string(s: &[u8]) {
    match base32::decode(s) {
        Ok(decoded) => {
            assert_eq!(
                base32::encode(&decoded).as_bytes(),
                s,
                "non-canonical accepted"
            );
        }
        Err(base32::Error::InvalidLength(n)) => {
            assert_eq!(n, s.len());
            assert_eq!(base32::decoded_len(n), None);
        }
        Err(base32::Error::InvalidChar { position, char }) => {
            assert_eq!(s[position] as char, char);
            assert!(!base32::ALPHABET.contains(&s[position]));
        }
        Err(base32::Error::NonZeroPadding) => {
            assert!(s.iter().all(|c| base32::ALPHABET.contains(c)));
        }
    }
}

fn hash_string(bytes: &[u8]) {
    let (expected, text) = match bytes.split_first() {
        Some((&b, rest)) => (
            match b % 5 {
                4 => None,
                i => Some(Algo::ALL[i as usize]),
            },
            String::from_utf8_lossy(rest),
        ),
        None => (None, "".into()),
    };
    let Ok(hash) = Hash::parse(&text, expected) else {
        return;
    };
    assert_eq!(hash.digest().len(), hash.algo().size());
    if let Some(e) = expected {
        assert_eq!(hash.algo(), e, "parsed another algorithm than asked");
    } else {
        assert!(
            text.starts_with(&format!("{}:", hash.algo().name()))
                || text.starts_with(&format!("{}-", hash.algo().name())),
            "no prefix names the algorithm in {text:?}"
        );
    }
    for encoding in ENCODINGS {
        for with_algo in [true, false] {
            let printed = hash.to_string(encoding, with_algo);
            let algo = (!with_algo && encoding != Encoding::Sri).then_some(hash.algo());
            let reparsed = Hash::parse(&printed, algo)
                .unwrap_or_else(|e| panic!("{printed:?} does not re-parse: {e}"));
            assert_eq!(reparsed, hash, "{encoding:?} round trip");
        }
    }
}

/// The store-path rules, restated.
fn valid_store_path(s: &str) -> bool {
    let Some(base) = s.strip_prefix("/nix/store/") else {
        return false;
    };
    let b = base.as_bytes();
    b.len() > 33
        && !base.contains('/')
        && b[..32].iter().all(|c| base32::ALPHABET.contains(c))
        && b[32] == b'-'
        && b.len() - 33 <= store_path::NAME_MAX
        && b[33..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"+-._?=".contains(&c))
}

fn store_path_string(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let parsed = StorePath::parse(&text);
    assert_eq!(
        parsed.is_ok(),
        valid_store_path(&text),
        "{text:?}: {parsed:?}"
    );
    if let Ok(p) = parsed {
        assert_eq!(p.full(), text);
        assert_eq!(p.hash_part().len(), 32);
        assert_eq!(format!("{}-{}", p.hash_part(), p.name()), p.base_name());
        assert_eq!(StorePath::from_base_name(p.base_name()), Ok(p.clone()));
        assert!(store_path::check_name(p.name()).is_ok());
    }
}

/// Small random edits: flip, drop, insert or truncate.
fn mutate(rng: &mut Rng, mut s: Vec<u8>) -> Vec<u8> {
    if rng.below(2) == 0 {
        return s;
    }
    for _ in 0..1 + rng.below(2) {
        if s.is_empty() {
            s.push(rng.byte());
            continue;
        }
        let i = rng.below(s.len() as u64) as usize;
        match rng.below(4) {
            0 => s[i] = rng.byte(),
            1 => {
                s.remove(i);
            }
            2 => s.insert(i, base32::ALPHABET[rng.below(32) as usize]),
            _ => s.truncate(i),
        }
    }
    s
}

/// An `nix_encodings` input: mostly valid encodings, lightly mutated.
pub fn generate_nix_input(rng: &mut Rng) -> Vec<u8> {
    let selector = rng.below(4) as u8;
    let mut out = vec![selector];
    let mut raw = vec![0u8; rng.below(80) as usize];
    rng.fill(&mut raw);
    match selector {
        0 => out.extend(raw),
        1 => out.extend(mutate(rng, base32::encode(&raw).into_bytes())),
        2 => {
            let algo = Algo::ALL[rng.below(4) as usize];
            let mut digest = vec![0u8; algo.size()];
            rng.fill(&mut digest);
            let hash = Hash::from_bytes(algo, &digest).expect("size");
            let encoding = ENCODINGS[rng.below(4) as usize];
            let with_algo = rng.below(4) != 0;
            let index = Algo::ALL.iter().position(|&a| a == algo).expect("known") as u8;
            // With a prefix: no expected algorithm, or the right one.
            out.push(if with_algo && rng.below(2) == 0 {
                4
            } else {
                index
            });
            out.extend(mutate(
                rng,
                hash.to_string(encoding, with_algo).into_bytes(),
            ));
        }
        _ => {
            let mut hash = [0u8; 20];
            rng.fill(&mut hash);
            let name: String = (0..1 + rng.below(40))
                .map(|_| b"abcXYZ019+-._?="[rng.below(15) as usize] as char)
                .collect();
            let path = StorePath::from_parts(&hash, &name).expect("valid name");
            out.extend(mutate(rng, path.full().into_bytes()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_base32_matches_nix_vectors() {
        // nix-hash --type sha256 --to-base32 of the empty string's SHA-256.
        let digest = chunker_core::digest::HashAlgo::Sha256.digest(b"");
        assert_eq!(
            reference_base32(&digest),
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
        );
        assert_eq!(reference_base32(&[]), "");
    }

    #[test]
    fn generated_inputs_are_mostly_valid() {
        let mut rng = Rng::new(7);
        let (mut hashes, mut parsed, mut paths, mut valid) = (0, 0, 0, 0);
        for _ in 0..2000 {
            let input = generate_nix_input(&mut rng);
            match input[0] {
                2 => {
                    hashes += 1;
                    let expected = match input[1] % 5 {
                        4 => None,
                        i => Some(Algo::ALL[i as usize]),
                    };
                    let text = String::from_utf8_lossy(&input[2..]);
                    parsed += Hash::parse(&text, expected).is_ok() as u32;
                }
                3 => {
                    paths += 1;
                    valid += valid_store_path(&String::from_utf8_lossy(&input[1..])) as u32;
                }
                _ => {}
            }
        }
        assert!(
            parsed * 3 > hashes,
            "{parsed} of {hashes} hash strings parse"
        );
        assert!(valid * 3 > paths, "{valid} of {paths} store paths valid");
    }

    #[test]
    fn valid_store_path_examples() {
        assert!(valid_store_path(
            "/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10"
        ));
        assert!(!valid_store_path(
            "/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello world"
        ));
        assert!(!valid_store_path(
            "/nix/store/e9yy7v61ipb5rx6i35zq1mvc2iqfmps1-x"
        ));
    }
}

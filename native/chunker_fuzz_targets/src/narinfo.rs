//! Narinfo files, signing keys and signatures.

use crate::input::{Input, Rng};
use chunker_core::nix::key::{PublicKey, SecretKey, Signature};
use chunker_core::nix::narinfo::Narinfo;
use chunker_core::nix::{base32, Algo, Hash, StorePath};

/// A fixed key pair for signing in the target (no randomness in a target).
fn test_key() -> SecretKey {
    let seed = [7u8; 32];
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    let mut pair = seed.to_vec();
    pair.extend_from_slice(signing.verifying_key().as_bytes());
    let text = format!("fuzz-1:{}", base64_encode(&pair));
    SecretKey::parse(&text).expect("valid test key")
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Target `narinfo_keys`: a selector byte, then text.
///
/// - 0: a narinfo that parses serializes, and the serialization parses to
///   the same narinfo and serializes identically; its fingerprint (when Nix
///   would compute one) has Nix's shape, and signing it makes it verify
///   with that key only.
/// - 1, 2, 3: a secret key, public key or signature string that parses
///   prints back exactly (canonical base 64), and a parsed secret key's
///   signatures verify with its public key.
pub fn narinfo_keys(bytes: &[u8]) {
    let mut input = Input::new(bytes);
    let selector = input.u8();
    let rest = input.rest();
    match selector % 4 {
        0 => narinfo(rest),
        1 => {
            let text = String::from_utf8_lossy(rest);
            if let Ok(key) = SecretKey::parse(&text) {
                assert_eq!(key.to_nix_string().as_str(), text);
                let public = key.public();
                assert_eq!(PublicKey::parse(&public.to_string()), Ok(public.clone()));
                let sig = key.sign(rest);
                let parsed = Signature::parse(&sig).expect("own signature parses");
                assert!(public.verify(rest, &parsed), "own signature verifies");
                assert!(!public.verify(b"other message", &parsed));
            }
        }
        2 => {
            let text = String::from_utf8_lossy(rest);
            if let Ok(key) = PublicKey::parse(&text) {
                assert_eq!(key.to_string(), text);
                let sig = Signature::parse(&test_key().sign(b"m")).expect("signature");
                // Another key's signature never verifies.
                if key != test_key().public() {
                    assert!(!key.verify(b"m", &sig));
                }
            }
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            if let Ok(sig) = Signature::parse(&text) {
                assert_eq!(sig.to_string(), text);
                assert!(!test_key().public().verify(rest, &sig) || sig.name() == "fuzz-1");
            }
        }
    }
}

fn narinfo(text: &[u8]) {
    let Ok(info) = Narinfo::parse(text) else {
        return;
    };
    let serialized = info.serialize().expect("a parsed narinfo serializes");
    let again = Narinfo::parse(serialized.as_bytes())
        .unwrap_or_else(|e| panic!("serialization does not parse: {e}\n{serialized}"));
    assert_eq!(again, info, "parse . serialize is not the identity");
    assert_eq!(again.serialize().as_deref(), Ok(serialized.as_str()));

    match info.fingerprint() {
        Ok(fp) => {
            assert!(info.nar_size > 0 && info.nar_hash.algo() == Algo::Sha256);
            let prefix = format!("1;{};sha256:", info.store_path);
            assert!(fp.starts_with(&prefix), "{fp}");
            assert_eq!(fp.matches(';').count(), 4, "{fp}");
            let key = test_key();
            let mut signed = info.clone();
            let sig = signed.sign(&key).expect("fingerprint exists");
            assert!(signed.sigs.contains(&sig));
            assert_eq!(signed.verify(&[&key.public()]), Ok(true));
            // A different key with the same name must not verify it.
            let other = SecretKey::parse(&format!(
                "fuzz-1:{}",
                base64_encode(&{
                    let seed = [9u8; 32];
                    let s = ed25519_dalek::SigningKey::from_bytes(&seed);
                    let mut v = seed.to_vec();
                    v.extend_from_slice(s.verifying_key().as_bytes());
                    v
                })
            ))
            .expect("valid key");
            if !info.sigs.iter().any(|s| s.starts_with("fuzz-1:")) {
                assert_eq!(signed.verify(&[&other.public()]), Ok(false));
            }
        }
        Err(_) => assert!(info.nar_size == 0 || info.nar_hash.algo() != Algo::Sha256),
    }
}

fn store_path(rng: &mut Rng) -> StorePath {
    let mut hash = [0u8; 20];
    rng.fill(&mut hash);
    let name: String = (0..1 + rng.below(20))
        .map(|_| b"abcxyz0189+-._?="[rng.below(16) as usize] as char)
        .collect();
    StorePath::from_parts(&hash, &name).expect("valid name")
}

/// Line-level edits: drop, duplicate or garble a line, or flip a byte.
fn mutate_lines(rng: &mut Rng, text: String) -> Vec<u8> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if rng.below(2) == 0 || lines.is_empty() {
        return text.into_bytes();
    }
    let i = rng.below(lines.len() as u64) as usize;
    match rng.below(4) {
        0 => {
            lines.remove(i);
        }
        1 => {
            let l = lines[i].clone();
            lines.insert(i, l);
        }
        2 => lines[i] = lines[i].replacen(": ", ":", 1),
        _ => {
            let mut b = std::mem::take(&mut lines[i]).into_bytes();
            if !b.is_empty() {
                let j = rng.below(b.len() as u64) as usize;
                b[j] = b"0z :-\n\r"[rng.below(7) as usize];
            }
            lines[i] = String::from_utf8_lossy(&b).into_owned();
        }
    }
    let mut out = lines.join("\n");
    if rng.below(2) == 0 {
        out.push('\n');
    }
    out.into_bytes()
}

/// A `narinfo_keys` input: a valid narinfo or key string, often edited.
pub fn generate_narinfo_input(rng: &mut Rng) -> Vec<u8> {
    let selector = rng.below(4) as u8;
    let mut out = vec![selector];
    match selector {
        0 => {
            let algo = if rng.below(4) == 0 {
                Algo::Sha512
            } else {
                Algo::Sha256
            };
            let mut digest = vec![0u8; algo.size()];
            rng.fill(&mut digest);
            let nar_hash = Hash::from_bytes(algo, &digest).expect("size");
            let refs: Vec<String> = (0..rng.below(4))
                .map(|_| store_path(rng).base_name().to_owned())
                .collect();
            let mut text = format!(
                "StorePath: {}\nURL: nar/{}.nar.xz\nCompression: xz\nNarHash: {}\nNarSize: {}\nReferences: {}\n",
                store_path(rng),
                base32::encode(&digest[..20]),
                nar_hash.to_string(chunker_core::nix::Encoding::Base32, true),
                rng.below(3) * rng.below(1 << 40),
                refs.join(" ")
            );
            if rng.below(2) == 0 {
                text.push_str(&format!("Deriver: {}.drv\n", store_path(rng).base_name()));
            }
            if rng.below(2) == 0 {
                text.push_str(&format!("Sig: {}\n", test_key().sign(b"x")));
            }
            if rng.below(3) == 0 {
                text.push_str("X-Unknown: kept\n");
            }
            out.extend(mutate_lines(rng, text));
        }
        _ => {
            let key = test_key();
            let text = match selector {
                1 => key.to_nix_string().to_string(),
                2 => key.public().to_string(),
                _ => key.sign(&rng.next_u64().to_le_bytes()),
            };
            let mut bytes = text.into_bytes();
            if rng.below(2) == 0 && !bytes.is_empty() {
                let i = rng.below(bytes.len() as u64) as usize;
                bytes[i] = b"A/+=:a \x00"[rng.below(8) as usize];
            }
            out.extend(bytes);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_narinfos_mostly_parse() {
        let mut rng = Rng::new(3);
        let (mut total, mut ok) = (0, 0);
        for _ in 0..400 {
            let input = generate_narinfo_input(&mut rng);
            if input[0] == 0 {
                total += 1;
                ok += Narinfo::parse(&input[1..]).is_ok() as u32;
                narinfo_keys(&input);
            }
        }
        assert!(ok * 3 > total, "{ok} of {total} parse");
    }
}

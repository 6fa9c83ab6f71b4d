//! Nix signing keys and signatures: `name:base64` strings exactly as
//! `nix-store --generate-binary-cache-key` writes them (secret: the 64-byte
//! Ed25519 keypair, seed then public key; public: 32 bytes) and signatures
//! `name:base64(64 bytes)`.
//!
//! Secret material lives in [`SecretKey`], which zeroizes it on drop and
//! never prints it (`Debug` shows the name and the public key only).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use std::fmt;
use zeroize::Zeroizing;

/// Why a key or signature string was rejected. No variant carries key bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No `:` between name and payload.
    MissingColon,
    EmptyName,
    /// A name with `:`, whitespace or control characters.
    InvalidName,
    /// The payload is not canonical padded base 64.
    BadBase64,
    /// The payload decodes to this many bytes (expected 64 or 32).
    WrongLength(usize),
    /// A public key that is not a valid curve point.
    InvalidPoint,
    /// A secret key whose public half does not match its seed.
    MismatchedPublicKey,
    /// No randomness available to generate a key.
    Random,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MissingColon => f.write_str("expected name:base64"),
            Error::EmptyName => f.write_str("empty key name"),
            Error::InvalidName => f.write_str("key name contains ':', whitespace or controls"),
            Error::BadBase64 => f.write_str("invalid base 64"),
            Error::WrongLength(n) => write!(f, "payload has wrong length {n}"),
            Error::InvalidPoint => f.write_str("public key is not a valid Ed25519 point"),
            Error::MismatchedPublicKey => f.write_str("secret key's public half does not match"),
            Error::Random => f.write_str("no randomness available"),
        }
    }
}

impl std::error::Error for Error {}

/// Checks a key name: non-empty, no `:`, no whitespace or control characters
/// (the name ends up in `Sig:` lines).
pub fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        Err(Error::EmptyName)
    } else if name
        .chars()
        .any(|c| c == ':' || c.is_whitespace() || c.is_control())
    {
        Err(Error::InvalidName)
    } else {
        Ok(())
    }
}

/// Splits `name:base64` and decodes the payload (zeroized when dropped).
fn split(s: &str, len: usize) -> Result<(&str, Zeroizing<Vec<u8>>), Error> {
    let (name, payload) = s.split_once(':').ok_or(Error::MissingColon)?;
    check_name(name)?;
    let bytes = Zeroizing::new(B64.decode(payload).map_err(|_| Error::BadBase64)?);
    if bytes.len() != len {
        return Err(Error::WrongLength(bytes.len()));
    }
    Ok((name, bytes))
}

/// An Ed25519 secret key with its name. Zeroized on drop.
pub struct SecretKey {
    name: String,
    key: SigningKey,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}, public {})", self.name, self.public())
    }
}

impl SecretKey {
    /// A new random key (from the operating system's generator).
    pub fn generate(name: &str) -> Result<Self, Error> {
        check_name(name)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(seed.as_mut()).map_err(|_| Error::Random)?;
        Ok(SecretKey {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Parses `name:base64(seed ++ public key)`; the public half must match.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let (name, bytes) = split(s, 64)?;
        let pair: &[u8; 64] = bytes.as_slice().try_into().expect("length checked");
        let key = SigningKey::from_keypair_bytes(pair).map_err(|_| Error::MismatchedPublicKey)?;
        Ok(SecretKey {
            name: name.to_string(),
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key in Nix's format. This is secret: the caller decides where it goes.
    pub fn to_nix_string(&self) -> Zeroizing<String> {
        let pair = Zeroizing::new(self.key.to_keypair_bytes());
        let mut s = Zeroizing::new(String::with_capacity(self.name.len() + 89));
        s.push_str(&self.name);
        s.push(':');
        B64.encode_string(pair.as_ref(), &mut s);
        s
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// Signs `message`; returns `name:base64(signature)`.
    pub fn sign(&self, message: &[u8]) -> String {
        format!(
            "{}:{}",
            self.name,
            B64.encode(self.key.sign(message).to_bytes())
        )
    }
}

/// An Ed25519 public key with its name.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    name: String,
    key: VerifyingKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, B64.encode(self.key.as_bytes()))
    }
}

impl PublicKey {
    /// Parses `name:base64(32 bytes)`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let (name, bytes) = split(s, 32)?;
        let raw: &[u8; 32] = bytes.as_slice().try_into().expect("length checked");
        let key = VerifyingKey::from_bytes(raw).map_err(|_| Error::InvalidPoint)?;
        Ok(PublicKey {
            name: name.to_string(),
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw 32-byte key.
    pub fn bytes(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// Whether `signature` (`name:base64`) is this key's valid signature of
    /// `message`. A signature by another name is not (as in Nix).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        signature.name == self.name && self.key.verify_strict(message, &signature.sig).is_ok()
    }
}

/// A parsed signature `name:base64(64 bytes)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    name: String,
    sig: ed25519_dalek::Signature,
}

impl Signature {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let (name, bytes) = split(s, 64)?;
        let raw: &[u8; 64] = bytes.as_slice().try_into().expect("length checked");
        Ok(Signature {
            name: name.to_string(),
            sig: ed25519_dalek::Signature::from_bytes(raw),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw 64-byte signature.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.sig.to_bytes()
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, B64.encode(self.sig.to_bytes()))
    }
}

/// Whether any of `signatures` (strings; malformed ones are skipped) is a
/// valid signature of `message` by a trusted key of the same name.
pub fn verify_any<S: AsRef<str>>(message: &[u8], signatures: &[S], trusted: &[&PublicKey]) -> bool {
    signatures
        .iter()
        .any(|s| match Signature::parse(s.as_ref()) {
            Ok(sig) => trusted.iter().any(|k| k.verify(message, &sig)),
            Err(_) => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_parse_format_sign_verify() {
        let sk = SecretKey::generate("test-1").unwrap();
        let again = SecretKey::parse(&sk.to_nix_string()).unwrap();
        assert_eq!(again.public(), sk.public());
        let pk = PublicKey::parse(&sk.public().to_string()).unwrap();
        let sig = sk.sign(b"hello");
        assert!(sig.starts_with("test-1:"));
        assert_eq!(sig, again.sign(b"hello"), "Ed25519 is deterministic");
        assert!(verify_any(b"hello", &[&sig], &[&pk]));
        assert!(!verify_any(b"hellO", &[&sig], &[&pk]));
        let other = SecretKey::generate("test-2").unwrap().public();
        assert!(!verify_any(b"hello", &[&sig], &[&other]));
        assert!(!verify_any(b"hello", &["junk", "x:AAAA"], &[&pk]));
        assert!(!format!("{sk:?}").contains(&sk.to_nix_string()[7..]));
    }

    #[test]
    fn rejects_malformed_keys() {
        let sk = SecretKey::generate("k").unwrap();
        let s = sk.to_nix_string();
        let payload = &s[2..];
        assert_eq!(SecretKey::parse(payload).err(), Some(Error::MissingColon));
        assert_eq!(
            SecretKey::parse(&format!(":{payload}")).err(),
            Some(Error::EmptyName)
        );
        assert_eq!(
            SecretKey::parse(&format!("a b:{payload}")).err(),
            Some(Error::InvalidName)
        );
        assert_eq!(
            SecretKey::parse("k:AAAA").err(),
            Some(Error::WrongLength(3))
        );
        assert_eq!(SecretKey::parse("k:AAA").err(), Some(Error::BadBase64));
        // A keypair whose public half belongs to another key.
        let mut pair = sk.key.to_keypair_bytes();
        pair[40] ^= 1;
        let bad = format!("k:{}", B64.encode(pair));
        assert_eq!(
            SecretKey::parse(&bad).err(),
            Some(Error::MismatchedPublicKey)
        );
        assert_eq!(PublicKey::parse(&s).err(), Some(Error::WrongLength(64)));
        assert_eq!(SecretKey::generate("").err(), Some(Error::EmptyName));
        assert_eq!(SecretKey::generate("a:b").err(), Some(Error::InvalidName));
    }

    proptest::proptest! {
        #[test]
        fn parsing_arbitrary_strings_never_panics(s in "[A-Za-z0-9+/=: -]{0,120}") {
            let _ = SecretKey::parse(&s);
            let _ = PublicKey::parse(&s);
            let _ = Signature::parse(&s);
        }
    }
}

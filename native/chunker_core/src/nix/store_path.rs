//! Store paths `/nix/store/<32 base-32 chars>-<name>`: parsing with Nix's
//! rules and computing fixed-output paths as Nix's `makeStorePath` does.

use super::base32;
use super::hash::{Algo, Encoding, Hash};
use std::fmt;

/// The store directory every path here lives in.
pub const STORE_DIR: &str = "/nix/store";
/// Length of the hash part (20 bytes in base 32).
pub const HASH_LEN: usize = 32;
/// Longest allowed name.
pub const NAME_MAX: usize = 211;

/// Why a store path (or name) was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Not under `/nix/store/`, or has more path components.
    NotInStore,
    /// Shorter than a hash part and a `-`.
    TooShort,
    /// A character outside the base-32 alphabet in the hash part.
    InvalidHashChar(char),
    /// No `-` after the hash part.
    MissingDash,
    EmptyName,
    NameTooLong(usize),
    /// A name character Nix does not allow.
    InvalidNameChar(char),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotInStore => write!(f, "not a path directly under {STORE_DIR}"),
            Error::TooShort => f.write_str("store path is too short"),
            Error::InvalidHashChar(c) => write!(f, "invalid base-32 character {c:?} in hash"),
            Error::MissingDash => f.write_str("missing '-' after the hash part"),
            Error::EmptyName => f.write_str("empty name"),
            Error::NameTooLong(n) => write!(f, "name is {n} characters, at most {NAME_MAX}"),
            Error::InvalidNameChar(c) => write!(f, "invalid character {c:?} in name"),
        }
    }
}

impl std::error::Error for Error {}

/// A validated store path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StorePath {
    /// `<hash>-<name>`; ordering by base name is Nix's.
    base_name: String,
}

impl StorePath {
    /// Parses a full path `/nix/store/<hash>-<name>`.
    pub fn parse(path: &str) -> Result<Self, Error> {
        let base = path
            .strip_prefix(STORE_DIR)
            .and_then(|p| p.strip_prefix('/'))
            .ok_or(Error::NotInStore)?;
        if base.contains('/') {
            return Err(Error::NotInStore);
        }
        Self::from_base_name(base)
    }

    /// Parses a base name `<hash>-<name>` (as in narinfo `References`).
    pub fn from_base_name(base: &str) -> Result<Self, Error> {
        let bytes = base.as_bytes();
        if bytes.len() < HASH_LEN + 1 {
            return Err(Error::TooShort);
        }
        if let Some(&c) = bytes[..HASH_LEN]
            .iter()
            .find(|&&c| !base32::ALPHABET.contains(&c))
        {
            return Err(Error::InvalidHashChar(c as char));
        }
        if bytes[HASH_LEN] != b'-' {
            return Err(Error::MissingDash);
        }
        check_name(&base[HASH_LEN + 1..])?;
        Ok(StorePath {
            base_name: base.to_string(),
        })
    }

    /// The path for a 20-byte hash and a name.
    pub fn from_parts(hash: &[u8; 20], name: &str) -> Result<Self, Error> {
        check_name(name)?;
        Ok(StorePath {
            base_name: format!("{}-{name}", base32::encode(hash)),
        })
    }

    /// The 32-character base-32 hash part.
    pub fn hash_part(&self) -> &str {
        &self.base_name[..HASH_LEN]
    }

    pub fn name(&self) -> &str {
        &self.base_name[HASH_LEN + 1..]
    }

    /// `<hash>-<name>`.
    pub fn base_name(&self) -> &str {
        &self.base_name
    }

    /// `/nix/store/<hash>-<name>`.
    pub fn full(&self) -> String {
        format!("{STORE_DIR}/{}", self.base_name)
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{STORE_DIR}/{}", self.base_name)
    }
}

/// Checks a store path name as Nix 2.8 does: 1..=211 characters from
/// `[A-Za-z0-9+-._?=]`.
pub fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::EmptyName);
    }
    if name.len() > NAME_MAX {
        return Err(Error::NameTooLong(name.len()));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "+-._?=".contains(c)))
    {
        return Err(Error::InvalidNameChar(c));
    }
    Ok(())
}

/// Nix's `makeStorePath`: SHA-256 of `<type>:<algo>:<base16 hash>:/nix/store:<name>`,
/// XOR-folded to 20 bytes, printed in base 32.
pub fn make_store_path(kind: &str, hash: &Hash, name: &str) -> Result<StorePath, Error> {
    check_name(name)?;
    let fingerprint = format!(
        "{kind}:{}:{STORE_DIR}:{name}",
        hash.to_string(Encoding::Base16, true)
    );
    StorePath::from_parts(
        &compress(Hash::sha256(fingerprint.as_bytes()).digest()),
        name,
    )
}

/// XOR-folds a digest to 20 bytes (Nix's `compressHash`).
pub fn compress(digest: &[u8]) -> [u8; 20] {
    let mut out = [0u8; 20];
    for (i, b) in digest.iter().enumerate() {
        out[i % 20] ^= b;
    }
    out
}

/// The store path of a fixed-output (content-addressed) path, as
/// `nix-store --add-fixed [--recursive] <algo>` computes it. `hash` is of the
/// file's contents (flat) or of its NAR (recursive). References are allowed
/// only for recursive SHA-256 ("source") paths.
pub fn fixed_output_path(
    name: &str,
    hash: &Hash,
    recursive: bool,
    references: &[StorePath],
) -> Result<StorePath, FixedOutputError> {
    if recursive && hash.algo() == Algo::Sha256 {
        let mut refs: Vec<&StorePath> = references.iter().collect();
        refs.sort();
        refs.dedup();
        let mut kind = String::from("source");
        for r in refs {
            kind.push(':');
            kind.push_str(&r.full());
        }
        return Ok(make_store_path(&kind, hash, name)?);
    }
    if !references.is_empty() {
        return Err(FixedOutputError::References);
    }
    let inner = format!(
        "fixed:out:{}{}:",
        if recursive { "r:" } else { "" },
        hash.to_string(Encoding::Base16, true)
    );
    Ok(make_store_path(
        "output:out",
        &Hash::sha256(inner.as_bytes()),
        name,
    )?)
}

/// Why a fixed-output path could not be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixedOutputError {
    Name(Error),
    /// References with a flat or non-SHA-256 hash.
    References,
}

impl From<Error> for FixedOutputError {
    fn from(e: Error) -> Self {
        FixedOutputError::Name(e)
    }
}

impl fmt::Display for FixedOutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixedOutputError::Name(e) => e.fmt(f),
            FixedOutputError::References => {
                f.write_str("only recursive sha256 paths may have references")
            }
        }
    }
}

impl std::error::Error for FixedOutputError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let p = StorePath::parse("/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10").unwrap();
        assert_eq!(p.hash_part(), "w9yy7v61ipb5rx6i35zq1mvc2iqfmps1");
        assert_eq!(p.name(), "hello-2.10");
        assert_eq!(
            p.to_string(),
            "/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10"
        );
        let bad = [
            (
                "/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1",
                Error::TooShort,
            ),
            (
                "/nix/stor/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-a",
                Error::NotInStore,
            ),
            (
                "/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-a/b",
                Error::NotInStore,
            ),
            (
                "/nix/store/e9yy7v61ipb5rx6i35zq1mvc2iqfmps1-a",
                Error::InvalidHashChar('e'),
            ),
            (
                "/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1_a",
                Error::MissingDash,
            ),
            (
                "/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-",
                Error::EmptyName,
            ),
            (
                "/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-a b",
                Error::InvalidNameChar(' '),
            ),
        ];
        for (path, err) in bad {
            assert_eq!(StorePath::parse(path), Err(err), "{path}");
        }
        let long = format!(
            "/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-{}",
            "a".repeat(212)
        );
        assert_eq!(StorePath::parse(&long), Err(Error::NameTooLong(212)));
        assert!(StorePath::parse(&long[..long.len() - 1]).is_ok());
        assert!(StorePath::parse("/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-.a+-._?=Z0").is_ok());
    }

    /// Checked with `nix-store --store /tmp/x --add-fixed [--recursive] sha256`
    /// (Nix 2.8) on a file `a` containing "hi\n" and a directory `d` holding it.
    #[test]
    fn fixed_output_paths_match_nix() {
        let flat = Hash::parse(
            "sha256:98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4",
            None,
        )
        .unwrap();
        assert_eq!(
            fixed_output_path("a", &flat, false, &[])
                .unwrap()
                .to_string(),
            "/nix/store/hrvjkyf8i9yx8dmgfbqlsr7xlxa6wmfw-a"
        );
        let nar = Hash::parse(
            "sha256:19l59z9nbs59axnhw6iqsz5bdagqb22kf0dp2zhkiq5m4b6k5247",
            None,
        )
        .unwrap();
        assert_eq!(
            fixed_output_path("d", &nar, true, &[]).unwrap().to_string(),
            "/nix/store/qhr2hq2mkiszwi1xg99cl89vw8xsx3yl-d"
        );
        let r = StorePath::parse("/nix/store/hrvjkyf8i9yx8dmgfbqlsr7xlxa6wmfw-a").unwrap();
        assert_eq!(
            fixed_output_path("a", &flat, false, &[r]),
            Err(FixedOutputError::References)
        );
    }
}

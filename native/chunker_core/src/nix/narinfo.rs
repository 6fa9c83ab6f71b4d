//! Narinfo files: parsing (tolerant of unknown fields, strict on malformed
//! known ones), serialization in Nix's field order, fingerprints, signing
//! and verification.

use super::hash::{Algo, Encoding, Hash};
use super::key::{self, PublicKey, SecretKey};
use super::store_path::{self, StorePath};
use std::fmt;

/// A parsed narinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narinfo {
    pub store_path: StorePath,
    pub url: String,
    /// `bzip2` when the file has no `Compression` line (as in Nix).
    pub compression: String,
    pub file_hash: Option<Hash>,
    pub file_size: Option<u64>,
    pub nar_hash: Hash,
    pub nar_size: u64,
    /// In file order (Nix writes them sorted).
    pub references: Vec<StorePath>,
    pub deriver: Option<StorePath>,
    pub system: Option<String>,
    pub sigs: Vec<String>,
    pub ca: Option<String>,
    /// Unknown fields, kept in order and written back last.
    pub extra: Vec<(String, String)>,
}

/// Why a narinfo was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Not valid UTF-8.
    NotUtf8,
    /// A line without `": "`.
    MissingColon,
    /// An empty field name.
    EmptyField,
    /// A field that may appear once appears again.
    Duplicate(&'static str),
    /// A required field (`StorePath`, `URL`, `NarHash`, `NarSize`) is missing.
    Missing(&'static str),
    StorePath(&'static str, store_path::Error),
    Hash(&'static str, super::hash::Error),
    /// A size that is not a decimal integer below 2^64 (or `NarSize: 0`).
    Integer(&'static str),
    /// An empty value where one is required.
    Empty(&'static str),
    /// A value containing a newline (when serializing).
    Newline(String),
}

/// A narinfo error: the 1-based line (0 for the whole file) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: usize,
    pub reason: Reason,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "narinfo line {}: {:?}", self.line, self.reason)
    }
}

impl std::error::Error for Error {}

/// Why a fingerprint cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FingerprintError {
    /// Nix refuses a zero `NarSize`.
    ZeroNarSize,
    /// Nix fingerprints only SHA-256 NAR hashes.
    NotSha256,
}

fn err(line: usize, reason: Reason) -> Error {
    Error { line, reason }
}

impl Narinfo {
    /// Parses narinfo text. Lines are `Name: value`; the last newline may be
    /// missing. Unknown fields are kept in [`extra`](Self::extra).
    pub fn parse(text: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(text).map_err(|e| {
            let line = text[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            err(line, Reason::NotUtf8)
        })?;
        let body = text.strip_suffix('\n').unwrap_or(text);
        let mut store_path = None;
        let mut url = None;
        let mut compression = None;
        let mut file_hash = None;
        let mut file_size = None;
        let mut nar_hash = None;
        let mut nar_size = None;
        let mut references = None;
        let mut deriver = None;
        let mut system = None;
        let mut sigs = Vec::new();
        let mut ca = None;
        let mut extra = Vec::new();
        if !body.is_empty() {
            for (i, line) in body.split('\n').enumerate() {
                let n = i + 1;
                let (name, value) = line
                    .split_once(": ")
                    .ok_or_else(|| err(n, Reason::MissingColon))?;
                if name.is_empty() {
                    return Err(err(n, Reason::EmptyField));
                }
                fn once<T>(
                    slot: &mut Option<T>,
                    v: T,
                    n: usize,
                    f: &'static str,
                ) -> Result<(), Error> {
                    if slot.replace(v).is_some() {
                        return Err(err(n, Reason::Duplicate(f)));
                    }
                    Ok(())
                }
                let path = |f: &'static str| {
                    StorePath::parse(value).map_err(|e| err(n, Reason::StorePath(f, e)))
                };
                let base = |f: &'static str, v: &str| {
                    StorePath::from_base_name(v).map_err(|e| err(n, Reason::StorePath(f, e)))
                };
                let hash = |f: &'static str| {
                    Hash::parse(value, None).map_err(|e| err(n, Reason::Hash(f, e)))
                };
                let int = |f: &'static str| {
                    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(err(n, Reason::Integer(f)));
                    }
                    value.parse::<u64>().map_err(|_| err(n, Reason::Integer(f)))
                };
                let nonempty = |f: &'static str| {
                    if value.is_empty() {
                        Err(err(n, Reason::Empty(f)))
                    } else {
                        Ok(value.to_string())
                    }
                };
                match name {
                    "StorePath" => once(&mut store_path, path("StorePath")?, n, "StorePath")?,
                    "URL" => once(&mut url, nonempty("URL")?, n, "URL")?,
                    "Compression" => {
                        once(&mut compression, nonempty("Compression")?, n, "Compression")?
                    }
                    "FileHash" => once(&mut file_hash, hash("FileHash")?, n, "FileHash")?,
                    "FileSize" => once(&mut file_size, int("FileSize")?, n, "FileSize")?,
                    "NarHash" => once(&mut nar_hash, hash("NarHash")?, n, "NarHash")?,
                    "NarSize" => {
                        let size = int("NarSize")?;
                        if size == 0 {
                            return Err(err(n, Reason::Integer("NarSize")));
                        }
                        once(&mut nar_size, size, n, "NarSize")?
                    }
                    "References" => {
                        let refs = value
                            .split(' ')
                            .filter(|r| !r.is_empty())
                            .map(|r| base("References", r))
                            .collect::<Result<Vec<_>, _>>()?;
                        once(&mut references, refs, n, "References")?
                    }
                    "Deriver" => {
                        let d = if value == "unknown-deriver" {
                            None
                        } else {
                            Some(base("Deriver", value)?)
                        };
                        once(&mut deriver, d, n, "Deriver")?
                    }
                    "System" => once(&mut system, value.to_string(), n, "System")?,
                    "Sig" => sigs.push(nonempty("Sig")?),
                    "CA" => once(&mut ca, nonempty("CA")?, n, "CA")?,
                    _ => extra.push((name.to_string(), value.to_string())),
                }
            }
        }
        Ok(Narinfo {
            store_path: store_path.ok_or_else(|| err(0, Reason::Missing("StorePath")))?,
            url: url.ok_or_else(|| err(0, Reason::Missing("URL")))?,
            compression: compression.unwrap_or_else(|| "bzip2".to_string()),
            file_hash,
            file_size,
            nar_hash: nar_hash.ok_or_else(|| err(0, Reason::Missing("NarHash")))?,
            nar_size: nar_size.ok_or_else(|| err(0, Reason::Missing("NarSize")))?,
            references: references.unwrap_or_default(),
            deriver: deriver.flatten(),
            system,
            sigs,
            ca,
            extra,
        })
    }

    /// The text, in Nix's field order, hashes as `algo:base32`, unknown
    /// fields last. Values containing a newline are rejected.
    pub fn serialize(&self) -> Result<String, Error> {
        let mut out = String::with_capacity(512);
        let mut field = |name: &str, value: &str| {
            if value.contains('\n') || name.contains('\n') || name.contains(": ") {
                return Err(err(0, Reason::Newline(name.to_string())));
            }
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push('\n');
            Ok(())
        };
        field("StorePath", &self.store_path.to_string())?;
        field("URL", &self.url)?;
        field("Compression", &self.compression)?;
        if let Some(h) = &self.file_hash {
            field("FileHash", &h.to_string(Encoding::Base32, true))?;
        }
        if let Some(s) = self.file_size {
            field("FileSize", &s.to_string())?;
        }
        field("NarHash", &self.nar_hash.to_string(Encoding::Base32, true))?;
        field("NarSize", &self.nar_size.to_string())?;
        let refs: Vec<&str> = self.references.iter().map(|r| r.base_name()).collect();
        field("References", &refs.join(" "))?;
        if let Some(d) = &self.deriver {
            field("Deriver", d.base_name())?;
        }
        if let Some(s) = &self.system {
            field("System", s)?;
        }
        for s in &self.sigs {
            field("Sig", s)?;
        }
        if let Some(ca) = &self.ca {
            field("CA", ca)?;
        }
        for (k, v) in &self.extra {
            field(k, v)?;
        }
        Ok(out)
    }

    /// The string Nix signs:
    /// `1;<store path>;<nar hash as sha256:base32>;<nar size>;<sorted full reference paths, comma-separated>`.
    pub fn fingerprint(&self) -> Result<String, FingerprintError> {
        fingerprint(
            &self.store_path,
            &self.nar_hash,
            self.nar_size,
            &self.references,
        )
    }

    /// Signs the fingerprint and adds the `Sig` (unless already present).
    pub fn sign(&mut self, key: &SecretKey) -> Result<String, FingerprintError> {
        let sig = key.sign(self.fingerprint()?.as_bytes());
        if !self.sigs.contains(&sig) {
            self.sigs.push(sig.clone());
        }
        Ok(sig)
    }

    /// Whether any `Sig` verifies with a trusted key of the same name.
    pub fn verify(&self, trusted: &[&PublicKey]) -> Result<bool, FingerprintError> {
        Ok(key::verify_any(
            self.fingerprint()?.as_bytes(),
            &self.sigs,
            trusted,
        ))
    }
}

/// Nix's `ValidPathInfo::fingerprint`.
pub fn fingerprint(
    path: &StorePath,
    nar_hash: &Hash,
    nar_size: u64,
    references: &[StorePath],
) -> Result<String, FingerprintError> {
    if nar_size == 0 {
        return Err(FingerprintError::ZeroNarSize);
    }
    if nar_hash.algo() != Algo::Sha256 {
        return Err(FingerprintError::NotSha256);
    }
    let mut refs: Vec<&StorePath> = references.iter().collect();
    refs.sort();
    refs.dedup();
    let refs: Vec<String> = refs.iter().map(|r| r.full()).collect();
    Ok(format!(
        "1;{path};{};{nar_size};{}",
        nar_hash.to_string(Encoding::Base32, true),
        refs.join(",")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real narinfo from cache.nixos.org (shared with the Elixir tests and benches).
    const HELLO: &str = include_str!("../../../../test/fixtures/hello-2.10.narinfo");
    const CACHE_KEY: &str = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";

    #[test]
    fn real_narinfo_round_trips_and_verifies() {
        let n = Narinfo::parse(HELLO.as_bytes()).unwrap();
        assert_eq!(n.serialize().unwrap(), HELLO);
        assert_eq!(
            n.fingerprint().unwrap(),
            "1;/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10;\
             sha256:1mi14cqk363wv368ffiiy01knardmnlyphi6h9xv6dkjz44hk30i;205968;\
             /nix/store/9df65igwjmf2wbw0gbrrgair6piqjgmi-glibc-2.31,\
             /nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10"
        );
        let key = PublicKey::parse(CACHE_KEY).unwrap();
        assert_eq!(n.verify(&[&key]), Ok(true));
        let mut changed = n.clone();
        changed.nar_size += 1;
        assert_eq!(changed.verify(&[&key]), Ok(false));
    }

    #[test]
    fn reports_line_and_reason() {
        let bad = HELLO.replace("NarSize: 205968", "NarSize: 2x");
        assert_eq!(
            Narinfo::parse(bad.as_bytes()),
            Err(err(7, Reason::Integer("NarSize")))
        );
        let missing: String = HELLO
            .lines()
            .filter(|l| !l.starts_with("URL"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            Narinfo::parse(missing.as_bytes()),
            Err(err(0, Reason::Missing("URL")))
        );
        let dup = format!("{HELLO}NarSize: 1\n");
        assert_eq!(
            Narinfo::parse(dup.as_bytes()),
            Err(err(10, Reason::Duplicate("NarSize")))
        );
        let unknown = format!("{HELLO}X-Custom: yes\n");
        let n = Narinfo::parse(unknown.as_bytes()).unwrap();
        assert_eq!(n.extra, vec![("X-Custom".into(), "yes".into())]);
        assert_eq!(n.serialize().unwrap(), unknown);
    }

    proptest::proptest! {
        /// Any single-byte edit of a valid narinfo parses or gives an error
        /// on a line that exists; whatever parses serializes and re-parses
        /// to the same value.
        #[test]
        fn edits_never_panic(pos in 0usize..600, byte in proptest::prelude::any::<u8>(), op in 0u8..3) {
            let mut text = HELLO.as_bytes().to_vec();
            let pos = pos % text.len();
            match op {
                0 => text[pos] = byte,
                1 => { text.remove(pos); }
                _ => text.insert(pos, byte),
            }
            match Narinfo::parse(&text) {
                Ok(n) => {
                    let s = n.serialize().unwrap();
                    proptest::prop_assert_eq!(Narinfo::parse(s.as_bytes()).unwrap(), n);
                }
                Err(e) => proptest::prop_assert!(e.line <= HELLO.lines().count() + 1),
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "[A-Za-z:/ 0-9\n-]{0,300}") {
            let _ = Narinfo::parse(text.as_bytes());
        }
    }
}

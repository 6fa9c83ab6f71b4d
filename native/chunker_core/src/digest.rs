//! Digests: SHA-256 (SHA-NI where the CPU has it, detected at run time by
//! `sha2`) and BLAKE3 (multi-threaded with rayon for big inputs), one-shot,
//! incremental and batched.

use rayon::prelude::*;
use sha2::Digest as _;

/// Inputs at least this large are hashed by multi-threaded BLAKE3
/// ([`HashAlgo::digest_parallel`], [`Hasher::update_parallel`]); below it the
/// thread hand-off costs more than it saves.
pub const BLAKE3_PARALLEL_MIN: usize = 512 * 1024;

/// [`digest_batch`] hashes items on several threads when their total size is
/// at least this.
pub const BATCH_PARALLEL_MIN: usize = 256 * 1024;

/// A hash algorithm for chunk digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgo {
    Sha256,
    Blake3,
}

impl HashAlgo {
    /// Parses `"sha256"` or `"blake3"`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "blake3" => Some(Self::Blake3),
            _ => None,
        }
    }

    /// The algorithm's lower-case name, as Nix prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Blake3 => "blake3",
        }
    }

    /// One-shot digest of `data`.
    pub fn digest(self, data: &[u8]) -> [u8; 32] {
        match self {
            Self::Sha256 => sha2::Sha256::digest(data).into(),
            Self::Blake3 => *blake3::hash(data).as_bytes(),
        }
    }

    /// Like [`digest`](Self::digest), but BLAKE3 inputs of at least
    /// [`BLAKE3_PARALLEL_MIN`] bytes are hashed on all rayon threads.
    /// SHA-256 is inherently sequential and is computed on one thread.
    pub fn digest_parallel(self, data: &[u8]) -> [u8; 32] {
        match self {
            Self::Blake3 if data.len() >= BLAKE3_PARALLEL_MIN => {
                crate::threads::init_global_pool();
                *blake3::Hasher::new()
                    .update_rayon(data)
                    .finalize()
                    .as_bytes()
            }
            _ => self.digest(data),
        }
    }
}

/// Digests of many inputs, in order. When the total size is at least
/// [`BATCH_PARALLEL_MIN`] the items are spread over the rayon threads.
pub fn digest_batch<T: AsRef<[u8]> + Sync>(algo: HashAlgo, items: &[T]) -> Vec<[u8; 32]> {
    let total: usize = items.iter().map(|i| i.as_ref().len()).sum();
    if total >= BATCH_PARALLEL_MIN && items.len() > 1 {
        crate::threads::init_global_pool();
        items
            .par_iter()
            .with_max_len(1)
            .map(|i| algo.digest_parallel(i.as_ref()))
            .collect()
    } else {
        items.iter().map(|i| algo.digest(i.as_ref())).collect()
    }
}

/// An incremental hasher for either algorithm.
#[derive(Clone)]
pub enum Hasher {
    Sha256(sha2::Sha256),
    Blake3(Box<blake3::Hasher>),
}

impl Hasher {
    /// A fresh hasher for `algo`.
    pub fn new(algo: HashAlgo) -> Self {
        match algo {
            HashAlgo::Sha256 => Self::Sha256(sha2::Sha256::new()),
            HashAlgo::Blake3 => Self::Blake3(Box::new(blake3::Hasher::new())),
        }
    }

    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(data),
            Self::Blake3(h) => {
                h.update(data);
            }
        }
    }

    /// Feeds more bytes; big BLAKE3 updates (at least
    /// [`BLAKE3_PARALLEL_MIN`]) use all rayon threads.
    pub fn update_parallel(&mut self, data: &[u8]) {
        match self {
            Self::Blake3(h) if data.len() >= BLAKE3_PARALLEL_MIN => {
                crate::threads::init_global_pool();
                h.update_rayon(data);
            }
            _ => self.update(data),
        }
    }

    /// The algorithm this hasher computes.
    pub fn algo(&self) -> HashAlgo {
        match self {
            Self::Sha256(_) => HashAlgo::Sha256,
            Self::Blake3(_) => HashAlgo::Blake3,
        }
    }

    /// Returns the digest and resets the hasher for reuse.
    pub fn finalize_reset(&mut self) -> [u8; 32] {
        match self {
            Self::Sha256(h) => h.finalize_reset().into(),
            Self::Blake3(h) => {
                let out = *h.finalize().as_bytes();
                h.reset();
                out
            }
        }
    }
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sha256(_) => f.write_str("Hasher::Sha256"),
            Self::Blake3(_) => f.write_str("Hasher::Blake3"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for algo in [HashAlgo::Sha256, HashAlgo::Blake3] {
            let mut h = Hasher::new(algo);
            for piece in data.chunks(777) {
                h.update(piece);
            }
            assert_eq!(h.finalize_reset(), algo.digest(&data));
            h.update(b"abc");
            assert_eq!(h.finalize_reset(), algo.digest(b"abc"), "reset works");
        }
    }

    #[test]
    fn known_vectors() {
        // FIPS 180-2 "abc" and the BLAKE3 empty-input vector.
        assert_eq!(
            hex(&HashAlgo::Sha256.digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&HashAlgo::Blake3.digest(b"")),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn parallel_and_batch_equal_sequential() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 253) as u8).collect();
        for algo in [HashAlgo::Sha256, HashAlgo::Blake3] {
            assert_eq!(algo.digest_parallel(&data), algo.digest(&data));
            let mut h = Hasher::new(algo);
            h.update_parallel(&data[..1_000_000]);
            h.update_parallel(&data[1_000_000..1_000_001]);
            h.update_parallel(&data[1_000_001..]);
            assert_eq!(h.algo(), algo);
            assert_eq!(h.finalize_reset(), algo.digest(&data));
            let items: Vec<&[u8]> = data.chunks(100_003).collect();
            let expected: Vec<[u8; 32]> = items.iter().map(|i| algo.digest(i)).collect();
            assert_eq!(digest_batch(algo, &items), expected);
            let small: Vec<&[u8]> = items.iter().map(|i| &i[..10]).collect();
            let expected: Vec<[u8; 32]> = small.iter().map(|i| algo.digest(i)).collect();
            assert_eq!(digest_batch(algo, &small), expected);
        }
    }

    /// The official BLAKE3 test vectors (test_vectors.json from the BLAKE3
    /// repository): input byte i is i % 251; the first 32 bytes of the output.
    #[test]
    fn blake3_official_vectors() {
        let vectors: [(usize, &str); 8] = [
            (
                0,
                "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
            ),
            (
                1,
                "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
            ),
            (
                1023,
                "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11",
            ),
            (
                1024,
                "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7",
            ),
            (
                1025,
                "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444",
            ),
            (
                2048,
                "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a",
            ),
            (
                31744,
                "62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47",
            ),
            (
                102400,
                "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085",
            ),
        ];
        for (len, expected) in vectors {
            let input: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            assert_eq!(hex(&HashAlgo::Blake3.digest(&input)), expected, "len {len}");
            assert_eq!(hex(&HashAlgo::Blake3.digest_parallel(&input)), expected);
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

//! Benchmark data sets, deterministic for a given size.

use std::path::{Path, PathBuf};

/// Pseudo-random bytes (xorshift), incompressible.
pub fn random(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Real files: the OTP installation (or `CHUNKER_BENCH_DIR`) concatenated in
/// sorted order, repeated to `len` if the tree is smaller.
pub fn real(len: usize) -> Vec<u8> {
    let dir = std::env::var_os("CHUNKER_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(otp_root);
    let mut out = Vec::with_capacity(len);
    collect(&dir, len, &mut out);
    if out.is_empty() {
        return random(len);
    }
    let original = out.len();
    while out.len() < len {
        let take = original.min(len - out.len());
        out.extend_from_within(..take);
    }
    out.truncate(len);
    out
}

/// English-like text (words from a fixed list, pseudo-random order).
pub fn text(len: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "the ",
        "store ",
        "path ",
        "nix ",
        "chunk ",
        "of ",
        "a ",
        "cache ",
        "binary ",
        "hash ",
        "derivation ",
        "and ",
        "build ",
        "output ",
        "reference ",
        "\n",
    ];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(WORDS[(x >> 60) as usize].as_bytes());
    }
    out.truncate(len);
    out
}

/// Low-entropy data: 4 MiB zero runs between 64 KiB random blocks.
pub fn zero_runs(len: usize) -> Vec<u8> {
    let noise = random(64 << 10);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        out.extend_from_slice(&noise);
        out.resize(out.len() + (4 << 20), 0);
    }
    out.truncate(len);
    out
}

fn otp_root() -> PathBuf {
    ["/usr/lib/erlang", "/usr/local/lib/erlang", "/usr/lib"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_dir())
        .unwrap_or_else(|| PathBuf::from("/usr"))
}

fn collect(dir: &Path, len: usize, out: &mut Vec<u8>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if out.len() >= len {
            return;
        }
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            collect(&p, len, out);
        } else if meta.is_file() {
            if let Ok(bytes) = std::fs::read(&p) {
                out.extend_from_slice(&bytes);
            }
        }
    }
}

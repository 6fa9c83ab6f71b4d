//! Dedup of NAR chunking modes: the bytes a second NAR adds to a store
//! already holding the first (unique new chunks + the patch list).
//!
//! ```sh
//! # (a) two versions of the same software, as NARs
//! cargo run --release -p chunker_core --example nar_dedup -- pair OLD.nar NEW.nar
//! # (b) rebuild simulation: BASE.nar's files get /nix/store/<hash>-name
//! #     references; the second NAR has every hash replaced by another
//! cargo run --release -p chunker_core --example nar_dedup -- rebuild BASE.nar
//! ```

use chunker_core::cdc::ChunkerConfig;
use chunker_core::digest::HashAlgo;
use chunker_core::nar::refs::encode_patches;
use chunker_core::nar::{chunk_nar, encode_entries, entries, Kind, NarChunking};
use std::collections::HashSet;

const ALPHABET: &[u8] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// A deterministic pseudo-random generator (SplitMix64).
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn hash(&mut self) -> Vec<u8> {
        (0..32)
            .map(|_| ALPHABET[(self.next() % 32) as usize])
            .collect()
    }
}

fn added(old: &[u8], new: &[u8], how: &NarChunking, refs: (&[Vec<u8>], &[Vec<u8>])) -> u64 {
    let (a, _) = chunk_nar(old, how, refs.0, Some(HashAlgo::Sha256)).expect("old NAR");
    let (b, _) = chunk_nar(new, how, refs.1, Some(HashAlgo::Sha256)).expect("new NAR");
    let mut have: HashSet<[u8; 32]> = a.chunks.iter().map(|c| c.digest.unwrap()).collect();
    let mut bytes = 0u64;
    for c in &b.chunks {
        if have.insert(c.digest.unwrap()) {
            bytes += c.length as u64;
        }
    }
    if !refs.1.is_empty() {
        bytes += encode_patches(&b.patches).len() as u64;
    }
    bytes
}

/// Reference point: every file's contents chunked on its own (metadata
/// ignored), as a per-file chunking store would.
fn per_file(old: &[u8], new: &[u8], config: &ChunkerConfig) -> u64 {
    let digests = |nar: &[u8]| {
        let mut out = Vec::new();
        for e in entries(nar).expect("valid NAR") {
            if let Kind::Regular { size, contents, .. } = e.kind {
                let data = &nar[contents as usize..(contents + size) as usize];
                for c in config.chunks(data) {
                    let piece = &data[c.offset as usize..c.end() as usize];
                    out.push((HashAlgo::Sha256.digest(piece), c.length as u64));
                }
            }
        }
        out
    };
    let mut have: HashSet<[u8; 32]> = digests(old).into_iter().map(|(d, _)| d).collect();
    digests(new)
        .into_iter()
        .filter(|(d, _)| have.insert(*d))
        .map(|(_, n)| n)
        .sum()
}

fn table(old: &[u8], new: &[u8], refs: (&[Vec<u8>], &[Vec<u8>])) {
    println!("| min/avg/max | NAR size | plain | NAR-aware | NAR-aware + normalisation | aware vs plain | (each file alone) |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (min, avg, max) in [
        (131_072u64, 524_288u64, 2_097_152u64),
        (16_384, 65_536, 262_144),
    ] {
        let config = ChunkerConfig::new(min, avg, max, 1).expect("valid");
        let mode = |nar_aware| NarChunking {
            config,
            nar_aware,
            metadata_chunks: true,
        };
        let plain = added(old, new, &mode(false), (&[], &[]));
        let aware = added(old, new, &mode(true), (&[], &[]));
        let normalised = added(old, new, &mode(true), refs);
        let pct = |b: u64| format!("{} ({:.1}%)", b, 100.0 * b as f64 / new.len() as f64);
        println!(
            "| {}K/{}K/{}K | {} | {} | {} | {} | {:.0}% fewer | {} |",
            min / 1024,
            avg / 1024,
            max / 1024,
            new.len(),
            pct(plain),
            pct(aware),
            pct(normalised),
            100.0 * (1.0 - aware as f64 / plain.max(1) as f64),
            pct(per_file(old, new, &config)),
        );
    }
}

/// Re-encodes `base` with a reference to one of `refs` inserted every few
/// KiB of each file's contents (same positions for both hash sets).
fn with_refs(base: &[u8], refs: &[Vec<u8>], seed: u64) -> Vec<u8> {
    let list = entries(base).expect("valid NAR");
    let mut rng = Mix(seed);
    encode_entries(&list, Vec::new(), |e| {
        let Kind::Regular { size, contents, .. } = e.kind else {
            unreachable!("contents are asked for regular files only")
        };
        let data = &base[contents as usize..(contents + size) as usize];
        let mut out = Vec::with_capacity(data.len() + 256);
        let mut pos = 0;
        while pos < data.len() {
            let step = (1024 + rng.next() % 8192) as usize;
            let end = (pos + step).min(data.len());
            out.extend_from_slice(&data[pos..end]);
            if end < data.len() || data.len() < 1024 {
                out.extend_from_slice(b"/nix/store/");
                out.extend_from_slice(&refs[(rng.next() % refs.len() as u64) as usize]);
                out.extend_from_slice(b"-dep/lib");
            }
            pos = end;
        }
        out
    })
    .expect("re-encoding a parsed NAR")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let read = |p: &String| std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    match args.first().map(String::as_str) {
        Some("pair") if args.len() == 3 => {
            let (old, new) = (read(&args[1]), read(&args[2]));
            println!(
                "old: {} ({} bytes), new: {} ({} bytes)\n",
                args[1],
                old.len(),
                args[2],
                new.len()
            );
            table(&old, &new, (&[], &[]));
        }
        Some("rebuild") if args.len() == 2 => {
            let base = read(&args[1]);
            let mut rng = Mix(42);
            let old: Vec<Vec<u8>> = (0..12).map(|_| rng.hash()).collect();
            let new: Vec<Vec<u8>> = (0..12).map(|_| rng.hash()).collect();
            let (a, b) = (with_refs(&base, &old, 7), with_refs(&base, &new, 7));
            assert_eq!(a.len(), b.len());
            println!(
                "base: {} ({} bytes), with references: {} bytes\n",
                args[1],
                base.len(),
                a.len()
            );
            table(&a, &b, (&old, &new));
        }
        _ => eprintln!("usage: nar_dedup pair OLD.nar NEW.nar | nar_dedup rebuild BASE.nar"),
    }
}

//! NAR chunking: every mode tiles the NAR, rebuilds it byte-identically from
//! chunks + patches, never makes a padding-only chunk; NAR-aware chunks of a
//! file do not depend on its position; normalisation hides reference changes.

mod nar_support;

use chunker_core::cdc::ChunkerConfig;
use chunker_core::digest::HashAlgo;
use chunker_core::nar::refs::{decode_patches, encode_patches, PLACEHOLDER};
use chunker_core::nar::{chunk_nar, dump_path, rebuild, ChunkKind, Kind, NarChunking};
use nar_support::random_tree;
use rand::{rngs::SmallRng, Rng, RngCore, SeedableRng};
use std::fs;

const ALPHABET: &[u8] = b"0123456789abcdfghijklmnpqrsvwxyz";

fn hash(rng: &mut SmallRng) -> Vec<u8> {
    (0..32).map(|_| ALPHABET[rng.gen_range(0..32)]).collect()
}

fn modes(config: ChunkerConfig) -> Vec<NarChunking> {
    [(false, false), (true, false), (true, true)]
        .map(|(nar_aware, metadata_chunks)| NarChunking {
            config,
            nar_aware,
            metadata_chunks,
        })
        .to_vec()
}

fn dump(path: &std::path::Path) -> Vec<u8> {
    let mut nar = Vec::new();
    dump_path(path, &mut nar).unwrap();
    nar
}

/// Adds files embedding store paths of `refs` to the tree at `root` (a dir).
fn add_ref_files(root: &std::path::Path, refs: &[Vec<u8>], rng: &mut SmallRng) {
    for i in 0..3 {
        let mut body = Vec::new();
        for _ in 0..rng.gen_range(1..200) {
            let mut filler = vec![0u8; rng.gen_range(0..3000)];
            rng.fill_bytes(&mut filler);
            body.extend(filler);
            body.extend_from_slice(b"/nix/store/");
            body.extend_from_slice(&refs[rng.gen_range(0..refs.len())]);
            body.extend_from_slice(b"-glibc-2.40/lib");
        }
        fs::write(root.join(format!("refs{i}")), body).unwrap();
    }
}

#[test]
fn every_mode_rebuilds_byte_identically() {
    let mut rng = SmallRng::seed_from_u64(5);
    let configs = [
        ChunkerConfig::new(256, 1024, 4096, 1).unwrap(),
        ChunkerConfig::new(64, 256, 1024, 2).unwrap(),
    ];
    for seed in 300..330u64 {
        let (_guard, root) = random_tree(seed, 40_000);
        let refs: Vec<Vec<u8>> = (0..3).map(|_| hash(&mut rng)).collect();
        if root.is_dir() {
            add_ref_files(&root, &refs, &mut rng);
        }
        let nar = dump(&root);
        for config in configs {
            for how in modes(config) {
                for refs in [&refs[..0], &refs[..]] {
                    let (chunked, normalized) =
                        chunk_nar(&nar, &how, refs, Some(HashAlgo::Sha256)).unwrap();
                    let bytes = normalized.as_deref().unwrap_or(&nar);
                    let ctx = format!("seed {seed} {how:?} refs {}", refs.len());
                    let mut pos = 0u64;
                    let mut pieces = Vec::new();
                    for c in &chunked.chunks {
                        assert_eq!(c.offset, pos, "{ctx}: chunks tile the NAR");
                        assert!(c.length > 0 && c.length <= config.max_size(), "{ctx}");
                        let data = &bytes[c.offset as usize..c.offset as usize + c.length];
                        assert_eq!(c.digest, Some(HashAlgo::Sha256.digest(data)), "{ctx}");
                        assert!(!padding_only(&chunked.entries, c.offset, c.length), "{ctx}");
                        check_entries(&chunked.entries, c, nar.len() as u64, &ctx);
                        pieces.push(data);
                        pos += c.length as u64;
                    }
                    assert_eq!(pos, nar.len() as u64, "{ctx}");
                    let patches = decode_patches(&encode_patches(&chunked.patches)).unwrap();
                    assert_eq!(rebuild(pieces, &patches, refs).unwrap(), nar, "{ctx}");
                    if !refs.is_empty() && root.is_dir() {
                        assert!(!chunked.patches.is_empty(), "{ctx}");
                        assert!(bytes.windows(32).any(|w| w == PLACEHOLDER));
                    }
                    if !how.nar_aware {
                        let plain: Vec<_> = config.chunks(bytes).map(|c| c.length).collect();
                        let ours: Vec<_> = chunked.chunks.iter().map(|c| c.length).collect();
                        assert_eq!(ours, plain, "{ctx}: plain is FastCDC");
                    }
                }
            }
        }
    }
}

/// Whether `[offset, offset+len)` lies inside one file's padding.
fn padding_only(entries: &[chunker_core::nar::Entry], offset: u64, len: usize) -> bool {
    entries.iter().any(|e| match e.kind {
        Kind::Regular { size, contents, .. } => {
            let pad_start = contents + size;
            let pad_end = pad_start + (8 - size % 8) % 8;
            offset >= pad_start && offset + len as u64 <= pad_end
        }
        _ => false,
    })
}

/// The chunk's entry range is exactly the entries whose spans it overlaps.
fn check_entries(
    entries: &[chunker_core::nar::Entry],
    c: &chunker_core::nar::NarChunk,
    len: u64,
    ctx: &str,
) {
    let end = c.offset + c.length as u64;
    let overlapping: Vec<usize> = (0..entries.len())
        .filter(|&i| {
            let s = entries[i].start;
            let e = entries.get(i + 1).map_or(len, |n| n.start);
            s < end && c.offset < e
        })
        .collect();
    assert_eq!(
        (overlapping[0], *overlapping.last().unwrap()),
        c.entries,
        "{ctx}"
    );
    if c.kind == ChunkKind::Contents {
        let e = &entries[c.entries.0];
        assert!(matches!(e.kind, Kind::Regular { .. }), "{ctx}");
    }
}

#[test]
fn large_file_chunks_do_not_depend_on_position() {
    let mut rng = SmallRng::seed_from_u64(11);
    let config = ChunkerConfig::new(256, 1024, 4096, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let mut big = vec![0u8; 50_000];
    rng.fill_bytes(&mut big);
    for root in [&a, &b] {
        fs::create_dir(root).unwrap();
        fs::write(root.join("m-big"), &big).unwrap();
    }
    // b has different (and differently sized) neighbours before the file.
    for i in 0..20 {
        let mut small = vec![0u8; rng.gen_range(1..300)];
        rng.fill_bytes(&mut small);
        fs::write(b.join(format!("a-{i}")), small).unwrap();
    }
    let digests = |root: &std::path::Path, aware: bool| {
        let how = NarChunking {
            config,
            nar_aware: aware,
            metadata_chunks: true,
        };
        let nar = dump(root);
        let (c, _) = chunk_nar(&nar, &how, &[], Some(HashAlgo::Sha256)).unwrap();
        c.chunks
            .iter()
            .filter(|c| c.kind == ChunkKind::Contents)
            .map(|c| c.digest.unwrap())
            .collect::<std::collections::HashSet<_>>()
    };
    let (da, db) = (digests(&a, true), digests(&b, true));
    assert!(da.len() >= 10);
    assert!(da.is_subset(&db), "the big file's chunks are shared");
    // Plain FastCDC shares fewer: the shifted prefix changes the first cut.
    let plain = digests(&b, false);
    assert!(plain.len() <= da.len());
}

#[test]
fn normalisation_makes_rebuilds_identical() {
    let mut rng = SmallRng::seed_from_u64(12);
    let config = ChunkerConfig::new(256, 1024, 4096, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let old: Vec<Vec<u8>> = (0..4).map(|_| hash(&mut rng)).collect();
    let new: Vec<Vec<u8>> = (0..4).map(|_| hash(&mut rng)).collect();
    let a = dir.path().join("a");
    fs::create_dir(&a).unwrap();
    add_ref_files(&a, &old, &mut rng);
    std::os::unix::fs::symlink(
        format!(
            "/nix/store/{}-bash/bin/sh",
            String::from_utf8_lossy(&old[0])
        ),
        a.join("sh"),
    )
    .unwrap();
    // b: the same tree with every reference hash replaced.
    let nar_a = dump(&a);
    let mut nar_b = nar_a.clone();
    for (o, n) in old.iter().zip(&new) {
        let mut i = 0;
        while let Some(p) = nar_b[i..].windows(32).position(|w| w == &o[..]) {
            nar_b[i + p..i + p + 32].copy_from_slice(n);
            i += p + 32;
        }
    }
    assert_ne!(nar_a, nar_b);
    let how = NarChunking {
        config,
        nar_aware: true,
        metadata_chunks: true,
    };
    let (ca, na) = chunk_nar(&nar_a, &how, &old, Some(HashAlgo::Sha256)).unwrap();
    let (cb, nb) = chunk_nar(&nar_b, &how, &new, Some(HashAlgo::Sha256)).unwrap();
    assert_eq!(na, nb, "normalised NARs are equal");
    assert_eq!(ca.chunks, cb.chunks);
    assert_eq!(ca.patches, cb.patches);
    let pieces: Vec<&[u8]> = ca
        .chunks
        .iter()
        .map(|c| &na.as_deref().unwrap()[c.offset as usize..c.offset as usize + c.length])
        .collect();
    assert_eq!(rebuild(pieces.clone(), &cb.patches, &new).unwrap(), nar_b);
    assert_eq!(rebuild(pieces, &ca.patches, &old).unwrap(), nar_a);
}

#[test]
fn bad_inputs_are_errors() {
    let how = NarChunking {
        config: ChunkerConfig::default(),
        nar_aware: true,
        metadata_chunks: true,
    };
    assert!(chunk_nar(b"not a nar", &how, &[], None).is_err());
    let dir = tempfile::tempdir().unwrap();
    let nar = dump(dir.path());
    assert!(chunk_nar(&nar, &how, &[b"short".to_vec()], None).is_err());
    let p = chunker_core::nar::refs::Patch {
        offset: nar.len() as u64 - 8,
        reference: 0,
    };
    assert!(rebuild([&nar[..]], &[p], &[b"0".repeat(32)]).is_err());
}

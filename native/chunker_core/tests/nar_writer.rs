//! The NAR writer against the oracle: `nix-store --dump` on random trees.

mod nar_support;

use chunker_core::digest::HashAlgo;
use chunker_core::nar::{dump_path, dump_sha256, NarEncoder, PathError};
use nar_support::{nix_dump, random_tree};
use std::io;

#[test]
fn random_trees_match_nix_store_dump() {
    for seed in 0..60u64 {
        let (_guard, root) = random_tree(seed, 70_000);
        let mut ours = Vec::new();
        let size = dump_path(&root, &mut ours).unwrap();
        let theirs = nix_dump(&root);
        assert_eq!(size, ours.len() as u64, "seed {seed}");
        assert!(
            ours == theirs,
            "seed {seed}: NAR differs from nix-store --dump"
        );
        let (digest, hashed) = dump_sha256(&root).unwrap();
        assert_eq!(hashed, theirs.len() as u64);
        assert_eq!(digest, HashAlgo::Sha256.digest(&theirs), "seed {seed}");
    }
}

#[test]
fn single_file_symlink_and_empty_dir_match() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        dir.path().join("f"),
        dir.path().join("l"),
        dir.path().join("d"),
    ];
    std::fs::write(&cases[0], b"hello").unwrap();
    std::os::unix::fs::symlink("f", &cases[1]).unwrap();
    std::fs::create_dir(&cases[2]).unwrap();
    for path in &cases {
        let mut ours = Vec::new();
        dump_path(path, &mut ours).unwrap();
        assert_eq!(ours, nix_dump(path), "{}", path.display());
    }
}

#[test]
fn unsupported_and_missing_paths_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dump_path(dir.path().join("nope"), io::sink()).unwrap_err();
    assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    let inner = PathError::of(&missing).unwrap();
    assert_eq!(inner.path, dir.path().join("nope"));
    assert_eq!(inner.source.as_ref().unwrap().raw_os_error(), Some(2));
    let fifo = dir.path().join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let err = dump_path(&fifo, io::sink()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    assert!(err.to_string().contains("unsupported type"));
    assert!(PathError::of(&err).unwrap().source.is_none());
}

#[test]
fn encoder_rejects_short_contents() {
    let mut nar = NarEncoder::new(io::sink()).unwrap();
    let err = nar.regular(false, 10, &b"short"[..]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
}

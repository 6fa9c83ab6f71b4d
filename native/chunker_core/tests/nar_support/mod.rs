//! Shared helpers for the NAR tests: random trees on disk and the
//! `nix-store` oracle.
#![allow(dead_code)]

use rand::{rngs::SmallRng, Rng, RngCore, SeedableRng};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A random file name: plain, odd (spaces, newlines, high bytes, leading
/// dashes, dots) or long; never `.`, `..`, or containing `/` or NUL.
pub fn name(rng: &mut SmallRng) -> Vec<u8> {
    loop {
        let n: Vec<u8> = match rng.gen_range(0..6) {
            0..=2 => {
                let len = rng.gen_range(1..12);
                (0..len)
                    .map(|_| b"abcABC019_-."[rng.gen_range(0..12)])
                    .collect()
            }
            3 => {
                let len = rng.gen_range(1..8);
                (0..len).map(|_| rng.gen_range(1..=255u8)).collect()
            }
            4 => {
                let odd: [&[u8]; 8] = [
                    b" ",
                    b"\n",
                    b"-rf",
                    b"...",
                    b"a.",
                    b"\xc3\xa9t\xc3\xa9",
                    b"\xff",
                    b"Z z",
                ];
                odd[rng.gen_range(0..odd.len())].to_vec()
            }
            _ => vec![b"x\x7f~!"[rng.gen_range(0..4)]; rng.gen_range(100..=255)],
        };
        if n.contains(&b'/') || n.contains(&0) || n == b"." || n == b".." {
            continue;
        }
        return n;
    }
}

/// Random contents: empty, small, or up to `max` bytes, often compressible.
pub fn contents(rng: &mut SmallRng, max: usize) -> Vec<u8> {
    let len = match rng.gen_range(0..4) {
        0 => 0,
        1 => rng.gen_range(1..16),
        2 => rng.gen_range(16..512),
        _ => rng.gen_range(512..=max.max(513)),
    };
    let mut v = vec![0u8; len];
    if rng.gen_bool(0.5) {
        rng.fill_bytes(&mut v);
    } else {
        for (i, b) in v.iter_mut().enumerate() {
            *b = b"lorem ipsum /nix/store\n"[i % 23];
        }
    }
    v
}

/// Creates a random node at `path` (which must not exist). `depth` bounds
/// the nesting; `max_file` bounds file sizes.
pub fn tree(rng: &mut SmallRng, path: &Path, depth: u32, max_file: usize) {
    let kind = if depth == 0 {
        rng.gen_range(0..2)
    } else {
        rng.gen_range(0..5)
    };
    match kind {
        0 => {
            fs::write(path, contents(rng, max_file)).unwrap();
            let mode = [0o644, 0o755, 0o600, 0o700, 0o444, 0o555, 0o744][rng.gen_range(0..7)];
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
        }
        1 => {
            let target: Vec<u8> = match rng.gen_range(0..3) {
                0 => b"../some/where".to_vec(),
                1 => b"/nix/store/00000000000000000000000000000000-x/bin/sh".to_vec(),
                _ => name(rng),
            };
            symlink(OsStr::from_bytes(&target), path).unwrap();
        }
        _ => {
            fs::create_dir(path).unwrap();
            let n = rng.gen_range(0..6);
            for _ in 0..n {
                let child = path.join(OsStr::from_bytes(&name(rng)));
                if fs::symlink_metadata(&child).is_err() {
                    tree(rng, &child, depth - 1, max_file);
                }
            }
        }
    }
}

/// A fresh random tree under a new temporary directory; returns the guard
/// and the tree's root path (a file, symlink or directory).
pub fn random_tree(seed: u64, max_file: usize) -> (tempfile::TempDir, PathBuf) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    if rng.gen_bool(0.85) {
        fs::create_dir(&root).unwrap();
        for _ in 0..rng.gen_range(0..8) {
            let child = root.join(OsStr::from_bytes(&name(&mut rng)));
            if fs::symlink_metadata(&child).is_err() {
                tree(&mut rng, &child, 3, max_file);
            }
        }
    } else {
        tree(&mut rng, &root, 0, max_file);
    }
    (dir, root)
}

/// `nix-store --dump path` (no store or daemon needed).
pub fn nix_dump(path: &Path) -> Vec<u8> {
    let out = Command::new("nix-store")
        .arg("--dump")
        .arg(path)
        .stderr(Stdio::inherit())
        .output()
        .expect("nix-store (install nix-bin: bin/install-deps)");
    assert!(
        out.status.success(),
        "nix-store --dump {} failed",
        path.display()
    );
    out.stdout
}

/// `nix-store --restore path < nar`; returns whether it succeeded.
pub fn nix_restore(nar: &[u8], path: &Path) -> bool {
    use std::io::Write;
    let mut child = Command::new("nix-store")
        .arg("--restore")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nix-store (install nix-bin: bin/install-deps)");
    let _ = child.stdin.take().unwrap().write_all(nar);
    child.wait().unwrap().success()
}

/// The tree at `root` as NAR entries, by walking the file system (an oracle
/// independent of the parser): preorder, names sorted bytewise.
pub fn walk(root: &Path) -> Vec<(Vec<u8>, chunker_core::nar::Kind)> {
    use chunker_core::nar::Kind;
    let mut out = Vec::new();
    fn go(path: &Path, rel: Vec<u8>, out: &mut Vec<(Vec<u8>, Kind)>) {
        let meta = fs::symlink_metadata(path).unwrap();
        if meta.is_dir() {
            out.push((rel.clone(), Kind::Directory));
            let mut names: Vec<_> = fs::read_dir(path)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for n in names {
                let mut r = rel.clone();
                if !r.is_empty() {
                    r.push(b'/');
                }
                r.extend_from_slice(n.as_bytes());
                go(&path.join(&n), r, out);
            }
        } else if meta.file_type().is_symlink() {
            let target = fs::read_link(path).unwrap();
            out.push((
                rel,
                Kind::Symlink {
                    target: target.as_os_str().as_bytes().to_vec(),
                },
            ));
        } else {
            out.push((
                rel,
                Kind::Regular {
                    executable: meta.permissions().mode() & 0o100 != 0,
                    size: meta.len(),
                    contents: 0,
                },
            ));
        }
    }
    go(root, Vec::new(), &mut out);
    out
}

/// Re-encodes parsed entries (contents taken from `nar`) with the core's
/// `encode_entries`.
pub fn encode_entries(entries: &[chunker_core::nar::Entry], nar: &[u8]) -> Vec<u8> {
    chunker_core::nar::encode_entries(entries, Vec::new(), |e| match e.kind {
        chunker_core::nar::Kind::Regular { size, contents, .. } => {
            &nar[contents as usize..(contents + size) as usize]
        }
        _ => unreachable!("contents are asked for regular files only"),
    })
    .expect("a parsed entry list is a tree")
}

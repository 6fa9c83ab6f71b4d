//! The NAR reader and unpacker against `nix-store --dump/--restore` and a
//! file-system walk; mutated NARs never crash, hang or escape the target.

mod nar_support;

use chunker_core::nar::{
    entries, unpack, Entry, Event, FormatError, Kind, NarEncoder, NarReader, Reason, UnpackError,
};
use nar_support::{encode_entries, nix_dump, nix_restore, random_tree, walk};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use std::fs;

/// Strips contents offsets so entries compare with the walk.
fn shape(entries: &[Entry]) -> Vec<(Vec<u8>, Kind)> {
    entries
        .iter()
        .map(|e| {
            let kind = match &e.kind {
                Kind::Regular {
                    executable, size, ..
                } => Kind::Regular {
                    executable: *executable,
                    size: *size,
                    contents: 0,
                },
                k => k.clone(),
            };
            (e.path.clone(), kind)
        })
        .collect()
}

/// Entries and concatenated contents, fed in random pieces.
fn parse_in_pieces(nar: &[u8], rng: &mut SmallRng) -> Result<(Vec<Entry>, Vec<u8>), FormatError> {
    let mut parser = NarReader::new();
    let (mut list, mut contents) = (Vec::new(), Vec::new());
    let mut rest = nar;
    while !rest.is_empty() {
        let cap = if rng.gen_bool(0.5) { 9 } else { 5000 };
        let n = rng.gen_range(1..=rest.len().min(cap));
        // A random step budget: what is not consumed is fed again.
        let budget = if rng.gen_bool(0.5) {
            rng.gen_range(1..4)
        } else {
            usize::MAX
        };
        let used = parser.feed_some(&rest[..n], budget, &mut |e| match e {
            Event::Entry(e) => list.push(e),
            Event::Contents { data, .. } => contents.extend_from_slice(data),
        })?;
        assert!(used <= n && (used == n || budget != usize::MAX));
        rest = &rest[used..];
    }
    parser.finish()?;
    Ok((list, contents))
}

#[test]
fn reader_and_unpack_round_trip_against_nix() {
    let mut rng = SmallRng::seed_from_u64(7);
    for seed in 100..125u64 {
        let (guard, root) = random_tree(seed, 20_000);
        let nar = nix_dump(&root);
        let all = entries(&nar).unwrap();
        assert_eq!(shape(&all), walk(&root), "seed {seed}");
        assert_eq!(encode_entries(&all, &nar), nar, "seed {seed}: re-encoding");
        let (pieces, contents) = parse_in_pieces(&nar, &mut rng).unwrap();
        assert_eq!(pieces, all, "seed {seed}: split feeds");
        let expected: Vec<u8> = all
            .iter()
            .filter_map(|e| match e.kind {
                Kind::Regular { size, contents, .. } => {
                    Some(&nar[contents as usize..(contents + size) as usize])
                }
                _ => None,
            })
            .flatten()
            .copied()
            .collect();
        assert_eq!(contents, expected);

        // Our unpack of Nix's NAR, and nix-store --restore of it, give the tree.
        let ours = guard.path().join("ours");
        unpack(&nar[..], &ours).unwrap();
        assert_eq!(nix_dump(&ours), nar, "seed {seed}: our unpack");
        let theirs = guard.path().join("theirs");
        assert!(nix_restore(&nar, &theirs));
        assert_eq!(walk(&theirs), walk(&ours));
        // The target must not exist.
        match unpack(&nar[..], &ours) {
            Err(UnpackError::Io { source, .. }) => {
                assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists)
            }
            other => panic!("expected AlreadyExists, got {other:?}"),
        }
    }
}

/// A NAR built from parts, for targeted corruptions.
fn tokens(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(&(p.len() as u64).to_le_bytes());
        out.extend_from_slice(p);
        out.resize(out.len() + (8 - p.len() % 8) % 8, 0);
    }
    out
}

fn dir_with(names: &[&[u8]]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = vec![b"nix-archive-1", b"(", b"type", b"directory"];
    for n in names {
        parts.extend_from_slice(&[
            b"entry", b"(", b"name", n, b"node", b"(", b"type", b"symlink", b"target", b"x", b")",
            b")",
        ]);
    }
    parts.push(b")");
    tokens(&parts)
}

fn err(nar: &[u8]) -> FormatError {
    entries(nar).unwrap_err()
}

#[test]
fn violations_are_reported_with_offsets() {
    assert!(entries(&dir_with(&[b"a", b"b"])).is_ok());
    let reason = |nar: &[u8]| err(nar).reason;
    assert_eq!(reason(&dir_with(&[b"b", b"a"])), Reason::UnsortedNames);
    assert_eq!(reason(&dir_with(&[b"a", b"a"])), Reason::DuplicateName);
    for bad in [&b"."[..], b"..", b"a/b", b"a\0b", b""] {
        assert_eq!(reason(&dir_with(&[bad])), Reason::InvalidName, "{bad:?}");
    }
    assert_eq!(reason(&dir_with(&[&[b'n'; 256]])), Reason::NameTooLong);
    assert!(entries(&dir_with(&[&[b'n'; 255]])).is_ok());
    // The first entry's name token is at 80 + 8 (entry) + 16 + 16.
    assert_eq!(err(&dir_with(&[b"."])).offset, 80 + 16 + 16 + 16);

    let file = tokens(&[b"nix-archive-1", b"(", b"type", b"regular", b"contents"]);
    let mut ok = file.clone();
    ok.extend_from_slice(&3u64.to_le_bytes());
    ok.extend_from_slice(b"abc\0\0\0\0\0");
    ok.extend_from_slice(&tokens(&[b")"]));
    assert!(entries(&ok).is_ok());
    let mut bad_pad = ok.clone();
    bad_pad[file.len() + 8 + 5] = 1;
    assert_eq!(
        err(&bad_pad),
        FormatError {
            offset: (file.len() + 13) as u64,
            reason: Reason::BadPadding
        }
    );
    let mut trailing = ok.clone();
    trailing.push(0);
    assert_eq!(err(&trailing).reason, Reason::TrailingData);
    assert_eq!(err(&trailing).offset, ok.len() as u64);
    assert_eq!(
        err(&ok[..ok.len() - 1]),
        FormatError {
            offset: ok.len() as u64 - 1,
            reason: Reason::Truncated
        }
    );
    let mut huge = file.clone();
    huge.extend_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(err(&huge).reason, Reason::SizeOverflow);

    let cases: [(&[&[u8]], Reason); 6] = [
        (&[b"nix-archive-2"], Reason::BadMagic),
        (
            &[b"nix-archive-1", b"(", b"type", b"fifo"],
            Reason::UnexpectedToken,
        ),
        (
            &[
                b"nix-archive-1",
                b"(",
                b"type",
                b"regular",
                b"executable",
                b"x",
            ],
            Reason::UnexpectedToken,
        ),
        (
            &[b"nix-archive-1", b"(", b"type", b"symlink", b"target", b""],
            Reason::InvalidTarget,
        ),
        (
            &[
                b"nix-archive-1",
                b"(",
                b"type",
                b"symlink",
                b"target",
                &[b't'; 4096],
            ],
            Reason::TargetTooLong,
        ),
        (&[b"nix-archive-1", b")"], Reason::UnexpectedToken),
    ];
    for (parts, reason) in cases {
        assert_eq!(err(&tokens(parts)).reason, reason, "{parts:?}");
    }
    let mut bad_token_pad = tokens(&[b"nix-archive-1"]);
    bad_token_pad[8 + 13] = 7;
    assert_eq!(err(&bad_token_pad).reason, Reason::BadPadding);

    // Errors are sticky.
    let mut parser = NarReader::new();
    assert!(parser.feed(b"garbage!garbage!", &mut |_| {}).is_err());
    assert!(parser
        .feed(&tokens(&[b"nix-archive-1"]), &mut |_| {})
        .is_err());
}

#[test]
fn deep_and_long_paths_are_bounded() {
    // 2100 nested one-letter directories exceed MAX_PATH (4096).
    let mut enc = NarEncoder::new(Vec::new()).unwrap();
    for _ in 0..2100 {
        enc.dir_start().unwrap();
        enc.entry_start(b"d").unwrap();
    }
    enc.dir_start().unwrap();
    let nar = enc.finish().unwrap();
    assert_eq!(err(&nar).reason, Reason::PathTooLong);
}

/// A random mutation of `nar`.
fn mutate(nar: &[u8], rng: &mut SmallRng) -> Vec<u8> {
    let mut m = nar.to_vec();
    for _ in 0..rng.gen_range(1..=3) {
        if m.is_empty() {
            break;
        }
        let i = rng.gen_range(0..m.len());
        match rng.gen_range(0..7) {
            0 => m[i] ^= 1 << rng.gen_range(0..8),
            1 => m[i] = rng.gen(),
            2 => m.truncate(i),
            3 => m.insert(i, rng.gen()),
            4 => {
                let j = rng.gen_range(i..m.len().min(i + 64) + 1).min(m.len());
                m.drain(i..j);
            }
            5 => {
                // Rewrite an 8-aligned word (a length) to a nearby or huge value.
                let w = i / 8 * 8;
                if w + 8 <= m.len() {
                    let v = u64::from_le_bytes(m[w..w + 8].try_into().unwrap());
                    let nv = match rng.gen_range(0..3) {
                        0 => v.wrapping_add(1),
                        1 => v.wrapping_sub(1),
                        _ => rng.gen(),
                    };
                    m[w..w + 8].copy_from_slice(&nv.to_le_bytes());
                }
            }
            _ => {
                let j = rng.gen_range(0..m.len());
                m.swap(i, j);
            }
        }
    }
    m
}

#[test]
fn mutated_nars_error_or_are_canonical_and_never_escape() {
    let mut rng = SmallRng::seed_from_u64(99);
    let mut accepted = 0;
    let mut nix_checked = 0;
    for seed in 200..215u64 {
        let (guard, root) = random_tree(seed, 3000);
        let nar = nix_dump(&root);
        for k in 0..40 {
            let m = mutate(&nar, &mut rng);
            let parsed = entries(&m);
            let sandbox = guard.path().join(format!("s{k}"));
            fs::create_dir(&sandbox).unwrap();
            let target = sandbox.join("t");
            let unpacked = unpack(&m[..], &target);
            match &parsed {
                Ok(list) => {
                    accepted += 1;
                    // Whatever we accept is canonical: re-encoding gives the same bytes.
                    assert_eq!(encode_entries(list, &m), m, "seed {seed}/{k}");
                    unpacked.unwrap();
                    let mut again = Vec::new();
                    chunker_core::nar::dump_path(&target, &mut again).unwrap();
                    assert_eq!(again, m);
                    if nix_checked < 25 {
                        nix_checked += 1;
                        let theirs = sandbox.join("nix");
                        assert!(nix_restore(&m, &theirs), "nix rejects what we accept");
                        assert_eq!(walk(&theirs), walk(&target));
                    }
                }
                Err(e) => {
                    match unpacked {
                        Err(UnpackError::Format(u)) => assert_eq!(&u, e),
                        other => panic!("seed {seed}/{k}: unpack {other:?} vs parse {e:?}"),
                    }
                    // Nothing left behind, nothing written beside the target.
                    assert!(fs::symlink_metadata(&target).is_err());
                }
            }
            let beside: Vec<_> = fs::read_dir(&sandbox).unwrap().collect();
            assert!(
                beside.len() <= 2,
                "seed {seed}/{k}: wrote outside the target"
            );
            fs::remove_dir_all(&sandbox).unwrap();
        }
    }
    assert!(accepted > 0, "some mutations (e.g. in contents) stay valid");
    assert!(
        accepted < 500,
        "most mutations are rejected ({accepted} accepted)"
    );
}

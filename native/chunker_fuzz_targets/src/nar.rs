//! NAR reader, chunking and rebuild.
//!
//! Invariants: the reader gives the same entries or the same error whatever
//! the feed size; whatever it accepts is canonical (re-encoding the entries
//! gives the same bytes); and every chunking mode, with and without
//! reference normalisation, tiles the NAR and rebuilds it byte-identically
//! from chunks + patches.

use crate::input::{Input, Rng};
use chunker_core::cdc::ChunkerConfig;
use chunker_core::nar::{
    chunk_nar, entries, rebuild, Entry, Event, Kind, NarChunking, NarEncoder, NarReader,
};

const ALPHABET: &[u8] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Re-encodes parsed entries (contents taken from `nar`).
fn encode(list: &[Entry], nar: &[u8]) -> Vec<u8> {
    let mut enc = NarEncoder::new(Vec::new()).expect("vec");
    let mut open: Vec<Vec<u8>> = Vec::new();
    let inside = |dir: &[u8], p: &[u8]| {
        !p.is_empty()
            && (dir.is_empty()
                || (p.len() > dir.len() && p.starts_with(dir) && p[dir.len()] == b'/'))
    };
    let close = |enc: &mut NarEncoder<Vec<u8>>, open: &mut Vec<Vec<u8>>| {
        open.pop();
        enc.dir_end().expect("vec");
        if !open.is_empty() {
            enc.entry_end().expect("vec");
        }
    };
    for e in list {
        while open.last().is_some_and(|top| !inside(top, &e.path)) {
            close(&mut enc, &mut open);
        }
        if let Some(top) = open.last() {
            let skip = if top.is_empty() { 0 } else { top.len() + 1 };
            enc.entry_start(&e.path[skip..]).expect("vec");
        }
        match &e.kind {
            Kind::Directory => {
                enc.dir_start().expect("vec");
                open.push(e.path.clone());
                continue;
            }
            Kind::Symlink { target } => enc.symlink(target).expect("vec"),
            Kind::Regular {
                executable,
                size,
                contents,
            } => {
                let c = *contents as usize;
                enc.regular(*executable, *size, &nar[c..c + *size as usize])
                    .expect("vec")
            }
        }
        if !open.is_empty() {
            enc.entry_end().expect("vec");
        }
    }
    while !open.is_empty() {
        close(&mut enc, &mut open);
    }
    enc.finish().expect("vec")
}

/// The 32-character nix-base32 strings after each `/nix/store/`.
fn references(nar: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let key = b"/nix/store/";
    for i in 0..nar.len().saturating_sub(key.len() + 32) {
        if &nar[i..i + key.len()] == key {
            let h = &nar[i + key.len()..i + key.len() + 32];
            if h.iter().all(|b| ALPHABET.contains(b)) && !out.iter().any(|r| r == h) {
                out.push(h.to_vec());
            }
        }
    }
    out
}

/// Target `nar_read`: a feed-size byte, a mode byte, then the NAR.
pub fn nar_read(data: &[u8]) {
    let mut input = Input::new(data);
    let feed = 1 + input.u8() as usize * 13;
    let mode = input.u8();
    let nar = input.rest();

    let eager = entries(nar);
    let mut reader = NarReader::new();
    let mut streamed = Vec::new();
    let mut result = Ok(());
    for piece in nar.chunks(feed) {
        result = reader.feed(piece, &mut |e| {
            if let Event::Entry(e) = e {
                streamed.push(e)
            }
        });
        if result.is_err() {
            break;
        }
    }
    let streamed = result.and_then(|()| reader.finish()).map(|()| streamed);
    assert_eq!(eager, streamed, "feed size {feed} changes the result");
    let Ok(list) = eager else { return };
    assert_eq!(encode(&list, nar), nar, "accepted NAR is not canonical");

    let config = ChunkerConfig::new(64, 256, 1024, u64::from(mode % 4)).expect("valid");
    let how = NarChunking {
        config,
        nar_aware: mode & 4 != 0,
        metadata_chunks: mode & 8 != 0,
    };
    let refs = if mode & 16 != 0 {
        references(nar)
    } else {
        Vec::new()
    };
    let (chunked, normalized) = chunk_nar(nar, &how, &refs, None).expect("valid NAR");
    let bytes = normalized.as_deref().unwrap_or(nar);
    let mut pos = 0u64;
    let pieces: Vec<&[u8]> = chunked
        .chunks
        .iter()
        .map(|c| {
            assert_eq!(c.offset, pos, "chunks tile the NAR");
            assert!(c.length > 0 && c.length <= 1024);
            pos += c.length as u64;
            &bytes[c.offset as usize..c.offset as usize + c.length]
        })
        .collect();
    assert_eq!(pos, nar.len() as u64);
    assert_eq!(
        rebuild(pieces, &chunked.patches, &refs).expect("rebuild"),
        nar
    );
}

/// A random tree node into `enc` (names sorted and unique per directory).
fn node(rng: &mut Rng, enc: &mut NarEncoder<Vec<u8>>, depth: u32) {
    match rng.below(if depth == 0 { 2 } else { 3 }) {
        0 => {
            let len = rng.len_up_to(3000);
            let mut body = rng.structured(len);
            if rng.below(2) == 0 && body.len() > 60 {
                let at = rng.below(body.len() as u64 - 50) as usize;
                let hash: Vec<u8> = (0..32)
                    .map(|i| ALPHABET[(i * 7 + depth as usize) % 32])
                    .collect();
                body[at..at + 11].copy_from_slice(b"/nix/store/");
                body[at + 11..at + 43].copy_from_slice(&hash);
            }
            enc.regular(rng.below(2) == 0, body.len() as u64, &body[..])
                .expect("vec");
        }
        1 => {
            let len = 1 + rng.below(40) as usize;
            let target: Vec<u8> = (0..len).map(|_| 1 + rng.below(255) as u8).collect();
            enc.symlink(&target).expect("vec");
        }
        _ => {
            enc.dir_start().expect("vec");
            let mut names: Vec<Vec<u8>> = (0..rng.below(5))
                .map(|_| {
                    let len = 1 + rng.below(6) as usize;
                    (0..len)
                        .map(|_| b"ab.-_Z\xff"[rng.below(7) as usize])
                        .collect()
                })
                .filter(|n: &Vec<u8>| n != b"." && n != b"..")
                .collect();
            names.sort();
            names.dedup();
            for name in names {
                enc.entry_start(&name).expect("vec");
                node(rng, enc, depth - 1);
                enc.entry_end().expect("vec");
            }
            enc.dir_end().expect("vec");
        }
    }
}

pub fn generate_nar_input(rng: &mut Rng) -> Vec<u8> {
    let mut enc = NarEncoder::new(Vec::new()).expect("vec");
    node(rng, &mut enc, 3);
    let mut nar = enc.finish().expect("vec");
    // Often a mutation: flipped byte, truncation, inserted or removed bytes.
    for _ in 0..rng.below(3) {
        if nar.is_empty() {
            break;
        }
        let i = rng.below(nar.len() as u64) as usize;
        match rng.below(4) {
            0 => nar[i] ^= 1 << rng.below(8),
            1 => nar.truncate(i),
            2 => nar.insert(i, rng.byte()),
            _ => {
                nar.remove(i);
            }
        }
    }
    let mut out = vec![rng.byte(), rng.byte()];
    out.extend(nar);
    out
}

//! Chunking targets: options + data + feed splits, and chunking a hostile reader.
//!
//! Oracles: the `fastcdc` crate's `v2020::FastCDC` (independent
//! implementation) for the cut points, one-shot digests of the covered
//! slices for the hashes, and an independent restatement of the option rules.

use crate::input::{Input, Rng};
use chunker_core::cdc::{
    self, Chunk, ChunkerConfig, Error, HashedChunk, HashingStream, Payload, StreamChunker,
};
use chunker_core::digest::HashAlgo;
use std::io::{self, Read};

/// Values at and around every option bound.
const INTERESTING: [u64; 36] = [
    0,
    1,
    2,
    3,
    4,
    62,
    63,
    64,
    65,
    66,
    254,
    255,
    256,
    257,
    258,
    1022,
    1023,
    1024,
    1025,
    1026,
    4096,
    65_536,
    1_048_576,
    1_048_577,
    1_048_578,
    4_194_304,
    4_194_305,
    4_194_306,
    16_777_216,
    16_777_217,
    16_777_218,
    1 << 32,
    (1 << 32) + 1024,
    u64::MAX - 1,
    u64::MAX,
    i64::MAX as u64,
];

/// Bytes below this pick from [`INTERESTING`]; others read a raw `u64`.
const RAW_PICK: u8 = 0xC0;

fn pick(input: &mut Input) -> u64 {
    let b = input.u8();
    if b < RAW_PICK {
        INTERESTING[b as usize % INTERESTING.len()]
    } else {
        input.u64()
    }
}

/// The fields whose rule `(min, avg, max, normalization)` breaks: the
/// option rules restated from the docs (ranges, evenness, ordering).
fn violations(min: u64, avg: u64, max: u64, norm: u64) -> Vec<&'static str> {
    let bad = |v: u64, lo: u64, hi: u64| v < lo || v > hi || v % 2 != 0;
    let mut out = Vec::new();
    if bad(min, 64, 1_048_576) {
        out.push("min_size");
    }
    if bad(avg, 256, 4_194_304) {
        out.push("avg_size");
    }
    if bad(max, 1024, 16_777_216) {
        out.push("max_size");
    }
    if min > avg {
        out.extend(["min_size", "avg_size"]);
    }
    if avg > max {
        out.extend(["avg_size", "max_size"]);
    }
    if norm > 3 {
        out.push("normalization");
    }
    out
}

/// Decodes chunker options. Mode bit 7 set: raw values around the bounds,
/// checked against [`violations`] (`None` when rightly rejected). Otherwise
/// small valid options that make many chunks out of fuzzer-sized inputs.
fn decode_config(input: &mut Input) -> Option<ChunkerConfig> {
    let mode = input.u8();
    if mode & 0x80 != 0 {
        let (min, avg, max) = (pick(input), pick(input), pick(input));
        let norm = if mode & 0x40 != 0 {
            pick(input)
        } else {
            u64::from(mode & 3)
        };
        let broken = violations(min, avg, max, norm);
        return match ChunkerConfig::new(min, avg, max, norm) {
            Ok(config) => {
                assert!(
                    broken.is_empty(),
                    "accepted ({min}, {avg}, {max}, {norm}) breaking {broken:?}"
                );
                assert_eq!(
                    (
                        config.min_size() as u64,
                        config.avg_size() as u64,
                        config.max_size() as u64,
                        config.normalization() as u64
                    ),
                    (min, avg, max, norm)
                );
                Some(config)
            }
            Err(Error::InvalidOptions { field, reason }) => {
                assert!(
                    broken.contains(&field),
                    "rejected ({min}, {avg}, {max}, {norm}) naming {field}: {reason}; broken: {broken:?}"
                );
                assert!(!reason.is_empty());
                None
            }
            Err(other) => panic!("unexpected error from ChunkerConfig::new: {other:?}"),
        };
    }
    let avg = input.even_in(256, 16_384);
    let min = input.even_in(64, avg);
    let max = input.even_in(avg.max(1024), (avg * 8).min(131_072));
    let norm = u64::from(mode & 3);
    Some(ChunkerConfig::new(min, avg, max, norm).expect("valid by construction"))
}

fn decode_algo(byte: u8) -> Option<HashAlgo> {
    match byte % 3 {
        0 => None,
        1 => Some(HashAlgo::Sha256),
        _ => Some(HashAlgo::Blake3),
    }
}

const SCALES: [usize; 4] = [1, 3, 61, 1000];

/// Eager chunks of `data`, checked against the `fastcdc` crate and for
/// exact coverage, size bounds and the iterator's size hint.
pub fn checked_eager(config: &ChunkerConfig, data: &[u8]) -> Vec<Chunk> {
    let iter = config.chunks(data);
    let (lo, hi) = iter.size_hint();
    let eager: Vec<Chunk> = iter.collect();
    assert!(
        lo <= eager.len() && hi.is_none_or(|hi| eager.len() <= hi),
        "size_hint ({lo}, {hi:?}) vs {} chunks",
        eager.len()
    );
    let mut at = 0u64;
    for (i, c) in eager.iter().enumerate() {
        assert_eq!(c.offset, at, "chunks are contiguous");
        assert!(c.length > 0, "no empty chunk");
        assert!(c.length <= config.max_size(), "chunk over max_size");
        if i + 1 < eager.len() {
            assert!(c.length >= config.min_size(), "short chunk before the end");
        }
        at = c.end();
    }
    assert_eq!(at, data.len() as u64, "chunks cover the input exactly");

    let level = match config.normalization() as u8 {
        0 => fastcdc::v2020::Normalization::Level0,
        1 => fastcdc::v2020::Normalization::Level1,
        2 => fastcdc::v2020::Normalization::Level2,
        _ => fastcdc::v2020::Normalization::Level3,
    };
    let oracle: Vec<Chunk> = fastcdc::v2020::FastCDC::with_level(
        data,
        config.min_size(),
        config.avg_size(),
        config.max_size(),
        level,
    )
    .map(|c| Chunk {
        offset: c.offset as u64,
        length: c.length,
    })
    .collect();
    assert_eq!(eager, oracle, "cut points differ from fastcdc::v2020");
    eager
}

/// The other engines (serial scan, run-skipping scan, parallel with
/// `segments` speculative segments) must agree with the eager chunks.
fn check_engines(config: &ChunkerConfig, data: &[u8], eager: &[Chunk], segments: usize) {
    assert_eq!(cdc::engines::serial(config, data), eager, "serial engine");
    assert_eq!(
        cdc::engines::run_skipping(config, data),
        eager,
        "run-skipping engine"
    );
    assert_eq!(
        cdc::chunk_parallel(config, data, segments),
        eager,
        "parallel engine, {segments} segments"
    );
}

/// Splits `len` bytes into feeds following `splits` (cyclically, times
/// `scale`), zero-length feeds included but never forever.
fn feed_plan(len: usize, splits: &[u8], scale: usize) -> Vec<(usize, usize)> {
    let mut plan = Vec::new();
    let (mut at, mut zeros) = (0, 0);
    for k in 0.. {
        if at >= len {
            break;
        }
        let mut n = (splits[k % splits.len()] as usize * scale).min(len - at);
        if n == 0 {
            zeros += 1;
            if zeros > splits.len() {
                n = len - at;
            }
        }
        plan.push((at, at + n));
        at += n;
    }
    plan
}

/// Target `chunk_stream`: options, hash algorithm, payload flag, feed
/// splits and data. Every engine (eager, serial, run-skipping, parallel)
/// must give the `fastcdc` crate's cut points; the streaming chunker fed in those pieces (empty ones
/// included) must emit exactly the eager chunks, each as soon as it is
/// decided; the hashing stream must add the right digests and payloads;
/// a finished stream must refuse more work.
pub fn chunk_stream(bytes: &[u8]) {
    let mut input = Input::new(bytes);
    let Some(config) = decode_config(&mut input) else {
        return;
    };
    let opts = input.u8();
    let algo = decode_algo(opts);
    let payloads = opts & 4 != 0;
    let scale = SCALES[(opts >> 3) as usize & 3];
    let nsplits = 1 + input.u8() as usize % 16;
    let splits = input.take(nsplits).to_vec();
    let splits = if splits.is_empty() { vec![0] } else { splits };
    let data = input.rest();

    let eager = checked_eager(&config, data);
    check_engines(&config, data, &eager, 1 + (opts >> 5) as usize);
    let plan = feed_plan(data.len(), &splits, scale);

    // Cut finder alone.
    let mut s = StreamChunker::new(config);
    let mut out = Vec::new();
    for &(from, to) in &plan {
        s.feed(&data[from..to], &mut out).expect("feed");
        let fed = to as u64;
        assert_eq!(s.fed(), fed);
        assert!(out.len() <= eager.len() && out[..] == eager[..out.len()]);
        // A cut is decided once the byte after it is fed, and (pair rule)
        // for an even-length chunk the byte after that one too.
        let due = eager.iter().take_while(|c| c.end() + 1 < fed).count();
        assert!(out.len() >= due, "chunk held back: {} < {due}", out.len());
        let start = out.last().map_or(0, Chunk::end);
        assert_eq!(s.chunk_start(), start);
        assert!(start <= s.settled() && s.settled() <= fed);
    }
    s.feed(&[], &mut out).expect("empty feed");
    out.extend(s.finish().expect("finish"));
    assert_eq!(out, eager, "stream differs from eager");
    assert!(s.is_finished());
    assert!(matches!(s.finish(), Err(Error::Finished)));
    assert!(matches!(s.feed(b"x", &mut out), Err(Error::Finished)));
    assert!(matches!(s.feed(&[], &mut out), Err(Error::Finished)));
    assert_eq!(out, eager, "nothing emitted after finish");

    // Hashing stream: digests and payloads.
    let mut h = HashingStream::new(config, algo, payloads);
    let mut got: Vec<(HashedChunk, Vec<u8>)> = Vec::new();
    for &(from, to) in &plan {
        let piece = &data[from..to];
        let mut out = Vec::new();
        h.feed(piece, &mut out).expect("hashing feed");
        for c in out {
            let bytes = payload_bytes(&c.payload, piece);
            got.push((c, bytes));
        }
        assert_eq!(h.fed(), to as u64);
    }
    if let Some(c) = h.finish().expect("hashing finish") {
        assert!(
            !matches!(c.payload, Payload::InFeed { .. }),
            "the last chunk cannot point into a feed"
        );
        let bytes = payload_bytes(&c.payload, &[]);
        got.push((c, bytes));
    }
    assert!(h.is_finished());
    assert!(matches!(h.finish(), Err(Error::Finished)));
    assert!(matches!(
        h.feed(b"x", &mut Vec::new()),
        Err(Error::Finished)
    ));
    assert_eq!(got.len(), eager.len());
    for ((c, bytes), want) in got.iter().zip(&eager) {
        let slice = &data[want.offset as usize..want.end() as usize];
        assert_eq!(c.chunk, *want);
        assert_eq!(c.digest, algo.map(|a| a.digest(slice)), "digest");
        if payloads {
            assert_eq!(bytes.as_slice(), slice, "payload");
        } else {
            assert_eq!(c.payload, Payload::None);
        }
    }

    // Eager digests.
    let digests = cdc::chunk_digests(&config, data, algo);
    assert_eq!(digests.len(), eager.len());
    for ((c, d), want) in digests.iter().zip(&eager) {
        assert_eq!(c, want);
        let slice = &data[want.offset as usize..want.end() as usize];
        assert_eq!(*d, algo.map(|a| a.digest(slice)));
    }
}

fn payload_bytes(payload: &Payload, feed: &[u8]) -> Vec<u8> {
    match payload {
        Payload::None => Vec::new(),
        Payload::InFeed { start, end } => feed[*start..*end].to_vec(),
        Payload::Owned(v) => v.clone(),
    }
}

/// A reader following a script: short reads of scripted sizes, one
/// `Interrupted` at a time, and optionally a hard error.
struct ScriptedReader<'a> {
    data: &'a [u8],
    ops: Vec<u8>,
    scale: usize,
    step: usize,
    interrupted: bool,
    failed: bool,
    after_eof: bool,
}

impl Read for ScriptedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        assert!(!self.failed, "read after a hard error");
        assert!(!self.after_eof, "read after end of file");
        assert!(!buf.is_empty(), "read into an empty buffer");
        let op = self.ops[self.step % self.ops.len()];
        self.step += 1;
        if op == 0 && !self.interrupted {
            self.interrupted = true;
            return Err(io::Error::new(io::ErrorKind::Interrupted, "scripted EINTR"));
        }
        self.interrupted = false;
        if op == 255 && !self.data.is_empty() {
            self.failed = true;
            return Err(io::Error::other("scripted failure"));
        }
        let n = (op as usize * self.scale)
            .clamp(1, buf.len())
            .min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.after_eof = n == 0;
        Ok(n)
    }
}

/// Target `chunk_reader`: options, algorithm, buffer size, a read script
/// and data. `chunk_reader` must survive short reads and `Interrupted`,
/// give the eager chunks with right digests, and turn a read error into
/// `Error::Io` (never a panic or a partial success).
pub fn chunk_reader(bytes: &[u8]) {
    let mut input = Input::new(bytes);
    let Some(config) = decode_config(&mut input) else {
        return;
    };
    let opts = input.u8();
    let algo = decode_algo(opts);
    let scale = SCALES[(opts >> 3) as usize & 3];
    let buffer = input.u16() as usize;
    let nops = 1 + input.u8() as usize % 16;
    let ops = input.take(nops).to_vec();
    let ops = if ops.is_empty() { vec![1] } else { ops };
    let data = input.rest();

    let mut reader = ScriptedReader {
        data,
        ops,
        scale,
        step: 0,
        interrupted: false,
        failed: false,
        after_eof: false,
    };
    let result = cdc::chunk_reader(&mut reader, config, algo, buffer);
    if reader.failed {
        match result {
            Err(Error::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::Other),
            other => panic!("read error not reported: {other:?}"),
        }
        return;
    }
    let chunks = result.expect("chunk_reader");
    let eager = checked_eager(&config, data);
    assert_eq!(chunks.len(), eager.len());
    for (c, want) in chunks.iter().zip(&eager) {
        let slice = &data[want.offset as usize..want.end() as usize];
        assert_eq!(c.chunk, *want);
        assert_eq!(c.digest, algo.map(|a| a.digest(slice)));
        assert_eq!(c.payload, Payload::None);
    }
}

/// Options bytes for [`decode_config`]: mostly valid, sometimes raw bounds.
fn generate_config(rng: &mut Rng, out: &mut Vec<u8>) {
    if rng.below(8) == 0 {
        let mode = 0x80 | rng.byte() & 0x43;
        out.push(mode);
        let picks = if mode & 0x40 != 0 { 4 } else { 3 };
        if rng.below(4) == 0 {
            // min == avg == max: every chunk is exactly max_size.
            let pick = rng.below(INTERESTING.len() as u64) as u8;
            out.extend(vec![pick; picks]);
            return;
        }
        for _ in 0..picks {
            if rng.below(4) == 0 {
                out.push(0xFF);
                out.extend(rng.next_u64().to_le_bytes());
            } else {
                out.push(rng.below(INTERESTING.len() as u64) as u8);
            }
        }
    } else {
        out.push(rng.byte() & 0x03);
        for _ in 0..3 {
            out.extend((rng.next_u64() as u32).to_le_bytes());
        }
    }
}

/// A `chunk_stream` input with up to ~256 KiB of structured data.
pub fn generate_stream_input(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    generate_config(rng, &mut out);
    out.push(rng.byte());
    let nsplits = rng.byte();
    out.push(nsplits);
    for _ in 0..1 + nsplits as usize % 16 {
        // Zero-length feeds now and then.
        out.push(if rng.below(6) == 0 { 0 } else { rng.byte() });
    }
    let len = rng.len_up_to(256 << 10);
    out.extend(rng.structured(len));
    out
}

/// A `chunk_reader` input with up to ~256 KiB of structured data.
pub fn generate_reader_input(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    generate_config(rng, &mut out);
    out.push(rng.byte());
    out.extend((rng.below(70_000) as u16).to_le_bytes());
    let nops = rng.byte();
    out.push(nops);
    for _ in 0..1 + nops as usize % 16 {
        out.push(match rng.below(20) {
            0 => 0,
            1 => 255,
            _ => rng.byte(),
        });
    }
    let len = rng.len_up_to(256 << 10);
    out.extend(rng.structured(len));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_agree_on_examples() {
        assert!(violations(64, 256, 1024, 0).is_empty());
        assert_eq!(violations(65, 256, 1024, 0), ["min_size"]);
        assert_eq!(violations(64, 256, 1024, 4), ["normalization"]);
        assert_eq!(violations(512, 256, 1024, 1), ["min_size", "avg_size"]);
    }

    #[test]
    fn feed_plan_covers_and_terminates() {
        assert_eq!(feed_plan(5, &[0], 1), [(0, 0), (0, 5)]);
        assert_eq!(feed_plan(5, &[2], 1), [(0, 2), (2, 4), (4, 5)]);
        assert!(feed_plan(0, &[3], 7).is_empty());
    }

    #[test]
    fn scripted_reader_errors_are_reported_and_eintr_retried() {
        let config = ChunkerConfig::new(64, 256, 1024, 1).unwrap();
        let data = [7u8; 100];
        let reader = |ops: Vec<u8>| ScriptedReader {
            data: &data,
            ops,
            scale: 1,
            step: 0,
            interrupted: false,
            failed: false,
            after_eof: false,
        };
        let mut failing = reader(vec![10, 255]);
        let result = cdc::chunk_reader(&mut failing, config, None, 16);
        assert!(failing.failed);
        assert!(matches!(result, Err(Error::Io(e)) if e.kind() == io::ErrorKind::Other));

        let mut flaky = reader(vec![0, 9]);
        let chunks = cdc::chunk_reader(&mut flaky, config, None, 16).unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].chunk.length, 100);
        assert!(flaky.step > 2 * 100 / 9, "interrupted reads were retried");
    }
}

//! Resumable chunking: feed bytes in any pieces, get each cut as soon as it
//! is decided. Every byte is scanned at most once, so the total work is
//! O(bytes) whatever the feed sizes.

use super::{scan::scan, Chunk, ChunkerConfig, Error};
use crate::digest::{HashAlgo, Hasher};

/// Streaming cut finder. It keeps no input bytes, only the scan state.
#[derive(Debug, Clone)]
pub struct StreamChunker {
    config: ChunkerConfig,
    /// Absolute offset of the current chunk's first byte.
    start: u64,
    /// Next absolute position to hash.
    position: u64,
    /// Total bytes fed so far.
    fed: u64,
    hash: u64,
    /// A hit at an even distance waits for the byte after it (pair rule).
    pending: Option<u64>,
    finished: bool,
}

impl StreamChunker {
    /// A new stream at offset 0.
    pub fn new(config: ChunkerConfig) -> Self {
        Self {
            config,
            start: 0,
            position: 0,
            fed: 0,
            hash: 0,
            pending: None,
            finished: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ChunkerConfig {
        &self.config
    }

    /// Total bytes fed so far.
    pub fn fed(&self) -> u64 {
        self.fed
    }

    /// Absolute offset where the current (undecided) chunk starts.
    pub fn chunk_start(&self) -> u64 {
        self.start
    }

    /// Bytes before this offset belong to emitted chunks or to the current
    /// chunk for sure; the (at most one) byte after it is still undecided.
    pub fn settled(&self) -> u64 {
        self.pending.unwrap_or(self.fed)
    }

    /// Whether [`finish`](Self::finish) was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Feeds the next bytes of the stream, appending decided chunks to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Chunk>) -> Result<(), Error> {
        if self.finished {
            return Err(Error::Finished);
        }
        if data.is_empty() {
            return Ok(());
        }
        let base = self.fed;
        let end = base.checked_add(data.len() as u64).ok_or(Error::Overflow)?;
        self.fed = end;
        if let Some(cut) = self.pending.take() {
            // The byte after the hit exists: the cut stands.
            self.emit(cut, out);
        }
        let (min, avg, max) = (
            self.config.min_size as u64,
            self.config.avg_size as u64,
            self.config.max_size as u64,
        );
        loop {
            let max_end = self.start + max;
            self.position = self.position.max(self.start + min);
            let avg_end = self.start + avg;
            let mut hit = None;
            if self.position < avg_end.min(end) {
                let to = avg_end.min(end);
                hit = self.scan_to(data, base, to, self.config.mask_s);
            }
            if hit.is_none() && self.position >= avg_end && self.position < max_end.min(end) {
                let to = max_end.min(end);
                hit = self.scan_to(data, base, to, self.config.mask_l);
            }
            match hit {
                Some(i) if (i - self.start) % 2 == 0 && i + 1 >= end => {
                    self.pending = Some(i);
                    self.position = end;
                    return Ok(());
                }
                Some(i) => self.emit(i, out),
                // `max_end <= end`: with min_size == max_size the position
                // jumps to `max_end` before those bytes are fed.
                None if self.position >= max_end && max_end <= end => self.emit(max_end, out),
                None => return Ok(()),
            }
        }
    }

    /// Ends the stream; the remaining bytes (if any) form the last chunk.
    pub fn finish(&mut self) -> Result<Option<Chunk>, Error> {
        if self.finished {
            return Err(Error::Finished);
        }
        self.finished = true;
        self.pending = None;
        if self.fed > self.start {
            let chunk = Chunk {
                offset: self.start,
                length: (self.fed - self.start) as usize,
            };
            self.start = self.fed;
            Ok(Some(chunk))
        } else {
            Ok(None)
        }
    }

    /// Scans from `self.position` to absolute `to` within the feed at `base`.
    fn scan_to(&mut self, data: &[u8], base: u64, to: u64, mask: u64) -> Option<u64> {
        let from = (self.position - base) as usize;
        let to_rel = (to - base) as usize;
        match scan(data, from, to_rel, mask, &mut self.hash) {
            Some(i) => Some(base + i as u64),
            None => {
                self.position = to;
                None
            }
        }
    }

    fn emit(&mut self, cut: u64, out: &mut Vec<Chunk>) {
        out.push(Chunk {
            offset: self.start,
            length: (cut - self.start) as usize,
        });
        self.start = cut;
        self.position = cut;
        self.hash = 0;
    }
}

/// Where a streamed chunk's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Not kept (payloads were not asked for).
    None,
    /// Entirely inside the slice just fed: `data[start..end]`.
    InFeed { start: usize, end: usize },
    /// Spans feeds: assembled from kept bytes.
    Owned(Vec<u8>),
}

/// A chunk with its digest and, if asked for, its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedChunk {
    pub chunk: Chunk,
    pub digest: Option<[u8; 32]>,
    pub payload: Payload,
}

/// A [`StreamChunker`] that also hashes each chunk and, optionally, hands out
/// its payload. It keeps only the bytes of the current undecided chunk (when
/// payloads are asked for) or at most one undecided byte (otherwise).
#[derive(Debug)]
pub struct HashingStream {
    chunker: StreamChunker,
    hasher: Option<Hasher>,
    keep_payloads: bool,
    /// Bytes from `tail_start` up to the end of what was fed.
    tail: Vec<u8>,
    tail_start: u64,
    /// Bytes before this offset went into the hasher.
    hashed: u64,
    cuts: Vec<Chunk>,
}

impl HashingStream {
    /// A new stream hashing with `algo` (none if `None`).
    pub fn new(config: ChunkerConfig, algo: Option<HashAlgo>, keep_payloads: bool) -> Self {
        Self {
            chunker: StreamChunker::new(config),
            hasher: algo.map(Hasher::new),
            keep_payloads,
            tail: Vec::new(),
            tail_start: 0,
            hashed: 0,
            cuts: Vec::new(),
        }
    }

    /// Total bytes fed so far.
    pub fn fed(&self) -> u64 {
        self.chunker.fed()
    }

    /// Whether the stream was finished.
    pub fn is_finished(&self) -> bool {
        self.chunker.is_finished()
    }

    /// Feeds `data`, appending every chunk decided by it to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<HashedChunk>) -> Result<(), Error> {
        let base = self.chunker.fed();
        let mut cuts = std::mem::take(&mut self.cuts);
        cuts.clear();
        let result = self.chunker.feed(data, &mut cuts);
        if result.is_ok() {
            for &chunk in &cuts {
                out.push(self.complete(chunk, data, base));
            }
            self.hash_upto(self.chunker.settled(), data, base);
            self.keep_tail(data, base);
        }
        self.cuts = cuts;
        result
    }

    /// Ends the stream, returning the last chunk if there is one.
    pub fn finish(&mut self) -> Result<Option<HashedChunk>, Error> {
        let base = self.chunker.fed();
        Ok(self
            .chunker
            .finish()?
            .map(|chunk| self.complete(chunk, &[], base)))
    }

    fn complete(&mut self, chunk: Chunk, data: &[u8], base: u64) -> HashedChunk {
        self.hash_upto(chunk.end(), data, base);
        let digest = self.hasher.as_mut().map(Hasher::finalize_reset);
        let payload = if !self.keep_payloads {
            Payload::None
        } else if chunk.offset >= base {
            let start = (chunk.offset - base) as usize;
            Payload::InFeed {
                start,
                end: start + chunk.length,
            }
        } else {
            let mut bytes = Vec::with_capacity(chunk.length);
            self.copy_range(chunk.offset, chunk.end(), data, base, |s| {
                bytes.extend_from_slice(s)
            });
            Payload::Owned(bytes)
        };
        HashedChunk {
            chunk,
            digest,
            payload,
        }
    }

    fn hash_upto(&mut self, to: u64, data: &[u8], base: u64) {
        if self.hashed >= to {
            return;
        }
        if let Some(mut hasher) = self.hasher.take() {
            self.copy_range(self.hashed, to, data, base, |s| hasher.update(s));
            self.hasher = Some(hasher);
        }
        self.hashed = to;
    }

    /// Calls `f` on the bytes `[from, to)`, taken from the tail and the feed.
    fn copy_range(&self, from: u64, to: u64, data: &[u8], base: u64, mut f: impl FnMut(&[u8])) {
        if from < base {
            let a = (from - self.tail_start) as usize;
            let b = (to.min(base) - self.tail_start) as usize;
            f(&self.tail[a..b]);
        }
        if to > base {
            let a = (from.max(base) - base) as usize;
            f(&data[a..(to - base) as usize]);
        }
    }

    /// Keeps the bytes still needed later: the current chunk's (payloads) or
    /// those not yet hashed.
    fn keep_tail(&mut self, data: &[u8], base: u64) {
        let keep_from = if self.keep_payloads {
            self.chunker.chunk_start()
        } else {
            self.hashed.max(self.chunker.chunk_start())
        };
        if keep_from >= base {
            self.tail.clear();
            self.tail
                .extend_from_slice(&data[(keep_from - base) as usize..]);
        } else {
            self.tail.drain(..(keep_from - self.tail_start) as usize);
            self.tail.extend_from_slice(data);
        }
        self.tail_start = keep_from;
    }
}

//! Concurrent ingest: chunk -> hash -> skip known -> compress, in order.
//!
//! A [`Pipeline`] is fed bytes in any pieces by one caller. Cut points are
//! found in [`Pipeline::feed`] (sequential by nature, fast); each chunk then
//! becomes a job on a shared, bounded worker pool ([`pool`]) that hashes it,
//! decides whether it is already known and compresses it if not. Finished
//! chunks are handed to a [`Sink`] strictly in stream order, in batches, from
//! the worker threads, so the caller never waits for the whole input.
//!
//! Memory is bounded by backpressure: every chunk's bytes count as in flight
//! from the cut until the consumer calls [`Control::ack`]; `feed` answers
//! [`Room::Full`] once `max_in_flight_bytes` are in flight, and the caller
//! should then wait for deliveries (which are guaranteed to come) before
//! feeding more. Cancelling ([`Control::cancel`], or dropping the
//! [`Pipeline`]) stops all queued work, drops the buffered bytes and
//! guarantees the sink is not called again.
//!
//! ```
//! use chunker_core::cdc::ChunkerConfig;
//! use chunker_core::pipeline::{Options, Output, Pipeline, Sink};
//! use std::sync::mpsc;
//!
//! struct Channel(std::sync::Mutex<mpsc::Sender<Vec<Output>>>);
//! impl Sink for Channel {
//!     fn deliver(&self, batch: Vec<Output>) -> bool {
//!         self.0.lock().unwrap().send(batch).is_ok()
//!     }
//! }
//!
//! let (tx, rx) = mpsc::channel();
//! let options = Options::new(ChunkerConfig::new(64, 256, 1024, 1).unwrap());
//! let mut p = Pipeline::new(options, Channel(std::sync::Mutex::new(tx)));
//! let data: Vec<u8> = (0..10_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
//! p.feed(&data).unwrap();
//! let chunks = p.finish().unwrap();
//! let (mut seen, mut bytes) = (0, 0);
//! while seen < chunks {
//!     let batch = rx.recv().unwrap();
//!     seen += batch.len() as u64;
//!     bytes += batch.iter().map(|o| o.chunk.length).sum::<usize>();
//! }
//! assert_eq!(bytes, data.len());
//! ```

pub mod batch;
mod bytes;
pub mod feeder;
pub mod file;
pub mod pool;
mod sequential;
mod worker;

pub use bytes::SharedInput;
pub use sequential::sequential;

use bytes::Bytes;

use crate::cdc::{Chunk, ChunkerConfig, Error, StreamChunker};
use crate::digest::HashAlgo;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Default bound on buffered bytes: 64 MiB.
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 64 << 20;

/// The compression stage: anything that turns a chunk into stored bytes.
pub trait Compressor: Send + Sync {
    /// Appends the compressed form of `data` to `out`.
    fn compress(&self, data: &[u8], out: &mut Vec<u8>) -> Result<(), String>;
}

impl<F> Compressor for F
where
    F: Fn(&[u8], &mut Vec<u8>) -> Result<(), String> + Send + Sync,
{
    fn compress(&self, data: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        self(data, out)
    }
}

/// How the pipeline learns that the store already has a chunk.
#[derive(Default)]
pub enum Known {
    /// Nothing is known: every chunk is compressed.
    #[default]
    Nothing,
    /// These digests are known.
    Set(HashSet<[u8; 32]>),
    /// Ask the sink ([`Sink::ask`]) and wait for [`Control::decide`].
    Ask,
}

/// Where results go. Called from worker threads, one call at a time, in
/// stream order.
pub trait Sink: Send + Sync + 'static {
    /// The next finished chunks, in order. Returns `false` if nobody
    /// listens any more (the pipeline cancels).
    fn deliver(&self, batch: Vec<Output>) -> bool;

    /// Digests to look up ([`Known::Ask`]); answer with [`Control::decide`].
    fn ask(&self, _batch: Vec<(u64, [u8; 32])>) -> bool {
        false
    }

    /// The pipeline failed (e.g. the compressor returned an error).
    fn fail(&self, _reason: String) {}
}

/// Pipeline options.
pub struct Options {
    pub config: ChunkerConfig,
    /// Digest per chunk; `None` disables hashing (and known-chunk lookups).
    pub algo: Option<HashAlgo>,
    /// `None`: no compression stage (`compressed` holds the raw bytes).
    pub compressor: Option<Arc<dyn Compressor>>,
    pub known: Known,
    /// Also hand out each chunk's raw bytes.
    pub payloads: bool,
    pub max_in_flight_bytes: u64,
    /// Optional content-verified digest cache.
    pub cache: Option<Arc<crate::cache::HashCache>>,
}

impl Options {
    /// SHA-256, no compression, nothing known, 64 MiB in flight.
    pub fn new(config: ChunkerConfig) -> Self {
        Options {
            config,
            algo: Some(HashAlgo::Sha256),
            compressor: None,
            known: Known::Nothing,
            payloads: false,
            max_in_flight_bytes: DEFAULT_MAX_IN_FLIGHT,
            cache: None,
        }
    }
}

/// One finished chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Position in the stream (0, 1, 2, ...).
    pub seq: u64,
    pub chunk: Chunk,
    pub digest: Option<[u8; 32]>,
    /// Whether the store already has it (then `compressed` is `None`).
    pub known: bool,
    /// What to store: the compressed bytes (raw bytes without a compressor).
    pub compressed: Option<Vec<u8>>,
    /// The raw bytes, with `payloads`.
    pub data: Option<Vec<u8>>,
}

/// Whether the caller may feed more now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// Under the limit (or nothing is pending that could free memory).
    Free,
    /// At the limit: wait for a delivery, [`Control::ack`] it, then feed.
    Full,
}

/// In-order delivery state, guarded by one mutex; every sink call happens
/// under it, so after [`Control::cancel`] returns the sink is never called.
/// `closed` once everything was delivered (or on cancel).
struct Order {
    next: u64,
    ready: BTreeMap<u64, Output>,
    /// Total number of chunks once finished.
    total: Option<u64>,
    closed: bool,
}

pub(crate) struct Shared {
    sink: Box<dyn Sink>,
    algo: Option<HashAlgo>,
    compressor: Option<Arc<dyn Compressor>>,
    known: Known,
    payloads: bool,
    cache: Option<Arc<crate::cache::HashCache>>,
    cancelled: AtomicBool,
    /// Bytes of chunks cut and not yet acknowledged.
    in_flight: AtomicU64,
    order: Mutex<Order>,
    /// Chunks waiting for a [`Control::decide`] answer (`Known::Ask`).
    parked: Mutex<HashMap<u64, worker::Hashed>>,
    /// Signalled on every acknowledgement and on cancel ([`feeder`] waits
    /// on it for room).
    room_signal: (Mutex<()>, std::sync::Condvar),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A handle for acknowledging, deciding and cancelling; cheap to clone and
/// usable from any thread while the feeder keeps the [`Pipeline`].
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
    max_in_flight: u64,
}

impl Control {
    /// The consumer is done with `bytes` (sum of delivered chunk lengths).
    pub fn ack(&self, bytes: u64) -> Room {
        let _ = self
            .shared
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(bytes))
            });
        self.shared.signal_room();
        self.room(0)
    }

    /// Bytes currently in flight (cut, not acknowledged).
    pub fn in_flight(&self) -> u64 {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    fn room(&self, extra: u64) -> Room {
        let jobs = self.in_flight();
        if jobs > 0 && jobs + extra >= self.max_in_flight {
            Room::Full
        } else {
            Room::Free
        }
    }

    /// Answers a [`Sink::ask`]: `(seq, known)` pairs. Known chunks are
    /// delivered without compression, the others are compressed.
    pub fn decide(&self, answers: &[(u64, bool)]) {
        let jobs: Vec<(worker::Hashed, bool)> = {
            let mut parked = lock(&self.shared.parked);
            answers
                .iter()
                .filter_map(|&(seq, known)| parked.remove(&seq).map(|h| (h, known)))
                .collect()
        };
        for (hashed, known) in jobs {
            let shared = Arc::clone(&self.shared);
            pool::get().spawn_fifo(move || worker::finish(&shared, hashed, known));
        }
    }

    /// Stops the work: queued jobs drop their bytes unprocessed and the sink
    /// is not called after this returns.
    pub fn cancel(&self) {
        self.shared.shut();
        self.shared.signal_room();
    }

    /// [`Control::cancel`] without waiting for a delivery in progress (from
    /// a destructor): the sink may still be called once.
    pub fn cancel_nonblocking(&self) {
        self.shared.shut_nonblocking();
        self.shared.signal_room();
    }

    /// Whether the pipeline was cancelled (explicitly or by a gone sink).
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancelled.load(Ordering::Acquire)
    }
}

/// The feeding side of an ingest. Dropping it cancels the work.
pub struct Pipeline {
    control: Control,
    chunker: StreamChunker,
    /// Bytes of the current undecided chunk, from `tail_start` (with
    /// `shared_tail` unset).
    tail: Vec<u8>,
    /// Set when those bytes lie in a shared input instead: the input and the
    /// index of `tail_start` in it (nothing was copied).
    shared_tail: Option<(Arc<dyn SharedInput>, usize)>,
    tail_start: u64,
    /// `max_size`: the tail's capacity.
    max_chunk: usize,
    next_seq: u64,
    cuts: Vec<Chunk>,
    /// Dropping does not cancel ([`Pipeline::detach`]).
    detached: bool,
}

impl Pipeline {
    /// A new ingest delivering to `sink`.
    pub fn new(options: Options, sink: impl Sink) -> Self {
        let shared = Arc::new(Shared {
            sink: Box::new(sink),
            algo: options.algo,
            compressor: options.compressor,
            known: if options.algo.is_some() {
                options.known
            } else {
                Known::Nothing
            },
            payloads: options.payloads,
            cache: options.cache,
            cancelled: AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
            order: Mutex::new(Order {
                next: 0,
                ready: BTreeMap::new(),
                total: None,
                closed: false,
            }),
            parked: Mutex::new(HashMap::new()),
            room_signal: (Mutex::new(()), std::sync::Condvar::new()),
        });
        Pipeline {
            control: Control {
                shared,
                max_in_flight: options.max_in_flight_bytes.max(1),
            },
            chunker: StreamChunker::new(options.config),
            tail: Vec::new(),
            shared_tail: None,
            tail_start: 0,
            max_chunk: options.config.max_size(),
            next_seq: 0,
            cuts: Vec::new(),
            detached: false,
        }
    }

    /// The control handle.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Lets go of the feeding side after [`Pipeline::finish`] without
    /// cancelling: the queued chunks are still delivered (cancel through a
    /// [`Control`]).
    pub fn detach(mut self) {
        self.detached = true;
    }

    /// Whether more may be fed now (counting the undecided chunk's bytes).
    pub fn room(&self) -> Room {
        self.control.room(self.chunker.fed() - self.tail_start)
    }

    /// Total bytes fed.
    pub fn fed(&self) -> u64 {
        self.chunker.fed()
    }

    /// Cuts `data` (the next bytes of the stream) and queues its chunks,
    /// copying each byte once.
    pub fn feed(&mut self, data: &[u8]) -> Result<Room, Error> {
        if self.control.is_cancelled() {
            return Err(Error::Finished);
        }
        self.own_tail();
        let base = self.chunker.fed();
        let cuts = self.cut(data)?;
        for &chunk in &cuts {
            let bytes = self.take_chunk(chunk, data, base);
            self.submit(chunk, Bytes::Owned(bytes));
        }
        self.cuts = cuts;
        // Keep the bytes of the undecided chunk, in a buffer big enough for
        // a whole chunk (it becomes that chunk's buffer).
        let keep_from = self.chunker.chunk_start();
        if keep_from >= base {
            let rest = &data[(keep_from - base) as usize..];
            if self.tail.capacity() == 0 && !rest.is_empty() {
                self.tail = Vec::with_capacity(self.max_chunk.max(rest.len()));
            }
            self.tail.clear();
            self.tail.extend_from_slice(rest);
        } else {
            debug_assert_eq!(keep_from, self.tail_start);
            self.tail.extend_from_slice(data);
        }
        self.tail_start = keep_from;
        Ok(self.control.room(self.tail.len() as u64))
    }

    /// Ends the stream: queues the last chunk. Returns the total number of
    /// chunks; the stream is complete once that many were delivered.
    pub fn finish(&mut self) -> Result<u64, Error> {
        if self.control.is_cancelled() {
            return Err(Error::Finished);
        }
        if let Some(chunk) = self.chunker.finish()? {
            debug_assert_eq!(chunk.offset, self.tail_start);
            let bytes = match self.shared_tail.take() {
                Some((input, at)) => Bytes::Shared(input, at, chunk.length),
                None => Bytes::Owned(std::mem::take(&mut self.tail)),
            };
            self.submit(chunk, bytes);
        }
        self.tail = Vec::new();
        self.shared_tail = None;
        let mut order = lock(&self.control.shared.order);
        order.total = Some(self.next_seq);
        if order.next == self.next_seq {
            order.closed = true;
        }
        Ok(self.next_seq)
    }

    /// The chunk's bytes, each input byte copied once: a chunk inside this
    /// feed is copied out of it; otherwise the tail (which always starts at
    /// the current chunk) becomes the chunk's buffer.
    fn take_chunk(&mut self, chunk: Chunk, data: &[u8], base: u64) -> Vec<u8> {
        if chunk.offset >= base {
            let a = (chunk.offset - base) as usize;
            return data[a..a + chunk.length].to_vec();
        }
        debug_assert_eq!(
            chunk.offset, self.tail_start,
            "the tail starts at the chunk"
        );
        self.tail_start = chunk.end();
        if chunk.end() <= base {
            // Entirely in the tail (a cut decided by this feed's first byte).
            let rest = self.tail.split_off(chunk.length);
            return std::mem::replace(&mut self.tail, rest);
        }
        let mut bytes = std::mem::take(&mut self.tail);
        bytes.extend_from_slice(&data[..(chunk.end() - base) as usize]);
        // Give back the unused capacity (an in-place shrink, no copy) so
        // in-flight memory is the chunk's length.
        bytes.shrink_to_fit();
        bytes
    }

    /// Cuts `input[range]` (the next bytes of the stream) and queues its
    /// chunks without copying them: the workers read them in place. A chunk
    /// that starts in an earlier piece is copied unless that piece was the
    /// adjacent range of the same input.
    pub fn feed_shared(
        &mut self,
        input: &Arc<dyn SharedInput>,
        range: std::ops::Range<usize>,
    ) -> Result<Room, Error> {
        if self.control.is_cancelled() {
            return Err(Error::Finished);
        }
        let base = self.chunker.fed();
        let adjacent = matches!(&self.shared_tail, Some((i, at))
            if Arc::ptr_eq(i, input) && at + (base - self.tail_start) as usize == range.start);
        if !adjacent {
            self.own_tail();
        }
        let data = &input.bytes()[range.clone()];
        let cuts = self.cut(data)?;
        for &chunk in &cuts {
            let bytes = if chunk.offset >= base {
                let at = range.start + (chunk.offset - base) as usize;
                Bytes::Shared(Arc::clone(input), at, chunk.length)
            } else if let Some((_, at)) = &mut self.shared_tail {
                // Adjacent: the chunk starts at the tail, in this input.
                let bytes = Bytes::Shared(Arc::clone(input), *at, chunk.length);
                *at += chunk.length;
                self.tail_start = chunk.end();
                bytes
            } else {
                Bytes::Owned(self.take_chunk(chunk, data, base))
            };
            self.submit(chunk, bytes);
        }
        self.cuts = cuts;
        let keep_from = self.chunker.chunk_start();
        if keep_from >= base {
            let at = range.start + (keep_from - base) as usize;
            self.shared_tail = Some((Arc::clone(input), at));
            self.tail.clear();
        } else if self.shared_tail.is_none() {
            debug_assert_eq!(keep_from, self.tail_start);
            self.tail.extend_from_slice(data);
        }
        self.tail_start = keep_from;
        let pending = self.chunker.fed() - keep_from;
        Ok(self.control.room(pending))
    }

    /// The cut points in the next piece (in `self.cuts`' reused buffer).
    fn cut(&mut self, data: &[u8]) -> Result<Vec<Chunk>, Error> {
        let mut cuts = std::mem::take(&mut self.cuts);
        cuts.clear();
        let timer = crate::metrics::Timer::start();
        let result = self.chunker.feed(data, &mut cuts);
        timer.stop(crate::metrics::Stage::Chunk, data.len() as u64);
        result.map(|()| cuts)
    }

    /// Copies a tail lying in a shared input into `tail` (before bytes that
    /// do not continue that input).
    fn own_tail(&mut self) {
        if let Some((input, at)) = self.shared_tail.take() {
            let len = (self.chunker.fed() - self.tail_start) as usize;
            self.tail.clear();
            self.tail.reserve(self.max_chunk.max(len));
            self.tail.extend_from_slice(&input.bytes()[at..at + len]);
        }
    }

    fn submit(&mut self, chunk: Chunk, bytes: Bytes) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let shared = &self.control.shared;
        shared
            .in_flight
            .fetch_add(chunk.length as u64, Ordering::AcqRel);
        let shared = Arc::clone(shared);
        pool::get().spawn_fifo(move || worker::run(&shared, seq, chunk, bytes));
    }
}

impl Drop for Pipeline {
    /// Cancels unless everything was delivered (or detached); never blocks.
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        let shared = &self.control.shared;
        let complete = match shared.order.try_lock() {
            Ok(order) => order.closed && !self.control.is_cancelled(),
            Err(_) => false,
        };
        if !complete {
            shared.shut_nonblocking();
        }
    }
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

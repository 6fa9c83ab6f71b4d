//! What a pool thread does with one chunk, and in-order delivery.

use super::{lock, Bytes, Known, Output, Shared};
use crate::cdc::Chunk;
use crate::metrics::{self, Stage, Timer};
use std::sync::atomic::Ordering;

/// A hashed chunk waiting for the known/unknown decision.
pub(crate) struct Hashed {
    seq: u64,
    chunk: Chunk,
    digest: Option<[u8; 32]>,
    bytes: Bytes,
}

/// Hash, look up, compress, deliver.
pub(crate) fn run(shared: &Shared, seq: u64, chunk: Chunk, bytes: Bytes) {
    if shared.cancelled.load(Ordering::Acquire) {
        return;
    }
    if let Known::Nothing = shared.known {
        // No lookup waits for the digest: compress first, then hash the
        // bytes the compressor just pulled into this core's cache (hashing
        // a chunk fresh from memory first cost about a third more).
        let Some(compressed) = compress(shared, &bytes) else {
            return;
        };
        let digest = hash(shared, &bytes);
        return deliver(shared, seq, chunk, digest, false, Some(compressed), bytes);
    }
    let digest = hash(shared, &bytes);
    let hashed = Hashed {
        seq,
        chunk,
        digest,
        bytes,
    };
    match (&shared.known, digest) {
        (Known::Set(set), Some(d)) => finish(shared, hashed, set.contains(&d)),
        (Known::Ask, Some(d)) => {
            lock(&shared.parked).insert(seq, hashed);
            if shared.cancelled.load(Ordering::Acquire) {
                lock(&shared.parked).clear();
                return;
            }
            let order = lock(&shared.order);
            let open = !order.closed && !shared.cancelled.load(Ordering::Acquire);
            if open && !shared.sink.ask(vec![(seq, d)]) {
                drop(order);
                shared.shut();
            }
        }
        _ => finish(shared, hashed, false),
    }
}

fn hash(shared: &Shared, bytes: &Bytes) -> Option<[u8; 32]> {
    shared.algo.map(|algo| {
        let timer = Timer::start();
        let d = match &shared.cache {
            Some(cache) => cache.digest(algo, bytes.as_slice()),
            None => algo.digest(bytes.as_slice()),
        };
        timer.stop(Stage::Hash, bytes.len() as u64);
        d
    })
}

/// What to store for an unknown chunk: the compressed bytes (a copy
/// without a compressor); `None` if the compressor failed (the ingest is
/// then failed and shut).
fn compress(shared: &Shared, bytes: &Bytes) -> Option<Vec<u8>> {
    let Some(c) = &shared.compressor else {
        return Some(bytes.as_slice().to_vec());
    };
    let timer = Timer::start();
    let mut out = Vec::new();
    if let Err(reason) = c.compress(bytes.as_slice(), &mut out) {
        let order = lock(&shared.order);
        if !order.closed && !shared.cancelled.load(Ordering::Acquire) {
            shared.sink.fail(reason);
        }
        drop(order);
        shared.shut();
        return None;
    }
    timer.stop(Stage::Compress, bytes.len() as u64);
    metrics::count_compressed(bytes.len() as u64, out.len() as u64);
    Some(out)
}

/// Compress unless known, then deliver.
pub(crate) fn finish(shared: &Shared, hashed: Hashed, known: bool) {
    if shared.cancelled.load(Ordering::Acquire) {
        return;
    }
    let Hashed {
        seq,
        chunk,
        digest,
        bytes,
    } = hashed;
    let compressed = if known {
        metrics::count_known(chunk.length as u64);
        None
    } else {
        let Some(out) = compress(shared, &bytes) else {
            return;
        };
        Some(out)
    };
    deliver(shared, seq, chunk, digest, known, compressed, bytes);
}

fn deliver(
    shared: &Shared,
    seq: u64,
    chunk: Chunk,
    digest: Option<[u8; 32]>,
    known: bool,
    compressed: Option<Vec<u8>>,
    bytes: Bytes,
) {
    let data = shared.payloads.then(|| bytes.into_vec());
    complete(
        shared,
        Output {
            seq,
            chunk,
            digest,
            known,
            compressed,
            data,
        },
    );
}

/// Records a finished chunk and delivers every chunk now in order.
fn complete(shared: &Shared, output: Output) {
    let mut guard = lock(&shared.order);
    let order = &mut *guard;
    if order.closed || shared.cancelled.load(Ordering::Acquire) {
        order.ready.clear();
        return;
    }
    order.ready.insert(output.seq, output);
    let mut batch = Vec::new();
    while let Some(o) = order.ready.remove(&order.next) {
        order.next += 1;
        batch.push(o);
    }
    if batch.is_empty() {
        return;
    }
    metrics::count_chunks(
        batch.len() as u64,
        batch.iter().map(|o| o.chunk.length as u64).sum(),
    );
    if order.total == Some(order.next) {
        order.closed = true;
    }
    if !shared.sink.deliver(batch) {
        drop(guard);
        shared.shut();
    }
}

impl Shared {
    /// Wakes a feeder waiting for room.
    pub(crate) fn signal_room(&self) {
        let (lock_, cvar) = &self.room_signal;
        drop(lock(lock_));
        cvar.notify_all();
    }

    /// Waits until `room()` says there is room or the ingest is cancelled
    /// (`false` then).
    pub(crate) fn wait_room(&self, room: impl Fn() -> super::Room) -> bool {
        let (m, cvar) = &self.room_signal;
        let mut guard = lock(m);
        loop {
            if self.cancelled.load(Ordering::Acquire) {
                return false;
            }
            if room() == super::Room::Free {
                return true;
            }
            // The timeout only guards against a missed signal.
            guard = cvar
                .wait_timeout(guard, std::time::Duration::from_millis(50))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Cancels: drops buffered bytes; the sink is not called afterwards.
    pub(crate) fn shut(&self) {
        self.cancelled.store(true, Ordering::Release);
        let mut order = lock(&self.order);
        order.closed = true;
        order.ready.clear();
        drop(order);
        lock(&self.parked).clear();
    }

    /// Cancels without waiting for a lock (from a destructor, which may run
    /// on a BEAM scheduler): senders check the flag under the delivery
    /// lock, and buffered bytes go with the last job at the latest.
    pub(crate) fn shut_nonblocking(&self) {
        self.cancelled.store(true, Ordering::Release);
        if let Ok(mut order) = self.order.try_lock() {
            order.closed = true;
            order.ready.clear();
        }
        if let Ok(mut parked) = self.parked.try_lock() {
            parked.clear();
        }
    }
}

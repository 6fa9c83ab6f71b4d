//! A bounded LRU cache of chunk digests, keyed by the chunk's content.
//!
//! A lookup fingerprints the bytes with XXH3 (much faster than SHA-256 or
//! BLAKE3), and a hit is only returned after comparing the cached bytes
//! with the chunk's in full, so a fingerprint collision can cost a miss but
//! never produce a wrong digest. The cache keeps a copy of every cached
//! chunk: `max_memory_bytes` bounds those copies plus a per-entry overhead.
//! It pays off only when the same chunks come back often (re-ingesting the
//! same data); see the README for a measurement.

use crate::digest::HashAlgo;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Bookkeeping bytes counted per entry on top of the chunk's length.
pub const ENTRY_OVERHEAD: usize = 96;

const NIL: usize = usize::MAX;

struct Entry {
    key: (u64, HashAlgo),
    data: Box<[u8]>,
    digest: [u8; 32],
    prev: usize,
    next: usize,
}

#[derive(Default)]
struct Lru {
    map: HashMap<(u64, HashAlgo), usize>,
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    /// Most recently used.
    head: usize,
    tail: usize,
    memory: usize,
}

/// Hit, miss and eviction counts and the current size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub entries: usize,
    pub memory_bytes: usize,
}

/// A digest cache, safe to share between threads.
pub struct HashCache {
    max_entries: usize,
    max_memory: usize,
    fingerprint: fn(&[u8]) -> u64,
    lru: Mutex<Lru>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl HashCache {
    /// A cache of at most `max_entries` chunks and `max_memory_bytes`.
    pub fn new(max_entries: usize, max_memory_bytes: usize) -> Self {
        Self::with_fingerprint(max_entries, max_memory_bytes, xxhash_rust::xxh3::xxh3_64)
    }

    /// Same, with another fingerprint function (tests force collisions).
    pub fn with_fingerprint(
        max_entries: usize,
        max_memory_bytes: usize,
        fingerprint: fn(&[u8]) -> u64,
    ) -> Self {
        HashCache {
            max_entries,
            max_memory: max_memory_bytes,
            fingerprint,
            lru: Mutex::new(Lru {
                head: NIL,
                tail: NIL,
                ..Lru::default()
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The digest of `data` with `algo`, from the cache or computed.
    pub fn digest(&self, algo: HashAlgo, data: &[u8]) -> [u8; 32] {
        let key = ((self.fingerprint)(data), algo);
        {
            let mut lru = self.lock();
            if let Some(&i) = lru.map.get(&key) {
                let entry = lru.slots[i].as_ref().expect("mapped slot is live");
                if *entry.data == *data {
                    let digest = entry.digest;
                    lru.unlink(i);
                    lru.push_front(i);
                    drop(lru);
                    self.hits.fetch_add(1, Relaxed);
                    return digest;
                }
            }
        }
        self.misses.fetch_add(1, Relaxed);
        let digest = algo.digest(data);
        self.insert(key, data, digest);
        digest
    }

    fn insert(&self, key: (u64, HashAlgo), data: &[u8], digest: [u8; 32]) {
        let size = data.len() + ENTRY_OVERHEAD;
        if self.max_entries == 0 || size > self.max_memory {
            return;
        }
        let mut lru = self.lock();
        if let Some(&old) = lru.map.get(&key) {
            // Same fingerprint, other bytes (or a racing insert): replace.
            lru.remove(old);
        }
        while lru.map.len() >= self.max_entries || lru.memory + size > self.max_memory {
            let victim = lru.tail;
            lru.remove(victim);
            self.evictions.fetch_add(1, Relaxed);
        }
        let entry = Entry {
            key,
            data: data.into(),
            digest,
            prev: NIL,
            next: NIL,
        };
        let i = match lru.free.pop() {
            Some(i) => {
                lru.slots[i] = Some(entry);
                i
            }
            None => {
                lru.slots.push(Some(entry));
                lru.slots.len() - 1
            }
        };
        lru.memory += size;
        lru.map.insert(key, i);
        lru.push_front(i);
    }

    /// Current counters and size.
    pub fn stats(&self) -> CacheStats {
        let lru = self.lock();
        CacheStats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            entries: lru.map.len(),
            memory_bytes: lru.memory,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Lru {
    fn entry(&mut self, i: usize) -> &mut Entry {
        self.slots[i].as_mut().expect("linked slot is live")
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = {
            let e = self.entry(i);
            (e.prev, e.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.entry(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.entry(next).prev = prev;
        }
    }

    fn push_front(&mut self, i: usize) {
        let head = self.head;
        {
            let e = self.entry(i);
            e.prev = NIL;
            e.next = head;
        }
        if head != NIL {
            self.entry(head).prev = i;
        }
        self.head = i;
        if self.tail == NIL {
            self.tail = i;
        }
    }

    fn remove(&mut self, i: usize) {
        self.unlink(i);
        let entry = self.slots[i].take().expect("removed slot is live");
        self.map.remove(&entry.key);
        self.memory -= entry.data.len() + ENTRY_OVERHEAD;
        self.free.push(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn constant(_: &[u8]) -> u64 {
        42
    }

    #[test]
    fn counts_hits_misses_and_evictions() {
        let cache = HashCache::new(2, 1 << 20);
        let (a, b, c) = (b"aaaa".as_slice(), b"bbbb".as_slice(), b"cccc".as_slice());
        for d in [a, b, a, c, a, b] {
            assert_eq!(
                cache.digest(HashAlgo::Sha256, d),
                HashAlgo::Sha256.digest(d)
            );
        }
        // a miss, b miss, a hit, c miss (evicts b, the LRU), a hit, b miss (evicts c).
        let s = cache.stats();
        assert_eq!((s.hits, s.misses, s.evictions, s.entries), (2, 4, 2, 2));
        assert_eq!(s.memory_bytes, 2 * (4 + ENTRY_OVERHEAD));
    }

    #[test]
    fn memory_bound_holds_and_oversized_chunks_are_not_cached() {
        let cache = HashCache::new(1000, 3 * (100 + ENTRY_OVERHEAD));
        for i in 0..10u8 {
            cache.digest(HashAlgo::Blake3, &[i; 100]);
            assert!(cache.stats().memory_bytes <= 3 * (100 + ENTRY_OVERHEAD));
        }
        assert_eq!(cache.stats().entries, 3);
        cache.digest(HashAlgo::Blake3, &[0; 10_000]);
        assert_eq!(cache.stats().entries, 3, "too big to cache");
    }

    #[test]
    fn same_bytes_other_algorithm_is_another_entry() {
        let cache = HashCache::new(10, 1 << 20);
        let d = b"same bytes";
        assert_eq!(
            cache.digest(HashAlgo::Sha256, d),
            HashAlgo::Sha256.digest(d)
        );
        assert_eq!(
            cache.digest(HashAlgo::Blake3, d),
            HashAlgo::Blake3.digest(d)
        );
        assert_eq!(cache.stats().hits, 0);
    }

    proptest! {
        /// Every fingerprint collides: answers must still be right.
        #[test]
        fn never_a_wrong_digest(inputs in proptest::collection::vec(
            proptest::collection::vec(0u8..4, 0..6), 1..60)) {
            let cache = HashCache::with_fingerprint(4, 1 << 20, constant);
            let real = HashCache::new(3, 400);
            for d in &inputs {
                prop_assert_eq!(cache.digest(HashAlgo::Sha256, d), HashAlgo::Sha256.digest(d));
                prop_assert_eq!(real.digest(HashAlgo::Sha256, d), HashAlgo::Sha256.digest(d));
                let s = real.stats();
                prop_assert!(s.entries <= 3 && s.memory_bytes <= 400);
            }
            let s = real.stats();
            prop_assert_eq!(s.hits + s.misses, inputs.len() as u64);
        }
    }

    #[test]
    fn concurrent_use_gives_right_digests() {
        let cache = std::sync::Arc::new(HashCache::new(8, 1 << 20));
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    for i in 0..2000u32 {
                        let d = [(i % 13) as u8, t % 2, 7, 9];
                        assert_eq!(
                            cache.digest(HashAlgo::Sha256, &d),
                            HashAlgo::Sha256.digest(&d)
                        );
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let s = cache.stats();
        assert_eq!(s.hits + s.misses, 8000);
        assert!(s.entries <= 8);
    }
}

//! The cut loop allocates nothing: a counting global allocator sees no
//! allocation while the slice iterator and a fed stream chunk megabytes.

use chunker_core::cdc::{ChunkerConfig, StreamChunker};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn data(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Zero runs in between, so max-size cuts happen too.
            if (i >> 20) % 4 == 3 {
                0
            } else {
                x as u8
            }
        })
        .collect()
}

#[test]
fn cut_loop_does_not_allocate() {
    let input = data(16 << 20);
    for config in [
        ChunkerConfig::default(),
        ChunkerConfig::new(64, 256, 1024, 2).unwrap(),
        ChunkerConfig::new(16_384, 65_536, 262_144, 0).unwrap(),
    ] {
        let mut out = Vec::with_capacity(input.len() / 64 + 1);
        let mut stream = StreamChunker::new(config);

        let before = ALLOCATIONS.load(Ordering::SeqCst);
        let (mut count, mut total) = (0usize, 0usize);
        for chunk in config.chunks(&input) {
            count += 1;
            total += chunk.length;
        }
        for piece in input.chunks(65_536) {
            stream.feed(piece, &mut out).unwrap();
        }
        out.extend(stream.finish().unwrap());
        let after = ALLOCATIONS.load(Ordering::SeqCst);

        assert_eq!(total, input.len());
        assert!(count > 16, "chunks were cut ({count})");
        assert_eq!(out.len(), count, "stream and slice agree");
        assert_eq!(after - before, 0, "allocations in the cut loop");
    }
}

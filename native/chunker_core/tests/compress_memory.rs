//! Peak resident memory while decompressing bombs stays bounded by the
//! limit. One test per binary: the process's peak RSS is the measurement.

use chunker_core::compress::{self, Algo, Error};

/// Peak resident set size (VmHWM), bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

/// Resets the peak to the current RSS (Linux `clear_refs` value 5).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[test]
fn bombs_keep_peak_memory_near_the_limit() {
    let limit: u64 = 32 << 20;
    for algo in [Algo::Zstd, Algo::Lz4, Algo::Xz, Algo::Bzip2] {
        // 2 GiB of zeros in 32 MiB frames.
        let frame = compress::compress(&vec![0u8; 32 << 20], algo, algo.default_level()).unwrap();
        let bomb = frame.repeat(64);
        if !reset_peak() {
            eprintln!("cannot reset VmHWM here; skipping the measurement");
            return;
        }
        let before = peak_rss();
        let mut out = Vec::new();
        let r = compress::decompress_into(&bomb, algo, limit, &mut out);
        assert_eq!(r, Err(Error::SizeExceeded(limit)));
        let grown = peak_rss().saturating_sub(before);
        drop(out);
        // the output (limit + 1 bytes) plus codec state (windows, blocks)
        assert!(
            grown < limit + (24 << 20),
            "{algo:?}: peak grew by {} MiB for a {} MiB limit",
            grown >> 20,
            limit >> 20
        );
        eprintln!("{algo:?}: peak +{} MiB", grown >> 20);
    }
}

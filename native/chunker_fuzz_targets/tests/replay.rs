//! Stable-Rust runner for the fuzz targets, run by `cargo test --workspace`
//! (so by CI): every target over its checked-in seed corpus
//! (`native/fuzz/corpus/<name>/`) plus generated inputs.
//!
//! - `CHUNKER_FUZZ_CASES` (default 1000): generated inputs per target;
//! - `CHUNKER_FUZZ_SEED`: generator seed (default: from the clock, printed).
//!
//! A failing input is written to `native/fuzz/artifacts/<name>/` so it can
//! be replayed with `cargo fuzz run <name> <file>` and minimized.

use chunker_fuzz_targets::{Rng, Target, TARGETS};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be an integer, got {v:?}"))
    })
}

fn corpus(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("seed corpus {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read seed");
            (p, bytes)
        })
        .collect()
}

/// Runs one input; on a panic saves it and fails with a replay hint.
fn run_one(target: &Target, input: &[u8], origin: &str) {
    if catch_unwind(AssertUnwindSafe(|| (target.run)(input))).is_ok() {
        return;
    }
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let dir = fuzz_dir().join("artifacts").join(target.name);
    let path = dir.join(format!("replay-{hash:016x}"));
    let saved = std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(&path, input))
        .map_or_else(
            |e| format!("(could not save: {e})"),
            |_| path.display().to_string(),
        );
    panic!(
        "fuzz target {} failed on {origin} ({} bytes), saved to {saved}; replay with \
         `cd native/fuzz && cargo +nightly fuzz run {} {saved}`",
        target.name,
        input.len(),
        target.name
    );
}

#[test]
fn replay_corpus_and_generated_inputs() {
    let cases = env_u64("CHUNKER_FUZZ_CASES").unwrap_or(1000);
    let seed = env_u64("CHUNKER_FUZZ_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos() as u64
    });
    println!("fuzz replay: CHUNKER_FUZZ_SEED={seed} CHUNKER_FUZZ_CASES={cases}");
    std::thread::scope(|scope| {
        for (i, target) in TARGETS.iter().enumerate() {
            scope.spawn(move || {
                let started = Instant::now();
                let seeds = corpus(target.name);
                assert!(!seeds.is_empty(), "{}: empty seed corpus", target.name);
                for (path, bytes) in &seeds {
                    run_one(target, bytes, &format!("seed {}", path.display()));
                }
                let mut rng = Rng::new(seed ^ (i as u64).wrapping_mul(0x9e37_79b9));
                for case in 0..cases {
                    let input = (target.generate)(&mut rng);
                    run_one(target, &input, &format!("generated case {case}"));
                }
                println!(
                    "fuzz replay: {}: {} seeds + {cases} generated inputs in {:.2?}",
                    target.name,
                    seeds.len(),
                    started.elapsed()
                );
            });
        }
    });
}

fn names_in(dir: &Path, strip: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter_map(|n| n.strip_suffix(strip).map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// The target list, the libFuzzer binaries, their `[[bin]]` entries and the
/// seed corpora stay in step.
#[test]
fn every_target_has_a_binary_and_a_corpus() {
    let mut expected: Vec<String> = TARGETS.iter().map(|t| t.name.to_owned()).collect();
    expected.sort();
    let dir = fuzz_dir();
    assert_eq!(names_in(&dir.join("fuzz_targets"), ".rs"), expected);
    assert_eq!(names_in(&dir.join("corpus"), ""), expected);
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for name in &expected {
        let source = std::fs::read_to_string(dir.join(format!("fuzz_targets/{name}.rs")))
            .expect("target source");
        assert!(
            source.contains(&format!("target(\"{name}\")")),
            "fuzz_targets/{name}.rs must run target(\"{name}\")"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml lacks a [[bin]] named {name}"
        );
    }
}

/// Regenerates small seed files (under libFuzzer's default 4096-byte
/// max_len) for targets whose corpus directory is missing or empty:
/// `cargo test -p chunker_fuzz_targets --test replay -- --ignored`.
#[test]
#[ignore]
fn write_seed_corpus() {
    for (i, target) in TARGETS.iter().enumerate() {
        let dir = fuzz_dir().join("corpus").join(target.name);
        if dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
            continue;
        }
        std::fs::create_dir_all(&dir).expect("mkdir corpus");
        let mut rng = Rng::new(0x5eed + i as u64);
        for n in 0..12 {
            let mut input = (target.generate)(&mut rng);
            input.truncate(4096);
            (target.run)(&input);
            std::fs::write(dir.join(format!("seed-{n:02}")), &input).expect("write seed");
        }
    }
}

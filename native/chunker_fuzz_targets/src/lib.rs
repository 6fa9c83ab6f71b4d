//! Fuzz target bodies for `chunker_core`, shared by two runners:
//!
//! - the libFuzzer targets in `native/fuzz/fuzz_targets/<name>.rs` (nightly,
//!   `cargo fuzz run <name>`), each a one-line call into [`TARGETS`];
//! - the stable replay test (`tests/replay.rs`, part of `cargo test
//!   --workspace`), which runs every target over its checked-in seed corpus
//!   (`native/fuzz/corpus/<name>/`) and over generated inputs.
//!
//! A target decodes its structured input from raw bytes with [`Input`] and
//! asserts invariants (agreement with an oracle or an eager result, exact
//! coverage, round trips), panicking when one fails. A panic is a finding.
//!
//! Adding a target: write `fn run(&[u8])` and `fn generate(&mut Rng) ->
//! Vec<u8>` in a module, add a [`Target`] to [`TARGETS`], add
//! `native/fuzz/fuzz_targets/<name>.rs`, its `[[bin]]` in
//! `native/fuzz/Cargo.toml` and seeds in `native/fuzz/corpus/<name>/`
//! (`cargo test -p chunker_fuzz_targets -- --ignored write_seed_corpus`).
//! The replay test checks that these four stay in step.

pub mod chunking;
pub mod compress;
pub mod input;
pub mod nar;
pub mod narinfo;
pub mod nix;

pub use input::{Input, Rng};

/// One fuzz target: its name (the libFuzzer binary and corpus directory),
/// its body and a generator of structured inputs for the stable replay.
#[derive(Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    /// Asserts the target's invariants on one input (panics on a violation).
    pub run: fn(&[u8]),
    /// A random input in the format `run` decodes, biased to interesting cases.
    pub generate: fn(&mut Rng) -> Vec<u8>,
}

/// Every fuzz target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "chunk_stream",
        run: chunking::chunk_stream,
        generate: chunking::generate_stream_input,
    },
    Target {
        name: "chunk_reader",
        run: chunking::chunk_reader,
        generate: chunking::generate_reader_input,
    },
    Target {
        name: "nix_encodings",
        run: nix::nix_encodings,
        generate: nix::generate_nix_input,
    },
    Target {
        name: "nar_read",
        run: nar::nar_read,
        generate: nar::generate_nar_input,
    },
    Target {
        name: "decompress",
        run: compress::decompress,
        generate: compress::generate_decompress_input,
    },
    Target {
        name: "narinfo_keys",
        run: narinfo::narinfo_keys,
        generate: narinfo::generate_narinfo_input,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

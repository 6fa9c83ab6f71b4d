//! `chunker_core`: the pure-Rust engine behind the `chunker` Elixir package.
//!
//! - [`cdc`]: FastCDC 2020 content-defined chunking, cut points identical to
//!   the `fastcdc` crate's `v2020` module (eager, streaming, file).
//! - [`digest`]: SHA-256 / BLAKE3 (one-shot, incremental, batched, multi-threaded).
//! - [`nar`]: Nix archives: writer identical to `nix-store --dump`.
//! - [`nix`]: Nix base-32, hash strings, store paths, keys and narinfo.
//! - [`pipeline`]: concurrent chunk -> hash -> skip known -> compress, with
//!   [`cache`] (content-verified digest LRU) and [`metrics`].
//! - [`compress`]: zstd, LZ4, xz, bzip2 with one hard decompression limit.
//! - [`threads`]: lowered priority for the background worker threads.
//!
//! It has no rustler dependency and can be used as a Rust library on its own.

pub mod cache;
pub mod cdc;
pub mod compress;
pub mod digest;
pub mod metrics;
pub mod nar;
pub mod nix;
pub mod pipeline;
pub mod threads;

//! `chunker_core`: the pure-Rust engine behind the `chunker` Elixir package.
//!
//! - [`cdc`]: FastCDC 2020 content-defined chunking, cut points identical to
//!   the `fastcdc` crate's `v2020` module (eager, streaming, file).
//! - [`digest`]: per-chunk SHA-256 / BLAKE3.
//! - [`nar`]: Nix archives: writer identical to `nix-store --dump`.
//!
//! It has no rustler dependency and can be used as a Rust library on its own.

pub mod cdc;
pub mod digest;
pub mod nar;

//! Thin rustler adapter over `chunker_core`: decodes terms, picks schedulers,
//! maps errors. No chunking, hashing or format logic lives here.

mod atoms;
mod chunk;
mod compress;
mod errors;
mod hash;
mod key;
mod nar;
mod narinfo;
mod nix;
mod pipeline;
mod timeslice;

rustler::init!("Elixir.Chunker.Native");

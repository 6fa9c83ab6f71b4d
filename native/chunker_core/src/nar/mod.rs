//! Nix archives (NAR): the serialisation `nix-store --dump` produces.
//!
//! A NAR is a sequence of strings, each an 8-byte little-endian length, the
//! bytes, then zero padding to a multiple of 8:
//!
//! ```text
//! nar       = "nix-archive-1" node
//! node      = "(" "type" ( regular | symlink | directory ) ")"
//! regular   = "regular" [ "executable" "" ] "contents" <size:u64> bytes padding
//! symlink   = "symlink" "target" target
//! directory = "directory" { "entry" "(" "name" name "node" node ")" }
//! ```
//!
//! Directory entries are sorted by name (bytewise) and unique.
//!
//! - [`writer`]: serialise a path ([`dump_path`]) byte-identically to
//!   `nix-store --dump`, streaming into any [`std::io::Write`], or just hash
//!   it ([`dump_sha256`]) without materialising the NAR.
//! - [`reader`]: a strict streaming parser ([`NarReader`], [`read_nar`],
//!   [`entries`]).
//! - [`unpack`](mod@unpack): safe extraction like `nix-store --restore`.
//! - [`chunk`]: plain or NAR-aware chunking ([`chunk_nar`]) and [`rebuild`].
//! - [`refs`]: reference normalisation (store-path hashes to a placeholder,
//!   with a compact patch list).

pub mod chunk;
pub mod reader;
pub mod refs;
pub mod unpack;
pub mod writer;

pub use chunk::{chunk_nar, rebuild, ChunkError, ChunkKind, Chunked, NarChunk, NarChunking};
pub use reader::{
    entries, read_nar, Entry, Event, FormatError, Kind, NarReader, ReadError, Reason,
};
pub use unpack::{unpack, UnpackError, Unpacker};
pub use writer::{dump_path, dump_sha256, encode_entries, HashingWriter, NarEncoder, PathError};

/// The magic string every NAR starts with.
pub const MAGIC: &[u8] = b"nix-archive-1";

/// Zero bytes needed after `len` bytes to reach a multiple of 8.
#[inline]
pub fn padding(len: u64) -> usize {
    ((8 - (len % 8)) % 8) as usize
}

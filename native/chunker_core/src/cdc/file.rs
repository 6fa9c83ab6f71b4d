//! Chunking a file or any reader through a bounded buffer.

use super::{ChunkerConfig, Error, HashedChunk, HashingStream};
use crate::digest::HashAlgo;
use std::io::{ErrorKind, Read};
use std::path::Path;

/// Read buffer size used by [`chunk_file`]: memory stays bounded by this,
/// whatever the file size.
pub const DEFAULT_READ_BUFFER: usize = 1 << 20;

/// Chunks everything `reader` yields (digests included when `algo` is set).
pub fn chunk_reader(
    mut reader: impl Read,
    config: ChunkerConfig,
    algo: Option<HashAlgo>,
    buffer_size: usize,
) -> Result<Vec<HashedChunk>, Error> {
    let mut stream = HashingStream::new(config, algo, false);
    let mut buffer = vec![0u8; buffer_size.max(1)];
    let mut out = Vec::new();
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Io(e)),
        };
        stream.feed(&buffer[..n], &mut out)?;
    }
    out.extend(stream.finish()?);
    Ok(out)
}

/// Chunks the file at `path` with a [`DEFAULT_READ_BUFFER`]-sized buffer.
pub fn chunk_file(
    path: impl AsRef<Path>,
    config: ChunkerConfig,
    algo: Option<HashAlgo>,
) -> Result<Vec<HashedChunk>, Error> {
    let file = std::fs::File::open(path)?;
    chunk_reader(file, config, algo, DEFAULT_READ_BUFFER)
}

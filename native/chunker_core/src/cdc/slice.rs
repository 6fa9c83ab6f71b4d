use super::{scan, Chunk, ChunkerConfig};

/// Iterator over the chunks of an in-memory slice.
#[derive(Debug, Clone)]
pub struct Chunks<'a> {
    config: ChunkerConfig,
    data: &'a [u8],
    position: usize,
}

impl<'a> Chunks<'a> {
    pub(crate) fn new(config: ChunkerConfig, data: &'a [u8]) -> Self {
        Self {
            config,
            data,
            position: 0,
        }
    }
}

impl Iterator for Chunks<'_> {
    type Item = Chunk;

    fn next(&mut self) -> Option<Chunk> {
        let rest = &self.data[self.position..];
        if rest.is_empty() {
            return None;
        }
        let length = scan::cut(&self.config, rest);
        let chunk = Chunk {
            offset: self.position as u64,
            length,
        };
        self.position += length;
        Some(chunk)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let rest = self.data.len() - self.position;
        let max = self.config.max_size;
        (
            rest.div_ceil(max),
            Some(rest.div_ceil(self.config.min_size)),
        )
    }
}

impl std::iter::FusedIterator for Chunks<'_> {}

/// Chunks `data` and digests every chunk with `algo` (if set). Big inputs
/// (see [`parallel_threshold`](super::parallel_threshold)) are chunked, then
/// hashed, in parallel on the chunker's pool.
pub fn chunk_digests(
    config: &ChunkerConfig,
    data: &[u8],
    algo: Option<crate::digest::HashAlgo>,
) -> Vec<(Chunk, Option<[u8; 32]>)> {
    let chunks = super::chunk_all(config, data);
    match algo {
        Some(algo) => {
            let digests = super::parallel::digests(data, &chunks, algo);
            chunks
                .into_iter()
                .zip(digests.into_iter().map(Some))
                .collect()
        }
        None => chunks.into_iter().map(|c| (c, None)).collect(),
    }
}

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

/// Chunks `data` and digests every chunk with `algo` (if set).
pub fn chunk_digests(
    config: &ChunkerConfig,
    data: &[u8],
    algo: Option<crate::digest::HashAlgo>,
) -> Vec<(Chunk, Option<[u8; 32]>)> {
    config
        .chunks(data)
        .map(|c| {
            let digest = algo.map(|a| a.digest(&data[c.offset as usize..c.end() as usize]));
            (c, digest)
        })
        .collect()
}

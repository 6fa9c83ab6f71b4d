//! Batch chunking: many binaries or files at once, one result per item,
//! spread over the worker pool when `parallel` is set.

use super::pool;
use crate::cdc::{self, Chunk, ChunkerConfig, Error, HashedChunk};
use crate::digest::HashAlgo;
use rayon::prelude::*;
use std::path::Path;

/// Chunks and digests every item.
pub fn chunk_batch(
    items: &[&[u8]],
    config: &ChunkerConfig,
    algo: Option<HashAlgo>,
    parallel: bool,
) -> Vec<Vec<(Chunk, Option<[u8; 32]>)>> {
    let one = |data: &&[u8]| cdc::chunk_digests(config, data, algo);
    if parallel {
        pool::get().install(|| items.par_iter().map(one).collect())
    } else {
        items.iter().map(one).collect()
    }
}

/// Chunks every file (bounded memory each); one result per path.
pub fn chunk_files<P: AsRef<Path> + Sync>(
    paths: &[P],
    config: &ChunkerConfig,
    algo: Option<HashAlgo>,
    parallel: bool,
) -> Vec<Result<Vec<HashedChunk>, Error>> {
    let one = |p: &P| cdc::chunk_file(p, *config, algo);
    if parallel {
        pool::get().install(|| paths.par_iter().map(one).collect())
    } else {
        paths.iter().map(one).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::test_support::data;

    #[test]
    fn parallel_equals_sequential_equals_single_calls() {
        let config = ChunkerConfig::new(64, 256, 1024, 1).unwrap();
        let inputs: Vec<Vec<u8>> = (0..20).map(|i| data(i * 997, i as u32)).collect();
        let items: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        let expected: Vec<_> = items
            .iter()
            .map(|d| cdc::chunk_digests(&config, d, Some(HashAlgo::Sha256)))
            .collect();
        for parallel in [false, true] {
            assert_eq!(
                chunk_batch(&items, &config, Some(HashAlgo::Sha256), parallel),
                expected
            );
        }
    }

    #[test]
    fn a_missing_file_fails_only_its_item() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, data(5000, 7)).unwrap();
        let paths = [good.clone(), dir.path().join("missing"), good];
        let config = ChunkerConfig::new(64, 256, 1024, 1).unwrap();
        let results = chunk_files(&paths, &config, Some(HashAlgo::Blake3), true);
        assert_eq!(results.len(), 3);
        assert!(
            matches!(&results[1], Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound)
        );
        let a = results[0].as_ref().unwrap();
        let expected = cdc::chunk_digests(&config, &data(5000, 7), Some(HashAlgo::Blake3));
        let got: Vec<_> = a.iter().map(|c| (c.chunk, c.digest)).collect();
        assert_eq!(got, expected);
        assert_eq!(results[2].as_ref().unwrap(), a);
    }
}

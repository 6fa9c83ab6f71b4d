//! The same stages one after another on the calling thread: the baseline
//! the concurrent pipeline is measured and tested against.

use super::{Compressor, Output};
use crate::cdc::ChunkerConfig;
use crate::digest::HashAlgo;

/// Chunks, hashes and compresses `data` on this thread, in order.
pub fn sequential(
    data: &[u8],
    config: &ChunkerConfig,
    algo: Option<HashAlgo>,
    compressor: Option<&dyn Compressor>,
) -> Result<Vec<Output>, String> {
    config
        .chunks(data)
        .enumerate()
        .map(|(seq, chunk)| {
            let bytes = &data[chunk.offset as usize..chunk.end() as usize];
            let compressed = match compressor {
                None => bytes.to_vec(),
                Some(c) => {
                    let mut out = Vec::new();
                    c.compress(bytes, &mut out)?;
                    out
                }
            };
            Ok(Output {
                seq: seq as u64,
                chunk,
                digest: algo.map(|a| a.digest(bytes)),
                known: false,
                compressed: Some(compressed),
                data: None,
            })
        })
        .collect()
}

//! Shared by the pipeline's unit tests.

use super::{Output, Sink};
use crate::cdc::ChunkerConfig;
use std::sync::mpsc::Sender;
use std::sync::Mutex;

/// A sink that sends every delivered batch down a channel.
pub struct Channel(pub Mutex<Sender<Vec<Output>>>);

impl Sink for Channel {
    fn deliver(&self, batch: Vec<Output>) -> bool {
        self.0.lock().unwrap().send(batch).is_ok()
    }
}

/// Small chunks, so a few KiB give many of them.
pub fn config() -> ChunkerConfig {
    ChunkerConfig::new(64, 256, 1024, 1).unwrap()
}

/// `n` deterministic pseudo-random bytes.
pub fn data(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

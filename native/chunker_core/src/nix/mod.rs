//! Nix formats: base-32, hash strings, store paths.

pub mod base32;
pub mod hash;
pub mod store_path;

pub use hash::{Algo, Encoding, Hash};
pub use store_path::StorePath;

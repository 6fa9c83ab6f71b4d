//! Nix formats: base-32, hash strings, store paths, signing keys, narinfo.

pub mod base32;
pub mod hash;
pub mod key;
pub mod narinfo;
pub mod store_path;

pub use hash::{Algo, Encoding, Hash};
pub use key::{PublicKey, SecretKey, Signature};
pub use narinfo::Narinfo;
pub use store_path::StorePath;

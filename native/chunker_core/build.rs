//! Generates the FastCDC gear table at build time.
//!
//! The table is the one the `fastcdc` crate's v2020 module and the C reference
//! implementation (destor) use: entry `i` is the first 8 bytes, big-endian, of
//! the MD5 digest of 64 bytes that all equal `i`. Deriving it here instead of
//! pasting 256 constants keeps its origin checkable.
use md5::{Digest, Md5};
use std::fmt::Write as _;
use std::{env, fs, path::Path};

fn main() {
    let mut out = String::from(
        "/// Gear table (MD5-derived, see build.rs).\npub(crate) const GEAR: [u64; 256] = [\n",
    );
    for i in 0..=255u8 {
        let digest = Md5::digest([i; 64]);
        let value = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        writeln!(out, "    {value:#018x},").expect("write to String");
    }
    out.push_str("];\n");
    let dest = Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("gear.rs");
    fs::write(dest, out).expect("write gear.rs");
    println!("cargo:rerun-if-changed=build.rs");
}

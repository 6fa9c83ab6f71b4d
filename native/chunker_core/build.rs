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
    avx512_cfg();
}

/// `cfg(chunker_avx512)` when rustc has the AVX-512 intrinsics (stable since
/// 1.89); older compilers (the MSRV) build the portable engines only.
fn avx512_cfg() {
    println!("cargo:rustc-check-cfg=cfg(chunker_avx512)");
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc).arg("--version").output() else {
        return;
    };
    // "rustc 1.95.0 (...)"
    let version = String::from_utf8_lossy(&out.stdout);
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    if minor.is_some_and(|m| m >= 89) {
        println!("cargo:rustc-cfg=chunker_avx512");
    }
}

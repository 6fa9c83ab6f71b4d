//! Nix keys and narinfo: signing, verifying and parsing speed
//! (one case = `ITERS` operations; operations/s = ITERS / seconds).

use crate::harness::{median_seconds, Args, Case};
use chunker_core::nix::{Narinfo, PublicKey, SecretKey};
use std::hint::black_box;

const ITERS: usize = 2_000;

/// A real narinfo from cache.nixos.org (shared with the Elixir tests and benches).
const HELLO: &str = include_str!("../../../test/fixtures/hello-2.10.narinfo");
const CACHE_KEY: &str = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";

pub fn run(args: &Args) -> Vec<Case> {
    let key = PublicKey::parse(CACHE_KEY).expect("key");
    let narinfo = Narinfo::parse(HELLO.as_bytes()).expect("narinfo");
    let secret = SecretKey::generate("bench-1").expect("key");
    let fp = narinfo.fingerprint().expect("fingerprint");
    let n = HELLO.len() * ITERS;
    let case = |name: &str, f: &mut dyn FnMut()| {
        Case::new(
            format!("{name} x{ITERS}"),
            n,
            median_seconds(args.runs, || {
                for _ in 0..ITERS {
                    f();
                }
            }),
        )
    };
    // On a shared machine wall time counts other processes' turns; the
    // thread's own CPU time (from /proc/thread-self/schedstat) does not.
    let cpu_case = |name: &str, f: &mut dyn FnMut()| {
        let mut times: Vec<f64> = (0..args.runs.max(1))
            .map(|_| {
                let t = thread_cpu_seconds();
                for _ in 0..ITERS {
                    f();
                }
                thread_cpu_seconds() - t
            })
            .collect();
        times.sort_by(f64::total_cmp);
        Case::new(
            format!("{name} (thread CPU time) x{ITERS}"),
            n,
            times[times.len() / 2],
        )
    };
    vec![
        cpu_case("narinfo/verify", &mut || {
            assert!(black_box(&narinfo).verify(&[&key]) == Ok(true));
        }),
        cpu_case("key/sign_fingerprint", &mut || {
            black_box(secret.sign(black_box(fp.as_bytes())));
        }),
        case("narinfo/parse", &mut || {
            black_box(Narinfo::parse(black_box(HELLO.as_bytes())).ok());
        }),
        case("narinfo/verify", &mut || {
            assert!(black_box(&narinfo).verify(&[&key]) == Ok(true));
        }),
        case("narinfo/parse+verify", &mut || {
            let n = Narinfo::parse(black_box(HELLO.as_bytes())).expect("valid");
            assert!(n.verify(&[&key]) == Ok(true));
        }),
        case("key/sign_fingerprint", &mut || {
            black_box(secret.sign(black_box(fp.as_bytes())));
        }),
    ]
}

/// CPU time of the calling thread, in seconds (Linux; 0 elsewhere).
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e9)
}

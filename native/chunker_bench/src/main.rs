//! `cargo run --release -p chunker_bench -- [--json] [--only GROUP] [--mib N] [--runs N]`
//!
//! Prints one JSON object per case (with `--json`) or a table: name, bytes,
//! median seconds, MB/s, and the ratio to the reference measured in the same
//! run (the `fastcdc` crate, `memcpy`, the C library or CLI).

mod cdc;
mod compress;
mod data;
mod harness;
mod hash;
mod nar;
mod nix;
mod pipeline;

use harness::{Args, Case};

/// A benchmark group: its name and the function that measures its cases.
type Group = (&'static str, fn(&Args) -> Vec<Case>);

/// Every group; `--only NAME` runs one.
const GROUPS: &[Group] = &[
    ("cdc", cdc::run),
    ("hash", hash::run),
    ("nix", nix::run),
    ("pipeline", pipeline::run),
    ("pipeline-metrics", pipeline::run_metrics),
    ("compress", compress::run),
    ("nar", nar::run),
];

fn main() {
    let args = Args::parse();
    for &(name, run) in GROUPS {
        if args.only.as_deref().is_none_or(|only| only == name) {
            for case in run(&args) {
                case.print(args.json);
            }
        }
    }
}

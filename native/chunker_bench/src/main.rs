//! `cargo run --release -p chunker_bench -- [--json] [--only GROUP] [--mib N] [--runs N]`
//!
//! Prints one JSON object per case (with `--json`) or a table: name, bytes,
//! median seconds, MB/s, and the ratio to the reference measured in the same
//! run (the `fastcdc` crate, `memcpy`, the C library or CLI).

mod cdc;
mod data;
mod harness;

use harness::{Args, Case};

fn main() {
    let args = Args::parse();
    let groups: [(&str, fn(&Args) -> Vec<Case>); 1] = [("cdc", cdc::run)];
    for (name, run) in groups {
        if args.only.as_deref().is_none_or(|only| only == name) {
            for case in run(&args) {
                case.print(args.json);
            }
        }
    }
}

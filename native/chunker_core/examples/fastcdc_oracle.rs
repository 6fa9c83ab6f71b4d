//! Oracle for the Elixir tests: prints the `fastcdc` crate's v2020 cut points
//! for stdin, one `offset length` line per chunk.
//!
//! `fastcdc_oracle MIN AVG MAX LEVEL < data`

use fastcdc::v2020::{FastCDC, Normalization};
use std::io::{Read, Write};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric argument"))
        .collect();
    let [min, avg, max, level] = args[..] else {
        panic!("usage: fastcdc_oracle MIN AVG MAX LEVEL < data")
    };
    let level = match level {
        0 => Normalization::Level0,
        1 => Normalization::Level1,
        2 => Normalization::Level2,
        _ => Normalization::Level3,
    };
    let mut data = Vec::new();
    std::io::stdin().read_to_end(&mut data).expect("read stdin");
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for c in FastCDC::with_level(&data, min, avg, max, level) {
        writeln!(out, "{} {}", c.offset, c.length).expect("write stdout");
    }
}

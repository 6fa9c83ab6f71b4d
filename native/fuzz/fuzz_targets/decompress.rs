#![no_main]

use chunker_fuzz_targets::target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| (target("decompress").expect("registered").run)(data));

#![no_main]

use chunker_fuzz_targets::target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| (target("chunk_reader").expect("registered").run)(data));

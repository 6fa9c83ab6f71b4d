#![no_main]

use chunker_fuzz_targets::target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| (target("narinfo_keys").expect("registered").run)(data));

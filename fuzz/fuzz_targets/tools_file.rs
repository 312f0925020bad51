#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| conexor_fuzz::tools_file(data));

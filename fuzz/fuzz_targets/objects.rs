#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| conexor_fuzz::objects(data));

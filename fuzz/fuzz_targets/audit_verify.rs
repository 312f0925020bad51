#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| conexor_fuzz::audit_verify(data));

//! Times `derive_kek` at the minimum iteration count in whatever profile it
//! is built with, to check the crypto crates are optimised in dev builds:
//!
//! ```text
//! cargo run -p conexor-crypto --example kdf_timing
//! ```
//!
//! It measures only PBKDF2; it asserts nothing and is not run by tests.

use std::time::{Duration, Instant};

fn main() {
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let result =
            conexor_crypto::derive_kek(&[1u8; 32], &[2u8; 16], conexor_crypto::MIN_KDF_ITERATIONS);
        let took = start.elapsed();
        if let Err(e) = result {
            eprintln!("derive_kek failed: {e}");
            std::process::exit(1);
        }
        println!("derive_kek(600000): {took:?}");
        best = best.min(took);
    }
    println!("best of 5: {best:?}");
}

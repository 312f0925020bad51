//! Writes the audit_verify seed exports (honest, signed, JSON Lines and CSV)
//! into corpus/audit_verify/, with the audit crate's own test fixtures:
//! `cargo test --test seeds -- --ignored`. The key is the fixtures' (seed
//! 0x42…), the one `conexor_fuzz::audit_verify` also pins.

#[path = "../../crates/conexor-audit/tests/common/mod.rs"]
mod common;

use chrono::Duration;
use common::{build_with, csv, draft, jsonl, key, t0};

#[test]
#[ignore = "writes seed files; run by hand"]
fn write_audit_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/audit_verify");
    std::fs::create_dir_all(&dir).expect("corpus dir");
    let mut n = 0;
    for count in [0u64, 1, 3, 12] {
        let drafts = (1..=count)
            .map(|i| (draft(i), t0() + Duration::seconds(10 * i as i64)))
            .collect();
        let lines = build_with(
            "ws_0123456789abcdef",
            &key(),
            drafts,
            t0() + Duration::seconds(300),
        );
        let j = jsonl(&lines);
        let c = csv(&lines);
        for (name, text) in [
            (format!("seed-jsonl-{count}"), j.clone()),
            (format!("seed-csv-{count}"), c.clone()),
            (format!("seed-jsonl-crlf-{count}"), j.replace('\n', "\r\n")),
            (format!("seed-csv-bom-{count}"), format!("\u{feff}{c}")),
        ] {
            // Every seed is an export the verifier accepts.
            conexor_audit::verify(text.as_bytes(), Some(&key().public()))
                .unwrap_or_else(|p| panic!("{name}: {p}"));
            std::fs::write(dir.join(name), text).expect("write seed");
            n += 1;
        }
    }
    assert_eq!(n, 16);
}

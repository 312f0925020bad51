//! The audit test vector (`tests/data/audit-vector.json`): three fixed
//! records, their canonical JSON and hashes, and one signed checkpoint.
//! `tests/python/check_audit_vector.py` recomputes every value independently
//! (hashlib, json, and `cryptography` for Ed25519).
//!
//! This test recomputes the vector with the crate and compares it with the
//! file; `CONEXOR_AUDIT_WRITE_VECTOR=1` rewrites the file instead.

use chrono::{TimeZone, Utc};
use conexor_audit::{Chain, Checkpoint, Draft, Outcome, SigningKey, record_hash};
use serde_json::{Value, json};

fn vector() -> Value {
    let ts = |ms: i64| {
        Utc.timestamp_millis_opt(1_795_410_759_000 + ms)
            .single()
            .unwrap_or_default()
    };
    let mut chain = Chain::genesis("ws_0123456789abcdef");

    let mut d1 = Draft::new("query", Outcome::Ok);
    d1.user = Some("alice".into());
    d1.key_id = Some("k_7Qm2".into());
    d1.client = Some("claude-desktop/0.9.3".into());
    d1.model = Some("claude-sonnet".into());
    d1.params = json!({
        "connection": "shop",
        "sql": "SELECT name FROM customers WHERE city = 'Zürich'",
        "args": [1, -2, true, null, "x"],
        "é": "ü \u{1} \n \t \" \\ / \u{7f} \u{2028}",
    });
    d1.connection = Some("shop".into());
    d1.mode = Some("direct".into());
    d1.query_hash = Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into());
    d1.rows = Some(12);
    d1.bytes = Some(2048);
    d1.duration_ms = 37;

    let mut d2 = Draft::new("query", Outcome::Denied);
    d2.user = Some("alice".into());
    d2.key_id = Some("k_7Qm2".into());
    d2.params = json!("DELETE FROM customers");
    d2.connection = Some("shop".into());
    d2.mode = Some("direct".into());
    d2.duration_ms = 1;
    d2.error = Some("guard.not_select: only queries are allowed".into());

    let mut d3 = Draft::new("admin.key_create", Outcome::Ok);
    d3.user = Some("root".into());
    d3.params = json!({"label": "ci 🙂", "scopes": ["mcp"]});

    let mut records = Vec::new();
    for (i, d) in [d1, d2, d3].into_iter().enumerate() {
        let r = chain
            .append(d, ts(i as i64 * 1234))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut body = serde_json::to_value(&r).unwrap_or_else(|e| panic!("{e}"));
        if let Value::Object(m) = &mut body {
            m.remove("hash");
        }
        let jcs = serde_jcs::to_string(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(record_hash(&r).ok(), Some(r.hash.clone()));
        records.push(json!({ "record": r, "jcs": jcs }));
    }

    let seed: [u8; 32] = std::array::from_fn(|i| i as u8 + 1);
    let key = SigningKey::from_bytes(&seed);
    let cp: Checkpoint = chain.checkpoint(ts(5000));
    let jcs = String::from_utf8(cp.signed_bytes().unwrap_or_default()).unwrap_or_default();
    let sig = key.sign(&cp).unwrap_or_else(|e| panic!("{e}"));
    assert!(key.public().verify(&cp, &sig));
    json!({
        "description": "conexor audit format 1 test vector: hash = hex(sha256(prev_hash ascii || jcs(record without hash))); sig = ed25519(seed, jcs({workspace, seq, hash, ts})), base64url without padding",
        "records": records,
        "checkpoint": {
            "checkpoint": cp,
            "jcs": jcs,
            "seed_hex": hex::encode(seed),
            "pubkey": key.public().to_text(),
            "key_id": key.public().key_id(),
            "sig": sig,
        },
    })
}

#[test]
fn the_stored_vector_matches_the_implementation() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/audit-vector.json");
    let computed = vector();
    if std::env::var_os("CONEXOR_AUDIT_WRITE_VECTOR").is_some() {
        let text = serde_json::to_string_pretty(&computed).unwrap_or_default() + "\n";
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    let stored: Value = serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored, computed);
}

#[test]
fn the_stored_records_verify_from_their_own_fields() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/audit-vector.json");
    let Ok(text) = std::fs::read_to_string(path) else {
        panic!("missing {path}")
    };
    let stored: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let mut prev = conexor_audit::ZERO_HASH.to_owned();
    for entry in stored["records"].as_array().into_iter().flatten() {
        let r: conexor_audit::Record =
            serde_json::from_value(entry["record"].clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.prev_hash, prev);
        assert_eq!(record_hash(&r).ok(), Some(r.hash.clone()));
        prev = r.hash;
    }
}

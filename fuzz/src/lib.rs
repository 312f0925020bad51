//! The checks behind every fuzz target, in a library so that the corpora can
//! also be replayed by an ordinary `cargo test` (tests/replay.rs) without
//! sanitizers. Each function takes the raw fuzzer input; it panics only when
//! a property fails (a panic inside the code under test is a finding too).
//!
//! Targets (see README.md):
//! - `guard`: the SQL guard in all four dialects (first byte picks dialect,
//!   policy and placeholder count).
//! - `audit_verify`: the offline verifier over JSON Lines and CSV exports.
//! - `keys_envelopes`: API keys, envelopes, ids, audit and agent public keys.
//! - `agent_frames`: agent protocol frames in both directions.
//! - `tools_file`: the tools file parser and the save-time checks.
//! - `mcp_call`: rmcp's JSON-RPC message type and Conexor's decoding of
//!   `tools/call` arguments (named tools' `bind`, table tools' `build`).
//! - `objects`: object storage reads as they arrive (`ObjectRead` JSON, bucket
//!   names, keys, prefixes) and the preview decoders of what a store sends
//!   back (CSV, TSV, JSON Lines, gzip, Parquet footers and row groups).

use std::sync::OnceLock;

use conexor_guard::{Dialect, FunctionPolicy, Rule};
use serde_json::{Value, json};

const DIALECTS: [Dialect; 4] = [
    Dialect::Postgresql,
    Dialect::Mysql,
    Dialect::Sqlite,
    Dialect::Sqlserver,
];

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

// ---------------------------------------------------------------- guard

fn policy() -> &'static FunctionPolicy {
    static POLICY: OnceLock<FunctionPolicy> = OnceLock::new();
    POLICY.get_or_init(|| {
        FunctionPolicy::new(["my_func", "reporting.total", "public.f", "MixedCase"])
            .unwrap_or_default()
    })
}

/// First byte: bits 0-1 the dialect (PostgreSQL, MySQL, SQLite, SQL Server), bit 2 the
/// allow-list policy, bit 3 whether a placeholder count is required, bits 4-5
/// that count. The rest is the SQL text (lossy UTF-8).
pub fn guard(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let dialect = DIALECTS[usize::from(head & 3)];
    let empty = FunctionPolicy::default();
    let policy = if head & 4 != 0 { policy() } else { &empty };
    let params = (head & 8 != 0).then_some(usize::from((head >> 4) & 3));
    let sql = text(rest);

    let first = conexor_guard::check_with_policy(dialect, &sql, params, policy);
    if let Err(r) = &first {
        assert_ne!(r.rule, Rule::Internal, "internal guard failure: {r:?}");
    }
    // Determinism: the same verdict, the same facts, the same rule.
    let again = conexor_guard::check_with_policy(dialect, &sql, params, policy);
    match (&first, &again) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "accepted twice with different facts"),
        (Err(a), Err(b)) => assert_eq!(a.rule, b.rule, "refused twice for different rules"),
        _ => panic!("verdict changed between two checks: {first:?} then {again:?}"),
    }
    let Ok(checked) = first else { return };

    // What a connector sends is the capped text: it must pass the same guard,
    // read the same relations and call the same user functions.
    for cap in [0u64, 99] {
        let capped = checked.capped_sql(cap);
        match conexor_guard::check_with_policy(
            dialect,
            &capped,
            Some(checked.placeholder_count()),
            policy,
        ) {
            Ok(c) => {
                assert_eq!(c.relations(), checked.relations(), "capped: {capped:?}");
                assert_eq!(
                    c.user_functions(),
                    checked.user_functions(),
                    "capped: {capped:?}"
                );
            }
            // Wrapping adds bytes and one level of nesting.
            Err(r) if matches!(r.rule, Rule::TooLong | Rule::TooDeep) => {}
            Err(r) => {
                panic!("accepted {sql:?} ({dialect}) but refused its capped form {capped:?}: {r:?}")
            }
        }
    }
}

// ---------------------------------------------------------------- audit

fn audit_pin() -> &'static conexor_audit::PublicKey {
    static PIN: OnceLock<conexor_audit::PublicKey> = OnceLock::new();
    // The key of the seed exports (fuzz/README.md; crates/conexor-audit/tests/common).
    PIN.get_or_init(|| conexor_audit::SigningKey::from_bytes(&[0x42; 32]).public())
}

/// The whole input is one export (JSON Lines or CSV, as `conexor audit
/// verify` reads a file).
pub fn audit_verify(data: &[u8]) {
    use conexor_audit::{ExportKind, SignatureTrust, verify};
    let unpinned = verify(data, None);
    let pinned = verify(data, Some(audit_pin()));
    match &unpinned {
        Err(p) => {
            assert!(p.line >= 1, "line numbers start at 1: {p:?}");
            assert!(p.detail.chars().count() <= 301, "detail not capped: {p:?}");
            // A pinned key cannot make a broken export verify.
            assert!(
                pinned.is_err(),
                "verifies pinned but not unpinned: {pinned:?}"
            );
        }
        Ok(report) => {
            assert_eq!(report.signatures, SignatureTrust::SelfConsistentOnly);
            // The header's key, pinned, gives the same report.
            let key = conexor_audit::PublicKey::parse(&report.pubkey)
                .unwrap_or_else(|e| panic!("report names an unparsable key: {e}"));
            let again = verify(data, Some(&key))
                .unwrap_or_else(|p| panic!("fails under its own header key: {p}"));
            assert_eq!(again.signatures, SignatureTrust::Pinned);
            assert_eq!(
                Report {
                    signatures: SignatureTrust::SelfConsistentOnly,
                    ..again
                },
                *report
            );
            if let Ok(p) = &pinned {
                assert_eq!(
                    Report {
                        signatures: SignatureTrust::SelfConsistentOnly,
                        ..p.clone()
                    },
                    *report
                );
            }
            match (report.first_seq, report.last_seq) {
                (Some(a), Some(b)) => {
                    assert!(a <= b);
                    assert_eq!(b - a + 1, report.records, "records not contiguous");
                }
                (None, None) => assert_eq!(report.records, 0),
                other => panic!("first/last seq half set: {other:?}"),
            }
            // Never both unreadable and verified: every JSON line parses.
            if report.kind == ExportKind::Jsonl {
                let body = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
                for line in body.split(|b| *b == b'\n') {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if line.is_empty() {
                        continue;
                    }
                    assert!(
                        serde_json::from_slice::<Value>(line).is_ok(),
                        "verified an export with a line that is not JSON: {:?}",
                        String::from_utf8_lossy(line)
                    );
                }
            }
        }
    }
}

use conexor_audit::Report;

// ---------------------------------------------------------------- keys and envelopes

const KEY: [u8; 32] = [0x42; 32];

/// First byte picks the parser; the rest is its text (or bytes).
pub fn keys_envelopes(data: &[u8]) {
    use conexor_crypto::{ApiKey, Envelope, fixed};
    use conexor_types::{KeyId, SecretId, WorkspaceId};
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let s = text(rest);
    match head % 6 {
        0 => {
            if let Ok(key) = ApiKey::parse(&s) {
                assert_eq!(&**key.to_text(), &*s, "api key text does not round-trip");
                let again = ApiKey::parse(&key.to_text()).expect("own text parses");
                assert_eq!(again.key_id(), key.key_id());
                assert_eq!(again.secret(), key.secret());
            }
        }
        1 => {
            // A stored envelope (wrapped WMK, check value, DEK, secret value).
            let Ok(env) = serde_json::from_str::<Envelope>(&s) else {
                return;
            };
            let json = serde_json::to_string(&env).expect("envelope serialises");
            assert_eq!(
                serde_json::from_str::<Envelope>(&json).ok(),
                Some(env.clone())
            );
            let _ = fixed::open_with(&KEY, b"aad", &env);
            let key_id = KeyId::parse("AbCdEfGh1234").expect("valid key id");
            let _ = conexor_crypto::unwrap_wmk(&fixed::kek(KEY), &env, &key_id);
            let wmk = fixed::wmk(KEY);
            let _ = conexor_crypto::verify_wmk_check(&wmk, &env);
            let ws = WorkspaceId::parse("ws_0123456789abcdef").expect("valid workspace id");
            let sec = SecretId::parse("sec_0123456789abcdef").expect("valid secret id");
            let sealed = conexor_crypto::SealedSecret {
                value: env.clone(),
                dek: env.clone(),
            };
            let _ = conexor_crypto::open_secret(&wmk, &ws, &sec, &sealed);
            let _ = conexor_crypto::rewrap_dek(&wmk, &fixed::wmk([7; 32]), &ws, &sec, &env);
        }
        2 => {
            if let Ok(id) = WorkspaceId::parse(&s) {
                assert_eq!(id.as_str(), &*s);
            }
            if let Ok(id) = SecretId::parse(&s) {
                assert_eq!(id.as_str(), &*s);
            }
            if let Ok(id) = KeyId::parse(&s) {
                assert_eq!(id.as_str(), &*s);
            }
        }
        3 => {
            if let Ok(key) = conexor_audit::PublicKey::parse(&s) {
                let again = conexor_audit::PublicKey::parse(&key.to_text()).expect("own text");
                assert!(again == key, "audit public key does not round-trip");
                let _ = key.key_id();
            }
        }
        4 => {
            if let Ok(key) = conexor_protocol::AgentKey::from_seed_text(&s) {
                let again = conexor_protocol::AgentKey::from_seed_text(&key.seed_text())
                    .expect("own seed text");
                assert_eq!(again.public_text(), key.public_text());
            }
            // public key, nonce, subject, signature: one a line.
            let mut parts = s.splitn(4, '\n');
            let (a, b, c, d) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            );
            let _ = conexor_protocol::verify_challenge(a, b, c, d);
        }
        _ => {
            // Seal then open any plaintext: it comes back, and only under its AAD.
            let (nonce, rest) = rest.split_at(rest.len().min(12));
            let mut n = [0u8; 12];
            n[..nonce.len()].copy_from_slice(nonce);
            let env = fixed::seal_with(&KEY, &n, b"aad", rest).expect("small input seals");
            let json = serde_json::to_string(&env).expect("envelope serialises");
            let env: Envelope = serde_json::from_str(&json).expect("own envelope parses");
            let plain = fixed::open_with(&KEY, b"aad", &env).expect("own envelope opens");
            assert_eq!(&plain[..], rest);
            assert!(fixed::open_with(&KEY, b"aae", &env).is_err());
        }
    }
}

// ---------------------------------------------------------------- agent frames

/// One WebSocket text frame, read by either side.
pub fn agent_frames(data: &[u8]) {
    let Ok(frame) = std::str::from_utf8(data) else {
        return; // text frames are UTF-8; the WebSocket layer refuses the rest
    };
    if let Ok(m) = conexor_protocol::decode_agent(frame) {
        let text = conexor_protocol::encode(&m);
        assert_eq!(
            conexor_protocol::decode_agent(&text).as_ref(),
            Ok(&m),
            "{text}"
        );
    }
    if let Ok(m) = conexor_protocol::decode_server(frame) {
        let text = conexor_protocol::encode(&m);
        assert_eq!(
            conexor_protocol::decode_server(&text).as_ref(),
            Ok(&m),
            "{text}"
        );
    }
}

// ---------------------------------------------------------------- tools file

/// The whole input is a tools file (read as UTF-8 text).
pub fn tools_file(data: &[u8]) {
    let Ok(file) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(tools) = conexor_tools::parse_file(file) else {
        return;
    };
    for t in &tools {
        assert!(t.line >= 1);
        let def = &t.def;
        let _ = def.input_schema();
        let _ = def.bind(&Value::Null);
        let _ = def.bind(&json!({}));
        let saveable = DIALECTS.iter().any(|d| def.check(*d).is_ok());
        if saveable {
            // A saved tool is exported with to_file and must read back the same.
            let out = conexor_tools::to_file(std::slice::from_ref(def))
                .unwrap_or_else(|e| panic!("a checked tool cannot be written: {e}"));
            let back = conexor_tools::parse_file(&out)
                .unwrap_or_else(|e| panic!("written tool does not parse: {e}\n{out}"));
            assert_eq!(back.len(), 1);
            assert_eq!(format!("{:?}", back[0].def), format!("{def:?}"), "{out}");
        }
    }
}

// ---------------------------------------------------------------- MCP tools/call

fn named_tool() -> &'static conexor_tools::ToolDef {
    static TOOL: OnceLock<conexor_tools::ToolDef> = OnceLock::new();
    TOOL.get_or_init(|| {
        let file = r#"
[[tools]]
name = "orders"
description = "Orders"
connection = "shop"
sql = "SELECT id FROM orders WHERE country = $1 AND status = $2 AND n <= $3 AND x > $4 AND paid = $5 AND d = $6 AND t < $7"
[[tools.params]]
name = "country"
type = "string"
required = true
max_length = 8
[[tools.params]]
name = "status"
type = "enum"
values = ["open", "shipped"]
default = "shipped"
[[tools.params]]
name = "limit"
type = "integer"
min = 1
max = 100
default = 10
[[tools.params]]
name = "x"
type = "number"
min = -1.5
[[tools.params]]
name = "paid"
type = "boolean"
[[tools.params]]
name = "day"
type = "date"
[[tools.params]]
name = "at"
type = "datetime"
"#;
        conexor_tools::parse_file(file).expect("fixture parses").remove(0).def
    })
}

fn table_tools() -> &'static [(Dialect, conexor_tools::TableTool)] {
    static TOOLS: OnceLock<Vec<(Dialect, conexor_tools::TableTool)>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let columns: Vec<(String, String, Option<String>)> = [
            ("id", "integer"),
            ("name", "text"),
            ("total", "numeric(10,2)"),
            ("paid", "boolean"),
            ("created", "timestamp with time zone"),
            ("we\"ird", "varchar(20)"),
            ("back`tick", "bigint"),
            ("Mixed Case", "date"),
            ("data", "jsonb"),
            ("blob", "bytea"),
        ]
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned(), None))
        .collect();
        let pk = ["id".to_owned()];
        vec![
            (
                Dialect::Postgresql,
                conexor_tools::TableTool::new("shop", "public", "orders", None, &columns, &pk),
            ),
            (
                Dialect::Mysql,
                conexor_tools::TableTool::new("shop", "shop", "orders", None, &columns, &pk),
            ),
            (
                Dialect::Sqlite,
                conexor_tools::TableTool::new("shop", "", "orders", None, &columns, &pk),
            ),
        ]
    })
}

/// The whole input is one JSON-RPC body as an MCP client sends it to `/mcp`.
pub fn mcp_call(data: &[u8]) {
    use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage};
    // rmcp's own decoding of the body (what reaches Conexor's handlers).
    let mut calls: Vec<Value> = Vec::new();
    if let Ok(JsonRpcMessage::Request(r)) = serde_json::from_slice::<ClientJsonRpcMessage>(data)
        && let ClientRequest::CallToolRequest(call) = r.request
    {
        calls.push(Value::Object(call.params.arguments.unwrap_or_default()));
    }
    // A tools/call rmcp does not accept reaches on_custom_request with any
    // `arguments` value; the bare value is tried as arguments too.
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        if let Some(args) = v.get("params").and_then(|p| p.get("arguments")) {
            calls.push(args.clone());
        }
        calls.push(v);
    }
    let def = named_tool();
    for args in &calls {
        if let Ok(values) = def.bind(args) {
            assert_eq!(values.len(), def.params.len());
        }
        for (dialect, tool) in table_tools() {
            if let Ok((sql, params, _limit)) = tool.build(args, *dialect) {
                // What build writes goes through the guard next: it must pass.
                if let Err(r) = conexor_guard::check_with_params(*dialect, &sql, params.len()) {
                    panic!("table tool built SQL its guard refuses ({dialect}): {sql:?}: {r:?}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------- objects

/// First byte, modulo 5: 0 an object read as the agent protocol and the MCP
/// arguments carry it (and bucket, key and prefix names); 1-3 a CSV, TSV or
/// JSON Lines preview of the rest (inflated first when it starts like gzip;
/// bit 3 of the first byte says whether it is the whole object); 4 the rest
/// as a whole Parquet object: footer length, plan, then the planned rows.
pub fn objects(data: &[u8]) {
    use conexor_types::objects::{BucketName, ObjectKey, ObjectPrefix, ObjectRead};
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    match head % 5 {
        0 => {
            if let Ok(read) = serde_json::from_slice::<ObjectRead>(rest) {
                assert!(!read.hash_input().is_empty());
                let again: ObjectRead = serde_json::to_value(&read)
                    .and_then(serde_json::from_value)
                    .expect("an accepted read serialises and reads back");
                assert_eq!(again, read);
            }
            let text = text(rest);
            if let Ok(b) = BucketName::parse(&text) {
                assert_eq!(BucketName::parse(b.as_str()).ok(), Some(b.clone()));
            }
            if let Ok(k) = ObjectKey::parse(&text) {
                assert!(
                    !k.as_str().split('/').any(|s| s == ".." || s == "."),
                    "{k:?}"
                );
                assert!(k.as_str().len() <= 1024);
            }
            if let Ok(p) = ObjectPrefix::parse(&text) {
                assert!(!p.as_str().split('/').any(|s| s == ".."), "{p:?}");
            }
        }
        n @ 1..=3 => {
            let format = match n {
                1 => conexor_preview::TextFormat::Csv,
                2 => conexor_preview::TextFormat::Tsv,
                _ => conexor_preview::TextFormat::Jsonl,
            };
            let complete = head & 8 != 0;
            let (bytes, complete) = if conexor_preview::is_gzip(rest) {
                match conexor_preview::inflate_head(rest, complete) {
                    Ok((bytes, done)) => {
                        assert!(bytes.len() <= conexor_preview::MAX_INFLATED);
                        (bytes, done)
                    }
                    Err(_) => return,
                }
            } else {
                (rest.to_vec(), complete)
            };
            if let Ok(preview) = conexor_preview::preview_text(format, &bytes, complete, 10) {
                assert!(preview.rows.len() <= 10);
                for row in &preview.rows {
                    assert!(row.len() <= preview.columns.len().max(1), "{preview:?}");
                }
            }
        }
        _ => {
            // The parquet crate asserts on some malformed input and
            // conexor_preview contains those panics (its `contained`); the
            // property here is that none escapes it. libFuzzer's panic hook
            // aborts at once, so it is set aside for this call only.
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let escaped = std::panic::catch_unwind(|| parquet_preview(rest)).is_err();
            std::panic::set_hook(hook);
            assert!(
                !escaped,
                "a panic escaped conexor_preview::parquet (or a property failed)"
            );
        }
    }
}

/// A whole Parquet object: its footer, the plan, the planned rows.
fn parquet_preview(rest: &[u8]) {
    use conexor_preview::parquet;
    let size = rest.len() as u64;
    let Ok(footer) = parquet::footer_len(rest, size) else {
        return;
    };
    let footer = usize::try_from(footer).unwrap_or(usize::MAX);
    let Some(tail) = rest.len().checked_sub(footer).and_then(|at| rest.get(at..)) else {
        panic!("footer_len allowed a footer longer than the object");
    };
    let Ok(plan) = parquet::plan(tail, size, 10, 1 << 20) else {
        return;
    };
    let mut pieces = Vec::new();
    for &(at, len) in &plan.ranges {
        let end = at
            .checked_add(len)
            .expect("a planned range does not overflow");
        assert!(
            end <= size,
            "a planned range past the object: {at}+{len} > {size}"
        );
        pieces.push((at, rest[at as usize..end as usize].to_vec()));
    }
    pieces.push((size - tail.len() as u64, tail.to_vec()));
    if let Ok(preview) = parquet::rows(size, pieces, plan.row_groups, 10) {
        assert!(preview.rows.len() <= 10);
    }
}

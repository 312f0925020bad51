//! The audit record (DESIGN §6), its hash rule and the I-JSON check for
//! `params`.
//!
//! What it does: defines [`Record`] (every field always present, `null` when
//! unknown), [`Draft`] (what the gateway fills in), [`Outcome`],
//! [`record_hash`] (`hex(SHA-256(prev_hash || JCS(record without hash)))`)
//! and [`ensure_i_json`].
//!
//! What it does not do: it does not link records (see `chain`), and it does
//! not check that `error` holds only a class code and a fixed reason: that is
//! the caller's duty.

use crate::Error;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first record of every chain: 64 `0` characters.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The field names of a record, in the order of DESIGN §6. A record object
/// in an export must have exactly these keys.
pub(crate) const RECORD_FIELDS: [&str; 19] = [
    "seq",
    "ts",
    "workspace",
    "user",
    "key_id",
    "client",
    "model",
    "tool",
    "params",
    "connection",
    "mode",
    "query_hash",
    "rows",
    "bytes",
    "duration_ms",
    "outcome",
    "error",
    "prev_hash",
    "hash",
];

/// How a call ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Answered.
    Ok,
    /// Refused by policy (guard, scope, limits).
    Denied,
    /// Failed (at the source, or inside Conexor).
    Error,
}

impl Outcome {
    /// `ok`, `denied` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }

    /// The inverse of [`Outcome::as_str`]; exact, lowercase only.
    pub fn parse(text: &str) -> Option<Outcome> {
        match text {
            "ok" => Some(Outcome::Ok),
            "denied" => Some(Outcome::Denied),
            "error" => Some(Outcome::Error),
            _ => None,
        }
    }
}

/// One audit record. Every field is always present when serialised (`null`
/// when unknown). Field order is that of DESIGN §6; the hash does not depend
/// on it (JCS sorts keys).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "AuditRecord")]
pub struct Record {
    /// Position in the workspace's chain, from 1, gapless.
    pub seq: u64,
    /// UTC RFC 3339 with milliseconds, `2026-11-22T05:12:39.123Z`.
    pub ts: String,
    /// The workspace id.
    pub workspace: String,
    /// The API key's user label.
    pub user: Option<String>,
    /// The API key id.
    pub key_id: Option<String>,
    /// MCP `clientInfo` as `name/version`.
    pub client: Option<String>,
    /// The model, when the client told it.
    pub model: Option<String>,
    /// The tool, or `admin.<verb>` for admin actions.
    pub tool: String,
    /// The tool's parameters; I-JSON, or a JSON string of their text.
    pub params: Value,
    /// The connection name.
    pub connection: Option<String>,
    /// `direct` or `agent`.
    pub mode: Option<String>,
    /// SHA-256 hex of the exact statement or request sent to the source.
    pub query_hash: Option<String>,
    /// Rows returned.
    pub rows: Option<u64>,
    /// Bytes returned.
    pub bytes: Option<u64>,
    /// Wall time of the call.
    pub duration_ms: u64,
    /// `ok`, `denied` or `error`.
    pub outcome: Outcome,
    /// Class code and fixed reason (`guard.denied_function: function not
    /// allowed`); never a driver message.
    pub error: Option<String>,
    /// The previous record's hash ([`ZERO_HASH`] for seq 1).
    pub prev_hash: String,
    /// `hex(SHA-256(prev_hash || JCS(record without hash)))`.
    pub hash: String,
}

/// What the gateway knows about a call; the chain adds `seq`, `ts`,
/// `workspace`, `prev_hash` and `hash`.
///
/// Empty strings in the optional fields are stored as `null` (so that the CSV
/// export, where an empty cell means `null`, loses nothing).
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    /// See [`Record::user`].
    pub user: Option<String>,
    /// See [`Record::key_id`].
    pub key_id: Option<String>,
    /// See [`Record::client`].
    pub client: Option<String>,
    /// See [`Record::model`].
    pub model: Option<String>,
    /// See [`Record::tool`].
    pub tool: String,
    /// See [`Record::params`]; passed through [`ensure_i_json`].
    pub params: Value,
    /// See [`Record::connection`].
    pub connection: Option<String>,
    /// See [`Record::mode`].
    pub mode: Option<String>,
    /// See [`Record::query_hash`].
    pub query_hash: Option<String>,
    /// See [`Record::rows`].
    pub rows: Option<u64>,
    /// See [`Record::bytes`].
    pub bytes: Option<u64>,
    /// See [`Record::duration_ms`].
    pub duration_ms: u64,
    /// See [`Record::outcome`].
    pub outcome: Outcome,
    /// See [`Record::error`].
    pub error: Option<String>,
}

impl Draft {
    /// A draft with only `tool` and `outcome` set; everything else unknown
    /// (`params` is `null`, `duration_ms` 0).
    pub fn new(tool: impl Into<String>, outcome: Outcome) -> Draft {
        Draft {
            user: None,
            key_id: None,
            client: None,
            model: None,
            tool: tool.into(),
            params: Value::Null,
            connection: None,
            mode: None,
            query_hash: None,
            rows: None,
            bytes: None,
            duration_ms: 0,
            outcome,
            error: None,
        }
    }
}

/// The record without its `hash`, borrowed: what JCS canonicalises (the
/// generic serializer's view, kept to check [`crate::jcs`] against).
#[cfg(test)]
#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    ts: &'a str,
    workspace: &'a str,
    user: Option<&'a str>,
    key_id: Option<&'a str>,
    client: Option<&'a str>,
    model: Option<&'a str>,
    tool: &'a str,
    params: &'a Value,
    connection: Option<&'a str>,
    mode: Option<&'a str>,
    query_hash: Option<&'a str>,
    rows: Option<u64>,
    bytes: Option<u64>,
    duration_ms: u64,
    outcome: Outcome,
    error: Option<&'a str>,
    prev_hash: &'a str,
}

/// `JCS(record without hash)`, the bytes that follow `prev_hash` under the
/// hash.
pub(crate) fn canonical_body(r: &Record) -> Result<Vec<u8>, Error> {
    Ok(crate::jcs::record_body(r))
}

/// [`canonical_body`] through the generic `serde_jcs` serializer.
#[cfg(test)]
pub(crate) fn canonical_body_generic(r: &Record) -> Result<Vec<u8>, Error> {
    let body = Body {
        seq: r.seq,
        ts: &r.ts,
        workspace: &r.workspace,
        user: r.user.as_deref(),
        key_id: r.key_id.as_deref(),
        client: r.client.as_deref(),
        model: r.model.as_deref(),
        tool: &r.tool,
        params: &r.params,
        connection: r.connection.as_deref(),
        mode: r.mode.as_deref(),
        query_hash: r.query_hash.as_deref(),
        rows: r.rows,
        bytes: r.bytes,
        duration_ms: r.duration_ms,
        outcome: r.outcome,
        error: r.error.as_deref(),
        prev_hash: &r.prev_hash,
    };
    serde_jcs::to_vec(&body).map_err(Error::from)
}

/// Recomputes a record's hash from its other fields:
/// `hex(SHA-256(prev_hash || JCS(record without hash)))`, where `prev_hash`
/// enters as its ASCII text. The stored `hash` field is ignored.
pub fn record_hash(record: &Record) -> Result<String, Error> {
    let body = canonical_body(record)?;
    let mut h = Sha256::new();
    h.update(record.prev_hash.as_bytes());
    h.update(&body);
    Ok(hex::encode(h.finalize()))
}

/// The largest integer I-JSON allows: 2^53 − 1.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Returns `value` unchanged when it is I-JSON (RFC 7493), otherwise a JSON
/// string holding its compact JSON text.
///
/// A parsed `serde_json::Value` already has valid UTF-8 strings, unique
/// member names and finite numbers; what remains to check is that every
/// integer lies within ±(2^53 − 1), so that every I-JSON reader (JavaScript,
/// and JCS, which reads numbers as IEEE 754 doubles) sees the same value.
pub fn ensure_i_json(value: Value) -> Value {
    if is_i_json(&value) {
        value
    } else {
        Value::String(value.to_string())
    }
}

fn is_i_json(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => true,
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u <= MAX_SAFE_INTEGER
            } else if let Some(i) = n.as_i64() {
                i.unsigned_abs() <= MAX_SAFE_INTEGER
            } else {
                n.as_f64().is_some_and(f64::is_finite)
            }
        }
        Value::Array(items) => items.iter().all(is_i_json),
        Value::Object(map) => map.values().all(is_i_json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Record {
        Record {
            seq: 1,
            ts: "2026-11-22T05:12:39.123Z".into(),
            workspace: "ws_A".into(),
            user: Some("alice".into()),
            key_id: None,
            client: None,
            model: None,
            tool: "query".into(),
            params: json!({"sql": "select 1", "b": [1, 2.5, null]}),
            connection: None,
            mode: Some("direct".into()),
            query_hash: None,
            rows: Some(1),
            bytes: None,
            duration_ms: 3,
            outcome: Outcome::Ok,
            error: None,
            prev_hash: ZERO_HASH.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn canonical_body_sorts_keys_keeps_nulls_and_drops_hash() {
        let body = canonical_body(&sample()).map(String::from_utf8);
        let Ok(Ok(body)) = body else {
            panic!("canonical body failed")
        };
        assert!(
            body.starts_with(
                "{\"bytes\":null,\"client\":null,\"connection\":null,\"duration_ms\":3,"
            ),
            "{body}"
        );
        assert!(body.contains("\"params\":{\"b\":[1,2.5,null],\"sql\":\"select 1\"}"));
        assert!(!body.contains("\"hash\""));
        assert!(body.ends_with("\"workspace\":\"ws_A\"}"));
    }

    #[test]
    fn the_stored_hash_does_not_enter_the_hash() {
        let mut r = sample();
        let a = record_hash(&r).ok();
        r.hash = "x".into();
        assert_eq!(a, record_hash(&r).ok());
        r.rows = Some(2);
        assert_ne!(a, record_hash(&r).ok());
    }

    #[test]
    fn i_json_keeps_safe_values_and_stringifies_the_rest() {
        let ok = json!({"a": [9007199254740991_u64, -9007199254740991_i64, 0.1, "é\u{1}"]});
        assert_eq!(ensure_i_json(ok.clone()), ok);
        let big = json!({"a": 9007199254740992_u64});
        assert_eq!(
            ensure_i_json(big),
            Value::String("{\"a\":9007199254740992}".into())
        );
        let neg = json!([-9007199254740992_i64]);
        assert_eq!(
            ensure_i_json(neg),
            Value::String("[-9007199254740992]".into())
        );
    }

    #[test]
    fn outcome_round_trips() {
        for o in [Outcome::Ok, Outcome::Denied, Outcome::Error] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("OK"), None);
    }
}

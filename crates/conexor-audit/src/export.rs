//! Export line layouts: JSON Lines, CSV and OCSF, one line (or row) per
//! call, so that a caller streams millions of records in constant memory.
//!
//! An export is: a header, then the records and checkpoints in chain order
//! (each checkpoint right after the record whose seq it signs), then always
//! a freshly signed head checkpoint of the last exported record (without it
//! a cut tail would be invisible). Every function returns one complete line
//! with its terminator (`\n` for JSON Lines and OCSF, `\r\n` for CSV).
//!
//! CSV cells are quoted per RFC 4180 and neutralised against CSV injection
//! (see [`csv_header`]); [`crate::verify()`] reverses that exactly, so CSV
//! exports verify like JSON Lines. OCSF lines are for SIEMs and carry no
//! chain or signature: they cannot be verified.
//!
//! What it does not do: it does not select records, read the store or sign
//! (the caller signs the head checkpoint with [`crate::SigningKey::sign`]).

use crate::chain::Interval;
use crate::record::{Outcome, Record};
use crate::sign::{Checkpoint, PublicKey};
use crate::{Error, csv, format_ts, parse_ts};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The export format version in every header.
pub const FORMAT: u32 = 1;

/// The first line of an export.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The workspace every record and checkpoint must belong to.
    pub workspace: String,
    /// The signing key's id ([`PublicKey::key_id`]).
    pub key_id: String,
    /// The signing key ([`PublicKey::to_text`]); a reviewer should pin the
    /// key instead of trusting this copy.
    pub pubkey: String,
    /// Records between checkpoints (0: no count trigger).
    pub interval_n: u64,
    /// Seconds between checkpoints (0: no time trigger).
    pub interval_s: u64,
    /// Always [`FORMAT`].
    pub format: u32,
    /// When the export started (UTC RFC 3339, ms); the head checkpoint is
    /// signed at or after it.
    pub exported_at: String,
    /// The seq of the first record: 1 for a whole chain, more for an export
    /// that starts later (`--since`).
    pub from_seq: u64,
}

impl Header {
    /// The header of a whole-chain export (`from_seq` 1) started at
    /// `exported_at`.
    pub fn new(
        workspace: impl Into<String>,
        key: &PublicKey,
        interval: Interval,
        exported_at: DateTime<Utc>,
    ) -> Header {
        Header {
            workspace: workspace.into(),
            key_id: key.key_id(),
            pubkey: key.to_text(),
            interval_n: interval.records,
            interval_s: interval.seconds,
            format: FORMAT,
            exported_at: format_ts(exported_at),
            from_seq: 1,
        }
    }
}

/// One JSON Lines line: the value's canonical JSON (RFC 8785, the form the
/// hash and the signatures use) and `\n`. The verifier re-serialises every
/// line it reads and refuses any line that is not exactly this.
fn line(value: &impl Serialize) -> Result<String, Error> {
    let mut s = canonical(value)?;
    s.push('\n');
    Ok(s)
}

/// RFC 8785 canonical JSON text.
pub(crate) fn canonical(value: &impl Serialize) -> Result<String, Error> {
    serde_jcs::to_string(value).map_err(Error::from)
}

/// `{"header":{…}}\n`
pub fn jsonl_header(header: &Header) -> Result<String, Error> {
    line(&json!({ "header": header }))
}

/// `{"record":{…all 19 fields…}}\n` (written directly: the generic
/// serializer costs several times more, per record of every export and of
/// the agent's log).
pub fn jsonl_record(record: &Record) -> Result<String, Error> {
    Ok(crate::jcs::record_line(record))
}

/// `{"checkpoint":{"workspace","seq","hash","ts"},"sig":"…"}\n`
pub fn jsonl_checkpoint(checkpoint: &Checkpoint, sig: &str) -> Result<String, Error> {
    line(&json!({ "checkpoint": checkpoint, "sig": sig }))
}

/// The CSV columns, in order. Every row has all of them.
///
/// - `header` rows fill only `kind` and `header` (the header object as
///   canonical JSON text, RFC 8785);
/// - `record` rows fill the record's fields; `params` holds its canonical
///   JSON text (RFC 8785); `null` is an empty cell;
/// - `checkpoint` rows fill `kind`, `seq`, `ts`, `workspace`, `hash` and
///   `sig`.
pub const CSV_COLUMNS: [&str; 22] = [
    "kind",
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
    "sig",
    "header",
];

/// The CSV column-name row (the first line of a CSV export).
///
/// Injection rule for every cell of every row: text starting with `=`, `+`,
/// `-`, `@`, tab, CR, LF, `＝＋－＠` or `'` gets one more leading `'`; the
/// verifier removes exactly one leading `'` from every cell that has one.
pub fn csv_header() -> String {
    csv::row(CSV_COLUMNS)
}

/// The `kind=header` row (the second line of a CSV export).
pub fn csv_header_row(header: &Header) -> Result<String, Error> {
    let text = canonical(header)?;
    let mut cells = [""; 22];
    cells[0] = "header";
    cells[21] = &text;
    Ok(csv::row(cells))
}

/// One `kind=record` row.
pub fn csv_record(record: &Record) -> Result<String, Error> {
    let seq = record.seq.to_string();
    let params = canonical(&record.params)?;
    let rows = record.rows.map(|n| n.to_string()).unwrap_or_default();
    let bytes = record.bytes.map(|n| n.to_string()).unwrap_or_default();
    let duration = record.duration_ms.to_string();
    let o = |s: &Option<String>| s.as_deref().unwrap_or("").to_owned();
    let cells: [String; 22] = [
        "record".into(),
        seq,
        record.ts.clone(),
        record.workspace.clone(),
        o(&record.user),
        o(&record.key_id),
        o(&record.client),
        o(&record.model),
        record.tool.clone(),
        params,
        o(&record.connection),
        o(&record.mode),
        o(&record.query_hash),
        rows,
        bytes,
        duration,
        record.outcome.as_str().into(),
        o(&record.error),
        record.prev_hash.clone(),
        record.hash.clone(),
        String::new(),
        String::new(),
    ];
    Ok(csv::row(cells.iter().map(String::as_str)))
}

/// One `kind=checkpoint` row.
pub fn csv_checkpoint(checkpoint: &Checkpoint, sig: &str) -> String {
    let seq = checkpoint.seq.to_string();
    let mut cells = [""; 22];
    cells[0] = "checkpoint";
    cells[1] = &seq;
    cells[2] = &checkpoint.ts;
    cells[3] = &checkpoint.workspace;
    cells[19] = &checkpoint.hash;
    cells[20] = sig;
    csv::row(cells)
}

/// The OCSF schema version the OCSF lines follow.
pub const OCSF_VERSION: &str = "1.3.0";

/// One OCSF API Activity (class 6003) event as a JSON line, for SIEMs.
///
/// Mapping: `time` = `ts` in epoch ms; `activity_id` 2 (Read) for tool
/// calls, 99 (Other) for `admin.*`; `status_id` 1 (Success) for `ok`, 2
/// (Failure) otherwise, with `status_code` = outcome and `status_detail` =
/// error; `severity_id` 1 (ok), 3 (denied), 2 (error); `actor.user.name` =
/// user, `actor.user.uid` = key id, `actor.app_name` = client;
/// `api.operation` = tool, `api.request.uid` = `workspace/seq`;
/// `resources` = the connection; `duration` = duration_ms; every other
/// field (params, mode, model, query_hash, rows, bytes, prev_hash, hash)
/// under `unmapped`. Absent (`null`) attributes are omitted. Not
/// verifiable: the chain and the signatures are not carried.
pub fn ocsf_record(record: &Record) -> Result<String, Error> {
    let time = parse_ts(&record.ts)?.timestamp_millis();
    let admin = record.tool.starts_with("admin.");
    let (activity_id, activity_name) = if admin { (99, "Other") } else { (2, "Read") };
    let (status_id, status) = match record.outcome {
        Outcome::Ok => (1, "Success"),
        Outcome::Denied | Outcome::Error => (2, "Failure"),
    };
    let (severity_id, severity) = match record.outcome {
        Outcome::Ok => (1, "Informational"),
        Outcome::Error => (2, "Low"),
        Outcome::Denied => (3, "Medium"),
    };
    let uid = format!("{}/{}", record.workspace, record.seq);

    let mut user = Map::new();
    put(&mut user, "name", record.user.as_deref());
    put(&mut user, "uid", record.key_id.as_deref());
    let mut actor = Map::new();
    actor.insert("user".into(), Value::Object(user));
    put(&mut actor, "app_name", record.client.as_deref());

    let mut event = Map::new();
    event.insert("class_uid".into(), json!(6003));
    event.insert("class_name".into(), json!("API Activity"));
    event.insert("category_uid".into(), json!(6));
    event.insert("category_name".into(), json!("Application Activity"));
    event.insert("activity_id".into(), json!(activity_id));
    event.insert("activity_name".into(), json!(activity_name));
    event.insert("type_uid".into(), json!(600_300 + activity_id));
    event.insert(
        "type_name".into(),
        json!(format!("API Activity: {activity_name}")),
    );
    event.insert("time".into(), json!(time));
    event.insert("duration".into(), json!(record.duration_ms));
    event.insert("severity_id".into(), json!(severity_id));
    event.insert("severity".into(), json!(severity));
    event.insert("status_id".into(), json!(status_id));
    event.insert("status".into(), json!(status));
    event.insert("status_code".into(), json!(record.outcome.as_str()));
    put(&mut event, "status_detail", record.error.as_deref());
    event.insert(
        "message".into(),
        json!(format!(
            "conexor {} {}",
            record.tool,
            record.outcome.as_str()
        )),
    );
    event.insert(
        "metadata".into(),
        json!({
            "version": OCSF_VERSION,
            "product": { "name": "Conexor", "vendor_name": "Conexor" },
            "uid": uid,
            "log_name": "audit",
            "original_time": record.ts,
        }),
    );
    event.insert("actor".into(), Value::Object(actor));
    event.insert(
        "api".into(),
        json!({
            "operation": record.tool,
            "service": { "name": "conexor" },
            "request": { "uid": uid },
        }),
    );
    event.insert("src_endpoint".into(), json!({}));
    if let Some(c) = &record.connection {
        event.insert(
            "resources".into(),
            json!([{ "type": "connection", "name": c }]),
        );
    }
    let mut unmapped = Map::new();
    unmapped.insert("workspace".into(), json!(record.workspace));
    unmapped.insert("seq".into(), json!(record.seq));
    unmapped.insert("params".into(), record.params.clone());
    put(&mut unmapped, "model", record.model.as_deref());
    put(&mut unmapped, "mode", record.mode.as_deref());
    put(&mut unmapped, "query_hash", record.query_hash.as_deref());
    if let Some(n) = record.rows {
        unmapped.insert("rows".into(), json!(n));
    }
    if let Some(n) = record.bytes {
        unmapped.insert("bytes".into(), json!(n));
    }
    unmapped.insert("prev_hash".into(), json!(record.prev_hash));
    unmapped.insert("hash".into(), json!(record.hash));
    event.insert("unmapped".into(), Value::Object(unmapped));
    line(&Value::Object(event))
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        map.insert(key.into(), Value::String(v.into()));
    }
}

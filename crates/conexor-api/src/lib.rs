//! The REST API's shapes (`/api/v1`), in one place: the server builds its
//! answers from these types and reads requests into them, and the
//! dashboard's TypeScript declarations (`crates/conexor-server/dashboard/api.d.ts`)
//! are generated from them, so the two cannot drift: a renamed or retyped
//! field changes the declarations, the test that compares them with the
//! committed file fails, and the dashboard's type check (`tsc --checkJs`,
//! run by the test command) fails where the page still uses the old shape.
//!
//! Nested formats that other crates own (the sealed envelope of format v1,
//! the audit record of DESIGN §6, the discovered schema) derive their
//! declarations where they are defined.
//!
//! Identifiers and timestamps travel as text; counts as numbers.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

pub use conexor_audit::{Outcome, Record as AuditRecord};
pub use conexor_connectors::{Schema, TestReport};
pub use conexor_crypto::{Envelope, SealedSecret};
pub use conexor_tools::{ParamDef, ParamType, ToolDef};

// ------------------------------------------------------------------ keys

/// `GET /keys/self`: the signed-in key and what it needs to unlock the
/// workspace key in the client (format v1 §4).
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct KeySelf {
    pub key_id: String,
    pub workspace_id: String,
    pub label: String,
    /// `admin` or `mcp`.
    pub scope: String,
    /// Unpadded base64url of the 16-byte PBKDF2 salt.
    pub kdf_salt: String,
    pub kdf_iterations: u32,
    pub wrapped_wmk: Envelope,
    pub wmk_check: Envelope,
}

/// One key of the workspace, as `GET /keys` lists it.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct KeySummary {
    pub key_id: String,
    pub label: String,
    pub scope: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// To the minute; null when it was never used.
    pub last_used_at: Option<String>,
    /// The key making the request.
    pub current: bool,
}

/// `GET /keys`.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct KeyList {
    pub keys: Vec<KeySummary>,
}

/// A new key as the client sends it (`POST /keys`, and inside
/// `POST /keys/rotate-master` and `POST /workspaces`): public and wrapped
/// values only; the key's secret never leaves the client.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub key_id: String,
    pub label: String,
    pub scope: String,
    pub auth_salt: String,
    pub auth_hash: String,
    pub kdf_salt: String,
    pub kdf_iterations: u32,
    pub wrapped_wmk: Envelope,
    pub wmk_check: Envelope,
}

/// `DELETE /keys/{key_id}` answer.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct KeyRevoked {
    pub key_id: String,
    /// Always true.
    #[ts(type = "true")]
    pub revoked: bool,
    /// Set when the key had been revoked before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub note: Option<String>,
}

/// The answer to removing a connection, a named secret or a tool.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct Removed {
    pub name: String,
    /// Always true.
    #[ts(type = "true")]
    pub removed: bool,
}

impl Removed {
    pub fn new(name: impl Into<String>) -> Self {
        Removed {
            name: name.into(),
            removed: true,
        }
    }
}

/// `POST /keys` answer.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct KeyCreated {
    pub key_id: String,
    pub scope: String,
}

/// A secret's data key, wrapped by the workspace key (`GET /keys/deks`):
/// a connection's spec or a named secret.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct WrappedDek {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub connection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub secret: Option<String>,
    pub secret_id: String,
    pub dek: Envelope,
}

/// `GET /keys/deks`.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct DekList {
    pub deks: Vec<WrappedDek>,
}

/// `POST /keys/rotate-master`: everything re-wrapped in the client.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct RotateMaster {
    pub wrapped_wmk: Envelope,
    pub wmk_check: Envelope,
    pub deks: Vec<RewrappedDek>,
    #[serde(default)]
    pub new_keys: Vec<NewKey>,
}

/// One data key wrapped by the new workspace key.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct RewrappedDek {
    pub secret_id: String,
    pub dek: Envelope,
}

/// `POST /keys/rotate-master` answer.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct Rotated {
    /// The other keys, revoked (those reissued have new ids).
    pub revoked: Vec<String>,
    pub rewrapped: usize,
}

// ------------------------------------------------------------ connections

/// A connection as `GET /connections` lists it, direct or offered by an agent.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct ConnectionSummary {
    pub name: String,
    /// `postgresql`, `mysql`, `sqlite`, `sqlserver`, `s3`, `rest` or `kafka`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `direct` or `agent`.
    pub mode: String,
    /// Direct: the version of its sealed spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub secret_version: Option<i64>,
    /// Agent: the agent's name and id, and whether it is connected now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub online: Option<bool>,
    /// What discovery found, by kind.
    pub tables: Option<usize>,
    pub buckets: Option<usize>,
    pub operations: Option<usize>,
    pub topics: Option<usize>,
    pub discovered_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub created_at: Option<String>,
    pub updated_at: String,
}

/// `GET /connections`.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct ConnectionList {
    pub connections: Vec<ConnectionSummary>,
}

/// `GET /connections/{name}`: the summary and the discovered schema.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct ConnectionDetail {
    #[serde(flatten)]
    pub summary: ConnectionSummary,
    pub schema: Option<Schema>,
}

/// A connection as the client sends it (`POST /connections`,
/// `POST /connections/test`, `PUT /connections/{name}`): name and kind in
/// clear, the spec sealed in the client.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct SealedConnection {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub secret_id: String,
    pub sealed: SealedSecret,
    /// Accept a login that can do more than read.
    #[serde(default)]
    #[ts(as = "Option<bool>", optional)]
    pub allow_privileged: bool,
}

/// `POST /connections/test` answer.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct Tested {
    pub test: TestReport,
}

/// The REST tools a description adds to tools/list.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct ToolPlan {
    /// `named` (one tool per operation) or `generic` (search, describe, call).
    pub mode: String,
    pub count: usize,
    /// Their size in tools/list.
    pub bytes: usize,
}

/// What discovery found when a connection was saved, in counts.
#[derive(Serialize, Deserialize, TS, Debug, Clone, Default)]
pub struct Found {
    #[serde(default)]
    pub tables: usize,
    #[serde(default)]
    pub buckets: usize,
    /// Kafka only.
    pub topics: Option<usize>,
    /// REST only.
    pub operations: Option<usize>,
    /// REST only.
    pub tools: Option<ToolPlan>,
}

/// `POST /connections` and `PUT /connections/{name}` answer.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct Saved {
    pub name: String,
    pub test: TestReport,
    /// `PUT`: the spec's new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub secret_version: Option<i64>,
    #[serde(flatten)]
    pub found: Found,
}

/// `POST /connections/{name}/refresh` answer: what discovery found now.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct Refreshed {
    pub name: String,
    #[serde(flatten)]
    pub found: Found,
}

/// `GET /connections/{name}/sealed`: a direct connection's sealed spec,
/// for a client that edits it.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct SealedSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub secret_id: String,
    pub secret_version: i64,
    pub sealed: SealedSecret,
}

// ------------------------------------------------------------------ query

/// A column of a query's answer.
#[derive(Serialize, Deserialize, TS, Debug, Clone, PartialEq)]
pub struct ResultColumn {
    pub name: String,
    /// The source's own type name, as its driver reports it.
    #[serde(rename = "type")]
    pub type_name: String,
}

/// What a read of rows answers: `POST /query`, the `run_query` tool, a
/// named query and a table's generated tool, in direct and agent mode.
/// Values follow DESIGN §8 (large integers and decimals as text, bytes as
/// `{"$b64": …}`, times in RFC 3339).
#[derive(Serialize, Deserialize, TS, Debug, Clone, PartialEq)]
pub struct QueryAnswer {
    pub columns: Vec<ResultColumn>,
    pub rows: Vec<Vec<Value>>,
    pub row_count: u64,
    /// The source had more rows (or bytes) than the caps allowed.
    pub truncated: bool,
    /// When truncated: what was cut and how to ask for less.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub note: Option<String>,
    /// When some values had a type this gateway does not map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub hint: Option<String>,
}

impl QueryAnswer {
    /// The answer for a source's result set, with no note or hint yet.
    pub fn from_result(result: conexor_types::ResultSet) -> Self {
        QueryAnswer {
            columns: result
                .columns
                .into_iter()
                .map(|c| ResultColumn {
                    name: c.name,
                    type_name: c.type_name,
                })
                .collect(),
            row_count: result.rows.len() as u64,
            rows: result.rows,
            truncated: result.truncated,
            note: None,
            hint: None,
        }
    }

    /// The answer as JSON, its rows moved rather than copied (serialising
    /// the struct would build a second tree of every value). Equal to what
    /// `serde_json::to_value` gives (a test holds them together).
    pub fn into_value(self) -> Value {
        let mut answer = serde_json::Map::with_capacity(6);
        answer.insert(
            "columns".into(),
            Value::Array(
                self.columns
                    .into_iter()
                    .map(|c| {
                        let mut column = serde_json::Map::with_capacity(2);
                        column.insert("name".into(), Value::String(c.name));
                        column.insert("type".into(), Value::String(c.type_name));
                        Value::Object(column)
                    })
                    .collect(),
            ),
        );
        answer.insert(
            "rows".into(),
            Value::Array(self.rows.into_iter().map(Value::Array).collect()),
        );
        answer.insert("row_count".into(), Value::from(self.row_count));
        answer.insert("truncated".into(), Value::Bool(self.truncated));
        if let Some(note) = self.note {
            answer.insert("note".into(), Value::String(note));
        }
        if let Some(hint) = self.hint {
            answer.insert("hint".into(), Value::String(hint));
        }
        Value::Object(answer)
    }
}

// ------------------------------------------------------------------ tools

/// A parameter of a tool, as the listing shows it.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct ToolParamSummary {
    pub name: String,
    /// The parameter's type (`string`, `integer`, … or `filter`).
    #[serde(rename = "type")]
    pub kind: String,
    pub required: bool,
}

/// The table a generated tool reads.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct TableRef {
    /// Empty where the source needs no schema qualifier.
    pub schema: String,
    pub name: String,
}

/// A named or generated tool, as `GET /tools` lists it.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct ToolSummary {
    pub name: String,
    pub description: String,
    pub connection: String,
    pub params: Vec<ToolParamSummary>,
    /// `api`, `file` (the tools directory) or `generated`.
    pub source: String,
    pub updated_at: String,
    /// A generated tool's table; null for a named query.
    pub table: Option<TableRef>,
}

/// `GET /tools`.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct ToolList {
    pub tools: Vec<ToolSummary>,
}

/// `GET /tools/{name}`: the stored definition (a named query's, or a
/// generated tool's) as written.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct ToolShown {
    pub definition: Value,
    pub source: String,
    pub updated_at: String,
}

/// `POST /tools` answer.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct ToolSaved {
    pub name: String,
    /// Always true.
    #[ts(type = "true")]
    pub saved: bool,
}

/// `POST /tools/generate`.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Generate {
    pub connection: String,
    /// Qualified or bare table names; empty: every table (up to a cap).
    #[serde(default)]
    #[ts(as = "Option<Vec<String>>", optional)]
    pub tables: Vec<String>,
}

/// `POST /tools/generate` answer.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct Generated {
    pub connection: String,
    pub tools: Vec<String>,
}

// ------------------------------------------------------------------ audit

/// `GET /audit/pubkey`: the key that signs the chain's checkpoints.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct AuditKey {
    /// `ed25519:` and 43 base64url characters.
    pub pubkey: String,
    pub key_id: String,
}

/// `GET /audit/records`: newest first.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct RecordPage {
    pub records: Vec<AuditRecord>,
    /// The cursor of the next (older) page: pass it as `before`.
    pub next: Option<u64>,
}

/// `GET /audit/verify`: the stored chain, read through the export and the
/// offline verifier. `ok` tells which.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
#[serde(untagged)]
pub enum Verification {
    Intact(Intact),
    Damaged(Damaged),
}

/// Every hash links and every checkpoint's signature is valid.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct Intact {
    /// Always true.
    #[ts(type = "true")]
    pub ok: bool,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub checkpoints: u64,
    pub head_seq: u64,
    pub head_hash: String,
    pub head_ts: String,
    /// The key the signatures were checked with.
    pub pubkey: String,
    /// Whether that was the key the reader pinned (else only self-consistent).
    pub pinned: bool,
    pub server: AuditKey,
    pub duration_ms: u64,
}

/// The first problem found, at a line of the export.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct Damaged {
    /// Always false.
    #[ts(type = "false")]
    pub ok: bool,
    pub line: u64,
    /// The kind of damage (`hash_mismatch`, `bad_signature`, …).
    pub damage: String,
    pub detail: String,
    pub server: AuditKey,
    pub duration_ms: u64,
}

// ----------------------------------------------------------------- agents

/// `POST /agents`.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct NewAgent {
    pub name: String,
    /// How long the enrolment token is valid (default one hour).
    #[serde(default)]
    #[ts(optional)]
    pub expires_in_s: Option<u64>,
}

/// `POST /agents` answer: the one-time enrolment token, shown once.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct AgentCreated {
    pub agent_id: String,
    pub name: String,
    pub token: String,
    pub expires_at: String,
}

/// `DELETE /agents/{agent}` answer.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct AgentRevoked {
    pub agent_id: String,
    pub name: String,
    /// Always true.
    #[ts(type = "true")]
    pub revoked: bool,
    /// It had been revoked before.
    pub already: bool,
}

/// An agent, as `GET /agents` lists it.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct AgentSummary {
    pub agent_id: String,
    pub name: String,
    /// `pending`, `connected`, `offline`, `expired` or `revoked`.
    pub state: String,
    pub created_at: String,
    pub enrolled_at: Option<String>,
    pub revoked_at: Option<String>,
    /// Until enrolment.
    pub token_expires_at: Option<String>,
    pub last_seen_at: Option<String>,
    pub version: Option<String>,
    pub address: Option<String>,
    pub connected_at: Option<String>,
    pub in_flight: Option<usize>,
    /// The connections it offers.
    pub connections: Vec<String>,
}

/// `GET /agents`.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct AgentList {
    pub agents: Vec<AgentSummary>,
}

// ---------------------------------------------------------------- secrets

/// A named secret, as anyone with an admin key may see it: never its value.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct SecretSummary {
    pub name: String,
    pub kind: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    /// The connections that reference it.
    pub used_by: Vec<String>,
}

/// `POST /secrets` answer.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct SecretAdded {
    pub name: String,
    pub kind: String,
    pub version: i64,
}

/// `PUT /secrets/{name}` answer.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct SecretRotated {
    pub name: String,
    pub version: i64,
    /// The connections that take the new value from their next call.
    pub connections: Vec<String>,
}

/// `GET /secrets`.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct SecretList {
    pub secrets: Vec<SecretSummary>,
}

// ------------------------------------------------------------------ errors

/// Every error answer: the words a user can act on.
#[derive(Serialize, Deserialize, TS, Debug, Clone)]
pub struct ErrorAnswer {
    pub error: String,
}

/// The TypeScript declarations of every shape above (and of the formats
/// they hold), as committed in `crates/conexor-server/dashboard/api.d.ts`.
pub fn typescript() -> String {
    let cfg = ts_rs::Config::default().with_large_int("number");
    let mut out = String::from(
        "// Generated from crates/conexor-api by `CONEXOR_BLESS=1 cargo test -p conexor-api`; do not edit.\n\
         // The dashboard's JavaScript is type-checked against these declarations.\n\n\
         export type JsonValue = number | string | boolean | Array<JsonValue> | { [key in string]?: JsonValue } | null;\n",
    );
    macro_rules! decl {
        ($($t:ty),* $(,)?) => {$(
            out.push_str("\nexport ");
            out.push_str(&<$t as TS>::decl(&cfg));
            out.push('\n');
        )*};
    }
    decl!(
        Envelope,
        SealedSecret,
        Outcome,
        AuditRecord,
        Schema,
        conexor_connectors::Table,
        conexor_connectors::SchemaColumn,
        conexor_connectors::ForeignKey,
        conexor_connectors::s3::BucketInfo,
        conexor_connectors::rest::ApiSchema,
        conexor_connectors::rest::openapi::Operation,
        conexor_connectors::rest::openapi::Param,
        conexor_connectors::rest::openapi::ReadMethod,
        conexor_connectors::rest::openapi::Location,
        conexor_connectors::kafka::TopicInfo,
        TestReport,
        ToolDef,
        ParamDef,
        ParamType,
        KeySelf,
        KeySummary,
        KeyList,
        NewKey,
        KeyCreated,
        WrappedDek,
        DekList,
        RotateMaster,
        RewrappedDek,
        Rotated,
        ConnectionSummary,
        ConnectionList,
        ConnectionDetail,
        SealedConnection,
        Tested,
        ToolPlan,
        Found,
        Saved,
        SealedSpec,
        ToolParamSummary,
        TableRef,
        ToolSummary,
        ToolList,
        ToolShown,
        Generate,
        Generated,
        AuditKey,
        RecordPage,
        Verification,
        Intact,
        Damaged,
        NewAgent,
        AgentCreated,
        AgentSummary,
        AgentList,
        SecretSummary,
        SecretList,
        ErrorAnswer,
        ResultColumn,
        QueryAnswer,
        KeyRevoked,
        Removed,
        Refreshed,
        ToolSaved,
        AgentRevoked,
        SecretAdded,
        SecretRotated,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed declarations are these types' own; `CONEXOR_BLESS=1`
    /// rewrites them after a deliberate change.
    #[test]
    fn the_dashboard_declarations_are_generated_from_these_types() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../conexor-server/dashboard/api.d.ts");
        let generated = typescript();
        if std::env::var_os("CONEXOR_BLESS").is_some() {
            std::fs::write(&path, &generated).expect("write api.d.ts");
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} differs from the API's types: run `CONEXOR_BLESS=1 cargo test -p conexor-api` and commit it",
            path.display()
        );
    }

    #[test]
    fn a_query_answer_moved_into_json_is_its_serde_shape() {
        for (note, hint) in [
            (None, None),
            (Some("cut at 1 row".to_owned()), Some("cast it".to_owned())),
        ] {
            let answer = QueryAnswer {
                columns: vec![ResultColumn {
                    name: "id".into(),
                    type_name: "int4".into(),
                }],
                rows: vec![vec![Value::from(1), Value::Null]],
                row_count: 1,
                truncated: note.is_some(),
                note,
                hint,
            };
            let moved = answer.clone().into_value();
            assert_eq!(moved, serde_json::to_value(&answer).unwrap());
            let back: QueryAnswer = serde_json::from_value(moved).unwrap();
            assert_eq!(back, answer);
        }
    }

    #[test]
    fn verification_says_ok_as_a_boolean() {
        let v = serde_json::to_value(Verification::Damaged(Damaged {
            ok: false,
            line: 3,
            damage: "hash_mismatch".into(),
            detail: "x".into(),
            server: AuditKey {
                pubkey: "ed25519:x".into(),
                key_id: "k".into(),
            },
            duration_ms: 1,
        }))
        .unwrap();
        assert_eq!(v["ok"], false, "{v}");
    }
}

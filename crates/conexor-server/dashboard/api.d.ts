// Generated from crates/conexor-api by `CONEXOR_BLESS=1 cargo test -p conexor-api`; do not edit.
// The dashboard's JavaScript is type-checked against these declarations.

export type JsonValue = number | string | boolean | Array<JsonValue> | { [key in string]?: JsonValue } | null;

export type Envelope = { 
/**
 * Format version, always 1.
 */
v: number, 
/**
 * Algorithm, always `"A256GCM"`.
 */
alg: string, 
/**
 * Unpadded base64url of the 12-byte nonce.
 */
nonce: string, 
/**
 * Unpadded base64url of the ciphertext followed by the 16-byte tag.
 */
ct: string, };

export type SealedSecret = { 
/**
 * AES-256-GCM(DEK, nonce, JSON, AAD = `conexor/secret/v1/<ws>/<sec>`).
 */
value: Envelope, 
/**
 * AES-256-GCM(WMK, nonce, DEK, AAD = `conexor/dek/v1/<ws>/<sec>`).
 */
dek: Envelope, };

export type Outcome = "ok" | "denied" | "error";

export type AuditRecord = { 
/**
 * Position in the workspace's chain, from 1, gapless.
 */
seq: number, 
/**
 * UTC RFC 3339 with milliseconds, `2026-11-22T05:12:39.123Z`.
 */
ts: string, 
/**
 * The workspace id.
 */
workspace: string, 
/**
 * The API key's user label.
 */
user: string | null, 
/**
 * The API key id.
 */
key_id: string | null, 
/**
 * MCP `clientInfo` as `name/version`.
 */
client: string | null, 
/**
 * The model, when the client told it.
 */
model: string | null, 
/**
 * The tool, or `admin.<verb>` for admin actions.
 */
tool: string, 
/**
 * The tool's parameters; I-JSON, or a JSON string of their text.
 */
params: JsonValue, 
/**
 * The connection name.
 */
connection: string | null, 
/**
 * `direct` or `agent`.
 */
mode: string | null, 
/**
 * SHA-256 hex of the exact statement or request sent to the source.
 */
query_hash: string | null, 
/**
 * Rows returned.
 */
rows: number | null, 
/**
 * Bytes returned.
 */
bytes: number | null, 
/**
 * Wall time of the call.
 */
duration_ms: number, 
/**
 * `ok`, `denied` or `error`.
 */
outcome: Outcome, 
/**
 * Class code and fixed reason (`guard.denied_function: function not
 * allowed`); never a driver message.
 */
error: string | null, 
/**
 * The previous record's hash ([`ZERO_HASH`] for seq 1).
 */
prev_hash: string, 
/**
 * `hex(SHA-256(prev_hash || JCS(record without hash)))`.
 */
hash: string, };

export type Schema = { tables: Array<Table>, 
/**
 * Object storage: buckets and their top-level prefixes (never contents).
 */
buckets?: Array<BucketInfo>, 
/**
 * REST: the description's title and its enabled read operations.
 */
api?: ApiSchema | null, 
/**
 * Kafka: topics and their partition counts (never messages).
 */
topics?: Array<TopicInfo>, };

export type Table = { 
/**
 * Schema (PostgreSQL), database (MySQL) or `main` (SQLite).
 */
schema: string, name: string, 
/**
 * `table` or `view`.
 */
kind: string, comment?: string | null, 
/**
 * The source's own estimate; null when it keeps none.
 */
row_estimate?: number | null, columns: Array<Column>, primary_key: Array<string>, foreign_keys: Array<ForeignKey>, };

export type Column = { name: string, type: string, nullable: boolean, comment?: string | null, };

export type ForeignKey = { columns: Array<string>, references_schema: string, references_table: string, references_columns: Array<string>, };

export type BucketInfo = { name: string, 
/**
 * The allowed prefix, when the connection is limited to one.
 */
scope?: string, 
/**
 * Top-level prefixes ("folders") under the scope, at most 100.
 */
prefixes: Array<string>, };

export type ApiSchema = { title: string, version: string, 
/**
 * The enabled read operations.
 */
operations: Array<Operation>, 
/**
 * Read operations in the description (enabled or not).
 */
read_operations: number, 
/**
 * Operations with another method, never callable.
 */
write_operations: number, };

export type Operation = { 
/**
 * The tool name: the operationId made safe and unique (or built from
 * the method and path when there is none).
 */
tool: string, 
/**
 * The description's own operationId, when it has one.
 */
operation_id?: string | null, method: ReadMethod, 
/**
 * The path template as written (`/repos/{owner}/{repo}`).
 */
path: string, summary?: string, tags?: Array<string>, params: Array<Param>, 
/**
 * The shape of a successful JSON answer (types and property names, a
 * few levels deep), for `describe_operation`.
 */
response?: JsonValue | null, };

export type Param = { name: string, in: Location, required: boolean, 
/**
 * The parameter's schema, `$ref`s resolved, cut where too deep.
 */
schema: JsonValue, description?: string | null, };

export type ReadMethod = "GET" | "HEAD";

export type Location = "path" | "query" | "header";

export type TopicInfo = { name: string, partitions: number, };

export type TestReport = { 
/**
 * The server's own version string.
 */
version: string, 
/**
 * Round trip of a trivial query, after login.
 */
latency_ms: number, 
/**
 * Why this login is more powerful than a read-only one; empty when it is read-only.
 */
privileges: Array<string>, 
/**
 * Statements that create a suitable read-only login on this source.
 */
read_only_grants: string, };

export type ToolDef = { name: string, description: string, 
/**
 * A connection of the workspace, by name.
 */
connection: string, 
/**
 * One query in the connection's dialect; placeholders (`$1`… or `?`) in
 * the order of `params`.
 */
sql: string, params: Array<ParamDef>, 
/**
 * Most rows one call returns (the server's own cap still applies).
 */
max_rows?: number | null, };

export type ParamDef = { name: string, type: ParamType, description?: string | null, 
/**
 * Without a default, a required parameter must be given; an optional one binds NULL.
 */
required: boolean, default?: JsonValue | null, 
/**
 * The allowed values of an `enum`.
 */
values?: Array<string> | null, min?: number | null, max?: number | null, max_length?: number | null, };

export type ParamType = "string" | "integer" | "number" | "boolean" | "date" | "datetime" | "enum";

export type KeySelf = { key_id: string, workspace_id: string, label: string, 
/**
 * `admin` or `mcp`.
 */
scope: string, 
/**
 * Unpadded base64url of the 16-byte PBKDF2 salt.
 */
kdf_salt: string, kdf_iterations: number, wrapped_wmk: Envelope, wmk_check: Envelope, };

export type KeySummary = { key_id: string, label: string, scope: string, created_at: string, revoked_at: string | null, 
/**
 * To the minute; null when it was never used.
 */
last_used_at: string | null, 
/**
 * The key making the request.
 */
current: boolean, };

export type KeyList = { keys: Array<KeySummary>, };

export type NewKey = { key_id: string, label: string, scope: string, auth_salt: string, auth_hash: string, kdf_salt: string, kdf_iterations: number, wrapped_wmk: Envelope, wmk_check: Envelope, };

export type KeyCreated = { key_id: string, scope: string, };

export type WrappedDek = { connection?: string, secret?: string, secret_id: string, dek: Envelope, };

export type DekList = { deks: Array<WrappedDek>, };

export type RotateMaster = { wrapped_wmk: Envelope, wmk_check: Envelope, deks: Array<RewrappedDek>, new_keys: Array<NewKey>, };

export type RewrappedDek = { secret_id: string, dek: Envelope, };

export type Rotated = { 
/**
 * The other keys, revoked (those reissued have new ids).
 */
revoked: Array<string>, rewrapped: number, };

export type ConnectionSummary = { name: string, 
/**
 * `postgresql`, `mysql`, `sqlite`, `sqlserver`, `s3`, `rest` or `kafka`.
 */
type: string, 
/**
 * `direct` or `agent`.
 */
mode: string, 
/**
 * Direct: the version of its sealed spec.
 */
secret_version?: number, 
/**
 * Agent: the agent's name and id, and whether it is connected now.
 */
agent?: string, agent_id?: string, online?: boolean, 
/**
 * What discovery found, by kind.
 */
tables: number | null, buckets: number | null, operations: number | null, topics: number | null, discovered_at: string | null, created_at?: string, updated_at: string, };

export type ConnectionList = { connections: Array<ConnectionSummary>, };

export type ConnectionDetail = { schema: Schema | null, name: string, 
/**
 * `postgresql`, `mysql`, `sqlite`, `sqlserver`, `s3`, `rest` or `kafka`.
 */
type: string, 
/**
 * `direct` or `agent`.
 */
mode: string, 
/**
 * Direct: the version of its sealed spec.
 */
secret_version?: number, 
/**
 * Agent: the agent's name and id, and whether it is connected now.
 */
agent?: string, agent_id?: string, online?: boolean, 
/**
 * What discovery found, by kind.
 */
tables: number | null, buckets: number | null, operations: number | null, topics: number | null, discovered_at: string | null, created_at?: string, updated_at: string, };

export type SealedConnection = { name: string, type: string, secret_id: string, sealed: SealedSecret, 
/**
 * Accept a login that can do more than read.
 */
allow_privileged?: boolean, };

export type Tested = { test: TestReport, };

export type ToolPlan = { 
/**
 * `named` (one tool per operation) or `generic` (search, describe, call).
 */
mode: string, count: number, 
/**
 * Their size in tools/list.
 */
bytes: number, };

export type Found = { tables: number, buckets: number, 
/**
 * Kafka only.
 */
topics: number | null, 
/**
 * REST only.
 */
operations: number | null, 
/**
 * REST only.
 */
tools: ToolPlan | null, };

export type Saved = { name: string, test: TestReport, 
/**
 * `PUT`: the spec's new version.
 */
secret_version?: number, tables: number, buckets: number, 
/**
 * Kafka only.
 */
topics: number | null, 
/**
 * REST only.
 */
operations: number | null, 
/**
 * REST only.
 */
tools: ToolPlan | null, };

export type SealedSpec = { name: string, type: string, secret_id: string, secret_version: number, sealed: SealedSecret, };

export type ToolParamSummary = { name: string, 
/**
 * The parameter's type (`string`, `integer`, … or `filter`).
 */
type: string, required: boolean, };

export type TableRef = { 
/**
 * Empty where the source needs no schema qualifier.
 */
schema: string, name: string, };

export type ToolSummary = { name: string, description: string, connection: string, params: Array<ToolParamSummary>, 
/**
 * `api`, `file` (the tools directory) or `generated`.
 */
source: string, updated_at: string, 
/**
 * A generated tool's table; null for a named query.
 */
table: TableRef | null, };

export type ToolList = { tools: Array<ToolSummary>, };

export type ToolShown = { definition: JsonValue, source: string, updated_at: string, };

export type Generate = { connection: string, 
/**
 * Qualified or bare table names; empty: every table (up to a cap).
 */
tables?: Array<string>, };

export type Generated = { connection: string, tools: Array<string>, };

export type AuditKey = { 
/**
 * `ed25519:` and 43 base64url characters.
 */
pubkey: string, key_id: string, };

export type RecordPage = { records: Array<AuditRecord>, 
/**
 * The cursor of the next (older) page: pass it as `before`.
 */
next: number | null, };

export type Verification = Intact | Damaged;

export type Intact = { 
/**
 * Always true.
 */
ok: true, records: number, first_seq: number | null, last_seq: number | null, checkpoints: number, head_seq: number, head_hash: string, head_ts: string, 
/**
 * The key the signatures were checked with.
 */
pubkey: string, 
/**
 * Whether that was the key the reader pinned (else only self-consistent).
 */
pinned: boolean, server: AuditKey, duration_ms: number, };

export type Damaged = { 
/**
 * Always false.
 */
ok: false, line: number, 
/**
 * The kind of damage (`hash_mismatch`, `bad_signature`, …).
 */
damage: string, detail: string, server: AuditKey, duration_ms: number, };

export type NewAgent = { name: string, 
/**
 * How long the enrolment token is valid (default one hour).
 */
expires_in_s?: number, };

export type AgentCreated = { agent_id: string, name: string, token: string, expires_at: string, };

export type AgentSummary = { agent_id: string, name: string, 
/**
 * `pending`, `connected`, `offline`, `expired` or `revoked`.
 */
state: string, created_at: string, enrolled_at: string | null, revoked_at: string | null, 
/**
 * Until enrolment.
 */
token_expires_at: string | null, last_seen_at: string | null, version: string | null, address: string | null, connected_at: string | null, in_flight: number | null, 
/**
 * The connections it offers.
 */
connections: Array<string>, };

export type AgentList = { agents: Array<AgentSummary>, };

export type SecretSummary = { name: string, kind: string, version: number, created_at: string, updated_at: string, 
/**
 * The connections that reference it.
 */
used_by: Array<string>, };

export type SecretList = { secrets: Array<SecretSummary>, };

export type ErrorAnswer = { error: string, };

export type ResultColumn = { name: string, 
/**
 * The source's own type name, as its driver reports it.
 */
type: string, };

export type QueryAnswer = { columns: Array<ResultColumn>, rows: Array<Array<JsonValue>>, row_count: number, 
/**
 * The source had more rows (or bytes) than the caps allowed.
 */
truncated: boolean, 
/**
 * When truncated: what was cut and how to ask for less.
 */
note?: string, 
/**
 * When some values had a type this gateway does not map.
 */
hint?: string, };

export type KeyRevoked = { key_id: string, 
/**
 * Always true.
 */
revoked: true, 
/**
 * Set when the key had been revoked before.
 */
note?: string, };

export type Removed = { name: string, 
/**
 * Always true.
 */
removed: true, };

export type Refreshed = { name: string, tables: number, buckets: number, 
/**
 * Kafka only.
 */
topics: number | null, 
/**
 * REST only.
 */
operations: number | null, 
/**
 * REST only.
 */
tools: ToolPlan | null, };

export type ToolSaved = { name: string, 
/**
 * Always true.
 */
saved: true, };

export type AgentRevoked = { agent_id: string, name: string, 
/**
 * Always true.
 */
revoked: true, 
/**
 * It had been revoked before.
 */
already: boolean, };

export type SecretAdded = { name: string, kind: string, version: number, };

export type SecretRotated = { name: string, version: number, 
/**
 * The connections that take the new value from their next call.
 */
connections: Array<string>, };

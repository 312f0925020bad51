//! The chokepoint: every path that touches data — MCP tools, the REST query
//! endpoint, connection test and discovery — runs through [`Gateway::run`].
//! It authorises the call against the caller's workspace, limits
//! concurrency, measures it, and is the single place where a call's record
//! is emitted (the audit chain hooks in here).
//!
//! Tool errors are written for an AI to act on. Driver messages go back to
//! the caller only, never into logs.

use crate::auth::Principal;
use crate::hints::qualified;
use crate::schemas::SchemaCache;
use crate::state::AppState;
use conexor_audit::Draft;
use conexor_connectors::{
    ConnectionSpec, DestinationPolicy, OpenOptions, Schema, Source, TestReport,
};
use conexor_crypto::{Envelope, SealedSecret};
use conexor_store::{AgentConnectionRecord, ConnectionRecord};
use conexor_types::{ConnectionKind, ErrorCode, Limits, SecretId};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Who called, through which surface, with which client.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub principal: Principal,
    /// MCP `clientInfo` name and version, when known.
    pub client: Option<(String, String)>,
    /// The AI model, when the client says.
    pub model: Option<String>,
    /// Cancelled when the caller gives up: an MCP `notifications/cancelled`.
    /// (A caller that drops [`Gateway::call_tool`]'s future cancels it too.)
    pub stop: CancellationToken,
}

impl CallContext {
    /// A call by `principal` with no client or model known.
    pub fn of(principal: Principal) -> CallContext {
        CallContext {
            principal,
            client: None,
            model: None,
            stop: CancellationToken::new(),
        }
    }
}

/// A failed or refused call.
#[derive(Debug, Clone)]
pub struct ToolError {
    /// Text for the caller (may quote the source's own message).
    pub message: String,
    /// Value-free class code for logs and audit: `guard.denied_function`,
    /// `sqlstate:42P01`, …; it alone decides the HTTP status and MCP error.
    pub code: ErrorCode,
    /// True when refused by policy (guard, scope, limits) rather than failed.
    pub denied: bool,
    /// `direct` or `agent` when the call got as far as a source.
    pub mode: Option<&'static str>,
}

impl ToolError {
    pub(crate) fn denied(code: impl Into<ErrorCode>, message: impl Into<String>) -> Self {
        ToolError {
            message: message.into(),
            code: code.into(),
            denied: true,
            mode: None,
        }
    }
    pub(crate) fn failed(code: impl Into<ErrorCode>, message: impl Into<String>) -> Self {
        ToolError {
            message: message.into(),
            code: code.into(),
            denied: false,
            mode: None,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        ToolError::failed("invalid_params", message)
    }
    /// The same error, as met reading a source in `mode` (for the record).
    pub(crate) fn in_mode(mut self, mode: &'static str) -> Self {
        self.mode = Some(mode);
        self
    }

    /// The caller gave up (see [`CallContext::stop`]).
    pub(crate) fn cancelled() -> Self {
        ToolError::from(conexor_connectors::Error::Cancelled)
    }

    /// The call's audit record could not be made durable: no answer.
    pub fn audit() -> Self {
        ToolError::failed(
            "audit.unavailable",
            "the audit log could not record this call, so it was not answered; try again shortly",
        )
    }
}

impl From<conexor_connectors::Error> for ToolError {
    fn from(err: conexor_connectors::Error) -> Self {
        let class = err.class();
        let denied = matches!(
            err,
            conexor_connectors::Error::Destination(_) | conexor_connectors::Error::Refused { .. }
        );
        ToolError {
            message: err.to_string(),
            code: ErrorCode::parse(&class.code),
            denied,
            mode: None,
        }
    }
}

impl From<crate::error::ApiError> for ToolError {
    fn from(err: crate::error::ApiError) -> Self {
        ToolError::failed("internal", err.client_message())
    }
}

/// A sealed connection spec to test (and maybe discover) before it is saved.
#[derive(Clone, Copy)]
pub struct Candidate<'a> {
    pub name: &'a str,
    pub kind: ConnectionKind,
    pub secret_id: &'a SecretId,
    pub sealed: &'a SealedSecret,
    /// Accept a login that can do more than read.
    pub allow_privileged: bool,
}

/// What a successful call measured, for the record.
#[derive(Debug, Default, Clone)]
struct Measure {
    /// The connection used, when the arguments do not name it (named tools).
    connection: Option<String>,
    /// `direct` or `agent` when a source was used.
    mode: Option<&'static str>,
    query_hash: Option<String>,
    rows: Option<u64>,
    bytes: Option<u64>,
}

/// A connection of the caller's workspace: stored sealed (direct mode) or
/// offered by an agent (agent mode, no secret here at all).
pub(crate) enum Conn {
    Direct(Arc<ConnectionRecord>),
    Agent(Arc<AgentConnectionRecord>),
}

impl Conn {
    fn name(&self) -> &str {
        match self {
            Conn::Direct(c) => &c.name,
            Conn::Agent(c) => &c.name,
        }
    }
    fn kind(&self) -> ConnectionKind {
        match self {
            Conn::Direct(c) => c.kind,
            Conn::Agent(c) => c.kind,
        }
    }
    /// The discovered schema, parsed once per stored text ([`SchemaCache`]).
    fn schema(&self, cache: &SchemaCache) -> Option<Arc<Schema>> {
        match self {
            Conn::Direct(c) => cache.get(
                c.workspace_id.as_str(),
                &c.name,
                false,
                c.schema_json.as_deref()?,
            ),
            Conn::Agent(c) => cache.get(
                c.workspace_id.as_str(),
                &c.name,
                true,
                c.schema_json.as_deref()?,
            ),
        }
    }
}

#[derive(Clone)]
pub struct Gateway {
    state: Arc<AppState>,
}

/// How long a call waits for one of its key's concurrency slots.
const PERMIT_WAIT: Duration = Duration::from_secs(10);

/// The generic tools every workspace has.
pub const TOOLS: &[&str] = &[
    "list_connections",
    "search_schema",
    "describe_table",
    "run_query",
];

impl Gateway {
    pub fn new(state: Arc<AppState>) -> Gateway {
        Gateway { state }
    }

    /// Runs one tool call through the chokepoint: the call, then its audit
    /// record, durably, then the answer. No record, no answer.
    ///
    /// The call runs in a task of its own. A caller that gives up — cancels
    /// `ctx.stop`, or drops this future (an HTTP client that disconnects) —
    /// stops the statement at the source, and the call is still recorded, with
    /// outcome `error` and error class `cancelled`.
    pub async fn call_tool(
        &self,
        ctx: &CallContext,
        tool: &str,
        args: Value,
    ) -> Result<Value, ToolError> {
        let stop = ctx.stop.child_token();
        let _cancel_when_dropped = stop.clone().drop_guard();
        let call = CallContext {
            stop,
            ..ctx.clone()
        };
        let gateway = self.clone();
        let tool = tool.to_owned();
        // Boxed: the whole read is a large state machine; spawned by value it
        // would be copied into the task.
        let task = tokio::spawn(Box::pin(async move {
            gateway.call_tool_here(&call, &tool, args).await
        }));
        match task.await {
            Ok(outcome) => outcome,
            Err(_) => Err(ToolError::failed("internal", "the call failed")),
        }
    }

    async fn call_tool_here(
        &self,
        ctx: &CallContext,
        tool: &str,
        args: Value,
    ) -> Result<Value, ToolError> {
        let started = Instant::now();
        let permits = self.state.key_permits(&ctx.principal.key_id);
        // Calls beyond the key's concurrency wait briefly for a slot, then are refused.
        let permit = tokio::select! {
            permit = tokio::time::timeout(PERMIT_WAIT, permits.acquire_owned()) => permit.ok().and_then(Result::ok),
            _ = ctx.stop.cancelled() => None,
        };
        let outcome = match permit {
            Some(_permit) => Box::pin(self.dispatch(ctx, tool, &args)).await,
            None if ctx.stop.is_cancelled() => Err(ToolError::cancelled()),
            None => Err(ToolError::denied(
                "limit.concurrency",
                "too many concurrent calls for this API key; retry shortly",
            )),
        };
        // Built-in tools name their connection in the arguments; a named or
        // generated tool's connection is its own, whatever the caller sent.
        let own = match &outcome {
            _ if TOOLS.contains(&tool) => None,
            Ok((_, m)) if m.connection.is_some() => m.connection.clone(),
            _ => self
                .state
                .store
                .tool(&ctx.principal.workspace_id, tool)
                .await
                .ok()
                .flatten()
                .map(|t| t.connection),
        };
        let connection = match &own {
            Some(c) => Some(c.as_str()),
            None if TOOLS.contains(&tool) => args.get("connection").and_then(Value::as_str),
            None => None,
        };
        self.record(ctx, tool, args.clone(), connection, started, &outcome)
            .await?;
        outcome.map(|(value, _)| value)
    }

    async fn dispatch(
        &self,
        ctx: &CallContext,
        tool: &str,
        args: &Value,
    ) -> Result<(Value, Measure), ToolError> {
        match tool {
            "list_connections" => self.list_connections(ctx).await,
            "search_schema" => self.search_schema(ctx, args).await,
            "describe_table" => self.describe_table(ctx, args).await,
            "run_query" => self.run_query(ctx, args).await,
            other => self.named_tool(ctx, other, args).await,
        }
    }

    /// A named query of the caller's workspace: arguments validated by type
    /// and bound to the placeholders, then the same guarded read as run_query.
    async fn named_tool(
        &self,
        ctx: &CallContext,
        name: &str,
        args: &Value,
    ) -> Result<(Value, Measure), ToolError> {
        let ws = &ctx.principal.workspace_id;
        let Some(record) = self.state.store.tool(ws, name).await.map_err(store_err)? else {
            let mut names: Vec<String> = TOOLS.iter().map(|t| (*t).to_owned()).collect();
            names.extend(
                self.state
                    .store
                    .tools(ws)
                    .await
                    .map_err(store_err)?
                    .into_iter()
                    .map(|t| t.name),
            );
            let near = nearest(&name.to_lowercase(), &names);
            return Err(ToolError::failed(
                "unknown_tool",
                format!(
                    "unknown tool {name:?}{}; available tools: {}",
                    suggest(&near),
                    names.join(", ")
                ),
            ));
        };
        let stored: conexor_tools::Stored = serde_json::from_str(&record.definition)
            .map_err(|_| ToolError::failed("store", "a stored tool definition is damaged"))?;
        let limits = &self.state.config.limits;
        let (connection, sql, params, max_rows) = match stored {
            conexor_tools::Stored::Query(def) => {
                let params = def
                    .bind(args)
                    .map_err(|e| ToolError::failed("param", format!("{}: {e}", def.name)))?;
                (def.connection, def.sql, params, def.max_rows)
            }
            conexor_tools::Stored::Table { table_tool: t } => {
                let kind = self.connection(ctx, &t.connection).await?.kind();
                let (sql, params, limit) = t
                    .build(args, conexor_connectors::dialect_for(kind))
                    .map_err(|e| ToolError::failed("param", format!("{}: {e}", t.name)))?;
                let cap = match (limit, t.max_rows) {
                    (Some(l), Some(m)) => Some(l.min(m)),
                    (l, m) => l.or(m),
                };
                (t.connection, sql, params, cap)
            }
        };
        let max_rows = max_rows
            .unwrap_or(limits.default_rows)
            .clamp(1, limits.max_rows);
        let (value, mut measure) = self.read(ctx, &connection, &sql, params, max_rows).await?;
        measure.connection = Some(connection);
        Ok((value, measure))
    }

    /// The single place a call's audit record is written, and a log line
    /// with the same value-free fields. Fails closed: when the record cannot
    /// be made durable, the caller gets [`ToolError::audit`] instead of its answer.
    async fn record<T>(
        &self,
        ctx: &CallContext,
        tool: &str,
        params: Value,
        connection: Option<&str>,
        started: Instant,
        outcome: &Result<(T, Measure), ToolError>,
    ) -> Result<(), ToolError> {
        let duration_ms = started.elapsed().as_millis() as u64;
        let client = ctx.client.as_ref().map(|(n, v)| format!("{n}/{v}"));
        let mut draft = Draft::new(tool, conexor_audit::Outcome::Ok);
        draft.user = Some(ctx.principal.label.clone());
        draft.key_id = Some(ctx.principal.key_id.to_string());
        draft.client = client.clone();
        draft.model = ctx.model.clone();
        draft.params = params;
        draft.duration_ms = duration_ms;
        match outcome {
            Ok((_, m)) => {
                draft.connection = connection.map(str::to_owned);
                draft.mode = m.mode.map(str::to_owned);
                draft.query_hash = m.query_hash.clone();
                draft.rows = m.rows;
                draft.bytes = m.bytes;
            }
            Err(e) => {
                draft.connection = connection.map(str::to_owned);
                draft.mode = e.mode.map(str::to_owned);
                draft.outcome = if e.denied {
                    conexor_audit::Outcome::Denied
                } else {
                    conexor_audit::Outcome::Error
                };
                draft.error = Some(format!("{}: {}", e.code, e.code.fixed_reason()));
            }
        }
        let outcome_text = draft.outcome.as_str();
        tracing::info!(
            workspace_id = %ctx.principal.workspace_id, key_id = %ctx.principal.key_id,
            client = client.as_deref().unwrap_or(""), tool,
            query_hash = draft.query_hash.as_deref().unwrap_or(""), rows = draft.rows.unwrap_or(0),
            bytes = draft.bytes.unwrap_or(0), duration_ms, outcome = outcome_text,
            error = draft.error.as_deref().unwrap_or(""), "Tool call finished."
        );
        #[cfg(feature = "bench")]
        if self.state.audit_skipped() {
            return Ok(());
        }
        self.state
            .audit
            .append(ctx.principal.workspace_id.as_str(), draft)
            .await
            .map(|_| ())
            .map_err(|_| ToolError::audit())
    }

    async fn list_connections(&self, ctx: &CallContext) -> Result<(Value, Measure), ToolError> {
        let list: Vec<Value> = self
            .all_connections(ctx)
            .await?
            .iter()
            .map(|c| {
                let tables = c
                    .schema(&self.state.schemas)
                    .map(|s| s.tables.len())
                    .unwrap_or(0);
                match c {
                    Conn::Direct(d) => {
                        json!({"name": d.name, "type": d.kind, "mode": d.mode, "tables": tables})
                    }
                    Conn::Agent(a) => json!({
                        "name": a.name, "type": a.kind, "mode": "agent", "tables": tables,
                        "agent": a.agent_name, "online": self.state.agents.is_live(&a.agent_id),
                    }),
                }
            })
            .collect();
        Ok((json!({ "connections": list }), Measure::default()))
    }

    /// Every connection of the caller's workspace, direct and agent, by name.
    async fn all_connections(&self, ctx: &CallContext) -> Result<Vec<Conn>, ToolError> {
        let ws = &ctx.principal.workspace_id;
        let listed = self
            .state
            .store
            .cached_workspace_connections(ws)
            .await
            .map_err(store_err)?;
        let mut all: Vec<Conn> = listed.direct.iter().cloned().map(Conn::Direct).collect();
        all.extend(listed.agent.iter().cloned().map(Conn::Agent));
        all.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(all)
    }

    async fn search_schema(
        &self,
        ctx: &CallContext,
        args: &Value,
    ) -> Result<(Value, Measure), ToolError> {
        let pattern = str_arg(args, "pattern")?.to_lowercase();
        let only = opt_str_arg(args, "connection")?;
        let limit = opt_u64_arg(args, "limit")?.unwrap_or(50).min(500) as usize;
        let records = self.all_connections(ctx).await?;
        if let Some(name) = &only
            && !records.iter().any(|c| c.name() == name)
        {
            return Err(unknown_connection(name, &records));
        }
        let matcher = Pattern::new(&pattern);
        let mut hits = Vec::new();
        let mut total = 0usize;
        for c in records
            .iter()
            .filter(|c| only.as_ref().is_none_or(|n| n == c.name()))
        {
            let Some(schema) = c.schema(&self.state.schemas) else {
                continue;
            };
            for t in &schema.tables {
                let table_hit = matcher.matches(&t.name)
                    || t.comment.as_deref().is_some_and(|d| matcher.matches(d));
                let columns: Vec<&str> = t
                    .columns
                    .iter()
                    .filter(|col| matcher.matches(&col.name))
                    .map(|col| col.name.as_str())
                    .collect();
                if table_hit || !columns.is_empty() {
                    total += 1;
                    if hits.len() < limit {
                        hits.push(json!({
                            "connection": c.name(), "table": qualified(t), "kind": t.kind,
                            "matching_columns": columns, "comment": t.comment,
                        }));
                    }
                }
            }
        }
        let mut answer = json!({ "matches": hits, "total": total });
        if total > limit {
            answer["note"] = json!(format!(
                "showing {limit} of {total}; use a narrower pattern"
            ));
        }
        Ok((answer, Measure::default()))
    }

    async fn describe_table(
        &self,
        ctx: &CallContext,
        args: &Value,
    ) -> Result<(Value, Measure), ToolError> {
        let connection = str_arg(args, "connection")?;
        let table = str_arg(args, "table")?;
        let record = self.connection(ctx, connection).await?;
        let schema = record.schema(&self.state.schemas).ok_or_else(|| {
            ToolError::failed(
                "no_schema",
                "this connection has no discovered schema; run `conexor connections refresh`",
            )
        })?;
        let wanted = table.to_lowercase();
        let found = schema
            .tables
            .iter()
            .find(|t| qualified(t).to_lowercase() == wanted || t.name.to_lowercase() == wanted);
        let Some(t) = found else {
            let names: Vec<String> = schema.tables.iter().map(qualified).collect();
            let near = nearest(&wanted, &names);
            return Err(ToolError::failed(
                "unknown_table",
                format!(
                    "no table {table:?} in connection {connection:?}{}",
                    suggest(&near)
                ),
            ));
        };
        Ok((
            serde_json::to_value(t).unwrap_or(Value::Null),
            Measure::default(),
        ))
    }

    async fn run_query(
        &self,
        ctx: &CallContext,
        args: &Value,
    ) -> Result<(Value, Measure), ToolError> {
        let connection = str_arg(args, "connection")?;
        let sql = str_arg(args, "sql")?;
        let params: Vec<Value> = match args.get("params") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return Err(ToolError::invalid("params must be an array of values")),
        };
        let limits = &self.state.config.limits;
        let max_rows = opt_u64_arg(args, "limit")?
            .unwrap_or(limits.default_rows)
            .clamp(1, limits.max_rows);
        self.read(ctx, connection, sql, params, max_rows).await
    }

    /// One guarded read on a connection of the caller's workspace, direct or
    /// through its agent: the shared path of run_query and named tools.
    async fn read(
        &self,
        ctx: &CallContext,
        connection: &str,
        sql: &str,
        params: Vec<Value>,
        max_rows: u64,
    ) -> Result<(Value, Measure), ToolError> {
        let limits = &self.state.config.limits;
        if sql.len() > limits.max_sql_bytes {
            return Err(ToolError::denied(
                "guard.too_long",
                format!(
                    "the SQL text is {} bytes; the limit is {}",
                    sql.len(),
                    limits.max_sql_bytes
                ),
            ));
        }
        let record = self.connection(ctx, connection).await?;
        let kind = record.kind();
        // Each read holds at most `read_cost` bytes (no source sends a row over the
        // byte cap); the process holds at most `memory_budget` of them at once.
        let _memory =
            tokio::time::timeout(PERMIT_WAIT, self.state.read_budget.clone().acquire_owned())
                .await
                .ok()
                .and_then(Result::ok)
                .ok_or_else(|| {
                    ToolError::denied(
                        "limit.memory",
                        "the server is at its memory budget for results in flight; retry shortly",
                    )
                })?;
        let dialect = conexor_connectors::dialect_for(kind);
        let refused = |r: conexor_guard::Rejection| {
            ToolError::denied(r.rule.code(), format!("query refused: {}", r.reason))
        };
        // The guard first runs with no user function allowed (no key derivation for a
        // query refused anyway). A call of a user-defined function is decided by the
        // connection's own allow-list: for a direct connection it lives in the sealed
        // spec, so the source is opened and the query checked again under it; for an
        // agent connection the agent decides, under its agent.toml, and the server
        // forwards the text it could not judge (the agent checks every query anyway).
        let mut direct_source = None;
        let checked = match conexor_guard::check_with_policy_async(
            dialect,
            sql,
            Some(params.len()),
            &conexor_guard::FunctionPolicy::default(),
        )
        .await
        {
            Ok(checked) => Some(checked),
            Err(r) if r.rule == conexor_guard::Rule::UnknownFunction => match &record {
                Conn::Direct(direct) => {
                    let source = self.source(ctx, direct, kind).await?;
                    let checked = conexor_guard::check_with_policy_async(
                        dialect,
                        sql,
                        Some(params.len()),
                        source.policy(),
                    )
                    .await
                    .map_err(refused)?;
                    direct_source = Some(source);
                    Some(checked)
                }
                Conn::Agent(_) => None,
            },
            Err(r) => return Err(refused(r)),
        };
        let read_limits = Limits {
            max_rows,
            max_bytes: limits.max_bytes,
            timeout_ms: limits.statement_timeout.as_millis() as u64,
        };
        let mut measure_hash = match &checked {
            Some(checked) => {
                conexor_connectors::query_hash(&checked.source_sql(max_rows, limits.max_bytes))
            }
            None => conexor_connectors::query_hash(sql),
        };
        // Only a failed call pays for parsing the schema.
        let with_hint = |mut err: ToolError| {
            if !err.denied && err.code.may_concern_names() {
                let hint = checked
                    .as_ref()
                    .zip(record.schema(&self.state.schemas))
                    .and_then(|(q, s)| crate::hints::name_hint(&err.code, q, &s))
                    .unwrap_or_else(|| "check names with describe_table".into());
                err.message = format!("{}; {hint}", err.message);
            }
            err
        };
        let (result, mode) = match &record {
            Conn::Direct(direct) => {
                let Some(checked) = &checked else {
                    return Err(ToolError::failed("internal", "the query was not checked"));
                };
                let source = match direct_source {
                    Some(source) => source,
                    None => self
                        .source(ctx, direct, kind)
                        .await
                        .map_err(|e| e.in_mode("direct"))?,
                };
                let result = source
                    .read(checked, &params, &read_limits, &ctx.stop)
                    .await
                    .map_err(|e| with_hint(ToolError::from(e)).in_mode("direct"))?;
                (result, "direct")
            }
            // The server checked the SQL above; the agent checks it again with
            // its own guard and limits, and runs it on its side.
            // Given up, the request is dropped, which sends the agent a cancel: the
            // agent then stops the statement at its source.
            Conn::Agent(a) => {
                let asked = self.state.agents.query(
                    &a.agent_id,
                    &a.agent_name,
                    &a.name,
                    sql,
                    &params,
                    &read_limits,
                );
                let (result, sent_hash) = tokio::select! {
                    result = asked => result.map_err(|e| with_hint(e).in_mode("agent"))?,
                    _ = ctx.stop.cancelled() => return Err(ToolError::cancelled().in_mode("agent")),
                };
                // The statement the agent sent is under its own caps, which may be
                // tighter than ours: its hash is the one both records carry.
                if let Some(sent) = sent_hash {
                    measure_hash = sent;
                }
                (result, "agent")
            }
        };
        let row_count = result.rows.len() as u64;
        let unmapped = result
            .rows
            .iter()
            .flatten()
            .any(|v| v.get("$unsupported").is_some());
        // The rows are moved into the answer, not copied (`json!` would
        // serialise them into a second tree).
        let mut answer = serde_json::Map::with_capacity(6);
        answer.insert("columns".into(), json!(result.columns));
        answer.insert(
            "rows".into(),
            Value::Array(result.rows.into_iter().map(Value::Array).collect()),
        );
        answer.insert("row_count".into(), json!(row_count));
        answer.insert("truncated".into(), Value::Bool(result.truncated));
        if result.truncated {
            answer.insert("note".into(), json!(format!(
                "result truncated at {row_count} rows (limit {max_rows}, {} bytes max); add WHERE filters, aggregate, or select fewer columns",
                limits.max_bytes
            )));
        }
        if unmapped {
            answer.insert("hint".into(), json!(
                "some values have a type this gateway does not map; cast them to text in the SQL"
            ));
        }
        let answer = Value::Object(answer);
        Ok((
            answer,
            Measure {
                mode: Some(mode),
                query_hash: Some(measure_hash),
                rows: Some(row_count),
                bytes: Some(result.bytes),
                ..Default::default()
            },
        ))
    }

    /// Looks up a connection of the caller's workspace (direct or agent).
    async fn connection(&self, ctx: &CallContext, name: &str) -> Result<Conn, ToolError> {
        let ws = &ctx.principal.workspace_id;
        if let Some(c) = self
            .state
            .store
            .cached_connection(ws, name)
            .await
            .map_err(store_err)?
        {
            return Ok(Conn::Direct(c));
        }
        if let Some(c) = self
            .state
            .store
            .cached_agent_connection(ws, name)
            .await
            .map_err(store_err)?
        {
            return Ok(Conn::Agent(c));
        }
        Err(unknown_connection(name, &self.all_connections(ctx).await?))
    }

    /// The open pool for a stored connection, opening it with the caller's key if needed.
    async fn source(
        &self,
        ctx: &CallContext,
        record: &ConnectionRecord,
        kind: ConnectionKind,
    ) -> Result<Source, ToolError> {
        let ws = &ctx.principal.workspace_id;
        if let Some(source) = self
            .state
            .pools
            .get(ws, &record.name, record.secret_version)
            .await
        {
            return Ok(source);
        }
        // Concurrent first callers wait for the first one's pool.
        let _turn = self
            .state
            .pools
            .opening(ws, &record.name, record.secret_version)
            .await;
        if let Some(source) = self
            .state
            .pools
            .get(ws, &record.name, record.secret_version)
            .await
        {
            return Ok(source);
        }
        let sealed = SealedSecret {
            value: parse_envelope(&record.sealed_value)?,
            dek: parse_envelope(&record.sealed_dek)?,
        };
        let spec = self.open_spec(ctx, &record.secret_id, &sealed).await?;
        let source = self.open_source(kind, &spec).await?;
        self.state
            .pools
            .put(ws, &record.name, record.secret_version, source.clone())
            .await;
        Ok(source)
    }

    /// Opens a sealed spec in memory with the caller's key.
    pub(crate) async fn open_spec(
        &self,
        ctx: &CallContext,
        secret_id: &SecretId,
        sealed: &SealedSecret,
    ) -> Result<ConnectionSpec, ToolError> {
        let wmk = self.state.keys.unlock(&self.state, &ctx.principal).await?;
        let plain = conexor_crypto::open_secret(&wmk, &ctx.principal.workspace_id, secret_id, sealed)
            .map_err(|_| ToolError::failed("crypto.open", "the connection's secret does not open with this key (wrong workspace, damaged, or rotated)"))?;
        serde_json::from_slice(&plain).map_err(|_| {
            ToolError::failed(
                "spec",
                "the connection's secret is not a valid connection spec",
            )
        })
    }

    async fn open_source(
        &self,
        kind: ConnectionKind,
        spec: &ConnectionSpec,
    ) -> Result<Source, ToolError> {
        let config = &self.state.config;
        let policy = DestinationPolicy {
            deny_loopback: config.deny_loopback,
            deny_private: config.deny_private,
            sqlite_dirs: config.sqlite_dirs.clone(),
            own_paths: vec![config.data_dir.clone()],
        };
        conexor_connectors::check_destination(kind, spec, &policy).await?;
        let options = OpenOptions {
            statement_timeout: config.limits.statement_timeout,
            connect_timeout: Duration::from_secs(10),
            max_connections: config.limits.per_connection_concurrency,
            idle_timeout: config.key_cache_ttl,
        };
        Ok(Source::open(kind, spec, &options).await?)
    }

    /// Tests a sealed spec (not stored) and optionally discovers its schema.
    /// Runs through the chokepoint like any tool call.
    pub async fn test_connection(
        &self,
        ctx: &CallContext,
        candidate: &Candidate<'_>,
        discover: bool,
    ) -> Result<(TestReport, Option<Schema>), ToolError> {
        let Candidate {
            name,
            kind,
            secret_id,
            sealed,
            allow_privileged,
        } = *candidate;
        let started = Instant::now();
        let outcome = async {
            let spec = self.open_spec(ctx, secret_id, sealed).await?;
            let source = self.open_source(kind, &spec).await?;
            let result = async {
                let report = source.test().await?;
                if !report.privileges.is_empty() && !allow_privileged {
                    return Err(ToolError::denied(
                        "privileged_login",
                        format!(
                            "this login can do more than read: {}. Use a read-only login, or pass --allow-privileged to accept it.\nA read-only login:\n{}",
                            report.privileges.join("; "),
                            report.read_only_grants
                        ),
                    ));
                }
                let schema = if discover { Some(source.discover().await?) } else { None };
                Ok((report, schema))
            }
            .await;
            source.close().await;
            let (report, schema) = result?;
            let tables = schema.as_ref().map(|s| s.tables.len() as u64);
            Ok(((report, schema), Measure { mode: Some("direct"), rows: tables, ..Default::default() }))
        }
        .await;
        let tool = if discover {
            "admin.connection_discover"
        } else {
            "admin.connection_test"
        };
        let params = json!({"name": name, "type": kind.as_str()});
        self.record(ctx, tool, params, Some(name), started, &outcome)
            .await?;
        outcome.map(|(v, _)| v)
    }

    /// Rediscovers a stored connection's schema.
    pub async fn refresh(&self, ctx: &CallContext, name: &str) -> Result<Schema, ToolError> {
        let started = Instant::now();
        let outcome = async {
            let record = self.connection(ctx, name).await?;
            let (schema, mode) = match &record {
                Conn::Direct(direct) => {
                    let source = self.source(ctx, direct, direct.kind).await?;
                    let schema = source.discover().await?;
                    let json = serde_json::to_string(&schema)
                        .map_err(|e| ToolError::failed("internal", e.to_string()))?;
                    self.state
                        .store
                        .set_schema(&ctx.principal.workspace_id, name, &json)
                        .await
                        .map_err(store_err)?;
                    (schema, "direct")
                }
                // The agent discovers on its side; the hub stores what it sends.
                Conn::Agent(a) => {
                    let value = self
                        .state
                        .agents
                        .discover(&a.agent_id, &a.agent_name, &a.name)
                        .await?;
                    let schema: Schema = serde_json::from_value(value).map_err(|_| {
                        ToolError::failed("agent.bad_schema", "the agent sent an unusable schema")
                    })?;
                    (schema, "agent")
                }
            };
            let tables = schema.tables.len() as u64;
            Ok((
                schema,
                Measure {
                    mode: Some(mode),
                    rows: Some(tables),
                    ..Default::default()
                },
            ))
        }
        .await;
        let params = json!({"name": name});
        self.record(
            ctx,
            "admin.connection_refresh",
            params,
            Some(name),
            started,
            &outcome,
        )
        .await?;
        outcome.map(|(s, _)| s)
    }
}

fn store_err(err: conexor_store::Error) -> ToolError {
    tracing::error!(error = %err, "Store failed.");
    ToolError::failed("store", "the server's store failed; try again")
}

fn parse_envelope(text: &str) -> Result<Envelope, ToolError> {
    serde_json::from_str(text)
        .map_err(|_| ToolError::failed("store", "a stored envelope is damaged"))
}

pub(crate) fn parse_schema(record: &ConnectionRecord) -> Option<Schema> {
    serde_json::from_str(record.schema_json.as_deref()?).ok()
}

fn unknown_connection(name: &str, all: &[Conn]) -> ToolError {
    let names: Vec<String> = all.iter().map(|c| c.name().to_owned()).collect();
    let near = nearest(&name.to_lowercase(), &names);
    let listing = if names.is_empty() {
        " (this workspace has none)".to_string()
    } else {
        suggest(&near)
    };
    ToolError::failed(
        "unknown_connection",
        format!("no connection named {name:?}{listing}; call list_connections"),
    )
}

fn suggest(near: &[String]) -> String {
    if near.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", near.join(", "))
    }
}

pub(crate) use conexor_tools::nearest;

/// A case-insensitive pattern: `%` and `*` match any run, `_` and `?` one
/// character; without wildcards it matches as a substring.
struct Pattern {
    parts: Vec<char>,
    anchored: bool,
}

impl Pattern {
    fn new(text: &str) -> Pattern {
        let anchored = text.contains(['%', '*', '_', '?']);
        Pattern {
            parts: text.chars().collect(),
            anchored,
        }
    }

    fn matches(&self, candidate: &str) -> bool {
        let candidate = candidate.to_lowercase();
        if !self.anchored {
            return candidate.contains(&self.parts.iter().collect::<String>());
        }
        let c: Vec<char> = candidate.chars().collect();
        glob(&self.parts, &c)
    }
}

fn glob(p: &[char], s: &[char]) -> bool {
    // Iterative wildcard match with backtracking on the last star.
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && (p[pi] == '%' || p[pi] == '*') {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && (p[pi] == '%' || p[pi] == '*') {
        pi += 1;
    }
    pi == p.len()
}

fn str_arg<'a>(args: &'a Value, name: &str) -> Result<&'a str, ToolError> {
    match args.get(name) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(ToolError::invalid(format!(
            "missing required argument {name:?}"
        ))),
        Some(_) => Err(ToolError::invalid(format!(
            "argument {name:?} must be a string"
        ))),
    }
}

fn opt_str_arg(args: &Value, name: &str) -> Result<Option<String>, ToolError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ToolError::invalid(format!(
            "argument {name:?} must be a string"
        ))),
    }
}

fn opt_u64_arg(args: &Value, name: &str) -> Result<Option<u64>, ToolError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            ToolError::invalid(format!("argument {name:?} must be a positive integer"))
        }),
    }
}

/// Schema as MCP resources: `conexor://connection/NAME` (the connection and
/// its tables) and `conexor://connection/NAME/table/TABLE` (one table, as
/// describe_table returns it). Names are percent-encoded.
const RESOURCE_PREFIX: &str = "conexor://connection/";

fn encode(part: &str) -> String {
    percent_encoding::utf8_percent_encode(part, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl Gateway {
    /// Every resource of the caller's workspace: (uri, name, description).
    pub async fn resources(
        &self,
        ctx: &CallContext,
    ) -> Result<Vec<(String, String, Option<String>)>, ToolError> {
        let mut out = Vec::new();
        for c in self.all_connections(ctx).await? {
            let base = format!("{RESOURCE_PREFIX}{}", encode(c.name()));
            let schema = c.schema(&self.state.schemas);
            let tables = schema.as_ref().map(|s| s.tables.len()).unwrap_or(0);
            out.push((
                base.clone(),
                c.name().to_owned(),
                Some(format!("{} connection with {tables} tables", c.kind())),
            ));
            for t in schema.iter().flat_map(|s| s.tables.iter()) {
                let q = qualified(t);
                out.push((
                    format!("{base}/table/{}", encode(&q)),
                    format!("{}.{q}", c.name()),
                    t.comment.clone(),
                ));
            }
        }
        Ok(out)
    }

    /// Reads one resource, through the chokepoint (recorded as `resources/read`).
    pub async fn read_resource(&self, ctx: &CallContext, uri: &str) -> Result<Value, ToolError> {
        let started = Instant::now();
        let parsed = uri.strip_prefix(RESOURCE_PREFIX).map(|rest| {
            let mut parts = rest.splitn(3, '/');
            let decode = |p: &str| {
                percent_encoding::percent_decode_str(p)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let conn = parts.next().map(decode).unwrap_or_default();
            let table = match (parts.next(), parts.next()) {
                (Some("table"), Some(t)) => Some(decode(t)),
                _ => None,
            };
            (conn, table)
        });
        let connection = parsed.as_ref().map(|(c, _)| c.clone());
        let outcome = async {
            let Some((conn, table)) = parsed else {
                return Err(ToolError::failed("unknown_resource", format!("resource URIs start with {RESOURCE_PREFIX}")));
            };
            match table {
                Some(t) => self.describe_table(ctx, &json!({"connection": conn, "table": t})).await,
                None => {
                    let c = self.connection(ctx, &conn).await?;
                    let tables: Vec<Value> = c
                        .schema(&self.state.schemas)
                        .map(|s| s.tables.clone())
                        .unwrap_or_default()
                        .iter()
                        .map(|t| json!({"table": qualified(t), "kind": t.kind, "comment": t.comment, "rows": t.row_estimate}))
                        .collect();
                    Ok((json!({"connection": c.name(), "type": c.kind(), "tables": tables}), Measure::default()))
                }
            }
        }
        .await;
        self.record(
            ctx,
            "resources/read",
            json!({"uri": uri}),
            connection.as_deref(),
            started,
            &outcome,
        )
        .await?;
        outcome.map(|(v, _)| v)
    }

    /// Records an admin action (keys, connections) in the same chain. The
    /// action has happened when this is called; a failure to record it is
    /// returned so the caller answers with an error rather than success.
    pub async fn record_admin(
        &self,
        principal: &Principal,
        tool: &str,
        params: Value,
        connection: Option<&str>,
        failure: Option<&ToolError>,
    ) -> Result<(), ToolError> {
        let ctx = CallContext::of(principal.clone());
        let outcome: Result<((), Measure), ToolError> = match failure {
            None => Ok(((), Measure::default())),
            Some(e) => Err(e.clone()),
        };
        self.record(&ctx, tool, params, connection, Instant::now(), &outcome)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(Pattern::new("order").matches("order_items"));
        assert!(Pattern::new("ord%").matches("orders"));
        assert!(!Pattern::new("ord%").matches("reorders"));
        assert!(Pattern::new("%_id").matches("customer_id"));
        assert!(Pattern::new("*mail*").matches("Email"));
    }

    #[test]
    fn nearest_names() {
        let names = vec![
            "customers".to_string(),
            "orders".to_string(),
            "order_items".to_string(),
        ];
        assert_eq!(nearest("custmers", &names), vec!["customers".to_string()]);
        assert!(nearest("zzzzzzzz", &names).is_empty());
    }
}

//! The chokepoint: every path that touches data — MCP tools, the REST query
//! endpoint, connection test and discovery — runs through
//! [`Gateway::call_tool`]. It authorises the call against the caller's
//! workspace, limits concurrency, measures it, and is the single place where
//! a call's record is emitted (the audit chain hooks in here).
//!
//! This file holds the call's path and its record; each job has its own
//! file: `connections` (lookup, opening a direct source, test and
//! rediscovery), `sql` (`run_query`, named tools, the guarded read),
//! `schema_tools` (`list_connections`, `search_schema`, `describe_table`),
//! `resources` (MCP resources) and `args` (reading a call's arguments).
//!
//! Tool errors are written for an AI to act on. Driver messages go back to
//! the caller only, never into logs.

use crate::auth::Principal;
use crate::hints::qualified;
use crate::schemas::SchemaCache;
use conexor_audit::Draft;
use conexor_connectors::{DestinationPolicy, OpenOptions, Schema, Source, SourceSpec, TestReport};
use conexor_crypto::{Envelope, SealedSecret};
use conexor_store::{AgentConnectionRecord, ConnectionRecord};
use conexor_types::{ConnectionKind, ErrorCode, Limits, SecretId};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

mod args;
mod connections;
mod objects;
mod operations;
mod resources;
mod schema_tools;
mod sql;
mod topics;

use args::*;
pub(crate) use connections::Conn;
pub use objects::OBJECT_TOOLS;
pub use operations::API_TOOLS;
pub use topics::TOPIC_TOOLS;

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

/// What the gateway is built from, once, at start: its explicit
/// dependencies (`AppState::start`).
pub struct GatewayParts {
    pub config: Arc<crate::config::Config>,
    pub store: conexor_store::Store,
    pub keys: Arc<crate::auth::KeyCache>,
    pub pools: Arc<crate::pools::PoolCache>,
    pub audit: Arc<crate::audit::AuditLog>,
    pub agents: Arc<crate::agents::AgentHub>,
    pub schemas: Arc<crate::schemas::SchemaCache>,
    /// Reads in flight within the memory budget (`LimitsConfig::reads_in_flight`).
    pub read_budget: Arc<tokio::sync::Semaphore>,
    pub key_permits: crate::state::KeyPermits,
}

/// The chokepoint; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Gateway {
    parts: Arc<GatewayParts>,
    /// Benchmarks only: answer calls without an audit record.
    #[cfg(feature = "bench")]
    audit_skipped: Arc<std::sync::atomic::AtomicBool>,
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

/// A tool every workspace may call that names its connection in its arguments.
fn is_builtin(tool: &str) -> bool {
    TOOLS.contains(&tool)
        || OBJECT_TOOLS.contains(&tool)
        || API_TOOLS.contains(&tool)
        || TOPIC_TOOLS.contains(&tool)
}

impl Gateway {
    pub fn new(parts: GatewayParts) -> Gateway {
        Gateway {
            parts: Arc::new(parts),
            #[cfg(feature = "bench")]
            audit_skipped: Arc::default(),
        }
    }

    /// Benchmarks only (the `bench` feature): from now on calls are
    /// answered without an audit record, to measure what the audit costs.
    #[cfg(feature = "bench")]
    pub fn skip_audit_for_benchmark(&self) {
        self.audit_skipped
            .store(true, std::sync::atomic::Ordering::Relaxed);
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
        // A REST operation's own tool, looked up once: it decides the
        // dispatch, the connection on the record (failed calls too), and that
        // the argument values stay out of the record.
        let target = if is_builtin(tool) {
            Ok(None)
        } else {
            self.api_target(ctx, tool).await
        };
        let api_connection = match &target {
            Ok(Some(t)) => Some(t.connection.clone()),
            _ => None,
        };
        let permits = self.parts.key_permits.of(&ctx.principal.key_id);
        // Calls beyond the key's concurrency wait briefly for a slot, then are refused.
        let permit = tokio::select! {
            permit = tokio::time::timeout(PERMIT_WAIT, permits.acquire_owned()) => permit.ok().and_then(Result::ok),
            _ = ctx.stop.cancelled() => None,
        };
        let outcome = match permit {
            Some(_permit) => Box::pin(self.dispatch(ctx, tool, &args, target)).await,
            None if ctx.stop.is_cancelled() => Err(ToolError::cancelled()),
            None => Err(ToolError::denied(
                "limit.concurrency",
                "too many concurrent calls for this API key; retry shortly",
            )),
        };
        // Built-in tools name their connection in the arguments; a named or
        // generated tool's connection is its own, whatever the caller sent.
        let own = match &outcome {
            _ if is_builtin(tool) => None,
            _ if api_connection.is_some() => api_connection.clone(),
            Ok((_, m)) if m.connection.is_some() => m.connection.clone(),
            _ => self
                .parts
                .store
                .tool(&ctx.principal.workspace_id, tool)
                .await
                .ok()
                .flatten()
                .map(|t| t.connection),
        };
        let connection = match &own {
            Some(c) => Some(c.as_str()),
            None if is_builtin(tool) => args.get("connection").and_then(Value::as_str),
            None => None,
        };
        // A REST call's argument values enter only its query_hash.
        let params = if tool == "call_operation" {
            json!({
                "connection": args.get("connection"),
                "operation": args.get("operation"),
                "arguments": operations::recorded_arguments(
                    args.get("arguments").and_then(Value::as_object).unwrap_or(&Default::default())
                ),
            })
        } else if api_connection.is_some() {
            json!({"arguments": operations::recorded_arguments(args.as_object().unwrap_or(&Default::default()))})
        } else {
            args.clone()
        };
        self.record(ctx, tool, params, connection, started, &outcome)
            .await?;
        outcome.map(|(value, _)| value)
    }

    /// One read's share of the memory budget: each read holds at most
    /// `read_cost` bytes (no source sends a row over the byte cap, an object
    /// read is capped the same way), and the process at most `memory_budget`
    /// of them at once.
    async fn memory_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ToolError> {
        tokio::time::timeout(PERMIT_WAIT, self.parts.read_budget.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| {
                ToolError::denied(
                    "limit.memory",
                    "the server is at its memory budget for results in flight; retry shortly",
                )
            })
    }

    /// The server's caps for a read that answers one JSON value (an object
    /// read, a Kafka peek, a REST call), its bytes at most `cap`.
    fn value_caps(&self, cap: u64) -> Limits {
        let limits = &self.parts.config.limits;
        Limits {
            max_rows: limits.max_rows,
            max_bytes: limits.max_bytes.min(cap),
            timeout_ms: limits.statement_timeout.as_millis() as u64,
        }
    }

    /// Asks an agent for a read that answers one JSON value, under `caps`.
    /// A cancelled call gives up at once (dropping the request sends the
    /// agent a cancel). Answers the value, its rows, and the hash of the
    /// read the agent sent, which may be under tighter caps of its own.
    async fn agent_value(
        &self,
        ctx: &CallContext,
        agent: &AgentConnectionRecord,
        read: crate::agents::ValueRead,
        caps: &Limits,
    ) -> Result<(Value, Option<u64>, Option<String>), ToolError> {
        // Base64 and JSON escaping at most double the bytes read.
        let max_answer = caps.max_bytes.saturating_mul(2) + 64 * 1024;
        let asked = self.parts.agents.read_value(
            &agent.agent_id,
            &agent.agent_name,
            &agent.name,
            read,
            caps,
            max_answer,
        );
        tokio::select! {
            answer = asked => answer.map_err(|e| e.in_mode("agent")),
            _ = ctx.stop.cancelled() => Err(ToolError::cancelled().in_mode("agent")),
        }
    }

    async fn dispatch(
        &self,
        ctx: &CallContext,
        tool: &str,
        args: &Value,
        api: Result<Option<operations::Target>, ToolError>,
    ) -> Result<(Value, Measure), ToolError> {
        match tool {
            "list_connections" => self.list_connections(ctx).await,
            "search_schema" => self.search_schema(ctx, args).await,
            "describe_table" => self.describe_table(ctx, args).await,
            "run_query" => self.run_query(ctx, args).await,
            t if OBJECT_TOOLS.contains(&t) => self.object_tool(ctx, t, args).await,
            t if API_TOOLS.contains(&t) => self.api_tool(ctx, t, args).await,
            t if TOPIC_TOOLS.contains(&t) => self.topic_tool(ctx, t, args).await,
            other => match api? {
                Some(target) => {
                    let arguments = args.as_object().cloned().unwrap_or_default();
                    self.call_api(ctx, target, &arguments).await
                }
                None => self.named_tool(ctx, other, args).await,
            },
        }
    }

    /// The record of an event no caller waits on (an agent connecting or
    /// refused, a tools file reloaded), built here like every other record:
    /// `actor` is its `user`, `refused` its denial code. Err when it could not
    /// be made durable (the caller decides whether to go on).
    pub(crate) async fn record_event(
        &self,
        workspace: &conexor_types::WorkspaceId,
        actor: String,
        tool: &str,
        params: Value,
        mode: Option<conexor_types::Mode>,
        refused: Option<&ErrorCode>,
    ) -> Result<(), ()> {
        let mut draft = Draft::new(
            tool,
            if refused.is_some() {
                conexor_audit::Outcome::Denied
            } else {
                conexor_audit::Outcome::Ok
            },
        );
        draft.user = Some(actor);
        draft.params = params;
        draft.mode = mode.map(|m| m.as_str().to_owned());
        if let Some(code) = refused {
            draft.error = Some(format!("{code}: {}", code.fixed_reason()));
        }
        self.parts
            .audit
            .append(workspace.as_str(), draft)
            .await
            .map(drop)
            .map_err(drop)
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
        if self
            .audit_skipped
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Ok(());
        }
        self.parts
            .audit
            .append(ctx.principal.workspace_id.as_str(), draft)
            .await
            .map(|_| ())
            .map_err(|_| ToolError::audit())
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

/// A JSON answer (an object read, a Kafka peek) and its measure for the
/// audit record: the rows it holds, its size, the hash of the read.
fn value_measured(
    value: Value,
    rows: Option<u64>,
    query_hash: String,
    mode: &'static str,
) -> (Value, Measure) {
    let bytes = conexor_connectors::json_len(&value);
    (
        value,
        Measure {
            connection: None,
            mode: Some(mode),
            query_hash: Some(query_hash),
            rows,
            bytes: Some(bytes),
        },
    )
}

pub(crate) use conexor_tools::nearest;

impl Gateway {
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

    /// Every audit record of the server is built in this folder (the
    /// chokepoint): no other file of the crate makes a `Draft`.
    #[test]
    fn audit_records_are_built_only_at_the_chokepoint() {
        fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("src is readable").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.starts_with(concat!(env!("CARGO_MANIFEST_DIR"), "/src/gateway"))
                    && std::fs::read_to_string(&path)
                        .unwrap_or_default()
                        .contains(concat!("Draft", "::new("))
                {
                    found.push(path.display().to_string());
                }
            }
        }
        let mut found = Vec::new();
        walk(
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
            &mut found,
        );
        assert!(
            found.is_empty(),
            "audit drafts built outside the gateway: {found:?}"
        );
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

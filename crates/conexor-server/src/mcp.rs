//! The MCP surface: the generic tools over Streamable HTTP at `/mcp`.
//!
//! Every HTTP request is authenticated by middleware before rmcp sees it; the
//! handler reads the [`Principal`] from the request parts rmcp passes along.
//! A tool call is handed to the [`Gateway`] as-is, so MCP adds no path to
//! data of its own.

use crate::auth::Principal;
use crate::gateway::CallContext;
use crate::state::AppState;
use conexor_types::McpKind;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct McpHandler {
    state: Arc<AppState>,
}

impl McpHandler {
    pub fn new(state: Arc<AppState>) -> McpHandler {
        McpHandler { state }
    }
}

const INSTRUCTIONS: &str = "Conexor gives read-only access to this workspace's databases. \
Start with list_connections, find tables with search_schema, read a table's columns and keys with \
describe_table, then run one SELECT with run_query (bind values with params; results are capped and \
say when truncated). Writes, DDL and multiple statements are refused. Object storage connections \
(type s3) are read with list_objects, object_info, read_object and preview_object; REST APIs (type rest) \
with their operations' own tools, or search_operations, describe_operation and call_operation; Kafka \
(type kafka) with list_topics and peek_messages.";

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

/// Read-only. (The destructive and idempotent hints mean nothing for a
/// read-only tool, and the open-world hint is optional: they are not sent, so
/// tools/list stays small. Unknown arguments are ignored rather than declared
/// forbidden in each schema, for the same reason.)
fn read_only() -> ToolAnnotations {
    ToolAnnotations::new().read_only(true)
}

/// Most items in one page of tools/list or resources/list; the rest follow with
/// the protocol's cursor (a schema of 1,000 tables no longer answers in one
/// 220 KB message).
pub const PAGE_SIZE: usize = 100;

/// One page of `items` from the request's cursor, and the cursor of the next page.
/// Cursors are opaque to clients: `p1.<offset>`; anything else is refused.
fn page<T>(
    items: Vec<T>,
    request: Option<&PaginatedRequestParams>,
) -> Result<(Vec<T>, Option<String>), McpError> {
    let start = match request.and_then(|r| r.cursor.as_deref()) {
        None => 0,
        Some(cursor) => cursor
            .strip_prefix("p1.")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| {
                McpError::invalid_params(
                    "invalid cursor: pass back the nextCursor of the previous page",
                    None,
                )
            })?,
    };
    let end = start.saturating_add(PAGE_SIZE).min(items.len());
    let next = (end < items.len()).then(|| format!("p1.{end}"));
    let page = items.into_iter().skip(start).take(end - start).collect();
    Ok((page, next))
}

/// The generic tools, with their input schemas. Their text is kept short: it is
/// sent to the model with every conversation, and every byte costs context.
pub fn generic_tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "list_connections",
            "List data sources: name, type, mode, table count.",
            schema(json!({"type": "object", "properties": {}})),
        )
        .annotate(read_only()),
        Tool::new(
            "search_schema",
            "Find tables and columns by name or comment (case-insensitive; % or * match whole names).",
            schema(json!({
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "description": "e.g. order or cust%"},
                    "connection": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 500}
                },
                "required": ["pattern"]
            })),
        )
        .annotate(read_only()),
        Tool::new(
            "describe_table",
            "Columns, keys, comment and row estimate of a table or view.",
            schema(json!({
                "type": "object",
                "properties": {
                    "connection": {"type": "string"},
                    "table": {"type": "string", "description": "name or schema.name"}
                },
                "required": ["connection", "table"]
            })),
        )
        .annotate(read_only()),
        Tool::new(
            "run_query",
            "Run one read-only query (SELECT, WITH, VALUES, EXPLAIN) in the connection's SQL dialect. \
             Placeholders: $1 on PostgreSQL, @P1 on SQL Server, ? on MySQL/SQLite; values in params. \
             Big numbers come as strings, bytes as {\"$b64\":…}.",
            schema(json!({
                "type": "object",
                "properties": {
                    "connection": {"type": "string"},
                    "sql": {"type": "string"},
                    "params": {"type": "array"},
                    "limit": {"type": "integer", "minimum": 1, "description": "rows, default 200"}
                },
                "required": ["connection", "sql"]
            })),
        )
        .annotate(read_only()),
    ]
}

/// The object storage tools, listed only when the workspace has an object
/// store (a database-only workspace's tools/list does not grow).
pub fn object_tools() -> Vec<Tool> {
    let object = |extra: Value, required: &[&str]| {
        let mut properties = json!({
            "connection": {"type": "string"},
            "bucket": {"type": "string"},
            "key": {"type": "string"}
        });
        if let (Some(p), Value::Object(more)) = (properties.as_object_mut(), extra) {
            p.extend(more);
        }
        schema(json!({"type": "object", "properties": properties, "required": required}))
    };
    vec![
        Tool::new(
            "list_objects",
            "List object keys of a bucket (size, modified, ETag); delimiter \"/\" groups keys into folders; pass next_cursor back for more.",
            schema(json!({
                "type": "object",
                "properties": {
                    "connection": {"type": "string"},
                    "bucket": {"type": "string"},
                    "prefix": {"type": "string"},
                    "delimiter": {"type": "string", "enum": ["/", ""]},
                    "cursor": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "keys, default 100"}
                },
                "required": ["connection", "bucket"]
            })),
        )
        .annotate(read_only()),
        Tool::new(
            "object_info",
            "Size, content type, modified time, ETag and metadata of one object.",
            object(json!({}), &["connection", "bucket", "key"]),
        )
        .annotate(read_only()),
        Tool::new(
            "read_object",
            "Read bytes of an object from offset (capped, says when truncated); encoding text or base64.",
            object(
                json!({
                    "offset": {"type": "integer", "minimum": 0},
                    "length": {"type": "integer", "minimum": 1},
                    "encoding": {"type": "string", "enum": ["text", "base64"]}
                }),
                &["connection", "bucket", "key"],
            ),
        )
        .annotate(read_only()),
        Tool::new(
            "preview_object",
            "First rows and columns of a CSV, TSV, JSON Lines (gzip too) or Parquet object; reads only its head (Parquet: footer and first row groups).",
            object(
                json!({
                    "format": {"type": "string", "enum": ["csv", "tsv", "jsonl", "parquet"]},
                    "rows": {"type": "integer", "minimum": 1, "description": "default 20"}
                }),
                &["connection", "bucket", "key"],
            ),
        )
        .annotate(read_only()),
    ]
}

/// The Kafka tools, listed only when the workspace has a Kafka connection.
pub fn topic_tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "list_topics",
            "Kafka topics with each partition's earliest and latest offset and an approximate message count; pattern filters by name; internal topics hidden unless asked.",
            schema(json!({
                "type": "object",
                "properties": {
                    "connection": {"type": "string"},
                    "pattern": {"type": "string"},
                    "internal": {"type": "boolean"}
                },
                "required": ["connection"]
            })),
        )
        .annotate(read_only()),
        Tool::new(
            "peek_messages",
            "Read messages of a Kafka topic without a consumer group or committing anything: one partition or all, from latest (the last N, default), earliest, an offset or a timestamp (ms). Each message: partition, offset, timestamp, key, headers, value (JSON, text or base64; cut at a cap and said so).",
            schema(json!({
                "type": "object",
                "properties": {
                    "connection": {"type": "string"},
                    "topic": {"type": "string"},
                    "partition": {"type": "integer", "minimum": 0},
                    "from": {"type": "string", "enum": ["latest", "earliest", "offset", "timestamp"]},
                    "offset": {"type": "integer", "minimum": 0},
                    "timestamp": {"type": "integer", "minimum": 0},
                    "limit": {"type": "integer", "minimum": 1, "description": "messages, default 10"},
                    "max_bytes": {"type": "integer", "minimum": 1}
                },
                "required": ["connection", "topic"]
            })),
        )
        .annotate(read_only()),
    ]
}

/// The MCP client's name and version: from initialize for sessions
/// (≤ 2025-11-25), from each request's _meta when stateless (2026-07-28).
fn client_of(ctx: &RequestContext<RoleServer>) -> Option<(String, String)> {
    // The request's own _meta first: in the stateless revision the peer is a
    // stand-in whose clientInfo is rmcp's, not the caller's.
    ctx.meta
        .client_info()
        .or_else(|| ctx.peer.peer_info().map(|info| info.client_info.clone()))
        .map(|info| (info.name, info.version))
}

fn principal(ctx: &RequestContext<RoleServer>) -> Result<Principal, McpError> {
    ctx.extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>())
        .cloned()
        .ok_or_else(|| McpError::invalid_request("request is not authenticated", None))
}

/// The model behind the call, when the client says: `_meta.model` on the
/// request, else an `X-Conexor-Model` header. Bounded and printable only.
fn model(
    ctx: &RequestContext<RoleServer>,
    meta: Option<&rmcp::model::RequestMetaObject>,
) -> Option<String> {
    let header = ctx
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.headers.get("x-conexor-model"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    model_of(meta, header)
}

/// [`model`] from the request's `_meta` and the header's value.
pub(crate) fn model_of(
    meta: Option<&rmcp::model::RequestMetaObject>,
    header: Option<String>,
) -> Option<String> {
    meta.and_then(|m| m.get("model"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(header)
        .map(|m| m.chars().filter(|c| !c.is_control()).take(200).collect())
}

/// A tool call's outcome before it is put in MCP's shape.
pub(crate) enum ToolAnswer {
    /// The answer: sent as its JSON text and, the same JSON, as structured content.
    Answered(Value),
    /// A tool error (`isError: true`) with the message for the AI.
    Failed(String),
}

impl ToolAnswer {
    /// The MCP result: the answer's JSON as text, and again as structured content.
    pub(crate) fn into_result(self) -> CallToolResult {
        match self {
            ToolAnswer::Answered(value) => {
                let text = serde_json::to_string(&value).unwrap_or_default();
                let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
                result.structured_content = Some(value);
                result
            }
            ToolAnswer::Failed(message) => CallToolResult::error(vec![ContentBlock::text(message)]),
        }
    }
}

/// One `tools/call` through the gateway, as the answer or protocol error:
/// shared by the rmcp handler and the stateless path ([`crate::stateless`]).
pub(crate) async fn tool_answer(
    state: Arc<AppState>,
    principal: Principal,
    client: Option<(String, String)>,
    model: Option<String>,
    name: &str,
    arguments: JsonObject,
    stop: CancellationToken,
) -> Result<ToolAnswer, McpError> {
    let call = CallContext {
        principal,
        client,
        model,
        stop,
    };
    let gateway = state.gateway.clone();
    match gateway
        .call_tool(&call, name, Value::Object(arguments))
        .await
    {
        Ok(value) => Ok(ToolAnswer::Answered(value)),
        // An unknown tool is a protocol error (and it was recorded all the same).
        Err(err) if err.code.mcp_kind() == McpKind::InvalidParams => {
            Err(McpError::invalid_params(err.message, None))
        }
        Err(err) => Ok(ToolAnswer::Failed(err.message)),
    }
}

impl ServerHandler for McpHandler {
    #[allow(deprecated)]
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .enable_logging()
                .build(),
        )
        .with_instructions(INSTRUCTIONS);
        info.server_info = Implementation::new("conexor", env!("CARGO_PKG_VERSION"));
        info
    }

    /// Accepted so that clients can choose a level; the server sends no log
    /// notifications today (its logs stay on the operator's side).
    /// Logging is deprecated by SEP-2577, but clients of 2025-11-25 still send it.
    #[allow(deprecated)]
    async fn set_level(
        &self,
        _request: rmcp::model::SetLevelRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        principal(&ctx)?;
        Ok(())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let principal = principal(&ctx)?;
        let mut tools = generic_tools();
        let listed = self
            .state
            .store
            .cached_workspace_connections(&principal.workspace_id)
            .await
            .map_err(|_| McpError::internal_error("the server's store failed", None))?;
        let holds_objects = listed
            .direct
            .iter()
            .map(|c| c.kind)
            .chain(listed.agent.iter().map(|a| a.kind))
            .any(|k| k.family() == conexor_types::Family::Objects);
        if holds_objects {
            tools.extend(object_tools());
        }
        let holds_topics = listed
            .direct
            .iter()
            .map(|c| c.kind)
            .chain(listed.agent.iter().map(|a| a.kind))
            .any(|k| k.family() == conexor_types::Family::Topics);
        if holds_topics {
            tools.extend(topic_tools());
        }
        let api_tools = self
            .state
            .gateway
            .api_tools(&CallContext::of(principal.clone()))
            .await
            .map_err(|_| McpError::internal_error("the server's store failed", None))?;
        for mut tool in api_tools {
            let name = tool["name"].as_str().unwrap_or_default().to_owned();
            let description = tool["description"].as_str().unwrap_or_default().to_owned();
            tools.push(
                Tool::new(name, description, schema(tool["inputSchema"].take()))
                    .annotate(read_only()),
            );
        }
        let named = self
            .state
            .store
            .tools(&principal.workspace_id)
            .await
            .map_err(|_| McpError::internal_error("the server's store failed", None))?;
        for record in named {
            let Ok(def) = serde_json::from_str::<conexor_tools::Stored>(&record.definition) else {
                continue;
            };
            let description = match &def {
                conexor_tools::Stored::Query(_) => {
                    format!("{} (connection {})", def.description(), def.connection())
                }
                conexor_tools::Stored::Table { .. } => def.description().to_owned(),
            };
            tools.push(
                Tool::new(
                    def.name().to_owned(),
                    description,
                    schema(def.input_schema()),
                )
                .annotate(read_only()),
            );
        }
        let (tools, next) = page(tools, request.as_ref())?;
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next;
        Ok(result)
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListResourcesResult, McpError> {
        let call = CallContext::of(principal(&ctx)?);
        let list = self
            .state
            .gateway
            .clone()
            .resources(&call)
            .await
            .map_err(|e| McpError::internal_error(e.message, None))?;
        let resources = list
            .into_iter()
            .map(|(uri, name, description)| {
                let mut r =
                    rmcp::model::Resource::new(uri, name).with_mime_type("application/json");
                if let Some(d) = description {
                    r = r.with_description(d);
                }
                r
            })
            .collect();
        let (resources, next) = page(resources, request.as_ref())?;
        let mut result = rmcp::model::ListResourcesResult::with_all_items(resources);
        result.next_cursor = next;
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: rmcp::model::ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ReadResourceResponse, McpError> {
        let client = client_of(&ctx);
        let call = CallContext {
            principal: principal(&ctx)?,
            client,
            model: model(&ctx, None),
            stop: ctx.ct.clone(),
        };
        match self
            .state
            .gateway
            .clone()
            .read_resource(&call, &request.uri)
            .await
        {
            Ok(value) => {
                let text = serde_json::to_string(&value).unwrap_or_default();
                let mut contents = rmcp::model::ResourceContents::text(text, request.uri.clone());
                if let rmcp::model::ResourceContents::TextResourceContents { mime_type, .. } =
                    &mut contents
                {
                    *mime_type = Some("application/json".into());
                }
                Ok(rmcp::model::ReadResourceResult::new(vec![contents]).into())
            }
            Err(e) if e.code.mcp_kind() == McpKind::ResourceNotFound => {
                Err(McpError::resource_not_found(e.message, None))
            }
            Err(e) => Err(McpError::internal_error(e.message, None)),
        }
    }

    /// Remembers the session's peer so that a change of its workspace's
    /// tools reaches it as `notifications/tools/list_changed`.
    async fn on_initialized(&self, context: rmcp::service::NotificationContext<RoleServer>) {
        let principal = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>())
            .cloned();
        if let Some(p) = principal {
            self.state.tool_watchers.add(p.workspace_id, context.peer);
        }
    }

    /// rmcp hands over a `tools/call` whose params do not fit its shape
    /// (arguments that are not an object, a name that is not a string) as a
    /// custom request. It reached the tool surface, so it is recorded
    /// (`invalid_params`, outcome error) before the error answer.
    async fn on_custom_request(
        &self,
        request: rmcp::model::CustomRequest,
        ctx: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CustomResult, McpError> {
        if request.method != "tools/call" {
            return Err(McpError::new(
                rmcp::model::ErrorCode::METHOD_NOT_FOUND,
                request.method,
                None,
            ));
        }
        let principal = principal(&ctx)?;
        let params = request.params.unwrap_or(Value::Null);
        let tool = params
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("tools/call")
            .to_owned();
        let arguments = params.get("arguments").cloned().unwrap_or(Value::Null);
        let message = "invalid tools/call: name must be a string and arguments a JSON object";
        record_invalid(&self.state, &principal, &tool, arguments, message).await?;
        Err(McpError::invalid_params(message, None))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let principal = principal(&ctx)?;
        // Sessions (≤ 2025-11-25) carry clientInfo from initialize; stateless
        // requests (2026-07-28) carry it in each request's _meta.
        let client = client_of(&ctx);
        let model = model(&ctx, request.meta.as_ref());
        // A client that asked for progress hears, once a call has run a second,
        // that it still runs; the ticker ends with the call.
        let _progress = ctx
            .meta
            .get_progress_token()
            .map(|token| report_progress(ctx.peer.clone(), token).drop_guard());
        // `ctx.ct` is cancelled by the client's notifications/cancelled (and, when
        // stateless, by its dropped connection): the gateway stops the statement
        // at the source and records the call as cancelled.
        tool_answer(
            self.state.clone(),
            principal,
            client,
            model,
            &request.name,
            request.arguments.unwrap_or_default(),
            ctx.ct.clone(),
        )
        .await
        .map(|answer| answer.into_result().into())
    }
}

/// How often a long call tells a client that asked (`_meta.progressToken`) that
/// it still runs; the first notice comes after one period.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Sends `notifications/progress` for `token` every [`PROGRESS_EVERY`] until
/// the returned token is cancelled. A read's total is unknown before it ends,
/// so progress counts the seconds it has run (increasing, as the protocol
/// asks) and the message says so.
fn report_progress(
    peer: rmcp::Peer<RoleServer>,
    token: rmcp::model::ProgressToken,
) -> CancellationToken {
    let done = CancellationToken::new();
    let ended = done.clone();
    tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let mut ticks = tokio::time::interval_at(started + PROGRESS_EVERY, PROGRESS_EVERY);
        loop {
            tokio::select! {
                _ = ended.cancelled() => break,
                _ = ticks.tick() => {
                    let seconds = started.elapsed().as_secs();
                    let notice = rmcp::model::ProgressNotificationParam::new(token.clone(), seconds as f64)
                        .with_message(format!("still running after {seconds} s"));
                    if peer.notify_progress(notice).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    done
}

/// Records a tool call refused for its arguments (`invalid_params`, outcome
/// error) in the caller's chain. No record, no answer: when it cannot be
/// written the caller gets an audit error instead.
async fn record_invalid(
    state: &Arc<AppState>,
    principal: &Principal,
    tool: &str,
    arguments: Value,
    message: &str,
) -> Result<(), McpError> {
    state
        .gateway
        .clone()
        .record_admin(
            principal,
            tool,
            arguments,
            None,
            Some(&crate::gateway::ToolError::invalid(message)),
        )
        .await
        .map_err(|e| McpError::internal_error(e.message, None))
}

/// What a JSON-RPC body says it is, read without converting numbers (so a
/// body with `1e400` in it still reads).
#[derive(serde::Deserialize)]
struct Probe<'a> {
    #[serde(borrow)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<&'a serde_json::value::RawValue>,
}

#[derive(serde::Deserialize)]
struct ProbeParams<'a> {
    #[serde(borrow)]
    name: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    arguments: Option<&'a serde_json::value::RawValue>,
}

/// Middleware on `/mcp` (inside authentication): a `tools/call` whose body
/// is well-formed JSON but cannot be read as values (a number out of range,
/// such as `1e400`) never reaches a handler: rmcp answers it with an error.
/// It is recorded here first (`invalid_params`, outcome error, params = the
/// arguments' raw text). Everything else passes unchanged.
pub async fn record_unreadable_calls(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, crate::MAX_BODY_BYTES).await else {
        return (
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large or unreadable",
        )
            .into_response();
    };
    let probe = serde_json::from_slice::<Probe>(&bytes).ok();
    if let Some(probe) = probe.filter(|p| p.method.as_deref() == Some("tools/call"))
        && serde_json::from_slice::<Value>(&bytes).is_err()
        && let Some(principal) = parts.extensions.get::<Principal>()
    {
        let fields = probe
            .params
            .and_then(|p| serde_json::from_str::<ProbeParams>(p.get()).ok());
        let tool = fields
            .as_ref()
            .and_then(|f| f.name)
            .and_then(|n| serde_json::from_str::<String>(n.get()).ok())
            .unwrap_or_else(|| "tools/call".to_owned());
        let raw = fields
            .and_then(|f| f.arguments)
            .or(probe.params)
            .map(|r| r.get().to_owned())
            .unwrap_or_default();
        let message = "invalid tools/call: a number in it is out of range";
        if record_invalid(&state, principal, &tool, Value::String(raw), message)
            .await
            .is_err()
        {
            return (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "the audit log could not record this call, so it was not answered; try again shortly",
            )
                .into_response();
        }
    }
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_are_paged_with_opaque_cursors() {
        let items: Vec<usize> = (0..250).collect();
        let (first, next) = super::page(items.clone(), None).unwrap();
        assert_eq!((first.len(), next.as_deref()), (100, Some("p1.100")));
        let request = |cursor: &str| {
            let mut r = super::PaginatedRequestParams::default();
            r.cursor = Some(cursor.to_owned());
            r
        };
        let (second, next) = super::page(items.clone(), Some(&request("p1.100"))).unwrap();
        assert_eq!((second[0], next.as_deref()), (100, Some("p1.200")));
        let (last, next) = super::page(items.clone(), Some(&request("p1.200"))).unwrap();
        assert_eq!((last.len(), next), (50, None));
        for bad in ["", "p1.", "p1.251", "p1.-1", "100", "p2.0"] {
            assert!(
                super::page(items.clone(), Some(&request(bad))).is_err(),
                "{bad}"
            );
        }
    }

    /// tools/list of a database-only workspace is sent with every conversation:
    /// keep it no larger than the peer's (DBHub 1.4: 1,479 bytes for its schema).
    #[test]
    fn the_generic_tools_list_stays_small() {
        let listed = serde_json::json!({"tools": super::generic_tools()});
        let bytes = serde_json::to_vec(&listed)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        assert!(bytes <= 1479, "tools/list is {bytes} bytes: {listed}");
    }
}

//! REST API operations: `search_operations`, `describe_operation`,
//! `call_operation`, and one tool per operation (`{connection}_{tool}`)
//! while a workspace has few ([`conexor_connectors::rest::NAMED_TOOLS_UP_TO`]).
//!
//! What a call may do is decided by the operation as discovery recorded it:
//! only GET and HEAD exist in its type, its arguments are checked against
//! its parameters before anything is sent (on the server, and again by the
//! connector or the agent, which trust nothing the server sends), and the
//! request goes only to the connection's base URL. The audit record holds
//! the operation and its arguments' names; their values enter only its
//! `query_hash` (`docs/audit-format.md` §1.1).

use super::*;
use conexor_connectors::rest::openapi::{Operation, input_schema};
use conexor_connectors::rest::{self, ApiSchema};
use serde_json::Map;

/// The tools that stand for every operation of a workspace's REST APIs.
pub const API_TOOLS: &[&str] = &["search_operations", "describe_operation", "call_operation"];

/// Most bytes of one answer (less when the server's `max_bytes` is lower).
const ANSWER_CAP: u64 = 1024 * 1024;

/// One enabled operation of a REST connection of the workspace.
pub(crate) struct Target {
    pub connection: String,
    pub operation: Operation,
}

impl Gateway {
    /// The REST connections of the caller's workspace with their operations.
    async fn apis(&self, ctx: &CallContext) -> Result<Vec<(String, Arc<Schema>)>, ToolError> {
        Ok(self
            .all_connections(ctx)
            .await?
            .iter()
            .filter(|c| c.kind().family() == conexor_types::Family::Api)
            .filter_map(|c| Some((c.name().to_owned(), c.schema(&self.parts.schemas)?)))
            .filter(|(_, s)| s.api.is_some())
            .collect())
    }

    /// What a workspace's REST APIs add to tools/list: one tool per
    /// operation while there are few in all, else the three generic tools
    /// (nothing when it has no REST connection).
    pub async fn api_tools(&self, ctx: &CallContext) -> Result<Vec<Value>, ToolError> {
        let apis = self.apis(ctx).await?;
        if apis.is_empty() {
            return Ok(Vec::new());
        }
        let total: usize = apis
            .iter()
            .map(|(_, s)| s.api.as_ref().map_or(0, |a| a.operations.len()))
            .sum();
        if total > rest::NAMED_TOOLS_UP_TO {
            return Ok(rest::generic_tools());
        }
        let mut tools = Vec::new();
        for (connection, schema) in &apis {
            for op in schema.api.iter().flat_map(|a| &a.operations) {
                tools.push(rest::named_tool(connection, op));
            }
        }
        Ok(tools)
    }

    /// The operation a named tool stands for, when `tool` is one.
    pub(super) async fn api_target(
        &self,
        ctx: &CallContext,
        tool: &str,
    ) -> Result<Option<Target>, ToolError> {
        for (connection, schema) in self.apis(ctx).await? {
            if !tool.starts_with(connection.as_str()) {
                continue;
            }
            if let Some(op) = schema
                .api
                .iter()
                .flat_map(|a| &a.operations)
                .find(|op| rest::named_tool_name(&connection, op) == tool)
            {
                return Ok(Some(Target {
                    connection,
                    operation: op.clone(),
                }));
            }
        }
        Ok(None)
    }

    pub(super) async fn api_tool(
        &self,
        ctx: &CallContext,
        tool: &str,
        args: &Value,
    ) -> Result<(Value, Measure), ToolError> {
        match tool {
            "search_operations" => self.search_operations(ctx, args).await,
            "describe_operation" => {
                let (_, api, op) = self.operation_of(ctx, args).await?;
                Ok((describe(&api, &op), Measure::default()))
            }
            "call_operation" => {
                let arguments = match args.get("arguments") {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(map)) => map.clone(),
                    Some(_) => {
                        return Err(ToolError::invalid(
                            "arguments must be an object of the operation's parameters",
                        ));
                    }
                };
                let (connection, _, op) = self.operation_of(ctx, args).await?;
                self.call_api(
                    ctx,
                    Target {
                        connection,
                        operation: op,
                    },
                    &arguments,
                )
                .await
            }
            other => Err(ToolError::failed(
                "unknown_tool",
                format!("unknown tool {other:?}"),
            )),
        }
    }

    /// The connection, its API and the operation that `args` name.
    async fn operation_of(
        &self,
        ctx: &CallContext,
        args: &Value,
    ) -> Result<(String, Arc<Schema>, Operation), ToolError> {
        let connection = str_arg(args, "connection")?;
        let name = str_arg(args, "operation")?;
        let record = self.connection(ctx, connection).await?;
        let kind = record.kind();
        if kind.family() != conexor_types::Family::Api {
            return Err(ToolError::invalid(format!(
                "connection {connection:?} is a {kind} connection, not a REST API"
            )));
        }
        let schema = record.schema(&self.parts.schemas).ok_or_else(|| {
            ToolError::failed(
                "no_schema",
                format!("connection {connection:?} has no discovered operations; refresh it"),
            )
        })?;
        let api = schema.api.as_ref().ok_or_else(|| {
            ToolError::failed(
                "no_schema",
                "the connection's operations were not discovered",
            )
        })?;
        let op = api.operation(name).cloned().ok_or_else(|| {
            let names: Vec<String> = api.operations.iter().map(|o| o.tool.clone()).collect();
            let near = nearest(&name.to_lowercase(), &names);
            ToolError::invalid(format!(
                "{name:?} is not an enabled operation of {connection}{}; search_operations finds them",
                super::suggest(&near)
            ))
        })?;
        Ok((connection.to_owned(), schema, op))
    }

    async fn search_operations(
        &self,
        ctx: &CallContext,
        args: &Value,
    ) -> Result<(Value, Measure), ToolError> {
        let query = str_arg(args, "query")?;
        let only = opt_str_arg(args, "connection")?;
        let limit = opt_u64_arg(args, "limit")?.unwrap_or(20).clamp(1, 50) as usize;
        let apis = self.apis(ctx).await?;
        if let Some(name) = &only
            && !apis.iter().any(|(c, _)| c == name)
        {
            return Err(ToolError::invalid(format!(
                "{name:?} is not a REST connection of this workspace; list_connections shows them"
            )));
        }
        let mut found = Vec::new();
        let mut total = 0;
        for (connection, schema) in apis
            .iter()
            .filter(|(c, _)| only.as_ref().is_none_or(|n| n == c))
        {
            let Some(api) = &schema.api else { continue };
            let hits = rest::search(&api.operations, query, usize::MAX);
            total += hits.len();
            for op in hits.into_iter().take(limit.saturating_sub(found.len())) {
                found.push(json!({
                    "connection": connection,
                    "operation": op.tool,
                    "method": op.method.as_str(),
                    "path": op.path,
                    "summary": op.summary,
                }));
            }
        }
        let rows = found.len() as u64;
        Ok((
            json!({"operations": found, "matches": total, "truncated": total > rows as usize}),
            Measure {
                rows: Some(rows),
                ..Measure::default()
            },
        ))
    }

    /// Calls one operation: arguments checked here first, then by whoever
    /// sends the request (the connector in direct mode, the agent).
    pub(super) async fn call_api(
        &self,
        ctx: &CallContext,
        target: Target,
        arguments: &Map<String, Value>,
    ) -> Result<(Value, Measure), ToolError> {
        let Target {
            connection,
            operation,
        } = target;
        // Nothing is sent for arguments the operation does not take.
        let placeholder = url::Url::parse("http://checked.invalid/")
            .map_err(|_| ToolError::failed("internal", "the call could not be checked"))?;
        rest::request::prepare(&operation, &placeholder, arguments).map_err(ToolError::from)?;
        let record = self.connection(ctx, &connection).await?;
        let kind = record.kind();
        let caps = self.value_caps(ANSWER_CAP);
        let max_bytes = caps.max_bytes as usize;
        let _memory = self.memory_permit().await?;
        let (answer, mode) = match &record {
            Conn::Direct(direct) => {
                let source = self
                    .source(ctx, direct, kind)
                    .await
                    .map_err(|e| e.in_mode("direct"))?;
                let api = source
                    .api()
                    .map_err(|e| ToolError::from(e).in_mode("direct"))?;
                let answer = api
                    .call(&operation.tool, arguments, max_bytes, &ctx.stop)
                    .await
                    .map_err(|e| ToolError::from(e).in_mode("direct"))?;
                (answer, "direct")
            }
            // The agent checks the arguments against its own description
            // and reports the hash of the request it sent.
            Conn::Agent(a) => {
                let read = crate::agents::ValueRead::Call {
                    operation: operation.tool.clone(),
                    arguments: arguments.clone(),
                };
                let (value, rows, sent) = self.agent_value(ctx, a, read, &caps).await?;
                let bytes = conexor_connectors::json_len(&value);
                return Ok((
                    value,
                    Measure {
                        connection: Some(connection),
                        mode: Some("agent"),
                        query_hash: sent,
                        rows,
                        bytes: Some(bytes),
                    },
                ));
            }
        };
        let hash = conexor_connectors::query_hash(&answer.hash_input);
        let bytes = conexor_connectors::json_len(&answer.value);
        Ok((
            answer.value,
            Measure {
                connection: Some(connection),
                mode: Some(mode),
                query_hash: Some(hash),
                rows: answer.rows,
                bytes: Some(bytes),
            },
        ))
    }
}

/// What `describe_operation` answers.
fn describe(schema: &Schema, op: &Operation) -> Value {
    let title = schema.api.as_ref().map(|a: &ApiSchema| a.title.as_str());
    json!({
        "api": title,
        "operation": op.tool,
        "operation_id": op.operation_id,
        "method": op.method.as_str(),
        "path": op.path,
        "summary": op.summary,
        "tags": op.tags,
        "input_schema": input_schema(op),
        "response": op.response,
    })
}

/// What the audit record keeps of a REST call's arguments: their names.
pub(super) fn recorded_arguments(args: &Map<String, Value>) -> Value {
    let mut names: Vec<&String> = args
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, _)| k)
        .collect();
    names.sort();
    json!(names)
}

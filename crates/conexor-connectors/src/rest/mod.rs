//! REST APIs described by OpenAPI (`rest`): the description side.
//!
//! `openapi` reads a description into the GET and HEAD operations a
//! connection may call; [`tool_plan`] decides what the AI sees for them:
//! one tool per enabled operation while there are few, and past
//! [`NAMED_TOOLS_UP_TO`] three generic tools (search, describe, call), so
//! that tools/list stays a few kilobytes whatever the size of the API.
//! [`RestSource`] makes the calls: arguments checked and built into a
//! request offline ([`request`]), the base URL's origin pinned, the
//! destination policy on every connection, no redirect to another origin,
//! byte and time caps.

pub mod openapi;
pub mod request;
mod source;
mod spec;

pub use source::{ApiAnswer, ApiSchema, RestSource};
pub use spec::{AuthKind, RestSpec};

use openapi::{Operation, input_schema};
use serde_json::{Value, json};

/// Most operations offered as tools of their own; more become the three
/// generic tools.
pub const NAMED_TOOLS_UP_TO: usize = 30;

/// How a connection's operations appear in tools/list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolMode {
    /// One tool per operation.
    Named,
    /// `search_operations`, `describe_operation`, `call_operation`.
    Generic,
}

/// What a connection adds to tools/list, and its size, known before the
/// connection is saved.
#[derive(Debug, Clone)]
pub struct ToolPlan {
    pub mode: ToolMode,
    /// MCP tool definitions (`name`, `description`, `inputSchema`).
    pub tools: Vec<Value>,
    /// The bytes these definitions add to a tools/list answer.
    pub bytes: usize,
}

/// The MCP tool of one operation, named `{connection}_{tool}` (at most 64
/// characters).
pub fn named_tool(connection: &str, op: &Operation) -> Value {
    let name = named_tool_name(connection, op);
    let description = if op.summary.is_empty() {
        format!(
            "{} {} on {connection} (read-only).",
            op.method.as_str(),
            op.path
        )
    } else {
        format!(
            "{} ({} {} on {connection}, read-only)",
            op.summary,
            op.method.as_str(),
            op.path
        )
    };
    json!({"name": name, "description": description, "inputSchema": input_schema(op)})
}

/// The name of an operation's own tool.
pub fn named_tool_name(connection: &str, op: &Operation) -> String {
    format!("{connection}_{}", op.tool)
        .chars()
        .take(64)
        .collect()
}

/// The three tools that stand for every operation of large APIs.
pub fn generic_tools() -> Vec<Value> {
    vec![
        json!({
            "name": "search_operations",
            "description": "Find read-only REST API operations by words in their path, summary or tags.",
            "inputSchema": {"type": "object", "properties": {
                "query": {"type": "string"}, "connection": {"type": "string"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 50}},
                "required": ["query"], "additionalProperties": false}
        }),
        json!({
            "name": "describe_operation",
            "description": "The parameters of one REST operation (from search_operations).",
            "inputSchema": {"type": "object", "properties": {
                "connection": {"type": "string"}, "operation": {"type": "string"}},
                "required": ["connection", "operation"], "additionalProperties": false}
        }),
        json!({
            "name": "call_operation",
            "description": "Call one read-only REST operation with its parameters (describe_operation lists them).",
            "inputSchema": {"type": "object", "properties": {
                "connection": {"type": "string"}, "operation": {"type": "string"},
                "arguments": {"type": "object"}},
                "required": ["connection", "operation"], "additionalProperties": false}
        }),
    ]
}

/// The tools for `operations` of connection `connection`.
pub fn tool_plan(connection: &str, operations: &[&Operation]) -> ToolPlan {
    let named = operations.len() <= NAMED_TOOLS_UP_TO;
    let tools: Vec<Value> = if named {
        operations
            .iter()
            .map(|op| named_tool(connection, op))
            .collect()
    } else {
        generic_tools()
    };
    let bytes = tools
        .iter()
        .map(|t| serde_json::to_vec(t).map(|v| v.len()).unwrap_or(0) + 1)
        .sum();
    ToolPlan {
        mode: if named {
            ToolMode::Named
        } else {
            ToolMode::Generic
        },
        tools,
        bytes,
    }
}

/// The operations that best match `query`'s words (in the tool name,
/// operationId, path, summary and tags), best first; ties keep the
/// description's order.
pub fn search<'a>(operations: &'a [Operation], query: &str, limit: usize) -> Vec<&'a Operation> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut scored: Vec<(usize, usize, &Operation)> = operations
        .iter()
        .enumerate()
        .filter_map(|(i, op)| {
            let haystack = format!(
                "{} {} {} {} {}",
                op.tool,
                op.operation_id.as_deref().unwrap_or(""),
                op.path,
                op.summary,
                op.tags.join(" ")
            )
            .to_lowercase();
            let score = words
                .iter()
                .filter(|w| haystack.contains(w.as_str()))
                .count();
            (words.is_empty() || score > 0).then_some((score, i, op))
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored
        .into_iter()
        .take(limit)
        .map(|(_, _, op)| op)
        .collect()
}

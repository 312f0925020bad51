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

pub use source::{ApiAnswer, ApiSchema, RestSource, describe, enabled};
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

/// The tools for `operations` of connection `connection`.
pub fn tool_plan(connection: &str, operations: &[&Operation]) -> ToolPlan {
    let tools: Vec<Value> = if operations.len() <= NAMED_TOOLS_UP_TO {
        operations
            .iter()
            .map(|op| {
                let name: String = format!("{connection}_{}", op.tool)
                    .chars()
                    .take(64)
                    .collect();
                let description = if op.summary.is_empty() {
                    format!(
                        "{} {} on {connection} (read-only).",
                        op.method.as_str(),
                        op.path
                    )
                } else {
                    format!(
                        "{} ({} {}, read-only)",
                        op.summary,
                        op.method.as_str(),
                        op.path
                    )
                };
                json!({"name": name, "description": description, "inputSchema": input_schema(op)})
            })
            .collect()
    } else {
        vec![
            json!({
                "name": "search_operations",
                "description": "Find read-only REST operations by words in their path, summary or tags.",
                "inputSchema": {"type": "object", "properties": {
                    "connection": {"type": "string"}, "query": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 50}},
                    "required": ["connection", "query"], "additionalProperties": false}
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
                "description": "Call one enabled read-only REST operation with its parameters.",
                "inputSchema": {"type": "object", "properties": {
                    "connection": {"type": "string"}, "operation": {"type": "string"},
                    "arguments": {"type": "object"}},
                    "required": ["connection", "operation"], "additionalProperties": false}
            }),
        ]
    };
    let bytes = tools
        .iter()
        .map(|t| serde_json::to_vec(t).map(|v| v.len()).unwrap_or(0) + 1)
        .sum();
    ToolPlan {
        mode: if operations.len() <= NAMED_TOOLS_UP_TO {
            ToolMode::Named
        } else {
            ToolMode::Generic
        },
        tools,
        bytes,
    }
}

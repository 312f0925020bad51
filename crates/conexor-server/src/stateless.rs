//! The stateless `tools/call` path: a well-formed 2026-07-28 tool call
//! answered without building an rmcp service for it.
//!
//! In the stateless revision every POST is a whole exchange. rmcp serves one
//! by parsing the body into its message enum, re-serialising it to check the
//! standard headers, building a one-shot transport and a running service,
//! and spawning two tasks that copy the handler's future: about a quarter of
//! a small call's instructions (bench/RESULTS.md). This middleware answers
//! the common case itself and hands everything else to rmcp unchanged.
//!
//! It takes a request only when all of this holds, and otherwise passes it on
//! untouched (so every error answer, and every other method or revision, is
//! still rmcp's):
//! - no `Mcp-Session-Id`; exactly one `MCP-Protocol-Version: 2026-07-28`;
//! - `Content-Type: application/json` and an `Accept` naming both
//!   `application/json` and `text/event-stream`;
//! - exactly one `Mcp-Method: tools/call` and one `Mcp-Name` equal to the
//!   body's tool name, and no `Mcp-Param-*` header;
//! - a body that is exactly `{jsonrpc: "2.0", id, method: "tools/call",
//!   params: {name, arguments?, _meta}}` with no other member, every value
//!   readable (an out-of-range number goes to the path that records it);
//! - `_meta` with the revision's required keys, the same protocol version
//!   as the header, and no `progressToken` (progress needs a stream).
//!
//! The answer is the same JSON-RPC response rmcp writes (checked by
//! `tests/it/http.rs`), produced by the same [`mcp::tool_result`] the rmcp
//! handler calls. The call runs in its own task, so a client that hangs up
//! does not cut it between the read and its audit record.

use crate::auth::Principal;
use crate::mcp;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolResult, ContentBlock, JsonObject, JsonRpcError, JsonRpcResponse, JsonRpcVersion2_0,
    ProtocolVersion, RequestId, RequestMetaObject, ServerJsonRpcMessage, ServerResult,
};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_util::sync::CancellationToken;

static SERVED: AtomicU64 = AtomicU64::new(0);

/// Calls this process has answered on the stateless path (for tests and
/// diagnostics: which path a call took is otherwise invisible by design).
pub fn served() -> u64 {
    SERVED.load(Ordering::Relaxed)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Call {
    #[allow(dead_code)] // read to require "2.0"
    jsonrpc: JsonRpcVersion2_0,
    id: RequestId,
    method: String,
    params: Params,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    name: String,
    #[serde(default)]
    arguments: Option<JsonObject>,
    #[serde(rename = "_meta")]
    meta: RequestMetaObject,
}

/// The one header value of `name`, if there is exactly one and it is text.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok()
}

/// Whether the headers fit the fast path (the body is checked after).
fn headers_fit(headers: &HeaderMap) -> bool {
    let version = ProtocolVersion::V_2026_07_28;
    let content_type_is_json = single(headers, header::CONTENT_TYPE.as_str()).is_some_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"))
    });
    let accepts = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|m| m.split(';').next().unwrap_or_default().trim())
        .fold((false, false), |(json, sse), m| {
            (
                json || m.eq_ignore_ascii_case("application/json"),
                sse || m.eq_ignore_ascii_case("text/event-stream"),
            )
        });
    !headers.contains_key("mcp-session-id")
        && single(headers, "mcp-protocol-version") == Some(version.as_str())
        && content_type_is_json
        && accepts == (true, true)
        && single(headers, "mcp-method") == Some("tools/call")
        && !headers
            .keys()
            .any(|name| name.as_str().starts_with("mcp-param-"))
}

/// Middleware on `/mcp`, inside authentication and the unreadable-call
/// recorder: answers a fitting stateless `tools/call`, passes the rest on.
pub async fn tools_call(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != axum::http::Method::POST || !headers_fit(request.headers()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, crate::MAX_BODY_BYTES).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large or unreadable",
        )
            .into_response();
    };
    let call = serde_json::from_slice::<Call>(&bytes).ok().filter(|call| {
        let meta = &call.params.meta;
        call.method == "tools/call"
            && single(&parts.headers, "mcp-name") == Some(call.params.name.as_str())
            && meta.protocol_version() == Some(ProtocolVersion::V_2026_07_28)
            && meta
                .missing_required_keys(&ProtocolVersion::V_2026_07_28)
                .is_empty()
            && meta.get_progress_token().is_none()
    });
    let (Some(call), Some(principal)) = (call, parts.extensions.get::<Principal>().cloned()) else {
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    };
    let model_header = parts
        .headers
        .get("x-conexor-model")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    SERVED.fetch_add(1, Ordering::Relaxed);
    let Call { id, params, .. } = call;
    let client = params
        .meta
        .client_info()
        .map(|info| (info.name, info.version));
    let model = mcp::model_of(Some(&params.meta), model_header);
    // The gateway runs the call in a task of its own: a client that hangs up
    // drops this future, which cancels the call (stopped at the source,
    // recorded as cancelled) rather than abandoning it half-way.
    let answered = mcp::tool_answer(
        state,
        principal,
        client,
        model,
        &params.name,
        params.arguments.unwrap_or_default(),
        CancellationToken::new(),
    )
    .await;
    let encoded = match answered {
        Ok(mcp::ToolAnswer::Answered(value)) => encode_answer(id, &value),
        Ok(failed) => serde_json::to_vec(&response(id, failed.into_result())),
        Err(error) => serde_json::to_vec(&ServerJsonRpcMessage::Error(JsonRpcError::new(
            Some(id),
            error,
        ))),
    };
    match encoded {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn response(id: RequestId, result: CallToolResult) -> ServerJsonRpcMessage {
    ServerJsonRpcMessage::Response(JsonRpcResponse {
        jsonrpc: JsonRpcVersion2_0,
        id,
        result: ServerResult::CallToolResult(result),
    })
}

/// The answer's JSON-RPC response, as rmcp writes it (`mcp::ToolAnswer::into_result`:
/// the answer's JSON as text content, and the same JSON as structured content),
/// with the answer serialised once: its text is written escaped into the text
/// content and as it is for `structuredContent`, instead of serialising the
/// value a second time. The rest of the response is rmcp's own serialisation,
/// so the two stay the same (`tests/it/http.rs` compares them).
fn encode_answer(id: RequestId, answer: &Value) -> serde_json::Result<Vec<u8>> {
    let text = serde_json::to_string(answer)?;
    let mut body = serde_json::to_vec(&response(
        id.clone(),
        CallToolResult::success(vec![ContentBlock::text(text.as_str())]),
    ))?;
    // `{"jsonrpc":…,"id":…,"result":{…}}`: the result object is the last member.
    if !body.ends_with(b"}}") {
        let whole = mcp::ToolAnswer::Answered(answer.clone()).into_result();
        return serde_json::to_vec(&response(id, whole));
    }
    body.truncate(body.len() - 2);
    body.reserve(text.len() + 24);
    body.extend_from_slice(b",\"structuredContent\":");
    body.extend_from_slice(text.as_bytes());
    body.extend_from_slice(b"}}");
    Ok(body)
}

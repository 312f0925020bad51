//! The MCP conformance suite's fixtures, served on Conexor's own HTTP and MCP
//! stack: authentication, the Host guard, rmcp's session manager, and
//! Conexor's handler for everything that is not a fixture.
//!
//! The suite (npm `@modelcontextprotocol/conformance`, server mode) calls
//! tools, resources and prompts that only its reference "everything" server
//! has (`test_simple_text`, `test://static-text`, `test_simple_prompt`, …).
//! [`Fixtures`] answers exactly those, as the reference does, and hands every
//! other request to [`McpHandler`], so that the suite's plumbing scenarios
//! (progress, logging, server-to-client sampling and elicitation, SSE priming
//! and retry, subscriptions, completion) run against the real server and none
//! needs a baseline. Test-only: the binary `conformance-server` serves it; the
//! product's `conexor server` never does.
//!
//! Logging, sampling and subscriptions are deprecated by SEP-2577 (rmcp marks
//! them so), but the suite still tests them for protocol 2025-11-25.
#![allow(deprecated)]

use conexor_server::mcp::McpHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientResult, CompleteRequestParams,
    CompleteResult, GetPromptRequestParams, GetPromptResponse, GetPromptResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel,
    LoggingMessageNotificationParam, PaginatedRequestParams, ProgressNotificationParam,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, ServerConfig,
    ServerRequest, SetLevelRequestParams, SubscribeRequestParams, Tool, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};
use std::sync::Mutex;
use std::time::Duration;

/// A 1×1 red PNG (the reference server's image).
const IMAGE: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A minimal WAV (the reference server's audio).
const AUDIO: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

/// Conexor's MCP handler with the conformance fixtures in front of it.
pub struct Fixtures {
    inner: McpHandler,
    /// The lowest level the client wants to hear (`logging/setLevel`).
    level: Mutex<LoggingLevel>,
}

impl Fixtures {
    pub fn new(inner: McpHandler) -> Fixtures {
        Fixtures {
            inner,
            level: Mutex::new(LoggingLevel::Info),
        }
    }

    #[allow(deprecated)]
    async fn log(&self, ctx: &RequestContext<RoleServer>, level: LoggingLevel, text: &str) {
        let wanted = *self.level.lock().unwrap_or_else(|e| e.into_inner());
        if level_rank(level) < level_rank(wanted) {
            return;
        }
        let Ok(notice) = wire::<LoggingMessageNotificationParam>(json!({
            "level": level, "logger": "conformance-fixtures", "data": text}))
        else {
            return;
        };
        let _ = ctx.peer.notify_logging_message(notice).await;
    }
}

fn level_rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// Builds an rmcp model value from its wire form (the fixtures are written
/// as the reference server's JSON, and several rmcp types are non-exhaustive).
fn wire<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, McpError> {
    serde_json::from_value(value)
        .map_err(|e| McpError::internal_error(format!("fixture does not parse: {e}"), None))
}

fn no_arguments() -> Value {
    json!({"type": "object", "properties": {}})
}

/// The fixture tools, listed before the workspace's own.
fn tools() -> Vec<(&'static str, &'static str, Value)> {
    let message = |what: &str| json!({"type": "object", "properties": {what: {"type": "string"}}, "required": [what]});
    vec![
        (
            "test_simple_text",
            "Tests simple text content response",
            no_arguments(),
        ),
        (
            "test_image_content",
            "Tests image content response",
            no_arguments(),
        ),
        (
            "test_audio_content",
            "Tests audio content response",
            no_arguments(),
        ),
        (
            "test_embedded_resource",
            "Tests embedded resource content response",
            no_arguments(),
        ),
        (
            "test_multiple_content_types",
            "Tests response with multiple content types (text, image, resource)",
            no_arguments(),
        ),
        (
            "test_tool_with_logging",
            "Tests tool that emits log messages during execution",
            no_arguments(),
        ),
        (
            "test_error_handling",
            "Tests error response handling",
            no_arguments(),
        ),
        (
            "test_tool_with_progress",
            "Tests tool that reports progress notifications",
            no_arguments(),
        ),
        (
            "test_sampling",
            "Tests server-initiated sampling (LLM completion request)",
            message("prompt"),
        ),
        (
            "test_elicitation",
            "Tests server-initiated elicitation (user input request)",
            message("message"),
        ),
        (
            "test_elicitation_sep1034_defaults",
            "Tests elicitation with default values per SEP-1034",
            no_arguments(),
        ),
        (
            "test_elicitation_sep1330_enums",
            "Tests elicitation with enum schema improvements per SEP-1330",
            no_arguments(),
        ),
        (
            "json_schema_2020_12_tool",
            "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {"address": {"type": "object", "properties": {
                    "street": {"type": "string"}, "city": {"type": "string"}}}},
                "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
                "additionalProperties": false
            }),
        ),
        (
            "test_reconnection",
            "Tests SSE stream reconnection (SEP-1699): the answer stream starts with a priming event and a retry interval",
            no_arguments(),
        ),
    ]
}

fn text_result(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![rmcp::model::ContentBlock::text(text.into())])
}

impl Fixtures {
    /// One fixture tool's answer, or None when `name` is not a fixture.
    async fn call_fixture(
        &self,
        name: &str,
        arguments: &serde_json::Map<String, Value>,
        ctx: &RequestContext<RoleServer>,
    ) -> Option<Result<CallToolResult, McpError>> {
        let result = match name {
            "test_simple_text" => Ok(text_result("This is a simple text response for testing.")),
            "test_image_content" => wire(json!({"content": [
                {"type": "image", "data": IMAGE, "mimeType": "image/png"}]})),
            "test_audio_content" => wire(json!({"content": [
                {"type": "audio", "data": AUDIO, "mimeType": "audio/wav"}]})),
            "test_embedded_resource" => wire(json!({"content": [{"type": "resource", "resource": {
                "uri": "test://embedded-resource", "mimeType": "text/plain",
                "text": "This is an embedded resource content."}}]})),
            "test_multiple_content_types" => wire(json!({"content": [
                {"type": "text", "text": "Multiple content types test:"},
                {"type": "image", "data": IMAGE, "mimeType": "image/png"},
                {"type": "resource", "resource": {"uri": "test://mixed-content-resource",
                    "mimeType": "application/json", "text": "{\"test\":\"data\",\"value\":123}"}}]})),
            "test_tool_with_logging" => {
                for step in [
                    "Tool execution started",
                    "Tool processing data",
                    "Tool execution completed",
                ] {
                    self.log(ctx, LoggingLevel::Info, step).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(text_result("Tool with logging executed successfully"))
            }
            "test_error_handling" => Ok(CallToolResult::error(vec![
                rmcp::model::ContentBlock::text(
                    "This tool intentionally returns an error for testing",
                ),
            ])),
            "test_tool_with_progress" => {
                let token = ctx.meta.get_progress_token();
                if let Some(token) = &token {
                    for step in [0.0, 50.0, 100.0] {
                        let notice = ProgressNotificationParam::new(token.clone(), step)
                            .with_total(100.0)
                            .with_message(format!("Completed step {step} of 100"));
                        let _ = ctx.peer.notify_progress(notice).await;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                Ok(text_result(
                    token
                        .map(|t| serde_json::to_string(&t).unwrap_or_default())
                        .unwrap_or_else(|| "no progress token".into()),
                ))
            }
            "test_sampling" => {
                let prompt = arguments
                    .get("prompt")
                    .and_then(Value::as_str)
                    .unwrap_or("Hello");
                let asked = ask(ctx, json!({"method": "sampling/createMessage", "params": {
                    "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
                    "maxTokens": 100}}))
                .await;
                Ok(text_result(match asked {
                    Ok(answer) => format!(
                        "LLM response: {}",
                        answer["content"]["text"].as_str().unwrap_or("No response")
                    ),
                    Err(e) => format!("Sampling not supported or error: {}", e.message),
                }))
            }
            "test_elicitation" => {
                let message = arguments
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("Please provide your information");
                elicit(ctx, "User response", json!({
                    "message": message,
                    "requestedSchema": {"type": "object", "properties": {
                        "username": {"type": "string", "description": "User's response"},
                        "email": {"type": "string", "description": "User's email address"}},
                        "required": ["username", "email"]}}))
                .await
            }
            "test_elicitation_sep1034_defaults" => {
                elicit(ctx, "Elicitation completed", json!({
                    "message": "Please review and update the form fields with defaults",
                    "requestedSchema": {"type": "object", "properties": {
                        "name": {"type": "string", "description": "User name", "default": "John Doe"},
                        "age": {"type": "integer", "description": "User age", "default": 30},
                        "score": {"type": "number", "description": "User score", "default": 95.5},
                        "status": {"type": "string", "description": "User status",
                            "enum": ["active", "inactive", "pending"], "default": "active"},
                        "verified": {"type": "boolean", "description": "Verification status", "default": true}},
                        "required": []}}))
                .await
            }
            "test_elicitation_sep1330_enums" => {
                elicit(ctx, "Elicitation completed", json!({
                    "message": "Please select options from the enum fields",
                    "requestedSchema": {"type": "object", "properties": {
                        "untitledSingle": {"type": "string", "description": "Select one option",
                            "enum": ["option1", "option2", "option3"]},
                        "titledSingle": {"type": "string", "description": "Select one option with titles",
                            "oneOf": [{"const": "value1", "title": "First Option"},
                                      {"const": "value2", "title": "Second Option"},
                                      {"const": "value3", "title": "Third Option"}]},
                        "legacyEnum": {"type": "string", "description": "Select one option (legacy)",
                            "enum": ["opt1", "opt2", "opt3"],
                            "enumNames": ["Option One", "Option Two", "Option Three"]},
                        "untitledMulti": {"type": "array", "description": "Select multiple options",
                            "minItems": 1, "maxItems": 3,
                            "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                        "titledMulti": {"type": "array", "description": "Select multiple options with titles",
                            "minItems": 1, "maxItems": 3,
                            "items": {"anyOf": [{"const": "value1", "title": "First Choice"},
                                                {"const": "value2", "title": "Second Choice"},
                                                {"const": "value3", "title": "Third Choice"}]}}},
                        "required": []}}))
                .await
            }
            "json_schema_2020_12_tool" => Ok(text_result(format!(
                "JSON Schema 2020-12 tool called with: {}",
                Value::Object(arguments.clone())
            ))),
            "test_reconnection" => Ok(text_result("Reconnection test completed successfully.")),
            _ => return None,
        };
        Some(result)
    }
}

/// A request to the client, answered on the call's own stream; its result.
async fn ask(ctx: &RequestContext<RoleServer>, request: Value) -> Result<Value, McpError> {
    let request: ServerRequest = wire(request)?;
    let answer = ctx
        .peer
        .send_request(request)
        .await
        .map_err(|e| McpError::internal_error(e.to_string(), None))?;
    Ok(match answer {
        ClientResult::CreateMessageResult(r) => serde_json::to_value(r).unwrap_or_default(),
        ClientResult::ElicitResult(r) => serde_json::to_value(r).unwrap_or_default(),
        other => serde_json::to_value(other).unwrap_or_default(),
    })
}

async fn elicit(
    ctx: &RequestContext<RoleServer>,
    said: &str,
    params: Value,
) -> Result<CallToolResult, McpError> {
    let answer = ask(
        ctx,
        json!({"method": "elicitation/create", "params": params}),
    )
    .await;
    Ok(text_result(match answer {
        Ok(answer) => format!(
            "{said}: action={}, content={}",
            answer["action"].as_str().unwrap_or("none"),
            answer.get("content").cloned().unwrap_or(json!({}))
        ),
        Err(e) => format!("Elicitation not supported or error: {}", e.message),
    }))
}

const STATIC_TEXT: &str = "test://static-text";
const STATIC_BINARY: &str = "test://static-binary";
const WATCHED: &str = "test://watched-resource";

fn fixture_resources() -> Value {
    json!([
        {"uri": STATIC_TEXT, "name": "static-text", "title": "Static Text Resource",
         "description": "A static text resource for testing", "mimeType": "text/plain"},
        {"uri": STATIC_BINARY, "name": "static-binary", "title": "Static Binary Resource",
         "description": "A static binary resource (image) for testing", "mimeType": "image/png"},
        {"uri": WATCHED, "name": "watched-resource", "title": "Watched Resource",
         "description": "A resource that auto-updates every 3 seconds", "mimeType": "text/plain"}
    ])
}

fn read_fixture(uri: &str) -> Option<Value> {
    let contents = match uri {
        STATIC_TEXT => json!({"uri": uri, "mimeType": "text/plain",
            "text": "This is the content of the static text resource."}),
        STATIC_BINARY => json!({"uri": uri, "mimeType": "image/png", "blob": IMAGE}),
        WATCHED => {
            json!({"uri": uri, "mimeType": "text/plain", "text": "Watched resource content"})
        }
        _ => {
            let id = uri
                .strip_prefix("test://template/")?
                .strip_suffix("/data")?;
            json!({"uri": uri, "mimeType": "application/json",
                "text": json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")}).to_string()})
        }
    };
    Some(json!({"contents": [contents]}))
}

fn prompts() -> Value {
    let argument = |name: &str, description: &str| json!({"name": name, "description": description, "required": true});
    json!({"prompts": [
        {"name": "test_simple_prompt", "title": "Simple Test Prompt",
         "description": "A simple prompt without arguments"},
        {"name": "test_prompt_with_arguments", "title": "Prompt With Arguments",
         "description": "A prompt with required arguments",
         "arguments": [argument("arg1", "First test argument"), argument("arg2", "Second test argument")]},
        {"name": "test_prompt_with_embedded_resource", "title": "Prompt With Embedded Resource",
         "description": "A prompt that includes an embedded resource",
         "arguments": [argument("resourceUri", "URI of the resource to embed")]},
        {"name": "test_prompt_with_image", "title": "Prompt With Image",
         "description": "A prompt that includes image content"}
    ]})
}

fn prompt(name: &str, arguments: &serde_json::Map<String, Value>) -> Option<Value> {
    let arg = |key: &str| {
        arguments
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let user = |content: Value| json!({"role": "user", "content": content});
    let text = |t: String| user(json!({"type": "text", "text": t}));
    let messages = match name {
        "test_simple_prompt" => vec![text("This is a simple prompt for testing.".into())],
        "test_prompt_with_arguments" => vec![text(format!(
            "Prompt with arguments: arg1='{}', arg2='{}'",
            arg("arg1"),
            arg("arg2")
        ))],
        "test_prompt_with_embedded_resource" => vec![
            user(
                json!({"type": "resource", "resource": {"uri": arg("resourceUri"),
                "mimeType": "text/plain", "text": "Embedded resource content for testing."}}),
            ),
            text("Please process the embedded resource above.".into()),
        ],
        "test_prompt_with_image" => vec![
            user(json!({"type": "image", "data": IMAGE, "mimeType": "image/png"})),
            text("Please analyze the image above.".into()),
        ],
        _ => return None,
    };
    Some(json!({"messages": messages}))
}

impl ServerHandler for Fixtures {
    fn get_info(&self) -> ServerConfig {
        let mut info = self.inner.get_info();
        // The fixtures add prompts, completion and resource subscriptions.
        let mut capabilities = serde_json::to_value(&info.capabilities).unwrap_or_default();
        capabilities["prompts"] = json!({"listChanged": false});
        capabilities["completions"] = json!({});
        capabilities["resources"]["subscribe"] = json!(true);
        if let Ok(capabilities) = serde_json::from_value(capabilities) {
            info.capabilities = capabilities;
        }
        info
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.inner.set_level(request.clone(), ctx.clone()).await?;
        *self.level.lock().unwrap_or_else(|e| e.into_inner()) = request.level;
        let said = format!("Log level set to: {:?}", request.level).to_lowercase();
        self.log(&ctx, request.level, &said).await;
        Ok(())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut listed = self.inner.list_tools(request.clone(), ctx).await?;
        // On the first page, in front of Conexor's own (a scenario reads only that page).
        if request.and_then(|r| r.cursor).is_none() {
            let mut all: Vec<Tool> = tools()
                .into_iter()
                .map(|(name, description, schema)| {
                    let schema = match schema {
                        Value::Object(map) => map,
                        _ => serde_json::Map::new(),
                    };
                    Tool::new(name, description, std::sync::Arc::new(schema))
                })
                .collect();
            all.append(&mut listed.tools);
            listed.tools = all;
        }
        Ok(listed)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let arguments = request.arguments.clone().unwrap_or_default();
        match self.call_fixture(&request.name, &arguments, &ctx).await {
            Some(result) => result.map(Into::into),
            None => self.inner.call_tool(request, ctx).await,
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let mut listed = self.inner.list_resources(request.clone(), ctx).await?;
        if request.and_then(|r| r.cursor).is_none() {
            let mut all: Vec<rmcp::model::Resource> = wire(fixture_resources())?;
            all.append(&mut listed.resources);
            listed.resources = all;
        }
        Ok(listed)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        wire(json!({"resourceTemplates": [{
            "uriTemplate": "test://template/{id}/data", "name": "template",
            "title": "Resource Template",
            "description": "A resource template with parameter substitution",
            "mimeType": "application/json"}]}))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        match read_fixture(&request.uri) {
            Some(read) => wire::<ReadResourceResult>(read).map(Into::into),
            None => self.inner.read_resource(request, ctx).await,
        }
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.log(
            &ctx,
            LoggingLevel::Info,
            &format!("Subscribed to resource: {}", request.uri),
        )
        .await;
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.log(
            &ctx,
            LoggingLevel::Info,
            &format!("Unsubscribed from resource: {}", request.uri),
        )
        .await;
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        wire(prompts())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let arguments = request.arguments.clone().unwrap_or_default();
        match prompt(&request.name, &arguments) {
            Some(found) => wire::<GetPromptResult>(found).map(Into::into),
            None => Err(McpError::invalid_params(
                format!("unknown prompt {:?}", request.name),
                None,
            )),
        }
    }

    async fn complete(
        &self,
        _request: CompleteRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        wire(json!({"completion": {"values": [], "total": 0, "hasMore": false}}))
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.inner.on_initialized(context).await
    }

    async fn on_custom_request(
        &self,
        request: rmcp::model::CustomRequest,
        ctx: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CustomResult, McpError> {
        self.inner.on_custom_request(request, ctx).await
    }
}

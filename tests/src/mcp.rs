//! A real MCP client for the tests: rmcp (the official Rust SDK) over
//! Streamable HTTP, with the caller's API key, counting
//! `notifications/tools/list_changed`.

use crate::TestServer;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::Value;

/// A client that counts `notifications/tools/list_changed`.
#[derive(Clone)]
pub struct Watch(tokio::sync::mpsc::UnboundedSender<()>);

impl ClientHandler for Watch {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.0.send(());
    }
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("conexor-tests", "1"),
        )
    }
}

pub async fn mcp(
    server: &TestServer,
    client: &conexor_client::Client,
) -> (
    RunningService<RoleClient, Watch>,
    tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    let key = client.key().unwrap().to_text().to_string();
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", server.url))
        .auth_header(key);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let service = Watch(tx)
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("MCP initialize");
    (service, rx)
}

pub async fn call(
    service: &RunningService<RoleClient, Watch>,
    name: &str,
    args: Value,
) -> (bool, Value, String) {
    let Value::Object(args) = args else {
        panic!("args must be an object")
    };
    let result = service
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(args))
        .await
        .expect("tools/call");
    let text: String = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    let value = result.structured_content.clone().unwrap_or(Value::Null);
    (result.is_error.unwrap_or(false), value, text)
}

pub async fn tool_names(service: &RunningService<RoleClient, Watch>) -> Vec<String> {
    service
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect()
}

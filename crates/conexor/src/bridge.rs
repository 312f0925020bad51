//! `conexor mcp`: a stdio MCP server that forwards to the Conexor server's
//! `/mcp` over Streamable HTTP, for clients that only launch commands
//! (Claude Desktop style). It adds no tools and keeps no data: tools/list and
//! tools/call are passed through, authenticated with the key from the
//! environment. The upstream session opens on the first request.

use anyhow::{Context, Result};
use clap::Args;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientConfig, Implementation,
    ListToolsResult, PaginatedRequestParams, ResultType, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ErrorData as McpError, RoleClient, RoleServer, ServerHandler, ServiceExt};
use std::sync::Arc;
use tokio::sync::OnceCell;

#[derive(Args, Debug)]
pub struct McpArgs {
    #[command(flatten)]
    pub client: crate::ClientArgs,
}

type Upstream = RunningService<RoleClient, ClientConfig>;

#[derive(Clone)]
struct Bridge {
    url: String,
    key: String,
    upstream: Arc<OnceCell<Upstream>>,
}

impl Bridge {
    async fn upstream(&self, ctx: &RequestContext<RoleServer>) -> Result<&Upstream, McpError> {
        self.upstream
            .get_or_try_init(|| async {
                // Pass the real client's identity upstream, so the server records who called.
                let info = ctx
                    .peer
                    .peer_info()
                    .map(|p| p.client_info.clone())
                    .unwrap_or_else(|| {
                        Implementation::new("conexor-mcp-bridge", env!("CARGO_PKG_VERSION"))
                    });
                let config = ClientConfig::new(ClientCapabilities::default(), info);
                let transport = StreamableHttpClientTransport::from_config(
                    StreamableHttpClientTransportConfig::with_uri(self.url.clone())
                        .auth_header(self.key.clone()),
                );
                config.serve(transport).await.map_err(|e| {
                    McpError::internal_error(
                        format!("could not reach the Conexor server at {}: {e}", self.url),
                        None,
                    )
                })
            })
            .await
    }
}

impl ServerHandler for Bridge {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info = Implementation::new("conexor", env!("CARGO_PKG_VERSION"));
        info
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let upstream = self.upstream(&ctx).await?;
        let mut result = upstream
            .list_tools(request)
            .await
            .map_err(|e| McpError::internal_error(format!("upstream: {e}"), None))?;
        // The upstream session may speak an older revision than the stdio
        // client; mark results complete as 2026-07-28 requires.
        result.result_type = Some(ResultType::COMPLETE);
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let upstream = self.upstream(&ctx).await?;
        match upstream.call_tool(request).await {
            Ok(mut result) => {
                result.result_type = Some(ResultType::COMPLETE);
                Ok(result.into())
            }
            Err(rmcp::ServiceError::McpError(e)) => Err(e),
            Err(e) => Err(McpError::internal_error(format!("upstream: {e}"), None)),
        }
    }
}

pub async fn run(args: McpArgs) -> Result<()> {
    // Logs go to stderr: stdout carries the protocol.
    let client = args.client.client()?;
    let key = client.key()?.to_text().to_string();
    let bridge = Bridge {
        url: client.mcp_url(),
        key,
        upstream: Arc::new(OnceCell::new()),
    };
    let service = bridge
        .serve(rmcp::transport::io::stdio())
        .await
        .context("starting the stdio MCP server")?;
    service.waiting().await.context("stdio MCP session")?;
    Ok(())
}

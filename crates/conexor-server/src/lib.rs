//! The Conexor server: control plane, MCP endpoint and REST API.
//!
//! The major components are:
//! - [`state`]: shared state built once at start (store, caches, limits).
//! - [`auth`]: bearer-key authentication of every request, and the short-lived
//!   cache of unwrapped workspace master keys.
//! - [`gateway`]: the chokepoint every data-touching call passes through.
//! - [`mcp`]: the MCP tools over Streamable HTTP at `/mcp`.
//! - [`stateless`]: a well-formed stateless `tools/call` answered without an
//!   rmcp service per request.
//! - [`api`]: the REST API under `/api/v1` for the CLI.
//! - [`pools`]: open source pools keyed by connection and secret version.
//!
//! Architecture invariant: this is the only crate that knows HTTP, MCP JSON
//! and the REST API's JSON shapes.

pub mod agents;
pub mod agents_api;
pub mod api;
pub mod audit;
pub mod audit_api;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod gates;
pub mod gateway;
mod hints;
pub mod listen;
pub mod logging;
pub mod mcp;
pub mod pools;
pub mod schemas;
pub mod secrets_api;
pub mod sessions;
pub mod state;
pub mod stateless;
pub mod tools;

pub use config::{Config, LimitsConfig, Listen};
pub use state::{AppState, Started};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Largest request body accepted anywhere (a 10 MB SQL text is refused here).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Largest body of a request that saves or tests a connection: a sealed
/// REST connection carries its OpenAPI description (at most
/// `conexor_connectors::rest::openapi::MAX_SPEC_BYTES`, then sealed).
pub const MAX_SPEC_BODY_BYTES: usize = 48 * 1024 * 1024;

/// Builds the whole HTTP application.
pub fn router(state: Arc<AppState>, shutdown: CancellationToken) -> Router {
    router_with(state, shutdown, mcp::McpHandler::new)
}

/// [`router`] with another MCP handler behind the same stack (authentication,
/// Host guard, sessions, the stateless path): the conformance suite's
/// fixtures (tests/src/conformance.rs) wrap [`mcp::McpHandler`] this way.
pub fn router_with<H, F>(state: Arc<AppState>, shutdown: CancellationToken, handler: F) -> Router
where
    H: rmcp::ServerHandler + Send + Sync + 'static,
    F: Fn(Arc<AppState>) -> H + Send + Sync + 'static,
{
    let mcp_config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(state.config.allowed_hosts.clone())
        .with_cancellation_token(shutdown.child_token())
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        // A stateless call whose handler sends nothing before its result is
        // answered as one JSON body instead of an SSE stream (one write, no
        // stream task); a call that sends progress first still streams.
        .with_json_response(true);
    let handler_state = state.clone();
    let mcp = SharedMcp(Arc::new(StreamableHttpService::new(
        move || Ok(handler(handler_state.clone())),
        state.sessions.manager(),
        mcp_config,
    )));
    let mcp_routes = Router::new()
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            mcp::record_unreadable_calls,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            stateless::tools_call,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), bind_session))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    let keyed = api::keyed_routes()
        .merge(agents_api::routes())
        .merge(tools::routes())
        .merge(secrets_api::routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    let api = Router::new().merge(keyed).merge(api::admin_routes());
    Router::new()
        .merge(dashboard::routes())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route(conexor_protocol::PATH, get(agents::socket))
        .nest("/api/v1", api)
        .merge(mcp_routes)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), check_host))
        .with_state(state)
}

/// rmcp's Streamable HTTP service, shared rather than cloned. axum clones a
/// route's service for every request, and every middleware layer clones the
/// stack below it; a clone of rmcp's service copies its configuration (the
/// allowed hosts, a `Vec<String>`). Profiled, those clones were about 9 % of
/// a small call's instructions; behind an `Arc` each is a reference count.
struct SharedMcp<H: rmcp::ServerHandler + Send + Sync + 'static>(
    Arc<
        StreamableHttpService<
            H,
            rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
        >,
    >,
);

impl<H: rmcp::ServerHandler + Send + Sync + 'static> Clone for SharedMcp<H> {
    fn clone(&self) -> Self {
        SharedMcp(self.0.clone())
    }
}

impl<H: rmcp::ServerHandler + Send + Sync + 'static> tower::Service<Request> for SharedMcp<H> {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let service = self.0.clone();
        Box::pin(async move { Ok(service.handle(request).await.into_response()) })
    }
}

/// The DNS-rebinding guard on every route: the request's `Host` (or, on
/// HTTP/2, its `:authority`) must name one of `allowed_hosts` (an entry
/// without a port accepts any port). An empty list accepts any host.
async fn check_host(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let allowed = &state.config.allowed_hosts;
    if allowed.is_empty() {
        return next.run(request).await;
    }
    let presented = match request.headers().get(axum::http::header::HOST) {
        Some(value) => value.to_str().ok().and_then(authority),
        None => request
            .uri()
            .authority()
            .map(|a| (normalize_host(a.host()), a.port_u16())),
    };
    let Some((host, port)) = presented else {
        return error::ApiError::BadRequest("missing or malformed Host header".into())
            .into_response();
    };
    let ok = allowed.iter().filter_map(|a| authority(a)).any(|(h, p)| {
        h == host
            && match p {
                Some(p) => port == Some(p),
                None => true,
            }
    });
    if !ok {
        tracing::warn!(
            "Refused a request whose Host is not an allowed host name (possible DNS rebinding)."
        );
        return error::ApiError::Forbidden(
            "this server does not answer to that Host name (DNS-rebinding guard); \
             its operator can allow it with --allowed-host",
        )
        .into_response();
    }
    next.run(request).await
}

/// A host name (lower case, IPv6 without brackets) and optional port.
fn authority(text: &str) -> Option<(String, Option<u16>)> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match axum::http::uri::Authority::try_from(text) {
        Ok(a) => Some((normalize_host(a.host()), a.port_u16())),
        // A bare IPv6 address such as `::1` in the allow-list.
        Err(_) => text
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|_| (normalize_host(text), None)),
    }
}

fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"error": "store unavailable"})),
        )
            .into_response(),
    }
}

/// Binds an MCP session to the key that opened it: a request that presents
/// another key's session id is refused, as is any request after its key is
/// revoked (authentication runs on every request). A session that was
/// closed, reaped when idle, or pushed out by the per-key limit is unknown:
/// 404, and the client initializes again, as the MCP spec says.
async fn bind_session(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    const SESSION: &str = "mcp-session-id";
    let Some(principal) = request.extensions().get::<auth::Principal>().cloned() else {
        return error::ApiError::Unauthenticated.into_response();
    };
    if let Some(session) = request.headers().get(SESSION) {
        let Ok(session) = session.to_str() else {
            return error::ApiError::BadRequest("malformed Mcp-Session-Id header".into())
                .into_response();
        };
        match state.sessions.owner(session).await {
            sessions::Owner::Key(owner) if owner != principal.key_id => {
                return error::ApiError::Forbidden("this MCP session belongs to another API key")
                    .into_response();
            }
            sessions::Owner::Key(_) => {}
            sessions::Owner::Unknown => {
                return error::ApiError::NotFound(
                    "unknown or expired MCP session (closed, idle too long, or past the key's \
                     session limit); send initialize again"
                        .into(),
                )
                .into_response();
            }
        }
        if request.method() == axum::http::Method::DELETE {
            state.sessions.forget(session);
        }
    }
    let deleting = request.method() == axum::http::Method::DELETE;
    let mut response = next.run(request).await;
    // rmcp answers a session DELETE with 202, which the official SDKs report as
    // "Session termination failed: 202": the session is gone, so say 204.
    if deleting && response.status() == axum::http::StatusCode::ACCEPTED {
        *response.status_mut() = axum::http::StatusCode::NO_CONTENT;
    }
    if let Some(session) = response
        .headers()
        .get(SESSION)
        .and_then(|v| v.to_str().ok())
    {
        state.sessions.bind(session, &principal.key_id).await;
    }
    response
}

/// Serves on an already-bound listener until `shutdown` resolves, as in
/// mini-redis: the binary binds the real port, tests bind port 0.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with(listener, state, shutdown, mcp::McpHandler::new).await
}

/// [`serve`] with another MCP handler ([`router_with`]).
pub async fn serve_with<H, F>(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    handler: F,
) -> anyhow::Result<()>
where
    H: rmcp::ServerHandler + Send + Sync + 'static,
    F: Fn(Arc<AppState>) -> H + Send + Sync + 'static,
{
    let timeout = state.config.header_read_timeout;
    let mut server = axum_server::Server::<std::net::SocketAddr>::from_listener(listener).acceptor(
        listen::FirstRequestDeadline::new(
            axum_server::accept::DefaultAcceptor,
            timeout,
            state.config.write_stall_timeout,
        ),
    );
    listen::tune(server.http_builder(), timeout);
    let token = CancellationToken::new();
    let handle = shutdown_handle(token.clone(), shutdown);
    let app = router_with(state.clone(), token.clone(), handler);
    let sweeper = spawn_sweeper(state.clone(), token.clone());
    let result = server
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .await;
    token.cancel();
    sweeper.abort();
    state.stopping.cancel();
    state.pools.close_all().await;
    // Give the audit writer a moment to seal its chains before the store closes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    state.store.close().await;
    result.map_err(Into::into)
}

/// Serves HTTPS with the given PEM certificate chain and key.
pub async fn serve_tls(
    addr: std::net::SocketAddr,
    cert: &std::path::Path,
    key: &std::path::Path,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await?;
    let timeout = state.config.header_read_timeout;
    let mut server = axum_server::bind_rustls(addr, tls).map(|rustls| {
        rustls
            .handshake_timeout(timeout)
            .acceptor(listen::FirstRequestDeadline::new(
                axum_server::accept::DefaultAcceptor,
                timeout,
                state.config.write_stall_timeout,
            ))
    });
    listen::tune(server.http_builder(), timeout);
    let token = CancellationToken::new();
    let handle = shutdown_handle(token.clone(), shutdown);
    let app = router(state.clone(), token.clone());
    let sweeper = spawn_sweeper(state.clone(), token.clone());
    let result = server
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .await;
    token.cancel();
    sweeper.abort();
    state.stopping.cancel();
    state.pools.close_all().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    result.map_err(Into::into)
}

/// When `shutdown` resolves: cancel the MCP streams and stop gracefully
/// (open connections get 10 s to finish).
fn shutdown_handle(
    token: CancellationToken,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> axum_server::Handle<std::net::SocketAddr> {
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        token.cancel();
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    handle
}

fn spawn_sweeper(state: Arc<AppState>, token: CancellationToken) -> tokio::task::JoinHandle<()> {
    if let Some(dir) = state.config.tools_dir.clone() {
        let every = state.config.tools_poll;
        tools::spawn_directory_watcher(state.clone(), dir, every, token.clone());
    }
    // Idle MCP sessions are looked for at least twice per idle timeout.
    let every =
        (state.sessions.idle() / 2).clamp(Duration::from_millis(50), Duration::from_secs(15));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(15));
        let mut sessions = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tick.tick() => state.sweep().await,
                _ = sessions.tick() => state.sessions.sweep().await,
            }
        }
    })
}

//! The Conexor server: control plane, MCP endpoint and REST API.
//!
//! The major components are:
//! - [`state`]: shared state built once at start (store, caches, limits).
//! - [`auth`]: bearer-key authentication of every request, and the short-lived
//!   cache of unwrapped workspace master keys.
//! - [`gateway`]: the chokepoint every data-touching call passes through.
//! - [`mcp`]: the MCP tools over Streamable HTTP at `/mcp`.
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
pub mod error;
pub mod gateway;
pub mod mcp;
pub mod pools;
pub mod state;
pub mod tools;

pub use config::{Config, LimitsConfig, Listen};
pub use state::{AppState, Started};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Most MCP session bindings remembered at once.
const MAX_SESSION_BINDINGS: usize = 100_000;

/// Largest request body accepted anywhere (a 10 MB SQL text is refused here).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Builds the whole HTTP application.
pub fn router(state: Arc<AppState>, shutdown: CancellationToken) -> Router {
    let mcp_config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(state.config.allowed_hosts.clone())
        .with_cancellation_token(shutdown.child_token())
        .with_max_request_body_bytes(MAX_BODY_BYTES);
    let handler_state = state.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(mcp::McpHandler::new(handler_state.clone())),
        Arc::new(LocalSessionManager::default()),
        mcp_config,
    );
    let mcp_routes = Router::new()
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            mcp::record_unreadable_calls,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), bind_session))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    let keyed = api::keyed_routes()
        .merge(agents_api::routes())
        .merge(tools::routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    let api = Router::new().merge(keyed).merge(api::admin_routes());
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route(conexor_protocol::PATH, get(agents::socket))
        .nest("/api/v1", api)
        .merge(mcp_routes)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
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
/// revoked (authentication runs on every request).
async fn bind_session(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    const SESSION: &str = "mcp-session-id";
    let Some(principal) = request.extensions().get::<auth::Principal>().cloned() else {
        return error::ApiError::Unauthenticated.into_response();
    };
    if let Some(session) = request.headers().get(SESSION).and_then(|v| v.to_str().ok()) {
        let owner = state
            .sessions
            .lock()
            .ok()
            .and_then(|s| s.get(session).cloned());
        match owner {
            Some(owner) if owner != principal.key_id => {
                return error::ApiError::Forbidden("this MCP session belongs to another API key")
                    .into_response();
            }
            Some(_) => {}
            // Not opened through this server (or forgotten): the client must
            // initialize again, as the MCP spec says for an unknown session.
            None => {
                return error::ApiError::NotFound(
                    "unknown MCP session; send initialize again".into(),
                )
                .into_response();
            }
        }
        if request.method() == axum::http::Method::DELETE
            && let Ok(mut sessions) = state.sessions.lock()
        {
            sessions.remove(session);
        }
    }
    let response = next.run(request).await;
    if let Some(session) = response
        .headers()
        .get(SESSION)
        .and_then(|v| v.to_str().ok())
        && let Ok(mut sessions) = state.sessions.lock()
    {
        // Bounded: past the cap, forget every binding; those sessions are
        // refused on their next request and their clients initialize again.
        if sessions.len() >= MAX_SESSION_BINDINGS && !sessions.contains_key(session) {
            sessions.clear();
        }
        sessions
            .entry(session.to_owned())
            .or_insert(principal.key_id.clone());
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
    let token = CancellationToken::new();
    let app = router(state.clone(), token.clone());
    let sweeper = spawn_sweeper(state.clone(), token.clone());
    let stop = token.clone();
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        stop.cancel();
    })
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
    let token = CancellationToken::new();
    let app = router(state.clone(), token.clone());
    let sweeper = spawn_sweeper(state.clone(), token.clone());
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    let stop = token.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    let result = axum_server::bind_rustls(addr, tls)
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

fn spawn_sweeper(state: Arc<AppState>, token: CancellationToken) -> tokio::task::JoinHandle<()> {
    if let Some(dir) = state.config.tools_dir.clone() {
        let every = state.config.tools_poll;
        tools::spawn_directory_watcher(state.clone(), dir, every, token.clone());
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(15));
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tick.tick() => state.sweep().await,
            }
        }
    })
}

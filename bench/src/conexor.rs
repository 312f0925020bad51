//! The Conexor server under test, in the bench process, set up as the
//! integration tests do it (`tests/src/lib.rs`): `AppState::start` and
//! `conexor_server::serve` on 127.0.0.1:0, a workspace created and a
//! PostgreSQL connection added through `conexor_client` (sealed client-side,
//! test-before-save). Requests use the workspace's first key (admin scope,
//! which MCP and REST both accept; scope does not change the request path).
//!
//! Server settings a scenario may vary live in [`ServerOptions`]; the runner
//! starts one server per distinct set of options.

use crate::targets::ConexorEndpoint;
use anyhow::{Context, Result, anyhow};
use conexor_client::Client;
use conexor_server::{AppState, Config};
use std::sync::Arc;

/// The connection name the bench adds.
pub const CONNECTION: &str = "shop";

/// Server settings a scenario may change. Defaults are the server's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerOptions {
    /// The audit chain on or off (`AppState::skip_audit_for_benchmark`, which
    /// exists only under conexor-server's `bench` feature: a real server
    /// always audits).
    pub audit: bool,
    /// Commits fsynced (power-loss durability) or not (process-crash durability).
    pub fsync: bool,
    /// PostgreSQL sessions per connection pool (`per_connection_concurrency`);
    /// `None` keeps the server's default.
    pub pool_size: Option<u32>,
    /// Serve the connection through an on-premise agent (run in this
    /// process, over a loopback WebSocket) instead of direct mode.
    pub agent: bool,
}

impl ServerOptions {
    fn apply(&self, config: &mut Config) {
        if !self.fsync {
            config.durability = conexor_server::config::Durability::ProcessCrash;
        }
        if let Some(n) = self.pool_size {
            config.limits.per_connection_concurrency = n;
        }
    }

    pub fn describe(&self, defaults: &Config) -> String {
        let pool = self
            .pool_size
            .unwrap_or(defaults.limits.per_connection_concurrency);
        format!(
            "{}audit {} ({} durability), pool {pool} PostgreSQL sessions, per-key concurrency {}",
            if self.agent {
                "agent mode (in-process agent over loopback WebSocket), "
            } else {
                ""
            },
            if self.audit { "on" } else { "off" },
            if self.fsync {
                "power-loss"
            } else {
                "process-crash"
            },
            defaults.limits.per_key_concurrency
        )
    }
}

/// A running in-process server; stops when dropped.
pub struct Server {
    pub endpoint: ConexorEndpoint,
    /// The server's state, for counters (key derivations).
    pub state: Arc<AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    agent: Option<tokio_util::sync::CancellationToken>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// PBKDF2 key derivations the server has run so far (each ~60 ms of CPU).
    pub fn derivations(&self) -> u64 {
        self.state.keys.derivations()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(agent) = self.agent.take() {
            agent.cancel();
        }
    }
}

/// The settings a server starts with before [`ServerOptions`] apply.
pub fn base_config(data_dir: std::path::PathBuf) -> Config {
    Config::new(data_dir)
}

/// Starts a server, creates a workspace and adds `pg_url` as [`CONNECTION`].
pub async fn start(options: ServerOptions, pg_url: &str) -> Result<Server> {
    let dir = tempfile::tempdir().context("temp dir for the server's store")?;
    let admin_token = format!("cxadm_{}", conexor_crypto::random_base62(40));
    let mut config = base_config(dir.path().join("data"));
    config.admin_token = Some(admin_token.clone());
    options.apply(&mut config);
    let started = AppState::start(config)
        .await
        .context("starting the server state")?;
    if !options.audit {
        started.state.skip_audit_for_benchmark();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding 127.0.0.1:0")?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = started.state.clone();
    tokio::spawn(conexor_server::serve(listener, started.state, async move {
        let _ = stopped.await;
    }));
    let mut server = Server {
        endpoint: ConexorEndpoint {
            base_url: base_url.clone(),
            // Filled in once the workspace exists.
            mcp_url: String::new(),
            key: String::new(),
            connection: CONNECTION.to_owned(),
        },
        state,
        stop: Some(stop),
        agent: None,
        _dir: dir,
    };

    let anonymous = Client::new(&base_url, None, false)?;
    let (_, key) = anonymous
        .create_workspace(&admin_token, "bench", "bench admin")
        .await
        .context("creating the workspace")?;
    let key_text = key.to_text().to_string();
    let client = Client::new(&base_url, Some(key), false)?;
    if options.agent {
        let state_dir = server._dir.path().join("agent");
        server.agent = Some(start_agent(&client, &base_url, &state_dir, pg_url).await?);
    } else {
        add_connection(&client, CONNECTION, pg_url)
            .await
            .context("adding the PostgreSQL connection")?;
    }
    server.endpoint.mcp_url = client.mcp_url();
    server.endpoint.key = key_text;
    Ok(server)
}

/// As `conexor_tests::add_connection`: the spec is sealed on the client.
async fn add_connection(client: &Client, name: &str, url: &str) -> Result<()> {
    let (kind, spec) =
        conexor_connectors::ConnectionSpec::from_url(url).map_err(|e| anyhow!("{e}"))?;
    let plain = serde_json::to_vec(&spec)?;
    let body = client.sealed_connection(name, kind, &plain, false).await?;
    client.post("connections", body).await?;
    Ok(())
}

/// Creates an agent, runs it in this process against `pg_url` and waits
/// until its connection is online with schema.
async fn start_agent(
    client: &Client,
    base_url: &str,
    state_dir: &std::path::Path,
    pg_url: &str,
) -> Result<tokio_util::sync::CancellationToken> {
    let created = client
        .post("agents", serde_json::json!({"name": "bench"}))
        .await
        .context("creating the agent")?;
    let token = created["token"].as_str().context("no token")?;
    std::fs::create_dir_all(state_dir)?;
    std::fs::write(state_dir.join("pg.url"), pg_url)?;
    let text = format!(
        "server = \"{base_url}\"\ntoken = \"{token}\"\nstate_dir = \"state\"\n[limits]\nmax_in_flight = 64\n[[connections]]\nname = \"{CONNECTION}\"\nurl_file = \"pg.url\"\n"
    );
    let settings = conexor_agent::Settings::parse(&text, state_dir).map_err(|e| anyhow!("{e}"))?;
    let stop = tokio_util::sync::CancellationToken::new();
    let run = stop.clone();
    tokio::spawn(async move {
        if let Err(e) = conexor_agent::run(settings, run).await {
            eprintln!("bench: agent stopped: {e}");
        }
    });
    for _ in 0..200 {
        let listed = client.get("connections").await?;
        let online = listed["connections"].as_array().is_some_and(|all| {
            all.iter().any(|c| {
                c["name"] == CONNECTION
                    && c["online"] == true
                    && c["tables"].as_u64().unwrap_or(0) > 0
            })
        });
        if online {
            return Ok(stop);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(anyhow!("the agent's connection never came online"))
}

//! `conexor server` and `conexor demo`.

use crate::sample;
use anyhow::{Context, Result, bail};
use clap::Args;
use conexor_server::{AppState, Config, LimitsConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Every server setting; each has a flag and an environment variable.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// TOML file with any of these settings by their long names (flags and environment win)
    #[arg(long, env = "CONEXOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on
    #[arg(long, env = "CONEXOR_LISTEN", default_value = "127.0.0.1:7400")]
    pub listen: SocketAddr,
    /// Directory for the store (created 0700)
    #[arg(long, env = "CONEXOR_DATA_DIR", default_value = "./conexor-data")]
    pub data_dir: PathBuf,
    /// TLS certificate chain (PEM); serves HTTPS with --tls-key
    #[arg(long, env = "CONEXOR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, env = "CONEXOR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Host names this server answers to on every route (DNS-rebinding guard; others get 403);
    /// `name` or `name:port`; repeat or comma-separate
    #[arg(long = "allowed-host", env = "CONEXOR_ALLOWED_HOSTS", value_delimiter = ',', default_values = ["localhost", "127.0.0.1", "::1"])]
    pub allowed_hosts: Vec<String>,
    /// Admin token for creating workspaces (generated and printed once when unset)
    #[arg(long, env = "CONEXOR_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Log filter (error, warn, info, debug, trace, or a tracing filter). Libraries are capped
    /// whatever it says (sqlx and rmcp off, others at warn): no level logs rows, SQL or secrets
    #[arg(long, env = "CONEXOR_LOG", default_value = "info")]
    pub log_level: String,
    /// Log as JSON lines
    #[arg(long, env = "CONEXOR_LOG_JSON")]
    pub log_json: bool,
    /// Most rows a call may return
    #[arg(long, env = "CONEXOR_MAX_ROWS", default_value_t = 10_000)]
    pub max_rows: u64,
    /// Rows returned when a call does not say
    #[arg(long, env = "CONEXOR_DEFAULT_ROWS", default_value_t = 200)]
    pub default_rows: u64,
    /// Most bytes of encoded rows per call
    #[arg(long, env = "CONEXOR_MAX_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_bytes: u64,
    /// Statement timeout in seconds
    #[arg(long, env = "CONEXOR_STATEMENT_TIMEOUT", default_value_t = 15)]
    pub statement_timeout: u64,
    /// Concurrent tool calls per API key
    #[arg(long, env = "CONEXOR_PER_KEY_CONCURRENCY", default_value_t = 16)]
    pub per_key_concurrency: usize,
    /// Concurrent sessions per connection
    #[arg(long, env = "CONEXOR_PER_CONNECTION_CONCURRENCY", default_value_t = 4)]
    pub per_connection_concurrency: u32,
    /// Memory, in MiB, that results in flight may use across all calls: each
    /// read is counted at 3 × --max-bytes (driver buffers, values, the answer);
    /// reads beyond the budget wait, then are refused
    #[arg(long, env = "CONEXOR_MEMORY_BUDGET_MIB", default_value_t = 256)]
    pub memory_budget_mib: u64,
    /// Seconds an unwrapped workspace key and an idle pool stay in memory
    #[arg(long, env = "CONEXOR_KEY_CACHE_TTL", default_value_t = 300)]
    pub key_cache_ttl: u64,
    /// Directory under which SQLite connections may point; repeat or comma-separate
    #[arg(
        long = "allow-sqlite-dir",
        env = "CONEXOR_SQLITE_DIRS",
        value_delimiter = ','
    )]
    pub sqlite_dirs: Vec<PathBuf>,
    /// Refuse connections to loopback addresses (multi-tenant deployments)
    #[arg(long, env = "CONEXOR_DENY_LOOPBACK")]
    pub deny_loopback: bool,
    /// Refuse connections to private-network addresses (multi-tenant deployments)
    #[arg(long, env = "CONEXOR_DENY_PRIVATE")]
    pub deny_private: bool,
    /// Sign an audit checkpoint after this many records (0: only by time)
    #[arg(long, env = "CONEXOR_AUDIT_CHECKPOINT_RECORDS", default_value_t = 1000)]
    pub audit_checkpoint_records: u64,
    /// Sign an audit checkpoint at least this often, in seconds, even when idle
    #[arg(long, env = "CONEXOR_AUDIT_CHECKPOINT_SECONDS", default_value_t = 60)]
    pub audit_checkpoint_seconds: u64,
    /// What a committed audit record survives: `power-loss` (fsync every commit) or
    /// `process-crash` (faster; a power loss can drop the last commits)
    #[arg(long, env = "CONEXOR_DURABILITY", default_value = "power-loss", value_parser = ["power-loss", "process-crash"])]
    pub durability: String,
    /// Checkpoint signing key, 64 hex (default: audit-signing.key in the data directory, created at first start)
    #[arg(long, env = "CONEXOR_AUDIT_SIGNING_KEY", hide_env_values = true)]
    pub audit_signing_key: Option<String>,
    /// Directory of named-query tools files, one per workspace (<workspace id>.toml); reloaded on change
    #[arg(long, env = "CONEXOR_TOOLS_DIR")]
    pub tools_dir: Option<PathBuf>,
    /// Seconds between checks of the agents' heartbeat (three silent intervals end an agent's session)
    #[arg(long, env = "CONEXOR_AGENT_HEARTBEAT", default_value_t = 2)]
    pub agent_heartbeat: u64,
    /// Seconds an MCP session may stay unused before it is closed (its client then gets 404
    /// and initializes again)
    #[arg(long, env = "CONEXOR_MCP_SESSION_IDLE", default_value_t = 1800)]
    pub mcp_session_idle: u64,
    /// Most live MCP sessions per API key; opening one more closes that key's least recently
    /// used session
    #[arg(long, env = "CONEXOR_MCP_SESSIONS_PER_KEY", default_value_t = 64)]
    pub mcp_sessions_per_key: usize,
    /// Seconds a connection has to finish its TLS handshake and send a request's headers
    /// before it is closed
    #[arg(long, env = "CONEXOR_HEADER_TIMEOUT", default_value_t = 10)]
    pub header_timeout: u64,
    /// Seconds a client may leave its answer unread (the connection's writes make no
    /// progress) before its connection is closed and the answer freed
    #[arg(long, env = "CONEXOR_WRITE_TIMEOUT", default_value_t = 30)]
    pub write_timeout: u64,
}

impl ServerArgs {
    fn config(&self) -> Config {
        let mut config = Config::new(self.data_dir.clone());
        config.allowed_hosts = self.allowed_hosts.clone();
        config.admin_token = self.admin_token.clone();
        config.limits = LimitsConfig {
            max_rows: self.max_rows.max(1),
            default_rows: self.default_rows.clamp(1, self.max_rows.max(1)),
            max_bytes: self.max_bytes.max(1024),
            statement_timeout: Duration::from_secs(self.statement_timeout.max(1)),
            per_key_concurrency: self.per_key_concurrency.max(1),
            per_connection_concurrency: self.per_connection_concurrency.max(1),
            memory_budget: self.memory_budget_mib.max(1).saturating_mul(1024 * 1024),
            ..LimitsConfig::default()
        };
        config.key_cache_ttl = Duration::from_secs(self.key_cache_ttl.max(1));
        config.sqlite_dirs = self.sqlite_dirs.clone();
        config.deny_loopback = self.deny_loopback;
        config.deny_private = self.deny_private;
        config.audit_checkpoint_records = self.audit_checkpoint_records;
        config.audit_checkpoint_seconds = self.audit_checkpoint_seconds.max(1);
        config.audit_signing_key = self.audit_signing_key.clone();
        config.tools_dir = self.tools_dir.clone();
        config.agent_heartbeat = Duration::from_secs(self.agent_heartbeat.clamp(1, 60));
        config.mcp_session_idle = Duration::from_secs(self.mcp_session_idle.max(1));
        config.mcp_sessions_per_key = self.mcp_sessions_per_key.max(1);
        config.header_read_timeout = Duration::from_secs(self.header_timeout.clamp(1, 3600));
        config.write_stall_timeout = Duration::from_secs(self.write_timeout.clamp(1, 3600));
        config.durability = if self.durability == "process-crash" {
            conexor_store::Durability::ProcessCrash
        } else {
            conexor_store::Durability::Full
        };
        config
    }
}

/// Logging for `server`, `demo` and `agent`: the operator's filter, capped
/// for every library by [`conexor_server::logging::ceiling`] so that no
/// level lets rows, SQL text, parameter values or secrets into the log.
pub(crate) fn init_logging(filter: &str, json: bool) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::FilterExt;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let (operator, complaint) = conexor_server::logging::operator_filter(filter);
    let filter = operator.and(conexor_server::logging::ceiling());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .with_filter(filter)
            .boxed()
    };
    let _ = tracing_subscriber::registry().with(layer).try_init();
    if let Some(complaint) = complaint {
        tracing::warn!("{complaint}");
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

pub async fn server(args: ServerArgs) -> Result<()> {
    init_logging(&args.log_level, args.log_json);
    let started = AppState::start(args.config())
        .await
        .context("starting the server")?;
    if let Some(token) = &started.new_admin_token {
        eprintln!(
            "\nAdmin token (shown once; needed to create workspaces with `conexor init`):\n\n    {token}\n"
        );
    }
    let scheme = if args.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(listen = %args.listen, "Conexor listening.");
    eprintln!("MCP endpoint: {scheme}://{}/mcp", args.listen);
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            conexor_server::serve_tls(args.listen, cert, key, started.state, shutdown_signal())
                .await
        }
        _ => {
            let listener = tokio::net::TcpListener::bind(args.listen)
                .await
                .with_context(|| format!("could not listen on {}", args.listen))?;
            conexor_server::serve(listener, started.state, shutdown_signal()).await
        }
    }
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Address to listen on
    #[arg(long, env = "CONEXOR_LISTEN", default_value = "127.0.0.1:7400")]
    pub listen: SocketAddr,
    /// Directory for the demo's store and sample database
    #[arg(long, env = "CONEXOR_DATA_DIR", default_value = "./conexor-demo")]
    pub data_dir: PathBuf,
    /// Delete the data directory first and start afresh
    #[arg(long)]
    pub reset: bool,
    /// The demo workspace's key, to reuse an earlier demo
    #[arg(long = "api-key", env = "CONEXOR_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Log filter (libraries capped as for `conexor server`)
    #[arg(long, env = "CONEXOR_LOG", default_value = "warn")]
    pub log_level: String,
    /// An admin token for this demo server, to create more workspaces with
    /// `conexor init` (by default a random one nobody is told)
    #[arg(long, env = "CONEXOR_DEMO_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

const DEMO_WORKSPACE: &str = "demo_workspace";

pub async fn demo(args: DemoArgs) -> Result<()> {
    init_logging(&args.log_level, false);
    if args.reset && args.data_dir.exists() {
        std::fs::remove_dir_all(&args.data_dir)
            .with_context(|| format!("removing {}", args.data_dir.display()))?;
    }
    let samples = args.data_dir.join("samples");
    let sample_db = samples.join("shop.db");
    let admin_token = match &args.admin_token {
        Some(token) if token.len() < 32 => {
            bail!("the admin token must be at least 32 characters")
        }
        Some(token) => token.clone(),
        None => format!("cxadm_{}", conexor_crypto::random_base62(40)),
    };
    let mut config = ServerArgs {
        config: None,
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        tls_cert: None,
        tls_key: None,
        allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
        admin_token: Some(admin_token.clone()),
        log_level: args.log_level.clone(),
        log_json: false,
        max_rows: 10_000,
        default_rows: 200,
        max_bytes: 4 * 1024 * 1024,
        statement_timeout: 15,
        per_key_concurrency: 16,
        per_connection_concurrency: 4,
        memory_budget_mib: 256,
        key_cache_ttl: 300,
        sqlite_dirs: vec![samples.clone()],
        deny_loopback: false,
        deny_private: false,
        audit_checkpoint_records: 1000,
        audit_checkpoint_seconds: 60,
        audit_signing_key: None,
        durability: "power-loss".into(),
        tools_dir: None,
        agent_heartbeat: 2,
        mcp_session_idle: 1800,
        mcp_sessions_per_key: 64,
        header_timeout: 10,
        write_timeout: 30,
    }
    .config();
    std::fs::create_dir_all(&samples).with_context(|| format!("creating {}", samples.display()))?;
    config.sqlite_dirs = vec![samples.clone()];
    eprintln!("Preparing the sample shop database…");
    sample::ensure(&sample_db).await?;
    let started = AppState::start(config)
        .await
        .context("starting the demo server")?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "could not listen on {} (is another demo running? use --listen)",
                args.listen
            )
        })?;
    let local = listener.local_addr()?;
    let url = format!("http://{local}");
    let state = started.state.clone();
    let server = tokio::spawn(conexor_server::serve(
        listener,
        state.clone(),
        shutdown_signal(),
    ));

    let existing = state.store.setting(DEMO_WORKSPACE).await?;
    let key_text = match (existing, &args.api_key) {
        (Some(_), Some(key)) => {
            let client = conexor_client::Client::new(
                &url,
                Some(
                    conexor_crypto::ApiKey::parse(key.trim())
                        .map_err(|e| anyhow::anyhow!("CONEXOR_API_KEY is not a valid key: {e}"))?,
                ),
                false,
            )?;
            client
                .unlock()
                .await
                .context("CONEXOR_API_KEY does not open this demo's workspace")?;
            eprintln!("Reusing the demo workspace in {}.", args.data_dir.display());
            None
        }
        (Some(_), None) => {
            server.abort();
            bail!(
                "{} already holds a demo workspace, and its key is never stored there.\n\
                 Set CONEXOR_API_KEY to the key printed by the first run to reuse it, or pass --reset to start afresh.",
                args.data_dir.display()
            );
        }
        (None, _) => {
            let client = conexor_client::Client::new(&url, None, false)?;
            let (workspace, key) = client
                .create_workspace(&admin_token, "demo", "demo key")
                .await?;
            let client = conexor_client::Client::new(&url, Some(key), false)?;
            let spec = serde_json::json!({"path": sample_db.canonicalize()?.to_string_lossy()});
            let body = client
                .sealed_connection(
                    "shop",
                    conexor_types::ConnectionKind::Sqlite,
                    spec.to_string().as_bytes(),
                    false,
                )
                .await?;
            client
                .post("connections", body)
                .await
                .context("connecting the sample database")?;
            state
                .store
                .put_setting(DEMO_WORKSPACE, workspace.as_str())
                .await?;
            Some(client.key()?.to_text())
        }
    };
    print_demo(&url, key_text.as_deref().map(|s| s.as_str()));
    match server.await {
        Ok(result) => result,
        Err(e) => bail!("server task failed: {e}"),
    }
}

fn print_demo(url: &str, key: Option<&str>) {
    let mcp = format!("{url}/mcp");
    println!("\nConexor demo is running.\n");
    println!("  MCP URL:  {mcp}");
    match key {
        Some(key) => {
            println!("  API key:  {key}");
            println!("\n  This key is shown once and is not stored anywhere on this machine.");
            println!("  It is a throwaway demo key: do not reuse it for real data.");
            println!("  To restart this demo later: CONEXOR_API_KEY=<key> conexor demo\n");
        }
        None => println!("  API key:  the one in CONEXOR_API_KEY\n"),
    }
    let shown = key.unwrap_or("${CONEXOR_API_KEY}");
    println!("Claude Desktop / Cursor (claude_desktop_config.json, .cursor/mcp.json):");
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "mcpServers": {"conexor-demo": {"command": crate::tools_cmds::conexor_command(), "args": ["mcp"], "env": {"CONEXOR_URL": url, "CONEXOR_API_KEY": shown}}}
        }))
        .unwrap_or_default()
    );
    println!("\nVS Code (.vscode/mcp.json):");
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "servers": {"conexor-demo": {"type": "http", "url": mcp, "headers": {"Authorization": format!("Bearer {shown}")}}}
        }))
        .unwrap_or_default()
    );
    println!(
        "\nPython (pip install 'mcp>=2.3'; save as conexor_demo.py, run with CONEXOR_API_KEY set):"
    );
    println!("{}", python_snippet(&mcp));
    println!("# end of snippet");
    println!(
        "Try: CONEXOR_API_KEY=… conexor query --connection shop \"SELECT * FROM revenue_by_country\""
    );
    println!("Press Ctrl-C to stop.");
}

/// A runnable Python MCP SDK (2.x) client for this server; the key comes from
/// the environment, never from the snippet.
pub fn python_snippet(mcp_url: &str) -> String {
    format!(
        r#"import asyncio, os
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

async def main():
    http = httpx2.AsyncClient(headers={{"Authorization": "Bearer " + os.environ["CONEXOR_API_KEY"]}})
    async with http, Client(streamable_http_client("{mcp_url}", http_client=http)) as client:
        result = await client.call_tool("run_query", {{"connection": "shop",
            "sql": "SELECT country, COUNT(*) AS customers FROM customers GROUP BY country ORDER BY 2 DESC"}})
        print(result.content[0].text)

asyncio.run(main())"#
    )
}

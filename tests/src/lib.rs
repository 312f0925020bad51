//! Test support for Conexor's integration tests: an in-process server on a
//! free loopback port (as in mini-redis), workspaces created through the
//! real client code, a capture of every log line, and the private database
//! servers that `scripts/test-env.sh` starts (their URLs come from the
//! environment; a missing one fails the test and names the server).

use conexor_client::Client;
use conexor_server::{AppState, Config};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// Every log line written by any server in this test process.
pub fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| Mutex::new(Vec::new()))
}

#[derive(Clone, Copy)]
struct LogSink;
impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = logs().lock() {
            logs.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        // The servers' own filter: debug, with the libraries capped as in
        // `conexor server` (no level logs rows, SQL or secrets).
        use tracing_subscriber::Layer;
        use tracing_subscriber::filter::FilterExt;
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let (filter, _) = conexor_server::logging::operator_filter("debug");
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(|| LogSink)
            .with_ansi(false)
            .with_filter(filter.and(conexor_server::logging::ceiling()));
        let _ = tracing_subscriber::registry().with(layer).try_init();
    });
}

pub mod conformance;
pub mod kafka;
pub mod mcp;
pub mod rest;
pub mod s3;

/// A running server and what a test needs to reach it.
pub struct TestServer {
    pub url: String,
    pub admin_token: String,
    pub data_dir: PathBuf,
    pub state: Arc<AppState>,
    config: Config,
    /// Serves the conformance suite's fixtures in front of the MCP handler.
    fixtures: bool,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_serving(tweak, false).await
    }

    /// A server whose MCP endpoint also serves the conformance suite's
    /// fixtures ([`conformance::Fixtures`]).
    pub async fn start_with_fixtures() -> TestServer {
        Self::start_serving(|_| {}, true).await
    }

    async fn start_serving(tweak: impl FnOnce(&mut Config), fixtures: bool) -> TestServer {
        init_logging();
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let admin_token = format!("cxadm_{}", conexor_crypto::random_base62(40));
        let mut config = Config::new(data_dir.clone());
        config.admin_token = Some(admin_token.clone());
        config.sqlite_dirs = vec![dir.path().to_path_buf()];
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (state, stop, running) = launch(config.clone(), listener, fixtures).await;
        TestServer {
            url: format!("http://{addr}"),
            admin_token,
            data_dir,
            state,
            config,
            fixtures,
            addr,
            _dir: dir,
            stop: Some(stop),
            running: Some(running),
        }
    }

    /// Stops the server (graceful shutdown, as on SIGTERM) and starts a new
    /// one on the same data directory and port.
    pub async fn restart(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(running) = self.running.take() {
            let _ = running.await;
        }
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("re-bind the same port");
        let (state, stop, running) = launch(self.config.clone(), listener, self.fixtures).await;
        self.state = state;
        self.stop = Some(stop);
        self.running = Some(running);
    }

    /// A directory next to the store (allowed for SQLite, not the store itself).
    pub fn scratch(&self) -> PathBuf {
        self._dir.path().to_path_buf()
    }

    /// Creates a workspace and returns a client holding its first (admin) key.
    pub async fn workspace(&self, name: &str) -> Client {
        let anonymous = Client::new(&self.url, None, false).expect("client");
        let (_, key) = anonymous
            .create_workspace(&self.admin_token, name, "test admin")
            .await
            .expect("create workspace");
        Client::new(&self.url, Some(key), false).expect("client")
    }

    pub fn client_with(&self, key: conexor_crypto::ApiKey) -> Client {
        Client::new(&self.url, Some(key), false).expect("client")
    }
}

async fn launch(
    config: Config,
    listener: tokio::net::TcpListener,
    fixtures: bool,
) -> (
    Arc<AppState>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let started = AppState::start(config).await.expect("server state");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let state = started.state.clone();
    let stopped = async move {
        let _ = rx.await;
    };
    let running = if fixtures {
        tokio::spawn(conexor_server::serve_with(
            listener,
            started.state,
            stopped,
            |state| conformance::Fixtures::new(conexor_server::mcp::McpHandler::new(state)),
        ))
    } else {
        tokio::spawn(conexor_server::serve(listener, started.state, stopped))
    };
    (state, tx, running)
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts `command` (a shell command line with its own redirections) in
/// the background under a watchdog that stops it once this test process is
/// gone, then removes `cleanup` if given: a test binary has no destructor
/// for statics and may be killed, and the server must not outlive it.
pub fn spawn_with_watchdog(command: &str, cleanup: Option<&std::path::Path>, what: &str) {
    let remove = cleanup
        .map(|dir| format!("; rm -rf {}", dir.display()))
        .unwrap_or_default();
    let script = format!(
        "{command} & m=$!; while kill -0 {} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done; kill $m 2>/dev/null{remove}",
        std::process::id()
    );
    // The watchdog is never waited for: it ends with this process.
    #[allow(clippy::zombie_processes)]
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
}

/// A free loopback TCP port (for a server a test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A URL exported by `scripts/test-env.sh`; fails naming the server when absent.
pub fn env_url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: these tests need the private PostgreSQL and MariaDB servers that `scripts/test` starts (eval \"$(scripts/test-env.sh start)\")")
    })
}

/// Adds a connection by URL through the real client flow (sealed on the client).
pub async fn add_connection(
    client: &Client,
    name: &str,
    url: &str,
    allow_privileged: bool,
) -> anyhow::Result<serde_json::Value> {
    let (kind, spec) =
        conexor_connectors::ConnectionSpec::from_url(url).map_err(|e| anyhow::anyhow!("{e}"))?;
    let plain = serde_json::to_vec(&spec)?;
    let body = client
        .sealed_connection(name, kind, &plain, allow_privileged)
        .await?;
    client.post("connections", body).await
}

/// The HTTP status of a client error, if it was one.
pub fn status_of(err: &anyhow::Error) -> Option<u16> {
    err.downcast_ref::<conexor_client::ServerError>()
        .map(|e| e.status)
}

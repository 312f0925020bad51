//! Server settings. Every field has a flag and an environment variable in
//! the `conexor server` command; this struct is what the library receives.

pub use conexor_store::Durability;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// Directory holding the store file; created 0700 if missing.
    pub data_dir: PathBuf,
    /// Host names accepted in `Host` on every route (DNS-rebinding guard);
    /// an entry may carry a port (`example.com:8443`); empty accepts any.
    pub allowed_hosts: Vec<String>,
    /// Admin token to require for workspace creation; generated at first start when absent.
    pub admin_token: Option<String>,
    /// Caps and timeouts applied to every read.
    pub limits: LimitsConfig,
    /// How long an unwrapped workspace key and an idle pool are kept in memory.
    pub key_cache_ttl: Duration,
    /// Directories under which SQLite connections may point.
    pub sqlite_dirs: Vec<PathBuf>,
    /// Refuse loopback destinations (multi-tenant deployments).
    pub deny_loopback: bool,
    /// Refuse private-network destinations (multi-tenant deployments).
    pub deny_private: bool,
    /// Sign an audit checkpoint after this many records (0: no count trigger).
    pub audit_checkpoint_records: u64,
    /// Sign an audit checkpoint at least this often, even when idle.
    pub audit_checkpoint_seconds: u64,
    /// The checkpoint signing key (64 hex); else `audit-signing.key` in the data directory.
    pub audit_signing_key: Option<String>,
    /// What a committed record survives (power loss by default).
    pub durability: conexor_store::Durability,
    /// A directory of tools files, `<workspace_id>.toml`, reloaded on change.
    pub tools_dir: Option<PathBuf>,
    /// How often the tools directory is checked for changes.
    pub tools_poll: Duration,
    /// How often the server pings each agent; three silent intervals end its session.
    pub agent_heartbeat: Duration,
    /// An MCP session unused for this long is closed.
    pub mcp_session_idle: Duration,
    /// Most live MCP sessions per API key; one more closes the key's least
    /// recently used session.
    pub mcp_sessions_per_key: usize,
    /// A connection must deliver a request's headers (and, for TLS, finish
    /// its handshake) within this time, or it is closed.
    pub header_read_timeout: Duration,
    /// A connection whose client does not read its answer (no write makes
    /// progress) for this long is closed, freeing the answer.
    pub write_stall_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// Most rows a call may return (callers may ask for fewer).
    pub max_rows: u64,
    /// Rows returned when the caller does not say.
    pub default_rows: u64,
    /// Most bytes of encoded rows per call.
    pub max_bytes: u64,
    /// Statement timeout.
    pub statement_timeout: Duration,
    /// Concurrent tool calls per API key.
    pub per_key_concurrency: usize,
    /// Concurrent sessions per connection pool.
    pub per_connection_concurrency: u32,
    /// Largest SQL text accepted.
    pub max_sql_bytes: usize,
    /// Bytes that results in flight may use across all calls; each read counts
    /// [`LimitsConfig::read_cost`].
    pub memory_budget: u64,
}

impl LimitsConfig {
    /// What one read may hold at most: rows up to `max_bytes` (no row larger: the
    /// sources refuse it), the decoded values and the encoded answer.
    pub fn read_cost(&self) -> u64 {
        self.max_bytes.saturating_mul(3)
    }

    /// How many reads may be in flight at once within the memory budget.
    pub fn reads_in_flight(&self) -> usize {
        usize::try_from(self.memory_budget / self.read_cost().max(1))
            .unwrap_or(usize::MAX)
            .clamp(1, 4096)
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_rows: 10_000,
            default_rows: 200,
            max_bytes: 4 * 1024 * 1024,
            statement_timeout: Duration::from_secs(15),
            per_key_concurrency: 16,
            per_connection_concurrency: 4,
            max_sql_bytes: 100_000,
            memory_budget: 256 * 1024 * 1024,
        }
    }
}

impl Config {
    pub fn new(data_dir: PathBuf) -> Config {
        Config {
            data_dir,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            admin_token: None,
            limits: LimitsConfig::default(),
            key_cache_ttl: Duration::from_secs(300),
            sqlite_dirs: Vec::new(),
            deny_loopback: false,
            deny_private: false,
            audit_checkpoint_records: 1000,
            audit_checkpoint_seconds: 60,
            audit_signing_key: None,
            agent_heartbeat: Duration::from_secs(2),
            tools_dir: None,
            tools_poll: Duration::from_secs(2),
            durability: conexor_store::Durability::Full,
            mcp_session_idle: Duration::from_secs(30 * 60),
            mcp_sessions_per_key: 64,
            header_read_timeout: Duration::from_secs(10),
            write_stall_timeout: Duration::from_secs(30),
        }
    }
}

/// Where the server listens and how, for the binary.
#[derive(Debug, Clone)]
pub struct Listen {
    pub addr: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
}

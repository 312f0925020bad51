//! `--config FILE` (or `CONEXOR_CONFIG`): server settings in TOML, using the
//! same names as the flags (`max_rows = 5000`, `allowed_hosts = ["a", "b"]`).
//! Each setting becomes its `CONEXOR_*` environment variable unless that is
//! already set, so the precedence is: flag, then environment, then file,
//! then default — and every setting is documented once, in `--help`.

use anyhow::{Context, Result, bail};

/// The settings a file may hold, and their environment variables.
const KNOWN: &[(&str, &str)] = &[
    ("listen", "CONEXOR_LISTEN"),
    ("tools_dir", "CONEXOR_TOOLS_DIR"),
    ("agent_heartbeat", "CONEXOR_AGENT_HEARTBEAT"),
    ("mcp_session_idle", "CONEXOR_MCP_SESSION_IDLE"),
    ("mcp_sessions_per_key", "CONEXOR_MCP_SESSIONS_PER_KEY"),
    ("header_timeout", "CONEXOR_HEADER_TIMEOUT"),
    ("data_dir", "CONEXOR_DATA_DIR"),
    ("tls_cert", "CONEXOR_TLS_CERT"),
    ("tls_key", "CONEXOR_TLS_KEY"),
    ("allowed_hosts", "CONEXOR_ALLOWED_HOSTS"),
    ("log_level", "CONEXOR_LOG"),
    ("log_json", "CONEXOR_LOG_JSON"),
    ("max_rows", "CONEXOR_MAX_ROWS"),
    ("default_rows", "CONEXOR_DEFAULT_ROWS"),
    ("max_bytes", "CONEXOR_MAX_BYTES"),
    ("statement_timeout", "CONEXOR_STATEMENT_TIMEOUT"),
    ("per_key_concurrency", "CONEXOR_PER_KEY_CONCURRENCY"),
    (
        "per_connection_concurrency",
        "CONEXOR_PER_CONNECTION_CONCURRENCY",
    ),
    ("memory_budget_mib", "CONEXOR_MEMORY_BUDGET_MIB"),
    ("key_cache_ttl", "CONEXOR_KEY_CACHE_TTL"),
    ("sqlite_dirs", "CONEXOR_SQLITE_DIRS"),
    ("deny_loopback", "CONEXOR_DENY_LOOPBACK"),
    ("deny_private", "CONEXOR_DENY_PRIVATE"),
    (
        "audit_checkpoint_records",
        "CONEXOR_AUDIT_CHECKPOINT_RECORDS",
    ),
    (
        "audit_checkpoint_seconds",
        "CONEXOR_AUDIT_CHECKPOINT_SECONDS",
    ),
];

/// Finds `--config FILE` in the arguments (or `CONEXOR_CONFIG`) and applies it.
pub fn apply_from_args() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    // Only the server reads this file; `conexor agent --config` is agent.toml.
    if !matches!(args.get(1).map(String::as_str), Some("server" | "demo")) {
        return Ok(());
    }
    let mut path = std::env::var("CONEXOR_CONFIG").ok();
    for (i, a) in args.iter().enumerate() {
        if a == "--config" {
            path = args.get(i + 1).cloned();
        } else if let Some(p) = a.strip_prefix("--config=") {
            path = Some(p.to_owned());
        }
    }
    match path {
        Some(p) => apply(&p),
        None => Ok(()),
    }
}

fn apply(path: &str) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading config file {path}"))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("parsing config file {path}"))?;
    for (key, value) in table {
        let Some((_, env)) = KNOWN.iter().find(|(k, _)| *k == key) else {
            let names: Vec<&str> = KNOWN.iter().map(|(k, _)| *k).collect();
            bail!(
                "unknown setting {key:?} in {path}; known settings: {}",
                names.join(", ")
            );
        };
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => {
                        bail!("setting {key:?} in {path}: list items must be strings, got {other}")
                    }
                })
                .collect::<Result<Vec<_>>>()?
                .join(","),
            other => bail!("setting {key:?} in {path}: unsupported value {other}"),
        };
        if std::env::var_os(env).is_none() {
            // SAFETY: called at start-up, before the runtime or any other thread exists.
            unsafe { std::env::set_var(env, text) };
        }
    }
    Ok(())
}

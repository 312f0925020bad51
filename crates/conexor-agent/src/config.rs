//! The agent's configuration file (`agent.toml`) and the secrets it points
//! at. Secrets come from the agent's own environment or local files; the
//! file names the variable or path, never holds a password itself (a plain
//! `url` is accepted only without a password, e.g. for SQLite).
//!
//! ```toml
//! server = "https://conexor.example.com"   # or wss://…/agent/v1
//! token_env = "CONEXOR_AGENT_TOKEN"         # first start only (or token = "cxa_…")
//! ca_cert = "/etc/conexor/ca.pem"           # optional: a private CA
//! state_dir = "/var/lib/conexor-agent"      # identity key and local audit log
//! durability = "power-loss"                 # local audit: fsync each write (default),
//!                                           # or "process-crash": the OS holds it
//!
//! [limits]
//! max_rows = 10000
//! max_bytes = 4194304
//! statement_timeout_s = 15
//! max_in_flight = 16
//!
//! [[connections]]
//! name = "warehouse"
//! url_env = "WAREHOUSE_URL"                 # or url_file = "/run/secrets/warehouse"
//! ```

use conexor_connectors::kafka::{KafkaSpec, SaslMechanism, SecurityProtocol};
use conexor_connectors::rest::{AuthKind, RestSpec};
use conexor_connectors::s3::S3Spec;
use conexor_connectors::{ConnectionSpec, SourceSpec};
use conexor_types::ConnectionKind;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroize::Zeroizing;

/// A configuration problem, named precisely and without secret values.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

/// A secret from an environment variable (the value as it is).
fn secret_from_env(var: &str, at: &str) -> Result<Zeroizing<String>, ConfigError> {
    std::env::var(var)
        .map(Zeroizing::new)
        .map_err(|_| err(format!("{at}: the environment variable {var} is not set")))
}

/// A secret from a file (trimmed: files end with a newline).
fn secret_from_file(path: &Path, at: &str) -> Result<Zeroizing<String>, ConfigError> {
    std::fs::read_to_string(path)
        .map(|text| Zeroizing::new(Zeroizing::new(text).trim().to_owned()))
        .map_err(|e| err(format!("{at}: reading {}: {e}", path.display())))
}

/// A PEM or description file named in agent.toml, read whole.
fn read_file(
    path: Option<&PathBuf>,
    at: &str,
    resolve: &dyn Fn(&PathBuf) -> PathBuf,
) -> Result<Option<String>, ConfigError> {
    path.map(|p| {
        let p = resolve(p);
        std::fs::read_to_string(&p).map_err(|e| err(format!("{at}: reading {}: {e}", p.display())))
    })
    .transpose()
}

/// An `s3` connection of agent.toml: its secret access key read from an
/// environment variable or a file, and the spec checked like the server's.
fn s3_connection(
    c: &FileConnection,
    at: &str,
    resolve: &dyn Fn(&PathBuf) -> PathBuf,
) -> Result<S3Spec, ConfigError> {
    if c.url.is_some() || c.url_env.is_some() || c.url_file.is_some() {
        return Err(err(format!(
            "{at}: an s3 connection takes endpoint, access_key_id and secret_access_key_env or _file, not a URL"
        )));
    }
    let secret = match (&c.secret_access_key_env, &c.secret_access_key_file) {
        (Some(var), None) => secret_from_env(var, at)?,
        (None, Some(p)) => secret_from_file(&resolve(p), at)?,
        _ => {
            return Err(err(format!(
                "{at}: set exactly one of secret_access_key_env or secret_access_key_file"
            )));
        }
    };
    let ca_pem = read_file(c.ca_file.as_ref(), at, resolve)?;
    let spec = S3Spec {
        access_key_id: c.access_key_id.clone().unwrap_or_default(),
        secret_access_key: Some(secret),
        secret_access_key_secret: None,
        region: c.region.clone(),
        endpoint: c.endpoint.clone(),
        path_style: c.path_style,
        verify_tls: c.verify_tls.unwrap_or(true),
        ca_pem,
        allow_http: c.allow_http,
        allow: c.allow.clone(),
    };
    spec.validate().map_err(|e| err(format!("{at}: {e}")))?;
    Ok(spec)
}

/// A `rest` connection of agent.toml: the description read from a file,
/// the token from an environment variable or a file, and the spec checked
/// like the server's (its description read here: the agent builds its
/// tools from its own copy, whatever the server holds).
fn rest_connection(
    c: &FileConnection,
    at: &str,
    resolve: &dyn Fn(&PathBuf) -> PathBuf,
) -> Result<RestSpec, ConfigError> {
    if c.url.is_some() || c.url_env.is_some() || c.url_file.is_some() {
        return Err(err(format!(
            "{at}: a rest connection takes base_url, openapi_file and auth, not a URL"
        )));
    }
    let base_url = c
        .base_url
        .clone()
        .ok_or_else(|| err(format!("{at}: a rest connection needs base_url")))?;
    let openapi = match &c.openapi_file {
        Some(p) => {
            let p = resolve(p);
            let bytes = std::fs::read(&p)
                .map_err(|e| err(format!("{at}: reading {}: {e}", p.display())))?;
            String::from_utf8(bytes)
                .map_err(|_| err(format!("{at}: {} is not UTF-8 text", p.display())))?
        }
        None => return Err(err(format!("{at}: a rest connection needs openapi_file"))),
    };
    let auth = match c.auth.as_deref() {
        None => AuthKind::None,
        Some(text) => AuthKind::parse(text).ok_or_else(|| {
            err(format!(
                "{at}: auth is none, bearer, header, query or basic, not {text:?}"
            ))
        })?,
    };
    let token = match (&c.token_env, &c.token_file) {
        (Some(var), None) => Some(secret_from_env(var, at)?),
        (None, Some(p)) => Some(secret_from_file(&resolve(p), at)?),
        (None, None) => None,
        _ => {
            return Err(err(format!(
                "{at}: set at most one of token_env or token_file"
            )));
        }
    };
    let ca_pem = read_file(c.ca_file.as_ref(), at, resolve)?;
    let spec = RestSpec {
        base_url,
        openapi,
        auth,
        auth_name: c.auth_name.clone(),
        token,
        token_secret: None,
        enable: c.enable.clone(),
        test_operation: c.test_operation.clone(),
        verify_tls: c.verify_tls.unwrap_or(true),
        ca_pem,
        allow_http: c.allow_http,
        ignore_servers: c.ignore_servers,
    };
    spec.validate().map_err(|e| err(format!("{at}: {e}")))?;
    Ok(spec)
}

/// A `kafka` connection of agent.toml: the SASL password and client key
/// read from environment variables or files, the spec checked like the
/// server's.
fn kafka_connection(
    c: &FileConnection,
    at: &str,
    resolve: &dyn Fn(&PathBuf) -> PathBuf,
) -> Result<KafkaSpec, ConfigError> {
    if c.url.is_some() || c.url_env.is_some() || c.url_file.is_some() {
        return Err(err(format!(
            "{at}: a kafka connection takes bootstrap_servers, not a URL"
        )));
    }
    let protocol = match c.security_protocol.as_deref() {
        None => SecurityProtocol::Plaintext,
        Some(p) => SecurityProtocol::parse(p).ok_or_else(|| {
            err(format!(
                "{at}: security_protocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, not {p:?}"
            ))
        })?,
    };
    let mechanism = match c.sasl_mechanism.as_deref() {
        None => None,
        Some(m) => Some(SaslMechanism::parse(m).ok_or_else(|| {
            err(format!(
                "{at}: sasl_mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, not {m:?}"
            ))
        })?),
    };
    let password = match (&c.password_env, &c.password_file) {
        (Some(var), None) => Some(secret_from_env(var, at)?),
        (None, Some(p)) => Some(secret_from_file(&resolve(p), at)?),
        (None, None) => None,
        _ => {
            return Err(err(format!(
                "{at}: set at most one of password_env or password_file"
            )));
        }
    };
    let spec = KafkaSpec {
        bootstrap_servers: c.bootstrap_servers.clone().unwrap_or_default(),
        security_protocol: protocol,
        sasl_mechanism: mechanism,
        username: c.username.clone(),
        password,
        password_secret: None,
        ca_pem: read_file(c.ca_file.as_ref(), at, resolve)?,
        client_cert_pem: read_file(c.client_cert_file.as_ref(), at, resolve)?,
        client_key_pem: read_file(c.client_key_file.as_ref(), at, resolve)?.map(Zeroizing::new),
        schema_registry_url: c.schema_registry_url.clone(),
        schema_registry_username: c.schema_registry_username.clone(),
        schema_registry_password: match &c.schema_registry_password_env {
            Some(var) => Some(secret_from_env(var, at)?),
            None => None,
        },
        schema_registry_password_secret: None,
    };
    spec.validate().map_err(|e| err(format!("{at}: {e}")))?;
    Ok(spec)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    server: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    token_env: Option<String>,
    #[serde(default)]
    ca_cert: Option<PathBuf>,
    #[serde(default)]
    state_dir: Option<PathBuf>,
    /// The local audit log's durability: `power-loss` (default) or `process-crash`.
    #[serde(default)]
    durability: Option<String>,
    /// Allow plain ws:// to a host that is not loopback.
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    connections: Vec<FileConnection>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_rows: Option<u64>,
    max_bytes: Option<u64>,
    statement_timeout_s: Option<u64>,
    max_in_flight: Option<usize>,
    max_sql_bytes: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConnection {
    name: String,
    /// Optional: taken from the URL's scheme when absent.
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    url_env: Option<String>,
    #[serde(default)]
    url_file: Option<PathBuf>,
    /// A URL without a password (SQLite files, or logins that need none).
    #[serde(default)]
    url: Option<String>,
    /// User-defined functions queries may call (`name` or `schema.name`): the
    /// agent's own opt-in, which no server can extend.
    #[serde(default)]
    allow_functions: Vec<String>,
    /// Accept a login that can do more than read (superuser, file access, write
    /// grants). Off by default: such a connection is refused, whatever the server asks.
    #[serde(default)]
    allow_privileged: bool,
    /// `type = "s3"`: object storage, by the fields users know. The secret
    /// access key comes from `secret_access_key_env` or `_file`, never the file.
    #[serde(default)]
    access_key_id: Option<String>,
    #[serde(default)]
    secret_access_key_env: Option<String>,
    #[serde(default)]
    secret_access_key_file: Option<PathBuf>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    path_style: Option<bool>,
    #[serde(default)]
    verify_tls: Option<bool>,
    #[serde(default)]
    allow_http: bool,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    /// `bucket` or `bucket/prefix`: the agent's own allow-list, which no
    /// server can widen.
    #[serde(default)]
    allow: Vec<String>,
    /// `type = "rest"`: a REST API by its base URL and OpenAPI description
    /// (a JSON or YAML file); the token comes from `token_env` or `token_file`.
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    openapi_file: Option<PathBuf>,
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    auth_name: Option<String>,
    #[serde(default)]
    token_env: Option<String>,
    #[serde(default)]
    token_file: Option<PathBuf>,
    /// The operations offered: `tag:NAME`, `path:/pattern/*` or an operationId.
    #[serde(default)]
    enable: Vec<String>,
    #[serde(default)]
    test_operation: Option<String>,
    #[serde(default)]
    ignore_servers: bool,
    /// `type = "kafka"`: by Kafka's own fields; the SASL password from
    /// `password_env` or `password_file`.
    #[serde(default)]
    bootstrap_servers: Option<String>,
    #[serde(default)]
    security_protocol: Option<String>,
    #[serde(default)]
    sasl_mechanism: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password_env: Option<String>,
    #[serde(default)]
    password_file: Option<PathBuf>,
    #[serde(default)]
    client_cert_file: Option<PathBuf>,
    #[serde(default)]
    client_key_file: Option<PathBuf>,
    #[serde(default)]
    schema_registry_url: Option<String>,
    #[serde(default)]
    schema_registry_username: Option<String>,
    #[serde(default)]
    schema_registry_password_env: Option<String>,
}

/// The agent's own limits: applied whatever the server asks.
#[derive(Debug, Clone)]
pub struct AgentLimits {
    pub max_rows: u64,
    pub max_bytes: u64,
    pub statement_timeout: Duration,
    pub max_in_flight: usize,
    pub max_sql_bytes: usize,
}

impl Default for AgentLimits {
    fn default() -> Self {
        AgentLimits {
            max_rows: 10_000,
            max_bytes: 4 * 1024 * 1024,
            statement_timeout: Duration::from_secs(15),
            max_in_flight: 16,
            max_sql_bytes: 100_000,
        }
    }
}

/// One local connection, resolved: its secret is in memory here only.
#[derive(Clone)]
pub struct LocalConnection {
    pub name: String,
    pub kind: ConnectionKind,
    pub spec: SourceSpec,
    /// `allow_privileged` in agent.toml.
    pub allow_privileged: bool,
}

impl std::fmt::Debug for LocalConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalConnection")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Everything the agent runs with.
#[derive(Clone)]
pub struct Settings {
    /// `ws://` or `wss://` URL of the server's agent endpoint.
    pub server: url::Url,
    /// The enrolment token, needed until the agent has an identity.
    pub token: Option<Zeroizing<String>>,
    /// PEM of extra CA certificates to trust.
    pub ca_pem: Option<Vec<u8>>,
    /// Identity key and local audit log live here.
    pub state_dir: PathBuf,
    /// Each local audit write is fsynced before the answers it covers go
    /// back (`durability = "power-loss"`, the default); otherwise it survives
    /// a crash of the agent but not of the machine.
    pub audit_fsync: bool,
    pub limits: AgentLimits,
    pub connections: Vec<LocalConnection>,
    /// Reconnect delays: the first, and the most.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("server", &self.server.as_str())
            .field("state_dir", &self.state_dir)
            .field("connections", &self.connections)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Reads and checks `agent.toml`; secrets are read from the environment
    /// and files it names.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("reading {}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Settings::parse(&text, base)
    }

    /// Parses a configuration text; relative paths are taken from `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Settings, ConfigError> {
        let file: FileConfig =
            toml::from_str(text).map_err(|e| err(format!("agent configuration: {e}")))?;
        let server = server_url(&file.server, file.insecure)?;
        let token = match (&file.token, &file.token_env) {
            (Some(_), Some(_)) => return Err(err("set token or token_env, not both")),
            (Some(t), None) => Some(Zeroizing::new(t.trim().to_owned())),
            (None, Some(var)) => std::env::var(var)
                .ok()
                .map(|t| Zeroizing::new(t.trim().to_owned())),
            (None, None) => None,
        };
        if let Some(t) = &token
            && !t.starts_with(conexor_protocol::TOKEN_PREFIX)
        {
            return Err(err(
                "the enrolment token must start with cxa_ (from `conexor agents create`)",
            ));
        }
        let resolve = |p: &PathBuf| {
            if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            }
        };
        let ca_pem = match &file.ca_cert {
            Some(p) => {
                let p = resolve(p);
                Some(
                    std::fs::read(&p)
                        .map_err(|e| err(format!("reading ca_cert {}: {e}", p.display())))?,
                )
            }
            None => None,
        };
        let state_dir = file
            .state_dir
            .as_ref()
            .map(resolve)
            .unwrap_or_else(|| base.join("agent-state"));
        let d = AgentLimits::default();
        let l = &file.limits;
        let limits = AgentLimits {
            max_rows: l.max_rows.unwrap_or(d.max_rows).max(1),
            // A single row must fit in one protocol message.
            max_bytes: l
                .max_bytes
                .unwrap_or(d.max_bytes)
                .clamp(1024, (conexor_protocol::MAX_MESSAGE_BYTES / 2) as u64),
            statement_timeout: l
                .statement_timeout_s
                .map(|s| Duration::from_secs(s.max(1)))
                .unwrap_or(d.statement_timeout),
            max_in_flight: l.max_in_flight.unwrap_or(d.max_in_flight).clamp(1, 256),
            max_sql_bytes: l.max_sql_bytes.unwrap_or(d.max_sql_bytes),
        };
        if file.connections.len() > conexor_protocol::MAX_OFFERS {
            return Err(err(format!(
                "at most {} connections per agent",
                conexor_protocol::MAX_OFFERS
            )));
        }
        let mut connections: Vec<LocalConnection> = Vec::new();
        for (i, c) in file.connections.iter().enumerate() {
            let at = format!("connections[{i}] ({:?})", c.name);
            if !conexor_protocol::valid_name(&c.name) {
                return Err(err(format!(
                    "{at}: names are 1-64 characters of letters, digits, _ - ."
                )));
            }
            if connections.iter().any(|o| o.name == c.name) {
                return Err(err(format!("{at}: the name is used twice")));
            }
            if c.kind.as_deref().and_then(ConnectionKind::parse) == Some(ConnectionKind::Kafka) {
                let spec = kafka_connection(c, &at, &resolve)?;
                connections.push(LocalConnection {
                    name: c.name.clone(),
                    kind: ConnectionKind::Kafka,
                    spec: SourceSpec::Kafka(spec),
                    allow_privileged: c.allow_privileged,
                });
                continue;
            }
            if c.kind.as_deref().and_then(ConnectionKind::parse) == Some(ConnectionKind::Rest) {
                let spec = rest_connection(c, &at, &resolve)?;
                connections.push(LocalConnection {
                    name: c.name.clone(),
                    kind: ConnectionKind::Rest,
                    spec: SourceSpec::Rest(spec),
                    allow_privileged: c.allow_privileged,
                });
                continue;
            }
            if c.kind.as_deref().and_then(ConnectionKind::parse) == Some(ConnectionKind::S3) {
                let spec = s3_connection(c, &at, &resolve)?;
                connections.push(LocalConnection {
                    name: c.name.clone(),
                    kind: ConnectionKind::S3,
                    spec: SourceSpec::S3(spec),
                    allow_privileged: c.allow_privileged,
                });
                continue;
            }
            let url = match (&c.url_env, &c.url_file, &c.url) {
                (Some(var), None, None) => secret_from_env(var, &at)?,
                (None, Some(p), None) => secret_from_file(&resolve(p), &at)?,
                (None, None, Some(u)) => Zeroizing::new(u.clone()),
                _ => {
                    return Err(err(format!(
                        "{at}: set exactly one of url_env, url_file or url"
                    )));
                }
            };
            let sqlserver = c.kind.as_deref().and_then(ConnectionKind::parse)
                == Some(ConnectionKind::Sqlserver);
            let (kind, mut spec) = if sqlserver {
                // SQL Server: the url holds an ADO.NET connection string
                // (Server=tcp:host,1433;Database=…;User ID=…;Password=…).
                conexor_connectors::sqlserver::ado::parse(&url)
                    .map(|spec| (ConnectionKind::Sqlserver, spec))
                    .map_err(|e| err(format!("{at}: not a usable connection string: {e}")))?
            } else {
                ConnectionSpec::from_url(&url).map_err(|e| {
                    err(format!(
                        "{at}: not a usable connection URL ({})",
                        e.class().code
                    ))
                })?
            };
            if c.url.is_some() && spec.password.is_some() {
                return Err(err(format!(
                    "{at}: a password does not belong in agent.toml; use url_env or url_file"
                )));
            }
            if let Some(k) = &c.kind
                && ConnectionKind::parse(k) != Some(kind)
            {
                return Err(err(format!(
                    "{at}: type {k:?} does not match the URL's scheme ({})",
                    kind.as_str()
                )));
            }
            spec.allow_functions = c.allow_functions.clone();
            spec.function_policy()
                .map_err(|e| err(format!("{at}: allow_functions: {e}")))?;
            connections.push(LocalConnection {
                name: c.name.clone(),
                kind,
                spec: SourceSpec::Sql(kind, spec),
                allow_privileged: c.allow_privileged,
            });
        }
        let audit_fsync = match file.durability.as_deref() {
            None | Some("power-loss") => true,
            Some("process-crash") => false,
            Some(other) => {
                return Err(err(format!(
                    "durability = {other:?}: use \"power-loss\" (fsync each local audit write; the default) or \"process-crash\""
                )));
            }
        };
        Ok(Settings {
            server,
            token,
            ca_pem,
            state_dir,
            audit_fsync,
            limits,
            connections,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        })
    }
}

/// `https://host` → `wss://host/agent/v1`; `ws(s)://` kept, path added when empty.
fn server_url(text: &str, insecure: bool) -> Result<url::Url, ConfigError> {
    let mut url = url::Url::parse(text.trim()).map_err(|e| {
        err(format!(
            "server: not a URL ({e}); e.g. https://conexor.example.com"
        ))
    })?;
    let scheme = match url.scheme() {
        "https" | "wss" => "wss",
        "http" | "ws" => "ws",
        other => {
            return Err(err(format!(
                "server: scheme {other:?} is not supported; use https:// (or http:// on loopback)"
            )));
        }
    };
    url.set_scheme(scheme)
        .map_err(|_| err("server: cannot use this URL"))?;
    if url.path() == "/" || url.path().is_empty() {
        url.set_path(conexor_protocol::PATH);
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => return Err(err("server: the URL has no host")),
    };
    if scheme == "ws" && !loopback && !insecure {
        return Err(err(
            "server: plain http/ws to a host that is not loopback would send rows in clear; use https, or set insecure = true",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_clearly() {
        let base = Path::new("/etc/conexor");
        let s = Settings::parse(
            "server = \"https://cx.example.com\"\ntoken = \"cxa_abc\"\n[[connections]]\nname = \"local\"\nurl = \"sqlite:///tmp/x.db\"\n",
            base,
        )
        .unwrap();
        assert_eq!(s.server.as_str(), "wss://cx.example.com/agent/v1");
        assert_eq!(s.state_dir, Path::new("/etc/conexor/agent-state"));
        assert_eq!(s.connections[0].kind, ConnectionKind::Sqlite);
        assert!(
            s.audit_fsync,
            "the local audit fsyncs unless told otherwise"
        );
        let relaxed = Settings::parse(
            "server = \"https://cx.example.com\"\ndurability = \"process-crash\"\n",
            base,
        )
        .unwrap();
        assert!(!relaxed.audit_fsync);
        let bad = |text: &str| Settings::parse(text, base).err().unwrap().0;
        assert!(bad("server = \"https://x\"\ndurability = \"sometimes\"").contains("power-loss"));
        assert!(bad("server = \"http://10.0.0.1:7400\"").contains("plain http"));
        assert!(bad("server = \"ftp://x\"").contains("scheme"));
        assert!(bad("server = \"https://x\"\nbogus = 1").contains("bogus"));
        let pw = bad(
            "server = \"https://x\"\n[[connections]]\nname = \"db\"\nurl = \"postgres://u:hunter2@h/db\"\n",
        );
        assert!(pw.contains("password does not belong"), "{pw}");
        assert!(!pw.contains("hunter2"));
        let env = bad(
            "server = \"https://x\"\n[[connections]]\nname = \"db\"\nurl_env = \"CX_NO_SUCH_VAR_123\"\n",
        );
        assert!(env.contains("CX_NO_SUCH_VAR_123"));
        assert!(bad("server = \"https://x\"\ntoken = \"nope\"").contains("cxa_"));
        assert!(
            bad("server = \"https://x\"\n[[connections]]\nname = \"a b\"\nurl = \"sqlite:///x\"\n")
                .contains("names are")
        );
    }

    #[test]
    fn s3_connections_take_their_key_from_env_or_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), "sekrit\n").unwrap();
        let head = "server = \"https://x\"\n[[connections]]\nname = \"lake\"\ntype = \"s3\"\n";
        let ok = Settings::parse(
            &format!("{head}endpoint = \"https://minio.internal:9000\"\naccess_key_id = \"AK\"\nsecret_access_key_file = \"k\"\nallow = [\"cx-data/reports/\"]\n"),
            dir.path(),
        )
        .unwrap();
        assert_eq!(ok.connections[0].kind, ConnectionKind::S3);
        match &ok.connections[0].spec {
            SourceSpec::S3(spec) => {
                assert_eq!(
                    spec.secret_access_key.as_deref().map(|s| s.as_str()),
                    Some("sekrit")
                );
                assert!(spec.path_style());
            }
            other => panic!("{other:?}"),
        }
        let bad = |extra: &str| {
            Settings::parse(&format!("{head}{extra}"), dir.path())
                .err()
                .unwrap()
                .0
        };
        assert!(bad("access_key_id = \"AK\"\nurl = \"sqlite:///x\"\n").contains("not a URL"));
        assert!(bad("access_key_id = \"AK\"\n").contains("secret_access_key_env"));
        assert!(
            bad("access_key_id = \"AK\"\nsecret_access_key_env = \"CX_NO_SUCH_VAR_456\"\n")
                .contains("CX_NO_SUCH_VAR_456")
        );
        assert!(bad("access_key_id = \"AK\"\nsecret_access_key_file = \"k\"\nendpoint = \"http://127.0.0.1:9\"\n").contains("plain http"));
        assert!(
            bad("access_key_id = \"AK\"\nsecret_access_key_file = \"k\"\nallow = [\"../x\"]\n")
                .contains("bucket")
        );
    }

    #[test]
    fn sql_server_connections_read_an_ado_net_string_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mssql"),
            "Server=tcp:sql.internal,1433;Database=sales;User ID=reader;Password=\"p;w\";Encrypt=True\n",
        )
        .unwrap();
        let head =
            "server = \"https://x\"\n[[connections]]\nname = \"erp\"\ntype = \"sqlserver\"\n";
        let ok = Settings::parse(&format!("{head}url_file = \"mssql\"\n"), dir.path()).unwrap();
        assert_eq!(ok.connections[0].kind, ConnectionKind::Sqlserver);
        match &ok.connections[0].spec {
            SourceSpec::Sql(ConnectionKind::Sqlserver, spec) => {
                assert_eq!(spec.host.as_deref(), Some("sql.internal"));
                assert_eq!(spec.password.as_deref().map(String::as_str), Some("p;w"));
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(
            dir.path().join("bad"),
            "Server=h;Password=hunter2;Colour=blue",
        )
        .unwrap();
        let bad = Settings::parse(&format!("{head}url_file = \"bad\"\n"), dir.path())
            .err()
            .unwrap()
            .0;
        assert!(bad.contains("colour") && !bad.contains("hunter2"), "{bad}");
    }
}

//! What a request is sent to, and one worker's connection to it.
//!
//! A worker owns its client side: an MCP session (rmcp's Streamable HTTP
//! client, one reqwest client per session), a reqwest client for REST, or a
//! handle on the bench's shared sqlx pool. Every answer is checked (the
//! expected e-mail for a point lookup, the row count for a large result),
//! so a fast wrong answer counts as an error, not as a sample.

use anyhow::{Context, Result, anyhow, bail};
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use sqlx::PgPool;

/// The point lookup every small-query scenario runs (ids 1..=200 exist).
pub const POINT_SQL: &str = "SELECT id, email FROM customers WHERE id = $1";
/// The large query: one million rows, capped by the caller's limit.
pub const BIG_SQL: &str = "SELECT id, bucket, payload FROM big WHERE id <= $1 ORDER BY id";

/// [`BIG_SQL`] with the row count written in (DBHub takes SQL text only).
fn big_sql_for(limit: u64) -> String {
    format!("SELECT id, bucket, payload FROM big WHERE id <= {limit} ORDER BY id")
}
const CUSTOMERS: u64 = 200;

/// Where requests go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// sqlx straight to PostgreSQL from the bench process.
    Sqlx,
    /// sqlx with the same wrapping as Conexor's PostgreSQL read:
    /// `BEGIN READ ONLY`, `SET LOCAL statement_timeout`, the query, `ROLLBACK`.
    SqlxReadOnlyTx,
    /// Conexor's `run_query` tool over MCP Streamable HTTP.
    ConexorMcp,
    /// Conexor's `POST /api/v1/query`.
    ConexorRest,
    /// DBHub's `execute_sql` tool over MCP Streamable HTTP.
    DbhubMcp,
}

impl Target {
    pub fn label(self) -> &'static str {
        match self {
            Target::Sqlx => "sqlx (direct)",
            Target::SqlxReadOnlyTx => "sqlx, read-only transaction",
            Target::ConexorMcp => "Conexor MCP",
            Target::ConexorRest => "Conexor REST",
            Target::DbhubMcp => "DBHub MCP",
        }
    }

    pub fn is_conexor(self) -> bool {
        matches!(self, Target::ConexorMcp | Target::ConexorRest)
    }
}

/// What each request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// [`POINT_SQL`] with id `n % 200 + 1`: one row back.
    Point,
    /// [`BIG_SQL`]: the first `limit` rows of a million, by primary key (the
    /// same statement `bench/http.sh --rows` sends).
    Big { limit: u64 },
}

impl Workload {
    pub fn describe(self) -> String {
        match self {
            Workload::Point => format!("`{POINT_SQL}`, id varying over 1..={CUSTOMERS}"),
            Workload::Big { limit } => format!("`{BIG_SQL}` (1,000,000 rows), $1 = {limit}"),
        }
    }
}

/// How to reach each target; a target that is not running has `None`.
#[derive(Clone)]
pub struct Endpoints {
    pub pool: PgPool,
    pub conexor: Option<ConexorEndpoint>,
    pub dbhub_mcp_url: Option<String>,
}

#[derive(Clone)]
pub struct ConexorEndpoint {
    pub base_url: String,
    pub mcp_url: String,
    /// The `cxk_…` key text (bearer).
    pub key: String,
    pub connection: String,
}

type McpClient = RunningService<RoleClient, ClientConfig>;

/// One worker's client side.
pub struct Worker {
    workload: Workload,
    client: Client,
}

enum Client {
    Sqlx {
        pool: PgPool,
        read_only_tx: bool,
    },
    Mcp {
        session: McpClient,
        dialect: McpDialect,
    },
    Rest {
        http: reqwest::Client,
        url: String,
        key: String,
        connection: String,
    },
}

enum McpDialect {
    Conexor { connection: String },
    Dbhub,
}

impl Worker {
    /// Opens a worker's client (an MCP session is initialized here, before
    /// any timing starts).
    pub async fn open(target: Target, workload: Workload, ends: &Endpoints) -> Result<Worker> {
        let client = match target {
            Target::Sqlx | Target::SqlxReadOnlyTx => Client::Sqlx {
                pool: ends.pool.clone(),
                read_only_tx: target == Target::SqlxReadOnlyTx,
            },
            Target::ConexorMcp => {
                let cx = conexor(ends)?;
                Client::Mcp {
                    session: mcp_session(&cx.mcp_url, Some(&cx.key)).await?,
                    dialect: McpDialect::Conexor {
                        connection: cx.connection.clone(),
                    },
                }
            }
            Target::ConexorRest => {
                let cx = conexor(ends)?;
                Client::Rest {
                    http: reqwest::Client::builder()
                        .build()
                        .context("building the HTTP client")?,
                    url: format!("{}/api/v1/query", cx.base_url.trim_end_matches('/')),
                    key: cx.key.clone(),
                    connection: cx.connection.clone(),
                }
            }
            Target::DbhubMcp => {
                let url = ends
                    .dbhub_mcp_url
                    .as_deref()
                    .ok_or_else(|| anyhow!("DBHub is not running"))?;
                Client::Mcp {
                    session: mcp_session(url, None).await?,
                    dialect: McpDialect::Dbhub,
                }
            }
        };
        Ok(Worker { workload, client })
    }

    /// The MCP protocol version this worker's session negotiated, if MCP.
    pub fn protocol_version(&self) -> Option<String> {
        match &self.client {
            Client::Mcp { session, .. } => session
                .peer_info()
                .map(|info| info.protocol_version.to_string()),
            _ => None,
        }
    }

    /// The names of the tools the MCP server offers, if MCP.
    pub async fn tool_names(&self) -> Result<Vec<String>> {
        match &self.client {
            Client::Mcp { session, .. } => Ok(session
                .list_all_tools()
                .await
                .context("tools/list")?
                .into_iter()
                .map(|t| t.name.to_string())
                .collect()),
            _ => Ok(Vec::new()),
        }
    }

    /// Ends an MCP session cleanly (DELETE on the session); a no-op otherwise.
    pub async fn close(self) {
        if let Client::Mcp { session, .. } = self.client {
            let _ = session.cancel().await;
        }
    }

    /// Makes request number `n` and checks the answer; returns the size of
    /// the answer's payload in bytes (0 for sqlx, which has none).
    pub async fn call(&mut self, n: u64) -> Result<u64> {
        let id = n % CUSTOMERS + 1;
        match &mut self.client {
            Client::Sqlx { pool, read_only_tx } => {
                sqlx_call(pool, *read_only_tx, self.workload, id).await
            }
            Client::Mcp { session, dialect } => {
                let (tool, args) = match dialect {
                    McpDialect::Conexor { connection } => {
                        ("run_query", conexor_args(connection, self.workload, id))
                    }
                    McpDialect::Dbhub => ("execute_sql", dbhub_args(self.workload, id)),
                };
                let Value::Object(args) = args else {
                    bail!("tool arguments must be an object");
                };
                let result = session
                    .call_tool(CallToolRequestParams::new(tool).with_arguments(args))
                    .await
                    .context("tools/call")?;
                let text: String = result
                    .content
                    .iter()
                    .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
                    .collect();
                if result.is_error == Some(true) {
                    bail!("tool error: {}", clip(&text));
                }
                check_answer(&text, self.workload, id)?;
                Ok(text.len() as u64)
            }
            Client::Rest {
                http,
                url,
                key,
                connection,
            } => {
                let response = http
                    .post(url.as_str())
                    .bearer_auth(key.as_str())
                    .json(&conexor_args(connection, self.workload, id))
                    .send()
                    .await
                    .context("POST /api/v1/query")?;
                let status = response.status();
                let body = response.text().await.context("reading the answer")?;
                if !status.is_success() {
                    bail!("HTTP {status}: {}", clip(&body));
                }
                check_answer(&body, self.workload, id)?;
                Ok(body.len() as u64)
            }
        }
    }
}

fn conexor(ends: &Endpoints) -> Result<&ConexorEndpoint> {
    ends.conexor
        .as_ref()
        .ok_or_else(|| anyhow!("the Conexor server is not running"))
}

async fn mcp_session(url: &str, bearer: Option<&str>) -> Result<McpClient> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    if let Some(key) = bearer {
        config = config.auth_header(key.to_owned());
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("conexor-bench", env!("CARGO_PKG_VERSION")),
    )
    .serve(transport)
    .await
    .with_context(|| format!("MCP initialize at {url}"))
}

/// `run_query` arguments, also the REST body.
fn conexor_args(connection: &str, workload: Workload, id: u64) -> Value {
    match workload {
        Workload::Point => json!({"connection": connection, "sql": POINT_SQL, "params": [id]}),
        Workload::Big { limit } => {
            json!({"connection": connection, "sql": BIG_SQL, "params": [limit], "limit": limit})
        }
    }
}

/// `execute_sql` takes SQL text only (no bound parameters), so the id is
/// written into the SQL, as an AI client would do; the row cap is DBHub's
/// `max_rows` from its configuration (run.sh sets it to the same limit).
fn dbhub_args(workload: Workload, id: u64) -> Value {
    match workload {
        Workload::Point => {
            json!({"sql": format!("SELECT id, email FROM customers WHERE id = {id}")})
        }
        Workload::Big { limit } => json!({"sql": big_sql_for(limit)}),
    }
}

async fn sqlx_call(pool: &PgPool, read_only_tx: bool, workload: Workload, id: u64) -> Result<u64> {
    let id = i64::try_from(id)?;
    if read_only_tx {
        // As Conexor's PostgreSQL read does it (a dropped transaction rolls back).
        let mut tx = pool.begin_with("BEGIN READ ONLY").await?;
        sqlx::query("SET LOCAL statement_timeout = 15000")
            .execute(&mut *tx)
            .await?;
        sqlx_query(&mut tx, workload, id).await?;
        tx.rollback().await?;
    } else {
        let mut conn = pool.acquire().await.context("acquiring a connection")?;
        sqlx_query(&mut conn, workload, id).await?;
    }
    Ok(0)
}

async fn sqlx_query(conn: &mut sqlx::PgConnection, workload: Workload, id: i64) -> Result<()> {
    match workload {
        Workload::Point => {
            let row: Option<(i32, String)> = sqlx::query_as(POINT_SQL)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            match row {
                Some((got, email)) if i64::from(got) == id && email == expected_email(id) => Ok(()),
                other => Err(anyhow!("unexpected row for id {id}: {other:?}")),
            }
        }
        Workload::Big { limit } => {
            let rows: Vec<(i64, i32, String)> = sqlx::query_as(BIG_SQL)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&mut *conn)
                .await?;
            if rows.len() as u64 == limit {
                Ok(())
            } else {
                Err(anyhow!("expected {limit} rows, got {}", rows.len()))
            }
        }
    }
}

fn expected_email<T: std::fmt::Display>(id: T) -> String {
    format!("customer{id}@example.com")
}

/// A cheap check that the answer is the right one: the e-mail of the id
/// asked for, or a result of `limit` rows (Conexor's `row_count`, DBHub's
/// `count`).
fn check_answer(text: &str, workload: Workload, id: u64) -> Result<()> {
    let ok = match workload {
        Workload::Point => text.contains(&format!("\"{}\"", expected_email(id))),
        Workload::Big { limit } => {
            text.contains(&format!("\"row_count\":{limit}"))
                || text.contains(&format!("\"count\": {limit}"))
        }
    };
    if ok {
        Ok(())
    } else {
        bail!("unexpected answer: {}", clip(text))
    }
}

fn clip(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

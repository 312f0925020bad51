//! Connectors: one module per kind of data source, behind one [`Source`] type.
//!
//! | kind         | module         | tested against                         |
//! |--------------|----------------|----------------------------------------|
//! | `postgresql` | [`postgresql`] | PostgreSQL 15 (private server per run) |
//! | `mysql`      | [`mysql`]      | MariaDB 10.11 (private server per run) |
//! | `sqlite`     | [`sqlite`]     | the file itself                        |
//! | `s3`         | [`s3`]         | moto's S3 server (started per test)    |
//!
//! A connector does three things: `test` (login, version, role checks), `discover`
//! (names, types, keys, comments, estimates — never rows; for object storage
//! buckets and top-level prefixes — never contents) and `read`: one guarded
//! query for the SQL kinds, one typed [`conexor_types::objects::ObjectRead`]
//! for object storage, which does not pretend to be SQL. `read` accepts only a [`conexor_guard::CheckedQuery`], which
//! nothing outside the guard can construct, and enforces the second layer of
//! the SELECT-only promise itself: a read-only session from connect, a
//! read-only transaction that is always rolled back, a statement timeout, and
//! the row cap pushed into the SQL so the source stops early. Execution is
//! always prepared (extended protocol on PostgreSQL, `COM_STMT_PREPARE` on
//! MySQL), never the simple-query or batch path.
//!
//! This crate knows nothing of MCP, the control-plane store or encryption:
//! it receives a plaintext [`SourceSpec`] and never persists it.

pub mod kafka;
pub mod mysql;
pub mod postgresql;
pub mod rest;
pub mod s3;
pub mod sqlite;
pub mod sqlserver;

pub mod catalog;
mod connector;
mod error;
mod http;
mod policy;
mod schema;
mod sessions;
mod spec;
mod value;

pub use connector::{Connector, SqlConnector};
pub use error::{ConnectFailure, Error, ErrorClass};
pub use policy::{DestinationPolicy, check_destination, check_ip, check_spec_destination};
pub use schema::{Column as SchemaColumn, ForeignKey, Schema, Table};
pub use spec::{ConnectionSpec, Encrypt, SourceSpec, SslMode};
pub use value::encoded_len as json_len;

use conexor_guard::CheckedQuery;
use conexor_types::{ConnectionKind, Family, Limits, ResultSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What a connection test found. Shown to the user before a connection is saved.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct TestReport {
    /// The server's own version string.
    pub version: String,
    /// Round trip of a trivial query, after login.
    pub latency_ms: u64,
    /// Why this login is more powerful than a read-only one; empty when it is read-only.
    pub privileges: Vec<String>,
    /// Statements that create a suitable read-only login on this source.
    pub read_only_grants: String,
}

/// How long an idle pooled connection is kept; pools themselves are closed by
/// the server's pool cache after the same idle time.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(300);

/// An open source: a small pool of read-only sessions.
#[derive(Clone)]
pub enum Source {
    Postgresql(postgresql::PostgresqlSource),
    /// Boxed: sqlx keeps MySQL's connect options inline (about 390 bytes),
    /// eight times the next kind.
    Mysql(Box<mysql::MysqlSource>),
    Sqlite(sqlite::SqliteSource),
    Sqlserver(sqlserver::SqlserverSource),
    S3(s3::S3Source),
    Rest(rest::RestSource),
    Kafka(kafka::KafkaSource),
}

/// Options for opening a source that do not come from the user's spec.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Statement timeout pushed into every session.
    pub statement_timeout: Duration,
    /// How long a login may take.
    pub connect_timeout: Duration,
    /// Most sessions open at once to this source.
    pub max_connections: u32,
    /// Idle sessions are closed after this.
    pub idle_timeout: Duration,
    /// Where an HTTP source may connect, checked again on every resolution
    /// (object storage; SQL hosts are checked by [`check_destination`]).
    pub destinations: DestinationPolicy,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            statement_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
            max_connections: 4,
            idle_timeout: DEFAULT_IDLE,
            destinations: DestinationPolicy::default(),
        }
    }
}

impl Source {
    /// Opens a pool for `spec`. Does not check the destination: call
    /// [`check_destination`] first.
    pub async fn open(
        kind: ConnectionKind,
        spec: &ConnectionSpec,
        options: &OpenOptions,
    ) -> Result<Source, Error> {
        if let Some(name) = &spec.password_secret {
            // The server resolves named secrets before it opens a spec; an
            // agent has none (its agent.toml reads env vars and files).
            return Err(Error::Spec(format!(
                "the password refers to the secret {name:?}, which was not resolved"
            )));
        }
        match kind {
            ConnectionKind::Postgresql => postgresql::PostgresqlSource::open(spec, options)
                .await
                .map(Source::Postgresql),
            ConnectionKind::Mysql => mysql::MysqlSource::open(spec, options)
                .await
                .map(|s| Source::Mysql(Box::new(s))),
            ConnectionKind::Sqlite => sqlite::SqliteSource::open(spec, options)
                .await
                .map(Source::Sqlite),
            ConnectionKind::Sqlserver => sqlserver::SqlserverSource::open(spec, options)
                .await
                .map(Source::Sqlserver),
            ConnectionKind::S3 | ConnectionKind::Rest | ConnectionKind::Kafka => Err(Error::Spec(
                format!("a {kind} connection has its own fields, not a database's"),
            )),
        }
    }

    /// Opens a source of any kind from its spec. Does not check a SQL
    /// destination: call [`check_destination`] first.
    pub async fn open_spec(spec: &SourceSpec, options: &OpenOptions) -> Result<Source, Error> {
        match spec {
            SourceSpec::Sql(kind, sql) => Source::open(*kind, sql, options).await,
            SourceSpec::S3(s3) => s3::S3Source::open(s3, options).map(Source::S3),
            SourceSpec::Rest(rest) => rest::RestSource::open(rest, options).map(Source::Rest),
            SourceSpec::Kafka(kafka) => kafka::KafkaSource::open(kafka, options)
                .await
                .map(Source::Kafka),
        }
    }

    pub fn kind(&self) -> ConnectionKind {
        fn kind_of<C: Connector>(_: &C) -> ConnectionKind {
            C::KIND
        }
        connector::each_kind!(self, |s| kind_of(s))
    }

    /// The guard dialect matching this source (none for object storage).
    pub fn dialect(&self) -> Option<conexor_guard::Dialect> {
        dialect_for(self.kind())
    }

    pub async fn test(&self) -> Result<TestReport, Error> {
        connector::each_kind!(self, |s| Connector::test(s).await)
    }

    pub async fn discover(&self) -> Result<Schema, Error> {
        connector::each_kind!(self, |s| Connector::discover(s).await)
    }

    /// The object store behind this source, for object reads.
    pub fn objects(&self) -> Result<&s3::S3Source, Error> {
        match self {
            Source::S3(s) => Ok(s),
            _ => Err(Error::Usage(
                "this connection holds tables, not objects: use run_query".into(),
            )),
        }
    }

    /// The REST API behind this source, for operation calls.
    pub fn api(&self) -> Result<&rest::RestSource, Error> {
        match self {
            Source::Rest(s) => Ok(s),
            _ => Err(Error::Usage(
                "this connection is not a REST API: call_operation reads REST connections only"
                    .into(),
            )),
        }
    }

    /// The Kafka cluster behind this source, for topic reads.
    pub fn topics(&self) -> Result<&kafka::KafkaSource, Error> {
        match self {
            Source::Kafka(s) => Ok(s),
            _ => Err(Error::Usage(
                "this connection is not Kafka: list_topics and peek_messages read Kafka connections only"
                    .into(),
            )),
        }
    }

    /// Runs one guarded query with bound parameters within `limits`.
    ///
    /// `stop` is the caller giving up (a cancelled MCP call, a dropped client
    /// connection). The read then stops its statement at the source, not just
    /// its wait for it, and returns [`Error::Cancelled`]: dropping this future
    /// instead would leave the statement running until its timeout (a pooled
    /// session is returned only once the source has finished it).
    pub async fn read(
        &self,
        query: &CheckedQuery,
        params: &[serde_json::Value],
        limits: &Limits,
        stop: &CancellationToken,
    ) -> Result<ResultSet, Error> {
        if Some(query.dialect()) != self.dialect() {
            return Err(Error::Usage("query was checked for another dialect".into()));
        }
        if query.placeholder_count() != params.len() {
            return Err(Error::Usage(format!(
                "the query has {} placeholders but {} parameters were given",
                query.placeholder_count(),
                params.len()
            )));
        }
        // A query checked under another policy (or none) must not bring a user
        // function this connection's admin did not allow.
        let policy = self.policy();
        if let Some(name) = query
            .user_functions()
            .iter()
            .find(|name| !policy.allows(query.dialect(), name))
        {
            return Err(Error::Refused {
                code: "guard.unknown_function",
                reason: format!("function {name} is not allow-listed for this connection"),
            });
        }
        if stop.is_cancelled() {
            return Err(Error::Cancelled);
        }
        connector::each_sql_kind!(
            self,
            |s| SqlConnector::read(s, query, params, limits, stop).await,
            Err(Error::Usage(match self.kind().family() {
                Family::Api =>
                    "this connection is a REST API, not tables: use call_operation (or its operation's own tool)",
                Family::Topics =>
                    "this connection is Kafka, not tables: use list_topics and peek_messages",
                _ => "this connection holds objects, not tables: use list_objects and read_object",
            }
            .into()))
        )
    }

    /// The connection admin's allow-list of user-defined functions; check queries for
    /// this source under it (`conexor_guard::check_with_policy`).
    pub fn policy(&self) -> &conexor_guard::FunctionPolicy {
        static NONE: std::sync::LazyLock<conexor_guard::FunctionPolicy> =
            std::sync::LazyLock::new(conexor_guard::FunctionPolicy::default);
        connector::each_sql_kind!(self, |s| SqlConnector::policy(s), &NONE)
    }

    /// Closes every pooled session.
    pub async fn close(&self) {
        connector::each_kind!(self, |s| Connector::close(s).await)
    }
}

/// The guard dialect of a SQL kind; none for kinds that hold no tables.
pub fn dialect_for(kind: ConnectionKind) -> Option<conexor_guard::Dialect> {
    match kind {
        ConnectionKind::Postgresql => Some(conexor_guard::Dialect::Postgresql),
        ConnectionKind::Mysql => Some(conexor_guard::Dialect::Mysql),
        ConnectionKind::Sqlite => Some(conexor_guard::Dialect::Sqlite),
        ConnectionKind::Sqlserver => Some(conexor_guard::Dialect::Sqlserver),
        ConnectionKind::S3 | ConnectionKind::Rest | ConnectionKind::Kafka => {
            debug_assert_ne!(kind.family(), Family::Sql);
            None
        }
    }
}

/// SHA-256 hex of the exact statement sent to the source (the audit's `query_hash`).
pub fn query_hash(statement: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(statement.as_bytes()))
}

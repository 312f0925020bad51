//! Shared vocabulary of Conexor: identifiers as newtypes, connection kinds,
//! limits and the compact result set.
//!
//! Every crate speaks these types so that an id of one kind cannot be passed
//! where another is expected, and so that the AAD strings of format v1 are
//! built only from validated ids. This crate does no I/O and has no opinion
//! about HTTP or MCP.

mod error_code;
mod ids;
pub mod objects;
mod result;
mod time;
pub mod topics;

pub use error_code::{ErrorCode, McpKind};
pub use ids::{IdError, KeyId, SecretId, WorkspaceId, is_base62};
pub use result::{Column, MAX_SAFE_INTEGER, ResultSet, float_value, int_value};
pub use time::Timestamp;

use serde::{Deserialize, Serialize};

/// The kinds of data source Conexor can read. The string form is the `type`
/// key of DESIGN §3 and the name of the connector module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionKind {
    Postgresql,
    Mysql,
    Sqlite,
    /// SQL Server and Azure SQL (T-SQL over TDS).
    Sqlserver,
    /// S3 and S3-compatible object storage (MinIO, Ceph, R2, moto, …).
    S3,
    /// A REST API described by OpenAPI 3 (its GET and HEAD operations).
    Rest,
    /// Kafka and Kafka-compatible brokers (topics listed, messages peeked).
    Kafka,
}

/// What shape of data a kind holds, which decides its tools: SQL kinds get
/// `run_query` and table tools, object kinds `list_objects` and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Sql,
    Objects,
    /// REST APIs: one tool per enabled operation, or search/describe/call.
    Api,
    /// Kafka: `list_topics` and `peek_messages`.
    Topics,
}

impl ConnectionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionKind::Postgresql => "postgresql",
            ConnectionKind::Mysql => "mysql",
            ConnectionKind::Sqlite => "sqlite",
            ConnectionKind::Sqlserver => "sqlserver",
            ConnectionKind::S3 => "s3",
            ConnectionKind::Rest => "rest",
            ConnectionKind::Kafka => "kafka",
        }
    }

    pub fn parse(text: &str) -> Option<ConnectionKind> {
        match text {
            "postgresql" | "postgres" => Some(ConnectionKind::Postgresql),
            "mysql" | "mariadb" => Some(ConnectionKind::Mysql),
            "sqlite" => Some(ConnectionKind::Sqlite),
            "sqlserver" | "mssql" | "azuresql" => Some(ConnectionKind::Sqlserver),
            "s3" => Some(ConnectionKind::S3),
            "rest" | "openapi" => Some(ConnectionKind::Rest),
            "kafka" => Some(ConnectionKind::Kafka),
            _ => None,
        }
    }

    pub fn family(self) -> Family {
        match self {
            ConnectionKind::Postgresql
            | ConnectionKind::Mysql
            | ConnectionKind::Sqlite
            | ConnectionKind::Sqlserver => Family::Sql,
            ConnectionKind::S3 => Family::Objects,
            ConnectionKind::Rest => Family::Api,
            ConnectionKind::Kafka => Family::Topics,
        }
    }
}

impl std::fmt::Display for ConnectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a connection is served from: the server dials the source itself
/// (`direct`), or an on-premise agent serves it over its outbound socket
/// (`agent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Direct,
    Agent,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Direct => "direct",
            Mode::Agent => "agent",
        }
    }

    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "direct" => Some(Mode::Direct),
            "agent" => Some(Mode::Agent),
            _ => None,
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Limits applied to one read. The server clamps what a caller asks for to
/// the operator's configured maximums before a read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most rows returned; one more is fetched to know whether the result was truncated.
    pub max_rows: u64,
    /// Most bytes of encoded rows returned.
    pub max_bytes: u64,
    /// Statement timeout pushed to the source.
    pub timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_rows: 1000,
            max_bytes: 4 * 1024 * 1024,
            timeout_ms: 15_000,
        }
    }
}

//! Connector errors. A driver's message can carry row values, user names or
//! hosts, so it is kept apart from the class code: the class goes to the
//! audit log and logs, the message only to the caller who ran the query.

/// A stable, value-free classification of a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorClass {
    /// `sqlstate:<code>`, `mysql:<errno>`, `connect`, `timeout`, `limit`, …
    pub code: String,
    /// A fixed reason for the class, never text from the driver.
    pub reason: &'static str,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection spec is incomplete or contradictory.
    #[error("invalid connection: {0}")]
    Spec(String),
    /// The destination is refused by policy (metadata address, own store, directory not allowed).
    #[error("destination refused: {0}")]
    Destination(String),
    /// The caller used the connector wrongly (parameter count, dialect).
    #[error("{0}")]
    Usage(String),
    /// The query would reach code the catalog shows is not allowed (a view, policy,
    /// domain, cast or operator over a side-effecting or user-defined function).
    #[error("query refused: {reason}")]
    Refused { code: &'static str, reason: String },
    /// A parameter could not be bound.
    #[error("parameter {index}: {reason}")]
    Param { index: usize, reason: String },
    /// The source refused or failed; the message is the driver's own.
    #[error("source error: {message}")]
    Source {
        code: String,
        message: String,
        timeout: bool,
    },
    /// The source could not be reached or refused the login.
    #[error("could not connect: {message}")]
    Connect { message: String },
    /// The caller gave up (the MCP client cancelled the call or dropped its
    /// connection); the statement was stopped at the source.
    #[error("the call was cancelled")]
    Cancelled,
}

impl Error {
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Spec(_) => ErrorClass {
                code: "spec".into(),
                reason: "invalid connection",
            },
            Error::Destination(_) => ErrorClass {
                code: "destination".into(),
                reason: "destination refused by policy",
            },
            Error::Usage(_) => ErrorClass {
                code: "usage".into(),
                reason: "invalid request",
            },
            Error::Refused { code, .. } => ErrorClass {
                code: (*code).into(),
                reason: "refused: the query reaches code that is not allowed",
            },
            Error::Param { .. } => ErrorClass {
                code: "param".into(),
                reason: "invalid parameter",
            },
            Error::Source {
                timeout: true,
                code,
                ..
            } => ErrorClass {
                code: code.clone(),
                reason: "statement timeout",
            },
            Error::Source { code, .. } => ErrorClass {
                code: code.clone(),
                reason: "the source rejected the statement",
            },
            Error::Connect { .. } => ErrorClass {
                code: "connect".into(),
                reason: "could not connect to the source",
            },
            Error::Cancelled => ErrorClass {
                code: "cancelled".into(),
                reason: "the client cancelled the call",
            },
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) => {
                let raw = db.code().map(|c| c.into_owned()).unwrap_or_default();
                // PostgreSQL 57014 query_canceled (statement_timeout); MySQL 3024 and
                // MariaDB 1969 are their execution-time limits.
                let timeout = matches!(raw.as_str(), "57014" | "3024" | "1969" | "HY000")
                    && db.message().to_ascii_lowercase().contains("time");
                // The row-size filter of `CheckedQuery::source_sql` (PostgreSQL).
                if let Some(at) = db.message().find(conexor_guard::ROW_TOO_LARGE) {
                    let size: String = db.message()[at + conexor_guard::ROW_TOO_LARGE.len()..]
                        .chars()
                        .filter(char::is_ascii_digit)
                        .collect();
                    return Error::Source {
                        code: "limit.row_size".into(),
                        message: format!(
                            "a row of this result is {size} bytes, more than the byte cap allows; select fewer or narrower columns (for example left(col, 1000))"
                        ),
                        timeout: false,
                    };
                }
                let code = if raw.len() == 5 && raw.chars().all(|c| c.is_ascii_alphanumeric()) {
                    format!("sqlstate:{raw}")
                } else {
                    format!("source:{raw}")
                };
                Error::Source {
                    code,
                    message: db.message().to_string(),
                    timeout,
                }
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Configuration(_) => Error::Connect {
                message: err.to_string(),
            },
            _ => Error::Source {
                code: "driver".into(),
                message: err.to_string(),
                timeout: false,
            },
        }
    }
}

/// Whether an error says the session itself is gone (so another may work),
/// as opposed to an error of the statement.
pub(crate) fn session_lost(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        // 08: connection exception; 57P01..57P03: the server shut down or
        // restarted (PostgreSQL's SQLSTATEs; MySQL reports a lost server as I/O).
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

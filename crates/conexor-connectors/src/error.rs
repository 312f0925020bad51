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
    /// The source could not be reached or refused the login. Only the class
    /// and its fixed sentence are kept: a driver's message names the host, the
    /// user or the database, which the AI and the logs must not see.
    #[error("could not connect: {}", failure.sentence())]
    Connect { failure: ConnectFailure },
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
            Error::Connect { failure } => ErrorClass {
                code: failure.code().into(),
                reason: "could not connect to the source",
            },
            Error::Cancelled => ErrorClass {
                code: "cancelled".into(),
                reason: "the client cancelled the call",
            },
        }
    }
}

/// Why a connection failed, as a client may be told: a class and a fixed
/// sentence, decided from error codes and I/O kinds (never a driver's text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// The login was refused (PostgreSQL class 28, MySQL 1045/1698).
    Auth,
    /// The database does not exist or the login may not use it (PostgreSQL
    /// 3D000, MySQL 1044/1049).
    Database,
    /// Nothing listens there (connection refused).
    Refused,
    /// The host name does not resolve.
    Dns,
    /// No route to the host, or another network failure.
    Unreachable,
    /// The connection or the wait for a pooled session timed out.
    Timeout,
    /// The TLS handshake or certificate check failed.
    Tls,
    /// The source closed the connection.
    Lost,
    /// The connection settings cannot be used.
    Settings,
    /// The SQLite file does not exist.
    NoFile,
    /// The server refused the session for another reason (it is starting or
    /// shutting down, or at its connection limit).
    Unavailable,
}

impl ConnectFailure {
    /// The class code (`connect.<class>`) in audit records and logs.
    pub fn code(self) -> &'static str {
        match self {
            ConnectFailure::Auth => "connect.auth",
            ConnectFailure::Database => "connect.database",
            ConnectFailure::Refused => "connect.refused",
            ConnectFailure::Dns => "connect.dns",
            ConnectFailure::Unreachable => "connect.unreachable",
            ConnectFailure::Timeout => "connect.timeout",
            ConnectFailure::Tls => "connect.tls",
            ConnectFailure::Lost => "connect.lost",
            ConnectFailure::Settings => "connect.settings",
            ConnectFailure::NoFile => "connect.no_file",
            ConnectFailure::Unavailable => "connect.unavailable",
        }
    }

    /// The only words a client gets, with what to check.
    pub fn sentence(self) -> &'static str {
        match self {
            ConnectFailure::Auth => {
                "the source refused the login (check the user name and the password)"
            }
            ConnectFailure::Database => "the database does not exist, or this login may not use it",
            ConnectFailure::Refused => {
                "the connection was refused (check the host, the port, and that the server runs)"
            }
            ConnectFailure::Dns => "the host name does not resolve",
            ConnectFailure::Unreachable => {
                "the source could not be reached (check the host and the network)"
            }
            ConnectFailure::Timeout => "timed out connecting to the source",
            ConnectFailure::Tls => {
                "the TLS handshake failed (check the TLS mode and the CA certificate)"
            }
            ConnectFailure::Lost => "the source closed the connection",
            ConnectFailure::Settings => "the connection settings cannot be used",
            ConnectFailure::NoFile => "the SQLite file does not exist",
            ConnectFailure::Unavailable => {
                "the source refused the session (it may be starting, shutting down, or at its connection limit)"
            }
        }
    }

    /// The class of an I/O failure on the way to a source.
    pub(crate) fn of_io(kind: std::io::ErrorKind) -> ConnectFailure {
        use std::io::ErrorKind;
        match kind {
            ErrorKind::ConnectionRefused => ConnectFailure::Refused,
            ErrorKind::TimedOut => ConnectFailure::Timeout,
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
            | ErrorKind::NotConnected => ConnectFailure::Lost,
            _ => ConnectFailure::Unreachable,
        }
    }

    /// The class of an error that happened while reaching or logging in to
    /// the source, if it is one.
    fn of(err: &sqlx::Error) -> Option<ConnectFailure> {
        Some(match err {
            sqlx::Error::Database(db) => {
                let sqlstate = db.code().unwrap_or_default();
                let errno = db
                    .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                    .map(|e| e.number());
                match (sqlstate.as_ref(), errno) {
                    (_, Some(1045 | 1698)) => ConnectFailure::Auth,
                    (_, Some(1044 | 1049)) => ConnectFailure::Database,
                    (_, Some(_)) => return None,
                    (code, None) if code.starts_with("28") => ConnectFailure::Auth,
                    ("3D000", None) => ConnectFailure::Database,
                    _ => return None,
                }
            }
            sqlx::Error::Io(io) => ConnectFailure::of_io(io.kind()),
            sqlx::Error::Tls(_) => ConnectFailure::Tls,
            sqlx::Error::PoolTimedOut => ConnectFailure::Timeout,
            sqlx::Error::PoolClosed => ConnectFailure::Lost,
            sqlx::Error::Configuration(_) => ConnectFailure::Settings,
            _ => return None,
        })
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        if let Some(failure) = ConnectFailure::of(&err) {
            return Error::Connect { failure };
        }
        match &err {
            sqlx::Error::Database(db) => {
                let raw = db.code().map(|c| c.into_owned()).unwrap_or_default();
                // Decided by codes, never by the message's wording (which follows the
                // server's language): PostgreSQL 57014 query_canceled (the statement
                // timeout; a cancel of our own is `Cancelled` before this), MySQL's
                // errno 3024 (max_execution_time) and MariaDB's 1969
                // (max_statement_time); both carry the generic SQLSTATE HY000/70100.
                let errno = db
                    .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                    .map(|e| e.number());
                let timeout = match errno {
                    Some(n) => matches!(n, 3024 | 1969),
                    None => raw == "57014",
                };
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

/// One login to the source with `options`, within `timeout`, not retried: so
/// that a refused connection, a wrong password or a missing database is
/// reported as what it is at once. (A pool retries a refused connection until
/// its acquire timeout and then says only that it timed out.)
/// An error while a session logs in: whatever the source says then is about
/// the login, so it reaches the client as a connection failure's class and
/// fixed sentence, never as the source's text (which names the database or
/// the user).
pub(crate) fn login_error(err: sqlx::Error) -> Error {
    if let Some(failure) = ConnectFailure::of(&err) {
        return Error::Connect { failure };
    }
    match &err {
        sqlx::Error::Database(db) => {
            let failure = match db.code().as_deref() {
                // Insufficient privilege: no CONNECT on the database.
                Some("42501") => ConnectFailure::Database,
                _ => ConnectFailure::Unavailable,
            };
            Error::Connect { failure }
        }
        _ => Error::from(err),
    }
}

pub(crate) async fn first_login<O>(
    options: &O,
    timeout: std::time::Duration,
) -> Result<O::Connection, Error>
where
    O: sqlx::ConnectOptions,
    O::Connection: Sized,
{
    match tokio::time::timeout(timeout, options.connect()).await {
        Ok(connected) => connected.map_err(login_error),
        Err(_) => Err(Error::Connect {
            failure: ConnectFailure::Timeout,
        }),
    }
}

//! SQL Server and Azure SQL connector (`sqlserver`).
//!
//! T-SQL has no read-only transaction, so reading only is layered:
//! - the guard's T-SQL dialect admits one SELECT and nothing that writes,
//!   executes, locks or assigns (`conexor-guard`);
//! - every session logs in with `ApplicationIntent=ReadOnly` (an
//!   availability group routes it to a readable secondary) and is set to
//!   READ COMMITTED, a lock timeout, `XACT_ABORT ON`, no implicit
//!   transactions and `QUOTED_IDENTIFIER ON` (so `"x"` is a name, as the
//!   guard read it);
//! - every read runs inside `BEGIN TRANSACTION … ROLLBACK`, as a prepared
//!   statement (`sp_executesql`) with bound parameters (`@P1` …), its row
//!   cap in the text as `TOP` (see the guard's `tsql.rs`), its large values
//!   cut at the byte cap by `SET TEXTSIZE`, and a time limit;
//! - test-before-save names the login's roles and permissions beyond
//!   reading (sysadmin, db_owner, db_datawriter, db_ddladmin, CONTROL,
//!   ALTER, …), which the server refuses unless `--allow-privileged`.
//!
//! The destination is checked on every login, not only at save: the host
//! name is resolved here, each address passes the destination policy, and
//! the driver is handed a socket to that address (so the name cannot
//! resolve elsewhere between the check and the connection). Azure SQL's
//! redirect to a worker node is followed once, through the same checks.
//!
//! Why tiberius (0.13): it speaks TDS 7.3/8.0 (with `Encrypt=Strict`) over
//! the same rustls 0.23 / rustls-webpki 0.103 stack as the rest of Conexor,
//! which has no open RustSec advisory; tiberius 0.12's rustls feature pulled
//! rustls 0.21 and rustls-webpki 0.101, which do (RUSTSEC-2026-0098/0099,
//! no patched 0.101 release), and Microsoft's `mssql-tds` 0.3 builds its TLS
//! on OpenSSL (a second TLS stack and a C dependency).
//!
//! Tested offline: no SQL Server can run on the machines this is built on.
//! The guard, the connection string, the value mapping, the catalog and
//! privilege queries and the refusal of unreachable or forbidden
//! destinations are tested here; a live server is not (README says so).

pub mod ado;
mod catalog;
mod values;

use crate::policy::{DestinationPolicy, check_ip};
use crate::spec::Encrypt;
use crate::value::Collector;
use crate::{
    ConnectFailure, ConnectionSpec, Error, ForeignKey, OpenOptions, Schema, SchemaColumn, Table,
    TestReport,
};
use conexor_guard::{CheckedQuery, FunctionPolicy};
use conexor_types::{Column, Limits, ResultSet};
use futures::TryStreamExt;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tiberius::{AuthMethod, Client, Config, EncryptionLevel, ToSql};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};
use tokio_util::sync::CancellationToken;

type Session = Client<Compat<TcpStream>>;

/// SQL Server's default port.
pub const DEFAULT_PORT: u16 = 1433;

/// How long a read waits for a lock before it fails (also bounded by the
/// read's own time limit).
const LOCK_TIMEOUT_MS: u64 = 5_000;

#[derive(Clone)]
pub struct SqlserverSource {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    host: String,
    port: u16,
    destinations: DestinationPolicy,
    connect_timeout: Duration,
    idle_timeout: Duration,
    idle: Mutex<Vec<(Session, Instant)>>,
    permits: Arc<Semaphore>,
    policy: FunctionPolicy,
}

/// A session lent for one read; dropped without [`Lease::give_back`], its
/// socket is closed (the server then ends whatever it was running).
struct Lease {
    session: Session,
    _permit: OwnedSemaphorePermit,
    inner: Arc<Inner>,
}

impl Lease {
    fn give_back(self) {
        if let Ok(mut idle) = self.inner.idle.lock() {
            idle.push((self.session, Instant::now()));
        }
    }
}

impl SqlserverSource {
    pub async fn open(spec: &ConnectionSpec, options: &OpenOptions) -> Result<Self, Error> {
        spec.validate(conexor_types::ConnectionKind::Sqlserver)?;
        let host = spec.host.clone().unwrap_or_default();
        let port = spec.port.unwrap_or(DEFAULT_PORT);
        let mut config = Config::new();
        config.host(&host);
        config.port(port);
        if let Some(db) = &spec.database {
            config.database(db);
        }
        config.authentication(AuthMethod::sql_server(
            spec.username.as_deref().unwrap_or_default(),
            spec.password
                .as_deref()
                .map(String::as_str)
                .unwrap_or_default(),
        ));
        config.application_name("conexor");
        config.readonly(spec.read_only_intent.unwrap_or(true));
        config.encryption(match spec.encrypt.unwrap_or(Encrypt::On) {
            Encrypt::Off => EncryptionLevel::Off,
            Encrypt::On => EncryptionLevel::Required,
            Encrypt::Strict => EncryptionLevel::Strict,
        });
        if spec.trust_server_certificate {
            config.trust_cert();
        } else if let Some(ca) = &spec.ssl_ca_pem {
            config.trust_cert_ca_bundle(ca.as_bytes().to_vec());
        }
        config.command_timeout(Some(options.statement_timeout));
        let source = SqlserverSource {
            inner: Arc::new(Inner {
                config,
                host,
                port,
                destinations: options.destinations.clone(),
                connect_timeout: options.connect_timeout,
                idle_timeout: options.idle_timeout,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(
                    usize::try_from(options.max_connections.max(1)).unwrap_or(1),
                )),
                policy: spec.function_policy()?,
            }),
        };
        // One login now, so a wrong password or host is said at once.
        let first = source.lease(&CancellationToken::new()).await?;
        first.give_back();
        Ok(source)
    }

    /// The connection's allow-list of user-defined functions.
    pub fn policy(&self) -> &FunctionPolicy {
        &self.inner.policy
    }

    pub async fn close(&self) {
        if let Ok(mut idle) = self.inner.idle.lock() {
            idle.clear();
        }
    }

    pub async fn test(&self) -> Result<TestReport, Error> {
        let mut lease = self.lease(&CancellationToken::new()).await?;
        let started = Instant::now();
        lease
            .session
            .simple_query("SELECT 1")
            .await
            .map_err(map_error)?
            .into_results()
            .await
            .map_err(map_error)?;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let version = first_text(
            &mut lease.session,
            "SELECT CAST(@@VERSION AS nvarchar(4000))",
        )
        .await?
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
        let row = lease
            .session
            .simple_query(catalog::PRIVILEGES)
            .await
            .map_err(map_error)?
            .into_row()
            .await
            .map_err(map_error)?;
        lease.give_back();
        let mut flags = Vec::new();
        let mut database = String::new();
        if let Some(row) = row {
            for i in 0..catalog::PRIVILEGE_NAMES.len() {
                flags.push(row.try_get::<i32, _>(i).ok().flatten());
            }
            database = row
                .try_get::<&str, _>(catalog::PRIVILEGE_NAMES.len())
                .ok()
                .flatten()
                .unwrap_or_default()
                .to_owned();
        }
        Ok(TestReport {
            version,
            latency_ms,
            privileges: catalog::risky(&flags),
            read_only_grants: catalog::read_only_grants(if database.is_empty() {
                "<database>"
            } else {
                &database
            }),
        })
    }

    pub async fn discover(&self) -> Result<Schema, Error> {
        let mut lease = self.lease(&CancellationToken::new()).await?;
        let tables = rows(&mut lease.session, catalog::TABLES).await?;
        let columns = rows(&mut lease.session, catalog::COLUMNS).await?;
        let pks = rows(&mut lease.session, catalog::PRIMARY_KEYS).await?;
        let fks = rows(&mut lease.session, catalog::FOREIGN_KEYS).await?;
        lease.give_back();
        let text = |row: &tiberius::Row, i: usize| -> String {
            row.try_get::<&str, _>(i)
                .ok()
                .flatten()
                .unwrap_or_default()
                .to_owned()
        };
        let tables = tables
            .iter()
            .map(|r| Table {
                schema: text(r, 0),
                name: text(r, 1),
                kind: if text(r, 2) == "V" {
                    "view".into()
                } else {
                    "table".into()
                },
                comment: Some(text(r, 3)).filter(|c| !c.is_empty()),
                row_estimate: r.try_get::<i64, _>(4).ok().flatten(),
                columns: Vec::new(),
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
            })
            .collect();
        let columns = columns
            .iter()
            .map(|r| {
                let max_length = r.try_get::<i16, _>(4).ok().flatten().unwrap_or_default();
                let precision = r.try_get::<u8, _>(5).ok().flatten().unwrap_or_default();
                let scale = r.try_get::<u8, _>(6).ok().flatten().unwrap_or_default();
                (
                    text(r, 0),
                    text(r, 1),
                    SchemaColumn {
                        name: text(r, 2),
                        type_name: values::declared_type(&text(r, 3), max_length, precision, scale),
                        nullable: r.try_get::<bool, _>(7).ok().flatten().unwrap_or(true),
                        comment: Some(text(r, 8)).filter(|c| !c.is_empty()),
                    },
                )
            })
            .collect();
        let mut primary: Vec<(String, String, Vec<String>)> = Vec::new();
        for r in &pks {
            let (schema, table, column) = (text(r, 0), text(r, 1), text(r, 2));
            match primary.last_mut() {
                Some(last) if last.0 == schema && last.1 == table => last.2.push(column),
                _ => primary.push((schema, table, vec![column])),
            }
        }
        let mut foreign: Vec<(String, String, String, ForeignKey)> = Vec::new();
        for r in &fks {
            let (schema, table, name) = (text(r, 0), text(r, 1), text(r, 2));
            match foreign.last_mut() {
                Some(last) if last.0 == schema && last.1 == table && last.2 == name => {
                    last.3.columns.push(text(r, 3));
                    last.3.references_columns.push(text(r, 6));
                }
                _ => foreign.push((
                    schema,
                    table,
                    name,
                    ForeignKey {
                        columns: vec![text(r, 3)],
                        references_schema: text(r, 4),
                        references_table: text(r, 5),
                        references_columns: vec![text(r, 6)],
                    },
                )),
            }
        }
        let foreign = foreign
            .into_iter()
            .map(|(s, t, _, fk)| (s, t, fk))
            .collect();
        Ok(Schema::assemble(tables, columns, primary, foreign))
    }

    pub async fn read(
        &self,
        query: &CheckedQuery,
        params: &[Value],
        limits: &Limits,
        stop: &CancellationToken,
    ) -> Result<ResultSet, Error> {
        let sql = query.source_sql(limits.max_rows, limits.max_bytes);
        let params: Vec<values::Param> = params.iter().map(values::Param::from_json).collect();
        let mut lease = self.lease(stop).await?;
        // TEXTSIZE cuts (max) values at the byte cap on the server, before
        // they cross the network (it takes an int: at most 2 GiB - 1).
        let textsize = limits.max_bytes.clamp(1, i32::MAX as u64);
        let limit = Duration::from_millis(limits.timeout_ms.max(1));
        let work = async {
            lease
                .session
                .simple_query(format!("SET TEXTSIZE {textsize}; BEGIN TRANSACTION"))
                .await?
                .into_results()
                .await?;
            let refs: Vec<&dyn ToSql> = params.iter().map(|p| p as &dyn ToSql).collect();
            let mut stream = lease.session.query(sql, &refs).await?;
            let mut collector = Collector::new(limits);
            if let Some(columns) = stream.columns().await? {
                collector.set_columns(
                    columns
                        .iter()
                        .map(|c| Column {
                            name: c.name().to_owned(),
                            type_name: values::type_name(c.column_type()).to_owned(),
                        })
                        .collect(),
                );
            }
            let mut rows = stream.into_row_stream();
            while let Some(row) = rows.try_next().await? {
                // Each cell with its column's declared type (which tells a
                // money from a float).
                let cells = row
                    .cells()
                    .map(|(column, data)| values::cell(column.column_type(), data))
                    .collect();
                if !collector.push(cells) {
                    break;
                }
            }
            drop(rows);
            // Whatever the statement did is undone; the rows left unread (at
            // most the cap's one extra, or those past the byte cap, bounded
            // by TOP) are drained first by the driver.
            lease
                .session
                .simple_query("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION")
                .await?
                .into_results()
                .await?;
            Ok::<_, tiberius::error::Error>(collector.finish())
        };
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(limit, work) => outcome,
            _ = stop.cancelled() => return Err(Error::Cancelled),
        };
        match outcome {
            Ok(Ok(result)) => {
                lease.give_back();
                Ok(result)
            }
            // A failed or timed-out read's session is closed (dropped), never reused.
            Ok(Err(err)) => Err(map_error(err)),
            Err(_) => Err(Error::Source {
                code: "timeout".into(),
                message: format!(
                    "the statement ran past its time limit of {} ms",
                    limits.timeout_ms
                ),
                timeout: true,
            }),
        }
    }

    /// A session for one read: an idle one (closed instead when it sat
    /// longer than the idle timeout), or a new login.
    async fn lease(&self, stop: &CancellationToken) -> Result<Lease, Error> {
        let permits = self.inner.permits.clone();
        let permit = tokio::select! {
            permit = tokio::time::timeout(self.inner.connect_timeout, permits.acquire_owned()) => match permit {
                Ok(Ok(p)) => p,
                Ok(Err(_)) => return Err(Error::Connect { failure: ConnectFailure::Lost }),
                Err(_) => return Err(Error::Connect { failure: ConnectFailure::Timeout }),
            },
            _ = stop.cancelled() => return Err(Error::Cancelled),
        };
        let reused = match self.inner.idle.lock() {
            Ok(mut idle) => {
                let fresh = self.inner.idle_timeout;
                idle.retain(|(_, since)| since.elapsed() < fresh);
                idle.pop().map(|(s, _)| s)
            }
            Err(_) => None,
        };
        let session = match reused {
            Some(session) => session,
            None => tokio::select! {
                session = self.login() => session?,
                _ = stop.cancelled() => return Err(Error::Cancelled),
            },
        };
        Ok(Lease {
            session,
            _permit: permit,
            inner: self.inner.clone(),
        })
    }

    /// A new session, its settings applied. Azure SQL may answer a login
    /// with a redirect to the node that holds the database: followed once,
    /// through the same destination checks.
    async fn login(&self) -> Result<Session, Error> {
        let inner = &self.inner;
        let mut config = inner.config.clone();
        let (mut host, mut port) = (inner.host.clone(), inner.port);
        for _ in 0..2 {
            let socket = dial(&host, port, &inner.destinations, inner.connect_timeout).await?;
            let connected = tokio::time::timeout(
                inner.connect_timeout,
                Client::connect(config.clone(), socket.compat_write()),
            )
            .await;
            match connected {
                Err(_) => {
                    return Err(Error::Connect {
                        failure: ConnectFailure::Timeout,
                    });
                }
                Ok(Ok(mut session)) => {
                    session
                        .simple_query(format!(
                            "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; SET LOCK_TIMEOUT {LOCK_TIMEOUT_MS}; \
                             SET IMPLICIT_TRANSACTIONS OFF; SET XACT_ABORT ON; SET NOCOUNT ON; \
                             SET QUOTED_IDENTIFIER ON; SET ANSI_NULLS ON"
                        ))
                        .await
                        .map_err(map_error)?
                        .into_results()
                        .await
                        .map_err(map_error)?;
                    return Ok(session);
                }
                Ok(Err(tiberius::error::Error::Routing {
                    host: to,
                    port: to_port,
                })) => {
                    crate::policy::check_host(&to, to_port, &inner.destinations).await?;
                    config.host(&to);
                    config.port(to_port);
                    host = to;
                    port = to_port;
                }
                Ok(Err(err)) => return Err(map_connect_error(err)),
            }
        }
        Err(Error::Connect {
            failure: ConnectFailure::Settings,
        })
    }
}

/// A TCP socket to `host:port`, to an address the destination policy
/// allows: the name is resolved once, here, and that address is used.
async fn dial(
    host: &str,
    port: u16,
    policy: &DestinationPolicy,
    timeout: Duration,
) -> Result<TcpStream, Error> {
    let resolved = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| Error::Connect {
            failure: ConnectFailure::Timeout,
        })?
        .map_err(|_| Error::Connect {
            failure: ConnectFailure::Dns,
        })?;
    let mut refused = None;
    let mut last = None;
    for addr in resolved {
        if let Err(e) = check_ip(addr.ip(), policy) {
            refused = Some(e);
            continue;
        }
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(socket)) => {
                let _ = socket.set_nodelay(true);
                return Ok(socket);
            }
            Ok(Err(e)) => last = Some(ConnectFailure::of_io(e.kind())),
            Err(_) => last = Some(ConnectFailure::Timeout),
        }
    }
    match (last, refused) {
        (Some(failure), _) => Err(Error::Connect { failure }),
        (None, Some(refused)) => Err(refused),
        (None, None) => Err(Error::Connect {
            failure: ConnectFailure::Dns,
        }),
    }
}

/// Every row of one of Conexor's own catalog queries.
async fn rows(session: &mut Session, sql: &str) -> Result<Vec<tiberius::Row>, Error> {
    session
        .simple_query(sql)
        .await
        .map_err(map_error)?
        .into_first_result()
        .await
        .map_err(map_error)
}

async fn first_text(session: &mut Session, sql: &str) -> Result<String, Error> {
    let row = session
        .simple_query(sql)
        .await
        .map_err(map_error)?
        .into_row()
        .await
        .map_err(map_error)?;
    Ok(row
        .and_then(|r| r.try_get::<&str, _>(0).ok().flatten().map(str::to_owned))
        .unwrap_or_default())
}

/// A failure while logging in: its class, never the server's text (which
/// names the login and the host).
fn map_connect_error(err: tiberius::error::Error) -> Error {
    use tiberius::error::Error as T;
    let failure = match &err {
        T::Server(e) => match e.code() {
            // Login failed; password expired or must change.
            18456 | 18487 | 18488 => ConnectFailure::Auth,
            // Cannot open the database; not a user of it.
            4060 | 916 => ConnectFailure::Database,
            _ => ConnectFailure::Auth,
        },
        T::Io { kind, .. } => ConnectFailure::of_io(*kind),
        T::Tls(_) => ConnectFailure::Tls,
        _ => ConnectFailure::Settings,
    };
    Error::Connect { failure }
}

/// A failure of a statement: the server's error number as the code
/// (`mssql:208` for an unknown object), its message for the caller only.
fn map_error(err: tiberius::error::Error) -> Error {
    use tiberius::error::Error as T;
    match err {
        T::Server(e) => Error::Source {
            code: format!("mssql:{}", e.code()),
            message: e.message().to_owned(),
            // 1222: the lock request timed out.
            timeout: e.code() == 1222,
        },
        T::Io { kind, .. } => Error::Connect {
            failure: ConnectFailure::of_io(kind),
        },
        T::Tls(_) => Error::Connect {
            failure: ConnectFailure::Tls,
        },
        other => Error::Source {
            code: "mssql:protocol".into(),
            message: match other {
                T::Conversion(_) | T::Utf8 | T::Utf16 => "a value could not be decoded".to_owned(),
                _ => "the server's answer could not be read".to_owned(),
            },
            timeout: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(host: &str, port: u16) -> ConnectionSpec {
        ConnectionSpec {
            host: Some(host.into()),
            port: Some(port),
            username: Some("reader".into()),
            password: Some(zeroize::Zeroizing::new("pw".into())),
            ..Default::default()
        }
    }

    fn options(policy: DestinationPolicy) -> OpenOptions {
        OpenOptions {
            connect_timeout: Duration::from_secs(3),
            destinations: policy,
            ..OpenOptions::default()
        }
    }

    #[tokio::test]
    async fn nothing_listening_is_a_refused_connection_not_a_driver_message() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        match SqlserverSource::open(
            &spec("127.0.0.1", port),
            &options(DestinationPolicy::default()),
        )
        .await
        {
            Err(Error::Connect { failure }) => assert_eq!(failure, ConnectFailure::Refused),
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("connected to nothing"),
        }
    }

    #[tokio::test]
    async fn a_refused_destination_is_never_dialled() {
        // A listener that would see the connection if it were made.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let strict = DestinationPolicy {
            deny_loopback: true,
            ..Default::default()
        };
        match SqlserverSource::open(&spec("127.0.0.1", port), &options(strict)).await {
            Err(Error::Destination(_)) => {}
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("connected"),
        }
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "the refused address was dialled");
        // Metadata addresses are refused whatever the policy says.
        match SqlserverSource::open(
            &spec("169.254.169.254", 1433),
            &options(DestinationPolicy::default()),
        )
        .await
        {
            Err(Error::Destination(_)) => {}
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("connected"),
        }
    }

    #[tokio::test]
    async fn a_server_that_is_not_sql_server_fails_the_login_cleanly() {
        // Something that answers with garbage (here: an HTTP server line).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        match SqlserverSource::open(
            &spec("127.0.0.1", port),
            &options(DestinationPolicy::default()),
        )
        .await
        {
            Err(Error::Connect { .. }) => {}
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("logged in to an HTTP server"),
        }
    }

    #[test]
    fn server_errors_keep_their_number_and_login_errors_only_their_class() {
        let io = tiberius::error::Error::Io {
            kind: std::io::ErrorKind::ConnectionRefused,
            message: "connect to db.internal:1433 as sa".into(),
        };
        let mapped = map_connect_error(io);
        assert!(matches!(
            mapped,
            Error::Connect {
                failure: ConnectFailure::Refused
            }
        ));
        assert!(!mapped.to_string().contains("db.internal"), "{mapped}");
        let tls = map_connect_error(tiberius::error::Error::Tls("cert for evil.example".into()));
        assert!(!tls.to_string().contains("evil"), "{tls}");
    }
}

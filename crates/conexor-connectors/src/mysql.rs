//! MySQL and MariaDB connector.
//!
//! Every session is made read-only at connect (`SET SESSION TRANSACTION READ
//! ONLY`) with an execution-time limit (`max_execution_time` on MySQL,
//! `max_statement_time` on MariaDB); each read is one server-side prepared
//! statement (which MySQL refuses to run with more than one statement) in
//! autocommit: its own transaction, read-only like every transaction of the
//! session, in one round trip. Sessions come from `crate::sessions`, each
//! with its id read at login for `KILL QUERY`.

use crate::sessions::{Session, Sessions, Settings};
use crate::value::{Collector, bind_json, bytes_value, columns_of, unsupported};
use crate::{
    ConnectionSpec, Error, ForeignKey, OpenOptions, Schema, SchemaColumn, SslMode, Table,
    TestReport,
};
use conexor_guard::CheckedQuery;
use conexor_types::{Limits, ResultSet, float_value, int_value};
use futures::TryStreamExt;
use serde_json::Value;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlRow, MySqlSslMode};
use sqlx::{AssertSqlSafe, ConnectOptions, Executor, Row, TypeInfo, ValueRef};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, judge_mysql_views};
use conexor_guard::FunctionPolicy;

#[derive(Clone)]
pub struct MysqlSource {
    /// Sessions, each with its id (`CONNECTION_ID()`, read at login), which a
    /// cancelled read names in `KILL QUERY`.
    pool: Sessions<MySqlConnection, u64>,
    /// For the fresh login that sends `KILL QUERY`.
    connect: MySqlConnectOptions,
    mariadb: bool,
    /// The execution-time limit every session gets at connect, in ms.
    session_timeout_ms: u64,
    policy: FunctionPolicy,
    catalog: Arc<tokio::sync::OnceCell<Arc<Catalog>>>,
}

impl MysqlSource {
    pub async fn open(spec: &ConnectionSpec, options: &OpenOptions) -> Result<Self, Error> {
        spec.validate(conexor_types::ConnectionKind::Mysql)?;
        let mut connect = MySqlConnectOptions::new()
            .host(spec.host.as_deref().unwrap_or_default())
            .port(spec.port.unwrap_or(3306))
            .username(spec.username.as_deref().unwrap_or_default())
            .charset("utf8mb4")
            .log_statements(log::LevelFilter::Off)
            .log_slow_statements(log::LevelFilter::Off, Duration::from_secs(3600))
            .ssl_mode(match spec.ssl_mode {
                SslMode::Disable => MySqlSslMode::Disabled,
                SslMode::Prefer => MySqlSslMode::Preferred,
                SslMode::Require => MySqlSslMode::Required,
                SslMode::VerifyCa => MySqlSslMode::VerifyCa,
                SslMode::VerifyFull => MySqlSslMode::VerifyIdentity,
            });
        if let Some(db) = &spec.database {
            connect = connect.database(db);
        }
        if let Some(pw) = &spec.password {
            connect = connect.password(pw);
        }
        if let Some(ca) = &spec.ssl_ca_pem {
            connect = connect.ssl_ca_from_pem(ca.as_bytes().to_vec());
        }
        let timeout = options.statement_timeout;
        // Learn the flavour once, on a throwaway session, so that every pooled
        // session gets the right timeout variable.
        // One direct login, not through a pool: a pool retries a refused
        // connection until its timeout, and the caller would learn only that it
        // timed out (crate::error::first_login).
        let mut probe = crate::error::first_login(&connect, options.connect_timeout).await?;
        let version: String = sqlx::query_scalar("SELECT CAST(VERSION() AS CHAR)")
            .fetch_one(&mut probe)
            .await?;
        let _ = sqlx::Connection::close(probe).await;
        let mariadb = version.to_ascii_lowercase().contains("mariadb");
        let login = connect.clone();
        let pool = Sessions::new(Settings::from(options), move || {
            let login = login.clone();
            async move {
                let mut conn = login.connect().await?;
                // Every transaction of the session is read-only, and so is each
                // read: one statement in autocommit, its own transaction.
                conn.execute("SET SESSION TRANSACTION READ ONLY").await?;
                // The guard reads quotes and backslashes the default way:
                // no ANSI_QUOTES, no NO_BACKSLASH_ESCAPES.
                conn.execute(
                        "SET SESSION sql_mode = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
                    )
                    .await?;
                let limit = timeout_statement(
                    mariadb,
                    u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                );
                conn.execute(AssertSqlSafe(limit)).await?;
                let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
                    .fetch_one(&mut conn)
                    .await?;
                Ok((conn, id))
            }
        });
        Ok(MysqlSource {
            pool,
            connect,
            mariadb,
            policy: spec.function_policy()?,
            catalog: Arc::default(),
            session_timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// The connection's allow-list of user-defined functions.
    pub fn policy(&self) -> &FunctionPolicy {
        &self.policy
    }

    /// The catalog's verdicts (views over code the guard refuses), read once per pool.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, Error> {
        // Read once per pool. The loaded case is answered without building the
        // loader's future, a large state machine that was copied on every call.
        if let Some(loaded) = self.catalog.get() {
            return Ok(loaded.clone());
        }
        Box::pin(self.catalog.get_or_try_init(|| async {
            let mut session = self.pool.acquire().await?;
            let views: Vec<(String, String, Option<String>)> = sqlx::query_as(
                "SELECT CAST(TABLE_SCHEMA AS CHAR), CAST(TABLE_NAME AS CHAR),
                            CAST(VIEW_DEFINITION AS CHAR)
                     FROM information_schema.VIEWS
                     WHERE TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema')",
            )
            .fetch_all(&mut *session)
            .await?;
            session.give_back();
            Ok::<_, Error>(Arc::new(judge_mysql_views(views, &self.policy)))
        }))
        .await
        .cloned()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn test(&self) -> Result<TestReport, Error> {
        let started = Instant::now();
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SELECT 1").execute(&mut *conn).await?;
        let latency_ms = started.elapsed().as_millis() as u64;
        let version: String = sqlx::query_scalar("SELECT CAST(VERSION() AS CHAR)")
            .fetch_one(&mut *conn)
            .await?;
        let grants: Vec<String> = sqlx::query("SHOW GRANTS")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .filter_map(|r| text_at(r, 0))
            .collect();
        let database: Option<String> = sqlx::query_scalar("SELECT CAST(DATABASE() AS CHAR)")
            .fetch_one(&mut *conn)
            .await?;
        conn.give_back();
        let privileges = risky_grants(&grants);
        let db = database.unwrap_or_else(|| "<database>".into());
        let read_only_grants = format!(
            "CREATE USER 'conexor_reader'@'%' IDENTIFIED BY '<choose one>';\n\
             GRANT SELECT, SHOW VIEW ON `{db}`.* TO 'conexor_reader'@'%';"
        );
        Ok(TestReport {
            version,
            latency_ms,
            privileges,
            read_only_grants,
        })
    }

    pub async fn discover(&self) -> Result<Schema, Error> {
        let mut session = self.pool.acquire().await?;
        let mut tx =
            sqlx::Connection::begin_with(&mut *session, "START TRANSACTION READ ONLY").await?;
        let tables = sqlx::query(
            "SELECT CAST(TABLE_SCHEMA AS CHAR), CAST(TABLE_NAME AS CHAR), CAST(TABLE_TYPE AS CHAR),
                    CAST(TABLE_COMMENT AS CHAR), CAST(TABLE_ROWS AS SIGNED)
             FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2",
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| -> Result<Table, sqlx::Error> {
            let kind: String = r.try_get(2)?;
            let comment: Option<String> = r.try_get(3)?;
            Ok(Table {
                schema: r.try_get(0)?,
                name: r.try_get(1)?,
                kind: if kind.contains("VIEW") {
                    "view".into()
                } else {
                    "table".into()
                },
                comment: comment.filter(|c| !c.is_empty() && c != "VIEW"),
                row_estimate: r.try_get(4)?,
                columns: Vec::new(),
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
        let columns = sqlx::query(
            "SELECT CAST(TABLE_SCHEMA AS CHAR), CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR),
                    CAST(COLUMN_TYPE AS CHAR), CAST(IS_NULLABLE AS CHAR), CAST(COLUMN_COMMENT AS CHAR)
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
             ORDER BY TABLE_NAME, ORDINAL_POSITION",
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| -> Result<_, sqlx::Error> {
            let nullable: String = r.try_get(4)?;
            let comment: Option<String> = r.try_get(5)?;
            Ok((
                r.try_get(0)?,
                r.try_get(1)?,
                SchemaColumn {
                    name: r.try_get(2)?,
                    type_name: r.try_get(3)?,
                    nullable: nullable == "YES",
                    comment: comment.filter(|c| !c.is_empty()),
                },
            ))
        })
        .collect::<Result<Vec<_>, _>>()?;
        let keys = sqlx::query(
            "SELECT CAST(TABLE_SCHEMA AS CHAR), CAST(TABLE_NAME AS CHAR), CAST(CONSTRAINT_NAME AS CHAR),
                    CAST(COLUMN_NAME AS CHAR), CAST(REFERENCED_TABLE_SCHEMA AS CHAR),
                    CAST(REFERENCED_TABLE_NAME AS CHAR), CAST(REFERENCED_COLUMN_NAME AS CHAR)
             FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE()
               AND (CONSTRAINT_NAME = 'PRIMARY' OR REFERENCED_TABLE_NAME IS NOT NULL)
             ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.rollback().await?;
        session.give_back();
        let mut pks: Vec<(String, String, Vec<String>)> = Vec::new();
        let mut fks: Vec<(String, String, String, ForeignKey)> = Vec::new();
        for r in keys {
            let schema: String = r.try_get(0)?;
            let table: String = r.try_get(1)?;
            let constraint: String = r.try_get(2)?;
            let column: String = r.try_get(3)?;
            if constraint == "PRIMARY" {
                match pks.last_mut() {
                    Some(last) if last.0 == schema && last.1 == table => last.2.push(column),
                    _ => pks.push((schema, table, vec![column])),
                }
            } else {
                let ref_col: String = r.try_get::<Option<String>, _>(6)?.unwrap_or_default();
                match fks.last_mut() {
                    Some(last) if last.0 == schema && last.1 == table && last.2 == constraint => {
                        last.3.columns.push(column);
                        last.3.references_columns.push(ref_col);
                    }
                    _ => fks.push((
                        schema,
                        table,
                        constraint,
                        ForeignKey {
                            columns: vec![column],
                            references_schema: r
                                .try_get::<Option<String>, _>(4)?
                                .unwrap_or_default(),
                            references_table: r
                                .try_get::<Option<String>, _>(5)?
                                .unwrap_or_default(),
                            references_columns: vec![ref_col],
                        },
                    )),
                }
            }
        }
        let fks = fks.into_iter().map(|(s, t, _, fk)| (s, t, fk)).collect();
        Ok(Schema::assemble(tables, columns, pks, fks))
    }

    pub async fn read(
        &self,
        query: &CheckedQuery,
        params: &[Value],
        limits: &Limits,
        stop: &CancellationToken,
    ) -> Result<ResultSet, Error> {
        let reach = self.catalog().await?.admit(query)?;
        let sql = query.source_sql(limits.max_rows, limits.max_bytes);
        let tighter = (limits.timeout_ms != self.session_timeout_ms)
            .then(|| timeout_statement(self.mariadb, limits.timeout_ms));
        let mut conn = self.read_session(tighter.as_deref(), stop).await?;
        let session_id = *conn.meta();
        // Boxed futures in the selects, as on PostgreSQL (not copied by value).
        let result = tokio::select! {
            result = Box::pin(query_on(&mut conn, sql, params, limits)) => result,
            _ = stop.cancelled() => Err(Error::Cancelled),
        };
        if let Err(Error::Cancelled) = result {
            // The caller gave up while the statement may still run, and MySQL and
            // MariaDB do not notice a closed client until they write to it: the
            // statement is ended with KILL QUERY from a session of its own, then
            // the session is closed.
            self.kill_query(session_id).await;
            drop(conn);
            return result;
        }
        // As on PostgreSQL: built-ins on the allow-list leave no session state (no
        // lock, user variable or LAST_INSERT_ID(expr) function is on it, and the guard
        // refuses assignments); a stored function's effects cannot be proven absent,
        // so its session is closed before the answer, as is one whose read failed.
        if reach.user_code || result.is_err() {
            conn.close().await;
            return result;
        }
        match tighter {
            // The statement ran alone in autocommit: its transaction ended with
            // it, and the session goes back with nothing more sent.
            None => conn.give_back(),
            // The session's own time limit back first, off the answer's path; a
            // session that cannot take it is closed.
            Some(_) => {
                let restore = timeout_statement(self.mariadb, self.session_timeout_ms);
                tokio::spawn(async move {
                    if conn.execute(AssertSqlSafe(restore)).await.is_ok() {
                        conn.give_back();
                    }
                });
            }
        }
        result
    }

    /// A session for one read, after `tighter` (a call's own time limit) when
    /// given. The read itself is one statement in autocommit: its own
    /// transaction, read-only because the session's are
    /// (`SET SESSION TRANSACTION READ ONLY` at login). A session idle for a
    /// while is pinged before it is lent (`sessions::TEST_AFTER_IDLE`); the
    /// statement that sets a tighter limit also tests it, and a session the
    /// server dropped there is closed and the next one tried. A caller that
    /// gives up while waiting for a free session is answered at once.
    async fn read_session(
        &self,
        tighter: Option<&str>,
        stop: &CancellationToken,
    ) -> Result<Session<MySqlConnection, u64>, Error> {
        let mut attempts: u32 = 0;
        loop {
            let mut conn = tokio::select! {
                conn = Box::pin(self.pool.acquire()) => conn?,
                _ = stop.cancelled() => return Err(Error::Cancelled),
            };
            let Some(sql) = tighter else {
                return Ok(conn);
            };
            match conn.execute(AssertSqlSafe(sql)).await {
                Ok(_) => return Ok(conn),
                Err(err) => {
                    conn.close().await;
                    attempts += 1;
                    if !crate::error::session_lost(&err) || attempts > self.pool.max() {
                        return Err(err.into());
                    }
                }
            }
        }
    }
}

impl MysqlSource {
    /// Ends the statement running on session `session_id` (its own login may
    /// always kill its own statements), from a fresh session: the pool may have
    /// none free. Best effort: when it fails, the statement still ends at its
    /// execution-time limit.
    async fn kill_query(&self, session_id: u64) {
        use sqlx::Connection as _;
        let killed = async {
            let mut killer = self.connect.connect().await?;
            killer
                .execute(AssertSqlSafe(format!("KILL QUERY {session_id}")))
                .await?;
            killer.close().await
        };
        if let Err(err) = tokio::time::timeout(Duration::from_secs(5), killed)
            .await
            .unwrap_or_else(|_| Err(sqlx::Error::PoolTimedOut))
        {
            tracing::warn!(error = %crate::Error::from(err).class().code, "could not stop a cancelled statement");
        }
    }
}

/// The statement that sets this flavour's execution-time limit for the session
/// (at connect, and around a call that asks for another limit).
fn timeout_statement(mariadb: bool, timeout_ms: u64) -> String {
    if mariadb {
        format!(
            "SET SESSION max_statement_time = {:.3}",
            timeout_ms as f64 / 1000.0
        )
    } else {
        format!("SET SESSION max_execution_time = {timeout_ms}")
    }
}

/// The caller's statement on a session already inside its read-only
/// transaction, rows collected under the caps.
async fn query_on(
    conn: &mut sqlx::MySqlConnection,
    sql: String,
    params: &[Value],
    limits: &Limits,
) -> Result<ResultSet, Error> {
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for param in params {
        q = bind_json(q, param);
    }
    let mut collector = Collector::new(limits);
    let mut rows = q.fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        if !collector.has_columns() {
            collector.set_columns(columns_of(&row));
        }
        if !collector.push((0..row.len()).map(|i| cell(&row, i)).collect()) {
            break;
        }
    }
    Ok(collector.finish())
}

/// Names the grants that make a login more than read-only.
fn risky_grants(grants: &[String]) -> Vec<String> {
    const RISKY: &[&str] = &[
        "ALL PRIVILEGES",
        "SUPER",
        "FILE",
        "INSERT",
        "UPDATE",
        "DELETE",
        "CREATE",
        "DROP",
        "ALTER",
        "INDEX",
        "GRANT OPTION",
        "SHUTDOWN",
        "PROCESS",
        "RELOAD",
        "CREATE USER",
        "EXECUTE",
        "EVENT",
        "TRIGGER",
        "LOCK TABLES",
        "REFERENCES",
        "CREATE ROUTINE",
        "ALTER ROUTINE",
        "REPLICATION SLAVE",
        "BINLOG ADMIN",
        "CONNECTION ADMIN",
        "READ_ONLY ADMIN",
    ];
    let mut found = Vec::new();
    for grant in grants {
        let upper = grant.to_ascii_uppercase();
        let Some(body) = upper.strip_prefix("GRANT ") else {
            continue;
        };
        let privs = body.split(" ON ").next().unwrap_or_default();
        let with_grant = upper.contains("WITH GRANT OPTION");
        for p in privs.split(',').map(str::trim) {
            if RISKY.contains(&p) && !found.iter().any(|f: &String| f.starts_with(p)) {
                found.push(format!("{p} privilege"));
            }
        }
        if with_grant && !found.iter().any(|f| f.starts_with("GRANT OPTION")) {
            found.push("GRANT OPTION privilege".into());
        }
    }
    found
}

fn text_at(row: &MySqlRow, i: usize) -> Option<String> {
    row.try_get::<String, _>(i).ok().or_else(|| {
        row.try_get::<Vec<u8>, _>(i)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    })
}

fn cell(row: &MySqlRow, i: usize) -> Value {
    let Ok(raw) = row.try_get_raw(i) else {
        return Value::Null;
    };
    if raw.is_null() {
        return Value::Null;
    }
    let name = raw.type_info().name().to_owned();
    macro_rules! get {
        ($t:ty, $f:expr) => {
            match row.try_get::<$t, _>(i) {
                Ok(v) => $f(v),
                Err(_) => unsupported(&name),
            }
        };
    }
    match name.as_str() {
        "BOOLEAN" => get!(bool, Value::Bool),
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => get!(i64, int_value),
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
        | "BIGINT UNSIGNED" => get!(u64, |v: u64| {
            if v <= conexor_types::MAX_SAFE_INTEGER as u64 {
                Value::from(v)
            } else {
                Value::String(v.to_string())
            }
        }),
        "FLOAT" => get!(f32, |v: f32| float_value(v as f64)),
        "DOUBLE" => get!(f64, float_value),
        "DECIMAL" => get!(rust_decimal::Decimal, |v: rust_decimal::Decimal| {
            Value::String(v.to_string())
        }),
        "DATE" => get!(chrono::NaiveDate, |v: chrono::NaiveDate| Value::String(
            v.to_string()
        )),
        "TIME" => get!(chrono::NaiveTime, |v: chrono::NaiveTime| Value::String(
            v.to_string()
        )),
        "DATETIME" => get!(chrono::NaiveDateTime, |v: chrono::NaiveDateTime| {
            Value::String(v.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
        }),
        "TIMESTAMP" => get!(chrono::DateTime<chrono::Utc>, |v: chrono::DateTime<
            chrono::Utc,
        >| {
            Value::String(v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        }),
        "JSON" => get!(Value, |v| v),
        "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" | "BINARY" | "VARBINARY" | "BIT"
        | "GEOMETRY" => {
            get!(Vec<u8>, |v: Vec<u8>| bytes_value(&v))
        }
        _ => match row.try_get::<String, _>(i) {
            Ok(v) => Value::String(v),
            Err(_) => match row.try_get_unchecked::<Vec<u8>, _>(i) {
                Ok(v) => match String::from_utf8(v) {
                    Ok(s) => Value::String(s),
                    Err(e) => bytes_value(e.as_bytes()),
                },
                Err(_) => unsupported(&name),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn risky_grants_are_named() {
        let reader = vec![
            "GRANT SELECT, SHOW VIEW ON `shop`.* TO `r`@`%`".to_string(),
            "GRANT USAGE ON *.* TO `r`@`%`".to_string(),
        ];
        assert!(super::risky_grants(&reader).is_empty());
        let writer = vec!["GRANT SELECT, INSERT, UPDATE ON `shop`.* TO `w`@`%`".to_string()];
        assert_eq!(super::risky_grants(&writer).len(), 2);
        let admin =
            vec!["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION".to_string()];
        assert_eq!(super::risky_grants(&admin).len(), 2);
    }
}

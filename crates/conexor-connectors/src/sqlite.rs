//! SQLite connector.
//!
//! The file is opened read-only (`SQLITE_OPEN_READONLY`, sqlx's `mode=ro`)
//! with `query_only` on: sqlx runs every `;`-separated statement of a string,
//! so the guard's single-statement rule and the read-only open are what
//! stop a second statement here. SQLite has no statement timeout; a read is
//! bounded by a wall-clock timeout that interrupts it.

use crate::value::{Collector, bind_json, bytes_value, unsupported};
use crate::{
    ConnectionSpec, Error, ForeignKey, OpenOptions, Schema, SchemaColumn, Table, TestReport,
};
use conexor_guard::CheckedQuery;
use conexor_types::{Column, Limits, ResultSet, float_value, int_value};
use futures::TryStreamExt;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{AssertSqlSafe, Column as _, ConnectOptions, Row, TypeInfo, ValueRef};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct SqliteSource {
    pool: SqlitePool,
    policy: conexor_guard::FunctionPolicy,
}

/// Largest string or blob a query may build (SQLITE_LIMIT_LENGTH): a hostile
/// `randomblob(1e9)`-style expression fails inside SQLite instead of taking memory.
pub const MAX_VALUE_BYTES: i32 = 16 * 1024 * 1024;

/// How many virtual-machine steps run between two checks of the deadline.
const PROGRESS_STEPS: i32 = 10_000;

impl SqliteSource {
    pub async fn open(spec: &ConnectionSpec, options: &OpenOptions) -> Result<Self, Error> {
        spec.validate(conexor_types::ConnectionKind::Sqlite)?;
        let path = spec.path.as_deref().unwrap_or_default();
        if !std::path::Path::new(path).is_file() {
            return Err(Error::Connect {
                failure: crate::error::ConnectFailure::NoFile,
            });
        }
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .create_if_missing(false)
            .pragma("query_only", "ON")
            // Views and triggers may call only functions SQLite marks innocuous.
            .pragma("trusted_schema", "OFF")
            .log_statements(log::LevelFilter::Off)
            .log_slow_statements(log::LevelFilter::Off, Duration::from_secs(3600));
        let pool = SqlitePoolOptions::new()
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    let mut handle = conn.lock_handle().await?;
                    // SAFETY: the handle is a live connection held locked for the call,
                    // and sqlite3_limit only changes a per-connection limit.
                    unsafe {
                        libsqlite3_sys::sqlite3_limit(
                            handle.as_raw_handle().as_ptr(),
                            libsqlite3_sys::SQLITE_LIMIT_LENGTH,
                            MAX_VALUE_BYTES,
                        );
                    }
                    Ok(())
                })
            })
            .max_connections(options.max_connections)
            .min_connections(0)
            .acquire_timeout(options.connect_timeout)
            .idle_timeout(options.idle_timeout)
            .connect_with(connect)
            .await?;
        Ok(SqliteSource {
            pool,
            policy: spec.function_policy()?,
        })
    }

    /// The connection's allow-list of user-defined functions.
    pub fn policy(&self) -> &conexor_guard::FunctionPolicy {
        &self.policy
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn test(&self) -> Result<TestReport, Error> {
        let started = Instant::now();
        let version: String = sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(&self.pool)
            .await?;
        Ok(TestReport {
            version: format!("SQLite {version}"),
            latency_ms: started.elapsed().as_millis() as u64,
            privileges: Vec::new(),
            read_only_grants: "SQLite files are always opened read-only".into(),
        })
    }

    pub async fn discover(&self) -> Result<Schema, Error> {
        let mut conn = self.pool.acquire().await?;
        let listed = sqlx::query(
            "SELECT name, type FROM sqlite_schema
             WHERE type IN ('table','view') AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut tables = Vec::new();
        let mut columns = Vec::new();
        let mut pks = Vec::new();
        let mut fks = Vec::new();
        for r in listed {
            let name: String = r.try_get(0)?;
            let kind: String = r.try_get(1)?;
            let info = sqlx::query(
                "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?) ORDER BY cid",
            )
            .bind(&name)
            .fetch_all(&mut *conn)
            .await?;
            let mut pk: Vec<(i64, String)> = Vec::new();
            for c in info {
                let col: String = c.try_get(0)?;
                let notnull: i64 = c.try_get(2)?;
                let pk_pos: i64 = c.try_get(3)?;
                if pk_pos > 0 {
                    pk.push((pk_pos, col.clone()));
                }
                columns.push((
                    "main".to_string(),
                    name.clone(),
                    SchemaColumn {
                        name: col,
                        type_name: c.try_get(1)?,
                        nullable: notnull == 0,
                        comment: None,
                    },
                ));
            }
            pk.sort();
            pks.push((
                "main".to_string(),
                name.clone(),
                pk.into_iter().map(|(_, c)| c).collect(),
            ));
            let fk_rows = sqlx::query(
                "SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?) ORDER BY id, seq",
            )
            .bind(&name)
            .fetch_all(&mut *conn)
            .await?;
            let mut by_id: Vec<(i64, ForeignKey)> = Vec::new();
            for f in fk_rows {
                let id: i64 = f.try_get(0)?;
                let from: String = f.try_get(2)?;
                let to: Option<String> = f.try_get(3)?;
                match by_id.last_mut() {
                    Some((last, fk)) if *last == id => {
                        fk.columns.push(from);
                        fk.references_columns.push(to.unwrap_or_default());
                    }
                    _ => by_id.push((
                        id,
                        ForeignKey {
                            columns: vec![from],
                            references_schema: "main".into(),
                            references_table: f.try_get(1)?,
                            references_columns: vec![to.unwrap_or_default()],
                        },
                    )),
                }
            }
            fks.extend(
                by_id
                    .into_iter()
                    .map(|(_, fk)| ("main".to_string(), name.clone(), fk)),
            );
            tables.push(Table {
                schema: "main".into(),
                name,
                kind: kind.clone(),
                comment: None,
                row_estimate: None,
                columns: Vec::new(),
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
            });
        }
        Ok(Schema::assemble(tables, columns, pks, fks))
    }

    pub async fn read(
        &self,
        query: &CheckedQuery,
        params: &[Value],
        limits: &Limits,
        stop: &CancellationToken,
    ) -> Result<ResultSet, Error> {
        let sql = query.source_sql(limits.max_rows, limits.max_bytes);
        let timeout = Duration::from_millis(limits.timeout_ms);
        let mut conn = tokio::select! {
            conn = self.pool.acquire() => conn?,
            _ = stop.cancelled() => return Err(Error::Cancelled),
        };
        // SQLite has no statement timeout: a progress handler interrupts the statement
        // inside SQLite once the deadline passes, or once the caller gives up, so the
        // work stops and the connection is free for the next call at once.
        let deadline = Instant::now() + timeout;
        let given_up = stop.clone();
        conn.lock_handle()
            .await?
            .set_progress_handler(PROGRESS_STEPS, move || {
                Instant::now() < deadline && !given_up.is_cancelled()
            });
        let work = read_on(&mut conn, sql, params, limits);
        // The interrupt is what stops the statement; this outer bound only covers
        // time spent outside SQLite's virtual machine.
        let outcome = tokio::time::timeout(timeout + Duration::from_secs(2), work).await;
        let timed_out = Instant::now() >= deadline;
        let result = match outcome {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(_)) if stop.is_cancelled() => Err(Error::Cancelled),
            Ok(Err(_)) | Err(_) if timed_out => Err(Error::Source {
                code: "timeout".into(),
                message: format!("the query ran longer than {} ms", limits.timeout_ms),
                timeout: true,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Source {
                code: "timeout".into(),
                message: format!("the query ran longer than {} ms", limits.timeout_ms),
                timeout: true,
            }),
        };
        match (&result, outcome_kept(&result)) {
            (Ok(_), _) | (Err(_), true) => {
                if let Ok(mut handle) = conn.lock_handle().await {
                    handle.remove_progress_handler();
                }
            }
            (Err(_), false) => {
                let _ = conn.close().await;
            }
        }
        result
    }
}

/// Whether a connection that failed a call can go back to the pool: a timeout or a
/// refused statement leaves it clean (SQLite rolled the statement back).
fn outcome_kept(result: &Result<ResultSet, Error>) -> bool {
    matches!(
        result,
        Ok(_) | Err(Error::Source { .. }) | Err(Error::Cancelled)
    )
}

async fn read_on(
    conn: &mut sqlx::SqliteConnection,
    sql: String,
    params: &[Value],
    limits: &Limits,
) -> Result<ResultSet, Error> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for param in params {
        q = bind_json(q, param);
    }
    let mut collector = Collector::new(limits);
    {
        let mut rows = q.fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            if !collector.has_columns() {
                // An expression column has no declared type; name the
                // storage class of its first value instead.
                collector.set_columns(
                    row.columns()
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            let declared = c.type_info().name().to_owned();
                            let type_name = if declared == "NULL" {
                                row.try_get_raw(i)
                                    .map(|v| v.type_info().name().to_owned())
                                    .unwrap_or(declared)
                            } else {
                                declared
                            };
                            Column {
                                name: c.name().to_owned(),
                                type_name,
                            }
                        })
                        .collect(),
                );
            }
            if !collector.push((0..row.len()).map(|i| cell(&row, i)).collect()) {
                break;
            }
        }
    }
    tx.rollback().await?;
    Ok(collector.finish())
}

fn cell(row: &SqliteRow, i: usize) -> Value {
    let Ok(raw) = row.try_get_raw(i) else {
        return Value::Null;
    };
    if raw.is_null() {
        return Value::Null;
    }
    // SQLite is dynamically typed: the storage class of this value decides.
    let name = raw.type_info().name().to_owned();
    match name.as_str() {
        "INTEGER" | "INT8" | "BIGINT" => row.try_get_unchecked::<i64, _>(i).map(int_value),
        "REAL" | "FLOAT" | "DOUBLE" => row.try_get_unchecked::<f64, _>(i).map(float_value),
        "BOOLEAN" => row.try_get_unchecked::<bool, _>(i).map(Value::Bool),
        "BLOB" => row
            .try_get_unchecked::<Vec<u8>, _>(i)
            .map(|v| bytes_value(&v)),
        _ => row.try_get_unchecked::<String, _>(i).map(Value::String),
    }
    .unwrap_or_else(|_| unsupported(&name))
}

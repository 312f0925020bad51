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
use sqlx::{AssertSqlSafe, Column as _, Row, TypeInfo, ValueRef};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct SqliteSource {
    pool: SqlitePool,
}

impl SqliteSource {
    pub async fn open(spec: &ConnectionSpec, options: &OpenOptions) -> Result<Self, Error> {
        spec.validate(conexor_types::ConnectionKind::Sqlite)?;
        let path = spec.path.as_deref().unwrap_or_default();
        if !std::path::Path::new(path).is_file() {
            return Err(Error::Connect {
                message: "the sqlite file does not exist".into(),
            });
        }
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .create_if_missing(false)
            .pragma("query_only", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(0)
            .acquire_timeout(options.connect_timeout)
            .idle_timeout(options.idle_timeout)
            .connect_with(connect)
            .await?;
        Ok(SqliteSource { pool })
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
    ) -> Result<ResultSet, Error> {
        let sql = query.capped_sql(limits.max_rows);
        let work = async {
            let mut tx = self.pool.begin().await?;
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
            Ok::<_, Error>(collector.finish())
        };
        match tokio::time::timeout(Duration::from_millis(limits.timeout_ms), work).await {
            Ok(result) => result,
            Err(_) => Err(Error::Source {
                code: "timeout".into(),
                message: format!("the query ran longer than {} ms", limits.timeout_ms),
                timeout: true,
            }),
        }
    }
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

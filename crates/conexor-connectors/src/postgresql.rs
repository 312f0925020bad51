//! PostgreSQL 12+ connector.
//!
//! Sessions are read-only from connect: `default_transaction_read_only=on`
//! and a `statement_timeout` are startup options, which outrank the role's and
//! the database's own settings, and nothing the guard lets through can change
//! them (no `SET`, no setting function on the allow-list; a session that ran
//! allow-listed user code is closed after the call). So each read is one
//! statement through the extended protocol, which refuses a second statement
//! on its own, in the implicit transaction the protocol gives it: a read-only
//! transaction, begun and ended by the server in the read's single round trip.
//! A call with a tighter time limit than the session's runs in
//! `BEGIN READ ONLY; SET LOCAL statement_timeout = …` … `ROLLBACK` instead.

use crate::sessions::{Session, Sessions, Settings};
use crate::value::{Collector, bytes_value, columns_of, unsupported};
use crate::{ConnectionSpec, Error, OpenOptions, Schema, SchemaColumn, SslMode, Table, TestReport};
use conexor_guard::CheckedQuery;
use conexor_types::{Limits, ResultSet, float_value, int_value};
use futures::TryStreamExt;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow, PgSslMode, PgTypeKind};
use sqlx::{AssertSqlSafe, ConnectOptions, Executor, Row, TypeInfo, ValueRef};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, PgFacts, Proc};
use conexor_guard::FunctionPolicy;

#[derive(Clone)]
pub struct PostgresqlSource {
    pool: Sessions<PgConnection>,
    policy: FunctionPolicy,
    catalog: Arc<tokio::sync::OnceCell<Arc<Catalog>>>,
    /// The statement_timeout every session gets at connect, in ms.
    session_timeout_ms: u64,
}

/// Oldest supported server, as `server_version_num`.
const MIN_VERSION_NUM: i32 = 120000;

impl PostgresqlSource {
    pub async fn open(spec: &ConnectionSpec, options: &OpenOptions) -> Result<Self, Error> {
        spec.validate(conexor_types::ConnectionKind::Postgresql)?;
        let timeout_ms = options.statement_timeout.as_millis().to_string();
        let mut connect = PgConnectOptions::new()
            .host(spec.host.as_deref().unwrap_or_default())
            .port(spec.port.unwrap_or(5432))
            .username(spec.username.as_deref().unwrap_or_default())
            .database(spec.database.as_deref().unwrap_or("postgres"))
            .application_name("conexor")
            .ssl_mode(match spec.ssl_mode {
                SslMode::Disable => PgSslMode::Disable,
                SslMode::Prefer => PgSslMode::Prefer,
                SslMode::Require => PgSslMode::Require,
                SslMode::VerifyCa => PgSslMode::VerifyCa,
                SslMode::VerifyFull => PgSslMode::VerifyFull,
            })
            .options([
                ("default_transaction_read_only", "on"),
                // The guard reads string literals the standard way; pin it.
                ("standard_conforming_strings", "on"),
                ("statement_timeout", timeout_ms.as_str()),
                ("idle_in_transaction_session_timeout", "60000"),
                // Built-ins first, whatever the role's own search_path says: a user
                // function of the same name and arguments elsewhere never wins.
                ("search_path", "pg_catalog, \"$user\", public"),
            ])
            .log_statements(log::LevelFilter::Off)
            .log_slow_statements(log::LevelFilter::Off, Duration::from_secs(3600));
        if let Some(pw) = &spec.password {
            connect = connect.password(pw);
        }
        if let Some(ca) = &spec.ssl_ca_pem {
            connect = connect.ssl_root_cert_from_pem(ca.as_bytes().to_vec());
        }
        // One direct login first, not through the pool: the pool retries a
        // refused connection until its timeout, and the caller would learn only
        // that it timed out (crate::error::first_login).
        let first = crate::error::first_login(&connect, options.connect_timeout).await?;
        let _ = sqlx::Connection::close(first).await;
        let pool = Sessions::new(Settings::from(options), move || {
            let connect = connect.clone();
            async move {
                let mut conn = connect.connect().await?;
                check_client_while_running(&mut conn).await?;
                Ok((conn, ()))
            }
        });
        Ok(PostgresqlSource {
            pool,
            policy: spec.function_policy()?,
            catalog: Arc::default(),
            session_timeout_ms: u64::try_from(options.statement_timeout.as_millis())
                .unwrap_or(u64::MAX),
        })
    }

    /// The connection's allow-list of user-defined functions.
    pub fn policy(&self) -> &FunctionPolicy {
        &self.policy
    }

    /// The catalog's verdicts, read once per pool.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, Error> {
        // Read once per pool. The loaded case is answered without building the
        // loader's future, a large state machine that was copied on every call.
        if let Some(loaded) = self.catalog.get() {
            return Ok(loaded.clone());
        }
        Box::pin(self.catalog.get_or_try_init(|| async {
            let facts = self.load_catalog().await?;
            Ok::<_, Error>(Arc::new(facts.judge(&self.policy)))
        }))
        .await
        .cloned()
    }

    async fn load_catalog(&self) -> Result<PgFacts, Error> {
        let mut tx = internal_transaction(&self.pool).await?;
        let procs: Vec<(i64, String, String, bool)> = sqlx::query_as(
            "SELECT p.oid::int8, n.nspname::text, p.proname::text,
                    l.lanname IN ('internal', 'c') AND p.provolatile <> 'v'
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             JOIN pg_language l ON l.oid = p.prolang
             WHERE p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)",
        )
        .fetch_all(&mut *tx)
        .await?;
        let facts = PgFacts {
            procs: procs
                .into_iter()
                .map(|(oid, schema, name, trusted_code)| {
                    (
                        oid,
                        Proc {
                            schema,
                            name,
                            trusted_code,
                        },
                    )
                })
                .collect(),
            operators: sqlx::query_as(
                "SELECT o.oid::int8, o.oprname::text, o.oprcode::oid::int8
                 FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
                 WHERE n.nspname <> 'pg_catalog'",
            )
            .fetch_all(&mut *tx)
            .await?,
            casts: sqlx::query_as(
                "SELECT format_type(c.castsource, NULL), format_type(c.casttarget, NULL),
                        c.castcontext::text, c.castfunc::int8
                 FROM pg_cast c WHERE c.castfunc <> 0 AND c.oid >= 16384",
            )
            .fetch_all(&mut *tx)
            .await?,
            types: sqlx::query_as(
                "SELECT t.oid::int8, t.typname::text, t.typbasetype::int8, t.typelem::int8, t.typrelid::int8
                 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'",
            )
            .fetch_all(&mut *tx)
            .await?,
            composite_fields: sqlx::query_as(
                "SELECT a.attrelid::int8, a.atttypid::int8 FROM pg_attribute a
                 JOIN pg_class c ON c.oid = a.attrelid
                 WHERE c.relkind = 'c' AND a.attnum > 0 AND NOT a.attisdropped",
            )
            .fetch_all(&mut *tx)
            .await?,
            domain_deps: sqlx::query_as(
                "SELECT c.contypid::int8, d.refclassid::regclass::text, d.refobjid::int8
                 FROM pg_constraint c JOIN pg_depend d
                   ON d.classid = 'pg_constraint'::regclass AND d.objid = c.oid
                 WHERE c.contypid <> 0",
            )
            .fetch_all(&mut *tx)
            .await?,
            view_deps: sqlx::query_as(
                "SELECT v.oid::int8, vn.nspname::text, v.relname::text,
                        d.refclassid::regclass::text, d.refobjid::int8
                 FROM pg_rewrite r JOIN pg_class v ON v.oid = r.ev_class
                 JOIN pg_namespace vn ON vn.oid = v.relnamespace
                 JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                 WHERE v.relkind = 'v' AND vn.nspname NOT IN ('pg_catalog', 'information_schema')
                   AND d.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass,
                                        'pg_type'::regclass, 'pg_class'::regclass)",
            )
            .fetch_all(&mut *tx)
            .await?,
            policy_deps: sqlx::query_as(
                "SELECT n.nspname::text, c.relname::text, d.refclassid::regclass::text, d.refobjid::int8
                 FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 JOIN pg_depend d ON d.classid = 'pg_policy'::regclass AND d.objid = p.oid",
            )
            .fetch_all(&mut *tx)
            .await?,
            // Printed with only pg_catalog on the path (see internal_transaction), so
            // every other name comes out schema-qualified, as the guard must judge it.
            view_defs: sqlx::query_as(
                "SELECT v.oid::int8, n.nspname::text, v.relname::text, pg_get_viewdef(v.oid)
                 FROM pg_class v JOIN pg_namespace n ON n.oid = v.relnamespace
                 WHERE v.relkind = 'v' AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
            )
            .fetch_all(&mut *tx)
            .await?,
            policy_exprs: sqlx::query_as(
                "SELECT n.nspname::text, c.relname::text, pg_get_expr(p.polqual, p.polrelid)
                 FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace",
            )
            .fetch_all(&mut *tx)
            .await?,
            domain_checks: sqlx::query_as(
                "SELECT c.contypid::int8, pg_get_constraintdef(c.oid)
                 FROM pg_constraint c WHERE c.contypid <> 0 AND c.contype = 'c'",
            )
            .fetch_all(&mut *tx)
            .await?,
        };
        tx.rollback().await?;
        Ok(facts)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn test(&self) -> Result<TestReport, Error> {
        let mut conn = internal_transaction(&self.pool).await?;
        let started = Instant::now();
        sqlx::query("SELECT 1").execute(&mut *conn).await?;
        let latency_ms = started.elapsed().as_millis() as u64;
        let row = sqlx::query(
            "SELECT version(), current_setting('server_version_num')::int, r.rolsuper, r.rolbypassrls,
                    r.rolcreaterole, r.rolcreatedb, r.rolreplication,
                    ARRAY(SELECT b.rolname::text FROM pg_roles b
                          WHERE b.rolname IN ('pg_read_server_files','pg_write_server_files',
                                              'pg_execute_server_program','pg_write_all_data',
                                              'pg_signal_backend')
                            AND pg_has_role(current_user, b.oid, 'MEMBER')),
                    has_database_privilege(current_database(), 'CREATE'),
                    ARRAY(SELECT n.nspname::text FROM pg_namespace n
                          WHERE n.nspname NOT IN ('pg_catalog','information_schema')
                            AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
                            AND has_schema_privilege(n.oid, 'CREATE') LIMIT 5),
                    ARRAY(SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
                          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE c.relkind IN ('r','p','v','m','f')
                            AND n.nspname NOT IN ('pg_catalog','information_schema')
                            AND (has_table_privilege(c.oid, 'INSERT') OR has_table_privilege(c.oid, 'UPDATE')
                                 OR has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE'))
                          LIMIT 5),
                    current_database()::text
             FROM pg_roles r WHERE r.rolname = current_user",
        )
        .fetch_one(&mut *conn)
        .await?;
        let version: String = row.try_get(0)?;
        let version_num: i32 = row.try_get(1)?;
        if version_num < MIN_VERSION_NUM {
            return Err(Error::Spec(format!(
                "PostgreSQL 12 or newer is required; this server is {version_num}"
            )));
        }
        let mut privileges = Vec::new();
        let flags = [
            (2, "superuser"),
            (3, "BYPASSRLS (ignores row-level security)"),
            (4, "CREATEROLE"),
            (5, "CREATEDB"),
            (6, "REPLICATION"),
        ];
        for (i, name) in flags {
            if row.try_get::<bool, _>(i)? {
                privileges.push(format!("role has {name}"));
            }
        }
        for role in row.try_get::<Vec<String>, _>(7)? {
            privileges.push(format!("member of {role}"));
        }
        if row.try_get::<bool, _>(8)? {
            privileges.push("may CREATE in the database".into());
        }
        for schema in row.try_get::<Vec<String>, _>(9)? {
            privileges.push(format!("may CREATE in schema {schema}"));
        }
        let writable: Vec<String> = row.try_get(10)?;
        if !writable.is_empty() {
            privileges.push(format!(
                "may INSERT/UPDATE/DELETE/TRUNCATE tables (e.g. {})",
                writable.join(", ")
            ));
        }
        let database: String = row.try_get(11)?;
        let read_only_grants = format!(
            "CREATE ROLE conexor_reader LOGIN PASSWORD '<choose one>';\n\
             ALTER ROLE conexor_reader SET default_transaction_read_only = on;\n\
             GRANT CONNECT ON DATABASE \"{database}\" TO conexor_reader;\n\
             GRANT USAGE ON SCHEMA public TO conexor_reader;\n\
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO conexor_reader;\n\
             ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO conexor_reader;"
        );
        Ok(TestReport {
            version,
            latency_ms,
            privileges,
            read_only_grants,
        })
    }

    pub async fn discover(&self) -> Result<Schema, Error> {
        let mut tx = internal_transaction(&self.pool).await?;
        const USER_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog','information_schema') \
             AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'";
        let tables = sqlx::query(AssertSqlSafe(format!(
            "SELECT n.nspname::text, c.relname::text, c.relkind::text,
                    obj_description(c.oid, 'pg_class'), c.reltuples::float8
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r','p','v','m','f') AND {USER_SCHEMAS}
               AND has_table_privilege(c.oid, 'SELECT')
             ORDER BY 1, 2"
        )))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| -> Result<Table, sqlx::Error> {
            let kind: String = r.try_get(2)?;
            let estimate: Option<f64> = r.try_get(4)?;
            Ok(Table {
                schema: r.try_get(0)?,
                name: r.try_get(1)?,
                kind: if matches!(kind.as_str(), "v" | "m") {
                    "view".into()
                } else {
                    "table".into()
                },
                comment: r.try_get(3)?,
                row_estimate: estimate.filter(|e| *e >= 0.0).map(|e| e as i64),
                columns: Vec::new(),
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
        let columns = sqlx::query(AssertSqlSafe(format!(
            "SELECT n.nspname::text, c.relname::text, a.attname::text,
                    format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
                    col_description(c.oid, a.attnum)
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE a.attnum > 0 AND NOT a.attisdropped
               AND c.relkind IN ('r','p','v','m','f') AND {USER_SCHEMAS}
             ORDER BY 1, 2, a.attnum"
        )))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| -> Result<_, sqlx::Error> {
            Ok((
                r.try_get(0)?,
                r.try_get(1)?,
                SchemaColumn {
                    name: r.try_get(2)?,
                    type_name: r.try_get(3)?,
                    nullable: r.try_get(4)?,
                    comment: r.try_get(5)?,
                },
            ))
        })
        .collect::<Result<Vec<_>, _>>()?;
        let keys = sqlx::query(AssertSqlSafe(format!(
            "SELECT n.nspname::text, c.relname::text, con.contype::text,
                    ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
                          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord),
                    fn.nspname::text, fc.relname::text,
                    ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
                          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord)
             FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_class fc ON fc.oid = con.confrelid
             LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
             WHERE con.contype IN ('p','f') AND {USER_SCHEMAS}
             ORDER BY 1, 2, con.conname"
        )))
        .fetch_all(&mut *tx)
        .await?;
        tx.rollback().await?;
        let mut pks = Vec::new();
        let mut fks = Vec::new();
        for r in keys {
            let schema: String = r.try_get(0)?;
            let table: String = r.try_get(1)?;
            let kind: String = r.try_get(2)?;
            let cols: Vec<String> = r.try_get(3)?;
            if kind == "p" {
                pks.push((schema, table, cols));
            } else {
                fks.push((
                    schema,
                    table,
                    crate::ForeignKey {
                        columns: cols,
                        references_schema: r.try_get::<Option<String>, _>(4)?.unwrap_or_default(),
                        references_table: r.try_get::<Option<String>, _>(5)?.unwrap_or_default(),
                        references_columns: r.try_get(6)?,
                    },
                ));
            }
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
        let reach = self.catalog().await?.admit(query)?;
        let sql = query.source_sql(limits.max_rows, limits.max_bytes);
        let (mut conn, in_transaction) = self.read_session(limits, stop).await?;
        // Boxed futures in the selects: moved by value, their state (a few KB)
        // was copied several times per call.
        let result = tokio::select! {
            result = Box::pin(query_on(&mut conn, sql, params, limits)) => result,
            _ = stop.cancelled() => Err(Error::Cancelled),
        };
        if let Err(Error::Cancelled) = result {
            // The caller gave up while the statement may still run. Its session is
            // closed at once (dropped, not returned); the server checks its client
            // every second while a statement runs (`check_client_while_running`)
            // and ends the statement with it.
            drop(conn);
            return result;
        }
        // Nothing a call does may outlive it. A call of built-ins only cannot leave
        // state behind (the allow-list has no lock, setting, sequence or notify
        // function, and the guard refuses every statement that could); allow-listed
        // user code, named or reached through a view, policy, domain, cast or
        // operator, cannot be proven harmless, so its session is closed (which ends
        // its transaction) before the answer. So is a session whose read failed.
        if reach.user_code || result.is_err() {
            conn.close().await;
            return result;
        }
        if in_transaction {
            // An explicit transaction (a tighter time limit) is rolled back off the
            // answer's path: nothing in it can have written, and the session
            // returns to the pool only once the ROLLBACK is done; a failed ROLLBACK
            // closes it.
            tokio::spawn(async move {
                if conn.execute("ROLLBACK").await.is_ok() {
                    conn.give_back();
                }
            });
        } else {
            // The statement's implicit transaction ended with it: the session goes
            // back as it is, with nothing more sent.
            conn.give_back();
        }
        result
    }

    /// A pooled session ready for the caller's statement, and whether it is
    /// inside an explicit transaction that the caller must end.
    ///
    /// At the session's own time limit the session is lent as it is: the
    /// statement runs in the implicit read-only transaction, in one round trip.
    /// A tighter limit needs `BEGIN READ ONLY; SET LOCAL statement_timeout = …`
    /// first (one round trip more), and that BEGIN also tests the session: one
    /// the server has dropped is closed and the next one tried before any of the
    /// caller's SQL was sent; a fresh login that fails ends the call with that
    /// error. (A session idle for a while is tested by the pool anyway:
    /// `sessions::TEST_AFTER_IDLE`.)
    ///
    /// A caller that gives up while waiting for a free session (`stop`) is
    /// answered at once; the BEGIN itself is not interrupted (it is quick, and a
    /// session dropped inside it would return to the pool mid-transaction).
    async fn read_session(
        &self,
        limits: &Limits,
        stop: &CancellationToken,
    ) -> Result<(Session<PgConnection>, bool), Error> {
        let acquire = || async {
            tokio::select! {
                conn = Box::pin(self.pool.acquire()) => Ok(conn?),
                _ = stop.cancelled() => Err(Error::Cancelled),
            }
        };
        if limits.timeout_ms >= self.session_timeout_ms {
            return Ok((acquire().await?, false));
        }
        let begin = format!(
            "BEGIN READ ONLY; SET LOCAL statement_timeout = {}",
            limits.timeout_ms
        );
        let mut attempts: u32 = 0;
        loop {
            let mut conn = acquire().await?;
            match conn.execute(AssertSqlSafe(begin.as_str())).await {
                Ok(_) => return Ok((conn, true)),
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

/// Asks the server to check, every second while a statement runs, that this
/// client is still connected, and to end the statement when it is not: a
/// cancelled read closes its session, and this is what then stops the
/// statement at the source (PostgreSQL 14 and later; older servers do not
/// know the setting, and their statement runs until its `statement_timeout`).
async fn check_client_while_running(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    match conn
        .execute("SET client_connection_check_interval = 1000")
        .await
    {
        Ok(_) => Ok(()),
        // 42704 undefined_object: "unrecognized configuration parameter" (≤ 13).
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42704") => Ok(()),
        Err(err) => Err(err),
    }
}

/// The caller's statement on a session already inside its read-only
/// transaction, rows collected under the caps.
async fn query_on(
    conn: &mut sqlx::PgConnection,
    sql: String,
    params: &[Value],
    limits: &Limits,
) -> Result<ResultSet, Error> {
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for (index, param) in params.iter().enumerate() {
        q = bind_param(q, index, param)?;
    }
    let mut collector = Collector::new(limits);
    let mut rows = q.fetch(&mut *conn);
    let mut decode = Vec::new();
    while let Some(row) = rows.try_next().await? {
        if !collector.has_columns() {
            collector.set_columns(columns_of(&row));
            decode = decoders(&row);
        }
        if !collector.push(row_values(&row, &decode)) {
            break;
        }
    }
    Ok(collector.finish())
}

/// Conexor's own catalog queries run with only pg_catalog on the path: a user
/// function with a closer argument type elsewhere must not be what they call.
async fn internal_transaction(pool: &Sessions<PgConnection>) -> Result<Internal, Error> {
    let mut session = pool.acquire().await?;
    session
        .execute("BEGIN READ ONLY; SET LOCAL search_path TO pg_catalog")
        .await?;
    Ok(Internal(session))
}

/// A session inside Conexor's own read-only transaction; dropped without
/// [`Internal::rollback`] (an error on the way), it is closed, which ends the
/// transaction.
struct Internal(Session<PgConnection>);

impl Internal {
    async fn rollback(mut self) -> Result<(), Error> {
        self.0.execute("ROLLBACK").await?;
        self.0.give_back();
        Ok(())
    }
}

impl std::ops::Deref for Internal {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.0
    }
}

impl std::ops::DerefMut for Internal {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.0
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn bind_param<'q>(q: PgQuery<'q>, index: usize, param: &Value) -> Result<PgQuery<'q>, Error> {
    // Strings are bound as text, numbers as int8/float8: a comparison with
    // another type needs an explicit cast in the SQL (`$1::date`).
    Ok(match param {
        Value::Null => q.bind(None::<String>),
        Value::Bool(b) => q.bind(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                q.bind(i)
            } else if let Some(f) = n.as_f64() {
                q.bind(f)
            } else {
                return Err(Error::Param {
                    index: index + 1,
                    reason: "number out of range".into(),
                });
            }
        }
        Value::String(s) => q.bind(s.clone()),
        Value::Array(_) | Value::Object(_) => q.bind(param.clone()),
    })
}

/// How a column's values become JSON, chosen once per result from the
/// column's type (not once per cell from its type name).
#[derive(Clone, Copy)]
enum Decode {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    Text,
    Uuid,
    Json,
    Bytea,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    TextArray,
    Int4Array,
    Int8Array,
    BoolArray,
    /// Enum labels travel as their text in either format.
    Enum,
    Unsupported,
}

impl Decode {
    fn of(type_info: &sqlx::postgres::PgTypeInfo) -> Decode {
        match type_info.name() {
            "BOOL" => Decode::Bool,
            "INT2" => Decode::Int2,
            "INT4" => Decode::Int4,
            "INT8" => Decode::Int8,
            "OID" => Decode::Oid,
            "FLOAT4" => Decode::Float4,
            "FLOAT8" => Decode::Float8,
            "NUMERIC" => Decode::Numeric,
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" | "UNKNOWN" => Decode::Text,
            "UUID" => Decode::Uuid,
            "JSON" | "JSONB" => Decode::Json,
            "BYTEA" => Decode::Bytea,
            "DATE" => Decode::Date,
            "TIME" => Decode::Time,
            "TIMESTAMP" => Decode::Timestamp,
            "TIMESTAMPTZ" => Decode::Timestamptz,
            "TEXT[]" | "VARCHAR[]" | "NAME[]" => Decode::TextArray,
            "INT4[]" => Decode::Int4Array,
            "INT8[]" => Decode::Int8Array,
            "BOOL[]" => Decode::BoolArray,
            _ if matches!(type_info.kind(), PgTypeKind::Enum(_)) => Decode::Enum,
            _ => Decode::Unsupported,
        }
    }
}

/// The decoders of a result's columns.
fn decoders(row: &PgRow) -> Vec<Decode> {
    use sqlx::Column as _;
    row.columns()
        .iter()
        .map(|c| Decode::of(c.type_info()))
        .collect()
}

fn row_values(row: &PgRow, decoders: &[Decode]) -> Vec<Value> {
    decoders
        .iter()
        .enumerate()
        .map(|(i, decode)| cell(row, i, *decode))
        .collect()
}

fn cell(row: &PgRow, i: usize, decode: Decode) -> Value {
    let Ok(raw) = row.try_get_raw(i) else {
        return Value::Null;
    };
    if raw.is_null() {
        return Value::Null;
    }
    // The type's name, only for the rare value that cannot be mapped.
    let unmapped = || unsupported(raw.type_info().name());
    macro_rules! get {
        ($t:ty, $f:expr) => {
            match row.try_get::<$t, _>(i) {
                Ok(v) => $f(v),
                Err(_) => unmapped(),
            }
        };
    }
    match decode {
        Decode::Bool => get!(bool, Value::Bool),
        Decode::Int2 => get!(i16, |v: i16| Value::from(v)),
        Decode::Int4 => get!(i32, |v: i32| Value::from(v)),
        Decode::Int8 => get!(i64, int_value),
        Decode::Oid => get!(
            sqlx::postgres::types::Oid,
            |v: sqlx::postgres::types::Oid| Value::from(v.0)
        ),
        Decode::Float4 => get!(f32, |v: f32| float_value(v as f64)),
        Decode::Float8 => get!(f64, float_value),
        Decode::Numeric => get!(rust_decimal::Decimal, |v: rust_decimal::Decimal| {
            Value::String(v.to_string())
        }),
        Decode::Text => get!(String, Value::String),
        Decode::Uuid => get!(sqlx::types::Uuid, |v: sqlx::types::Uuid| Value::String(
            v.to_string()
        )),
        Decode::Json => get!(Value, |v| v),
        Decode::Bytea => get!(Vec<u8>, |v: Vec<u8>| bytes_value(&v)),
        Decode::Date => get!(chrono::NaiveDate, |v: chrono::NaiveDate| Value::String(
            v.to_string()
        )),
        Decode::Time => get!(chrono::NaiveTime, |v: chrono::NaiveTime| Value::String(
            v.to_string()
        )),
        Decode::Timestamp => get!(chrono::NaiveDateTime, |v: chrono::NaiveDateTime| {
            Value::String(v.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
        }),
        Decode::Timestamptz => get!(chrono::DateTime<chrono::Utc>, |v: chrono::DateTime<
            chrono::Utc,
        >| {
            Value::String(v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        }),
        Decode::TextArray => get!(Vec<String>, |v: Vec<String>| Value::from(v)),
        Decode::Int4Array => get!(Vec<i32>, |v: Vec<i32>| Value::from(v)),
        Decode::Int8Array => get!(Vec<i64>, |v: Vec<i64>| Value::Array(
            v.into_iter().map(int_value).collect()
        )),
        Decode::BoolArray => get!(Vec<bool>, |v: Vec<bool>| Value::from(v)),
        Decode::Enum => match row.try_get_unchecked::<String, _>(i) {
            Ok(v) => Value::String(v),
            Err(_) => unmapped(),
        },
        Decode::Unsupported => unmapped(),
    }
}

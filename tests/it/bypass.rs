//! SELECT-only against every spelling (issue: functions by resolved identity).
//!
//! A throwaway PostgreSQL database with the extensions an attacker loves (dblink,
//! tablefunc, adminpack) and the user objects that run code a query never names: a
//! side-effecting function (it writes through dblink in another session and takes a
//! session-level advisory lock), a function shadowing `lower` with other argument
//! types, views over it (and over a denied built-in), a domain whose CHECK calls it,
//! an explicit cast and an operator through it, and a row-level policy calling it.
//! Every attack — spelling classes (quoted, upper case, schema-qualified, field
//! selection, FROM and VALUES positions, EXPLAIN) × dangerous classes (SQL-text
//! executors, files, network, locks, other backends, settings, sequences, large
//! objects, sleep, user code) — is sent through the gateway on a superuser login and
//! on a table owner's login. Each must be refused; afterwards nothing may have
//! happened: no row in `effects`, no advisory lock, the sentinel backend alive, the
//! victims table and settings unchanged, no file written. The same list is sent by a
//! hostile fake server to a real agent holding a superuser DSN.

use conexor_tests::{TestServer, add_connection, env_url, status_of};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection, Executor};

/// Held while a test creates throwaway databases on the shared private servers, and
/// by the attack tests that snapshot those servers (their snapshot would see the
/// throwaway databases come and go).
pub(crate) static PG_DATABASES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
pub(crate) static MYSQL_DATABASES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A throwaway database full of traps, and what watches it.
pub(crate) struct Trapped {
    _exclusive: tokio::sync::MutexGuard<'static, ()>,
    pub(crate) admin_url: String,
    pub(crate) writer_url: String,
    sentinel: sqlx::PgConnection,
    sentinel_pid: i32,
    tmp_file: String,
    database: String,
}

fn with_database(url: &str, database: &str) -> String {
    let mut u = url::Url::parse(url).expect("url");
    u.set_path(&format!("/{database}"));
    u.to_string()
}

pub(crate) async fn trapped_database(tag: &str) -> Trapped {
    let exclusive = PG_DATABASES.lock().await;
    let admin_shop = env_url("CONEXOR_TEST_PG_ADMIN_URL");
    let suffix: u32 = rand_suffix();
    let database = format!("cx_bypass_{tag}_{suffix}");
    let mut admin = sqlx::PgConnection::connect(&admin_shop).await.unwrap();
    admin
        .execute(AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .await
        .unwrap();
    admin
        .execute(AssertSqlSafe(format!(
            "GRANT CONNECT, TEMP ON DATABASE {database} TO cx_writer"
        )))
        .await
        .unwrap();
    admin.close().await.ok();
    let admin_url = with_database(&admin_shop, &database);
    let writer_url = with_database(&env_url("CONEXOR_TEST_PG_WRITER_URL"), &database);
    let u = url::Url::parse(&admin_url).unwrap();
    let conn = format!(
        "host={} port={} dbname={database} user={} password={}",
        u.host_str().unwrap(),
        u.port().unwrap(),
        u.username(),
        u.password().unwrap()
    );
    let setup = format!(
        r#"
CREATE EXTENSION dblink;
CREATE EXTENSION tablefunc;
CREATE EXTENSION adminpack;
CREATE TABLE victims (id int PRIMARY KEY, note text);
INSERT INTO victims SELECT g, 'row ' || g FROM generate_series(1, 20) g;
ALTER TABLE victims OWNER TO cx_writer;
CREATE TABLE effects (what text);
CREATE FUNCTION evil(x int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $f$
BEGIN
  PERFORM dblink_exec('{conn}', 'INSERT INTO effects VALUES (''evil'')');
  PERFORM pg_advisory_lock(4242);
  RETURN x;
END $f$;
CREATE FUNCTION evil_imm(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER AS $f$
BEGIN RETURN evil(x); END $f$;
CREATE FUNCTION lower(x int) RETURNS text LANGUAGE plpgsql SECURITY DEFINER AS $f$
BEGIN PERFORM evil(x); RETURN x::text; END $f$;
CREATE FUNCTION evil_rows() RETURNS SETOF int LANGUAGE plpgsql SECURITY DEFINER AS $f$
BEGIN PERFORM evil(1); RETURN NEXT 1; END $f$;
CREATE VIEW evil_view AS SELECT evil(1) AS x;
CREATE VIEW over_view AS SELECT * FROM evil_view;
CREATE VIEW locking_view AS SELECT pg_try_advisory_lock(4243) AS x;
CREATE DOMAIN evil_domain AS int CHECK (evil(VALUE) = VALUE);
CREATE TYPE evil_t AS (a int);
CREATE FUNCTION evil_cast(int) RETURNS evil_t LANGUAGE plpgsql SECURITY DEFINER AS $f$
BEGIN PERFORM evil($1); RETURN ROW($1)::evil_t; END $f$;
CREATE CAST (int AS evil_t) WITH FUNCTION evil_cast(int);
CREATE FUNCTION evil_op(int, int) RETURNS bool LANGUAGE plpgsql SECURITY DEFINER AS $f$
BEGIN PERFORM evil($1); RETURN true; END $f$;
CREATE OPERATOR ## (leftarg = int, rightarg = int, function = evil_op);
CREATE FUNCTION pg_column_size(r record) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $f$
BEGIN PERFORM evil(1); RETURN 0; END $f$;
CREATE FUNCTION evil_concat(text, int) RETURNS text LANGUAGE plpgsql SECURITY DEFINER AS $f$
BEGIN PERFORM evil($2); RETURN $1; END $f$;
CREATE OPERATOR || (leftarg = text, rightarg = int, function = evil_concat);
CREATE TABLE guarded (id int);
INSERT INTO guarded VALUES (1);
ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
CREATE POLICY evil_policy ON guarded USING (evil(id) = id);
GRANT SELECT ON guarded TO cx_writer;
GRANT USAGE ON SCHEMA public TO cx_writer;
"#
    );
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(setup))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.ok();
    let mut sentinel = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    let sentinel_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut sentinel)
        .await
        .unwrap();
    Trapped {
        _exclusive: exclusive,
        admin_url,
        writer_url,
        sentinel,
        sentinel_pid,
        tmp_file: format!("/tmp/cx-bypass-{suffix}"),
        database,
    }
}

fn rand_suffix() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ std::process::id().rotate_left(16)
}

impl Trapped {
    /// Every attack, each a statement that ran before this issue was fixed or that
    /// would run if the guard judged names by their spelling.
    pub(crate) fn attacks(&self) -> Vec<String> {
        let u = url::Url::parse(&self.admin_url).unwrap();
        let conn = format!(
            "host={} port={} dbname={} user={} password={}",
            u.host_str().unwrap(),
            u.port().unwrap(),
            self.database,
            u.username(),
            u.password().unwrap()
        );
        let pid = self.sentinel_pid;
        let tmp = &self.tmp_file;
        let insert = "INSERT INTO effects VALUES (''sql text'')";
        let mut list: Vec<String> = vec![
            // user code, every spelling and position
            "SELECT evil(1)".into(),
            "SELECT EVIL(1)".into(),
            "SELECT \"evil\"(1)".into(),
            "SELECT public.evil(1)".into(),
            "SELECT \"public\".\"evil\"(1)".into(),
            "SELECT evil_imm(1)".into(),
            "EXPLAIN SELECT evil_imm(1)".into(),
            "SELECT * FROM evil(1)".into(),
            "SELECT * FROM evil_rows()".into(),
            "SELECT * FROM (VALUES (evil(1))) v(x)".into(),
            "SELECT id FROM victims WHERE evil(id) > 0".into(),
            "SELECT lower(1)".into(),
            "SELECT pg_catalog.lower('A'), lower(2)".into(),
            "SELECT (1).evil".into(),
            "SELECT (v.id).evil FROM victims v".into(),
            "SELECT (1).\"evil\"".into(),
            // code reached without being named
            "SELECT * FROM evil_view".into(),
            "SELECT * FROM public.evil_view".into(),
            "SELECT * FROM \"evil_view\"".into(),
            "SELECT * FROM over_view".into(),
            "SELECT x FROM (SELECT * FROM over_view) s".into(),
            "SELECT * FROM locking_view".into(),
            "SELECT 1::evil_domain".into(),
            "SELECT CAST(1 AS evil_domain)".into(),
            "SELECT * FROM json_to_record('{\"a\": 1}') AS x(a evil_domain)".into(),
            "SELECT 1::evil_t".into(),
            "SELECT 1 ## 2".into(),
            "SELECT id FROM victims WHERE id ## 1".into(),
            "SELECT * FROM guarded".into(),
            // extensions that run SQL text, write files, reach the network
            format!("SELECT dblink_exec('{conn}', '{insert}')"),
            format!("SELECT public.dblink_exec('{conn}', '{insert}')"),
            format!("SELECT \"dblink_exec\"('{conn}', '{insert}')"),
            format!("SELECT DBLINK_EXEC('{conn}', '{insert}')"),
            format!("SELECT * FROM dblink('{conn}', 'SELECT evil(1)') AS t(x int)"),
            format!("SELECT ('{conn}').dblink_connect"),
            "SELECT * FROM crosstab('SELECT 1, 1, evil(1)') AS t(a int, b int)".into(),
            "SELECT * FROM public.crosstab('SELECT 1, 1, evil(1)') AS t(a int, b int)".into(),
            "SELECT * FROM connectby('victims', 'id', 'id', '1', 0) AS t(a int, b int, l int)"
                .into(),
            format!("SELECT pg_file_write('{tmp}', 'x', false)"),
            format!("SELECT public.pg_file_write('{tmp}', 'x', false)"),
            format!("SELECT \"pg_file_write\"('{tmp}', 'x', false)"),
            "SELECT query_to_xml('SELECT evil(1)', true, true, '')".into(),
            "SELECT * FROM ts_stat('SELECT to_tsvector(evil(1)::text)')".into(),
            // built-ins with effects, every spelling
            "SELECT pg_advisory_lock(4244)".into(),
            "SELECT \"pg_advisory_lock\"(4244)".into(),
            "SELECT pg_catalog.pg_advisory_lock(4244)".into(),
            "SELECT PG_CATALOG.PG_ADVISORY_LOCK(4244)".into(),
            "SELECT (4244).pg_advisory_lock".into(),
            "SELECT pg_try_advisory_lock(4244)".into(),
            format!("SELECT pg_terminate_backend({pid})"),
            format!("SELECT ({pid}).pg_terminate_backend"),
            format!("SELECT \"pg_catalog\".\"pg_cancel_backend\"({pid})"),
            "SELECT set_config('work_mem', '77MB', false)".into(),
            "SELECT \"set_config\"('work_mem', '77MB', false)".into(),
            "SELECT pg_read_file('/etc/passwd')".into(),
            "SELECT ('/etc/passwd').pg_read_file".into(),
            "SELECT * FROM pg_ls_dir('.')".into(),
            "SELECT lo_import('/etc/passwd')".into(),
            format!("SELECT lo_export(1, '{tmp}')"),
            "SELECT pg_notify('c', 'x')".into(),
            "SELECT txid_current()".into(),
            "SELECT setseed(0.5)".into(),
            "SELECT pg_sleep(3)".into(),
            "SELECT (3).pg_sleep".into(),
        ];
        list.dedup();
        list
    }

    /// Everything that would show an attack had an effect.
    pub(crate) async fn effects(&mut self) -> Vec<String> {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        let mut seen = Vec::new();
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM effects")
            .fetch_one(&mut admin)
            .await
            .unwrap();
        if rows > 0 {
            seen.push(format!("{rows} rows written to effects through dblink"));
        }
        let locks: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        if locks > 0 {
            seen.push(format!("{locks} advisory locks held"));
        }
        let large_objects: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_largeobject_metadata")
            .fetch_one(&mut admin)
            .await
            .unwrap();
        if large_objects > 0 {
            seen.push(format!("{large_objects} large objects created"));
        }
        if sqlx::query("SELECT 1")
            .execute(&mut self.sentinel)
            .await
            .is_err()
        {
            seen.push("the sentinel backend was terminated".into());
        }
        if std::path::Path::new(&self.tmp_file).exists() {
            seen.push(format!("{} was written", self.tmp_file));
        }
        admin.close().await.ok();
        seen
    }

    pub(crate) async fn victims_digest(&self) -> String {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        let digest: String = sqlx::query_scalar(
            "SELECT md5(string_agg(id || ':' || note, ',' ORDER BY id)) FROM victims",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        admin.close().await.ok();
        digest
    }

    pub(crate) async fn drop_database(self) {
        let Trapped {
            sentinel,
            database,
            _exclusive,
            ..
        } = self;
        sentinel.close().await.ok();
        let admin_shop = env_url("CONEXOR_TEST_PG_ADMIN_URL");
        if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_shop).await {
            let _ = admin
                .execute(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
                )))
                .await;
        }
    }
}

async fn work_mem(client: &conexor_client::Client, connection: &str) -> String {
    let v = client
        .query(
            connection,
            "SELECT current_setting('work_mem') AS w",
            vec![],
            None,
        )
        .await
        .unwrap();
    v["rows"][0][0].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn postgresql_functions_are_judged_by_identity_on_superuser_and_owner_logins() {
    let mut trapped = trapped_database("direct").await;
    let digest = trapped.victims_digest().await;
    let server = TestServer::start().await;
    let client = server.workspace("bypass").await;
    add_connection(&client, "superuser", &trapped.admin_url, true)
        .await
        .unwrap();
    add_connection(&client, "owner", &trapped.writer_url, true)
        .await
        .unwrap();
    let mem_before = work_mem(&client, "superuser").await;
    let attacks = trapped.attacks();
    assert!(attacks.len() >= 60, "only {} attacks", attacks.len());
    let mut failures = Vec::new();
    for connection in ["superuser", "owner"] {
        for sql in &attacks {
            match client.query(connection, sql, vec![], Some(10)).await {
                Err(e) if status_of(&e) == Some(403) => {}
                Err(e) => failures.push(format!("{connection}: not refused ({e:#}): {sql}")),
                Ok(v) => failures.push(format!("{connection}: ran and returned {v}: {sql}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} attacks were not refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The database, its sessions, its files and settings are as they were.
    assert_eq!(trapped.effects().await, Vec::<String>::new());
    assert_eq!(trapped.victims_digest().await, digest);
    assert_eq!(work_mem(&client, "superuser").await, mem_before);
    // Nothing is refused that should run: ordinary reads on the same connections.
    for connection in ["superuser", "owner"] {
        let v = client
            .query(
                connection,
                "SELECT count(*), upper('a'), max(note) FROM victims WHERE id IN ($1, $2, $3)",
                vec![json!(1), json!(2), json!(3)],
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("{connection}: {e:#}"));
        assert_eq!(v["rows"][0][0], 3, "{v}");
    }
    // Conexor's own wrapper around every read (the row-size filter) names only
    // pg_catalog objects: the traps above shadowing pg_column_size(record) and
    // text || int did not run.
    assert_eq!(trapped.effects().await, Vec::<String>::new());
    // `lower` is shadowed here by public.lower(int): even lower('A') is refused, since
    // PostgreSQL picks the best match across schemas by argument types.
    let e = client
        .query("owner", "SELECT lower('A')", vec![], None)
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), Some(403), "{e:#}");
    assert!(format!("{e:#}").contains("public.lower"), "{e:#}");
    eprintln!(
        "postgresql: {} attacks × 2 logins refused, no effect",
        attacks.len()
    );
    trapped.drop_database().await;
}

/// The admin's opt-in runs the function — and nothing it did to the session
/// survives the call: the next call, by another key on the same pool, sees no lock.
#[tokio::test]
async fn an_allow_listed_function_runs_and_its_session_state_does_not_survive_the_call() {
    let mut trapped = trapped_database("allow").await;
    let server = TestServer::start().await;
    let admin = server.workspace("allow").await;
    let (kind, mut spec) =
        conexor_connectors::ConnectionSpec::from_url(&trapped.admin_url).unwrap();
    spec.allow_functions = vec!["public.evil".into()];
    let body = admin
        .sealed_connection("opted", kind, &serde_json::to_vec(&spec).unwrap(), true)
        .await
        .unwrap();
    admin.post("connections", body).await.unwrap();
    let other = server.client_with(admin.create_key("other", "mcp").await.unwrap());

    let v = admin
        .query("opted", "SELECT public.evil(7) AS x", vec![], None)
        .await
        .unwrap();
    assert_eq!(v["rows"][0][0], 7, "{v}");
    // Its effect through dblink happened (that is what the opt-in means)…
    let effects = trapped.effects().await;
    assert!(effects.iter().any(|e| e.contains("effects")), "{effects:?}");
    // …but the session-level lock it took went away with its session.
    assert!(
        !effects.iter().any(|e| e.contains("advisory")),
        "{effects:?}"
    );
    let locks = other
        .query(
            "opted",
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            vec![],
            None,
        )
        .await
        .unwrap();
    assert_eq!(locks["rows"][0][0], 0, "{locks}");
    // Code reached through a view over the allowed function runs too, and its session
    // is closed as well: no lock survives.
    admin
        .query("opted", "SELECT * FROM over_view", vec![], None)
        .await
        .unwrap();
    let locks = other
        .query(
            "opted",
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            vec![],
            None,
        )
        .await
        .unwrap();
    assert_eq!(locks["rows"][0][0], 0, "{locks}");
    // Only the exact name is allowed: unqualified, or other user code, stays refused.
    for sql in ["SELECT evil(1)", "SELECT evil_imm(1)", "SELECT lower(1)"] {
        let e = other.query("opted", sql, vec![], None).await.unwrap_err();
        assert_eq!(status_of(&e), Some(403), "{sql}: {e:#}");
    }
    trapped.drop_database().await;
}

/// Layer two on its own, attacked from inside the statement: allow-listed code
/// that writes in the statement's own transaction, or first turns the session's
/// read-only default off, is refused by the server (SQLSTATE 25006), the table is
/// unchanged, and the pool's next session is read-only still. Each read runs in
/// the implicit transaction of its one statement, read-only because the session
/// is, from its startup options.
#[tokio::test]
async fn allow_listed_code_cannot_write_in_the_read_s_own_transaction() {
    let trapped = trapped_database("layer2").await;
    let mut admin = sqlx::PgConnection::connect(&trapped.admin_url)
        .await
        .unwrap();
    sqlx::raw_sql(
        r#"
CREATE FUNCTION write_here(x int) RETURNS int LANGUAGE plpgsql AS $f$
BEGIN INSERT INTO victims VALUES (1000 + x, 'written'); RETURN x; END $f$;
CREATE FUNCTION unlock_then_write(x int) RETURNS int LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM set_config('default_transaction_read_only', 'off', false);
  INSERT INTO victims VALUES (2000 + x, 'written');
  RETURN x;
END $f$;
"#,
    )
    .execute(&mut admin)
    .await
    .unwrap();
    let before = trapped.victims_digest().await;
    let server = TestServer::start().await;
    let client = server.workspace("layer2-own").await;
    let (kind, mut spec) =
        conexor_connectors::ConnectionSpec::from_url(&trapped.admin_url).unwrap();
    spec.allow_functions = vec![
        "public.write_here".into(),
        "public.unlock_then_write".into(),
    ];
    let body = client
        .sealed_connection("opted", kind, &serde_json::to_vec(&spec).unwrap(), true)
        .await
        .unwrap();
    client.post("connections", body).await.unwrap();
    for sql in [
        "SELECT public.write_here(1) AS x",
        "SELECT public.unlock_then_write(1) AS x",
    ] {
        let err = client.query("opted", sql, vec![], None).await.unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("read-only transaction"), "{sql}: {text}");
        // The next read, on whatever session the pool lends, is read-only still.
        let ro = client
            .query(
                "opted",
                "SELECT current_setting('transaction_read_only') AS ro, current_setting('default_transaction_read_only') AS dro",
                vec![],
                None,
            )
            .await
            .unwrap();
        assert_eq!(ro["rows"][0], json!(["on", "on"]), "after {sql}: {ro}");
    }
    assert_eq!(
        trapped.victims_digest().await,
        before,
        "a write went through"
    );
    trapped.drop_database().await;
}

// ---- differential fuzzing --------------------------------------------------

/// A small deterministic generator (xorshift64*), so a failing seed replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Function names worth trying in every position: dangerous built-ins, extension
/// functions, the trapped database's user code, and harmless ones.
const NAMES: &[&str] = &[
    "pg_sleep",
    "pg_advisory_lock",
    "pg_try_advisory_lock",
    "pg_terminate_backend",
    "set_config",
    "lo_import",
    "lo_create",
    "pg_read_file",
    "pg_notify",
    "dblink_exec",
    "dblink_connect",
    "pg_file_write",
    "crosstab",
    "query_to_xml",
    "txid_current",
    "nextval",
    "evil",
    "evil_imm",
    "evil_rows",
    "evil_cast",
    "evil_op",
    "lower",
    "upper",
    "abs",
    "length",
    "coalesce",
    "md5",
];

const ARGS: &[&str] = &[
    "1",
    "4245",
    "'x'",
    "'/etc/passwd'",
    "'work_mem', '91MB', false",
    "NULL",
    "id",
    "(SELECT 1)",
    "'SELECT evil(1)'",
];

/// One mutation of `sql`: respell or swap a function, wrap, splice or decorate.
fn mutate(rng: &mut Rng, sql: &str, corpus: &[String]) -> String {
    let name = *rng.pick(NAMES);
    let arg = *rng.pick(ARGS);
    let call = match rng.below(9) {
        0 => format!("{name}({arg})"),
        1 => format!("\"{name}\"({arg})"),
        2 => format!("{}({arg})", name.to_uppercase()),
        3 => format!("pg_catalog.{name}({arg})"),
        4 => format!("public.{name}({arg})"),
        5 => format!("({arg}).{name}"),
        6 => format!("({arg}).\"{name}\""),
        7 => format!("{name} /* c */ ({arg})"),
        _ => format!("\"public\".\"{name}\"({arg})"),
    };
    match rng.below(10) {
        0 => format!("SELECT {call}"),
        1 => format!("SELECT * FROM victims WHERE id = {call}"),
        2 => format!("SELECT * FROM (VALUES ({call})) v(x)"),
        3 => format!("WITH w AS ({sql}) SELECT * FROM w"),
        4 => format!("SELECT ({sql}) IS NULL"),
        5 => {
            // Splice the head of one statement onto the tail of another.
            let other = rng.pick(corpus);
            let cut_a = sql.len() / 2;
            let cut_b = other.len() / 2;
            let head: String = sql.chars().take(cut_a).collect();
            let tail: String = other.chars().skip(cut_b).collect();
            format!("{head}{tail}")
        }
        6 => format!("EXPLAIN {sql}"),
        7 => sql.replacen("SELECT", &format!("SELECT {call},"), 1),
        8 => format!("SELECT x FROM ({sql}) AS s(x)"),
        _ => {
            let relation = *rng.pick(&["evil_view", "over_view", "guarded", "locking_view"]);
            sql.replace("victims", relation)
        }
    }
}

/// Statements generated and mutated from the guard's corpora and the attack list
/// above; every one the guard accepts is run by a PostgreSQL superuser, outside any
/// read-only transaction, in the trapped database, and the world is checked after
/// each. `CONEXOR_FUZZ_SECONDS` sets the budget (CI runs it briefly; see
/// bench/RESULTS.md for the long run). A finding prints its seed and statement.
#[tokio::test]
async fn differential_fuzz_accepted_statements_have_no_effect_on_a_superuser_session() {
    let seconds: u64 = std::env::var("CONEXOR_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("CONEXOR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from(rand_suffix()) | 1);
    let mut trapped = trapped_database("fuzz").await;
    let digest = trapped.victims_digest().await;
    let mut corpus: Vec<String> = trapped.attacks();
    for file in ["attacks-postgresql.sql", "legit-postgresql.sql"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crates/conexor-guard/tests/data")
            .join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        corpus.extend(
            text.split("\n-- next\n")
                .map(|c| c.trim().to_owned())
                .filter(|c| {
                    !c.lines()
                        .all(|l| l.trim().is_empty() || l.trim_start().starts_with("--"))
                }),
        );
    }
    let mut rng = Rng(seed);
    let mut superuser = sqlx::PgConnection::connect(&trapped.admin_url)
        .await
        .unwrap();
    superuser
        .execute("SET statement_timeout = '2s'")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (mut generated, mut accepted, mut refused_by_catalog, mut executed, mut failed) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    while started.elapsed().as_secs() < seconds {
        let base = rng.pick(&corpus).clone();
        let mut sql = mutate(&mut rng, &base, &corpus);
        for _ in 0..rng.below(3) {
            sql = mutate(&mut rng, &sql, &corpus);
        }
        generated += 1;
        let Ok(checked) = conexor_guard::check(conexor_guard::Dialect::Postgresql, &sql) else {
            continue;
        };
        accepted += 1;
        // The connector's catalog check is part of what stands in the way.
        if let Err(_refused) = catalog_admits(&trapped.admin_url, &checked).await {
            refused_by_catalog += 1;
            continue;
        }
        let outcome = superuser
            .execute(AssertSqlSafe(checked.capped_sql(10)))
            .await;
        if outcome.is_ok() {
            executed += 1;
        } else {
            failed += 1;
        }
        if superuser.ping().await.is_err() {
            superuser = sqlx::PgConnection::connect(&trapped.admin_url)
                .await
                .unwrap();
            superuser
                .execute("SET statement_timeout = '2s'")
                .await
                .unwrap();
        }
        let effects = trapped.effects().await;
        let settings: String = sqlx::query_scalar("SELECT current_setting('work_mem')")
            .fetch_one(&mut superuser)
            .await
            .unwrap_or_default();
        assert!(
            effects.is_empty() && settings != "91MB",
            "seed {seed}: the guard accepted a statement with an effect ({effects:?}, work_mem {settings}):\n{sql}"
        );
    }
    assert_eq!(trapped.victims_digest().await, digest);
    eprintln!(
        "differential fuzz: seed {seed}, {seconds} s: {generated} generated, {accepted} accepted by the guard, {refused_by_catalog} of them refused by the catalog check, {executed} run to completion by a superuser and {failed} ended by a PostgreSQL error; no effect"
    );
    assert!(
        accepted > 0,
        "nothing was accepted: the generator is broken"
    );
    superuser.close().await.ok();
    trapped.drop_database().await;
}

/// The catalog verdict for `checked` on the trapped database, as the connector
/// reaches it (a source opened once per call keeps the test simple).
async fn catalog_admits(
    url: &str,
    checked: &conexor_guard::CheckedQuery,
) -> Result<(), conexor_connectors::Error> {
    static CATALOG: tokio::sync::OnceCell<std::sync::Arc<conexor_connectors::catalog::Catalog>> =
        tokio::sync::OnceCell::const_new();
    let catalog = CATALOG
        .get_or_try_init(|| async {
            let (kind, spec) = conexor_connectors::ConnectionSpec::from_url(url)?;
            let source = conexor_connectors::Source::open(
                kind,
                &spec,
                &conexor_connectors::OpenOptions::default(),
            )
            .await?;
            let catalog = match &source {
                conexor_connectors::Source::Postgresql(pg) => pg.catalog().await?,
                _ => unreachable!("a PostgreSQL URL"),
            };
            source.close().await;
            Ok::<_, conexor_connectors::Error>(catalog)
        })
        .await?;
    catalog.admit(checked).map(|_| ())
}

// ---- through a real agent, driven by a hostile server -----------------------

/// The agent's final answers (`done` or `error`) by request id, until `expected`
/// arrived or `within` passed.
async fn agent_answers(
    ws: &mut crate::agent::FakeServerSocket,
    expected: usize,
    within: std::time::Duration,
) -> std::collections::HashMap<u64, serde_json::Value> {
    use futures::StreamExt;
    let mut answers = std::collections::HashMap::new();
    let deadline = std::time::Instant::now() + within;
    while answers.len() < expected && std::time::Instant::now() < deadline {
        let Ok(Some(Ok(frame))) =
            tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await
        else {
            break;
        };
        let tokio_tungstenite::tungstenite::Message::Text(text) = frame else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
        if matches!(v["type"].as_str(), Some("error") | Some("done")) {
            answers.insert(v["id"].as_u64().unwrap_or(0), v);
        }
    }
    answers
}

/// A compromised server sends every attack to a real agent that holds a superuser
/// DSN (accepted by its owner with `allow_privileged`). The agent's own guard and
/// catalog check refuse each one, and nothing happens to the database.
#[tokio::test]
async fn a_hostile_server_cannot_make_an_agent_run_any_spelling() {
    use futures::SinkExt;
    let mut trapped = trapped_database("agent").await;
    let digest = trapped.victims_digest().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agent = crate::agent::spawn_agent(crate::agent::settings_with(
        dir.path(),
        &format!("http://{addr}"),
        Some("cxa_fake"),
        "db",
        &trapped.admin_url,
        "allow_privileged = true",
    ));
    let (mut ws, _) = crate::agent::fake_server_accepts(&listener).await;
    let attacks = trapped.attacks();
    for (i, sql) in attacks.iter().enumerate() {
        ws.send(tokio_tungstenite::tungstenite::Message::text(
            crate::agent::query_request(i as u64 + 1, "db", sql),
        ))
        .await
        .unwrap();
    }
    let answers = agent_answers(&mut ws, attacks.len(), std::time::Duration::from_secs(60)).await;
    let mut failures = Vec::new();
    for (i, sql) in attacks.iter().enumerate() {
        match answers.get(&(i as u64 + 1)) {
            Some(v) if v["type"] == "error" && v["denied"] == true => {}
            Some(v) => failures.push(format!("{v}: {sql}")),
            None => failures.push(format!("no answer: {sql}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} attacks were not refused by the agent:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(trapped.effects().await, Vec::<String>::new());
    assert_eq!(trapped.victims_digest().await, digest);
    agent.stop.cancel();
    let _ = agent.task.await;
    trapped.drop_database().await;
}

/// Without `allow_privileged` in agent.toml the agent refuses a superuser login,
/// whatever the server asks.
#[tokio::test]
async fn an_agent_refuses_a_privileged_login_unless_its_own_file_allows_it() {
    use futures::SinkExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agent = crate::agent::spawn_agent(crate::agent::settings_with(
        dir.path(),
        &format!("http://{addr}"),
        Some("cxa_fake"),
        "db",
        &env_url("CONEXOR_TEST_PG_ADMIN_URL"),
        "",
    ));
    let (mut ws, _) = crate::agent::fake_server_accepts(&listener).await;
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        crate::agent::query_request(1, "db", "SELECT 1"),
    ))
    .await
    .unwrap();
    let answers = agent_answers(&mut ws, 1, std::time::Duration::from_secs(20)).await;
    let answer = answers.get(&1).cloned().expect("no answer from the agent");
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["code"], "agent.privileged_login", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("allow_privileged"),
        "{answer}"
    );
    agent.stop.cancel();
    let _ = agent.task.await;
}

// ---- MariaDB: stored functions and views over them ---------------------------

#[tokio::test]
async fn mariadb_stored_functions_and_views_over_them_are_refused_on_an_owner_login() {
    let _exclusive = MYSQL_DATABASES.lock().await;
    let admin_url = env_url("CONEXOR_TEST_MYSQL_ADMIN_URL");
    let database = format!("cx_bypass_my_{}", rand_suffix());
    let mut admin = sqlx::MySqlConnection::connect(&admin_url).await.unwrap();
    let setup = format!(
        "CREATE DATABASE {database};
         USE {database};
         CREATE TABLE victims (id INT PRIMARY KEY, note TEXT);
         INSERT INTO victims VALUES (1, 'a'), (2, 'b');
         CREATE FUNCTION read_secret() RETURNS TEXT READS SQL DATA RETURN LOAD_FILE('/etc/hostname');
         CREATE FUNCTION lock_it() RETURNS INT NO SQL RETURN GET_LOCK('cx_bypass_lock', 0);
         CREATE FUNCTION set_id() RETURNS INT NO SQL RETURN LAST_INSERT_ID(42);
         CREATE VIEW secret_view AS SELECT read_secret() AS s;
         CREATE VIEW nested_view AS SELECT * FROM secret_view;
         CREATE VIEW locking_view AS SELECT lock_it() AS l;
         GRANT ALL PRIVILEGES ON {database}.* TO 'cx_writer'@'127.0.0.1';"
    );
    sqlx::raw_sql(AssertSqlSafe(setup))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut owner_url = url::Url::parse(&env_url("CONEXOR_TEST_MYSQL_WRITER_URL")).unwrap();
    owner_url.set_path(&format!("/{database}"));
    let server = TestServer::start().await;
    let client = server.workspace("bypass-my").await;
    add_connection(&client, "owner", owner_url.as_str(), true)
        .await
        .unwrap();
    let attacks = [
        "SELECT read_secret()".to_owned(),
        "SELECT `read_secret`()".into(),
        "SELECT READ_SECRET()".into(),
        format!("SELECT {database}.read_secret()"),
        format!("SELECT `{database}`.`read_secret`()"),
        "SELECT * FROM (SELECT read_secret() AS s) AS t".into(),
        "SELECT id FROM victims WHERE read_secret() IS NOT NULL".into(),
        "SELECT * FROM secret_view".into(),
        "SELECT * FROM SECRET_VIEW".into(),
        format!("SELECT * FROM `{database}`.`nested_view`"),
        "SELECT * FROM nested_view".into(),
        "SELECT lock_it()".into(),
        "SELECT * FROM locking_view".into(),
        "SELECT set_id()".into(),
        "SELECT LAST_INSERT_ID(42)".into(),
        "SELECT last_insert_id(id) FROM victims".into(),
        "SELECT GET_LOCK('cx_bypass_lock', 0)".into(),
        "SELECT `get_lock`('cx_bypass_lock', 0)".into(),
        "SELECT LOAD_FILE('/etc/hostname')".into(),
        "SELECT `Load_File`('/etc/hostname')".into(),
        "SELECT Sleep(3)".into(),
        "SELECT BENCHMARK(100000000, MD5('x'))".into(),
    ];
    let mut failures = Vec::new();
    for sql in &attacks {
        match client.query("owner", sql, vec![], Some(10)).await {
            Err(e) if status_of(&e) == Some(403) => {}
            Err(e) => failures.push(format!("not refused ({e:#}): {sql}")),
            Ok(v) => failures.push(format!("ran and returned {v}: {sql}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let held: Option<i64> = sqlx::query_scalar("SELECT IS_USED_LOCK('cx_bypass_lock')")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(held, None, "a lock survived");
    let v = client
        .query(
            "owner",
            "SELECT count(*), upper(max(note)) FROM victims",
            vec![],
            None,
        )
        .await
        .unwrap();
    assert_eq!(v["rows"][0][0], 2, "{v}");
    sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE {database}")))
        .execute(&mut admin)
        .await
        .ok();
}

// ---- SQLite: timeouts stop the work, values are bounded ----------------------

/// A source opened directly on `url` with at most `sessions` sessions.
async fn open_source(url: &str, sessions: u32) -> conexor_connectors::Source {
    let (kind, spec) = conexor_connectors::ConnectionSpec::from_url(url).unwrap();
    conexor_connectors::Source::open(
        kind,
        &spec,
        &conexor_connectors::OpenOptions {
            max_connections: sessions,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn sqlite_timeouts_interrupt_the_statement_and_huge_values_fail_inside_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.db");
    crate::sources::make_sqlite_shop(&db).await;
    let url = format!("sqlite://{}", db.display());
    let source = open_source(&url, 1).await;
    let limits = conexor_types::Limits {
        max_rows: 10,
        max_bytes: 1 << 20,
        timeout_ms: 500,
    };
    let check = |sql: &str| conexor_guard::check(conexor_guard::Dialect::Sqlite, sql).unwrap();
    let endless = check(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    );
    let started = std::time::Instant::now();
    let err = source
        .read(&endless, &[], &limits, &no_stop())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("longer than"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // The only session is free again at once: the statement stopped inside SQLite.
    let started = std::time::Instant::now();
    let next = source
        .read(
            &check("SELECT count(*) FROM orders"),
            &[],
            &limits,
            &no_stop(),
        )
        .await
        .unwrap();
    assert!(next.rows[0][0].as_i64().unwrap_or(0) > 0, "{:?}", next.rows);
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1000),
        "the next call waited {:?}: the timed-out statement kept running",
        started.elapsed()
    );

    // A 250 MB value, four at a time: each fails inside SQLite (SQLITE_LIMIT_LENGTH),
    // and memory does not grow by anything like 4 × 250 MB.
    let wide = open_source(&url, 4).await;
    let before = rss_kib();
    let huge = check(
        "SELECT length(replace(printf('%.*c', 10000000, 'x'), 'x', 'xxxxxxxxxxxxxxxxxxxxxxxxx'))",
    );
    let limits = conexor_types::Limits {
        timeout_ms: 15_000,
        ..limits
    };
    let stop = no_stop();
    let calls = (0..4).map(|_| wide.read(&huge, &[], &limits, &stop));
    for result in futures::future::join_all(calls).await {
        let err = result.expect_err("a 250 MB value was built");
        assert!(err.to_string().contains("too big"), "{err}");
    }
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    assert!(grown_mib < 150, "RSS grew by {grown_mib} MiB");
    eprintln!("sqlite: timeout interrupted, 4 × 250 MB values refused, RSS +{grown_mib} MiB");
    wide.close().await;
    source.close().await;
}

/// MariaDB: a statement over the call's time limit is stopped by the server
/// (max_statement_time) and classed as a timeout by its errno (1969), not by
/// the wording of its message; the session answers the next call.
#[tokio::test]
async fn mariadb_timeouts_are_classed_by_their_error_number() {
    let source = open_source(&env_url("CONEXOR_TEST_MYSQL_READER_URL"), 1).await;
    let limits = conexor_types::Limits {
        max_rows: 10,
        max_bytes: 1 << 20,
        timeout_ms: 500,
    };
    let check = |sql: &str| conexor_guard::check(conexor_guard::Dialect::Mysql, sql).unwrap();
    // 200⁴ rows to count (MariaDB caps recursive CTEs at 1,000 iterations).
    let slow = check(
        "SELECT COUNT(*) AS n FROM customers a, customers b, customers c, customers d \
         WHERE a.id + b.id + c.id + d.id > 0",
    );
    let started = std::time::Instant::now();
    let err = source
        .read(&slow, &[], &limits, &no_stop())
        .await
        .unwrap_err();
    assert_eq!(err.class().reason, "statement timeout", "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    source
        .read(&check("SELECT 1 AS one"), &[], &limits, &no_stop())
        .await
        .unwrap();
    source.close().await;
}

/// PostgreSQL: a timed-out statement is cancelled on the server (statement_timeout),
/// not left running; the session answers the next call at once.
#[tokio::test]
async fn postgresql_timeouts_cancel_the_statement_on_the_server() {
    let source = open_source(&env_url("CONEXOR_TEST_PG_READER_URL"), 1).await;
    let limits = conexor_types::Limits {
        max_rows: 10,
        max_bytes: 1 << 20,
        timeout_ms: 500,
    };
    let check = |sql: &str| conexor_guard::check(conexor_guard::Dialect::Postgresql, sql).unwrap();
    let marker = format!("cx_timeout_{}", rand_suffix());
    let slow = check(&format!(
        "SELECT count(*) AS {marker} FROM generate_series(1, 10000000000::int8)"
    ));
    let started = std::time::Instant::now();
    let err = source
        .read(&slow, &[], &limits, &no_stop())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("statement timeout") || err.to_string().contains("canceling"),
        "{err}"
    );
    // Classed by its code (57014), not by the message's wording.
    assert_eq!(err.class().reason, "statement timeout", "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    let started = std::time::Instant::now();
    source
        .read(&check("SELECT 1"), &[], &limits, &no_stop())
        .await
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_millis(2000));
    let mut admin = sqlx::PgConnection::connect(&env_url("CONEXOR_TEST_PG_ADMIN_URL"))
        .await
        .unwrap();
    let running: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()",
    )
    .bind(&marker)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        running, 0,
        "the timed-out statement is still running on the server"
    );
    source.close().await;
}

/// PostgreSQL: a row larger than the byte cap is refused by the server before it
/// is sent, so parallel calls computing huge values do not grow our memory.
#[tokio::test]
async fn postgresql_huge_values_are_refused_before_the_driver_buffers_them() {
    let source = open_source(&env_url("CONEXOR_TEST_PG_READER_URL"), 4).await;
    let limits = conexor_types::Limits {
        max_rows: 10,
        max_bytes: 4 << 20,
        timeout_ms: 30_000,
    };
    let huge = conexor_guard::check(
        conexor_guard::Dialect::Postgresql,
        "SELECT 1 AS a, repeat('x', 100000000) AS b",
    )
    .unwrap();
    let before = rss_kib();
    let stop = no_stop();
    let calls = (0..4).map(|_| source.read(&huge, &[], &limits, &stop));
    for result in futures::future::join_all(calls).await {
        let err = result.expect_err("a 100 MB row was sent");
        assert_eq!(err.class().code, "limit.row_size", "{err}");
        assert!(err.to_string().contains("bytes"), "{err}");
    }
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    // Other tests run in this process too: the bound leaves them room, far below
    // the 400 MB the four rows would take.
    assert!(grown_mib < 150, "RSS grew by {grown_mib} MiB");
    // Rows under the cap still arrive, in order.
    let ok = conexor_guard::check(
        conexor_guard::Dialect::Postgresql,
        "SELECT n, repeat('y', 1000) FROM generate_series(1, 5) n ORDER BY n DESC",
    )
    .unwrap();
    let rs = source.read(&ok, &[], &limits, &no_stop()).await.unwrap();
    let firsts: Vec<i64> = rs.rows.iter().filter_map(|r| r[0].as_i64()).collect();
    assert_eq!(firsts, [5, 4, 3, 2, 1]);
    eprintln!("postgresql: 4 × 100 MB rows refused at the source, RSS +{grown_mib} MiB");
    source.close().await;
}

/// The process-wide budget for results in flight: with room for one read, a second
/// read waits for it and is refused if it cannot start in time, with a clear error;
/// once the first is done, reads run again.
#[tokio::test]
async fn reads_beyond_the_memory_budget_wait_and_are_refused() {
    let server = TestServer::start_with(|c| {
        c.limits.memory_budget = c.limits.read_cost();
        c.limits.statement_timeout = std::time::Duration::from_secs(14);
    })
    .await;
    let client = server.workspace("budget").await;
    add_connection(&client, "pg", &env_url("CONEXOR_TEST_PG_READER_URL"), false)
        .await
        .unwrap();
    let slow = {
        let client = server.client_with(client.create_key("slow", "mcp").await.unwrap());
        tokio::spawn(async move {
            client
                .query(
                    "pg",
                    "SELECT count(*) FROM generate_series(1, 400000000::int8)",
                    vec![],
                    None,
                )
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    let e = client
        .query("pg", "SELECT 1", vec![], None)
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("memory budget"), "{e:#}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(9));
    let _ = slow.await;
    client.query("pg", "SELECT 1", vec![], None).await.unwrap();
}

/// MariaDB: an allow-listed stored function that takes a named lock runs, and its
/// session is closed after the call: the lock is gone before the next call, which
/// another key makes on the same pool.
#[tokio::test]
async fn mariadb_an_allow_listed_function_leaves_no_lock_on_the_pool() {
    let _exclusive = MYSQL_DATABASES.lock().await;
    let database = format!("cx_bypass_my_{}", rand_suffix());
    let (mut admin, server, first) = mariadb_owner_connection(
        &database,
        "CREATE FUNCTION lock_it() RETURNS INT NO SQL RETURN GET_LOCK('cx_bypass_pool', 0);",
        "lock_it",
        "pool-my",
    )
    .await;
    let second = server.client_with(first.create_key("second", "mcp").await.unwrap());

    let v = first
        .query(
            "owner",
            &format!("SELECT {database}.lock_it() AS got"),
            vec![],
            None,
        )
        .await
        .unwrap();
    assert_eq!(v["rows"][0][0], 1, "{v}");
    // The session was closed before the answer; MariaDB frees a closed
    // session's locks when it reaps its thread, which on a loaded machine is
    // a few milliseconds later. A lock held on a pooled session would last.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let held: Option<i64> = sqlx::query_scalar("SELECT IS_USED_LOCK('cx_bypass_pool')")
            .fetch_one(&mut admin)
            .await
            .unwrap();
        if held.is_none() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the lock survived the call on a pooled session (held by {held:?})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let v = second
        .query("owner", "SELECT 1 AS one", vec![], None)
        .await
        .unwrap();
    assert_eq!(v["rows"][0][0], 1, "{v}");
    // Unqualified, the name is not the allow-listed one.
    let e = second
        .query("owner", "SELECT lock_it()", vec![], None)
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), Some(403), "{e:#}");
    sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE {database}")))
        .execute(&mut admin)
        .await
        .ok();
}

/// A fresh MariaDB database made by `setup` (run as root inside it), owned by
/// the writer login, added to a new workspace as connection `owner` with
/// `{database}.{allowed}` on its allow-list: (root session, server, client).
async fn mariadb_owner_connection(
    database: &str,
    setup: &str,
    allowed: &str,
    workspace: &str,
) -> (sqlx::MySqlConnection, TestServer, conexor_client::Client) {
    let mut admin = sqlx::MySqlConnection::connect(&env_url("CONEXOR_TEST_MYSQL_ADMIN_URL"))
        .await
        .unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE DATABASE {database};
         USE {database};
         {setup}
         GRANT ALL PRIVILEGES ON {database}.* TO 'cx_writer'@'127.0.0.1';"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let mut owner_url = url::Url::parse(&env_url("CONEXOR_TEST_MYSQL_WRITER_URL")).unwrap();
    owner_url.set_path(&format!("/{database}"));
    let server = TestServer::start().await;
    let client = server.workspace(workspace).await;
    let (kind, mut spec) =
        conexor_connectors::ConnectionSpec::from_url(owner_url.as_str()).unwrap();
    spec.allow_functions = vec![format!("{database}.{allowed}")];
    let body = client
        .sealed_connection("owner", kind, &serde_json::to_vec(&spec).unwrap(), true)
        .await
        .unwrap();
    client.post("connections", body).await.unwrap();
    (admin, server, client)
}

/// Layer two on MariaDB, attacked from inside the statement: an allow-listed
/// stored function that writes runs in the read's own autocommit transaction,
/// read-only because the session's are, and is refused (the table unchanged);
/// the pool's next session is read-only still.
#[tokio::test]
async fn mariadb_allow_listed_code_cannot_write_in_the_read_s_own_transaction() {
    let _exclusive = MYSQL_DATABASES.lock().await;
    let database = format!("cx_bypass_ro_{}", rand_suffix());
    let (mut admin, _server, client) = mariadb_owner_connection(
        &database,
        "CREATE TABLE victims (id INT PRIMARY KEY);
         CREATE FUNCTION write_here() RETURNS INT MODIFIES SQL DATA
           BEGIN INSERT INTO victims VALUES (1); RETURN 1; END;",
        "write_here",
        "ro-my",
    )
    .await;
    let err = client
        .query(
            "owner",
            &format!("SELECT {database}.write_here() AS x"),
            vec![],
            None,
        )
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}")
            .to_ascii_lowercase()
            .contains("read only"),
        "{err:#}"
    );
    let written: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {database}.victims"
    )))
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(written, 0, "a write went through");
    let ro = client
        .query("owner", "SELECT @@session.tx_read_only AS ro", vec![], None)
        .await
        .unwrap();
    assert_eq!(ro["rows"][0][0], json!(1), "{ro}");
    sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE {database}")))
        .execute(&mut admin)
        .await
        .ok();
}

/// A read nobody cancels.
fn no_stop() -> tokio_util::sync::CancellationToken {
    tokio_util::sync::CancellationToken::new()
}

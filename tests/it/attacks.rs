//! SELECT-only under attack, on real servers. Every hostile statement of the
//! guard's attack files is sent through the gateway on a connection whose
//! login *could* write (so the guard is what stops it); each must be denied,
//! and afterwards the database must be logically unchanged — data, roles,
//! grants, settings, sequences — and no new file may appear in the server's
//! data directory or /tmp.

use conexor_tests::{TestServer, add_connection, env_url, status_of};
use sqlx::{AssertSqlSafe, Connection, Row};
use std::collections::BTreeSet;
use std::path::Path;

fn attacks(dialect: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../crates/conexor-guard/tests/data/attacks-{dialect}.sql"
    ));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for chunk in text.split("\n-- next\n") {
        let only_comments = chunk
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with("--"));
        if only_comments {
            continue;
        }
        // Aim at real tables so that an unguarded statement would really change something.
        let aimed = replace_word(chunk.trim(), "t", "orders");
        out.push(aimed);
    }
    out
}

fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        let starts = text[i..].starts_with(word);
        let before_ok = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b'\'');
        let after = i + word.len();
        let after_ok = after >= text.len()
            || !(bytes[after].is_ascii_alphanumeric()
                || bytes[after] == b'_'
                || bytes[after] == b'\'');
        if starts && before_ok && after_ok {
            out.push_str(with);
            i = after;
        } else {
            let ch = text[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn files_under(dir: &Path, skip: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(dir)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default();
            if skip.iter().any(|s| rel.starts_with(s)) {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(rel);
            }
        }
    }
    out
}

/// Every /tmp path an attack names, so an escaped write would be seen.
fn tmp_files() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/conexor-guard/tests/data");
    let mut named = BTreeSet::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for (i, _) in text.match_indices("/tmp/") {
            let path: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "/._-".contains(*c))
                .collect();
            named.insert(path);
        }
    }
    named
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .collect()
}

/// The throwaway databases of the bypass suite (`cx_bypass_…`), created and
/// dropped by tests running alongside, are left out of the snapshots.
async fn pg_snapshot(admin_url: &str) -> Vec<String> {
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("pg admin");
    let mut out = Vec::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
         WHERE table_schema NOT IN ('pg_catalog','information_schema') AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for t in &tables {
        let sum: Option<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x"
        )))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        out.push(format!("data {t} {}", sum.unwrap_or_default()));
    }
    for q in [
        "SELECT table_schema || '.' || table_name || '.' || column_name || ':' || data_type FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog','information_schema') ORDER BY 1",
        "SELECT rolname || ' ' || rolsuper || rolcreaterole || rolcreatedb || rolcanlogin || rolbypassrls || ' ' || coalesce(rolpassword, '') FROM pg_authid ORDER BY 1",
        "SELECT grantee || ' ' || table_schema || '.' || table_name || ' ' || privilege_type FROM information_schema.role_table_grants ORDER BY 1",
        "SELECT datname || ' ' || coalesce(datacl::text, '') FROM pg_database WHERE datname NOT LIKE 'cx\\_bypass\\_%' ORDER BY 1",
        "SELECT coalesce(setdatabase::text, '') || ' ' || setrole::text || ' ' || setconfig::text FROM pg_db_role_setting ORDER BY 1",
        "SELECT schemaname || '.' || sequencename || ' ' || coalesce(last_value::text, 'null') FROM pg_sequences ORDER BY 1",
        "SELECT n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog','information_schema') ORDER BY 1",
        "SELECT extname FROM pg_extension ORDER BY 1",
        "SELECT count(*)::text FROM pg_largeobject_metadata",
        "SELECT name || '=' || setting FROM pg_file_settings ORDER BY 1",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(q)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        out.extend(rows.into_iter().map(|r| format!("{q:.30}: {r}")));
    }
    out
}

async fn mysql_snapshot(admin_url: &str) -> Vec<String> {
    let mut conn = sqlx::MySqlConnection::connect(admin_url)
        .await
        .expect("mysql admin");
    let mut out = Vec::new();
    let tables: Vec<String> = sqlx::query("SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = 'shop' ORDER BY 1")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    for t in &tables {
        let rows = sqlx::raw_sql(AssertSqlSafe(format!("CHECKSUM TABLE shop.`{t}` EXTENDED")))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        for r in rows {
            let sum: Option<i64> = r.try_get(1).ok().flatten();
            out.push(format!("data {t} {sum:?}"));
        }
    }
    for q in [
        "SELECT CAST(CONCAT(table_name, '.', column_name, ':', column_type) AS CHAR) FROM information_schema.columns WHERE table_schema NOT IN ('mysql','information_schema','performance_schema','sys') AND table_schema NOT LIKE 'cx\\_bypass%' ORDER BY 1",
        "SELECT CAST(CONCAT(user, '@', host, ' ', priv) AS CHAR) FROM mysql.global_priv ORDER BY 1",
        "SELECT CAST(CONCAT(grantee, ' ', privilege_type) AS CHAR) FROM information_schema.user_privileges ORDER BY 1",
        "SELECT CAST(CONCAT(grantee, ' ', table_schema, ' ', privilege_type) AS CHAR) FROM information_schema.schema_privileges WHERE table_schema NOT LIKE 'cx\\_bypass%' ORDER BY 1",
        "SELECT CAST(CONCAT(routine_schema, '.', routine_name) AS CHAR) FROM information_schema.routines WHERE routine_schema NOT IN ('mysql','sys') AND routine_schema NOT LIKE 'cx\\_bypass%' ORDER BY 1",
        "SELECT CAST(CONCAT(event_schema, '.', event_name) AS CHAR) FROM information_schema.events ORDER BY 1",
        "SELECT CAST(CONCAT(trigger_schema, '.', trigger_name) AS CHAR) FROM information_schema.triggers ORDER BY 1",
        "SELECT CAST(CONCAT(variable_name, '=', variable_value) AS CHAR) FROM information_schema.global_variables WHERE variable_name IN ('READ_ONLY','GENERAL_LOG','GENERAL_LOG_FILE','SLOW_QUERY_LOG','SQL_MODE','EVENT_SCHEDULER','LOCAL_INFILE','MAX_CONNECTIONS','LOG_BIN','INIT_CONNECT','WAIT_TIMEOUT') ORDER BY 1",
        "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name NOT LIKE 'cx\\_bypass%' ORDER BY 1",
    ] {
        let rows: Vec<String> = sqlx::query(q)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{q}: {e}"))
            .iter()
            .map(|r| r.try_get::<String, _>(0).unwrap_or_default())
            .collect();
        out.extend(rows.into_iter().map(|r| format!("{q:.30}: {r}")));
    }
    out
}

fn diff(before: &[String], after: &[String]) -> Vec<String> {
    let b: BTreeSet<&String> = before.iter().collect();
    let a: BTreeSet<&String> = after.iter().collect();
    let mut d: Vec<String> = b.difference(&a).map(|s| format!("- {s}")).collect();
    d.extend(a.difference(&b).map(|s| format!("+ {s}")));
    d
}

async fn run_attacks(client: &conexor_client::Client, connection: &str, dialect: &str) -> usize {
    let list = attacks(dialect);
    assert!(list.len() >= 60, "{dialect}: only {} attacks", list.len());
    let mut failures = Vec::new();
    for sql in &list {
        match client.query(connection, sql, vec![], Some(10)).await {
            Err(e) if status_of(&e) == Some(403) => {}
            Err(e) => failures.push(format!("not denied by the guard ({e:#}): {sql}")),
            Ok(v) => failures.push(format!("ran and returned {v}: {sql}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{dialect}: {} attacks got through:\n{}",
        failures.len(),
        failures.join("\n")
    );
    list.len()
}

#[tokio::test]
async fn postgresql_attacks_change_nothing() {
    let _exclusive = crate::bypass::PG_DATABASES.lock().await;
    let admin = env_url("CONEXOR_TEST_PG_ADMIN_URL");
    let datadir = env_url("CONEXOR_TEST_PG_DATADIR");
    let skip = [
        "pg_wal",
        "pg_stat_tmp",
        "pg_stat",
        "pg_xact",
        "pg_subtrans",
        "pg_multixact",
        "pg_logical",
        "pg_snapshots",
        "postmaster.pid",
        "base/pgsql_tmp",
        "pg_notify",
    ];
    let server = TestServer::start().await;
    let client = server.workspace("attack-pg").await;
    add_connection(&client, "pg", &env_url("CONEXOR_TEST_PG_WRITER_URL"), true)
        .await
        .unwrap();
    let before = pg_snapshot(&admin).await;
    let files_before = files_under(Path::new(&datadir), &skip);
    let tmp_before = tmp_files();
    let n = run_attacks(&client, "pg", "postgresql").await;
    let after = pg_snapshot(&admin).await;
    assert!(
        diff(&before, &after).is_empty(),
        "database changed:\n{}",
        diff(&before, &after).join("\n")
    );
    let new_files: Vec<_> = files_under(Path::new(&datadir), &skip)
        .difference(&files_before)
        .cloned()
        .collect();
    assert!(
        new_files.is_empty(),
        "new files in the data directory: {new_files:?}"
    );
    let new_tmp: Vec<_> = tmp_files().difference(&tmp_before).cloned().collect();
    assert!(new_tmp.is_empty(), "new files in /tmp: {new_tmp:?}");
    eprintln!("postgresql: {n} attacks refused, database unchanged");
}

#[tokio::test]
async fn mariadb_attacks_change_nothing() {
    let _exclusive = crate::bypass::MYSQL_DATABASES.lock().await;
    let admin = env_url("CONEXOR_TEST_MYSQL_ADMIN_URL");
    let datadir = env_url("CONEXOR_TEST_MYSQL_DATADIR");
    let skip = [
        "ib_logfile",
        "ibtmp",
        "ibdata",
        "aria_log",
        "ddl_recovery",
        "undo",
        "#",
        "mysql.sock",
        "sock",
    ];
    let server = TestServer::start().await;
    let client = server.workspace("attack-my").await;
    add_connection(
        &client,
        "my",
        &env_url("CONEXOR_TEST_MYSQL_WRITER_URL"),
        true,
    )
    .await
    .unwrap();
    let before = mysql_snapshot(&admin).await;
    let files_before = files_under(Path::new(&datadir), &skip);
    let tmp_before = tmp_files();
    let n = run_attacks(&client, "my", "mysql").await;
    let after = mysql_snapshot(&admin).await;
    assert!(
        diff(&before, &after).is_empty(),
        "database changed:\n{}",
        diff(&before, &after).join("\n")
    );
    let new_files: Vec<_> = files_under(Path::new(&datadir), &skip)
        .difference(&files_before)
        .cloned()
        .collect();
    assert!(
        new_files.is_empty(),
        "new files in the data directory: {new_files:?}"
    );
    let new_tmp: Vec<_> = tmp_files().difference(&tmp_before).cloned().collect();
    assert!(new_tmp.is_empty(), "new files in /tmp: {new_tmp:?}");
    eprintln!("mariadb: {n} attacks refused, database unchanged");
}

#[tokio::test]
async fn sqlite_attacks_change_nothing() {
    let server = TestServer::start().await;
    let db = server.scratch().join("shop.db");
    crate::sources::make_sqlite_shop(&db).await;
    let client = server.workspace("attack-lite").await;
    add_connection(
        &client,
        "lite",
        &format!("sqlite://{}", db.display()),
        false,
    )
    .await
    .unwrap();
    let before = std::fs::read(&db).unwrap();
    let dir_before = files_under(&server.scratch(), &["data"]);
    let n = run_attacks(&client, "lite", "sqlite").await;
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the sqlite file changed"
    );
    let new_files: Vec<_> = files_under(&server.scratch(), &["data"])
        .difference(&dir_before)
        .cloned()
        .collect();
    assert!(
        new_files.is_empty(),
        "new files next to the database: {new_files:?}"
    );
    eprintln!("sqlite: {n} attacks refused, file unchanged");
}

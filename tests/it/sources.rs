//! The same scenarios on all three sources: add with test-before-save and
//! privilege checks, discovery, guarded reads with bound parameters, caps
//! pushed into the source, the value mapping, edit and remove.

use conexor_tests::{TestServer, add_connection, env_url, status_of};
use serde_json::{Value, json};

struct Source {
    name: &'static str,
    reader: String,
    writer: Option<String>,
    admin: Option<String>,
    /// A parameterised query and its parameter.
    param_sql: &'static str,
    big: bool,
}

fn sources(server: &TestServer) -> Vec<Source> {
    let sqlite = server.scratch().join("shop.db");
    vec![
        Source {
            name: "pg",
            reader: env_url("CONEXOR_TEST_PG_READER_URL"),
            writer: Some(env_url("CONEXOR_TEST_PG_WRITER_URL")),
            admin: Some(env_url("CONEXOR_TEST_PG_ADMIN_URL")),
            param_sql: "SELECT id, email FROM customers WHERE email = $1",
            big: true,
        },
        Source {
            name: "maria",
            reader: env_url("CONEXOR_TEST_MYSQL_READER_URL"),
            writer: Some(env_url("CONEXOR_TEST_MYSQL_WRITER_URL")),
            admin: Some(env_url("CONEXOR_TEST_MYSQL_ADMIN_URL")),
            param_sql: "SELECT id, email FROM customers WHERE email = ?",
            big: true,
        },
        Source {
            name: "lite",
            reader: format!("sqlite://{}", sqlite.display()),
            writer: None,
            admin: None,
            param_sql: "SELECT id, email FROM customers WHERE email = ?",
            big: false,
        },
    ]
}

/// A small SQLite copy of the shop for the third source.
pub async fn make_sqlite_shop(path: &std::path::Path) {
    use sqlx::Connection;
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
    for stmt in [
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, big INTEGER, ratio REAL, photo BLOB)",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), total REAL)",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) INSERT INTO customers SELECT i, 'customer' || i || '@example.com', 9007199254740993, 0.5, x'00ff' FROM n",
        "INSERT INTO orders SELECT id, id, id * 1.5 FROM customers",
    ] {
        sqlx::query(stmt)
            .execute(&mut conn)
            .await
            .expect("sqlite fixture");
    }
}

#[tokio::test]
async fn every_source_adds_discovers_and_reads() {
    let server = TestServer::start().await;
    make_sqlite_shop(&server.scratch().join("shop.db")).await;
    let client = server.workspace("sources").await;
    for s in sources(&server) {
        // Privileged logins are refused unless explicitly allowed, with the GRANTs shown.
        for url in [&s.writer, &s.admin].into_iter().flatten() {
            let err = add_connection(&client, &format!("{}_priv", s.name), url, false)
                .await
                .unwrap_err();
            assert_eq!(status_of(&err), Some(403), "{}: {err:#}", s.name);
            let text = format!("{err:#}");
            assert!(text.contains("can do more than read"), "{}: {text}", s.name);
            assert!(text.contains("GRANT"), "{}: {text}", s.name);
        }
        let added = add_connection(&client, s.name, &s.reader, false)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:#}", s.name));
        assert!(
            added["tables"].as_u64().unwrap_or(0) >= 2,
            "{}: {added}",
            s.name
        );
        assert!(added["test"]["latency_ms"].is_u64());

        // Discovery: columns, primary and foreign keys.
        let shown = client
            .get(&format!("connections/{}", s.name))
            .await
            .unwrap();
        let tables = shown["schema"]["tables"].as_array().unwrap();
        let orders = tables
            .iter()
            .find(|t| t["name"] == "orders")
            .expect("orders discovered");
        assert_eq!(orders["primary_key"], json!(["id"]), "{}", s.name);
        assert_eq!(
            orders["foreign_keys"][0]["references_table"], "customers",
            "{}",
            s.name
        );

        // A bound parameter is data, never SQL.
        let r = client
            .query(
                s.name,
                s.param_sql,
                vec![json!("customer7@example.com")],
                None,
            )
            .await
            .unwrap();
        assert_eq!(r["rows"][0][0], 7, "{}: {r}", s.name);
        for injection in ["' OR '1'='1", "x'; DROP TABLE orders; --", "\\' OR 1=1 -- "] {
            let r = client
                .query(s.name, s.param_sql, vec![json!(injection)], None)
                .await
                .unwrap();
            assert_eq!(
                r["row_count"], 0,
                "{}: injection through a parameter returned rows: {r}",
                s.name
            );
        }

        // Caps: the limit is honoured and truncation is reported with advice.
        let r = client
            .query(
                s.name,
                "SELECT id FROM customers ORDER BY id",
                vec![],
                Some(5),
            )
            .await
            .unwrap();
        assert_eq!(r["row_count"], 5);
        assert_eq!(r["truncated"], true);
        assert!(
            r["note"].as_str().unwrap().contains("narrow")
                || r["note"].as_str().unwrap().contains("WHERE")
        );

        // The cap keeps the caller's order (MariaDB may drop ORDER BY inside a derived table).
        let r = client
            .query(
                s.name,
                "SELECT id FROM customers ORDER BY id DESC",
                vec![],
                Some(3),
            )
            .await
            .unwrap();
        assert_eq!(r["rows"], json!([[200], [199], [198]]), "{}", s.name);
        let r = client
            .query(
                s.name,
                "SELECT id FROM customers ORDER BY id DESC LIMIT 50",
                vec![],
                Some(2),
            )
            .await
            .unwrap();
        assert_eq!(r["rows"], json!([[200], [199]]), "{}", s.name);

        // Writes are refused with a reason, whatever the login.
        let err = client
            .query(s.name, "DELETE FROM orders", vec![], None)
            .await
            .unwrap_err();
        assert_eq!(status_of(&err), Some(403), "{}", s.name);

        // Placeholder count is checked.
        let err = client
            .query(s.name, s.param_sql, vec![], None)
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("placeholder") || format!("{err:#}").contains("parameter"),
            "{}: {err:#}",
            s.name
        );

        if s.big {
            // A million-row table: the cap stops the source early.
            let started = std::time::Instant::now();
            let r = client
                .query(s.name, "SELECT * FROM big", vec![], Some(100))
                .await
                .unwrap();
            assert_eq!(r["row_count"], 100);
            assert_eq!(r["truncated"], true);
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{}: cap not pushed down",
                s.name
            );
        }
    }
}

#[tokio::test]
async fn sessions_are_read_only_at_the_source() {
    // Layer two on its own: even the writer login's session refuses writes.
    let server = TestServer::start().await;
    let client = server.workspace("layer2").await;
    add_connection(&client, "pgw", &env_url("CONEXOR_TEST_PG_WRITER_URL"), true)
        .await
        .unwrap();
    add_connection(
        &client,
        "myw",
        &env_url("CONEXOR_TEST_MYSQL_WRITER_URL"),
        true,
    )
    .await
    .unwrap();
    let r = client.query("pgw", "SELECT current_setting('transaction_read_only') AS ro, current_setting('default_transaction_read_only') AS dro", vec![], None).await.unwrap();
    assert_eq!(r["rows"][0], json!(["on", "on"]));
    let r = client
        .query("myw", "SELECT @@session.tx_read_only AS ro", vec![], None)
        .await
        .unwrap();
    assert_eq!(r["rows"][0][0], json!(1), "{r}");
}

#[tokio::test]
async fn values_follow_the_documented_mapping() {
    let server = TestServer::start().await;
    let client = server.workspace("values").await;
    add_connection(&client, "pg", &env_url("CONEXOR_TEST_PG_READER_URL"), false)
        .await
        .unwrap();
    let r = client
        .query(
            "pg",
            "SELECT 9007199254740993::int8 AS big, 12.50::numeric AS dec, '\\x00ff'::bytea AS raw, \
             'NaN'::float8 AS nan, timestamptz '2024-01-02 03:04:05+00' AS ts, 42 AS small, NULL::text AS nothing",
            vec![],
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        r["rows"][0],
        json!(["9007199254740993", "12.50", {"$b64": "AP8="}, "NaN", "2024-01-02T03:04:05Z", 42, Value::Null]),
        "{r}"
    );
    add_connection(
        &client,
        "my",
        &env_url("CONEXOR_TEST_MYSQL_READER_URL"),
        false,
    )
    .await
    .unwrap();
    let r = client
        .query("my", "SELECT CAST(9007199254740993 AS SIGNED) AS big, CAST(12.5 AS DECIMAL(6,2)) AS dec_, 42 AS small", vec![], None)
        .await
        .unwrap();
    assert_eq!(
        r["rows"][0],
        json!(["9007199254740993", "12.50", 42]),
        "{r}"
    );
}

#[tokio::test]
async fn edit_replaces_credentials_and_remove_forgets() {
    let server = TestServer::start().await;
    let client = server.workspace("edit").await;
    add_connection(&client, "pg", &env_url("CONEXOR_TEST_PG_READER_URL"), false)
        .await
        .unwrap();
    client.query("pg", "SELECT 1", vec![], None).await.unwrap();
    // Wrong password: the edit is tested before it is saved, and refused.
    let bad = env_url("CONEXOR_TEST_PG_READER_URL").replacen("cx_reader:", "cx_reader:wrong", 1);
    let (kind, spec) = conexor_connectors::ConnectionSpec::from_url(&bad).unwrap();
    let body = client
        .sealed_connection("pg", kind, &serde_json::to_vec(&spec).unwrap(), false)
        .await
        .unwrap();
    assert!(client.put("connections/pg", body).await.is_err());
    // A good edit bumps the secret version.
    let (kind, spec) =
        conexor_connectors::ConnectionSpec::from_url(&env_url("CONEXOR_TEST_PG_READER_URL"))
            .unwrap();
    let body = client
        .sealed_connection("pg", kind, &serde_json::to_vec(&spec).unwrap(), false)
        .await
        .unwrap();
    let v = client.put("connections/pg", body).await.unwrap();
    assert_eq!(v["secret_version"], 2);
    client.query("pg", "SELECT 1", vec![], None).await.unwrap();
    client
        .post("connections/pg/refresh", json!({}))
        .await
        .unwrap();
    client.delete("connections/pg").await.unwrap();
    let err = client
        .query("pg", "SELECT 1", vec![], None)
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("no connection named"),
        "{err:#}"
    );
}

/// Pooled sessions are not pinged before each read under load (one round trip
/// less): a session that sat idle is tested before it is lent. A session the
/// server has dropped since its last use must be replaced before any of the
/// caller's SQL is sent, so the call succeeds on a fresh session (fails if the
/// dead one is used).
#[tokio::test]
async fn a_pooled_session_the_server_dropped_is_replaced_before_the_next_read() {
    use sqlx::Connection;
    let server = TestServer::start().await;
    let client = server.workspace("dropped").await;
    let mut admin = sqlx::PgConnection::connect(&env_url("CONEXOR_TEST_PG_ADMIN_URL"))
        .await
        .unwrap();
    for (name, url) in [
        ("pg", "CONEXOR_TEST_PG_READER_URL"),
        ("my", "CONEXOR_TEST_MYSQL_READER_URL"),
    ] {
        add_connection(&client, name, &env_url(url), false)
            .await
            .unwrap();
    }
    let pid_sql = "SELECT pg_backend_pid() AS pid";
    let first = client.query("pg", pid_sql, vec![], None).await.unwrap();
    let pid = first["rows"][0][0].as_i64().expect("a backend pid");
    // Let the first call's ROLLBACK return its session to the pool, then end it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1::int)")
        .bind(pid)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(ended);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let second = client.query("pg", pid_sql, vec![], None).await.unwrap();
    assert_ne!(second["rows"][0][0], first["rows"][0][0], "{second}");

    // MariaDB: the same through KILL.
    let my_sql = "SELECT CONNECTION_ID() AS id";
    let first = client.query("my", my_sql, vec![], None).await.unwrap();
    let id = first["rows"][0][0].as_i64().expect("a connection id");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut root = sqlx::MySqlConnection::connect(&env_url("CONEXOR_TEST_MYSQL_ADMIN_URL"))
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("KILL {id}")))
        .execute(&mut root)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let second = client.query("my", my_sql, vec![], None).await.unwrap();
    assert_ne!(second["rows"][0][0], first["rows"][0][0], "{second}");
}

/// A connection that fails at the network or the login reaches the client as
/// a class and a fixed sentence: never the driver's text, which names the user,
/// the host or the database (checked for a wrong password, an unknown database
/// and a closed port, on PostgreSQL and MariaDB, through the REST API the CLI
/// uses, and in the audit record).
#[tokio::test]
async fn connection_failures_reach_the_client_as_a_class_and_a_fixed_sentence() {
    let server = TestServer::start().await;
    let client = server.workspace("failures").await;
    let closed_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    for var in [
        "CONEXOR_TEST_PG_READER_URL",
        "CONEXOR_TEST_MYSQL_READER_URL",
    ] {
        let good = url::Url::parse(&env_url(var)).unwrap();
        let user = good.username().to_owned();
        let mut wrong_password = good.clone();
        wrong_password
            .set_password(Some("not-the-password"))
            .unwrap();
        let mut no_database = good.clone();
        no_database.set_path("/cx_no_such_database");
        let mut closed = good.clone();
        closed.set_port(Some(closed_port)).unwrap();
        for (url, sentence) in [
            (&wrong_password, "the source refused the login"),
            (&no_database, "the database does not exist"),
            (&closed, "the connection was refused"),
        ] {
            let err = add_connection(&client, "bad", url.as_str(), false)
                .await
                .expect_err("the connection must fail");
            let text = format!("{err:#}");
            assert!(text.contains(sentence), "{var}: {text}");
            for secret in [
                user.as_str(),
                "cx_no_such_database",
                "authentication failed",
                "Access denied",
            ] {
                assert!(
                    !text.contains(secret),
                    "{var}: the client saw {secret:?}: {text}"
                );
            }
        }
    }
    let export = client.get_text("audit/export?format=jsonl").await.unwrap();
    for class in ["connect.auth", "connect.database", "connect.refused"] {
        assert!(
            export.contains(&format!("\"{class}: could not connect to the source\"")),
            "no {class} record: {export}"
        );
    }
    assert!(!export.contains("cx_no_such_database"), "{export}");
}

/// A login the database refuses for a reason of its own (here: no CONNECT
/// privilege on the database) is a connection failure too: its class and a
/// fixed sentence, never the source's text, which names the database.
#[tokio::test]
async fn a_login_without_connect_privilege_is_a_class_not_the_source_s_text() {
    use sqlx::Connection;
    let server = TestServer::start().await;
    let client = server.workspace("no-connect").await;
    let user = format!(
        "cx_noconn_{}",
        conexor_crypto::random_base62(8).to_lowercase()
    );
    let mut admin = sqlx::PgConnection::connect(&env_url("CONEXOR_TEST_PG_ADMIN_URL"))
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {user} LOGIN PASSWORD 'Pw-no-connect-1'"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    // Nobody may connect without a grant (the test servers revoke PUBLIC's).
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "REVOKE CONNECT ON DATABASE {database} FROM PUBLIC"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.ok();
    let mut url = url::Url::parse(&env_url("CONEXOR_TEST_PG_READER_URL")).unwrap();
    url.set_username(&user).unwrap();
    url.set_password(Some("Pw-no-connect-1")).unwrap();
    let err = add_connection(&client, "noconn", url.as_str(), false)
        .await
        .expect_err("a login without CONNECT must fail");
    let text = format!("{err:#}");
    assert_eq!(status_of(&err), Some(502), "{text}");
    assert!(text.contains("this login may not use it"), "{text}");
    for leak in [user.as_str(), database.as_str(), "permission denied"] {
        assert!(!text.contains(leak), "the client saw {leak:?}: {text}");
    }
}

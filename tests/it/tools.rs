//! Named-query tools through a real MCP client (rmcp, the official Rust
//! SDK) on PostgreSQL, MariaDB and SQLite: typed parameters validated,
//! injection attempts bound as data, definitions checked when saved, and
//! the tools file reloaded under a live session with
//! `notifications/tools/list_changed`.

use conexor_tests::mcp::{call, mcp, tool_names};
use conexor_tests::{TestServer, add_connection, env_url, status_of};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use sqlx::Connection;
use std::time::{Duration, Instant};

fn def(name: &str, connection: &str, sql: &str) -> Value {
    json!({
        "name": name,
        "description": "Customers up to an id, optionally by e-mail",
        "connection": connection,
        "sql": sql,
        "max_rows": 50,
        "params": [
            {"name": "email", "type": "string", "description": "exact e-mail"},
            {"name": "max_id", "type": "integer", "min": 1, "max": 1000, "default": 5},
            {"name": "kind", "type": "enum", "values": ["a", "b"], "default": "a"},
            {"name": "since", "type": "date", "default": "2000-01-01"}
        ]
    })
}

#[tokio::test]
async fn named_tools_validate_types_and_bind_values_on_every_source() {
    let server = TestServer::start().await;
    let admin = server.workspace("named-tools").await;
    let lite = server.scratch().join("shop.db");
    crate::sources::make_sqlite_shop(&lite).await;
    add_connection(&admin, "pg", &env_url("CONEXOR_TEST_PG_WRITER_URL"), true)
        .await
        .unwrap();
    add_connection(
        &admin,
        "maria",
        &env_url("CONEXOR_TEST_MYSQL_WRITER_URL"),
        true,
    )
    .await
    .unwrap();
    add_connection(
        &admin,
        "lite",
        &format!("sqlite://{}", lite.display()),
        false,
    )
    .await
    .unwrap();
    let sources = [
        (
            "pg",
            "SELECT id, email FROM customers WHERE COALESCE($1, email) = email AND id <= $2 AND $3 IN ('a', 'b') AND CAST($4 AS date) > DATE '1900-01-01' ORDER BY id",
        ),
        (
            "maria",
            "SELECT id, email FROM customers WHERE COALESCE(?, email) = email AND id <= ? AND ? IN ('a', 'b') AND CAST(? AS date) > DATE '1900-01-01' ORDER BY id",
        ),
        (
            "lite",
            "SELECT id, email FROM customers WHERE COALESCE(?, email) = email AND id <= ? AND ? IN ('a', 'b') AND date(?) > '1900-01-01' ORDER BY id",
        ),
    ];
    for (conn, sql) in sources {
        admin
            .post("tools", def(&format!("customers_{conn}"), conn, sql))
            .await
            .unwrap_or_else(|e| panic!("{conn}: {e}"));
    }
    let (service, _) = mcp(&server, &admin).await;
    let tools = service.list_all_tools().await.unwrap();
    let t = tools
        .iter()
        .find(|t| t.name == "customers_pg")
        .expect("listed");
    let schema = serde_json::to_value(&*t.input_schema).unwrap();
    assert_eq!(schema["properties"]["kind"]["enum"], json!(["a", "b"]));
    assert_eq!(schema["properties"]["since"]["format"], "date");
    assert_eq!(
        t.annotations.as_ref().and_then(|a| a.read_only_hint),
        Some(true)
    );

    for (conn, _) in sources {
        let name = format!("customers_{conn}");
        let (error, v, text) = call(&service, &name, json!({})).await;
        assert!(!error, "{conn}: {text}");
        assert_eq!(
            v["rows"].as_array().unwrap().len(),
            5,
            "{conn}: defaults bound: {v}"
        );
        let (error, v, _) = call(
            &service,
            &name,
            json!({"max_id": 2, "kind": "b", "since": "2026-12-01"}),
        )
        .await;
        assert!(!error);
        assert_eq!(v["rows"].as_array().unwrap().len(), 2, "{conn}");
        // Wrong types, out of range, out of enum, unknown names: clear errors, nothing run.
        for (args, expect) in [
            (json!({"max_id": "5"}), "must be an integer"),
            (json!({"max_id": 5000}), "at most 1000"),
            (json!({"max_id": 2.5}), "must be an integer"),
            (json!({"kind": "c"}), "must be one of a, b"),
            (json!({"since": "yesterday"}), "must be a date"),
            (json!({"email": 42}), "must be a string"),
            (json!({"mail": "x"}), "unknown argument \"mail\""),
        ] {
            let (error, _, text) = call(&service, &name, args.clone()).await;
            assert!(error, "{conn} {args}: not refused");
            assert!(text.contains(expect), "{conn} {args}: {text}");
        }
        // Injection attempts in every string-typed parameter come back as data.
        for evil in [
            "x' OR '1'='1",
            "x'; DELETE FROM customers; --",
            "a' OR 'a'='a",
            "$1",
            "?",
        ] {
            let (error, v, text) = call(&service, &name, json!({"email": evil})).await;
            assert!(!error, "{conn}: {text}");
            assert_eq!(v["rows"], json!([]), "{conn}: {evil:?} matched rows");
            let (error, _, text) = call(&service, &name, json!({"kind": evil})).await;
            assert!(error && text.contains("one of"), "{conn}: {text}");
            let (error, _, _) = call(&service, &name, json!({"since": evil})).await;
            assert!(error, "{conn}: a date that is not a date was accepted");
        }
    }
    // Generated read tools, opt-in per table, on every source.
    for (conn, _) in sources {
        let v = admin
            .post(
                "tools/generate",
                json!({"connection": conn, "tables": ["customers"]}),
            )
            .await
            .unwrap();
        let name = format!("{conn}_customers");
        assert_eq!(v["tools"], json!([name]));
        let (error, v, text) = call(&service, &name, json!({"columns": ["id"], "where": {"id": {"lte": 3}}, "order_by": [{"column": "id", "desc": true}]})).await;
        assert!(!error, "{conn}: {text}");
        assert_eq!(v["rows"], json!([[3], [2], [1]]), "{conn}");
        let (error, v, _) = call(
            &service,
            &name,
            json!({"columns": ["id"], "where": {"id": {"in": [5, 7]}}, "limit": 1}),
        )
        .await;
        assert!(!error);
        assert_eq!(v["rows"].as_array().unwrap().len(), 1, "{conn}");
        assert_eq!(v["truncated"], true, "{conn}");
        for evil in ["x' OR '1'='1", "%' OR 1=1 --"] {
            let (error, v, text) =
                call(&service, &name, json!({"where": {"email": {"eq": evil}}})).await;
            assert!(!error, "{conn}: {text}");
            assert_eq!(v["rows"], json!([]), "{conn}: {evil:?}");
            let (error, v, _) =
                call(&service, &name, json!({"where": {"email": {"like": evil}}})).await;
            assert!(!error);
            assert_eq!(v["rows"], json!([]), "{conn}: like {evil:?}");
        }
        let (error, _, text) =
            call(&service, &name, json!({"where": {"emial": {"eq": "x"}}})).await;
        assert!(
            error && text.contains("did you mean email"),
            "{conn}: {text}"
        );
        let (error, _, text) = call(
            &service,
            &name,
            json!({"where": {"id": {"eq": "1 OR 1=1"}}}),
        )
        .await;
        assert!(
            error && text.contains("must be an integer"),
            "{conn}: {text}"
        );
    }
    let err = admin
        .post(
            "tools/generate",
            json!({"connection": "pg", "tables": ["custmers"]}),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("did you mean customers"), "{err}");
    // The same hints on PostgreSQL and MariaDB, decided by their codes (SQLSTATE 42703/42P01, errno 1054/1146).
    for conn in ["pg", "maria"] {
        let err = admin
            .query(conn, "SELECT emial FROM customers", vec![], None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("did you mean email"), "{err}");
        let err = admin
            .query(conn, "SELECT id FROM custmers", vec![], None)
            .await
            .unwrap_err();
        // MariaDB names its database as the schema: `shop.customers`.
        assert!(err.to_string().contains("customers?"), "{err}");
        assert!(err.to_string().contains("; did you mean"), "{err}");
        assert_eq!(status_of(&err), Some(422), "{err:#}");
    }
    // Still 200 customers everywhere (the injections were values).
    for (conn, _) in sources {
        let r = admin
            .query(conn, "SELECT COUNT(*) AS n FROM customers", vec![], None)
            .await
            .unwrap();
        assert_eq!(r["rows"], json!([[200]]), "{conn}");
    }
    // An unknown tool is a protocol error, and it is audited.
    let unknown = service
        .call_tool(CallToolRequestParams::new("customers_pq"))
        .await;
    let message = format!("{:?}", unknown.expect_err("unknown tool"));
    assert!(
        message.contains("customers_pg"),
        "suggests the nearest name: {message}"
    );
    let audit = admin.get_text("audit/export?format=jsonl").await.unwrap();
    let records: Vec<Value> = audit
        .lines()
        .filter_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()?
                .get("record")
                .cloned()
        })
        .collect();
    assert!(records.iter().any(|r| {
        r["tool"] == "customers_pq"
            && r["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("unknown_tool"))
    }));
    let ok = records
        .iter()
        .find(|r| r["tool"] == "customers_maria" && r["outcome"] == "ok")
        .unwrap();
    assert_eq!(ok["connection"], "maria");
    assert!(ok["query_hash"].is_string());
    service.cancel().await.ok();
}

#[tokio::test]
async fn definitions_are_checked_when_saved() {
    let server = TestServer::start().await;
    let admin = server.workspace("tool-checks").await;
    let lite = server.scratch().join("shop.db");
    crate::sources::make_sqlite_shop(&lite).await;
    add_connection(
        &admin,
        "lite",
        &format!("sqlite://{}", lite.display()),
        false,
    )
    .await
    .unwrap();
    let base = json!({"name": "t", "description": "d", "connection": "lite", "sql": "SELECT id FROM customers WHERE id = ?", "params": [{"name": "id", "type": "integer", "required": true}]});
    let refused = |patch: Value| {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (patch, expect) in [
        (
            json!({"sql": "DELETE FROM customers WHERE id = ?"}),
            "sql: query refused",
        ),
        (json!({"sql": "SELECT id FROM customers"}), "placeholder"),
        (
            json!({"connection": "nope"}),
            "no connection named \"nope\"",
        ),
        (json!({"name": "run_query"}), "built-in"),
        (json!({"url": "postgres://u:pw@db/x"}), "only on the client"),
        (
            json!({"params": [{"name": "id", "type": "enum"}]}),
            "an enum needs values",
        ),
        (
            json!({"sql": "SELECT id FROM custmers WHERE id = ?"}),
            "no table \"custmers\" in the discovered schema of \"lite\"; did you mean customers?",
        ),
    ] {
        let err = admin
            .post("tools", refused(patch.clone()))
            .await
            .unwrap_err();
        assert_eq!(status_of(&err), Some(400), "{patch}");
        assert!(err.to_string().contains(expect), "{patch}: {err}");
    }
    admin.post("tools", base.clone()).await.unwrap();
    // A wrong name in plain run_query gets the nearest names from the schema.
    let err = admin
        .query("lite", "SELECT emial FROM customers", vec![], None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("did you mean email"), "{err}");
    // The source's own statement error: 422, whatever the dialect.
    assert_eq!(status_of(&err), Some(422), "{err:#}");
    let err = admin
        .query("lite", "SELECT id FROM ordrs", vec![], None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("did you mean orders"), "{err}");
    // An unknown connection is 404 on the REST surface, one mapping for all.
    let err = admin
        .query("nope", "SELECT 1", vec![], None)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(404), "{err:#}");
    let listed = admin.get("tools").await.unwrap();
    assert_eq!(listed["tools"][0]["source"], "api");
    let exported = admin.get_text("tools/export").await.unwrap();
    assert_eq!(
        conexor_tools::parse_file(&exported).unwrap()[0].def.name,
        "t"
    );
    let r = admin.post("tools/t/try", json!({"id": 7})).await.unwrap();
    assert_eq!(r["rows"], json!([[7]]));
    admin.delete("tools/t").await.unwrap();
    assert_eq!(
        status_of(&admin.delete("tools/t").await.unwrap_err()),
        Some(404)
    );
}

#[tokio::test]
async fn the_tools_file_reloads_under_a_live_session_and_notifies_it() {
    let tools_dir = tempfile::tempdir().unwrap();
    let dir_path = tools_dir.path().to_path_buf();
    let server = TestServer::start_with(|c| {
        c.tools_dir = Some(dir_path);
        c.tools_poll = Duration::from_millis(100);
    })
    .await;
    let admin = server.workspace("tool-file").await;
    let lite = server.scratch().join("shop.db");
    crate::sources::make_sqlite_shop(&lite).await;
    add_connection(
        &admin,
        "lite",
        &format!("sqlite://{}", lite.display()),
        false,
    )
    .await
    .unwrap();
    let ws = admin.get("keys/self").await.unwrap()["workspace_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (service, mut changed) = mcp(&server, &admin).await;
    assert!(
        !tool_names(&service)
            .await
            .contains(&"count_orders".to_string())
    );

    let file = tools_dir.path().join(format!("{ws}.toml"));
    let one = "[[tools]]\nname = \"count_orders\"\ndescription = \"How many orders\"\nconnection = \"lite\"\nsql = \"SELECT COUNT(*) AS n FROM orders\"\n";
    std::fs::write(&file, one).unwrap();
    async fn wait(changed: &mut tokio::sync::mpsc::UnboundedReceiver<()>) {
        tokio::time::timeout(Duration::from_secs(10), changed.recv())
            .await
            .expect("list_changed within 10 s");
    }
    wait(&mut changed).await;
    assert!(
        tool_names(&service)
            .await
            .contains(&"count_orders".to_string())
    );
    let (error, v, text) = call(&service, "count_orders", json!({})).await;
    assert!(!error, "{text}");
    assert_eq!(v["rows"], json!([[200]]));

    // A second tool: the same session sees it after the notification.
    let two = format!(
        "{one}\n[[tools]]\nname = \"order_by_id\"\ndescription = \"One order\"\nconnection = \"lite\"\nsql = \"SELECT * FROM orders WHERE id = ?\"\n[[tools.params]]\nname = \"id\"\ntype = \"integer\"\nrequired = true\n"
    );
    std::fs::write(&file, &two).unwrap();
    wait(&mut changed).await;
    assert!(
        tool_names(&service)
            .await
            .contains(&"order_by_id".to_string())
    );

    // A broken file changes nothing and the log names the line.
    std::fs::write(&file, format!("{two}\n[[tools]]\nname = \"bad\"\ndescription = \"x\"\nconnection = \"lite\"\nsql = \"DROP TABLE orders\"\n")).unwrap();
    let started = Instant::now();
    loop {
        let logs = String::from_utf8_lossy(&conexor_tests::logs().lock().unwrap()).to_string();
        if logs.contains("line 17: tool \"bad\": sql: query refused") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the refusal was not logged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names = tool_names(&service).await;
    assert!(names.contains(&"order_by_id".to_string()) && !names.contains(&"bad".to_string()));
    // A file with an inline connection is refused, saying why.
    std::fs::write(&file, "[[tools]]\nname = \"x\"\ndescription = \"x\"\nurl = \"sqlite:///tmp/x.db\"\nsql = \"SELECT 1\"\n").unwrap();
    let started = Instant::now();
    while !String::from_utf8_lossy(&conexor_tests::logs().lock().unwrap())
        .contains("inline connections with URLs or passwords exist only on the client")
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the inline connection was not refused"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Removing the file removes its tools; API tools cannot be shadowed by it.
    std::fs::remove_file(&file).unwrap();
    wait(&mut changed).await;
    assert!(
        !tool_names(&service)
            .await
            .contains(&"count_orders".to_string())
    );
    let audit = admin.get_text("audit/export?format=jsonl").await.unwrap();
    assert!(audit.contains("\"tool\":\"admin.tools_reload\""));
    service.cancel().await.ok();
}

#[tokio::test]
async fn schema_is_offered_as_resources_through_the_chokepoint() {
    let server = TestServer::start().await;
    let admin = server.workspace("resources").await;
    let lite = server.scratch().join("shop.db");
    crate::sources::make_sqlite_shop(&lite).await;
    add_connection(
        &admin,
        "lite",
        &format!("sqlite://{}", lite.display()),
        false,
    )
    .await
    .unwrap();
    let (service, _) = mcp(&server, &admin).await;
    let resources = service.list_all_resources().await.expect("resources/list");
    let uris: Vec<String> = resources.iter().map(|r| r.uri.clone()).collect();
    assert!(
        uris.contains(&"conexor://connection/lite".to_string()),
        "{uris:?}"
    );
    assert!(
        uris.contains(&"conexor://connection/lite/table/customers".to_string()),
        "{uris:?}"
    );
    let read = service
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "conexor://connection/lite/table/customers",
        ))
        .await
        .expect("resources/read");
    let text = format!("{:?}", read.contents);
    assert!(text.contains("email"), "{text}");
    let missing = service
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "conexor://connection/lite/table/nope",
        ))
        .await;
    assert!(missing.is_err());
    let audit = admin.get_text("audit/export?format=jsonl").await.unwrap();
    assert!(audit.contains("\"tool\":\"resources/read\""));
    service.cancel().await.ok();
}

/// resources/list (and tools/list) come in pages with the protocol's cursor: a
/// schema of 250 tables answers in three pages, and a client that follows the
/// cursors (rmcp's `list_all_resources`) gets every table once.
#[tokio::test]
async fn resources_are_listed_in_pages_with_cursors() {
    let server = TestServer::start().await;
    let admin = server.workspace("pages").await;
    let db = server.scratch().join("wide.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display()))
        .await
        .unwrap();
    for i in 0..250 {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE t{i:03} (id INTEGER)"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    conn.close().await.unwrap();
    add_connection(&admin, "wide", &format!("sqlite://{}", db.display()), false)
        .await
        .unwrap();
    let (service, _) = mcp(&server, &admin).await;
    let first = service.list_resources(None).await.expect("resources/list");
    assert_eq!(first.resources.len(), 100);
    assert!(first.next_cursor.is_some(), "no cursor on a first page");
    let all = service.list_all_resources().await.expect("all pages");
    let mut uris: Vec<String> = all.iter().map(|r| r.uri.clone()).collect();
    assert_eq!(uris.len(), 251, "250 tables and the connection");
    uris.sort();
    uris.dedup();
    assert_eq!(uris.len(), 251, "a resource was listed twice");
    let mut bad = rmcp::model::PaginatedRequestParams::default();
    bad.cursor = Some("p1.9999".into());
    assert!(service.list_resources(Some(bad)).await.is_err());
    service.cancel().await.ok();
}

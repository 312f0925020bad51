//! The audit promise, attacked: every call recorded before it is answered,
//! the chain verifies offline from an export, nothing of the rows reaches the
//! store, the export or the logs, and a call whose record cannot be written
//! returns no rows.

use conexor_tests::{TestServer, add_connection, env_url, logs, status_of};
use serde_json::{Value, json};

async fn export(client: &conexor_client::Client, format: &str) -> String {
    client
        .get_text(&format!("audit/export?format={format}"))
        .await
        .expect("export")
}

async fn pubkey(client: &conexor_client::Client) -> conexor_audit::PublicKey {
    let v = client.get("audit/pubkey").await.expect("pubkey");
    conexor_audit::PublicKey::parse(v["pubkey"].as_str().expect("pubkey text"))
        .expect("pubkey parses")
}

fn records(jsonl: &str) -> Vec<Value> {
    jsonl
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("record").cloned())
        .collect()
}

#[tokio::test]
async fn every_call_is_recorded_and_the_export_verifies() {
    let server = TestServer::start().await;
    let lite = server.scratch().join("a.db");
    crate::sources::make_sqlite_shop(&lite).await;
    let client = server.workspace("audit").await;
    add_connection(&client, "s", &format!("sqlite://{}", lite.display()), false)
        .await
        .unwrap();
    client
        .query("s", "SELECT COUNT(*) FROM customers", vec![], None)
        .await
        .unwrap();
    client
        .query("s", "DELETE FROM customers", vec![], None)
        .await
        .unwrap_err();
    client
        .query("s", "SELECT nope FROM customers", vec![], None)
        .await
        .unwrap_err();
    // Many calls at once from one workspace: a gapless, strictly increasing chain.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let c = server
            .client_with(conexor_crypto::ApiKey::parse(&client.key().unwrap().to_text()).unwrap());
        tasks.push(tokio::spawn(async move {
            c.query("s", "SELECT ? AS i", vec![json!(i)], None).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let jsonl = export(&client, "jsonl").await;
    let key = pubkey(&client).await;
    let report = conexor_audit::verify(std::io::Cursor::new(jsonl.as_bytes()), Some(&key))
        .expect("export verifies");
    let recs = records(&jsonl);
    assert_eq!(report.records, recs.len() as u64);
    let seqs: Vec<u64> = recs.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (seqs[0]..seqs[0] + seqs.len() as u64).collect::<Vec<_>>(),
        "gapless"
    );
    let outcome = |tool: &str, o: &str| {
        recs.iter()
            .filter(|r| r["tool"] == tool && r["outcome"] == o)
            .count()
    };
    assert_eq!(outcome("run_query", "ok"), 41);
    assert_eq!(outcome("run_query", "denied"), 1);
    assert_eq!(outcome("run_query", "error"), 1);
    assert!(
        outcome("admin.connection_add", "ok") >= 1,
        "admin actions join the chain"
    );
    let denied = recs.iter().find(|r| r["outcome"] == "denied").unwrap();
    assert!(
        denied["error"].as_str().unwrap().starts_with("guard."),
        "{denied}"
    );
    for r in &recs {
        for field in [
            "seq",
            "ts",
            "workspace",
            "user",
            "key_id",
            "client",
            "model",
            "tool",
            "params",
            "connection",
            "mode",
            "query_hash",
            "rows",
            "bytes",
            "duration_ms",
            "outcome",
            "error",
            "prev_hash",
            "hash",
        ] {
            assert!(r.get(field).is_some(), "field {field} missing in {r}");
        }
    }
    // A partial export from a point in time verifies on its own, and so does an empty one.
    let mid = recs[recs.len() / 2]["ts"].as_str().unwrap().to_string();
    for since in [mid.as_str(), "2999-01-01T00:00:00Z"] {
        let part = client
            .get_text(&format!("audit/export?format=jsonl&since={since}"))
            .await
            .unwrap();
        conexor_audit::verify(std::io::Cursor::new(part.as_bytes()), Some(&key))
            .unwrap_or_else(|p| panic!("export since {since} does not verify: {p:?}"));
    }
    // The CSV export verifies too.
    let csv = export(&client, "csv").await;
    conexor_audit::verify(std::io::Cursor::new(csv.as_bytes()), Some(&key))
        .expect("csv export verifies");
    // A flipped byte is caught.
    let tampered = jsonl.replacen(
        "SELECT COUNT(*) FROM customers",
        "SELECT COUNT(*) FROM customerz",
        1,
    );
    let problem =
        conexor_audit::verify(std::io::Cursor::new(tampered.as_bytes()), Some(&key)).unwrap_err();
    assert_eq!(problem.kind, conexor_audit::Damage::Modified, "{problem:?}");
}

#[tokio::test]
async fn rows_never_reach_the_audit_store_export_or_logs() {
    let server = TestServer::start().await;
    let client = server.workspace("norows").await;
    add_connection(&client, "pg", &env_url("CONEXOR_TEST_PG_READER_URL"), false)
        .await
        .unwrap();
    let r = client
        .query(
            "pg",
            "SELECT email, full_name FROM customers WHERE id = $1",
            vec![json!(7)],
            None,
        )
        .await
        .unwrap();
    let email = r["rows"][0][0].as_str().unwrap().to_string();
    let name = r["rows"][0][1].as_str().unwrap().to_string();
    // A failing query whose driver error quotes a row value.
    let err = client
        .query(
            "pg",
            "SELECT CAST(email AS int) FROM customers WHERE id = 3",
            vec![],
            None,
        )
        .await
        .unwrap_err();
    let quoted = "customer3@example.com";
    assert!(
        format!("{err:#}").contains(quoted),
        "the caller does get the driver's message: {err:#}"
    );
    let jsonl = export(&client, "jsonl").await;
    let csv = export(&client, "csv").await;
    let ocsf = export(&client, "ocsf").await;
    server.state.store.close().await;
    let mut hay: Vec<(String, Vec<u8>)> = vec![
        ("jsonl".into(), jsonl.into_bytes()),
        ("csv".into(), csv.into_bytes()),
        ("ocsf".into(), ocsf.into_bytes()),
        ("logs".into(), logs().lock().unwrap().clone()),
    ];
    for entry in std::fs::read_dir(&server.data_dir).unwrap().flatten() {
        hay.push((
            entry.path().display().to_string(),
            std::fs::read(entry.path()).unwrap(),
        ));
    }
    for (place, bytes) in &hay {
        for value in [&email, &name, &quoted.to_string()] {
            assert!(
                !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                "{value:?} found in {place}"
            );
        }
    }
}

#[tokio::test]
async fn a_call_whose_record_cannot_be_written_returns_no_rows() {
    use sqlx::Connection;
    let server = TestServer::start().await;
    let lite = server.scratch().join("f.db");
    crate::sources::make_sqlite_shop(&lite).await;
    let client = server.workspace("failclosed").await;
    add_connection(&client, "s", &format!("sqlite://{}", lite.display()), false)
        .await
        .unwrap();
    client.query("s", "SELECT 1", vec![], None).await.unwrap();
    // Someone holds the store's write lock: the audit write cannot complete.
    let url = format!("sqlite://{}", server.data_dir.join("conexor.db").display());
    let mut blocker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let err = client
        .query("s", "SELECT email FROM customers", vec![], None)
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("audit"), "{text}");
    assert!(
        !text.contains("@example.com"),
        "rows leaked without a record: {text}"
    );
    assert!(matches!(status_of(&err), Some(503)), "{text}");
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    drop(blocker);
    // Once the store is writable again, calls work and the chain still verifies.
    client
        .query("s", "SELECT COUNT(*) FROM customers", vec![], None)
        .await
        .unwrap();
    let jsonl = export(&client, "jsonl").await;
    let key = pubkey(&client).await;
    conexor_audit::verify(std::io::Cursor::new(jsonl.as_bytes()), Some(&key))
        .expect("chain intact after the failure");
}

#[tokio::test]
async fn follow_streams_new_records_as_they_are_written() {
    let server = TestServer::start().await;
    let lite = server.scratch().join("w.db");
    crate::sources::make_sqlite_shop(&lite).await;
    let client = server.workspace("follow").await;
    add_connection(&client, "s", &format!("sqlite://{}", lite.display()), false)
        .await
        .unwrap();
    let mut stream = client
        .get_stream("audit/export?format=jsonl&follow=true")
        .await
        .unwrap();
    client
        .query("s", "SELECT 'follow-marker' AS m", vec![], None)
        .await
        .unwrap();
    let mut seen = String::new();
    let found = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Ok(Some(chunk)) = stream.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("follow-marker") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        found,
        Ok(true),
        "the followed export did not deliver the new record: {seen}"
    );
    for line in seen.lines() {
        serde_json::from_str::<Value>(line).expect("every followed line is JSON");
    }
}

/// Posts raw JSON-RPC text to `/mcp` (a body `serde_json::Value` cannot
/// hold, such as `1e400`); returns the status and the body.
async fn raw_mcp(url: &str, key: &str, session: &str, body: String) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{url}/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", session)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Malformed tool calls reach the tool surface and are recorded before the
/// error answer: arguments that are not an object (rmcp does not reach
/// `call_tool`), a number JSON cannot hold (rmcp cannot read the body), and
/// integers out of range for the parameter.
#[tokio::test]
async fn malformed_tool_calls_are_recorded() {
    let server = TestServer::start().await;
    let lite = server.scratch().join("m.db");
    crate::sources::make_sqlite_shop(&lite).await;
    let client = server.workspace("malformed").await;
    add_connection(&client, "s", &format!("sqlite://{}", lite.display()), false)
        .await
        .unwrap();
    let key = client.key().unwrap().to_text().to_string();
    let session = crate::isolation::mcp_session(&server.url, &key).await;
    let sql = r#""connection":"s","sql":"SELECT 1""#;
    let cases = [
        "5".to_string(),
        "[1]".to_string(),
        r#""x""#.to_string(),
        format!("{{{sql},\"limit\":1e400}}"),
        format!("{{{sql},\"limit\":-1}}"),
        format!("{{{sql},\"limit\":1180591620717411303424}}"),
    ];
    for (i, args) in cases.iter().enumerate() {
        let before = records(&export(&client, "jsonl").await).len();
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"run_query","arguments":{args}}}}}"#,
            300 + i
        );
        let (status, text) = raw_mcp(&server.url, &key, &session, body).await;
        assert_ne!(status, 500, "{args}: {text}");
        assert!(
            !text.contains("\"result\"") || text.contains("isError"),
            "{args}: answered as a success: {text}"
        );
        let after = records(&export(&client, "jsonl").await);
        assert_eq!(
            after.len(),
            before + 1,
            "{args}: not recorded once ({text})"
        );
        let last = after.last().unwrap();
        assert_eq!(last["tool"], "run_query", "{last}");
        assert_eq!(last["outcome"], "error", "{last}");
        assert_eq!(
            last["error"], "invalid_params: invalid arguments",
            "{args}: {last}"
        );
    }
    // The chain with those records still verifies.
    let key = pubkey(&client).await;
    let jsonl = export(&client, "jsonl").await;
    conexor_audit::verify(std::io::Cursor::new(jsonl.as_bytes()), Some(&key))
        .unwrap_or_else(|p| panic!("{p}"));
}

/// The writer's time guarantee, as the verifier checks it (exactly T, no
/// slack): with T = 1 s, calls after idle gaps from 0.5 T to 3 T, at every
/// phase of the checkpoint schedule, on several chains at once (so batches
/// and commits overlap); every untouched export verifies.
#[tokio::test]
async fn idle_gaps_of_any_length_and_phase_still_verify() {
    let server = TestServer::start_with(|c| {
        c.audit_checkpoint_seconds = 1;
        c.audit_checkpoint_records = 1000;
    })
    .await;
    let lite = server.scratch().join("g.db");
    crate::sources::make_sqlite_shop(&lite).await;
    // Gaps in ms per workspace: together 0.5 T … 3 T, about 3.5 s each.
    let plans: [&[u64]; 6] = [
        &[500, 3000],
        &[800, 2300, 300],
        &[1000, 1200, 1500],
        &[1900, 600, 1050],
        &[2500, 950],
        &[700, 1350, 1650],
    ];
    let mut tasks = Vec::new();
    for (i, plan) in plans.into_iter().enumerate() {
        let client = server.workspace(&format!("gaps{i}")).await;
        add_connection(&client, "s", &format!("sqlite://{}", lite.display()), false)
            .await
            .unwrap();
        tasks.push(tokio::spawn(async move {
            for gap in plan {
                tokio::time::sleep(std::time::Duration::from_millis(*gap)).await;
                client.query("s", "SELECT 1", vec![], None).await.unwrap();
            }
            client
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.unwrap());
    }
    let key = pubkey(&clients[0]).await;
    for client in &clients {
        for format in ["jsonl", "csv"] {
            let text = export(client, format).await;
            let report = conexor_audit::verify(std::io::Cursor::new(text.as_bytes()), Some(&key))
                .unwrap_or_else(|p| panic!("untouched {format} export: {p}"));
            assert_eq!(report.interval_s, 1);
        }
    }
}

/// The dashboard's listing: newest first, paged by an opaque-enough cursor
/// (the last seq), filtered on the server by tool and outcome, its own
/// workspace only, and for admin keys only.
#[tokio::test]
async fn the_listing_pages_newest_first_and_filters_within_the_workspace() {
    let server = TestServer::start().await;
    let admin = server.workspace("listing").await;
    let other = server.workspace("listing-other").await;
    for i in 0..5 {
        admin
            .create_key(&format!("k{i}"), "mcp")
            .await
            .expect("a key (an audited admin action)");
    }
    other.create_key("theirs", "mcp").await.unwrap();
    let first = admin.get("audit/records?limit=3").await.unwrap();
    let seqs = |v: &Value| -> Vec<u64> {
        v["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect()
    };
    let page1 = seqs(&first);
    assert_eq!(page1.len(), 3);
    assert!(
        page1.windows(2).all(|w| w[0] > w[1]),
        "newest first: {page1:?}"
    );
    let next = first["next"].as_u64().expect("a next page");
    let second = admin
        .get(&format!("audit/records?limit=3&before={next}"))
        .await
        .unwrap();
    let page2 = seqs(&second);
    assert!(page2.iter().all(|s| *s < next), "{page2:?} after {next}");
    // By tool: only key creations, and only this workspace's.
    let keys = admin
        .get("audit/records?tool=admin.key_create&limit=100")
        .await
        .unwrap();
    let listed = keys["records"].as_array().unwrap();
    assert_eq!(listed.len(), 5, "{keys}");
    assert!(listed.iter().all(|r| r["tool"] == "admin.key_create"));
    assert!(
        !keys.to_string().contains("theirs"),
        "another workspace's record leaked"
    );
    // By time: a range after every record holds none; one around them all of them.
    let later = admin
        .get("audit/records?since=2999-01-01T00:00:00Z")
        .await
        .unwrap();
    assert_eq!(later["records"], serde_json::json!([]), "{later}");
    let earlier = admin
        .get("audit/records?until=2000-01-01T00:00:00%2B02:00")
        .await
        .unwrap();
    assert_eq!(earlier["records"], serde_json::json!([]), "{earlier}");
    let first_ts = first["records"][0]["ts"].as_str().unwrap().to_owned();
    let from_newest = admin
        .get(&format!("audit/records?since={first_ts}&limit=100"))
        .await
        .unwrap();
    let around = seqs(&from_newest);
    assert!(around.contains(&page1[0]), "{from_newest}");
    assert!(
        from_newest["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["ts"].as_str().unwrap() >= first_ts.as_str()),
        "{from_newest}"
    );
    // Bad filters are a clear 400; an mcp key may not read the trail.
    let err = admin.get("audit/records?outcome=maybe").await.unwrap_err();
    assert_eq!(status_of(&err), Some(400), "{err:#}");
    let err = admin
        .get("audit/records?since=yesterday")
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(400), "{err:#}");
    let mcp_key = admin.create_key("reader", "mcp").await.unwrap();
    let err = server
        .client_with(mcp_key)
        .get("audit/records")
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(403), "{err:#}");
}

/// The dashboard's verification: the server reads its whole stored chain
/// through the export and the offline verifier. It says ok under the pinned
/// key, names a wrong pinned key, and finds a record edited in the store by
/// someone who first dropped the append-only triggers.
#[tokio::test]
async fn the_stored_chain_is_verified_against_the_pinned_key_and_an_edit_is_found() {
    let server = TestServer::start().await;
    let admin = server.workspace("verify").await;
    for i in 0..4 {
        admin.create_key(&format!("k{i}"), "mcp").await.unwrap();
    }
    let key = pubkey(&admin).await.to_text();
    let ok = admin
        .get(&format!("audit/verify?pubkey={key}"))
        .await
        .unwrap();
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(ok["pinned"], true, "{ok}");
    assert!(ok["records"].as_u64().unwrap() >= 5, "{ok}");
    assert_eq!(ok["head_seq"], ok["last_seq"], "{ok}");

    // Unpinned: still checked, but said to be only self-consistent.
    let unpinned = admin.get("audit/verify").await.unwrap();
    assert_eq!(unpinned["ok"], true, "{unpinned}");
    assert_eq!(unpinned["pinned"], false, "{unpinned}");

    // Another key pinned: the signatures are not that key's.
    let stranger = conexor_audit::SigningKey::generate()
        .unwrap()
        .public()
        .to_text();
    let wrong = admin
        .get(&format!("audit/verify?pubkey={stranger}"))
        .await
        .unwrap();
    assert_eq!(wrong["ok"], false, "{wrong}");
    let err = admin
        .get("audit/verify?pubkey=ed25519:nope")
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(400), "{err:#}");

    // An edit made in the store itself, past its triggers.
    let db = server.data_dir.join(conexor_store::STORE_FILE);
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        db.display()
    ))
    .await
    .unwrap();
    sqlx::query("DROP TRIGGER audit_records_no_update")
        .execute(&mut conn)
        .await
        .unwrap();
    let edited = sqlx::query(
        "UPDATE audit_records SET record = replace(record, '\"k2\"', '\"k9\"') WHERE record LIKE '%\"k2\"%'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(edited.rows_affected(), 1);
    let found = admin
        .get(&format!("audit/verify?pubkey={key}"))
        .await
        .unwrap();
    assert_eq!(found["ok"], false, "{found}");
    assert!(found["line"].as_u64().unwrap() > 1, "{found}");
    let mcp = server.client_with(admin.create_key("reader", "mcp").await.unwrap());
    let err = mcp.get("audit/verify").await.unwrap_err();
    assert_eq!(status_of(&err), Some(403), "{err:#}");
}

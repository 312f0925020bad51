//! Isolation, attacked: another workspace's key, an mcp-scope key, a revoked
//! key inside a live MCP session, a session id presented by another key, and
//! a SQLite connection aimed at the server's own store.

use conexor_tests::{TestServer, add_connection, status_of};
use serde_json::{Value, json};

/// Posts one JSON-RPC message to /mcp and returns (status, session id, body).
pub async fn mcp_post(
    url: &str,
    key: &str,
    session: Option<&str>,
    body: Value,
) -> (u16, Option<String>, String) {
    let http = reqwest::Client::new();
    let mut request = http
        .post(format!("{url}/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(s) = session {
        request = request.header("mcp-session-id", s);
    }
    let response = request.json(&body).send().await.expect("request");
    let status = response.status().as_u16();
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.unwrap_or_default();
    (status, session, text)
}

/// Opens an MCP session (initialize + initialized) and returns its id.
pub async fn mcp_session(url: &str, key: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "isolation-test", "version": "1"}}});
    let (status, session, body) = mcp_post(url, key, None, init).await;
    assert_eq!(status, 200, "{body}");
    let session = session.expect("session id");
    let (status, _, _) = mcp_post(
        url,
        key,
        Some(&session),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert!(status == 202 || status == 200);
    session
}

pub fn call(id: u64, tool: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}})
}

#[tokio::test]
async fn workspaces_see_nothing_of_each_other() {
    let server = TestServer::start().await;
    let lite = server.scratch().join("b.db");
    crate::sources::make_sqlite_shop(&lite).await;
    let a = server.workspace("A").await;
    let b = server.workspace("B").await;
    add_connection(
        &b,
        "secret_b",
        &format!("sqlite://{}", lite.display()),
        false,
    )
    .await
    .unwrap();

    // REST: list, show, query, refresh, edit, remove.
    let list = a.get("connections").await.unwrap();
    assert_eq!(list["connections"], json!([]));
    for err in [
        a.get("connections/secret_b").await.unwrap_err(),
        a.query("secret_b", "SELECT 1", vec![], None)
            .await
            .unwrap_err(),
        a.post("connections/secret_b/refresh", json!({}))
            .await
            .unwrap_err(),
        a.delete("connections/secret_b").await.unwrap_err(),
    ] {
        assert!(matches!(status_of(&err), Some(400 | 404 | 409)), "{err:#}");
    }
    // B's key list is not A's.
    let keys = a.get("keys").await.unwrap();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    // A cannot revoke B's key.
    let b_key = b.key().unwrap().key_id().to_string();
    assert!(a.delete(&format!("keys/{b_key}?force=true")).await.is_err());

    // MCP: every tool.
    let key_a = a.key().unwrap().to_text().to_string();
    let session = mcp_session(&server.url, &key_a).await;
    for (i, (tool, args)) in [
        ("list_connections", json!({})),
        ("search_schema", json!({"pattern": "customers"})),
        (
            "describe_table",
            json!({"connection": "secret_b", "table": "customers"}),
        ),
        (
            "run_query",
            json!({"connection": "secret_b", "sql": "SELECT * FROM customers"}),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, _, body) = mcp_post(
            &server.url,
            &key_a,
            Some(&session),
            call(10 + i as u64, tool, args),
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            !body.contains("customer1@example.com"),
            "{tool} leaked B's rows: {body}"
        );
        assert!(
            !body.contains("secret_b\",\"type"),
            "{tool} listed B's connection: {body}"
        );
        if tool == "search_schema" {
            assert!(
                body.contains("\\\"total\\\":0") || body.contains("\"total\":0"),
                "{body}"
            );
        }
    }
    // B still works.
    b.query("secret_b", "SELECT COUNT(*) FROM customers", vec![], None)
        .await
        .unwrap();
}

#[tokio::test]
async fn mcp_scope_keys_cannot_manage() {
    let server = TestServer::start().await;
    let admin = server.workspace("scopes").await;
    let mcp_key = admin.create_key("ai client", "mcp").await.unwrap();
    let mcp = server.client_with(mcp_key);
    for err in [
        mcp.get("keys").await.unwrap_err(),
        mcp.create_key("sneaky", "admin").await.unwrap_err(),
        mcp.delete(&format!("keys/{}", admin.key().unwrap().key_id()))
            .await
            .unwrap_err(),
        mcp.post("connections/test", json!({})).await.unwrap_err(),
        mcp.delete("connections/anything").await.unwrap_err(),
    ] {
        assert!(matches!(status_of(&err), Some(403 | 422 | 400)), "{err:#}");
    }
    let err = conexor_tests::add_connection(&mcp, "x", "sqlite:///etc/hostname", false)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(403), "{err:#}");
    // But it can call tools.
    let list = mcp.get("connections").await.unwrap();
    assert!(list["connections"].is_array());
}

#[tokio::test]
async fn a_revoked_key_is_refused_inside_a_live_session() {
    let server = TestServer::start().await;
    let admin = server.workspace("revoke").await;
    let key = admin.create_key("doomed", "mcp").await.unwrap();
    let text = key.to_text().to_string();
    let session = mcp_session(&server.url, &text).await;
    let (status, _, _) = mcp_post(
        &server.url,
        &text,
        Some(&session),
        call(2, "list_connections", json!({})),
    )
    .await;
    assert_eq!(status, 200);
    admin
        .delete(&format!("keys/{}", key.key_id()))
        .await
        .unwrap();
    let (status, _, _) = mcp_post(
        &server.url,
        &text,
        Some(&session),
        call(3, "list_connections", json!({})),
    )
    .await;
    assert_eq!(status, 401);
    // The last key is protected unless forced.
    let err = admin
        .delete(&format!("keys/{}", admin.key().unwrap().key_id()))
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(409));
}

#[tokio::test]
async fn a_session_is_bound_to_its_key() {
    let server = TestServer::start().await;
    let admin = server.workspace("bound").await;
    let one = admin
        .create_key("one", "mcp")
        .await
        .unwrap()
        .to_text()
        .to_string();
    let other_ws = server.workspace("other").await;
    let two = other_ws.key().unwrap().to_text().to_string();
    let session = mcp_session(&server.url, &one).await;
    let (status, _, _) = mcp_post(
        &server.url,
        &two,
        Some(&session),
        call(2, "list_connections", json!({})),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn connections_cannot_point_at_the_servers_own_store() {
    let server = TestServer::start_with(|c| {
        // Even if an operator allows the data directory's parent.
        let parent = c.data_dir.parent().unwrap().to_path_buf();
        c.sqlite_dirs.push(parent);
    })
    .await;
    let admin = server.workspace("self").await;
    let store = server.data_dir.join("conexor.db");
    assert!(store.exists());
    let err = add_connection(
        &admin,
        "self",
        &format!("sqlite://{}", store.display()),
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(status_of(&err), Some(403), "{err:#}");
    assert!(format!("{err:#}").contains("own data directory"), "{err:#}");
    // And metadata addresses are refused for network sources.
    let err = add_connection(
        &admin,
        "meta",
        "postgres://u:p@169.254.169.254:5432/x",
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(status_of(&err), Some(403), "{err:#}");
    // SQLite outside the allowed directories.
    let err = add_connection(&admin, "etc", "sqlite:///etc/hostname", false)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(403), "{err:#}");
}

#[tokio::test]
async fn envelopes_moved_between_rows_do_not_open() {
    use sqlx::Connection;
    let server = TestServer::start().await;
    let one = server.scratch().join("one.db");
    let two = server.scratch().join("two.db");
    crate::sources::make_sqlite_shop(&one).await;
    crate::sources::make_sqlite_shop(&two).await;
    let a = server.workspace("A").await;
    let b = server.workspace("B").await;
    add_connection(&a, "a1", &format!("sqlite://{}", one.display()), false)
        .await
        .unwrap();
    add_connection(&a, "a2", &format!("sqlite://{}", two.display()), false)
        .await
        .unwrap();
    add_connection(&b, "b1", &format!("sqlite://{}", two.display()), false)
        .await
        .unwrap();
    // An attacker with write access to the store moves ciphertext around.
    let store = format!("sqlite://{}", server.data_dir.join("conexor.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&store).await.unwrap();
    let swap = "UPDATE connections SET sealed_value = (SELECT sealed_value FROM connections WHERE name = ?1),
                                      sealed_dek = (SELECT sealed_dek FROM connections WHERE name = ?1)
                WHERE name = ?2";
    sqlx::query(swap)
        .bind("a2")
        .bind("a1")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(swap)
        .bind("b1")
        .bind("a2")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    for name in ["a1", "a2"] {
        let err = a
            .query(name, "SELECT COUNT(*) FROM customers", vec![], None)
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("does not open"),
            "{name}: {err:#}"
        );
    }
    // The untouched row still opens.
    b.query("b1", "SELECT COUNT(*) FROM customers", vec![], None)
        .await
        .unwrap();
}

#[tokio::test]
async fn rotate_master_revokes_other_keys_and_keeps_secrets_usable() {
    let server = TestServer::start().await;
    let lite = server.scratch().join("r.db");
    crate::sources::make_sqlite_shop(&lite).await;
    let admin = server.workspace("rotate").await;
    add_connection(&admin, "s", &format!("sqlite://{}", lite.display()), false)
        .await
        .unwrap();
    let other = server.client_with(admin.create_key("laptop", "mcp").await.unwrap());
    other.query("s", "SELECT 1", vec![], None).await.unwrap();
    let (result, issued) = admin.rotate_master(true).await.unwrap();
    assert_eq!(result["rewrapped"], 1);
    assert_eq!(result["revoked"].as_array().unwrap().len(), 1);
    // The old key is gone; the caller and the reissued key open the re-wrapped secret.
    let err = other
        .query("s", "SELECT 1", vec![], None)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(401));
    admin
        .query("s", "SELECT COUNT(*) FROM customers", vec![], None)
        .await
        .unwrap();
    assert_eq!(issued.len(), 1);
    let (label, scope, key) = issued.into_iter().next().unwrap();
    assert_eq!((label.as_str(), scope.as_str()), ("laptop", "mcp"));
    let reissued = server.client_with(key);
    reissued
        .query("s", "SELECT COUNT(*) FROM customers", vec![], None)
        .await
        .unwrap();
}

/// The sealed spec an editor reads back (`GET /connections/{name}/sealed`):
/// only envelopes leave the server, they open with the owning workspace's key
/// and no other, another workspace is told there is no such connection, an
/// mcp key may not read it, and every read is audited.
#[tokio::test]
async fn a_sealed_spec_goes_only_to_its_workspace_admins_and_each_read_is_audited() {
    let server = TestServer::start().await;
    let owner = server.workspace("owner").await;
    let stranger = server.workspace("stranger").await;
    let url = conexor_tests::env_url("CONEXOR_TEST_PG_READER_URL");
    // The test environment's passwords are hex: as written in the URL, as sent to the server.
    let password = url::Url::parse(&url)
        .unwrap()
        .password()
        .unwrap()
        .to_owned();
    add_connection(&owner, "pgsealed", &url, false)
        .await
        .unwrap();

    let err = stranger
        .get("connections/pgsealed/sealed")
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(404), "{err:#}");
    let mcp = server.client_with(owner.create_key("reader", "mcp").await.unwrap());
    let err = mcp.get("connections/pgsealed/sealed").await.unwrap_err();
    assert_eq!(status_of(&err), Some(403), "{err:#}");

    let body = owner.get("connections/pgsealed/sealed").await.unwrap();
    assert!(
        !body.to_string().contains(&password),
        "plaintext left the server"
    );
    let sealed: conexor_crypto::SealedSecret =
        serde_json::from_value(body["sealed"].clone()).unwrap();
    let secret_id = conexor_types::SecretId::parse(body["secret_id"].as_str().unwrap()).unwrap();
    let mine = owner.unlock().await.unwrap();
    let spec = conexor_crypto::open_secret(&mine.wmk, &mine.workspace_id, &secret_id, &sealed)
        .expect("the owner's key opens it");
    assert!(String::from_utf8_lossy(&spec).contains(&password));
    let theirs = stranger.unlock().await.unwrap();
    assert!(
        conexor_crypto::open_secret(&theirs.wmk, &mine.workspace_id, &secret_id, &sealed).is_err(),
        "another workspace's key opened the spec"
    );

    let audit = owner
        .get("audit/records?tool=admin.connection_read_spec")
        .await
        .unwrap();
    let reads = audit["records"].as_array().unwrap();
    assert_eq!(reads.len(), 1, "{audit}");
    assert_eq!(reads[0]["connection"], "pgsealed");
    assert!(!audit.to_string().contains(&password));
}

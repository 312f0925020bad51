//! The HTTP surface's own limits: MCP sessions per key and idle sessions
//! (and the bookkeeping that goes with them), slow request headers, and the
//! Host allow-list on every route.

use crate::isolation::{call, mcp_post, mcp_session};
use conexor_tests::TestServer;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn addr_of(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

/// Sends raw bytes on a fresh connection and returns what comes back
/// until the server closes it (at most 5 s).
async fn raw(addr: &str, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or("")
}

async fn list_tools(url: &str, key: &str, session: &str) -> u16 {
    let (status, _, _) = mcp_post(
        url,
        key,
        Some(session),
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}),
    )
    .await;
    status
}

#[tokio::test]
async fn a_key_past_its_session_limit_loses_its_least_recently_used_session() {
    let server = TestServer::start_with(|c| c.mcp_sessions_per_key = 3).await;
    let admin = server.workspace("cap").await;
    let key = admin.key().unwrap().to_text().to_string();
    let key_id = admin.key().unwrap().key_id().clone();
    let other = server.workspace("other").await;
    let other_key = other.key().unwrap().to_text().to_string();
    let other_id = other.key().unwrap().key_id().clone();
    let sessions = &server.state.sessions;

    let other_session = mcp_session(&server.url, &other_key).await;
    let s1 = mcp_session(&server.url, &key).await;
    let s2 = mcp_session(&server.url, &key).await;
    let s3 = mcp_session(&server.url, &key).await;
    // s1 used again: s2 becomes the least recently used.
    assert_eq!(list_tools(&server.url, &key, &s1).await, 200);
    let s4 = mcp_session(&server.url, &key).await;

    let (status, _, body) = mcp_post(
        &server.url,
        &key,
        Some(&s2),
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}),
    )
    .await;
    assert_eq!(status, 404, "the evicted session must be unknown: {body}");
    assert!(body.contains("initialize again"), "{body}");
    for s in [&s1, &s3, &s4] {
        assert_eq!(list_tools(&server.url, &key, s).await, 200, "{s}");
    }
    assert_eq!(sessions.bound_for(&key_id), 3);

    // Many more initializations: bookkeeping and live sessions stay at the cap.
    for _ in 0..30 {
        mcp_session(&server.url, &key).await;
    }
    assert_eq!(sessions.bound_for(&key_id), 3);
    assert_eq!(sessions.bound_for(&other_id), 1);
    assert_eq!(sessions.bound_len(), 4);
    assert_eq!(sessions.live_len().await, 4);
    // Another key's session was not touched.
    assert_eq!(
        list_tools(&server.url, &other_key, &other_session).await,
        200
    );

    // A deleted session leaves no binding behind.
    let r = reqwest::Client::new()
        .delete(format!("{}/mcp", server.url))
        .bearer_auth(&other_key)
        .header("mcp-session-id", &other_session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    // 204, not rmcp's 202, which the official SDKs report as a failed termination.
    assert_eq!(r.status(), 204);
    assert_eq!(sessions.bound_for(&other_id), 0);
    assert_eq!(sessions.bound_len(), 3);
    assert_eq!(sessions.live_len().await, 3);
}

#[tokio::test]
async fn idle_sessions_are_reaped_and_their_bindings_dropped() {
    let server = TestServer::start_with(|c| c.mcp_session_idle = Duration::from_millis(800)).await;
    let admin = server.workspace("idle").await;
    let key = admin.key().unwrap().to_text().to_string();
    let idle = mcp_session(&server.url, &key).await;
    let busy = mcp_session(&server.url, &key).await;
    assert_eq!(server.state.sessions.bound_len(), 2);
    // `busy` is used every 250 ms for 2.5 s; `idle` is not.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        assert_eq!(list_tools(&server.url, &key, &busy).await, 200);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (status, _, body) = mcp_post(
        &server.url,
        &key,
        Some(&idle),
        call(3, "list_connections", json!({})),
    )
    .await;
    assert_eq!(status, 404, "an idle session must be gone: {body}");
    assert_eq!(list_tools(&server.url, &key, &busy).await, 200);
    assert_eq!(server.state.sessions.bound_len(), 1);
    assert_eq!(server.state.sessions.live_len().await, 1);
    // Left alone, the last one goes too, with its binding.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(server.state.sessions.bound_len(), 0);
    assert_eq!(server.state.sessions.live_len().await, 0);
    assert_eq!(list_tools(&server.url, &key, &busy).await, 404);
}

/// Waits until the server closes the connection; returns how long it took.
async fn time_to_close(stream: &mut tokio::net::TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the connection was still open after 10 s"),
        }
    }
}

#[tokio::test]
async fn slow_or_silent_clients_are_cut_off_at_the_header_timeout() {
    let server =
        TestServer::start_with(|c| c.header_read_timeout = Duration::from_millis(1000)).await;
    let addr = addr_of(&server);
    let margin = Duration::from_millis(1500);

    // Half a request header, then nothing.
    let mut half = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let took = time_to_close(&mut half).await;
    assert!(
        took < Duration::from_millis(1000) + margin,
        "half a header held the connection {took:?}"
    );
    assert!(
        took >= Duration::from_millis(800),
        "closed too early: {took:?}"
    );

    // Nothing at all (hyper's HTTP/1-or-2 detection has no timer of its own).
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let took = time_to_close(&mut silent).await;
    assert!(took < Duration::from_millis(1000) + margin, "{took:?}");

    // The start of an HTTP/2 preface, then nothing.
    let mut preface = tokio::net::TcpStream::connect(&addr).await.unwrap();
    preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let took = time_to_close(&mut preface).await;
    assert!(took < Duration::from_millis(1000) + margin, "{took:?}");

    // A kept-alive connection gets the same time for its next request.
    let mut kept = tokio::net::TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let took = time_to_close(&mut kept).await;
    assert!(took < Duration::from_millis(1000) + margin, "{took:?}");

    // A slow but steady request that completes in time is served, and a
    // request that takes longer than the timeout to answer is not cut off.
    let mut steady = tokio::net::TcpStream::connect(&addr).await.unwrap();
    for part in [
        "GET /healthz HTTP/1.1\r\n",
        "Host: 127.0.0.1\r\n",
        "Connection: close\r\n\r\n",
    ] {
        steady.write_all(part.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut out = Vec::new();
    steady.read_to_end(&mut out).await.unwrap();
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
    let admin = server.workspace("slow").await;
    let lite = server.scratch().join("slow.db");
    crate::sources::make_sqlite_shop(&lite).await;
    conexor_tests::add_connection(&admin, "s", &format!("sqlite://{}", lite.display()), false)
        .await
        .unwrap();
    // Over a second of work on one connection (a recursive count).
    let r = admin
        .query(
            "s",
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3000000) \
             SELECT COUNT(*) AS n FROM c",
            vec![],
            None,
        )
        .await;
    assert!(r.is_ok(), "{r:?}");
}

#[tokio::test]
async fn the_host_allow_list_guards_every_route() {
    let server = TestServer::start().await;
    let admin = server.workspace("hosts").await;
    let key = admin.key().unwrap().to_text().to_string();
    let addr = addr_of(&server);
    let port = addr.rsplit(':').next().unwrap().to_owned();
    let get = |path: &str, host: Option<&str>| {
        let mut text =
            format!("GET {path} HTTP/1.1\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n");
        if let Some(host) = host {
            text.push_str(&format!("Host: {host}\r\n"));
        }
        text.push_str("\r\n");
        text
    };
    for path in [
        "/healthz",
        "/readyz",
        "/api/v1/connections",
        "/api/v1/keys",
        "/nowhere",
    ] {
        for host in [
            "evil.example".to_string(),
            format!("evil.example:{port}"),
            format!("127.0.0.1.evil.example:{port}"),
        ] {
            let r = raw(&addr, &get(path, Some(&host))).await;
            assert!(
                status_line(&r).starts_with("HTTP/1.1 403"),
                "{path} with Host {host}: {r}"
            );
            assert!(r.contains("--allowed-host"), "{r}");
        }
        let r = raw(&addr, &get(path, None)).await;
        assert!(
            status_line(&r).starts_with("HTTP/1.1 400"),
            "{path} without Host: {r}"
        );
        for host in [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            "LOCALHOST".into(),
            format!("[::1]:{port}"),
        ] {
            let r = raw(&addr, &get(path, Some(&host))).await;
            let line = status_line(&r);
            assert!(
                !line.contains(" 403") && !line.contains(" 400"),
                "{path} with Host {host}: {r}"
            );
        }
    }
    let r = raw(&addr, &get("/healthz", Some(&format!("127.0.0.1:{port}")))).await;
    assert!(status_line(&r).starts_with("HTTP/1.1 200"), "{r}");
    let r = raw(&addr, &get("/api/v1/connections", Some("localhost"))).await;
    assert!(status_line(&r).starts_with("HTTP/1.1 200"), "{r}");
    // The agent socket and MCP too.
    let r = raw(&addr, &get(conexor_protocol::PATH, Some("evil.example"))).await;
    assert!(status_line(&r).starts_with("HTTP/1.1 403"), "{r}");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let r = raw(
        &addr,
        &format!(
            "POST /mcp HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer {key}\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(status_line(&r).starts_with("HTTP/1.1 403"), "{r}");

    // A server with its own name answers to it, and no longer to loopback names.
    let named = TestServer::start_with(|c| {
        c.allowed_hosts = vec!["conexor.example.com".into(), "alt.example.com:8443".into()]
    })
    .await;
    let addr = addr_of(&named);
    let r = raw(&addr, &get("/healthz", Some("conexor.example.com"))).await;
    assert!(status_line(&r).starts_with("HTTP/1.1 200"), "{r}");
    let r = raw(&addr, &get("/healthz", Some("alt.example.com:8443"))).await;
    assert!(status_line(&r).starts_with("HTTP/1.1 200"), "{r}");
    let r = raw(&addr, &get("/healthz", Some("alt.example.com:9999"))).await;
    assert!(status_line(&r).starts_with("HTTP/1.1 403"), "{r}");
    let r = raw(&addr, &get("/healthz", Some("127.0.0.1"))).await;
    assert!(status_line(&r).starts_with("HTTP/1.1 403"), "{r}");
}

/// A stateless (2026-07-28) POST of `tools/call`.
async fn stateless_call(
    url: &str,
    key: &str,
    name_header: &str,
    body: &serde_json::Value,
) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .post(format!("{url}/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", name_header)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        status,
        content_type,
        response.text().await.unwrap_or_default(),
    )
}

/// The stateless fast path (`stateless::tools_call`) answers exactly what rmcp
/// answers for the same call, records it the same way, and leaves every
/// request it does not fit to rmcp (a progress token, a header that
/// contradicts the body).
#[tokio::test]
async fn the_stateless_fast_path_answers_as_rmcp_does() {
    let server = TestServer::start().await;
    let admin = server.workspace("fast").await;
    let key = admin.key().unwrap().to_text().to_string();
    let lite = server.scratch().join("shop.db");
    crate::sources::make_sqlite_shop(&lite).await;
    conexor_tests::add_connection(
        &admin,
        "lite",
        &format!("sqlite://{}", lite.display()),
        false,
    )
    .await
    .unwrap();
    let workspace = conexor_server::auth::authenticate(&server.state, &key)
        .await
        .unwrap()
        .workspace_id;
    let records = || async {
        server
            .state
            .store
            .audit_last_seq(workspace.as_str())
            .await
            .unwrap()
    };
    let body = |tool: &str, progress: bool| {
        let mut meta = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "fast-test", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}
        });
        if progress {
            meta["progressToken"] = json!("p1");
        }
        json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
            "name": tool,
            "arguments": {"connection": "lite", "sql": "SELECT id, email FROM customers WHERE id = ?", "params": [1]},
            "_meta": meta}})
    };

    for tool in ["run_query", "no_such_tool"] {
        let before = records().await;
        let served = conexor_server::stateless::served();
        let fast = stateless_call(&server.url, &key, tool, &body(tool, false)).await;
        let after_fast = records().await;
        assert_eq!(
            conexor_server::stateless::served(),
            served + 1,
            "not the fast path"
        );
        // A progress token needs a stream, so rmcp serves this one.
        let slow = stateless_call(&server.url, &key, tool, &body(tool, true)).await;
        let after_slow = records().await;
        assert_eq!(conexor_server::stateless::served(), served + 1, "not rmcp");
        assert_eq!(fast.0, 200, "{tool}: {}", fast.2);
        assert!(fast.1.starts_with("application/json"), "{tool}: {}", fast.1);
        let fast_json: serde_json::Value = serde_json::from_str(&fast.2).unwrap();
        let slow_json: serde_json::Value = serde_json::from_str(&slow.2).unwrap_or_else(|_| {
            // rmcp may stream it: take the data line of the event.
            let data = slow
                .2
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap();
            serde_json::from_str(data).unwrap()
        });
        assert_eq!(fast_json, slow_json, "{tool}");
        assert_eq!(
            (after_fast - before, after_slow - after_fast),
            (1, 1),
            "{tool}: one record each"
        );
    }
    let answer: serde_json::Value = serde_json::from_str(
        &stateless_call(&server.url, &key, "run_query", &body("run_query", false))
            .await
            .2,
    )
    .unwrap();
    assert_eq!(
        answer["result"]["structuredContent"]["row_count"], 1,
        "{answer}"
    );
    assert_eq!(answer["id"], 9);

    // A header that contradicts the body is rmcp's to refuse.
    let (status, _, text) = stateless_call(
        &server.url,
        &key,
        "describe_table",
        &body("run_query", false),
    )
    .await;
    assert_eq!(status, 400, "{text}");
}

/// After a restart, the first calls of many sessions at once derive the key
/// once and open one pool (`gates`), instead of one derivation and one pool
/// per caller (bench/load.sh saw 5 s first calls with 20 sessions).
#[tokio::test]
async fn concurrent_first_calls_after_a_restart_derive_the_key_once() {
    let mut server = TestServer::start().await;
    let admin = server.workspace("stampede").await;
    let key = admin.key().unwrap().clone();
    let lite = server.scratch().join("shop.db");
    crate::sources::make_sqlite_shop(&lite).await;
    conexor_tests::add_connection(
        &admin,
        "lite",
        &format!("sqlite://{}", lite.display()),
        false,
    )
    .await
    .unwrap();
    server.restart().await;
    let before = server.state.keys.derivations();
    let calls = (0..12).map(|_| {
        let client = server.client_with(key.clone());
        async move {
            client
                .query("lite", "SELECT count(*) AS n FROM customers", vec![], None)
                .await
        }
    });
    for answer in futures::future::join_all(calls).await {
        assert!(answer.is_ok(), "{answer:?}");
    }
    assert_eq!(
        server.state.keys.derivations() - before,
        1,
        "one derivation for twelve concurrent first calls"
    );
}

/// A client that asks for a large answer and never reads it: once the
/// server's writes have made no progress for the write-stall timeout, its
/// connection is closed and the answer freed (bench/load.sh saw 6 MiB held
/// per such client for as long as it kept the socket open).
#[tokio::test]
async fn a_client_that_never_reads_its_answer_is_cut_off() {
    use sqlx::Connection;
    let server = TestServer::start_with(|c| c.write_stall_timeout = Duration::from_secs(1)).await;
    let admin = server.workspace("unread").await;
    let key = admin.key().unwrap().to_text().to_string();
    let path = server.scratch().join("wide.db");
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
    for stmt in [
        "CREATE TABLE wide (id INTEGER PRIMARY KEY, pad TEXT NOT NULL)",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8000) \
         INSERT INTO wide SELECT i, printf('%0400d', i) FROM n",
    ] {
        sqlx::query(stmt).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    conexor_tests::add_connection(
        &admin,
        "wide",
        &format!("sqlite://{}", path.display()),
        false,
    )
    .await
    .unwrap();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "run_query",
        "arguments": {"connection": "wide", "sql": "SELECT id, pad FROM wide", "limit": 8000},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "unread", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}}}})
    .to_string();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n\
         MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: run_query\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len(),
        addr = addr_of(&server),
    );
    // A small receive buffer, so that the answer (several MB) cannot all sit
    // in the kernel's buffers: the server's writes must wait for this client.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket
        .connect(addr_of(&server).parse().unwrap())
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    // Never read, for longer than the stall timeout.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut received = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 65536];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the server kept the connection open");
    let text = String::from_utf8_lossy(&received);
    let (head, answer) = text
        .split_once("\r\n\r\n")
        .expect("response headers arrived");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let promised: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    assert!(
        promised > 6_000_000,
        "the answer is too small to stall: {promised}"
    );
    assert!(
        answer.len() < promised,
        "the whole answer arrived ({} of {promised} bytes): the connection was not cut",
        answer.len()
    );
    // Everyone else is served as usual.
    let other = admin
        .query("wide", "SELECT count(*) AS n FROM wide", vec![], None)
        .await
        .unwrap();
    assert_eq!(other["rows"][0][0], 8000);
}

/// The key list says when each key was last used (noted at most once a
/// minute, off the request's path), and null for a key never used.
#[tokio::test]
async fn the_key_list_says_when_each_key_was_last_used() {
    let server = TestServer::start().await;
    let admin = server.workspace("usage").await;
    let _never = admin.create_key("never-used", "mcp").await.unwrap();
    let used = admin.create_key("used-once", "mcp").await.unwrap();
    server.client_with(used).get("keys/self").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = admin.get("keys").await.unwrap();
        let of = |label: &str| {
            list["keys"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["label"] == label)
                .cloned()
                .unwrap()
        };
        if of("used-once")["last_used_at"].is_string() {
            assert!(of("never-used")["last_used_at"].is_null(), "{list}");
            let at = of("used-once")["last_used_at"].as_str().unwrap().to_owned();
            assert!(conexor_audit::parse_ts(&at).is_ok(), "{at}");
            break;
        }
        assert!(Instant::now() < deadline, "the use was never noted: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

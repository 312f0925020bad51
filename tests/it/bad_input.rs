//! Bad input from the network: each gets a clear error, the server keeps
//! serving, and an unauthenticated request costs no key derivation.

use crate::isolation::{call, mcp_post, mcp_session};
use conexor_tests::TestServer;
use serde_json::json;

#[tokio::test]
async fn hostile_requests_get_clear_errors_and_the_server_survives() {
    let server = TestServer::start().await;
    let lite = server.scratch().join("s.db");
    crate::sources::make_sqlite_shop(&lite).await;
    let admin = server.workspace("bad").await;
    conexor_tests::add_connection(&admin, "s", &format!("sqlite://{}", lite.display()), false)
        .await
        .unwrap();
    let key = admin.key().unwrap().to_text().to_string();
    let http = reqwest::Client::new();
    let mcp = format!("{}/mcp", server.url);
    let session = mcp_session(&server.url, &key).await;

    // Malformed JSON-RPC and invalid UTF-8.
    for body in [
        b"{not json".to_vec(),
        b"[]".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        b"{\"jsonrpc\":\"2.0\"}".to_vec(),
    ] {
        let r = http
            .post(&mcp)
            .bearer_auth(&key)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-session-id", &session)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_client_error() || r.status().is_success(),
            "{}",
            r.status()
        );
        assert_ne!(r.status().as_u16(), 500);
    }
    // Wrong argument types, missing arguments, unknown tools.
    for (i, (tool, args, expect)) in [
        (
            "run_query",
            json!({"connection": "s", "sql": 5}),
            "must be a string",
        ),
        (
            "run_query",
            json!({"connection": "s"}),
            "missing required argument",
        ),
        (
            "run_query",
            json!({"connection": "s", "sql": "SELECT 1", "params": "x"}),
            "params must be an array",
        ),
        (
            "run_query",
            json!({"connection": "s", "sql": "SELECT 1", "limit": -3}),
            "positive integer",
        ),
        (
            "describe_table",
            json!({"connection": "s", "table": "custmers"}),
            "did you mean customers",
        ),
        ("no_such_tool", json!({}), "unknown tool"),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, _, body) = mcp_post(
            &server.url,
            &key,
            Some(&session),
            call(100 + i as u64, tool, args),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains(expect),
            "{tool}: expected {expect:?} in {body}"
        );
    }
    // 10 MB of SQL: refused at the door.
    let huge = format!("SELECT '{}'", "x".repeat(10 * 1024 * 1024));
    let (status, _, _) = mcp_post(
        &server.url,
        &key,
        Some(&session),
        call(200, "run_query", json!({"connection": "s", "sql": huge})),
    )
    .await;
    assert_eq!(status, 413);
    // 200 KB of SQL: refused by the guard with a reason.
    let big = format!("SELECT '{}'", "x".repeat(200 * 1024));
    let (status, _, body) = mcp_post(
        &server.url,
        &key,
        Some(&session),
        call(201, "run_query", json!({"connection": "s", "sql": big})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.contains("isError") && body.contains("limit"),
        "{}",
        &body[..body.len().min(300)]
    );

    // Malformed, non-canonical and unknown keys.
    let good = key.clone();
    let mut non_canonical = good.clone();
    let last = non_canonical.pop().unwrap();
    // Flip the low bits of the last base64url character: same bytes, different text.
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(last).unwrap();
    non_canonical.push(alphabet.as_bytes()[(idx & !3) | ((idx + 1) & 3)] as char);
    for bad in [
        "".to_string(),
        "cxk_".to_string(),
        "not-a-key".to_string(),
        format!("{good}="),
        non_canonical,
        good.replacen("cxk_", "cxk_X", 1),
        format!("cxk_AAAAAAAAAAAA_{}", &good[good.len() - 43..]),
    ] {
        let before = server.state.keys.derivations();
        let r = http
            .get(format!("{}/api/v1/connections", server.url))
            .bearer_auth(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{bad}");
        let body = r.text().await.unwrap();
        assert!(body.contains("credentials"), "{body}");
        let (status, _, _) = mcp_post(
            &server.url,
            &bad,
            None,
            call(1, "list_connections", json!({})),
        )
        .await;
        assert_eq!(status, 401);
        assert_eq!(
            server.state.keys.derivations(),
            before,
            "an unauthenticated request ran a key derivation"
        );
    }
    // No credentials at all.
    let r = http.post(&mcp).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get("www-authenticate").is_some());

    // Still serving.
    let r = admin
        .query("s", "SELECT COUNT(*) AS n FROM customers", vec![], None)
        .await
        .unwrap();
    assert_eq!(r["rows"][0][0], 200);
    assert_eq!(
        http.get(format!("{}/healthz", server.url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        http.get(format!("{}/readyz", server.url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

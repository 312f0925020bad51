//! REST APIs (`rest`) against a real HTTP server (`rest_api_server.py`,
//! started by the harness), through a real MCP client: the description's
//! read operations become tools and its writes never can; arguments are
//! checked and encoded before anything is sent; redirects to another
//! origin, huge, endless and broken answers each end in a clear error or a
//! capped answer; the token goes only to the base URL's origin; and the
//! audit record of a call holds its arguments' names, not their values.

use conexor_client::Client;
use conexor_tests::mcp::{call, mcp, tool_names};
use conexor_tests::rest::{BASIC_PASSWORD, BASIC_USER, KEY, TOKEN, rest_api};
use conexor_tests::{TestServer, status_of};
use conexor_types::ConnectionKind;
use serde_json::{Value, json};

async fn add_rest(client: &Client, name: &str, spec: Value) -> anyhow::Result<Value> {
    let plain = serde_json::to_vec(&spec)?;
    let body = client
        .sealed_connection(name, ConnectionKind::Rest, &plain, false)
        .await?;
    client.post("connections", body).await
}

async fn shop_spec(auth: &str, extra: Value) -> Value {
    let api = rest_api();
    let base = api.base(auth);
    let mut spec = json!({
        "base_url": base,
        "openapi": api.description(&base).await,
        "allow_http": true,
    });
    if let (Some(s), Value::Object(more)) = (spec.as_object_mut(), extra) {
        s.extend(more);
    }
    spec
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Requests on the API's port whose path contains `needle`.
fn sent(needle: &str) -> Vec<Value> {
    rest_api()
        .requests()
        .into_iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.contains(needle)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ai_calls_read_operations_of_a_described_api_and_nothing_else() {
    let api = rest_api();
    let server = TestServer::start_with(|c| {
        c.limits.statement_timeout = std::time::Duration::from_secs(3);
        c.limits.max_bytes = 256 * 1024;
    })
    .await;
    let admin = server.workspace("rest").await;
    let added = add_rest(
        &admin,
        "shop",
        shop_spec("bearer", json!({"auth": "bearer", "token": TOKEN})).await,
    )
    .await
    .unwrap();
    // 10 read operations (GET and HEAD), 3 writes never offered; few enough
    // for one tool each.
    assert_eq!(added["operations"], 10, "{added}");
    assert_eq!(added["tools"]["mode"], "named", "{added}");
    assert!(
        added["test"]["version"]
            .as_str()
            .unwrap()
            .contains("3 write operations never callable"),
        "{added}"
    );

    let (service, _) = mcp(&server, &admin).await;
    let tools = tool_names(&service).await;
    for t in [
        "shop_listItems",
        "shop_getItem",
        "shop_itemExists",
        "shop_echo",
    ] {
        assert!(tools.iter().any(|n| n == t), "{t} missing from {tools:?}");
    }
    for t in ["shop_createItem", "shop_replaceItem", "shop_deleteItem"] {
        assert!(!tools.iter().any(|n| n == t), "{t} is a write: {tools:?}");
    }

    // Query parameters, pagination, a path parameter, a header parameter.
    let (err, page, text) = call(
        &service,
        "shop_listItems",
        json!({"limit": 5, "page": 2, "state": "open"}),
    )
    .await;
    assert!(!err, "{text}");
    assert_eq!(page["status"], 200);
    assert_eq!(page["body"]["page"], 2);
    assert_eq!(page["body"]["items"].as_array().unwrap().len(), 5);
    let (err, item, text) = call(&service, "shop_getItem", json!({"id": "7"})).await;
    assert!(!err, "{text}");
    assert_eq!(item["body"]["name"], "item 7");
    let (err, echo, text) = call(
        &service,
        "shop_echo",
        json!({"q": "a b&c=d", "X-Request-Tag": "tag-1"}),
    )
    .await;
    assert!(!err, "{text}");
    assert_eq!(echo["body"]["query"], "q=a+b%26c%3Dd");
    assert_eq!(echo["body"]["tag"], "tag-1");
    let (err, head, text) = call(&service, "shop_itemExists", json!({"id": "7"})).await;
    assert!(!err, "{text}");
    assert_eq!(head["status"], 200);
    // The generic call reaches the same operation by name.
    let (err, same, text) = call(
        &service,
        "call_operation",
        json!({"connection": "shop", "operation": "getItem", "arguments": {"id": "8"}}),
    )
    .await;
    assert!(!err, "{text}");
    assert_eq!(same["body"]["id"], 8);

    // Values that try to leave their place: each stays in one encoded path
    // segment, or is refused before anything is sent.
    let (err, _, text) = call(&service, "shop_getItem", json!({"id": "../../admin"})).await;
    assert!(err, "{text}");
    let hits = sent("/items/..%2F..%2Fadmin");
    assert_eq!(hits.len(), 1, "sent as one encoded segment: {hits:?}");
    let (err, _, text) = call(&service, "shop_getItem", json!({"id": "%2e%2e"})).await;
    assert!(err, "{text}");
    assert_eq!(sent("/items/%252e%252e").len(), 1);
    for (args, says) in [
        (json!({"id": ".."}), "path segment"),
        (json!({"id": "x".repeat(1 << 20)}), "bytes"),
        (json!({}), "required"),
        (json!({"id": "1", "extra": 1}), "not a parameter"),
    ] {
        let (err, _, text) = call(&service, "shop_getItem", args).await;
        assert!(err && text.contains(says), "{says}: {text}");
    }
    let (err, _, text) = call(
        &service,
        "shop_echo",
        json!({"X-Request-Tag": "a\r\nX-Injected: 1"}),
    )
    .await;
    assert!(err && text.contains("visible ASCII"), "{text}");
    let (err, _, text) = call(&service, "shop_listItems", json!({"limit": 1000})).await;
    assert!(err && text.contains("at most 50"), "{text}");
    // (Other tests share the server: look for what these calls would have sent.)
    for r in api.requests() {
        let path = r["path"].as_str().unwrap_or_default();
        assert!(
            !path.ends_with("/items/..")
                && !path.contains("xxxxxxxx")
                && !path.contains("extra=")
                && !path.contains("limit=1000")
                && r["headers"].get("x-injected").is_none(),
            "a refused call was sent: {r}"
        );
    }

    // Redirects: within the origin followed, to another origin refused, and
    // the token never reaches the other origin.
    let (err, followed, text) = call(&service, "shop_sameOriginRedirect", json!({})).await;
    assert!(!err, "{text}");
    assert_eq!(followed["body"]["items"].as_array().unwrap().len(), 2);
    let (err, _, text) = call(&service, "shop_redirectAway", json!({})).await;
    assert!(err && text.contains("another origin"), "{text}");
    let other: Vec<Value> = api
        .requests()
        .into_iter()
        .filter(|r| r["port"] == api.other_port)
        .collect();
    assert!(other.is_empty(), "the other origin was reached: {other:?}");

    // A 50 MB answer is cut at the byte cap; an endless one at the time
    // cap; invalid JSON and a binary answer are said for what they are.
    let (err, huge, text) = call(&service, "shop_huge", json!({})).await;
    assert!(!err, "{text}");
    assert_eq!(huge["truncated"], true);
    assert_eq!(huge["bytes"], 256 * 1024);
    assert!(huge["note"].as_str().unwrap().contains("cut at"));
    let started = std::time::Instant::now();
    let (err, _, text) = call(&service, "shop_slow", json!({})).await;
    assert!(err && text.contains("did not answer in time"), "{text}");
    assert!(started.elapsed().as_secs() < 10);
    let (err, _, text) = call(&service, "shop_broken", json!({})).await;
    assert!(err && text.contains("not valid JSON"), "{text}");
    let (err, bin, text) = call(&service, "shop_report", json!({})).await;
    assert!(!err, "{text}");
    assert!(
        bin["note"]
            .as_str()
            .unwrap()
            .contains("application/octet-stream"),
        "{bin}"
    );
    let (err, _, text) = call(&service, "shop_getItem", json!({"id": "999"})).await;
    assert!(err && text.contains("404"), "{text}");

    // Only GET and HEAD ever reached the API, each with the token.
    for r in api.requests() {
        assert!(
            r["method"] == "GET" || r["method"] == "HEAD",
            "a write reached the API: {r}"
        );
    }
    for r in sent("/bearer/api/v1/") {
        assert_eq!(r["headers"]["authorization"], format!("Bearer {TOKEN}"));
    }

    // The audit: a call's record names its arguments, and its query_hash is
    // of the request sent; no value and no answer is in the log.
    let audit = admin.get_text("audit/export?format=jsonl").await.unwrap();
    let records: Vec<Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|l| l.get("record").cloned())
        .collect();
    let echo_record = records
        .iter()
        .find(|r| r["tool"] == "shop_echo" && r["outcome"] == "ok")
        .unwrap_or_else(|| panic!("the echo is recorded: {audit}"));
    assert_eq!(echo_record["connection"], "shop");
    assert_eq!(echo_record["mode"], "direct");
    assert_eq!(
        echo_record["params"],
        json!({"arguments": ["X-Request-Tag", "q"]})
    );
    assert_eq!(
        echo_record["query_hash"],
        sha256_hex(
            "rest.call\nGET\n/echo\n/bearer/api/v1/echo?q=a+b%26c%3Dd\nx-request-tag: tag-1"
        )
    );
    // A failed call of an operation's tool is recorded with its connection too.
    let failed = records
        .iter()
        .find(|r| r["tool"] == "shop_getItem" && r["outcome"] == "error")
        .expect("the 404 is recorded");
    assert_eq!(failed["connection"], "shop", "{failed}");
    assert!(
        failed["error"].as_str().unwrap().starts_with("http:404"),
        "{failed}"
    );
    let generic = records
        .iter()
        .find(|r| r["tool"] == "call_operation")
        .expect("the generic call is recorded");
    assert_eq!(
        generic["params"],
        json!({"connection": "shop", "operation": "getItem", "arguments": ["id"]})
    );
    for needle in ["tag-1", "a b&c", "item 7", TOKEN] {
        assert!(!audit.contains(needle), "the audit log holds {needle:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_auth_reaches_the_api_and_a_wrong_token_is_a_clear_error() {
    let server = TestServer::start().await;
    let admin = server.workspace("rest-auth").await;
    let enable = json!(["getItem"]);
    for (name, auth, extra) in [
        (
            "by_header",
            "key",
            json!({"auth": "header", "auth_name": "X-API-Key", "token": KEY}),
        ),
        (
            "by_query",
            "key",
            json!({"auth": "query", "auth_name": "api_key", "token": KEY}),
        ),
        (
            "by_basic",
            "basic",
            json!({"auth": "basic", "auth_name": BASIC_USER, "token": BASIC_PASSWORD}),
        ),
        ("open", "open", json!({})),
    ] {
        let mut extra = extra;
        extra["enable"] = enable.clone();
        extra["test_operation"] = json!("listItems");
        // The test operation must be enabled: listItems is not.
        let err = add_rest(&admin, name, shop_spec(auth, extra.clone()).await)
            .await
            .unwrap_err();
        assert_eq!(status_of(&err), Some(400), "{err:#}");
        extra["enable"] = json!(["getItem", "listItems"]);
        let added = add_rest(&admin, name, shop_spec(auth, extra).await)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!(added["operations"], 2, "{added}");
    }
    let (service, _) = mcp(&server, &admin).await;
    for name in ["by_header", "by_query", "by_basic", "open"] {
        let (err, item, text) =
            call(&service, &format!("{name}_getItem"), json!({"id": "3"})).await;
        assert!(!err, "{name}: {text}");
        assert_eq!(item["body"]["id"], 3, "{name}");
    }
    // A wrong token: test-before-save says the API refused it.
    let err = add_rest(
        &admin,
        "wrong",
        shop_spec(
            "key",
            json!({"auth": "header", "auth_name": "X-API-Key", "token": "not-the-key"}),
        )
        .await,
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("401"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptions_that_point_elsewhere_are_refused_at_save() {
    let api = rest_api();
    let server = TestServer::start().await;
    let admin = server.workspace("rest-servers").await;
    let base = api.base("open");
    for (servers, says) in [
        ("http://169.254.169.254/latest", "refuses"),
        ("https://api.example.com/v1", "servers entry"),
    ] {
        let spec = json!({
            "base_url": base,
            "openapi": api.description(servers).await,
            "allow_http": true,
        });
        let err = add_rest(&admin, "elsewhere", spec).await.unwrap_err();
        assert!(format!("{err:#}").contains(says), "{servers}: {err:#}");
    }
    // A mirror: the base URL replaces a servers entry at another origin
    // when the user says so.
    let spec = json!({
        "base_url": base,
        "openapi": api.description("https://api.example.com/v1").await,
        "allow_http": true,
        "ignore_servers": true,
    });
    add_rest(&admin, "mirror", spec).await.expect("saved");
    // A base URL at a metadata address is refused before anything is sent.
    let spec = json!({
        "base_url": "http://169.254.169.254/latest",
        "openapi": api.description("/latest").await,
        "allow_http": true,
    });
    let err = add_rest(&admin, "metadata", spec).await.unwrap_err();
    assert!(format!("{err:#}").contains("metadata"), "{err:#}");
}

/// The same API behind an agent: the agent holds the description and the
/// token, checks each call against its own description and cap, and its
/// record and the server's carry the same hash; the server holds no token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_behind_an_agent_is_called_under_the_agent_s_own_description_and_cap() {
    use crate::agent::{create_agent, spawn_agent};
    let api = rest_api();
    let server = TestServer::start().await;
    let admin = server.workspace("agent-rest").await;
    let dir = tempfile::tempdir().unwrap();
    let (_, token) = create_agent(&admin, "api-agent", 600).await;
    let base = api.base("bearer");
    std::fs::write(dir.path().join("shop.json"), api.description(&base).await).unwrap();
    std::fs::write(dir.path().join("api.token"), format!("{TOKEN}\n")).unwrap();
    let text = format!(
        "server = \"{}\"\ntoken = \"{token}\"\nstate_dir = \"state\"\n[limits]\nmax_bytes = 2048\n\
         [[connections]]\nname = \"shop\"\ntype = \"rest\"\nbase_url = \"{base}\"\nallow_http = true\n\
         openapi_file = \"shop.json\"\nauth = \"bearer\"\ntoken_file = \"api.token\"\n\
         enable = [\"tag:items\", \"echo\", \"huge\"]\n",
        server.url
    );
    let settings = conexor_agent::Settings::parse(&text, dir.path()).expect("agent.toml with rest");
    let agent = spawn_agent(settings);
    crate::agent::wait_offered(&admin, "shop").await;
    let (service, _) = mcp(&server, &admin).await;
    let tools = tool_names(&service).await;
    for t in ["shop_listItems", "shop_getItem", "shop_echo", "shop_huge"] {
        assert!(tools.iter().any(|n| n == t), "{t} missing from {tools:?}");
    }
    assert!(
        !tools.iter().any(|n| n == "shop_slow"),
        "not enabled: {tools:?}"
    );

    let (err, item, text) = call(&service, "shop_getItem", json!({"id": "5"})).await;
    assert!(!err, "{text}");
    assert_eq!(item["body"]["name"], "item 5");
    // The server allows 1 MiB; the agent's own cap is 2,048 bytes.
    let (err, huge, text) = call(&service, "shop_huge", json!({})).await;
    assert!(!err, "{text}");
    assert_eq!(huge["bytes"], 2048, "{huge}");
    assert_eq!(huge["truncated"], true);
    // The agent checks the arguments itself as well.
    let (err, _, text) = call(&service, "shop_echo", json!({"X-Request-Tag": "a\nb"})).await;
    assert!(err && text.contains("visible ASCII"), "{text}");

    let (err, _, text) = call(&service, "shop_echo", json!({"q": "agent"})).await;
    assert!(!err, "{text}");
    let expected = sha256_hex("rest.call\nGET\n/echo\n/bearer/api/v1/echo?q=agent");
    let audit = admin.get_text("audit/export?format=jsonl").await.unwrap();
    let server_record = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|l| l.get("record").cloned())
        .find(|r| r["tool"] == "shop_echo" && r["outcome"] == "ok")
        .expect("the server recorded the call");
    assert_eq!(server_record["mode"], "agent");
    assert_eq!(server_record["query_hash"], expected);
    assert_eq!(server_record["params"], json!({"arguments": ["q"]}));
    let log = std::fs::read_to_string(dir.path().join("state/audit.jsonl")).unwrap();
    let agent_record = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|l| l.get("record").cloned())
        .find(|r| {
            r["tool"] == "agent.call" && r["outcome"] == "ok" && r["params"]["operation"] == "echo"
        })
        .expect("the agent recorded the call");
    assert_eq!(agent_record["query_hash"], expected);
    assert_eq!(agent_record["params"]["arguments"], json!(["q"]));
    assert!(!log.contains(TOKEN) && !audit.contains(TOKEN));
    // The server's store never saw the token.
    let mut leaked = Vec::new();
    for entry in std::fs::read_dir(&server.data_dir).unwrap().flatten() {
        if let Ok(bytes) = std::fs::read(entry.path())
            && bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes())
        {
            leaked.push(entry.path());
        }
    }
    assert!(
        leaked.is_empty(),
        "the server's data holds the token: {leaked:?}"
    );
    agent.stop.cancel();
    let _ = service.cancel().await;
}

//! OpenAPI descriptions from the real world: GitHub's published one
//! (npm `@octokit/openapi`, fetched by `scripts/test` into
//! `CONEXOR_TEST_GITHUB_OPENAPI`), read the way a REST connection reads it.
//! Prints the load time and memory; the tools it would add stay a few KB.

use conexor_connectors::rest::openapi::{self, Location, ReadMethod};
use conexor_connectors::rest::{ToolMode, tool_plan};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn github_s_description_reads_into_read_operations_and_three_generic_tools() {
    let path = std::env::var("CONEXOR_TEST_GITHUB_OPENAPI").expect(
        "CONEXOR_TEST_GITHUB_OPENAPI is not set: scripts/test fetches GitHub's OpenAPI description (npm @octokit/openapi)",
    );
    let text = std::fs::read(&path).expect("the description was fetched");
    let before = rss_kib();
    let started = std::time::Instant::now();
    let api = openapi::parse(&text).expect("GitHub's description reads");
    let elapsed = started.elapsed();
    let after = rss_kib();
    let ops: Vec<_> = api.operations.iter().collect();
    let plan = tool_plan("github", &ops);
    let stored = serde_json::to_string(&api.operations).map_or(0, |s| s.len());
    println!(
        "GitHub OpenAPI {}: {} bytes read in {:.0} ms, RSS +{} MiB; {} read operations, {} write operations never callable, {} skipped; tools/list adds {} bytes ({:?}); the operations as stored: {} KB",
        api.version,
        text.len(),
        elapsed.as_secs_f64() * 1000.0,
        after.saturating_sub(before) / 1024,
        api.operations.len(),
        api.write_operations,
        api.skipped.len(),
        plan.bytes,
        plan.mode,
        stored / 1024
    );
    assert!(api.operations.len() > 300, "{}", api.operations.len());
    assert!(api.write_operations > 100);
    assert_eq!(plan.mode, ToolMode::Generic);
    assert!(plan.bytes < 4_096, "{}", plan.bytes);
    // An operation a search would find: its parameters as the API defines them.
    let repo = api
        .operations
        .iter()
        .find(|o| o.operation_id.as_deref() == Some("repos/get"))
        .expect("repos/get is a read operation");
    assert_eq!(repo.method, ReadMethod::Get);
    assert_eq!(repo.path, "/repos/{owner}/{repo}");
    let path_params: Vec<&str> = repo
        .params
        .iter()
        .filter(|p| p.location == Location::Path)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(path_params, ["owner", "repo"]);
    // Nothing that writes is among them.
    assert!(
        !api.operations
            .iter()
            .any(|o| o.operation_id.as_deref() == Some("repos/delete"))
    );
}

/// GitHub's description saved as a connection (sealed by the client, 15 MB
/// on the wire), its base URL rewritten to the local test API: tools/list
/// stays a few KB with the three generic tools, and an operation found by
/// search is described and called through a real MCP client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_s_description_is_searched_described_and_called_through_mcp() {
    use conexor_tests::mcp::{call, mcp};
    use conexor_tests::rest::rest_api;
    use serde_json::{Value, json};
    let path = std::env::var("CONEXOR_TEST_GITHUB_OPENAPI").expect(
        "CONEXOR_TEST_GITHUB_OPENAPI is not set: scripts/test fetches GitHub's OpenAPI description (npm @octokit/openapi)",
    );
    let text = std::fs::read_to_string(&path).expect("the description was fetched");
    let api = rest_api();
    let server = conexor_tests::TestServer::start().await;
    let admin = server.workspace("github").await;
    let spec = json!({
        "base_url": format!("{}/github", api.origin),
        "openapi": text,
        "allow_http": true,
        "ignore_servers": true,
        "test_operation": "meta/root",
    });
    let plain = serde_json::to_vec(&spec).unwrap();
    let started = std::time::Instant::now();
    let body = admin
        .sealed_connection("github", conexor_types::ConnectionKind::Rest, &plain, false)
        .await
        .unwrap();
    let added = admin.post("connections", body).await.unwrap();
    println!(
        "GitHub's description saved as a connection in {:.1} s: {} operations, tools {}",
        started.elapsed().as_secs_f64(),
        added["operations"],
        added["tools"]
    );
    assert_eq!(added["tools"]["mode"], "generic", "{added}");
    assert!(added["tools"]["bytes"].as_u64().unwrap() < 4096, "{added}");

    let (service, _) = mcp(&server, &admin).await;
    let listed = service.list_all_tools().await.expect("tools/list");
    let bytes = serde_json::to_vec(&listed).unwrap().len();
    println!(
        "tools/list with GitHub's API: {} tools, {bytes} bytes",
        listed.len()
    );
    assert!(bytes < 8 * 1024, "{bytes}");
    let (err, found, text) = call(
        &service,
        "search_operations",
        json!({"query": "get a repository", "connection": "github"}),
    )
    .await;
    assert!(!err, "{text}");
    let hit = found["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["operation"] == "repos_get")
        .unwrap_or_else(|| panic!("repos/get found: {found}"))
        .clone();
    assert_eq!(hit["path"], "/repos/{owner}/{repo}");
    let (err, described, text) = call(
        &service,
        "describe_operation",
        json!({"connection": "github", "operation": "repos_get"}),
    )
    .await;
    assert!(!err, "{text}");
    assert_eq!(
        described["input_schema"]["required"],
        json!(["owner", "repo"]),
        "{described}"
    );
    // The answer's shape: a repository, its owner a few levels deep.
    assert_eq!(described["response"]["full_name"], "string", "{described}");
    assert!(described["response"]["owner"].is_object(), "{described}");
    let (err, answer, text) = call(
        &service,
        "call_operation",
        json!({"connection": "github", "operation": "repos_get",
               "arguments": {"owner": "octo cat", "repo": "hello/world"}}),
    )
    .await;
    assert!(!err, "{text}");
    assert_eq!(
        answer["body"]["path"],
        Value::from("/github/repos/octo%20cat/hello%2Fworld")
    );
    // A write operation of the description is not there to call.
    let (err, _, text) = call(
        &service,
        "call_operation",
        json!({"connection": "github", "operation": "repos_delete",
               "arguments": {"owner": "o", "repo": "r"}}),
    )
    .await;
    assert!(err && text.contains("not an enabled operation"), "{text}");
    let _ = service.cancel().await;
}

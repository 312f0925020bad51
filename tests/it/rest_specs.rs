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
    println!(
        "GitHub OpenAPI {}: {} bytes read in {:.0} ms, RSS +{} MiB; {} read operations, {} write operations never callable, {} skipped; tools/list adds {} bytes ({:?})",
        api.version,
        text.len(),
        elapsed.as_secs_f64() * 1000.0,
        after.saturating_sub(before) / 1024,
        api.operations.len(),
        api.write_operations,
        api.skipped.len(),
        plan.bytes,
        plan.mode
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

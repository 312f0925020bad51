//! The security core — crypto, the guard, the audit chain and the shared
//! types — depends on no server, database or network crate, so that each can
//! be read, reviewed and tested without a network. Checked on the resolved
//! dependency graph (`cargo metadata`), normal and build dependencies
//! followed transitively (dev-dependencies are the tests' own).

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

const CORE: &[&str] = &[
    "conexor-crypto",
    "conexor-guard",
    "conexor-audit",
    "conexor-types",
];

/// Crates that open sockets, speak a network or database protocol, or run a
/// server or an async runtime.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "mio",
    "socket2",
    "hyper",
    "h2",
    "h3",
    "reqwest",
    "axum",
    "tower",
    "rmcp",
    "sqlx",
    "sqlx-core",
    "sqlx-postgres",
    "sqlx-mysql",
    "sqlx-sqlite",
    "libsqlite3-sys",
    "rusqlite",
    "tokio-postgres",
    "postgres",
    "mysql_async",
    "tiberius",
    "rustls",
    "native-tls",
    "openssl",
    "openssl-sys",
    "tungstenite",
    "tokio-tungstenite",
    "rdkafka",
    "aws-sdk-s3",
    "object_store",
    "conexor-server",
    "conexor-connectors",
    "conexor-store",
    "conexor-agent",
    "conexor-client",
];

#[test]
fn the_security_core_depends_on_no_server_database_or_network_crate() {
    // Resolved for this machine's platform: offline, cargo has only the crates
    // this platform builds (a fresh machine has no Android or Windows crates).
    let rustc =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("-vV")
            .output()
            .expect("rustc runs");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names its host");
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata is JSON");
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    for core in CORE {
        let root = names
            .iter()
            .find(|(_, name)| *name == core)
            .map(|(id, _)| *id)
            .unwrap_or_else(|| panic!("{core} is not in the workspace"));
        let mut seen = BTreeSet::new();
        let mut todo = vec![root];
        while let Some(id) = todo.pop() {
            for dep in nodes[id]["deps"].as_array().unwrap() {
                // dep_kinds: kind null = normal, "build", "dev" (the tests' own).
                let shipped = dep["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].as_str() != Some("dev"));
                let pkg = dep["pkg"].as_str().unwrap();
                if shipped && seen.insert(pkg) {
                    todo.push(pkg);
                }
            }
        }
        let found: Vec<&str> = seen
            .iter()
            .map(|id| names[id])
            .filter(|name| FORBIDDEN.contains(name))
            .collect();
        assert!(
            found.is_empty(),
            "{core} depends (transitively) on {found:?}: the security core must stay free of server, database and network crates"
        );
    }
}

/// The switch that answers calls without an audit record exists only under
/// the `bench` feature of conexor-server, which only `bench/` enables: no
/// dependency of the `conexor` binary may turn it on.
#[test]
fn the_binary_s_dependencies_never_enable_the_benchmark_only_audit_switch() {
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "tree", "-p", "conexor", "-e", "features", "--prefix", "none",
        ])
        .args(["--locked", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(
        tree.lines().any(|l| l.starts_with("conexor-server ")),
        "cargo tree does not list conexor-server: {tree}"
    );
    let enabled: Vec<&str> = tree
        .lines()
        .filter(|l| l.starts_with("conexor-server feature \"bench\""))
        .collect();
    assert!(enabled.is_empty(), "the binary enables {enabled:?}");
}

//! Object storage (`s3`) against a real S3-compatible server (moto, started
//! by the test harness and filled by boto3), through a real MCP client:
//! list, info, ranged reads and previews; the audit record of each read
//! carries its typed operation's hash and none of the object's bytes; and
//! the attacks — buckets and prefixes outside the allow-list, keys shaped
//! like traversals, huge objects, redirects, metadata endpoints — each get a
//! clear error, with what reached the store counted at a proxy.

use conexor_client::Client;
use conexor_tests::mcp::{call, mcp, tool_names};
use conexor_tests::s3::{CountingProxy, moto};
use conexor_tests::{TestServer, status_of};
use conexor_types::ConnectionKind;
use serde_json::{Value, json};

async fn add_s3(
    client: &Client,
    name: &str,
    endpoint: &str,
    allow: &[&str],
) -> anyhow::Result<Value> {
    let spec = json!({
        "access_key_id": "AKIDCONEXORTEST",
        "secret_access_key": "conexor-test-secret-key-0123456789",
        "endpoint": endpoint,
        "allow_http": true,
        "allow": allow,
    });
    let plain = serde_json::to_vec(&spec)?;
    let body = client
        .sealed_connection(name, ConnectionKind::S3, &plain, false)
        .await?;
    client.post("connections", body).await
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ai_lists_reads_and_previews_objects_and_each_read_is_audited() {
    let store = moto();
    let server = TestServer::start().await;
    let admin = server.workspace("objects").await;
    let (service, _) = mcp(&server, &admin).await;
    // A database-only workspace's tools/list does not grow.
    let before = tool_names(&service).await;
    assert!(!before.iter().any(|t| t == "list_objects"), "{before:?}");

    let added = add_s3(&admin, "lake", &store.endpoint, &[]).await.unwrap();
    let discovered = serde_json::to_string(&added).unwrap();
    assert!(
        discovered.contains("cx-data"),
        "discovery names the buckets: {discovered}"
    );

    let (service, _) = mcp(&server, &admin).await;
    let tools = tool_names(&service).await;
    for t in [
        "list_objects",
        "object_info",
        "read_object",
        "preview_object",
    ] {
        assert!(tools.iter().any(|n| n == t), "{t} missing from {tools:?}");
    }
    let (err, listed, text) = call(&service, "list_connections", json!({})).await;
    assert!(!err, "{text}");
    let lake = &listed["connections"][0];
    assert_eq!(lake["type"], "s3");
    assert!(
        lake["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b == "cx-data"),
        "{listed}"
    );

    // A listing by folder, then the next page with its cursor.
    let (err, page, text) = call(
        &service,
        "list_objects",
        json!({"connection": "lake", "bucket": "cx-data", "delimiter": "/", "limit": 3}),
    )
    .await;
    assert!(!err, "{text}");
    // S3 counts keys and folders against the page size.
    let shown = page["objects"].as_array().unwrap().len()
        + page["common_prefixes"].as_array().unwrap().len();
    assert_eq!(shown, 3, "{page}");
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let (err, next, text) = call(
        &service,
        "list_objects",
        json!({"connection": "lake", "bucket": "cx-data", "delimiter": "/", "limit": 3, "cursor": cursor}),
    )
    .await;
    assert!(!err, "{text}");
    assert_ne!(next["objects"][0]["key"], page["objects"][0]["key"]);
    let (_, reports, _) = call(
        &service,
        "list_objects",
        json!({"connection": "lake", "bucket": "cx-data", "prefix": "reports/", "delimiter": "/"}),
    )
    .await;
    assert_eq!(
        reports["common_prefixes"],
        json!(["reports/2026/"]),
        "{reports}"
    );

    let (err, info, text) = call(
        &service,
        "object_info",
        json!({"connection": "lake", "bucket": "cx-data", "key": "sales.csv"}),
    )
    .await;
    assert!(!err, "{text}");
    assert_eq!(info["content_type"], "text/csv");
    assert_eq!(info["metadata"]["owner"], "finance");
    assert!(info["size"].as_u64().unwrap() > 10_000);

    // A byte range, as text and as base64.
    let (err, read, text) = call(
        &service,
        "read_object",
        json!({"connection": "lake", "bucket": "cx-data", "key": "sales.csv", "offset": 15, "length": 20}),
    )
    .await;
    assert!(!err, "{text}");
    assert_eq!(read["data"], "1,customer 1,1.5\n2,c");
    assert_eq!(read["truncated"], true);
    let (_, bin, _) = call(
        &service,
        "read_object",
        json!({"connection": "lake", "bucket": "cx-data", "key": "bytes.bin", "encoding": "base64", "length": 4}),
    )
    .await;
    assert_eq!(bin["data"], "AAECAw==");
    let (err, _, text) = call(
        &service,
        "read_object",
        json!({"connection": "lake", "bucket": "cx-data", "key": "bytes.bin"}),
    )
    .await;
    assert!(err && text.contains("base64"), "{text}");
    let (err, _, text) = call(
        &service,
        "read_object",
        json!({"connection": "lake", "bucket": "cx-data", "key": "no-such-key"}),
    )
    .await;
    assert!(err && text.contains("NoSuchKey"), "{text}");

    // Previews: CSV, gzip CSV, JSON Lines, gzip JSON Lines.
    for key in ["sales.csv", "sales.csv.gz"] {
        let (err, p, text) = call(
            &service,
            "preview_object",
            json!({"connection": "lake", "bucket": "cx-data", "key": key, "rows": 5}),
        )
        .await;
        assert!(!err, "{key}: {text}");
        assert_eq!(p["rows"].as_array().unwrap().len(), 5);
        assert_eq!(p["rows"][0], json!(["1", "customer 1", "1.5"]), "{key}");
        assert_eq!(p["columns"][0], json!({"name": "id", "type": "integer"}));
        assert_eq!(p["truncated"], true);
        assert_eq!(p["gzip"], key.ends_with(".gz"));
    }
    for key in ["events.jsonl", "events.jsonl.gz"] {
        let (err, p, text) = call(
            &service,
            "preview_object",
            json!({"connection": "lake", "bucket": "cx-data", "key": key, "rows": 3}),
        )
        .await;
        assert!(!err, "{key}: {text}");
        assert_eq!(p["rows"][1], json!([2, "view", 1.0]), "{key}: {p}");
    }

    // Parquet: the first rows, the columns with their types.
    let (err, p, text) = call(
        &service,
        "preview_object",
        json!({"connection": "lake", "bucket": "cx-data", "key": "big.parquet", "rows": 3}),
    )
    .await;
    assert!(!err, "{text}");
    assert_eq!(
        p["rows"][1],
        json!([1, "row 1", 0.25, false, 2654435761u64 % 1000003]),
        "{p}"
    );
    assert_eq!(p["columns"][0]["name"], "id");
    assert_eq!(p["columns"][0]["type"], "INT64");
    assert_eq!(p["truncated"], true);
    for (key, says) in [("zstd.parquet", "zstd"), ("lying.parquet", "footer")] {
        let (err, _, text) = call(
            &service,
            "preview_object",
            json!({"connection": "lake", "bucket": "cx-data", "key": key}),
        )
        .await;
        assert!(err && text.to_lowercase().contains(says), "{key}: {text}");
    }

    // The audit: each read is recorded with its typed operation's hash, and
    // no object bytes; the export verifies against the pinned key.
    let audit = admin.get_text("audit/export?format=jsonl").await.unwrap();
    let pinned = admin.get("audit/pubkey").await.unwrap();
    let pinned = conexor_audit::PublicKey::parse(pinned["pubkey"].as_str().unwrap()).unwrap();
    conexor_audit::verify(std::io::Cursor::new(audit.as_bytes()), Some(&pinned))
        .expect("the export with the object reads verifies");
    let records: Vec<Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|l| l.get("record").cloned())
        .collect();
    let read = records
        .iter()
        .find(|r| r["tool"] == "read_object" && r["params"]["offset"] == 15)
        .unwrap_or_else(|| panic!("the read is recorded: {audit}"));
    assert_eq!(read["connection"], "lake");
    assert_eq!(read["outcome"], "ok");
    assert_eq!(
        read["query_hash"],
        sha256_hex("s3.read_object\ncx-data\nsales.csv\nbytes=15-34")
    );
    let denied = records
        .iter()
        .find(|r| r["tool"] == "read_object" && r["params"]["key"] == "no-such-key")
        .expect("the failed read is recorded");
    assert_eq!(denied["outcome"], "error");
    assert!(
        denied["error"]
            .as_str()
            .unwrap()
            .starts_with("s3:NoSuchKey"),
        "{denied}"
    );
    for needle in ["customer 1,1.5", "AAECAw", "click", "finance"] {
        assert!(
            !audit.contains(needle),
            "the audit log holds object data {needle:?}"
        );
    }
    // Only reads ever reached the store: every request after the fixtures
    // were written is a GET or a HEAD, but for the test's own rewriter
    // (another process, `REWRITTEN`), which writes under its own prefix.
    let writes: Vec<String> = store
        .requests()
        .into_iter()
        .skip(store.fixture_requests)
        .filter(|r| !(r.starts_with("GET ") || r.starts_with("HEAD ")))
        .filter(|r| !r.starts_with(&format!("PUT /cx-data/{REWRITTEN}")))
        .collect();
    assert!(writes.is_empty(), "requests other than reads: {writes:?}");
    let _ = service.cancel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_outside_the_allow_list_and_hostile_keys_never_reach_another_object() {
    let store = moto();
    let proxy = CountingProxy::start(&store.endpoint).await;
    let server = TestServer::start().await;
    let admin = server.workspace("hostile").await;
    add_s3(&admin, "scoped", &proxy.endpoint, &["cx-data/reports/"])
        .await
        .unwrap();
    add_s3(&admin, "open", &proxy.endpoint, &[]).await.unwrap();
    let (service, _) = mcp(&server, &admin).await;

    // Outside the allow-list: refused before anything is sent.
    let sent = proxy.connection_count();
    for (bucket, key) in [
        ("cx-other", "secret.txt"),
        ("cx-data", "secret"),
        ("cx-data", "reportsX"),
    ] {
        let (err, _, text) = call(
            &service,
            "read_object",
            json!({"connection": "scoped", "bucket": bucket, "key": key}),
        )
        .await;
        assert!(
            err && (text.contains("not allowed") || text.contains("outside")),
            "{bucket}/{key}: {text}"
        );
        assert!(!text.contains("SECRET"), "{text}");
    }
    let (err, listed, text) = call(
        &service,
        "list_objects",
        json!({"connection": "scoped", "bucket": "cx-data"}),
    )
    .await;
    assert!(!err, "{text}");
    assert_eq!(
        listed["prefix"], "reports/",
        "a listing is narrowed to the allowed prefix"
    );
    assert!(
        listed["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["key"].as_str().unwrap().starts_with("reports/"))
    );
    let (_, inside, _) = call(
        &service,
        "read_object",
        json!({"connection": "scoped", "bucket": "cx-data", "key": "reports/q1.csv"}),
    )
    .await;
    assert_eq!(inside["data"], "quarter,total\nq1,100\n");
    // The three refusals opened no connection (the list and read above did).
    assert!(
        proxy.connection_count() - sent <= 2,
        "refused reads reached the store"
    );

    // Keys are data: a traversal is refused with a clear error, a literal
    // "%2e%2e" is that object and no other, control characters, empty and
    // over-long keys are refused, a 1,024-byte key is read.
    for key in ["../secret", "a/../b", "a/./b", "ctl\u{1}x", ""] {
        let before = proxy.connection_count();
        let (err, _, text) = call(
            &service,
            "read_object",
            json!({"connection": "open", "bucket": "cx-data", "key": key}),
        )
        .await;
        assert!(err && text.contains("key"), "{key:?}: {text}");
        assert!(
            !text.contains("SECRET") && !text.contains("B-OBJECT"),
            "{text}"
        );
        assert_eq!(
            proxy.connection_count(),
            before,
            "{key:?} reached the store"
        );
    }
    let (err, dots, text) = call(
        &service,
        "read_object",
        json!({"connection": "open", "bucket": "cx-data", "key": "a/%2e%2e/b"}),
    )
    .await;
    assert!(!err, "{text}");
    assert_eq!(dots["data"], "LITERAL-DOTS-OBJECT");
    let long = "k".repeat(1024);
    let (err, read, text) = call(
        &service,
        "read_object",
        json!({"connection": "open", "bucket": "cx-data", "key": long}),
    )
    .await;
    assert!(!err, "{text}");
    assert_eq!(read["data"], "LONG-KEY-OBJECT");
    let (err, _, text) = call(
        &service,
        "read_object",
        json!({"connection": "open", "bucket": "cx-data", "key": "k".repeat(1025)}),
    )
    .await;
    assert!(err && text.contains("1024"), "{text}");

    // Huge objects are capped at the source: one ranged GET each.
    proxy.reset();
    let (err, huge, text) = call(
        &service,
        "read_object",
        json!({"connection": "open", "bucket": "cx-data", "key": "huge.bin", "encoding": "base64"}),
    )
    .await;
    assert!(!err, "{text}");
    assert_eq!(huge["length"], 1024 * 1024);
    assert_eq!(huge["object_size"], store.huge_bytes);
    assert_eq!(huge["truncated"], true);
    let fetched = proxy.bytes();
    println!(
        "read_object of a {} byte object: {fetched} bytes from the store",
        store.huge_bytes
    );
    assert!(
        fetched <= 1024 * 1024 + 16 * 1024,
        "{fetched} bytes fetched"
    );
    proxy.reset();
    let (err, p, text) = call(
        &service,
        "preview_object",
        json!({"connection": "open", "bucket": "cx-data", "key": "big.parquet", "rows": 10}),
    )
    .await;
    assert!(!err, "{text}");
    let fetched = proxy.bytes();
    let size = p["object_size"].as_u64().unwrap();
    println!(
        "preview_object of a {size} byte Parquet file (200 row groups), 10 rows: {fetched} bytes from the store"
    );
    assert!(
        fetched < 1024 * 1024 && fetched * 20 < size,
        "{fetched} of {size} bytes fetched"
    );
    for key in ["huge.bin", "big.csv"] {
        proxy.reset();
        let (err, _, text) = call(
            &service,
            "preview_object",
            json!({"connection": "open", "bucket": "cx-data", "key": key, "format": "csv"}),
        )
        .await;
        let fetched = proxy.bytes();
        println!("preview_object of {key}: {fetched} bytes from the store ({text:.80})");
        assert!(
            fetched <= conexor_connectors::s3::PREVIEW_FETCH_BYTES + 16 * 1024,
            "{key}: {fetched} bytes fetched"
        );
        if key == "big.csv" {
            assert!(!err, "{text}");
        }
    }
    let _ = service.cancel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_and_metadata_endpoints_are_refused() {
    // An endpoint that answers every request with a redirect to another port.
    let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_addr = target.local_addr().unwrap();
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = reached.clone();
    tokio::spawn(async move {
        if target.accept().await.is_ok() {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    /// An endpoint that answers every request with `answer`.
    async fn answering(answer: String) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        addr
    }
    let redirector_addr = answering(format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{target_addr}/\r\nContent-Length: 0\r\n\r\n"
    ))
    .await;
    // AWS's answer to a request signed for the wrong region.
    let wrong_region = answering(format!(
        "HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: eu-west-3\r\nLocation: http://{target_addr}/\r\nContent-Length: 0\r\n\r\n"
    ))
    .await;
    let server = TestServer::start().await;
    let admin = server.workspace("redirects").await;
    let err = add_s3(&admin, "moved", &format!("http://{redirector_addr}"), &[])
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("redirect"), "{err:#}");
    assert_eq!(status_of(&err), Some(403));
    assert!(
        !reached.load(std::sync::atomic::Ordering::SeqCst),
        "the redirect was followed"
    );

    // A 301 naming the bucket's region is reported as the region to set, and
    // not followed either.
    let err = add_s3(&admin, "elsewhere", &format!("http://{wrong_region}"), &[])
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("--region eu-west-3"), "{err:#}");
    assert!(
        !reached.load(std::sync::atomic::Ordering::SeqCst),
        "the region redirect was followed"
    );

    for endpoint in ["http://169.254.169.254", "http://metadata.google.internal"] {
        let err = add_s3(&admin, "meta", endpoint, &[]).await.unwrap_err();
        assert_eq!(status_of(&err), Some(403), "{endpoint}: {err:#}");
    }
    // With loopback refused by the operator, a loopback endpoint is too.
    let strict = TestServer::start_with(|c| c.deny_loopback = true).await;
    let admin = strict.workspace("strict").await;
    let err = add_s3(&admin, "local", &moto().endpoint, &[])
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(403), "{err:#}");
}

/// The same tools through an agent: the agent holds the key, applies its
/// own byte cap and allow-list whatever the server asks, and its record and
/// the server's carry the same hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_through_an_agent_under_the_agent_s_own_caps_and_allow_list() {
    use crate::agent::{create_agent, spawn_agent};
    let store = moto();
    let server = TestServer::start().await;
    let admin = server.workspace("agent-objects").await;
    let dir = tempfile::tempdir().unwrap();
    let (_, token) = create_agent(&admin, "lake-agent", 600).await;
    std::fs::write(
        dir.path().join("s3.key"),
        "conexor-test-secret-key-0123456789",
    )
    .unwrap();
    let text = format!(
        "server = \"{}\"\ntoken = \"{token}\"\nstate_dir = \"state\"\n[limits]\nmax_bytes = 1024\n\
         [[connections]]\nname = \"lake\"\ntype = \"s3\"\nendpoint = \"{}\"\nallow_http = true\n\
         access_key_id = \"AKIDCONEXORTEST\"\nsecret_access_key_file = \"s3.key\"\nallow = [\"cx-data\"]\n",
        server.url, store.endpoint
    );
    let settings = conexor_agent::Settings::parse(&text, dir.path()).expect("agent.toml with s3");
    let agent = spawn_agent(settings);
    crate::agent::wait_offered(&admin, "lake").await;
    let (service, _) = mcp(&server, &admin).await;
    assert!(
        tool_names(&service)
            .await
            .iter()
            .any(|t| t == "read_object")
    );

    let (err, read, text) = call(
        &service,
        "read_object",
        json!({"connection": "lake", "bucket": "cx-data", "key": "sales.csv"}),
    )
    .await;
    assert!(!err, "{text}");
    // The server allows 1 MiB; the agent's own cap is 1,024 bytes.
    assert_eq!(read["length"], 1024, "{read}");
    assert_eq!(read["truncated"], true);
    assert!(
        read["data"]
            .as_str()
            .unwrap()
            .starts_with("id,name,amount\n1,customer 1")
    );
    let (err, preview, text) = call(
        &service,
        "preview_object",
        json!({"connection": "lake", "bucket": "cx-data", "key": "events.jsonl.gz", "rows": 2}),
    )
    .await;
    assert!(!err, "{text}");
    assert_eq!(preview["rows"].as_array().unwrap().len(), 2);
    let (err, _, text) = call(
        &service,
        "read_object",
        json!({"connection": "lake", "bucket": "cx-other", "key": "secret.txt"}),
    )
    .await;
    assert!(
        err && text.contains("destination refused"),
        "the agent's allow-list: {text}"
    );
    assert!(!text.contains("OTHER-BUCKET-SECRET"));

    // One hash for one read, in both records: the agent's caps are in it.
    let audit = admin.get_text("audit/export?format=jsonl").await.unwrap();
    let server_hash = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|l| l.get("record").cloned())
        .find(|r| r["tool"] == "read_object" && r["params"]["key"] == "sales.csv")
        .and_then(|r| r["query_hash"].as_str().map(str::to_owned))
        .expect("the server recorded the read");
    assert_eq!(
        server_hash,
        sha256_hex("s3.read_object\ncx-data\nsales.csv\nbytes=0-1023")
    );
    let log = std::fs::read_to_string(dir.path().join("state/audit.jsonl")).unwrap();
    let agent_hash = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|l| l.get("record").cloned())
        .find(|r| r["tool"] == "agent.read")
        .and_then(|r| r["query_hash"].as_str().map(str::to_owned))
        .expect("the agent recorded the read");
    assert_eq!(server_hash, agent_hash);
    assert!(
        !log.contains("customer 1,1.5"),
        "the agent's log holds object data"
    );
    agent.stop.cancel();
    let _ = service.cancel().await;
}

/// The key the rewrite test's own writer puts, over and over (the only
/// writes the store sees after its fixtures).
const REWRITTEN: &str = "rewritten-by-the-test/race.parquet";

/// A Parquet object rewritten while it is previewed (another process puts
/// two versions of different layouts in turn, as fast as it can): each
/// preview reads one version (every range after the tail carries If-Match
/// with the tail's ETag) or says the object changed, and nothing else —
/// never rows of two versions, never bytes of one decoded with the other's
/// footer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parquet_file_rewritten_during_a_preview_is_one_version_or_a_clear_error() {
    use std::io::BufRead;
    let store = moto();
    let server = TestServer::start().await;
    let admin = server.workspace("rewrites").await;
    add_s3(&admin, "lake", &store.endpoint, &[]).await.unwrap();
    let (service, _) = mcp(&server, &admin).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/s3_rewriter.py");
    let mut writer = std::process::Command::new(conexor_tests::s3::python())
        .args([script, &store.endpoint, "cx-data", REWRITTEN, "14"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start s3_rewriter.py");
    let mut lines = std::io::BufReader::new(writer.stdout.take().expect("its stdout")).lines();
    assert_eq!(
        lines.next().and_then(Result::ok).as_deref(),
        Some("ready"),
        "s3_rewriter.py did not start"
    );
    let (mut whole, mut changed) = (0, 0);
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(10) {
        let (err, p, text) = call(
            &service,
            "preview_object",
            json!({"connection": "lake", "bucket": "cx-data", "key": REWRITTEN, "rows": 50}),
        )
        .await;
        if err {
            assert!(
                text.contains("changed while it was being read"),
                "a preview of a file being rewritten failed otherwise: {text}"
            );
            changed += 1;
            continue;
        }
        let rows = p["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 50, "{p}");
        let tag = &rows[0][1];
        assert!(
            rows.iter().all(|r| &r[1] == tag),
            "rows of two versions in one preview: {p}"
        );
        whole += 1;
    }
    let _ = writer.kill();
    let _ = writer.wait();
    assert!(
        whole > 0,
        "no preview read a whole version ({changed} changed)"
    );
    eprintln!("previews during rewrites: {whole} whole, {changed} refused as changed");
}

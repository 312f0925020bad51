//! Crash safety of "recorded before answered": a real `conexor server`
//! process under load from many clients is killed with SIGKILL and started
//! again; its chain still verifies, and every call that received an ok
//! answer has its record.

use conexor_tests::add_connection;
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("CONEXOR_BIN") {
        return PathBuf::from(path);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug/conexor");
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build -p conexor) or set CONEXOR_BIN",
        path.display()
    );
    path
}

fn start(data: &std::path::Path, allowed: &std::path::Path, port: u16, token: &str) -> Child {
    Command::new(binary())
        .args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--audit-checkpoint-seconds",
            "2",
            "--log-level",
            "warn",
        ])
        .arg("--data-dir")
        .arg(data)
        .arg("--allow-sqlite-dir")
        .arg(allowed)
        .env("CONEXOR_ADMIN_TOKEN", token)
        .env_remove("CONEXOR_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start conexor server")
}

async fn wait_ready(url: &str) {
    for _ in 0..100 {
        if reqwest::get(format!("{url}/readyz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server at {url} did not become ready");
}

#[tokio::test]
async fn sigkill_under_load_loses_no_answered_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lite = dir.path().join("c.db");
    crate::sources::make_sqlite_shop(&lite).await;
    let token = format!("cxadm_{}", conexor_crypto::random_base62(40));
    let port = conexor_tests::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = start(&data, dir.path(), port, &token);
    wait_ready(&url).await;
    let (_, key) = conexor_client::Client::new(&url, None, false)
        .unwrap()
        .create_workspace(&token, "crash", "k")
        .await
        .unwrap();
    let key_text = key.to_text().to_string();
    let client = conexor_client::Client::new(&url, Some(key), false).unwrap();
    add_connection(&client, "s", &format!("sqlite://{}", lite.display()), false)
        .await
        .unwrap();

    let answered: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for t in 0..8 {
        let answered = answered.clone();
        let c = conexor_client::Client::new(
            &url,
            Some(conexor_crypto::ApiKey::parse(&key_text).unwrap()),
            false,
        )
        .unwrap();
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let marker = format!("marker-{t}-{i}");
                match c
                    .query("s", &format!("SELECT '{marker}' AS m"), vec![], None)
                    .await
                {
                    Ok(v) if v["rows"][0][0] == json!(marker) => {
                        answered.lock().unwrap().push(marker)
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().expect("SIGKILL");
    let _ = server.wait();
    for t in tasks {
        let _ = t.await;
    }
    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() > 20,
        "too little load before the kill: {}",
        answered.len()
    );

    let mut server = start(&data, dir.path(), port, &token);
    wait_ready(&url).await;
    let jsonl = client.get_text("audit/export?format=jsonl").await.unwrap();
    let pubkey = client.get("audit/pubkey").await.unwrap();
    let pubkey = conexor_audit::PublicKey::parse(pubkey["pubkey"].as_str().unwrap()).unwrap();
    let report = conexor_audit::verify(std::io::Cursor::new(jsonl.as_bytes()), Some(&pubkey));
    let _ = server.kill();
    let _ = server.wait();
    let report = report.unwrap_or_else(|p| panic!("chain does not verify after SIGKILL: {p:?}"));
    let missing: Vec<&String> = answered
        .iter()
        .filter(|m| !jsonl.contains(m.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} answered calls have no record: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(
        jsonl.contains("\"tool\":\"admin.start\""),
        "the restart is visible in the chain"
    );
    eprintln!(
        "crash: {} answered calls, {} records, all present after SIGKILL",
        answered.len(),
        report.records
    );
}

//! The real binary at its most verbose log level writes no SQL text, row
//! value, parameter value or secret to its log — including events from the
//! libraries it uses (sqlx, rmcp, hyper, …).

use crate::isolation::{call, mcp_post, mcp_session};
use serde_json::json;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `target/debug/conexor`, next to this test binary's `deps` directory
/// (`scripts/test` builds every target first), or `CONEXOR_TEST_BIN`.
fn conexor_binary() -> std::path::PathBuf {
    if let Some(bin) = std::env::var_os("CONEXOR_TEST_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory");
    let bin = dir.join(format!("conexor{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build -p conexor)",
        bin.display()
    );
    bin
}

struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const SQL_MARKER: &str = "MK_SQL_5d2e";
const SQL_MARKER_2: &str = "mk_row_9f3a";
const ROW_MARKER: &str = "MK_ROW_9F3A";
const PARAM_MARKER: &str = "MK_PARAM_77c1";
const SECRET_MARKER: &str = "MK_SECRET_4b1d";

#[tokio::test]
async fn the_most_verbose_log_holds_no_sql_rows_parameters_or_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("demo.err");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Child(
        Command::new(conexor_binary())
            .args(["demo", "--listen", "127.0.0.1:0", "--log-level", "trace"])
            .arg("--data-dir")
            .arg(dir.path().join("demo"))
            .env_remove("CONEXOR_API_KEY")
            .env_remove("CONEXOR_CONFIG")
            .env("RUST_LOG", "trace")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start conexor demo"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut url, mut key) = (None, None);
    while url.is_none() || key.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "conexor demo printed no URL and key:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                )
            });
        if let Some(u) = line.trim().strip_prefix("MCP URL:") {
            url = Some(u.trim().trim_end_matches("/mcp").to_owned());
        } else if let Some(k) = line.trim().strip_prefix("API key:") {
            key = Some(k.trim().to_owned());
        }
    }
    let (url, key) = (url.unwrap(), key.unwrap());

    // A query whose SQL text, row and parameter each carry a marker.
    let session = mcp_session(&url, &key).await;
    let sql = format!(
        "SELECT upper('{SQL_MARKER_2}') AS x, length('{SQL_MARKER}') AS y WHERE length(?) > 0"
    );
    let (status, _, body) = mcp_post(
        &url,
        &key,
        Some(&session),
        call(
            2,
            "run_query",
            json!({"connection": "shop", "sql": sql, "params": [PARAM_MARKER]}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(ROW_MARKER),
        "the marker query did not run: {body}"
    );
    // A refused query and a failing one carry the markers too.
    for (id, sql) in [
        (
            3,
            format!("DELETE FROM customers WHERE name = '{SQL_MARKER}'"),
        ),
        (
            4,
            format!("SELECT no_such_column_{SQL_MARKER} FROM customers WHERE ? = 1"),
        ),
    ] {
        let (status, _, body) = mcp_post(
            &url,
            &key,
            Some(&session),
            call(
                id,
                "run_query",
                json!({"connection": "shop", "sql": sql, "params": [PARAM_MARKER]}),
            ),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }

    // A connection whose password is a marker, which the server opens and
    // tries to reach.
    let client = conexor_client::Client::new(
        &url,
        Some(conexor_crypto::ApiKey::parse(&key).expect("demo key")),
        false,
    )
    .unwrap();
    let _ = conexor_tests::add_connection(
        &client,
        "secretive",
        &format!("postgres://reader:{SECRET_MARKER}@127.0.0.1:1/shop?connect_timeout=2"),
        false,
    )
    .await;
    let _ = mcp_post(
        &url,
        &key,
        Some(&session),
        call(
            5,
            "run_query",
            json!({"connection": "secretive", "sql": format!("SELECT '{SQL_MARKER}'"), "params": []}),
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(child);

    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        text.contains("Tool call finished"),
        "the server logged nothing useful; is logging on?\n{text}"
    );
    let key_secret = &key[key.len() - 43..];
    let mut found = Vec::new();
    for (what, marker) in [
        ("SQL text", SQL_MARKER),
        ("SQL text", SQL_MARKER_2),
        ("a row value", ROW_MARKER),
        ("a parameter value", PARAM_MARKER),
        ("a connection password", SECRET_MARKER),
        ("the API key", key_secret),
    ] {
        if let Some(at) = text.find(marker) {
            let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
            let line: String = text[start..end].chars().take(600).collect();
            found.push(format!("{what} ({marker}), e.g.:\n{line}"));
        }
    }
    assert!(
        found.is_empty(),
        "at --log-level trace the log holds:\n{}",
        found.join("\n\n")
    );
}

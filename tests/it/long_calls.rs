//! Long calls and the protocol's plumbing, against the private PostgreSQL and
//! MariaDB: a caller that gives up (MCP `notifications/cancelled`, or an HTTP
//! client that hangs up) stops the statement at the source — checked in the
//! source's own process list, not by what the server says — and the call is
//! recorded as cancelled; a client that asked for progress hears it while a
//! call runs; a session whose answer stream was cut gets the answer when it
//! reconnects with `Last-Event-ID`.

use conexor_tests::{TestServer, add_connection, env_url};
use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::Connection;
use std::time::Duration;

/// A statement that runs for minutes unless stopped, marked `mark` (a name no
/// other test uses) so that the source's process list finds it.
fn endless(connection: &str, mark: &str) -> String {
    if connection == "pg" {
        format!("SELECT count(*) AS {mark} FROM generate_series(1, 2000000000) AS g")
    } else {
        format!("SELECT count(*) AS {mark} FROM seq_1_to_1000000 AS a, seq_1_to_1000000 AS b")
    }
}

/// Statements running at the source with `mark` in their text.
async fn running_at_source(connection: &str, mark: &str) -> i64 {
    if connection == "pg" {
        let mut admin = sqlx::PgConnection::connect(&env_url("CONEXOR_TEST_PG_ADMIN_URL"))
            .await
            .unwrap();
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' \
             AND pid <> pg_backend_pid() AND state = 'active'",
        )
        .bind(mark)
        .fetch_one(&mut admin)
        .await
        .unwrap()
    } else {
        let mut admin = sqlx::MySqlConnection::connect(&env_url("CONEXOR_TEST_MYSQL_ADMIN_URL"))
            .await
            .unwrap();
        sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.PROCESSLIST \
             WHERE INFO LIKE CONCAT('%', ?, '%') AND ID <> CONNECTION_ID()",
        )
        .bind(mark)
        .fetch_one(&mut admin)
        .await
        .unwrap()
    }
}

/// Polls `connection`'s process list until `want` statements run, for up to `limit`.
async fn wait_for_running(connection: &str, mark: &str, want: i64, limit: Duration) -> i64 {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let now = running_at_source(connection, mark).await;
        if now == want || tokio::time::Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The workspace's last audit record (from its export), once it is a record
/// of `tool` with a seq past `after`.
async fn last_record(client: &conexor_client::Client, tool: &str, after: u64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let export = client
            .get_text("audit/export?format=jsonl")
            .await
            .expect("export");
        let last = export
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|l| l.get("record").cloned())
            .next_back();
        if let Some(record) = last
            && record["tool"] == tool
            && record["seq"].as_u64().unwrap_or(0) > after
        {
            return record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new {tool} record: {export}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn last_seq(client: &conexor_client::Client) -> u64 {
    let export = client
        .get_text("audit/export?format=jsonl")
        .await
        .expect("export");
    export
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|l| l["record"]["seq"].as_u64())
        .max()
        .unwrap_or(0)
}

async fn shop(name: &str) -> (TestServer, conexor_client::Client, String) {
    let server = TestServer::start().await;
    let client = server.workspace(name).await;
    for (connection, url) in [
        ("pg", "CONEXOR_TEST_PG_READER_URL"),
        ("my", "CONEXOR_TEST_MYSQL_READER_URL"),
    ] {
        add_connection(&client, connection, &env_url(url), false)
            .await
            .unwrap();
    }
    let key = client.key().unwrap().to_text().to_string();
    (server, client, key)
}

/// A stateless (2026-07-28) `run_query` POST.
fn stateless_query(url: &str, key: &str, connection: &str, sql: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{url}/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "run_query")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "run_query",
            "arguments": {"connection": connection, "sql": sql},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "long-calls", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {}
            }}}),
        )
}

/// An HTTP client that hangs up on a running call: the statement stops at the
/// source within seconds (PostgreSQL: the closed session, which the server
/// checks every second; MariaDB: KILL QUERY), and the call is recorded as
/// cancelled, not lost.
#[tokio::test]
async fn a_client_that_hangs_up_stops_its_statement_at_the_source() {
    let (server, client, key) = shop("hangup").await;
    let mark = "cx_probe_hangup";
    for connection in ["pg", "my"] {
        let before = last_seq(&client).await;
        let call = tokio::spawn(
            stateless_query(&server.url, &key, connection, &endless(connection, mark)).send(),
        );
        assert_eq!(
            wait_for_running(connection, mark, 1, Duration::from_secs(15)).await,
            1,
            "{connection}: the statement never started"
        );
        // Hang up: the request future is dropped with its connection.
        call.abort();
        assert_eq!(
            wait_for_running(connection, mark, 0, Duration::from_secs(5)).await,
            0,
            "{connection}: the statement still runs at the source after the client left"
        );
        let record = last_record(&client, "run_query", before).await;
        assert_eq!(record["outcome"], "error", "{connection}: {record}");
        assert_eq!(record["mode"], "direct", "{connection}: {record}");
        assert_eq!(
            record["error"], "cancelled: the client cancelled the call",
            "{connection}: {record}"
        );
        assert_eq!(record["connection"], connection);
        // The connection serves the next call.
        let next = client
            .query(connection, "SELECT 1 AS one", vec![], None)
            .await
            .unwrap();
        assert_eq!(next["row_count"], 1, "{connection}: {next}");
    }
}

/// A session (2025-11-25) POST: the response, with the session's id added.
async fn session_post(
    url: &str,
    key: &str,
    session: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{url}/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&body);
    if let Some(id) = session {
        request = request.header("mcp-session-id", id);
    }
    request.send().await.expect("POST /mcp")
}

/// Opens an initialized session; its id.
async fn open_session(url: &str, key: &str) -> String {
    let init = session_post(
        url,
        key,
        None,
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "long-calls", "version": "1"}}}),
    )
    .await;
    assert_eq!(init.status(), 200);
    let session = init
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session id")
        .to_owned();
    let _ = init.bytes().await;
    let done = session_post(
        url,
        key,
        Some(&session),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(done.status(), 202);
    session
}

/// Server-sent events of a response, as (id, data) pairs, as they arrive.
struct Events {
    body: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
}

impl Events {
    fn of(response: reqwest::Response) -> Events {
        Events {
            body: response
                .bytes_stream()
                .map(|chunk| chunk.map(|b| b.to_vec()))
                .boxed(),
            buffer: String::new(),
        }
    }

    /// The next event, or None when the stream ends or `limit` passes.
    async fn next(&mut self, limit: Duration) -> Option<(Option<String>, String)> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = String::new();
                for line in event.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                return Some((id, data));
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next()).await;
            match chunk {
                Ok(Some(Ok(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }
}

/// In a session: a client that asked for progress hears it every second
/// while the call runs, and its `notifications/cancelled` stops the
/// statement at the source; the call is recorded as cancelled.
#[tokio::test]
async fn progress_while_a_call_runs_and_cancellation_by_notification() {
    let (server, client, key) = shop("cancel").await;
    let session = open_session(&server.url, &key).await;
    let mark = "cx_probe_cancel";
    for (n, connection) in ["pg", "my"].into_iter().enumerate() {
        let before = last_seq(&client).await;
        let id = 10 + n as u64;
        let call = session_post(
            &server.url,
            &key,
            Some(&session),
            json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
                "name": "run_query",
                "arguments": {"connection": connection, "sql": endless(connection, mark)},
                "_meta": {"progressToken": format!("p{id}")}}}),
        )
        .await;
        assert_eq!(call.status(), 200);
        let mut events = Events::of(call);
        let mut progress = Vec::new();
        while progress.len() < 2 {
            let Some((_, data)) = events.next(Duration::from_secs(10)).await else {
                panic!("{connection}: the stream ended before two progress notifications");
            };
            let Ok(message) = serde_json::from_str::<Value>(&data) else {
                continue; // the priming event
            };
            assert_eq!(
                message["method"], "notifications/progress",
                "{connection}: {message}"
            );
            assert_eq!(message["params"]["progressToken"], format!("p{id}"));
            progress.push(message["params"]["progress"].as_f64().unwrap());
        }
        assert!(
            progress[0] >= 1.0 && progress[1] > progress[0],
            "{progress:?}"
        );
        assert_eq!(running_at_source(connection, mark).await, 1, "{connection}");

        let cancelled = session_post(
            &server.url,
            &key,
            Some(&session),
            json!({
            "jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": id, "reason": "the user stopped it"}}),
        )
        .await;
        assert_eq!(cancelled.status(), 202);
        assert_eq!(
            wait_for_running(connection, mark, 0, Duration::from_secs(5)).await,
            0,
            "{connection}: the statement still runs after notifications/cancelled"
        );
        let record = last_record(&client, "run_query", before).await;
        assert_eq!(
            (record["outcome"].as_str(), record["error"].as_str()),
            (
                Some("error"),
                Some("cancelled: the client cancelled the call")
            ),
            "{connection}: {record}"
        );
    }
}

/// In a session, an answer whose stream was cut before it came is not lost:
/// the client reconnects with `Last-Event-ID` (a GET on the session) and
/// receives it; the call ran to its end and was recorded once, as answered.
#[tokio::test]
async fn a_cut_answer_stream_resumes_with_last_event_id() {
    let (server, client, key) = shop("resume").await;
    let session = open_session(&server.url, &key).await;
    let before = last_seq(&client).await;
    // About a second of work at the source.
    let sql = "SELECT count(*) AS n FROM generate_series(1, 20000000) AS g";
    let call = session_post(
        &server.url,
        &key,
        Some(&session),
        json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
            "name": "run_query", "arguments": {"connection": "pg", "sql": sql}}}),
    )
    .await;
    assert_eq!(call.status(), 200);
    let mut events = Events::of(call);
    let (primed, _) = events
        .next(Duration::from_secs(5))
        .await
        .expect("a priming event");
    let last_event_id = primed.expect("the priming event has an id");
    // The stream is cut before the answer.
    drop(events);
    let resumed = reqwest::Client::new()
        .get(format!("{}/mcp", server.url))
        .bearer_auth(&key)
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", &session)
        .header("last-event-id", &last_event_id)
        .send()
        .await
        .expect("GET /mcp");
    assert_eq!(resumed.status(), 200);
    let mut events = Events::of(resumed);
    let answer = loop {
        let Some((_, data)) = events.next(Duration::from_secs(30)).await else {
            panic!("the resumed stream ended without the answer");
        };
        if let Ok(message) = serde_json::from_str::<Value>(&data)
            && message["id"] == 7
        {
            break message;
        }
    };
    assert_eq!(
        answer["result"]["structuredContent"]["rows"][0][0], 20_000_000,
        "{answer}"
    );
    let record = last_record(&client, "run_query", before).await;
    assert_eq!(record["outcome"], "ok", "{record}");
    assert_eq!(
        record["seq"].as_u64(),
        Some(before + 1),
        "recorded once: {record}"
    );
}

/// Agent mode: the server's caller hangs up, the server sends the agent a
/// cancel, and the agent stops the statement at its source; both the server's
/// record and the agent's own record say cancelled.
#[tokio::test]
async fn an_agent_stops_the_statement_when_the_caller_hangs_up() {
    use crate::agent::{create_agent, settings, spawn_agent, wait_online};
    let (server, client, key) = shop("agent-hangup").await;
    let dir = tempfile::tempdir().unwrap();
    let (_, token) = create_agent(&client, "onprem", 600).await;
    let agent = spawn_agent(settings(
        dir.path(),
        &server.url,
        Some(&token),
        "wh",
        &env_url("CONEXOR_TEST_PG_READER_URL"),
    ));
    wait_online(&client, "wh").await;
    let mark = "cx_probe_agent";
    let before = last_seq(&client).await;
    let call = tokio::spawn(stateless_query(&server.url, &key, "wh", &endless("pg", mark)).send());
    assert_eq!(
        wait_for_running("pg", mark, 1, Duration::from_secs(15)).await,
        1,
        "the statement never started behind the agent"
    );
    call.abort();
    assert_eq!(
        wait_for_running("pg", mark, 0, Duration::from_secs(5)).await,
        0,
        "the statement still runs behind the agent after the caller left"
    );
    let record = last_record(&client, "run_query", before).await;
    assert_eq!(
        (record["outcome"].as_str(), record["error"].as_str()),
        (
            Some("error"),
            Some("cancelled: the client cancelled the call")
        ),
        "{record}"
    );
    assert_eq!(record["mode"], "agent", "{record}");
    // The agent's own log (its records are one JSON object per line).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(dir.path().join("state/audit.jsonl")).unwrap_or_default();
        if log.lines().any(|l| {
            l.contains("\"agent.query\"")
                && l.contains("\"cancelled: the client cancelled the call\"")
        }) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no cancelled agent.query record: {log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agent.stop.cancel();
}

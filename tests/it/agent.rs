//! Agent mode (DESIGN §7), attacked from both sides: a real agent behind
//! which sits the private PostgreSQL, a real server, and raw protocol peers
//! that misbehave — a hostile fake server that sends writes and garbage to
//! the agent, and fake agents that replay, duplicate, cross workspaces,
//! reuse tokens and fall silent.

use conexor_agent::Settings;
use conexor_protocol::{AgentKey, AgentMessage, ServerMessage, decode_server, encode};
use conexor_tests::{TestServer, env_url, status_of};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

// ---- helpers ---------------------------------------------------------------

/// Creates an agent over REST; returns (agent_id, token).
pub(crate) async fn create_agent(
    client: &conexor_client::Client,
    name: &str,
    ttl_s: u64,
) -> (String, String) {
    let v = client
        .post("agents", json!({"name": name, "expires_in_s": ttl_s}))
        .await
        .expect("create agent");
    (
        v["agent_id"].as_str().unwrap().to_owned(),
        v["token"].as_str().unwrap().to_owned(),
    )
}

/// Agent settings with one PostgreSQL connection whose URL is in a local file.
pub(crate) fn settings(
    dir: &Path,
    server: &str,
    token: Option<&str>,
    conn: &str,
    url: &str,
) -> Settings {
    settings_with(dir, server, token, conn, url, "")
}

/// [`settings`] with more keys for the connection (e.g. `allow_privileged = true`).
pub(crate) fn settings_with(
    dir: &Path,
    server: &str,
    token: Option<&str>,
    conn: &str,
    url: &str,
    connection_extra: &str,
) -> Settings {
    std::fs::write(dir.join(format!("{conn}.url")), url).unwrap();
    let token = token
        .map(|t| format!("token = \"{t}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "server = \"{server}\"\n{token}state_dir = \"state\"\n[limits]\nmax_in_flight = 32\n[[connections]]\nname = \"{conn}\"\nurl_file = \"{conn}.url\"\n{connection_extra}\n"
    );
    let mut s = Settings::parse(&text, dir).expect("agent settings");
    s.backoff_base = Duration::from_millis(100);
    s.backoff_max = Duration::from_millis(800);
    s
}

pub(crate) struct RunningAgent {
    pub(crate) stop: CancellationToken,
    pub(crate) task: tokio::task::JoinHandle<Result<(), conexor_agent::AgentError>>,
}

pub(crate) fn spawn_agent(s: Settings) -> RunningAgent {
    let stop = CancellationToken::new();
    let task = tokio::spawn(conexor_agent::run(s, stop.clone()));
    RunningAgent { stop, task }
}

/// Waits until `name` is listed online with discovered tables.
/// Waits until the agent's connection `name` is online with its tables discovered.
pub(crate) async fn wait_online(client: &conexor_client::Client, name: &str) -> Value {
    wait_until(client, name, |c| c["tables"].as_u64().unwrap_or(0) > 0).await
}

/// Waits until the agent's connection `name` is online (any kind).
pub(crate) async fn wait_offered(client: &conexor_client::Client, name: &str) -> Value {
    wait_until(client, name, |_| true).await
}

async fn wait_until(
    client: &conexor_client::Client,
    name: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let v = client.get("connections").await.expect("list");
        if let Some(c) = v["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            && c["online"] == json!(true)
            && ready(c)
        {
            return c.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{name} never came online: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ws_url(server: &TestServer) -> String {
    format!(
        "{}{}",
        server.url.replacen("http", "ws", 1),
        conexor_protocol::PATH
    )
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A hand-driven agent: speaks the protocol message by message.
struct Raw {
    ws: Ws,
    nonce: String,
}

impl Raw {
    async fn connect(server: &TestServer) -> Raw {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(server))
            .await
            .expect("ws connect");
        let nonce = match Raw::recv_on(&mut ws).await {
            ServerMessage::Challenge { nonce, .. } => nonce,
            other => panic!("expected a challenge, got {other:?}"),
        };
        Raw { ws, nonce }
    }
    async fn recv_on(ws: &mut Ws) -> ServerMessage {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("server answered in time")
                .expect("socket open")
                .expect("frame");
            if let Message::Text(t) = m {
                return decode_server(t.as_str()).expect("server message parses");
            }
        }
    }
    async fn recv(&mut self) -> ServerMessage {
        Raw::recv_on(&mut self.ws).await
    }
    async fn send(&mut self, m: &AgentMessage) {
        self.ws.send(Message::text(encode(m))).await.expect("send");
    }
    async fn enrol(&mut self, key: &AgentKey, token: &str) -> ServerMessage {
        let m = AgentMessage::Enrol {
            token: token.into(),
            public_key: key.public_text(),
            signature: key.answer(&self.nonce, conexor_protocol::ENROL_SUBJECT),
            version: "raw".into(),
            connections: vec![],
        };
        self.send(&m).await;
        self.recv().await
    }
    fn hello(&self, key: &AgentKey, agent_id: &str, ws: &str, conns: &[&str]) -> AgentMessage {
        AgentMessage::Hello {
            agent_id: agent_id.into(),
            workspace_id: ws.into(),
            signature: key.answer(&self.nonce, &conexor_protocol::hello_subject(agent_id, ws)),
            version: "raw".into(),
            connections: conns
                .iter()
                .map(|n| conexor_protocol::ConnectionOffer {
                    name: (*n).into(),
                    kind: "postgresql".into(),
                })
                .collect(),
        }
    }
}

/// Opens a session with `hello`, retrying while the server still holds the
/// previous session of this identity (it notices a closed socket shortly).
async fn hello_session(
    server: &TestServer,
    key: &AgentKey,
    agent_id: &str,
    ws: &str,
    conns: &[&str],
) -> (Raw, AgentMessage) {
    let started = Instant::now();
    loop {
        let mut raw = Raw::connect(server).await;
        let hello = raw.hello(key, agent_id, ws, conns);
        raw.send(&hello).await;
        match raw.recv().await {
            ServerMessage::Welcome { .. } => return (raw, hello),
            ServerMessage::Refused { code, .. }
                if code == "agent.duplicate" && started.elapsed() < Duration::from_secs(5) =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("expected a welcome, got {other:?}"),
        }
    }
}

fn refused_code(m: &ServerMessage) -> &str {
    match m {
        ServerMessage::Refused { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn workspace_id(client: &conexor_client::Client) -> String {
    client.get("keys/self").await.expect("keys/self")["workspace_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn audit_records(client: &conexor_client::Client) -> Vec<Value> {
    let text = client
        .get_text("audit/export?format=jsonl")
        .await
        .expect("export");
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("record").cloned())
        .collect()
}

/// Every byte under `dir`, for secret scans.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(all_bytes(&p));
        } else if let Ok(b) = std::fs::read(&p) {
            out.extend(b);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn password_of(url: &str) -> String {
    url::Url::parse(url).unwrap().password().unwrap().to_owned()
}

// ---- end to end ------------------------------------------------------------

#[tokio::test]
async fn agent_connection_is_listed_described_and_queried_and_the_server_holds_no_secret() {
    let server = TestServer::start().await;
    let admin = server.workspace("agent-e2e").await;
    let dir = tempfile::tempdir().unwrap();
    let pg = env_url("CONEXOR_TEST_PG_READER_URL");
    let (agent_id, token) = create_agent(&admin, "dc1", 600).await;
    let agent = spawn_agent(settings(
        dir.path(),
        &server.url,
        Some(&token),
        "warehouse",
        &pg,
    ));
    let listed = wait_online(&admin, "warehouse").await;
    assert_eq!(listed["mode"], "agent");
    assert_eq!(listed["agent"], "dc1");

    // Described from the schema the agent sent (metadata only).
    let shown = admin.get("connections/warehouse").await.unwrap();
    let tables: Vec<&str> = shown["schema"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(tables.contains(&"customers"), "{tables:?}");

    // Queried through the same gateway call as MCP's run_query, with bound parameters.
    let r = admin
        .query(
            "warehouse",
            "SELECT count(*) AS n FROM customers WHERE id <= $1",
            vec![json!(50)],
            None,
        )
        .await
        .unwrap();
    assert_eq!(r["rows"], json!([[50]]));
    // Many requests in flight over the one socket, each answered with its own result.
    let calls = (1..=24).map(|i| {
        let admin = &admin;
        async move {
            let r = admin
                .query(
                    "warehouse",
                    "SELECT id FROM customers WHERE id = $1",
                    vec![json!(i)],
                    None,
                )
                .await
                .unwrap();
            assert_eq!(r["rows"], json!([[i]]));
        }
    });
    futures::future::join_all(calls).await;
    // Caps pushed to the agent's side: 1,000,000 rows in `big`, 7 asked.
    let r = admin
        .query("warehouse", "SELECT * FROM big", vec![], Some(7))
        .await
        .unwrap();
    assert_eq!(r["rows"].as_array().unwrap().len(), 7);
    assert_eq!(r["truncated"], true);
    // A write is refused (the server's guard first; the agent's would too).
    let err = admin
        .query("warehouse", "DELETE FROM customers", vec![], None)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(403), "{err}");
    // Refresh asks the agent to rediscover.
    let v = admin
        .post("connections/warehouse/refresh", json!({}))
        .await
        .unwrap();
    assert!(v["tables"].as_u64().unwrap() >= 5);
    // Agent connections are managed on the agent, not here.
    let err = admin.delete("connections/warehouse").await.unwrap_err();
    assert_eq!(status_of(&err), Some(409), "{err}");

    // agents list shows the live state.
    let agents = admin.get("agents").await.unwrap();
    let a = &agents["agents"][0];
    assert_eq!(a["agent_id"], agent_id.as_str());
    assert_eq!(a["state"], "connected");
    assert_eq!(a["connections"], json!(["warehouse"]));
    assert!(a["address"].as_str().unwrap().starts_with("127.0.0.1:"));

    // The audit chain names the mode; records of agent events are there.
    let records = audit_records(&admin).await;
    let q = records
        .iter()
        .find(|r| r["tool"] == "run_query" && r["outcome"] == "ok")
        .unwrap();
    assert_eq!(q["mode"], "agent");
    assert_eq!(q["connection"], "warehouse");
    for tool in [
        "admin.agent_create",
        "admin.agent_enrol",
        "admin.agent_connect",
    ] {
        assert!(
            records.iter().any(|r| r["tool"] == tool),
            "no {tool} record"
        );
    }

    // The server's data directory holds no secret of the agent connection:
    // neither the password nor the URL, in any form the breach test knows.
    let pw = password_of(&pg);
    let stored = all_bytes(&server.data_dir);
    assert!(
        !contains(&stored, &pw),
        "the agent connection's password is in the server's store"
    );
    assert!(
        !contains(&stored, "cx_reader:"),
        "the agent connection's URL is in the server's store"
    );
    // ...nor the enrolment token (only its hash).
    assert!(!contains(&stored, &token));
    let logs = conexor_tests::logs().lock().unwrap().clone();
    assert!(!contains(&logs, &pw), "the password reached a log");

    agent.stop.cancel();
    agent.task.await.unwrap().unwrap();
}

// ---- a hostile server --------------------------------------------------------

pub(crate) type FakeServerSocket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A fake server's side of the handshake: accepts the agent, challenges it, takes
/// its enrolment and welcomes it. Returns the socket and the agent's first frame.
pub(crate) async fn fake_server_accepts(
    listener: &tokio::net::TcpListener,
) -> (FakeServerSocket, String) {
    let (stream, _) = listener.accept().await.unwrap();
    let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
    ws.send(Message::text(encode(&ServerMessage::Challenge {
        protocol: 1,
        nonce: "bm9uY2U".into(),
    })))
    .await
    .unwrap();
    let first = ws
        .next()
        .await
        .unwrap()
        .unwrap()
        .into_text()
        .unwrap()
        .to_string();
    assert!(first.contains("\"type\":\"enrol\""), "{first}");
    ws.send(Message::text(encode(&ServerMessage::Welcome {
        agent_id: "agt_fake".into(),
        workspace_id: "ws_AAAAAAAAAAAAAAAA".into(),
        name: "fake".into(),
        heartbeat_ms: 60_000,
        max_in_flight: 64,
        rejected: vec![],
        features: vec![],
    })))
    .await
    .unwrap();
    (ws, first)
}

/// A query request as a hostile server would send it.
pub(crate) fn query_request(id: u64, connection: &str, sql: &str) -> String {
    encode(&ServerMessage::Request {
        id,
        connection: connection.into(),
        op: conexor_protocol::Operation::Query {
            sql: sql.into(),
            params: vec![],
            max_rows: 10,
            max_bytes: 1 << 20,
            timeout_ms: 5000,
        },
    })
}

/// A fake server: it enrols the agent, then sends what a compromised server
/// would. The agent must refuse each, answer what has an id, stay up, leave
/// the database unchanged, and record the refusals in its local audit log.
#[tokio::test]
async fn the_agent_refuses_what_a_compromised_server_sends_and_stays_up() {
    let writer = env_url("CONEXOR_TEST_PG_WRITER_URL");
    let pw = password_of(&writer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A write-capable login, accepted by the agent's owner in agent.toml, so that only
    // the agent's guard and read-only session stand in the way.
    let agent = spawn_agent(settings_with(
        dir.path(),
        &format!("http://{addr}"),
        Some("cxa_fake"),
        "db",
        &writer,
        "allow_privileged = true",
    ));

    let count = || async {
        let pool = sqlx::PgPool::connect(&writer).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    };
    let before = count().await;

    let (mut ws, first) = fake_server_accepts(&listener).await;
    let mut sent_by_agent: Vec<String> = vec![first];

    let query = |id: u64, sql: &str| query_request(id, "db", sql);
    let hostile: Vec<(u64, String)> = vec![
        (
            1,
            query(1, "INSERT INTO customers (email) VALUES ('x@evil')"),
        ),
        (2, query(2, "SELECT 1; DELETE FROM customers")),
        (
            3,
            query(
                3,
                "WITH d AS (DELETE FROM customers RETURNING *) SELECT * FROM d",
            ),
        ),
        (4, query(4, "SELECT pg_sleep(30)")),
        (5, query(5, "SELECT * FROM customers FOR UPDATE")),
        (6, query(6, "COPY customers TO '/tmp/x'")),
        (
            7,
            r#"{"type":"request","id":7,"connection":"db","op":{"kind":"get_connection_string"}}"#
                .into(),
        ),
        (
            8,
            r#"{"type":"request","id":8,"connection":"db","op":{"kind":"config"}}"#.into(),
        ),
        (9, query(9, "SELECT 1").replace("\"db\"", "\"elsewhere\"")),
    ];
    for (_, frame) in &hostile {
        ws.send(Message::text(frame.clone())).await.unwrap();
    }
    // Garbage without an id: refused, nothing to answer.
    ws.send(Message::text("not json at all")).await.unwrap();
    ws.send(Message::binary(vec![0u8, 159, 146, 150]))
        .await
        .unwrap();
    ws.send(Message::text("{\"type\":\"welcome\"}"))
        .await
        .unwrap();
    // Then a legitimate read: the agent is still serving.
    ws.send(Message::text(query(100, "SELECT count(*) FROM customers")))
        .await
        .unwrap();

    let mut errors: std::collections::HashMap<u64, Value> = Default::default();
    let mut served = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while (errors.len() < hostile.len() || !served) && Instant::now() < deadline {
        let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await
        else {
            break;
        };
        let Message::Text(text) = frame else { continue };
        sent_by_agent.push(text.to_string());
        let v: Value = serde_json::from_str(text.as_str()).unwrap();
        match v["type"].as_str() {
            Some("error") => {
                errors.insert(v["id"].as_u64().unwrap(), v);
            }
            Some("done") if v["id"] == 100 => served = true,
            _ => {}
        }
    }
    for (id, _) in &hostile {
        let e = errors
            .get(id)
            .unwrap_or_else(|| panic!("no refusal for request {id}; got {errors:?}"));
        assert_eq!(e["denied"], true, "request {id}: {e}");
    }
    assert!(
        errors[&1]["code"].as_str().unwrap().starts_with("guard."),
        "{}",
        errors[&1]
    );
    assert_eq!(errors[&7]["code"], "protocol.unknown_operation");
    assert!(served, "the agent stopped serving after the hostile frames");

    // A request cancelled at once is stopped and still recorded on the agent.
    ws.send(Message::text(query(
        200,
        "SELECT count(*) FROM big a CROSS JOIN big b",
    )))
    .await
    .unwrap();
    ws.send(Message::text(encode(&ServerMessage::Cancel { id: 200 })))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // An oversized frame: refused by the WebSocket layer; the agent drops
    // this session and dials again by itself.
    let _ = ws
        .send(Message::text(
            "x".repeat(conexor_protocol::MAX_MESSAGE_BYTES + 1024),
        ))
        .await;
    let (stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("the agent reconnected")
        .unwrap();
    let mut ws2 = tokio_tungstenite::accept_async(stream).await.unwrap();
    ws2.send(Message::text(encode(&ServerMessage::Challenge {
        protocol: 1,
        nonce: "bjI".into(),
    })))
    .await
    .unwrap();
    let again = ws2
        .next()
        .await
        .unwrap()
        .unwrap()
        .into_text()
        .unwrap()
        .to_string();
    sent_by_agent.push(again.clone());
    // Enrolled by the first welcome: it now proves its identity instead of sending the token.
    assert!(
        again.contains("\"type\":\"hello\"") && again.contains("agt_fake"),
        "{again}"
    );
    assert!(!again.contains("cxa_fake"));

    // Nothing the agent sent carries its connection string or password.
    for frame in &sent_by_agent {
        assert!(!frame.contains(&pw), "a frame carried the password");
        assert!(!frame.contains("cx_writer:"), "a frame carried the URL");
    }
    assert_eq!(count().await, before, "the database changed");

    // The agent's own log has each refusal, and verifies with its key.
    agent.stop.cancel();
    let _ = agent.task.await;
    let state = dir.path().join("state");
    let log = std::fs::read(state.join(conexor_agent::AUDIT_FILE)).unwrap();
    let key = conexor_agent::audit_signing_key(&state).unwrap().public();
    let report =
        conexor_audit::verify(&log[..], Some(&key)).expect("the agent's audit log verifies");
    let text = String::from_utf8(log).unwrap();
    let denied = text
        .lines()
        .filter(|l| l.contains("\"outcome\":\"denied\""))
        .count();
    assert!(
        denied >= hostile.len() + 3,
        "{denied} denied records in {} records",
        report.records
    );
    assert!(
        text.contains("\"error\":\"cancelled:"),
        "the cancelled request left no record"
    );
    assert!(!text.contains(&pw));
}

// ---- the agent goes away -----------------------------------------------------

#[tokio::test]
async fn calls_fail_fast_naming_the_agent_when_it_dies_or_falls_silent() {
    let server = TestServer::start_with(|c| c.agent_heartbeat = Duration::from_millis(300)).await;
    let admin = std::sync::Arc::new(server.workspace("agent-loss").await);
    let dir = tempfile::tempdir().unwrap();
    let pg = env_url("CONEXOR_TEST_PG_READER_URL");
    let (_, token) = create_agent(&admin, "flaky", 600).await;
    let agent = spawn_agent(settings(dir.path(), &server.url, Some(&token), "wh", &pg));
    wait_online(&admin, "wh").await;

    // Killed mid-query: a slow read is in flight when the agent's task dies.
    let slow = {
        let admin = admin.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let r = admin
                .query(
                    "wh",
                    "SELECT count(*) FROM big a CROSS JOIN big b",
                    vec![],
                    None,
                )
                .await;
            (r, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed_at = Instant::now();
    agent.task.abort();
    let (result, _) = slow.await.unwrap();
    let err = result.expect_err("the call must fail");
    assert!(
        killed_at.elapsed() < Duration::from_secs(5),
        "took {:?}",
        killed_at.elapsed()
    );
    let msg = err.to_string();
    assert!(
        msg.contains("flaky"),
        "the error must name the agent: {msg}"
    );
    // Later calls say the agent is offline.
    let err = admin
        .query("wh", "SELECT 1", vec![], None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not connected"), "{err}");
    let records = audit_records(&admin).await;
    assert!(
        records.iter().any(|r| r["tool"] == "run_query"
            && r["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("agent.lost"))),
        "no agent.lost record"
    );

    // Falls silent: a raw agent that enrols, then never answers anything.
    let (_, token) = create_agent(&admin, "mute", 600).await;
    let key = AgentKey::generate().unwrap();
    let mut raw = Raw::connect(&server).await;
    let ws = workspace_id(&admin).await;
    let agent_id = match raw.enrol(&key, &token).await {
        ServerMessage::Welcome { agent_id, .. } => agent_id,
        other => panic!("{other:?}"),
    };
    drop(raw);
    let (raw, _) = hello_session(&server, &key, &agent_id, &ws, &["quiet"]).await;
    // The raw peer now stops reading (its socket stays open).
    let started = Instant::now();
    let err = admin
        .query("quiet", "SELECT 1", vec![], None)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("mute"), "{err}");
    drop(raw);
}

#[tokio::test]
async fn the_agent_reconnects_by_itself_after_a_server_restart_under_load() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let mut server = TestServer::start().await;
    let admin = Arc::new(server.workspace("agent-restart").await);
    let dir = tempfile::tempdir().unwrap();
    let pg = env_url("CONEXOR_TEST_PG_READER_URL");
    let (_, token) = create_agent(&admin, "steady", 600).await;
    let agent = spawn_agent(settings(dir.path(), &server.url, Some(&token), "wh", &pg));
    wait_online(&admin, "wh").await;

    // Four clients query in a loop across the restart.
    let stop = Arc::new(AtomicBool::new(false));
    let restarted = Arc::new(AtomicBool::new(false));
    let ok_after = Arc::new(AtomicU64::new(0));
    let ok_before = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (admin, stop, restarted) = (admin.clone(), stop.clone(), restarted.clone());
            let (ok_after, ok_before, failed) =
                (ok_after.clone(), ok_before.clone(), failed.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match admin
                        .query("wh", "SELECT $1::int AS w", vec![json!(w)], None)
                        .await
                    {
                        Ok(v) => {
                            assert_eq!(
                                v["rows"],
                                json!([[w]]),
                                "an answer went to the wrong caller"
                            );
                            if restarted.load(Ordering::Relaxed) {
                                &ok_after
                            } else {
                                &ok_before
                            }
                            .fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.restart().await;
    restarted.store(true, Ordering::Relaxed);
    // No user action: calls work again once the agent is back.
    let started = Instant::now();
    while ok_after.load(Ordering::Relaxed) < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the agent did not come back ({} failed calls)",
            failed.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("a load worker panicked");
    }
    assert!(ok_before.load(Ordering::Relaxed) > 0);
    assert!(!agent.task.is_finished());
    agent.stop.cancel();
    agent.task.await.unwrap().unwrap();
}

/// A server that stops answering (a network cut that leaves the socket
/// open): the agent notices within three heartbeats and dials again.
#[tokio::test]
async fn the_agent_redials_when_the_server_falls_silent() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lite = dir.path().join("empty.db");
    std::fs::write(&lite, b"").unwrap();
    let agent = spawn_agent(settings(
        dir.path(),
        &format!("http://{addr}"),
        Some("cxa_fake"),
        "db",
        &format!("sqlite://{}", lite.display()),
    ));
    let (stream, _) = listener.accept().await.unwrap();
    let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
    ws.send(Message::text(encode(&ServerMessage::Challenge {
        protocol: 1,
        nonce: "bm9uY2U".into(),
    })))
    .await
    .unwrap();
    let _enrol = ws.next().await.unwrap().unwrap();
    ws.send(Message::text(encode(&ServerMessage::Welcome {
        agent_id: "agt_fake".into(),
        workspace_id: "ws_AAAAAAAAAAAAAAAA".into(),
        name: "fake".into(),
        heartbeat_ms: 200,
        max_in_flight: 4,
        rejected: vec![],
        features: vec![],
    })))
    .await
    .unwrap();
    // From here on the fake server reads nothing and sends nothing.
    let silent_since = Instant::now();
    let (stream, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
        .await
        .expect("the agent dialled again after the server fell silent")
        .unwrap();
    assert!(
        silent_since.elapsed() >= Duration::from_millis(500),
        "redialled before three heartbeats"
    );
    drop(stream);
    drop(ws);
    agent.stop.cancel();
    let _ = agent.task.await;
}

#[tokio::test]
async fn a_revoked_agent_is_cut_off_at_once_and_stays_out() {
    let server = TestServer::start().await;
    let admin = server.workspace("agent-revoke").await;
    let dir = tempfile::tempdir().unwrap();
    let pg = env_url("CONEXOR_TEST_PG_READER_URL");
    let (agent_id, token) = create_agent(&admin, "gone", 600).await;
    let agent = spawn_agent(settings(dir.path(), &server.url, Some(&token), "wh", &pg));
    wait_online(&admin, "wh").await;
    admin.delete(&format!("agents/{agent_id}")).await.unwrap();
    // The agent is told, stops for good, and says why.
    let result = tokio::time::timeout(Duration::from_secs(10), agent.task)
        .await
        .expect("agent stopped")
        .unwrap();
    match result {
        Err(conexor_agent::AgentError::Refused { code, .. }) => assert_eq!(code, "agent.revoked"),
        other => panic!("expected a revocation, got {other:?}"),
    }
    let err = admin
        .query("wh", "SELECT 1", vec![], None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no connection named"), "{err}");
    let agents = admin.get("agents").await.unwrap();
    assert_eq!(agents["agents"][0]["state"], "revoked");
    // Its identity no longer opens a session.
    let again = spawn_agent(settings(dir.path(), &server.url, None, "wh", &pg));
    let result = tokio::time::timeout(Duration::from_secs(10), again.task)
        .await
        .expect("agent stopped")
        .unwrap();
    assert!(
        matches!(result, Err(conexor_agent::AgentError::Refused { ref code, .. }) if code == "agent.revoked"),
        "{result:?}"
    );
    assert!(
        audit_records(&admin)
            .await
            .iter()
            .any(|r| r["tool"] == "admin.agent_revoke")
    );
}

// ---- identity attacks -----------------------------------------------------------

#[tokio::test]
async fn enrolment_tokens_are_single_use_expire_and_need_proof_of_the_key() {
    let server = TestServer::start().await;
    let admin = server.workspace("agent-tokens").await;
    let (_, token) = create_agent(&admin, "once", 600).await;
    let key = AgentKey::generate().unwrap();

    // A signature by another key than the one offered.
    let mut raw = Raw::connect(&server).await;
    let forged = AgentMessage::Enrol {
        token: token.clone(),
        public_key: AgentKey::generate().unwrap().public_text(),
        signature: key.answer(&raw.nonce, conexor_protocol::ENROL_SUBJECT),
        version: "raw".into(),
        connections: vec![],
    };
    raw.send(&forged).await;
    assert_eq!(refused_code(&raw.recv().await), "signature.invalid");

    let mut raw = Raw::connect(&server).await;
    assert!(matches!(
        raw.enrol(&key, &token).await,
        ServerMessage::Welcome { .. }
    ));
    drop(raw);
    // Consumed: the same token with another key is refused; with the same key
    // (a lost welcome) it gets the same agent back until the token expires.
    let mut raw = Raw::connect(&server).await;
    assert_eq!(
        refused_code(&raw.enrol(&AgentKey::generate().unwrap(), &token).await),
        "token.used"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut raw = Raw::connect(&server).await;
    assert!(matches!(
        raw.enrol(&key, &token).await,
        ServerMessage::Welcome { .. }
    ));
    drop(raw);
    // A token that was never issued.
    let mut raw = Raw::connect(&server).await;
    assert_eq!(
        refused_code(&raw.enrol(&key, "cxa_neverissued").await),
        "token.used"
    );
    // Expired.
    let (_, short) = create_agent(&admin, "late", 1).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let mut raw = Raw::connect(&server).await;
    assert_eq!(
        refused_code(&raw.enrol(&AgentKey::generate().unwrap(), &short).await),
        "token.expired"
    );
    let listed = admin.get("agents").await.unwrap();
    let late = listed["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "late")
        .unwrap()
        .clone();
    assert_eq!(late["state"], "expired");
    // Expiry is bounded.
    let err = admin
        .post(
            "agents",
            json!({"name": "forever", "expires_in_s": 365 * 86400}),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(400));
}

#[tokio::test]
async fn replays_duplicates_and_other_workspaces_are_refused() {
    let server = TestServer::start().await;
    let a = server.workspace("agent-a").await;
    let b = server.workspace("agent-b").await;
    let ws_a = workspace_id(&a).await;
    let ws_b = workspace_id(&b).await;
    let (_, token) = create_agent(&a, "a1", 600).await;
    let key = AgentKey::generate().unwrap();
    let mut raw = Raw::connect(&server).await;
    let agent_id = match raw.enrol(&key, &token).await {
        ServerMessage::Welcome {
            agent_id,
            workspace_id,
            ..
        } => {
            assert_eq!(workspace_id, ws_a);
            agent_id
        }
        other => panic!("{other:?}"),
    };
    drop(raw);

    // A recorded answer to one challenge, replayed on a new connection.
    let (first, recorded) = hello_session(&server, &key, &agent_id, &ws_a, &["pg"]).await;
    // Same identity from a second place while the first is live.
    let mut second = Raw::connect(&server).await;
    let hello = second.hello(&key, &agent_id, &ws_a, &["pg"]);
    second.send(&hello).await;
    assert_eq!(refused_code(&second.recv().await), "agent.duplicate");
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut replay = Raw::connect(&server).await;
    replay.send(&recorded).await;
    assert_eq!(refused_code(&replay.recv().await), "signature.invalid");

    // An agent of workspace A offering connections into workspace B, with a
    // correctly signed claim for B.
    let mut cross = Raw::connect(&server).await;
    let hello = cross.hello(&key, &agent_id, &ws_b, &["stolen"]);
    cross.send(&hello).await;
    assert_eq!(refused_code(&cross.recv().await), "agent.workspace");
    let listed = b.get("connections").await.unwrap();
    assert_eq!(
        listed["connections"],
        json!([]),
        "workspace B gained a connection"
    );
    // B cannot see or revoke A's agent either.
    assert_eq!(b.get("agents").await.unwrap()["agents"], json!([]));
    let err = b.delete(&format!("agents/{agent_id}")).await.unwrap_err();
    assert_eq!(status_of(&err), Some(404));

    // The refusals are in A's audit chain.
    let records = audit_records(&a).await;
    let refused: Vec<&str> = records
        .iter()
        .filter(|r| r["tool"] == "admin.agent_refused")
        .filter_map(|r| r["error"].as_str())
        .collect();
    assert!(
        refused.iter().any(|e| e.starts_with("agent.duplicate")),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|e| e.starts_with("agent.workspace")),
        "{refused:?}"
    );
    // A bad signature proves nothing about who sent it: logged, not written
    // into the named agent's chain (anyone knowing an agent id could flood it).
    assert!(
        !refused.iter().any(|e| e.starts_with("signature.invalid")),
        "{refused:?}"
    );
    let logs = String::from_utf8_lossy(&conexor_tests::logs().lock().unwrap()).to_string();
    assert!(
        logs.contains("signature.invalid"),
        "the replay was not logged"
    );
}

#[tokio::test]
async fn one_address_cannot_hold_every_pending_handshake() {
    let server = TestServer::start().await;
    let mut idle = Vec::new();
    for _ in 0..16 {
        idle.push(Raw::connect(&server).await);
    }
    let refused = tokio_tungstenite::connect_async(ws_url(&server)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429)
        }
        other => panic!(
            "the 17th pending handshake from one address was not refused: {:?}",
            other.map(|_| ())
        ),
    }
    drop(idle);
    // Slots come back as those sockets go away.
    let started = Instant::now();
    loop {
        if tokio_tungstenite::connect_async(ws_url(&server))
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "slots were not released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One call, one statement hash: the agent's caps are tighter than the
/// server's (5 rows against 200), so the statement it sends differs from the
/// one the server checked; the server's record carries the hash of what the
/// agent sent, the same as the agent's own record.
#[tokio::test]
async fn the_server_and_the_agent_record_the_same_statement_hash() {
    let server = TestServer::start().await;
    let admin = server.workspace("one-hash").await;
    let dir = tempfile::tempdir().unwrap();
    let (_, token) = create_agent(&admin, "tight", 600).await;
    let mut s = settings(
        dir.path(),
        &server.url,
        Some(&token),
        "wh",
        &env_url("CONEXOR_TEST_PG_READER_URL"),
    );
    s.limits.max_rows = 5;
    let agent = spawn_agent(s);
    wait_online(&admin, "wh").await;
    let answer = admin
        .query(
            "wh",
            "SELECT id FROM customers ORDER BY id",
            vec![],
            Some(200),
        )
        .await
        .unwrap();
    assert_eq!(answer["row_count"], 5, "{answer}");
    let server_hash = audit_records(&admin)
        .await
        .into_iter()
        .rev()
        .find(|r| r["tool"] == "run_query")
        .and_then(|r| r["query_hash"].as_str().map(str::to_owned))
        .expect("the server's record has a query hash");
    let log = std::fs::read_to_string(dir.path().join("state/audit.jsonl")).unwrap();
    let agent_hash = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|l| l.get("record").cloned())
        .rfind(|r| r["tool"] == "agent.query")
        .and_then(|r| r["query_hash"].as_str().map(str::to_owned))
        .expect("the agent's record has a query hash");
    assert_eq!(server_hash, agent_hash);
    // And it is not the hash of the statement the server checked (200 rows).
    let checked = conexor_guard::check_with_params(
        conexor_guard::Dialect::Postgresql,
        "SELECT id FROM customers ORDER BY id",
        0,
    )
    .unwrap();
    let server_caps = conexor_connectors::query_hash(&checked.source_sql(200, 4 * 1024 * 1024));
    assert_ne!(
        agent_hash, server_caps,
        "the server recorded its own statement"
    );
    agent.stop.cancel();
}

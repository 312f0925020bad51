//! Kafka (`kafka`) against a real Kafka-compatible broker (tansu, started
//! by the harness, filled by kafka-python), through a real MCP client:
//! topics listed with their offsets, messages peeked and decoded, capped
//! and audited; hostile arguments refused; consumer groups untouched, shown
//! both by the group's committed offsets and by the request kinds read on
//! the wire; a broker that advertises a refused address is never dialled.

use conexor_client::Client;
use conexor_tests::TestServer;
use conexor_tests::kafka::{GROUP_APIS, broker};
use conexor_tests::mcp::{call, mcp, tool_names};
use conexor_types::ConnectionKind;
use serde_json::{Value, json};

async fn add_kafka(client: &Client, name: &str, bootstrap: &str) -> anyhow::Result<Value> {
    let spec = json!({"bootstrap_servers": bootstrap});
    let plain = serde_json::to_vec(&spec)?;
    let body = client
        .sealed_connection(name, ConnectionKind::Kafka, &plain, false)
        .await?;
    client.post("connections", body).await
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ai_reads_the_last_orders_decoded_capped_and_audited() {
    let kafka = broker();
    let server = TestServer::start_with(|c| c.limits.max_bytes = 512 * 1024).await;
    let admin = server.workspace("kafka").await;
    let added = add_kafka(&admin, "stream", &kafka.bootstrap).await.unwrap();
    assert!(added["topics"].as_u64().unwrap() >= 3, "{added}");
    assert!(
        added["test"]["version"]
            .as_str()
            .unwrap()
            .contains("PLAINTEXT"),
        "{added}"
    );
    let (service, _) = mcp(&server, &admin).await;
    let tools = tool_names(&service).await;
    assert!(tools.iter().any(|t| t == "list_topics"), "{tools:?}");
    assert!(tools.iter().any(|t| t == "peek_messages"), "{tools:?}");

    let (err, listed, text) = call(
        &service,
        "list_topics",
        json!({"connection": "stream", "pattern": "ord"}),
    )
    .await;
    assert!(!err, "{text}");
    let orders = &listed["topics"][0];
    assert_eq!(orders["name"], "orders", "{listed}");
    assert_eq!(orders["partitions"].as_array().unwrap().len(), 3);
    assert_eq!(orders["approximate_messages"], 30);

    // "What are the last 10 events on orders and what do they look like?"
    let (err, last, text) = call(
        &service,
        "peek_messages",
        json!({"connection": "stream", "topic": "orders", "limit": 10}),
    )
    .await;
    assert!(!err, "{text}");
    let messages = last["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 10, "{last}");
    for m in messages {
        assert_eq!(m["value"]["encoding"], "json", "{m}");
        assert!(
            m["value"]["data"]["order_id"].as_u64().unwrap() >= 20,
            "the last ones: {m}"
        );
        assert!(m["key"]["data"].as_str().unwrap().starts_with("order-"));
        assert_eq!(m["headers"]["source"]["data"], "shop");
    }
    // One partition from its start, and from an offset.
    let (err, first, text) = call(
        &service,
        "peek_messages",
        json!({"connection": "stream", "topic": "orders", "partition": 1, "from": "earliest", "limit": 3}),
    )
    .await;
    assert!(!err, "{text}");
    let offsets: Vec<i64> = first["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [0, 1, 2]);
    assert_eq!(first["messages"][0]["value"]["data"]["order_id"], 1);
    let (err, at, text) = call(
        &service,
        "peek_messages",
        json!({"connection": "stream", "topic": "orders", "partition": 2, "from": "offset", "offset": 4, "limit": 2}),
    )
    .await;
    assert!(!err, "{text}");
    assert_eq!(at["messages"][0]["offset"], 4);
    assert_eq!(at["messages"][0]["value"]["data"]["order_id"], 14);
    // Text, and a 5 MB value cut at the cap, and bytes as base64.
    let (err, events, text) = call(
        &service,
        "peek_messages",
        json!({"connection": "stream", "topic": "events", "from": "earliest", "limit": 2}),
    )
    .await;
    assert!(!err, "{text}");
    assert_eq!(events["messages"][0]["value"]["data"], "event line 0");
    let (err, blobs, text) = call(
        &service,
        "peek_messages",
        json!({"connection": "stream", "topic": "blobs", "from": "earliest"}),
    )
    .await;
    assert!(!err, "{text}");
    let big = &blobs["messages"][0]["value"];
    assert_eq!(
        big["bytes"],
        5 * 1024 * 1024,
        "{}",
        &blobs.to_string()[..300.min(blobs.to_string().len())]
    );
    assert_eq!(big["truncated"], true);
    assert!(big["data"].as_str().unwrap().len() <= 256 * 1024);
    assert!(conexor_connectors::json_len(&blobs) <= 600 * 1024);

    // Hostile arguments: clear errors, nothing crashes.
    for (args, says) in [
        (json!({"topic": "no-such-topic"}), "no topic"),
        (
            json!({"topic": "orders", "partition": 99}),
            "no partition 99",
        ),
        (
            json!({"topic": "orders", "partition": 0, "from": "offset", "offset": 1_000_000_000_000i64}),
            "outside",
        ),
        (
            json!({"topic": "orders", "partition": 0, "from": "offset", "offset": -1}),
            "offset",
        ),
        (json!({"topic": "ord\u{7}ers"}), "topic"),
        (
            json!({"topic": "orders", "from": "offset", "offset": 3}),
            "partition",
        ),
    ] {
        let mut args = args;
        args["connection"] = json!("stream");
        let (err, _, text) = call(&service, "peek_messages", args.clone()).await;
        assert!(err && text.contains(says), "{args}: {text}");
    }
    let (err, million, text) = call(
        &service,
        "peek_messages",
        json!({"connection": "stream", "topic": "orders", "limit": 1_000_000, "from": "earliest"}),
    )
    .await;
    assert!(!err, "{text}");
    assert_eq!(million["messages"].as_array().unwrap().len(), 30);

    // The audit: the typed read's hash, no message contents.
    let audit = admin.get_text("audit/export?format=jsonl").await.unwrap();
    let records: Vec<Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|l| l.get("record").cloned())
        .collect();
    let peek = records
        .iter()
        .find(|r| {
            r["tool"] == "peek_messages" && r["params"]["limit"] == 10 && r["outcome"] == "ok"
        })
        .unwrap_or_else(|| panic!("the peek is recorded: {audit}"));
    assert_eq!(peek["connection"], "stream");
    assert_eq!(peek["rows"], 10);
    assert_eq!(
        peek["query_hash"],
        sha256_hex(&format!(
            "kafka.peek\norders\n*\nlatest\n10\n{}",
            512 * 1024
        ))
    );
    for needle in ["customer 3", "event line", "BBBBBBBB"] {
        assert!(
            !audit.contains(needle),
            "the audit log holds message data {needle:?}"
        );
    }
    let _ = service.cancel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peeks_leave_every_consumer_group_as_it_was() {
    let kafka = broker();
    // A real consumer group reads part of orders and commits.
    let consumed = kafka.fixtures(&["consume", "cx-readers"]);
    assert!(consumed["consumed"].as_u64().unwrap() > 0, "{consumed}");
    let before = kafka.fixtures(&["offsets", "cx-readers"]);
    assert!(
        before["offsets"].as_object().is_some_and(|o| !o.is_empty()),
        "committed: {before}"
    );

    let server = TestServer::start().await;
    let admin = server.workspace("kafka-groups").await;
    add_kafka(&admin, "stream", &kafka.bootstrap).await.unwrap();
    let (service, _) = mcp(&server, &admin).await;
    let service = std::sync::Arc::new(service);
    // Many peeks, eight at a time.
    let mut calls = Vec::new();
    for i in 0..24 {
        let service = service.clone();
        calls.push(tokio::spawn(async move {
            let args = match i % 3 {
                0 => json!({"connection": "stream", "topic": "orders", "limit": 5}),
                1 => json!({"connection": "stream", "topic": "orders", "from": "earliest", "limit": 30}),
                _ => json!({"connection": "stream", "topic": "orders", "partition": i % 3, "from": "offset", "offset": 1}),
            };
            call(&service, "peek_messages", args).await
        }));
        if calls.len() == 8 {
            for c in calls.drain(..) {
                let (err, _, text) = c.await.unwrap();
                assert!(!err, "{text}");
            }
        }
    }
    for c in calls {
        let (err, _, text) = c.await.unwrap();
        assert!(!err, "{text}");
    }
    let after = kafka.fixtures(&["offsets", "cx-readers"]);
    assert_eq!(
        before, after,
        "the group's committed offsets or membership changed"
    );

    // On the wire: what Conexor sent, and that no group or write request was among it.
    let sent = kafka.requests_from("conexor");
    assert!(
        sent.get(&1).copied().unwrap_or(0) > 0,
        "fetches were seen: {sent:?}"
    );
    for (key, name) in GROUP_APIS {
        assert_eq!(sent.get(key), None, "Conexor sent {name}: {sent:?}");
    }
    for key in sent.keys() {
        assert!(
            [1, 2, 3, 17, 18, 36].contains(key),
            "an unexpected request kind {key}: {sent:?}"
        );
    }
    println!("request kinds Conexor sent: {sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_destinations_are_never_dialled() {
    let server = TestServer::start().await;
    let admin = server.workspace("kafka-policy").await;
    let err = add_kafka(&admin, "meta", "169.254.169.254:9092")
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("metadata"), "{err:#}");
    // A broker that advertises a metadata address: the bootstrap server is
    // reached, the advertised address is refused by the gate.
    let port = conexor_tests::free_port();
    let tansu = conexor_tests::kafka::tansu();
    let mut child = std::process::Command::new(&tansu)
        .args([
            "broker",
            "--listener-url",
            &format!("tcp://127.0.0.1:{port}"),
            "--advertised-listener-url",
            "tcp://169.254.169.254:9092",
            "--storage-engine",
            "memory://tansu/",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start a second tansu");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed().as_secs() < 30,
            "the second tansu did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A topic, so that reading it needs its leader: the advertised address.
    let created = std::process::Command::new(&tansu)
        .args([
            "topic",
            "create",
            "lead",
            "--partitions",
            "1",
            "--broker",
            &format!("tcp://127.0.0.1:{port}"),
        ])
        .output()
        .expect("tansu topic create");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let err = add_kafka(&admin, "advertised", &format!("127.0.0.1:{port}")).await;
    let _ = child.kill();
    let _ = child.wait();
    let err = err.unwrap_err();
    assert!(
        format!("{err:#}").contains("169.254.169.254"),
        "the advertised address is named as refused: {err:#}"
    );
}

/// The same tools behind an agent: the agent holds the connection, clamps
/// to its own caps, and both records carry the same hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_behind_an_agent_under_the_agent_s_own_caps() {
    use crate::agent::{create_agent, spawn_agent};
    let kafka = broker();
    let server = TestServer::start().await;
    let admin = server.workspace("agent-kafka").await;
    let dir = tempfile::tempdir().unwrap();
    let (_, token) = create_agent(&admin, "kafka-agent", 600).await;
    let text = format!(
        "server = \"{}\"\ntoken = \"{token}\"\nstate_dir = \"state\"\n[limits]\nmax_rows = 4\n\
         [[connections]]\nname = \"stream\"\ntype = \"kafka\"\nbootstrap_servers = \"{}\"\n",
        server.url, kafka.bootstrap
    );
    let settings =
        conexor_agent::Settings::parse(&text, dir.path()).expect("agent.toml with kafka");
    let agent = spawn_agent(settings);
    crate::agent::wait_offered(&admin, "stream").await;
    let (service, _) = mcp(&server, &admin).await;
    let (err, last, text) = call(
        &service,
        "peek_messages",
        json!({"connection": "stream", "topic": "orders", "limit": 10}),
    )
    .await;
    assert!(!err, "{text}");
    // The server allows 10; the agent's own cap is 4.
    assert_eq!(last["messages"].as_array().unwrap().len(), 4, "{last}");
    let audit = admin.get_text("audit/export?format=jsonl").await.unwrap();
    let server_hash = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|l| l.get("record").cloned())
        .find(|r| r["tool"] == "peek_messages" && r["outcome"] == "ok")
        .and_then(|r| r["query_hash"].as_str().map(str::to_owned))
        .expect("the server recorded the peek");
    let log = std::fs::read_to_string(dir.path().join("state/audit.jsonl")).unwrap();
    let agent_hash = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|l| l.get("record").cloned())
        .find(|r| r["tool"] == "agent.topics" && r["outcome"] == "ok")
        .and_then(|r| r["query_hash"].as_str().map(str::to_owned))
        .expect("the agent recorded the peek");
    assert_eq!(server_hash, agent_hash);
    // The agent's caps are in it: 4 messages, the server's 1 MiB.
    assert_eq!(
        server_hash,
        sha256_hex(&format!(
            "kafka.peek\norders\n*\nlatest\n4\n{}",
            1024 * 1024
        ))
    );
    assert!(
        !log.contains("customer 3"),
        "the agent's log holds message data"
    );
    agent.stop.cancel();
    let _ = service.cancel().await;
}

/// Values in Confluent's wire format decoded through a schema registry:
/// Avro with the writer's schema, JSON Schema as JSON; an unknown schema id
/// and a datum the schema cannot read are shown as base64 with a note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_and_json_schema_values_are_decoded_through_the_schema_registry() {
    let kafka = broker();
    let server = TestServer::start().await;
    let admin = server.workspace("kafka-avro").await;
    let spec = json!({"bootstrap_servers": kafka.bootstrap, "schema_registry_url": kafka.registry});
    let body = admin
        .sealed_connection(
            "payments",
            ConnectionKind::Kafka,
            &serde_json::to_vec(&spec).unwrap(),
            false,
        )
        .await
        .unwrap();
    admin.post("connections", body).await.unwrap();
    let (service, _) = mcp(&server, &admin).await;
    let (err, peek, text) = call(
        &service,
        "peek_messages",
        json!({"connection": "payments", "topic": "payments", "from": "earliest", "limit": 20}),
    )
    .await;
    assert!(!err, "{text}");
    let messages = peek["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 8, "{peek}");
    let first = &messages[0]["value"];
    assert_eq!(first["encoding"], "avro", "{first}");
    assert_eq!(first["data"]["currency"], "USD");
    assert_eq!(first["data"]["note"], "note 0");
    assert_eq!(messages[1]["value"]["data"]["currency"], "EUR");
    assert_eq!(messages[5]["value"]["encoding"], "json_schema");
    assert_eq!(messages[5]["value"]["data"]["kind"], "refund");
    for (i, says) in [(6, "404"), (7, "do not decode")] {
        let v = &messages[i]["value"];
        assert_eq!(v["encoding"], "base64", "{v}");
        assert!(v["note"].as_str().unwrap().contains(says), "{v}");
    }
    let _ = service.cancel().await;
}

/// SASL against a broker that demands it: tansu on SQLite storage (so the
/// SCRAM users created while it ran open outlive its restart with
/// `--authentication`). SCRAM-SHA-256 and SCRAM-SHA-512 logins read; a wrong
/// SCRAM password is refused before anything is saved. (tansu 0.6 offers no
/// PLAIN mechanism over SASL and serves no TLS: those are not tested live.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_scram_logins_read_and_a_wrong_password_is_refused() {
    let tansu = conexor_tests::kafka::tansu();
    let dir = tempfile::tempdir().unwrap();
    // tansu reads a sqlite:// path relative to its working directory.
    let storage = "sqlite://tansu.db".to_owned();
    let start = |port: u16, auth: bool| {
        let mut args = vec![
            "broker".to_owned(),
            "--listener-url".into(),
            format!("tcp://127.0.0.1:{port}"),
            "--advertised-listener-url".into(),
            format!("tcp://127.0.0.1:{port}"),
            "--storage-engine".into(),
            storage.clone(),
        ];
        if auth {
            args.push("--authentication".into());
        }
        let log = std::fs::File::create(dir.path().join(format!("tansu-{port}.log"))).unwrap();
        let child = std::process::Command::new(&tansu)
            .args(&args)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start tansu");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed().as_secs() < 30, "tansu did not start");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        child
    };
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&tansu)
            .args(args)
            .output()
            .expect("tansu");
        assert!(
            out.status.success(),
            "tansu {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Open: users and a topic.
    let port = conexor_tests::free_port();
    let mut open = start(port, false);
    let broker = format!("tcp://127.0.0.1:{port}");
    run(&[
        "user",
        "create",
        "alice",
        "alice-secret-256",
        "--mechanism",
        "scram256",
        "--broker",
        &broker,
    ]);
    run(&[
        "user",
        "create",
        "bob",
        "bob-secret-512",
        "--mechanism",
        "scram512",
        "--broker",
        &broker,
    ]);
    run(&[
        "topic",
        "create",
        "secure",
        "--partitions",
        "1",
        "--broker",
        &broker,
    ]);
    let _ = open.kill();
    let _ = open.wait();
    // Closed: the same storage, authentication demanded.
    let port = conexor_tests::free_port();
    let mut closed = start(port, true);
    let server = TestServer::start().await;
    let admin = server.workspace("kafka-sasl").await;
    let add = |name: &str, mechanism: &str, user: &str, password: &str| {
        let spec = json!({
            "bootstrap_servers": format!("127.0.0.1:{port}"),
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": mechanism,
            "username": user,
            "password": password,
        });
        let admin = &admin;
        let name = name.to_owned();
        async move {
            let body = admin
                .sealed_connection(
                    &name,
                    ConnectionKind::Kafka,
                    &serde_json::to_vec(&spec).unwrap(),
                    false,
                )
                .await
                .unwrap();
            admin.post("connections", body).await
        }
    };
    let outcome = async {
        let ok256 = add("scram256", "SCRAM-SHA-256", "alice", "alice-secret-256").await?;
        assert!(
            ok256["test"]["version"]
                .as_str()
                .unwrap()
                .contains("SASL SCRAM-SHA-256"),
            "{ok256}"
        );
        let ok512 = add("scram512", "SCRAM-SHA-512", "bob", "bob-secret-512").await?;
        assert!(
            ok512["test"]["version"]
                .as_str()
                .unwrap()
                .contains("secure"),
            "{ok512}"
        );
        // Zero knowledge at rest: the SASL passwords are nowhere in the
        // server's data directory (store, WAL, audit) once both are saved.
        let mut stack = vec![server.data_dir.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)?.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let bytes = std::fs::read(&path)?;
                for secret in ["alice-secret-256", "bob-secret-512"] {
                    assert!(
                        !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                        "{} holds a SASL password",
                        path.display()
                    );
                }
            }
        }
        // tansu answers a failed SCRAM exchange by going silent, not with an
        // error code: the login is refused by timing out, and nothing is saved.
        let wrong = add("wrong", "SCRAM-SHA-256", "alice", "not-her-password").await;
        let err = wrong.expect_err("a wrong SCRAM password is refused");
        assert!(format!("{err:#}").contains("could not connect"), "{err:#}");
        let listed = admin.get("connections").await?;
        assert!(
            !listed.to_string().contains("\"wrong\""),
            "a refused login is not saved: {listed}"
        );
        anyhow::Ok(())
    }
    .await;
    let _ = closed.kill();
    let _ = closed.wait();
    if let Err(e) = &outcome {
        for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
            if entry.path().extension().is_some_and(|x| x == "log") {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                eprintln!(
                    "{}:\n{}",
                    entry.path().display(),
                    &text[text.len().saturating_sub(3000)..]
                );
            }
        }
        panic!("{e:#}");
    }
}

//! A real Kafka-compatible broker for the Kafka tests: tansu (built once by
//! `scripts/tansu.sh` into the cache, found through `CONEXOR_TEST_TANSU`),
//! started once per test process on a free loopback port with in-memory
//! storage, and stopped by a watchdog when the test process is gone.
//!
//! The broker advertises a relay in this process instead of its own port,
//! so every connection any client makes — to the bootstrap server and to
//! the brokers the metadata names — passes the relay, which reads each
//! request's header on the wire and counts the request kinds per client id.
//! A test can then show what Conexor (client id `conexor`) sent, and what it
//! never sent (JoinGroup, SyncGroup, OffsetCommit, …).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// (client id, API key) → requests seen.
pub type Requests = Arc<Mutex<BTreeMap<(String, i16), u64>>>;

pub struct Broker {
    /// `127.0.0.1:<relay port>`: what clients bootstrap from.
    pub bootstrap: String,
    /// `http://127.0.0.1:<port>`: a schema registry with Confluent's API
    /// (`tests/python/schema_registry.py`) holding the `payments` schemas.
    pub registry: String,
    requests: Requests,
}

/// Kafka API keys a peek must never send.
pub const GROUP_APIS: &[(i16, &str)] = &[
    (8, "OffsetCommit"),
    (9, "OffsetFetch"),
    (10, "FindCoordinator"),
    (11, "JoinGroup"),
    (12, "Heartbeat"),
    (13, "LeaveGroup"),
    (14, "SyncGroup"),
    (0, "Produce"),
    (19, "CreateTopics"),
    (20, "DeleteTopics"),
    (21, "DeleteRecords"),
];

/// The tansu binary: `CONEXOR_TEST_TANSU`, else where `scripts/tansu.sh` builds it.
pub fn tansu() -> PathBuf {
    let path = std::env::var_os("CONEXOR_TEST_TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/conexor/tansu-0.6.0-dynostore-libsql/bin/tansu")
        });
    assert!(
        path.exists(),
        "the tansu broker is missing at {}: run scripts/tansu.sh (it builds tansu once into the cache) or set CONEXOR_TEST_TANSU",
        path.display()
    );
    path
}

/// Starts the broker and its relay and produces the fixtures, once per
/// test process.
pub fn broker() -> &'static Broker {
    static BROKER: OnceLock<Broker> = OnceLock::new();
    BROKER.get_or_init(|| {
        let tansu = tansu();
        let port = crate::free_port();
        let relay = crate::free_port();
        let dir = std::env::temp_dir().join(format!("conexor-kafka-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("kafka dir");
        crate::spawn_with_watchdog(
            &format!(
                "{} broker --listener-url tcp://127.0.0.1:{port} --advertised-listener-url tcp://127.0.0.1:{relay} --storage-engine memory://tansu/ >{}/tansu.log 2>&1",
                tansu.display(),
                dir.display()
            ),
            Some(&dir),
            "tansu",
        );
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed().as_secs() < 30,
                "tansu did not listen on {port} within 30 s; see {}/tansu.log",
                dir.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let requests: Requests = Arc::default();
        let seen = requests.clone();
        let listener = std::net::TcpListener::bind(("127.0.0.1", relay)).expect("bind the relay");
        listener.set_nonblocking(true).expect("relay nonblocking");
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("relay runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("relay listener");
                while let Ok((client, _)) = listener.accept().await {
                    let seen = seen.clone();
                    tokio::spawn(async move {
                        if let Ok(upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                            relay_one(client, upstream, seen).await;
                        }
                    });
                }
            });
        });
        let registry_port = crate::free_port();
        crate::spawn_with_watchdog(
            &format!(
                "{} {} {registry_port} >{}/registry.log 2>&1",
                crate::s3::python().display(),
                concat!(env!("CARGO_MANIFEST_DIR"), "/python/schema_registry.py"),
                dir.display()
            ),
            None,
            "schema_registry.py",
        );
        while std::net::TcpStream::connect(("127.0.0.1", registry_port)).is_err() {
            assert!(started.elapsed().as_secs() < 30, "the schema registry did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let broker = Broker {
            bootstrap: format!("127.0.0.1:{relay}"),
            registry: format!("http://127.0.0.1:{registry_port}"),
            requests,
        };
        let out = broker.fixtures(&["produce"]);
        assert_eq!(out["orders"], 30, "{out}");
        let out = broker.fixtures(&["avro", &broker.registry]);
        assert_eq!(out["payments"], 8, "{out}");
        broker
    })
}

/// Relays one connection, reading the client's request headers as they pass.
async fn relay_one(client: tokio::net::TcpStream, upstream: tokio::net::TcpStream, seen: Requests) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut up_read, mut up_write) = upstream.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut up_read, &mut client_write).await;
    });
    loop {
        let mut len = [0u8; 4];
        if client_read.read_exact(&mut len).await.is_err() {
            break;
        }
        let size = i32::from_be_bytes(len);
        if !(10..=64 * 1024 * 1024).contains(&size) {
            break;
        }
        let mut frame = vec![0u8; size as usize];
        if client_read.read_exact(&mut frame).await.is_err() {
            break;
        }
        let api_key = i16::from_be_bytes([frame[0], frame[1]]);
        // Header v1+: api key, version, correlation id, client id (i16 length + bytes).
        let id_len = i16::from_be_bytes([frame[8], frame[9]]);
        let client_id = if id_len > 0 && frame.len() >= 10 + id_len as usize {
            String::from_utf8_lossy(&frame[10..10 + id_len as usize]).into_owned()
        } else {
            String::new()
        };
        if let Ok(mut s) = seen.lock() {
            *s.entry((client_id, api_key)).or_default() += 1;
        }
        if up_write.write_all(&len).await.is_err() || up_write.write_all(&frame).await.is_err() {
            break;
        }
    }
    down.abort();
}

impl Broker {
    /// Runs `tests/python/kafka_fixtures.py` against the broker.
    pub fn fixtures(&self, args: &[&str]) -> Value {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/kafka_fixtures.py");
        let out = Command::new(crate::s3::python())
            .arg(script)
            .arg(&self.bootstrap)
            .args(args)
            .output()
            .expect("run kafka_fixtures.py");
        assert!(
            out.status.success(),
            "kafka_fixtures.py {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Request kinds seen from client id `client`, by API key.
    pub fn requests_from(&self, client: &str) -> BTreeMap<i16, u64> {
        self.requests
            .lock()
            .map(|s| {
                s.iter()
                    .filter(|((c, _), _)| c == client)
                    .map(|((_, k), n)| (*k, *n))
                    .collect()
            })
            .unwrap_or_default()
    }
}

//! A real HTTP API for the REST tests: `tests/python/rest_api_server.py`
//! (standard library only), started once per test process on two free
//! loopback ports — the API, and another origin that logs whatever reaches
//! it — and stopped by a watchdog when the test process is gone. Every
//! request either port receives is in its log, so a test can show what was
//! sent, and what never was.

use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

pub const TOKEN: &str = "cx-rest-token-0123456789";
pub const KEY: &str = "cx-rest-key-0123456789";
pub const BASIC_USER: &str = "reader";
pub const BASIC_PASSWORD: &str = "cx-rest-pass-0123456789";

pub struct RestApi {
    /// `http://127.0.0.1:<port>`
    pub origin: String,
    /// Another origin; nothing Conexor sends should ever reach it.
    pub other_port: u16,
    log: PathBuf,
}

/// Starts the API server, once per test process.
pub fn rest_api() -> &'static RestApi {
    static API: OnceLock<RestApi> = OnceLock::new();
    API.get_or_init(|| {
        let python = crate::s3::python();
        let port = crate::free_port();
        let other_port = crate::free_port();
        let dir = std::env::temp_dir().join(format!("conexor-rest-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("rest api dir");
        let log = dir.join("requests.jsonl");
        let server = concat!(env!("CARGO_MANIFEST_DIR"), "/python/rest_api_server.py");
        crate::spawn_with_watchdog(
            &format!(
                "{} {server} {port} {other_port} {} >{}/server.log 2>&1",
                python.display(),
                log.display(),
                dir.display()
            ),
            Some(&dir),
            "rest_api_server.py",
        );
        let started = std::time::Instant::now();
        for p in [port, other_port] {
            while std::net::TcpStream::connect(("127.0.0.1", p)).is_err() {
                assert!(
                    started.elapsed().as_secs() < 30,
                    "rest_api_server.py did not listen on {p} within 30 s; see {}/server.log",
                    dir.display()
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        RestApi {
            origin: format!("http://127.0.0.1:{port}"),
            other_port,
            log,
        }
    })
}

impl RestApi {
    /// The base URL of the API behind `auth` (`open`, `bearer`, `key`, `basic`).
    pub fn base(&self, auth: &str) -> String {
        format!("{}/{auth}/api/v1", self.origin)
    }

    /// The API's OpenAPI description, its `servers` entry set to `base`.
    pub async fn description(&self, base: &str) -> String {
        let mut url = url::Url::parse(&format!("{}/openapi.json", self.origin)).expect("a URL");
        url.query_pairs_mut().append_pair("base", base);
        reqwest::Client::new()
            .get(url)
            .send()
            .await
            .expect("fetch the description")
            .text()
            .await
            .expect("read the description")
    }

    /// Every request logged so far: `{"port", "method", "path", "headers"}`.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

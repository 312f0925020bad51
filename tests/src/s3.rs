//! A real S3-compatible server for the object storage tests: moto's server
//! mode (from the project's Python venv), started once per test process on a
//! free loopback port, filled by `tests/python/s3_fixtures.py` with boto3,
//! and stopped by a watchdog when the test process is gone. In front of it,
//! per test, a [`CountingProxy`]: a TCP relay that counts the bytes the
//! store sent and the connections Conexor opened, so a test can bound what
//! a read fetched and show that a refused read sent nothing.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The shared moto server.
pub struct Moto {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    /// moto's request log (one line per request: method and path).
    pub log: PathBuf,
    /// Size of `cx-data/huge.bin`.
    pub huge_bytes: u64,
    /// Requests in moto's log once the fixtures were written: every later
    /// one came from the tests (which only read).
    pub fixture_requests: usize,
}

/// The venv's Python: `CONEXOR_TEST_PYTHON` (set by `scripts/test`), else
/// `.venv/bin/python` at the workspace root (`scripts/python-env.sh`).
pub fn python() -> PathBuf {
    std::env::var_os("CONEXOR_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python"))
        })
}

/// Starts moto and loads the fixtures, once per test process.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let python = python();
        let moto_server = python.with_file_name("moto_server");
        assert!(
            moto_server.exists(),
            "{} is missing: run scripts/python-env.sh (it installs moto[server]) or set CONEXOR_TEST_PYTHON",
            moto_server.display()
        );
        let port = crate::free_port();
        let dir = std::env::temp_dir().join(format!("conexor-moto-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("moto dir");
        let log = dir.join("moto.log");
        crate::spawn_with_watchdog(
            &format!(
                "{} -H 127.0.0.1 -p {port} >{} 2>&1",
                moto_server.display(),
                log.display()
            ),
            Some(&dir),
            "moto_server",
        );
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed().as_secs() < 30,
                "moto_server did not listen on {port} within 30 s; see {}",
                log.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let huge_bytes: u64 = std::env::var("CONEXOR_TEST_S3_HUGE_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1 << 30);
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/python/s3_fixtures.py");
        let out = Command::new(&python)
            .args([fixtures, &endpoint, &huge_bytes.to_string()])
            .output()
            .expect("run s3_fixtures.py");
        assert!(
            out.status.success(),
            "s3_fixtures.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut moto = Moto {
            endpoint,
            log,
            huge_bytes,
            fixture_requests: 0,
        };
        // moto logs a request when it has answered it: wait for the last upload's line.
        let started = std::time::Instant::now();
        loop {
            let seen = moto.requests();
            if seen.last().is_some_and(|r| r.starts_with("POST /cx-data/huge.bin")) {
                moto.fixture_requests = seen.len();
                break;
            }
            assert!(started.elapsed().as_secs() < 10, "moto's log never showed the fixtures");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        moto
    })
}

impl Moto {
    /// The requests moto logged so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        let Ok(file) = std::fs::File::open(&self.log) else {
            return Vec::new();
        };
        BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| {
                let start = line.find('"')? + 1;
                let rest = &line[start..];
                let end = rest.find(" HTTP/")?;
                // Colour codes around error lines.
                let request = rest[..end].trim_start_matches(|c: char| {
                    c == '\u{1b}' || c == '[' || c.is_ascii_digit() || c == ';' || c == 'm'
                });
                Some(request.to_owned())
            })
            .collect()
    }
}

/// A TCP relay in front of the store that counts what passes.
pub struct CountingProxy {
    /// `http://127.0.0.1:<port>`: the endpoint to give Conexor.
    pub endpoint: String,
    /// Bytes the store sent back.
    pub downstream: Arc<AtomicU64>,
    /// Connections accepted.
    pub connections: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    pub async fn start(upstream: &str) -> CountingProxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let downstream = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let (down, conns) = (downstream.clone(), connections.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                conns.fetch_add(1, Ordering::SeqCst);
                let upstream = upstream.clone();
                let down = down.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.split();
                    let (mut sr, mut sw) = server.split();
                    let up = tokio::io::copy(&mut cr, &mut sw);
                    let back = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match sr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            down.fetch_add(n as u64, Ordering::SeqCst);
                            if cw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = cw.shutdown().await;
                    };
                    tokio::select! {
                        _ = up => {}
                        _ = back => {}
                    }
                });
            }
        });
        CountingProxy {
            endpoint,
            downstream,
            connections,
            task,
        }
    }

    pub fn reset(&self) {
        self.downstream.store(0, Ordering::SeqCst);
    }

    pub fn bytes(&self) -> u64 {
        self.downstream.load(Ordering::SeqCst)
    }

    pub fn connection_count(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

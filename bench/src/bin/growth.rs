//! `conexor-growth`: fills a Conexor deployment with large amounts of real
//! state for `bench/growth.sh`, faster than calls through the API could.
//!
//! - `audit-fill` appends records to a workspace's audit chain in a stopped
//!   server's data directory through the server's own audit writer
//!   (`conexor_server::audit::AuditLog`: chain, JCS hash, group commit,
//!   count and time checkpoints signed with the deployment's key from
//!   `audit-signing.key`). The result is a genuine chain: the server exports
//!   it and `conexor audit verify --pubkey` checks it like any other.
//! - `keys-fill` creates workspaces and API keys through a running server's
//!   REST API, exactly as `conexor init` and `conexor keys create` do
//!   (a workspace master key per workspace, one PBKDF2 derivation per key to
//!   wrap it), on several threads, and writes the keys to a file (0600).
//!
//! Progress goes to stderr; a one-line JSON summary to stdout.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use conexor_audit::{Draft, Interval, Outcome};
use conexor_server::audit::AuditLog;
use conexor_store::{Durability, Store};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(about = "Fill a Conexor deployment with audit records or keys (see bench/growth.sh)")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Append records to a workspace's chain in a stopped server's data directory
    AuditFill {
        /// The server's data directory (the server must not be running on it)
        #[arg(long)]
        data_dir: PathBuf,
        /// The workspace whose chain grows (ws_…)
        #[arg(long)]
        workspace: String,
        /// Records to append
        #[arg(long)]
        records: u64,
        /// Appends in flight at once (the writer commits what is waiting, up to 512 a batch)
        #[arg(long, default_value_t = 1024)]
        in_flight: u64,
        /// N: a checkpoint after this many records (the server's default)
        #[arg(long, default_value_t = 1000)]
        checkpoint_records: u64,
        /// T: a checkpoint at least this often, in seconds (the server's default)
        #[arg(long, default_value_t = 60)]
        checkpoint_seconds: u64,
    },
    /// Create workspaces and keys through a running server's REST API
    KeysFill {
        /// The server's base URL (http://127.0.0.1:PORT)
        #[arg(long)]
        url: String,
        /// The server's admin token, in this environment variable
        #[arg(long, default_value = "CONEXOR_ADMIN_TOKEN")]
        admin_token_env: String,
        #[arg(long)]
        workspaces: u64,
        /// Keys per workspace: one admin key, the rest mcp keys
        #[arg(long)]
        keys_per_workspace: u64,
        /// Threads deriving keys (PBKDF2, 600,000 iterations each)
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Where to write `workspace_id scope key` lines (created 0600)
        #[arg(long)]
        out: PathBuf,
    },
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    match Args::parse().cmd {
        Cmd::AuditFill {
            data_dir,
            workspace,
            records,
            in_flight,
            checkpoint_records,
            checkpoint_seconds,
        } => {
            audit_fill(
                data_dir,
                workspace,
                records,
                in_flight,
                Interval {
                    records: checkpoint_records,
                    seconds: checkpoint_seconds,
                },
            )
            .await
        }
        Cmd::KeysFill {
            url,
            admin_token_env,
            workspaces,
            keys_per_workspace,
            threads,
            out,
        } => {
            let token = std::env::var(&admin_token_env)
                .with_context(|| format!("{admin_token_env} is not set"))?;
            keys_fill(url, token, workspaces, keys_per_workspace, threads, out).await
        }
    }
}

/// A record like the ones `run_query` calls leave: a user, a client, a
/// bound parameter that changes, a query hash, rows and bytes.
fn draft(i: u64) -> Draft {
    let mut d = Draft::new(
        "run_query",
        if i.is_multiple_of(50) {
            Outcome::Denied
        } else {
            Outcome::Ok
        },
    );
    d.user = Some("growth".into());
    d.key_id = Some("growthkey001".into());
    d.client = Some("conexor-growth/1".into());
    d.params = json!({"connection": "shop", "sql": "SELECT id, email FROM customers WHERE id = $1", "params": [i % 100_000]});
    d.connection = Some("shop".into());
    d.mode = Some("direct".into());
    d.query_hash = Some("8c3f0c9f2b7e1b7b1a0d7f7c4e2a9b3c5d6e7f8091a2b3c4d5e6f708192a3b4c".into());
    if d.outcome == Outcome::Ok {
        d.rows = Some(1);
        d.bytes = Some(64);
    } else {
        d.error = Some("guard.not_select: only queries are allowed".into());
    }
    d.duration_ms = i % 7;
    d
}

async fn audit_fill(
    data_dir: PathBuf,
    workspace: String,
    records: u64,
    in_flight: u64,
    interval: Interval,
) -> Result<()> {
    let store = Store::open_with(&data_dir, Durability::ProcessCrash).await?;
    let signer = conexor_server::audit::load_existing_signing_key(&data_dir)?;
    let public = signer.public();
    let stop = CancellationToken::new();
    let log = Arc::new(AuditLog::start(store.clone(), signer, interval, stop.clone()).await?);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..in_flight.max(1) {
        let (log, next, workspace) = (log.clone(), next.clone(), workspace.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= records {
                    return Ok::<(), anyhow::Error>(());
                }
                log.append(&workspace, draft(i))
                    .await
                    .context("the audit writer refused a record")?;
                if (i + 1) % 1_000_000 == 0 {
                    eprintln!(
                        "conexor-growth: {} records, {:.0} s",
                        i + 1,
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Stop the writer: it seals every chain with a checkpoint of its head.
    // Wait until that checkpoint is in the store (the writer task has no
    // handle to join).
    let head = store
        .audit_heads()
        .await?
        .into_iter()
        .find(|(w, _, _)| *w == workspace)
        .map(|(_, seq, _)| seq)
        .context("the workspace has no chain")?;
    stop.cancel();
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let sealed = store
            .last_checkpoints()
            .await?
            .into_iter()
            .any(|(w, seq, _)| w == workspace && seq == head);
        if sealed {
            break;
        }
        if Instant::now() > deadline {
            bail!("the writer did not seal the chain at seq {head}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Let the seal of other chains (if any) land before closing.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    store.close().await;
    println!(
        "{}",
        json!({"records": records, "head_seq": head, "seconds": elapsed,
               "records_per_second": records as f64 / elapsed, "pubkey": public.to_text()})
    );
    Ok(())
}

async fn keys_fill(
    url: String,
    token: String,
    workspaces: u64,
    per_workspace: u64,
    threads: usize,
    out: PathBuf,
) -> Result<()> {
    if per_workspace == 0 {
        bail!("--keys-per-workspace must be at least 1 (the workspace's admin key)");
    }
    let base = format!("{}/api/v1", url.trim_end_matches('/'));
    let http = reqwest::Client::new();
    let file = {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        o.open(&out)
            .with_context(|| format!("creating {}", out.display()))?
    };
    let file = Arc::new(std::sync::Mutex::new(std::io::BufWriter::new(file)));
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let made = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..threads.max(1) {
        let (http, base, token, next, made, file) = (
            http.clone(),
            base.clone(),
            token.clone(),
            next.clone(),
            made.clone(),
            file.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let w = next.fetch_add(1, Ordering::Relaxed);
                if w >= workspaces {
                    return Ok::<(), anyhow::Error>(());
                }
                let workspace_id = conexor_crypto::new_workspace_id();
                let wmk = conexor_crypto::Wmk::generate();
                // One PBKDF2 per key: on a blocking thread, `threads` at a time.
                let keys = {
                    let wmk = wmk.clone();
                    tokio::task::spawn_blocking(move || {
                        (0..per_workspace)
                            .map(|k| {
                                let (label, scope) = if k == 0 {
                                    ("growth admin".to_owned(), "admin")
                                } else {
                                    (format!("growth mcp {k}"), "mcp")
                                };
                                conexor_client::new_key_record(&wmk, &label, scope)
                                    .map(|(key, body)| (key, body, scope))
                            })
                            .collect::<Result<Vec<_>>>()
                    })
                    .await??
                };
                let mut lines = String::new();
                for (k, (key, body, scope)) in keys.into_iter().enumerate() {
                    let (path, bearer, body) = if k == 0 {
                        (
                            "workspaces",
                            token.clone(),
                            json!({"workspace_id": workspace_id, "name": format!("growth {w}"), "key": body}),
                        )
                    } else {
                        ("keys", admin_of(&lines)?, body)
                    };
                    let response = http
                        .post(format!("{base}/{path}"))
                        .bearer_auth(bearer)
                        .json(&body)
                        .send()
                        .await?;
                    if !response.status().is_success() {
                        bail!(
                            "POST {path}: {} {}",
                            response.status(),
                            response.text().await.unwrap_or_default()
                        );
                    }
                    lines.push_str(&format!("{workspace_id} {scope} {}\n", *key.to_text()));
                }
                file.lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .write_all(lines.as_bytes())?;
                let n = made.fetch_add(per_workspace, Ordering::Relaxed) + per_workspace;
                if n % 1000 < per_workspace {
                    eprintln!(
                        "conexor-growth: {n} keys, {:.0} s",
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    file.lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .flush()?;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"workspaces": workspaces, "keys": workspaces * per_workspace, "seconds": elapsed})
    );
    Ok(())
}

/// The admin key of the workspace being filled: the first line written for it.
fn admin_of(lines: &str) -> Result<String> {
    lines
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(2))
        .map(str::to_owned)
        .context("no admin key yet")
}

//! The agent's own audit log: every request the server sent, served or
//! refused, as one record of the same hash-chained format the server uses
//! (DESIGN §6), in `state_dir/audit.jsonl`. Each record is followed by a
//! checkpoint signed with the agent's local audit key, and both are fsynced
//! before the answer goes back, so the file verifies at any moment with
//! `conexor audit verify audit.jsonl --pubkey "$(conexor agent audit-pubkey)"`.
//!
//! Writes are grouped ([`AuditSink`]): the records of requests that finish
//! while a write is under way go out together in the next one, with one
//! checkpoint and one fsync (group commit), so concurrent requests do not
//! queue behind one fsync each. A batch holds at most the header's record
//! interval (`interval_n`), so the file keeps the interval it declares; a log
//! begun by an older agent with an interval of 1 keeps writing one record
//! per checkpoint.
//!
//! This is the evidence a security team keeps on its side of the firewall:
//! a compromised server that sends writes is refused here, and the refusal is
//! recorded here, whatever the server's own log says.

use conexor_audit::{Chain, Draft, Interval, Record, SigningKey, export};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub const FILE: &str = "audit.jsonl";
pub const KEY_FILE: &str = "audit-signing.key";

/// A checkpoint after every write (which holds at most this many records):
/// the log is verifiable at any moment.
const INTERVAL: Interval = Interval {
    records: 64,
    seconds: 0,
};

pub struct LocalAudit {
    path: PathBuf,
    file: std::fs::File,
    chain: Chain,
    key: SigningKey,
    /// Most records one write may hold: the header's record interval.
    batch_max: usize,
    /// fsync each write (power-loss durability).
    fsync: bool,
    /// The file's length after the last write (`None`: ask the file).
    len: Option<u64>,
}

/// The local audit log shared by every request, with group commit.
#[derive(Default)]
pub struct AuditSink {
    log: std::sync::Mutex<Option<LocalAudit>>,
    /// Records waiting for the next write, each with the caller to tell.
    waiting: std::sync::Mutex<Vec<(Draft, tokio::sync::oneshot::Sender<bool>)>>,
}

impl AuditSink {
    /// Opens the log of `workspace` unless one is open already.
    pub async fn open(
        self: &std::sync::Arc<Self>,
        state_dir: &Path,
        workspace: &str,
        fsync: bool,
    ) -> std::io::Result<()> {
        let sink = self.clone();
        let dir = state_dir.to_owned();
        let ws = workspace.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut slot = lock(&sink.log);
            if slot.is_none() {
                let mut log = LocalAudit::open(&dir, &ws)?;
                log.fsync = fsync;
                tracing::info!(log = %log.path().display(), "Local audit log open.");
                *slot = Some(log);
            }
            Ok(())
        })
        .await
        .map_err(other)?
    }

    /// Appends one record durably (off the async threads: it fsyncs); false
    /// when the log is not open or could not be written.
    pub async fn record(self: &std::sync::Arc<Self>, draft: Draft) -> bool {
        let (done, written) = tokio::sync::oneshot::channel();
        lock(&self.waiting).push((draft, done));
        let sink = self.clone();
        // Whoever takes the log's lock writes everything waiting by then, this
        // record included unless an earlier writer already took it.
        let _ = tokio::task::spawn_blocking(move || sink.write_waiting()).await;
        written.await.unwrap_or(false)
    }

    fn write_waiting(&self) {
        let mut slot = lock(&self.log);
        loop {
            let batch_max = slot.as_ref().map_or(usize::MAX, |log| log.batch_max);
            let batch: Vec<_> = {
                let mut waiting = lock(&self.waiting);
                let n = waiting.len().min(batch_max);
                waiting.drain(..n).collect()
            };
            if batch.is_empty() {
                return;
            }
            let (drafts, callers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let ok = match slot.as_mut() {
                Some(log) => match log.append_all(drafts) {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::error!(error = %e, "Local audit log write failed.");
                        false
                    }
                },
                None => false,
            };
            for caller in callers {
                let _ = caller.send(ok);
            }
        }
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Loads the local audit signing key, creating it (0600) on first use.
pub fn signing_key(state_dir: &Path) -> std::io::Result<SigningKey> {
    let path = state_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let mut seed = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(text.trim(), seed.as_mut()).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is damaged", path.display()),
                )
            })?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::state::create_private_dir(state_dir)?;
            let key = SigningKey::generate().map_err(|e| std::io::Error::other(e.to_string()))?;
            let text = Zeroizing::new(hex::encode(key.to_bytes().as_ref()));
            crate::state::write_private(&path, text.as_bytes())?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

impl LocalAudit {
    /// Opens (or starts) the log of `workspace` and appends a start record
    /// and a checkpoint. A log of another workspace, or one that does not
    /// parse, is moved aside (never deleted) and a new one started.
    pub fn open(state_dir: &Path, workspace: &str) -> std::io::Result<LocalAudit> {
        let key = signing_key(state_dir)?;
        let path = state_dir.join(FILE);
        let now = chrono::Utc::now();
        let resumed = match std::fs::File::open(&path) {
            Ok(f) => match scan(std::io::BufReader::new(f), workspace) {
                Some(found) => Some(found),
                None => {
                    let aside =
                        path.with_extension(format!("jsonl.{}.old", now.format("%Y%m%dT%H%M%S")));
                    tracing::warn!(log = %path.display(), moved_to = %aside.display(),
                        "Local audit log belongs to another workspace or is damaged; moved aside, starting a new one.");
                    std::fs::rename(&path, &aside)?;
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let mut out = String::new();
        let chain = match &resumed {
            Some(Scan {
                seq,
                hash,
                valid_len,
                last_is_checkpoint,
                ..
            }) => {
                file.set_len(*valid_len)?;
                let mut chain = Chain::resume(workspace, *seq, hash.clone()).map_err(other)?;
                if !last_is_checkpoint {
                    push_checkpoint(&mut out, &mut chain, &key)?;
                }
                chain
            }
            None => {
                let header = export::Header::new(workspace, &key.public(), INTERVAL, now);
                out.push_str(&export::jsonl_header(&header).map_err(other)?);
                Chain::genesis(workspace)
            }
        };
        let declared = resumed.as_ref().map_or(INTERVAL.records, |r| r.interval_n);
        let mut log = LocalAudit {
            path,
            file,
            chain,
            key,
            batch_max: usize::try_from(declared).unwrap_or(usize::MAX).max(1),
            fsync: true,
            len: None,
        };
        let start = log.chain.append_start(now).map_err(other)?;
        out.push_str(&export::jsonl_record(&start).map_err(other)?);
        push_checkpoint(&mut out, &mut log.chain, &log.key)?;
        log.write(&out)?;
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and its checkpoint, durably.
    #[cfg(test)]
    pub fn append(&mut self, draft: Draft) -> std::io::Result<Record> {
        let mut records = self.append_all(vec![draft])?;
        records.pop().ok_or_else(|| other("no record written"))
    }

    /// Appends records (at most `batch_max`, the caller's duty) and one
    /// checkpoint after them, in one write and one fsync. On failure the chain
    /// is as it was before, and nothing of the write is kept in the file.
    pub fn append_all(&mut self, drafts: Vec<Draft>) -> std::io::Result<Vec<Record>> {
        let now = chrono::Utc::now();
        let before = self.chain.clone();
        let result = (|| {
            let mut out = String::new();
            let mut records = Vec::with_capacity(drafts.len());
            for draft in drafts {
                let record = self.chain.append(draft, now).map_err(other)?;
                out.push_str(&export::jsonl_record(&record).map_err(other)?);
                records.push(record);
            }
            push_checkpoint(&mut out, &mut self.chain, &self.key)?;
            self.write(&out)?;
            Ok(records)
        })();
        if result.is_err() {
            self.chain = before;
        }
        result
    }

    fn write(&mut self, text: &str) -> std::io::Result<()> {
        let end = match self.len {
            Some(len) => len,
            None => self.file.metadata()?.len(),
        };
        let written = self.file.write_all(text.as_bytes()).and_then(|()| {
            if self.fsync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        if written.is_err() {
            // A partial write would leave records no checkpoint covers, and the
            // chain goes back to before them: cut them off again.
            let _ = self.file.set_len(end);
            self.len = None;
        } else {
            self.len = Some(end + text.len() as u64);
        }
        written
    }
}

fn push_checkpoint(out: &mut String, chain: &mut Chain, key: &SigningKey) -> std::io::Result<()> {
    let cp = chain.checkpoint(chrono::Utc::now());
    let sig = key.sign(&cp).map_err(other)?;
    out.push_str(&export::jsonl_checkpoint(&cp, &sig).map_err(other)?);
    Ok(())
}

struct Scan {
    seq: u64,
    hash: String,
    /// Bytes up to the end of the last complete line.
    valid_len: u64,
    last_is_checkpoint: bool,
    /// The header's record interval.
    interval_n: u64,
}

/// Finds the last record of an existing log; `None` when it is not a log of
/// `workspace` or a complete line does not parse.
fn scan(mut reader: impl BufRead, workspace: &str) -> Option<Scan> {
    let mut found = Scan {
        seq: 0,
        hash: conexor_audit::ZERO_HASH.to_owned(),
        valid_len: 0,
        last_is_checkpoint: true,
        interval_n: 1,
    };
    let mut line = String::new();
    let mut first = true;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).ok()?;
        if n == 0 || !line.ends_with('\n') {
            // End, or a torn last line from a crash: dropped.
            break;
        }
        let value: serde_json::Value = serde_json::from_str(&line).ok()?;
        if first {
            if value.pointer("/header/workspace")?.as_str()? != workspace {
                return None;
            }
            // 0 (no count trigger) never occurs in a log this agent wrote; read
            // it as the strictest, one record per checkpoint.
            found.interval_n = value.pointer("/header/interval_n")?.as_u64()?.max(1);
            first = false;
        } else if let Some(r) = value.get("record") {
            found.seq = r.get("seq")?.as_u64()?;
            found.hash = r.get("hash")?.as_str()?.to_owned();
            found.last_is_checkpoint = false;
        } else if value.get("checkpoint").is_some() {
            found.last_is_checkpoint = true;
        } else {
            return None;
        }
        found.valid_len += n as u64;
    }
    if first { None } else { Some(found) }
}

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use conexor_audit::{Outcome, verify};

    #[test]
    fn verifies_after_every_append_and_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let ws = "ws_AAAAAAAAAAAAAAAA";
        let mut log = LocalAudit::open(dir.path(), ws).unwrap();
        let mut d = Draft::new("agent.query", Outcome::Denied);
        d.error = Some("guard.denied_statement: refused by the SELECT-only guard".into());
        log.append(d).unwrap();
        drop(log);
        // A torn line from a crash is dropped on the next start.
        let path = dir.path().join(FILE);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"record\":{\"se")
            .unwrap();
        let mut log = LocalAudit::open(dir.path(), ws).unwrap();
        log.append(Draft::new("agent.query", Outcome::Ok)).unwrap();
        let key = signing_key(dir.path()).unwrap().public();
        let text = std::fs::read(&path).unwrap();
        let report = verify(&text[..], Some(&key)).expect("the local log verifies");
        assert_eq!(report.records, 4);
        // Another workspace's log is moved aside, not appended to.
        drop(log);
        LocalAudit::open(dir.path(), "ws_BBBBBBBBBBBBBBBB").unwrap();
        let aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".old")
            })
            .count();
        assert_eq!(aside, 1);
    }

    /// Opens the log and records `n` requests at once, each told it was written.
    async fn record_concurrently(dir: &Path, ws: &str, n: usize) {
        let sink = std::sync::Arc::new(AuditSink::default());
        sink.open(dir, ws, true).await.unwrap();
        let calls: Vec<_> = (0..n)
            .map(|_| {
                let sink = sink.clone();
                tokio::spawn(
                    async move { sink.record(Draft::new("agent.query", Outcome::Ok)).await },
                )
            })
            .collect();
        for call in calls {
            assert!(call.await.unwrap(), "a record was not written");
        }
    }

    /// Concurrent requests share writes (fewer checkpoints than records), the
    /// file verifies against the interval it declares, and every caller is
    /// told its record was written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_records_are_written_together_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let ws = "ws_AAAAAAAAAAAAAAAA";
        record_concurrently(dir.path(), ws, 200).await;
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        let checkpoints = text
            .lines()
            .filter(|l| l.starts_with("{\"checkpoint\""))
            .count();
        let records = text
            .lines()
            .filter(|l| l.starts_with("{\"record\""))
            .count();
        assert_eq!(records, 201, "the start record and 200 calls");
        assert!(
            checkpoints < records,
            "{checkpoints} checkpoints for {records} records: no write was shared"
        );
        let key = signing_key(dir.path()).unwrap().public();
        let report = verify(text.as_bytes(), Some(&key)).expect("the local log verifies");
        assert_eq!(report.records, 201);
    }

    /// A log whose header declares one record per checkpoint (older agents)
    /// keeps that rule when it is resumed, so it still verifies.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_log_declaring_one_record_per_checkpoint_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let ws = "ws_AAAAAAAAAAAAAAAA";
        drop(LocalAudit::open(dir.path(), ws).unwrap());
        let path = dir.path().join(FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mut header: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        header["header"]["interval_n"] = 1.into();
        lines[0] = header.to_string();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();

        record_concurrently(dir.path(), ws, 50).await;
        let text = std::fs::read(&path).unwrap();
        let key = signing_key(dir.path()).unwrap().public();
        let report = verify(&text[..], Some(&key)).expect("the resumed log verifies at interval 1");
        assert_eq!(report.records, 52);
    }
}

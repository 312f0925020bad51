//! The agent's own audit log: every request the server sent, served or
//! refused, as one record of the same hash-chained format the server uses
//! (DESIGN §6), in `state_dir/audit.jsonl`. A record is written (and, with
//! power-loss durability, fsynced) before the answer goes back; checkpoints
//! signed with the agent's local audit key follow, so the file verifies with
//! `conexor audit verify audit.jsonl --pubkey "$(conexor agent audit-pubkey)"`.
//!
//! Writes are grouped ([`AuditSink`]): the records of requests that finish
//! while a write is under way go out together in the next one, with one
//! fsync (group commit), so concurrent requests do not queue behind one fsync
//! each. A signature costs more than the rest of a request's work on the
//! agent (bench/RESULTS.md), so under load they are spaced: a write less than
//! [`SIGN_SPACING`] after the last checkpoint leaves its records to a
//! checkpoint signed that much later, unless the header's record interval
//! (`interval_n`) is reached first. An idle log therefore always ends with a
//! signed checkpoint (at most `SIGN_SPACING` after its last record), and so
//! does a stopped agent's; an agent killed inside that window signs the
//! unsigned tail when it starts again. The window is no weaker than the
//! signature itself: the key that signs lives beside the log, so whoever can
//! edit the log can sign it; what the signature proves is that a copy taken
//! away is unchanged. A log begun by an older agent with an interval of 1
//! keeps one record per checkpoint.
//!
//! This is the evidence a security team keeps on its side of the firewall:
//! a compromised server that sends writes is refused here, and the refusal is
//! recorded here, whatever the server's own log says.

use conexor_audit::{Chain, Draft, Interval, SigningKey, export};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub const FILE: &str = "audit.jsonl";
pub const KEY_FILE: &str = "audit-signing.key";

/// Under load, checkpoints are signed at most this often (see the module doc).
pub const SIGN_SPACING: std::time::Duration = std::time::Duration::from_millis(5);

/// At most this many records between two checkpoints.
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
    /// Records written since the last checkpoint.
    unsigned: usize,
    /// When the last checkpoint was written.
    signed_at: std::time::Instant,
}

/// The local audit log shared by every request, with group commit.
#[derive(Default)]
pub struct AuditSink {
    log: std::sync::Mutex<Option<LocalAudit>>,
    /// Records waiting for the next write, each with the caller to tell.
    waiting: std::sync::Mutex<Vec<(Draft, tokio::sync::oneshot::Sender<bool>)>>,
    /// The log does not fsync: a write is a copy into the page cache, done
    /// on the caller's thread when the log is free.
    inline: std::sync::atomic::AtomicBool,
    /// A checkpoint of the unsigned tail is scheduled.
    sign_scheduled: std::sync::atomic::AtomicBool,
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
                sink.inline
                    .store(!fsync, std::sync::atomic::Ordering::Relaxed);
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
        // Whoever takes the log's lock writes everything waiting by then, this
        // record included unless an earlier writer already took it.
        let written_here = self.inline.load(std::sync::atomic::Ordering::Relaxed)
            && match self.log.try_lock() {
                Ok(slot) => {
                    self.write_waiting_locked(slot);
                    true
                }
                Err(std::sync::TryLockError::Poisoned(p)) => {
                    self.write_waiting_locked(p.into_inner());
                    true
                }
                // Busy: a blocking thread waits for it (the writer may be
                // finishing without seeing this record).
                Err(std::sync::TryLockError::WouldBlock) => false,
            };
        if !written_here {
            let sink = self.clone();
            let _ = tokio::task::spawn_blocking(move || sink.write_waiting()).await;
        }
        written.await.unwrap_or(false)
    }

    /// Signs the unsigned tail, if any (a stopping agent leaves a log that
    /// ends with a checkpoint).
    pub async fn close(self: &std::sync::Arc<Self>) {
        let sink = self.clone();
        let _ = tokio::task::spawn_blocking(move || sink.sign_head()).await;
    }

    fn write_waiting(self: &std::sync::Arc<Self>) {
        self.write_waiting_locked(lock(&self.log));
    }

    fn write_waiting_locked(
        self: &std::sync::Arc<Self>,
        mut slot: std::sync::MutexGuard<'_, Option<LocalAudit>>,
    ) {
        loop {
            let room = slot.as_ref().map_or(usize::MAX, LocalAudit::room);
            let batch: Vec<_> = {
                let mut waiting = lock(&self.waiting);
                let n = waiting.len().min(room);
                waiting.drain(..n).collect()
            };
            if batch.is_empty() {
                return;
            }
            let (drafts, callers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let ok = match slot.as_mut() {
                Some(log) => match log.append_batch(drafts, true) {
                    Ok(signed) => {
                        if !signed {
                            self.schedule_sign();
                        }
                        true
                    }
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

impl AuditSink {
    /// Signs the unsigned tail `SIGN_SPACING` from now (once, however many
    /// writes leave records unsigned meanwhile). Called with the log's lock
    /// held, as [`AuditSink::sign_head`] clears the flag under it.
    fn schedule_sign(self: &std::sync::Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.sign_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let sink = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    tokio::time::sleep(SIGN_SPACING).await;
                    let _ = tokio::task::spawn_blocking(move || sink.sign_head()).await;
                });
            }
            // No runtime to wait on (not the agent's case): the next write,
            // or `close`, signs it.
            Err(_) => self.sign_scheduled.store(false, Ordering::Release),
        }
    }

    fn sign_head(&self) {
        let mut slot = lock(&self.log);
        self.sign_scheduled
            .store(false, std::sync::atomic::Ordering::Release);
        if let Some(log) = slot.as_mut()
            && let Err(e) = log.sign_head()
        {
            tracing::error!(error = %e, "Local audit log checkpoint failed; the next write signs again.");
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
            unsigned: 0,
            signed_at: std::time::Instant::now(),
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

    /// Appends one record and its checkpoint.
    #[cfg(test)]
    pub fn append(&mut self, draft: Draft) -> std::io::Result<()> {
        self.append_batch(vec![draft], false).map(drop)
    }

    /// Records one write may hold without passing the header's interval.
    fn room(&self) -> usize {
        self.batch_max.saturating_sub(self.unsigned).max(1)
    }

    /// Appends records (at most [`LocalAudit::room`], the caller's duty) and
    /// a checkpoint after them, in one write and one fsync; when `may_defer`,
    /// the checkpoint is left out if the last one is less than
    /// [`SIGN_SPACING`] old and the interval leaves room. Returns whether the
    /// log now ends with a checkpoint. On failure the chain is as it was
    /// before, and nothing of the write is kept in the file.
    fn append_batch(&mut self, drafts: Vec<Draft>, may_defer: bool) -> std::io::Result<bool> {
        let now = chrono::Utc::now();
        let before = self.chain.clone();
        let n = drafts.len();
        let result = (|| {
            let mut out = String::new();
            for draft in drafts {
                let record = self.chain.append(draft, now).map_err(other)?;
                out.push_str(&export::jsonl_record(&record).map_err(other)?);
            }
            let sign = !may_defer
                || self.unsigned + n >= self.batch_max
                || self.signed_at.elapsed() >= SIGN_SPACING;
            if sign {
                push_checkpoint(&mut out, &mut self.chain, &self.key)?;
            }
            self.write(&out)?;
            Ok(sign)
        })();
        match result {
            Ok(true) => {
                self.unsigned = 0;
                self.signed_at = std::time::Instant::now();
            }
            Ok(false) => self.unsigned += n,
            Err(_) => self.chain = before,
        }
        result
    }

    /// Writes a checkpoint of the head if records follow the last one.
    fn sign_head(&mut self) -> std::io::Result<()> {
        if self.unsigned == 0 {
            return Ok(());
        }
        let before = self.chain.clone();
        let mut out = String::new();
        let written =
            push_checkpoint(&mut out, &mut self.chain, &self.key).and_then(|()| self.write(&out));
        match written {
            Ok(()) => {
                self.unsigned = 0;
                self.signed_at = std::time::Instant::now();
            }
            Err(_) => self.chain = before,
        }
        written
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
    async fn record_concurrently(dir: &Path, ws: &str, n: usize, fsync: bool) {
        let sink = std::sync::Arc::new(AuditSink::default());
        sink.open(dir, ws, fsync).await.unwrap();
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
        // As a stopping agent does.
        sink.close().await;
    }

    /// Under load checkpoints are spaced, and the timer signs the tail: an
    /// idle log ends with a checkpoint without anyone closing it, and holds
    /// fewer checkpoints than records.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spaced_checkpoints_still_cover_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let ws = "ws_AAAAAAAAAAAAAAAA";
        let sink = std::sync::Arc::new(AuditSink::default());
        sink.open(dir.path(), ws, false).await.unwrap();
        for _ in 0..100 {
            assert!(sink.record(Draft::new("agent.query", Outcome::Ok)).await);
        }
        tokio::time::sleep(SIGN_SPACING * 20).await;
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        let checkpoints = text
            .lines()
            .filter(|l| l.starts_with("{\"checkpoint\""))
            .count();
        let key = signing_key(dir.path()).unwrap().public();
        let report = verify(text.as_bytes(), Some(&key))
            .expect("the idle log ends with a checkpoint and verifies");
        assert_eq!(report.records, 101);
        assert!(
            checkpoints < 100,
            "{checkpoints} checkpoints for 100 quick records"
        );
    }

    /// Concurrent requests share writes (fewer checkpoints than records), the
    /// file verifies against the interval it declares, and every caller is
    /// told its record was written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_records_are_written_together_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let ws = "ws_AAAAAAAAAAAAAAAA";
        record_concurrently(dir.path(), ws, 200, true).await;
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

    /// Without fsync a record is written on the caller's thread when the log
    /// is free, and by a blocking thread when it is busy: every caller is
    /// told, nothing is lost or written twice, and the file verifies.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_written_inline_or_handed_off_all_land_once() {
        let dir = tempfile::tempdir().unwrap();
        let ws = "ws_AAAAAAAAAAAAAAAA";
        record_concurrently(dir.path(), ws, 300, false).await;
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        let key = signing_key(dir.path()).unwrap().public();
        let report = verify(text.as_bytes(), Some(&key)).expect("the local log verifies");
        assert_eq!(
            report.records, 301,
            "the start record and 300 calls, once each"
        );
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

        record_concurrently(dir.path(), ws, 50, true).await;
        let text = std::fs::read(&path).unwrap();
        let key = signing_key(dir.path()).unwrap().public();
        let report = verify(&text[..], Some(&key)).expect("the resumed log verifies at interval 1");
        assert_eq!(report.records, 52);
    }
}

//! The audit writer: one task that owns every workspace's chain, turns the
//! gateway's drafts into linked records, writes them durably in batches
//! (group commit: all drafts waiting when a write starts go into one
//! transaction), and only then releases the callers — record durable first,
//! answer second. It also signs checkpoints every N records and every T
//! seconds, even when idle.
//!
//! The time guarantee (what the verifier checks, exactly): a chain's next
//! checkpoint is never dated more than T after its previous one, and no
//! record is dated more than T after the last checkpoint. Each chain is
//! scheduled from its own last checkpoint (the timer wakes a little before
//! the deadline). When the writer is late all the same (a slow commit, a
//! stalled task), it signs the missed checkpoints dated at their deadlines:
//! the writer is the only one that appends, and it appended nothing since,
//! so "the head was this at that time" is true. Records are dated when
//! their batch starts, after those catch-up checkpoints.
//!
//! When a batch cannot be written, every caller in it gets an error (the
//! gateway then answers with no rows) and the chains are rebuilt from what
//! the store holds, so the next record links to a durable one.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use conexor_audit::{Chain, Checkpoint, Draft, Interval, PublicKey, Record, SigningKey};
use conexor_store::{Store, StoredCheckpoint, StoredRecord};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Most drafts written in one transaction.
const MAX_BATCH: usize = 512;

#[derive(Debug, thiserror::Error)]
#[error("the audit log could not record this call")]
pub struct AuditError;

struct Job {
    workspace: String,
    draft: Draft,
    reply: oneshot::Sender<Result<Record, AuditError>>,
}

/// The handle the rest of the server uses.
pub struct AuditLog {
    jobs: mpsc::Sender<Job>,
    signer: Arc<SigningKey>,
    interval: Interval,
}

impl AuditLog {
    /// Starts the writer. Every chain already in the store is resumed with a
    /// start record and a checkpoint, so a restart is visible in the chain.
    pub async fn start(
        store: Store,
        signer: SigningKey,
        interval: Interval,
        stop: CancellationToken,
    ) -> anyhow::Result<AuditLog> {
        let signer = Arc::new(signer);
        let (jobs, rx) = mpsc::channel(4096);
        let mut writer = Writer {
            store,
            signer: signer.clone(),
            interval,
            chains: HashMap::new(),
        };
        writer.resume_all().await?;
        tokio::spawn(writer.run(rx, stop));
        Ok(AuditLog {
            jobs,
            signer,
            interval,
        })
    }

    /// Records one call durably; returns only after the record is committed.
    pub async fn append(&self, workspace: &str, draft: Draft) -> Result<Record, AuditError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                workspace: workspace.to_owned(),
                draft,
                reply,
            })
            .await
            .map_err(|_| AuditError)?;
        answer.await.map_err(|_| AuditError)?
    }

    pub fn public_key(&self) -> PublicKey {
        self.signer.public()
    }

    pub fn interval(&self) -> Interval {
        self.interval
    }

    /// Signs a checkpoint of `seq`/`hash` now (the head line of an export).
    pub fn sign_head(
        &self,
        workspace: &str,
        seq: u64,
        hash: &str,
    ) -> Result<(Checkpoint, String), AuditError> {
        let checkpoint = Checkpoint::new(workspace.to_owned(), seq, hash.to_owned(), Utc::now());
        let sig = self.signer.sign(&checkpoint).map_err(|_| AuditError)?;
        Ok((checkpoint, sig))
    }
}

struct Writer {
    store: Store,
    signer: Arc<SigningKey>,
    interval: Interval,
    chains: HashMap<String, Chain>,
}

impl Writer {
    async fn resume_all(&mut self) -> anyhow::Result<()> {
        for (workspace, seq, hash) in self.store.audit_heads().await? {
            let mut chain = Chain::resume(workspace.clone(), seq, hash)?;
            let now = now_ms();
            let start = chain.append_start(now)?;
            self.store.append_audit(&[stored(&start)?]).await?;
            self.checkpoint(&mut chain, now, true).await;
            self.chains.insert(workspace, chain);
        }
        Ok(())
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Job>, stop: CancellationToken) {
        loop {
            let wake = self.next_wake();
            tokio::select! {
                job = rx.recv() => {
                    let Some(first) = job else { break };
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    self.write(batch).await;
                }
                _ = tokio::time::sleep_until(wake) => self.checkpoint_due().await,
                _ = stop.cancelled() => break,
            }
        }
        // Seal every chain on the way out.
        let now = now_ms();
        let names: Vec<String> = self.chains.keys().cloned().collect();
        for name in names {
            if let Some(mut chain) = self.chains.remove(&name) {
                self.checkpoint(&mut chain, now, true).await;
            }
        }
    }

    /// When the timer must look at the chains again: a little before the
    /// earliest time checkpoint deadline (at once for a chain without a
    /// checkpoint), at least 10 ms from now (no busy loop when the store
    /// fails), at most an hour.
    fn next_wake(&self) -> tokio::time::Instant {
        let now = Utc::now();
        let earliest = self
            .chains
            .values()
            .filter_map(|c| match c.last_checkpoint() {
                None => Some(now),
                Some(_) => due_at(c, self.interval),
            })
            .min();
        let wait = earliest
            .map(|at| at.signed_duration_since(now).to_std().unwrap_or_default())
            .unwrap_or(Duration::from_secs(3600))
            .clamp(Duration::from_millis(10), Duration::from_secs(3600));
        tokio::time::Instant::now() + wait
    }

    async fn chain(&mut self, workspace: &str) -> Option<&mut Chain> {
        if !self.chains.contains_key(workspace) {
            // A workspace whose chain was never loaded: its first record ever.
            self.chains
                .insert(workspace.to_owned(), Chain::genesis(workspace.to_owned()));
        }
        self.chains.get_mut(workspace)
    }

    async fn write(&mut self, batch: Vec<Job>) {
        let now = now_ms();
        let mut before: HashMap<String, Chain> = HashMap::new();
        let mut rows = Vec::with_capacity(batch.len());
        let mut checkpoints = Vec::new();
        let mut done = Vec::with_capacity(batch.len());
        let interval = self.interval;
        let signer = self.signer.clone();
        for job in batch {
            let Some(chain) = self.chain(&job.workspace).await else {
                let _ = job.reply.send(Err(AuditError));
                continue;
            };
            if !before.contains_key(&job.workspace) {
                before.insert(job.workspace.clone(), chain.clone());
                // Checkpoints missed while the writer was busy, dated at
                // their deadlines, before this batch's records.
                checkpoints.extend(time_checkpoints(&signer, chain, interval, now, false));
            }
            match chain
                .append(job.draft, now)
                .map_err(|_| AuditError)
                .and_then(|r| stored(&r).map(|s| (r, s)).map_err(|_| AuditError))
            {
                Ok((record, row)) => {
                    rows.push(row);
                    done.push((job.reply, record));
                    // Signed right after the record that makes it due, and
                    // committed with it: a batch never carries a chain past N.
                    if chain.checkpoint_due(interval, now)
                        && let Some(cp) = signed_checkpoint(&signer, chain, now)
                    {
                        checkpoints.push(cp);
                    }
                }
                Err(e) => {
                    let _ = job.reply.send(Err(e));
                }
            }
        }
        match self
            .store
            .append_audit_with_checkpoints(&rows, &checkpoints)
            .await
        {
            Ok(()) => {
                for (reply, record) in done {
                    let _ = reply.send(Ok(record));
                }
            }
            Err(error) => {
                tracing::error!(error = %error, records = rows.len(), "Audit write failed; calls refused.");
                for (name, chain) in before {
                    self.chains.insert(name, chain);
                }
                for (reply, _) in done {
                    let _ = reply.send(Err(AuditError));
                }
            }
        }
    }

    /// The timer: every chain whose deadline is near gets its time
    /// checkpoint (dated now, or at the deadline when the writer is late).
    async fn checkpoint_due(&mut self) {
        let now = now_ms();
        let interval = self.interval;
        let due: Vec<String> = self
            .chains
            .iter()
            .filter(|(_, c)| c.last_checkpoint().is_none() || due_at(c, interval) <= Some(now))
            .map(|(k, _)| k.clone())
            .collect();
        for name in due {
            if let Some(mut chain) = self.chains.remove(&name) {
                self.checkpoint(&mut chain, now, true).await;
                self.chains.insert(name, chain);
            }
        }
    }

    /// Signs and stores the time checkpoints of `chain` up to `now` (see
    /// [`time_checkpoints`]); when they cannot be stored, the chain keeps
    /// its previous checkpoint time, so the next attempt is still on time.
    async fn checkpoint(&self, chain: &mut Chain, now: DateTime<Utc>, at_now: bool) {
        let before = chain.clone();
        let rows = time_checkpoints(&self.signer, chain, self.interval, now, at_now);
        if rows.is_empty() {
            return;
        }
        if let Err(error) = self.store.append_audit_with_checkpoints(&[], &rows).await {
            tracing::error!(error = %error, "Storing a checkpoint failed.");
            *chain = before;
        }
    }
}

/// The current time to the millisecond (what records and checkpoints carry),
/// so that deadlines computed from a stored time are exact.
fn now_ms() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// When the timer should sign `chain`'s next time checkpoint: a little
/// before its deadline (T after the last checkpoint), to be on time despite
/// timer and commit latency. `None` without a time trigger or checkpoint.
fn due_at(chain: &Chain, interval: Interval) -> Option<DateTime<Utc>> {
    let deadline = deadline(chain, interval)?;
    let t_ms = i64::try_from(interval.seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    Some(deadline - TimeDelta::milliseconds((t_ms / 10).min(200)))
}

/// T after the chain's last checkpoint.
fn deadline(chain: &Chain, interval: Interval) -> Option<DateTime<Utc>> {
    if interval.seconds == 0 {
        return None;
    }
    let t = TimeDelta::try_seconds(i64::try_from(interval.seconds).ok()?)?;
    chain.last_checkpoint()?.checked_add_signed(t)
}

/// The checkpoints that keep `chain`'s time guarantee up to `now`: one dated
/// at each deadline `now` has already passed (nothing was appended since the
/// last checkpoint, so each states the head truthfully at that time), then,
/// when `at_now`, one dated `now` (never before the last checkpoint, should
/// the clock step back).
fn time_checkpoints(
    signer: &SigningKey,
    chain: &mut Chain,
    interval: Interval,
    now: DateTime<Utc>,
    at_now: bool,
) -> Vec<StoredCheckpoint> {
    let mut out = Vec::new();
    while let Some(at) = deadline(chain, interval).filter(|d| *d < now) {
        match signed_checkpoint(signer, chain, at) {
            Some(cp) => out.push(cp),
            None => return out,
        }
    }
    if at_now {
        let at = chain.last_checkpoint().map_or(now, |last| now.max(last));
        out.extend(signed_checkpoint(signer, chain, at));
    }
    out
}

/// The chain's head checkpoint, signed, as a store row (resets the chain's
/// "due" counters).
fn signed_checkpoint(
    signer: &SigningKey,
    chain: &mut Chain,
    ts: DateTime<Utc>,
) -> Option<StoredCheckpoint> {
    let checkpoint = Checkpoint::new(chain.workspace(), chain.seq(), chain.head_hash(), ts);
    let sig = match signer.sign(&checkpoint) {
        Ok(sig) => sig,
        Err(error) => {
            tracing::error!(error = %error, "Signing a checkpoint failed.");
            return None;
        }
    };
    chain.checkpoint(ts);
    Some(StoredCheckpoint {
        workspace_id: checkpoint.workspace.clone(),
        seq: checkpoint.seq,
        ts: checkpoint.ts.clone(),
        hash: checkpoint.hash.clone(),
        sig,
    })
}

fn stored(record: &Record) -> Result<StoredRecord, conexor_audit::Error> {
    Ok(StoredRecord {
        workspace_id: record.workspace.clone(),
        seq: record.seq,
        ts: record.ts.clone(),
        tool: record.tool.clone(),
        key_id: record.key_id.clone(),
        outcome: record.outcome.as_str().to_owned(),
        hash: record.hash.clone(),
        record: serde_json::to_string(record)?,
    })
}

/// The deployment's checkpoint signing key: `CONEXOR_AUDIT_SIGNING_KEY`
/// (64 hex characters) or the file `audit-signing.key` in the data directory
/// (created 0600 at first start) — never a row of the store.
pub fn load_signing_key(data_dir: &Path, from_env: Option<&str>) -> anyhow::Result<SigningKey> {
    let parse = |text: &str| -> anyhow::Result<SigningKey> {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), &mut seed[..])
            .map_err(|_| anyhow::anyhow!("the audit signing key must be 64 hex characters"))?;
        Ok(SigningKey::from_bytes(&seed))
    };
    if let Some(text) = from_env {
        return parse(text);
    }
    let path = data_dir.join("audit-signing.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SigningKey::generate()?;
            let text = zeroize::Zeroizing::new(hex::encode(key.to_bytes().as_slice()));
            write_private(&path, text.as_bytes())?;
            Ok(key)
        }
        Err(e) => Err(anyhow::anyhow!("reading {}: {e}", path.display())),
    }
}

/// Reads the signing key of a data directory without creating one.
pub fn load_existing_signing_key(data_dir: &Path) -> anyhow::Result<SigningKey> {
    let path = data_dir.join("audit-signing.key");
    if !path.exists() {
        anyhow::bail!(
            "{} does not exist: the server has not started on this data directory",
            path.display()
        );
    }
    load_signing_key(data_dir, None)
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

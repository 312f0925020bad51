//! The chain state of one workspace: the next sequence number, the last
//! hash, and when the next checkpoint is due.
//!
//! What it does: turns a [`Draft`] into the next linked [`Record`], makes
//! the head [`Checkpoint`] to sign, and says when a checkpoint is due (every
//! `N` records and every `T` seconds, even when idle).
//!
//! What it does not do: it stores nothing and signs nothing. `append`
//! advances the state before the record is durable: when the caller cannot
//! store a record (or a batch of them), it must rebuild the chain with
//! [`Chain::resume`] from the last record the store holds, or the next record
//! will link to one that does not exist.

use crate::record::{Draft, Outcome, Record, ZERO_HASH, ensure_i_json, record_hash};
use crate::sign::Checkpoint;
use crate::{Error, format_ts, is_hash_hex};
use chrono::{DateTime, Utc};

/// The tool name of the record the server appends every time it starts (or
/// resumes a chain), before anything else and followed at once by a
/// checkpoint. The verifier accepts a time gap longer than the checkpoint
/// interval only right before such a record: a restart is visible in the
/// chain instead of being a silent gap.
pub const START_TOOL: &str = "admin.start";

/// How often checkpoints are signed: after every `records` records and every
/// `seconds` seconds since the last checkpoint, whichever comes first. Zero
/// turns that trigger off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    /// Records between checkpoints (N).
    pub records: u64,
    /// Seconds between checkpoints (T).
    pub seconds: u64,
}

/// The chain state of one workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    workspace: String,
    seq: u64,
    hash: String,
    since_checkpoint: u64,
    last_checkpoint: Option<DateTime<Utc>>,
}

impl Chain {
    /// An empty chain: the first record will be seq 1 with
    /// `prev_hash` = [`ZERO_HASH`].
    pub fn genesis(workspace: impl Into<String>) -> Chain {
        Chain {
            workspace: workspace.into(),
            seq: 0,
            hash: ZERO_HASH.to_owned(),
            since_checkpoint: 0,
            last_checkpoint: None,
        }
    }

    /// A chain whose last durable record is `last_seq` with `last_hash`
    /// (`0` and [`ZERO_HASH`] for an empty chain). A checkpoint is due at
    /// once; the server should append a [`START_TOOL`] record first.
    pub fn resume(
        workspace: impl Into<String>,
        last_seq: u64,
        last_hash: impl Into<String>,
    ) -> Result<Chain, Error> {
        let hash = last_hash.into();
        if !is_hash_hex(&hash) {
            return Err(Error::InvalidHash);
        }
        Ok(Chain {
            workspace: workspace.into(),
            seq: last_seq,
            hash,
            since_checkpoint: 0,
            last_checkpoint: None,
        })
    }

    /// The workspace this chain belongs to.
    pub fn workspace(&self) -> &str {
        &self.workspace
    }

    /// The last record's seq (0 for an empty chain).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The last record's hash ([`ZERO_HASH`] for an empty chain).
    pub fn head_hash(&self) -> &str {
        &self.hash
    }

    /// Links the next record and advances the chain. `ts` is stored as UTC
    /// RFC 3339 with milliseconds. `params` passes through
    /// [`ensure_i_json`]; empty optional strings become `null`.
    pub fn append(&mut self, draft: Draft, ts: DateTime<Utc>) -> Result<Record, Error> {
        let seq = self.seq.checked_add(1).ok_or(Error::SeqOverflow)?;
        let mut record = Record {
            seq,
            ts: format_ts(ts),
            workspace: self.workspace.clone(),
            user: non_empty(draft.user),
            key_id: non_empty(draft.key_id),
            client: non_empty(draft.client),
            model: non_empty(draft.model),
            tool: draft.tool,
            params: ensure_i_json(draft.params),
            connection: non_empty(draft.connection),
            mode: non_empty(draft.mode),
            query_hash: non_empty(draft.query_hash),
            rows: draft.rows,
            bytes: draft.bytes,
            duration_ms: draft.duration_ms,
            outcome: draft.outcome,
            error: non_empty(draft.error),
            prev_hash: self.hash.clone(),
            hash: String::new(),
        };
        record.hash = record_hash(&record)?;
        self.seq = seq;
        self.hash.clone_from(&record.hash);
        self.since_checkpoint = self.since_checkpoint.saturating_add(1);
        Ok(record)
    }

    /// Appends the [`START_TOOL`] record (outcome ok, nothing else known).
    pub fn append_start(&mut self, ts: DateTime<Utc>) -> Result<Record, Error> {
        self.append(Draft::new(START_TOOL, Outcome::Ok), ts)
    }

    /// When the last checkpoint was made (`None` since [`Chain::genesis`] or
    /// [`Chain::resume`] until the first one). A writer that keeps the time
    /// rule signs the next one no later than this plus `interval.seconds`.
    pub fn last_checkpoint(&self) -> Option<DateTime<Utc>> {
        self.last_checkpoint
    }

    /// The checkpoint of the current head at `ts`, to be signed and stored
    /// after the records it covers; resets the "due" counters.
    pub fn checkpoint(&mut self, ts: DateTime<Utc>) -> Checkpoint {
        self.since_checkpoint = 0;
        self.last_checkpoint = Some(ts);
        Checkpoint::new(self.workspace.clone(), self.seq, self.hash.clone(), ts)
    }

    /// True when a checkpoint is due at `now`: `interval.records` records
    /// since the last one, or `interval.seconds` elapsed since it, or no
    /// checkpoint yet since [`Chain::genesis`] or [`Chain::resume`]. Call it
    /// after every append and on a timer.
    pub fn checkpoint_due(&self, interval: Interval, now: DateTime<Utc>) -> bool {
        let Some(last) = self.last_checkpoint else {
            return true;
        };
        if interval.records > 0 && self.since_checkpoint >= interval.records {
            return true;
        }
        if interval.seconds > 0 {
            let elapsed = now.signed_duration_since(last).num_milliseconds();
            let limit = i64::try_from(interval.seconds)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000);
            return elapsed >= limit;
        }
        false
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn records_link_and_resume_continues_the_same_chain() {
        let mut a = Chain::genesis("ws_A");
        let r1 = a.append(Draft::new("query", Outcome::Ok), t(0));
        let r1 = r1.ok().unwrap_or_else(|| panic!("append"));
        assert_eq!((r1.seq, r1.prev_hash.as_str()), (1, ZERO_HASH));
        assert_eq!(record_hash(&r1).ok(), Some(r1.hash.clone()));
        let mut b = Chain::resume("ws_A", 1, r1.hash.clone()).unwrap_or_else(|_| panic!("resume"));
        let r2a = a.append(Draft::new("query", Outcome::Denied), t(1)).ok();
        let r2b = b.append(Draft::new("query", Outcome::Denied), t(1)).ok();
        assert_eq!(r2a, r2b);
        assert_eq!(r2a.map(|r| r.prev_hash), Some(r1.hash));
        assert!(Chain::resume("ws_A", 1, "ABC").is_err());
    }

    #[test]
    fn empty_strings_become_null() {
        let mut c = Chain::genesis("ws_A");
        let mut d = Draft::new("query", Outcome::Ok);
        d.user = Some(String::new());
        let r = c.append(d, t(0)).ok();
        assert_eq!(r.and_then(|r| r.user), None);
    }

    #[test]
    fn checkpoints_are_due_by_count_by_time_and_at_start() {
        let iv = Interval {
            records: 3,
            seconds: 60,
        };
        let mut c = Chain::genesis("ws_A");
        assert!(c.checkpoint_due(iv, t(0)));
        let cp = c.checkpoint(t(0));
        assert_eq!((cp.seq, cp.hash.as_str()), (0, ZERO_HASH));
        for i in 0..2 {
            let _ = c.append(Draft::new("q", Outcome::Ok), t(i));
        }
        assert!(!c.checkpoint_due(iv, t(2)));
        let _ = c.append(Draft::new("q", Outcome::Ok), t(3));
        assert!(c.checkpoint_due(iv, t(3)));
        let _ = c.checkpoint(t(3));
        assert!(!c.checkpoint_due(iv, t(62)));
        assert!(c.checkpoint_due(iv, t(63)));
    }
}

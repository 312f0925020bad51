//! Append-only storage of the audit chain: records and signed checkpoints.
//!
//! The store itself refuses `UPDATE` and `DELETE` on both tables (triggers),
//! so a bug or a hand-run statement cannot rewrite history through SQL; the
//! hash chain and the signatures make any edit of the file visible to an
//! offline verifier. Records are written in batches (one transaction per
//! batch: group commit) by the server's audit writer.

use crate::{Result, Store};
use sqlx::Row;

pub(crate) const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS audit_records (
        workspace_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts TEXT NOT NULL,
        tool TEXT NOT NULL,
        key_id TEXT,
        outcome TEXT NOT NULL,
        hash TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (workspace_id, seq)
    ) STRICT",
    "CREATE TRIGGER IF NOT EXISTS audit_records_no_update BEFORE UPDATE ON audit_records
     BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_records_no_delete BEFORE DELETE ON audit_records
     BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
    "CREATE TABLE IF NOT EXISTS audit_checkpoints (
        workspace_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts TEXT NOT NULL,
        hash TEXT NOT NULL,
        sig TEXT NOT NULL,
        PRIMARY KEY (workspace_id, seq, ts)
    ) STRICT",
    "CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
     BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
     BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END",
];

/// One record as stored: the indexed columns and the canonical JSON.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub workspace_id: String,
    pub seq: u64,
    pub ts: String,
    pub tool: String,
    pub key_id: Option<String>,
    pub outcome: String,
    pub hash: String,
    /// The whole record as JSON (with its hash).
    pub record: String,
}

#[derive(Debug, Clone)]
pub struct StoredCheckpoint {
    pub workspace_id: String,
    pub seq: u64,
    pub ts: String,
    pub hash: String,
    pub sig: String,
}

/// Either kind of audit row, in chain order.
#[derive(Debug, Clone)]
pub enum AuditRow {
    Record(StoredRecord),
    Checkpoint(StoredCheckpoint),
}

/// The audit's writes, on a session of their own: the whole batch (`BEGIN
/// IMMEDIATE`, the records, the checkpoints, `COMMIT`) is one statement list
/// sent to SQLite's thread in one hand-off. Through the pool it was five
/// (a ping as the session is lent, BEGIN, INSERT, COMMIT, a ping as it
/// returns), each a wake-up of that thread and of the caller: under load,
/// that thread was an eighth of the machine.
pub(crate) struct Appender {
    options: sqlx::sqlite::SqliteConnectOptions,
    session: tokio::sync::Mutex<Option<sqlx::SqliteConnection>>,
}

impl Appender {
    pub(crate) fn new(options: sqlx::sqlite::SqliteConnectOptions) -> Appender {
        Appender {
            options,
            session: tokio::sync::Mutex::new(None),
        }
    }

    pub(crate) async fn close(&self) {
        if let Some(session) = self.session.lock().await.take() {
            let _ = sqlx::Connection::close(session).await;
        }
    }

    async fn append(
        &self,
        records: &[StoredRecord],
        checkpoints: &[StoredCheckpoint],
    ) -> Result<()> {
        use sqlx::{ConnectOptions, Executor};
        let mut slot = self.session.lock().await;
        let session = match slot.as_mut() {
            Some(session) => session,
            None => slot.insert(self.options.connect().await?),
        };
        // 8 bound values a record and 5 a checkpoint; SQLite allows 32766 in one
        // statement, so records go in statements of at most 1000.
        let mut batch = sqlx::QueryBuilder::<sqlx::Sqlite>::new("BEGIN IMMEDIATE;");
        for chunk in records.chunks(1000) {
            batch.push(
                " INSERT INTO audit_records (workspace_id, seq, ts, tool, key_id, outcome, hash, record) ",
            );
            batch.push_values(chunk, |mut row, r| {
                row.push_bind(&r.workspace_id)
                    .push_bind(r.seq as i64)
                    .push_bind(&r.ts)
                    .push_bind(&r.tool)
                    .push_bind(&r.key_id)
                    .push_bind(&r.outcome)
                    .push_bind(&r.hash)
                    .push_bind(&r.record);
            });
            batch.push(";");
        }
        for chunk in checkpoints.chunks(1000) {
            batch.push(
                " INSERT OR IGNORE INTO audit_checkpoints (workspace_id, seq, ts, hash, sig) ",
            );
            batch.push_values(chunk, |mut row, c| {
                row.push_bind(&c.workspace_id)
                    .push_bind(c.seq as i64)
                    .push_bind(&c.ts)
                    .push_bind(&c.hash)
                    .push_bind(&c.sig);
            });
            batch.push(";");
        }
        batch.push(" COMMIT;");
        let written = batch.build().execute(&mut *session).await;
        if let Err(error) = written {
            // Whatever ran of the list is undone; a session that cannot roll back
            // is dropped, and the next batch opens a new one.
            if session.execute("ROLLBACK").await.is_err() {
                *slot = None;
            }
            return Err(error.into());
        }
        Ok(())
    }
}

impl Store {
    /// Appends a batch of records (any workspaces) in one transaction.
    pub async fn append_audit(&self, records: &[StoredRecord]) -> Result<()> {
        self.append_audit_with_checkpoints(records, &[]).await
    }

    /// Appends records and the checkpoints that cover them in one
    /// transaction: a crash never keeps records whose due checkpoint is lost.
    pub async fn append_audit_with_checkpoints(
        &self,
        records: &[StoredRecord],
        checkpoints: &[StoredCheckpoint],
    ) -> Result<()> {
        if records.is_empty() && checkpoints.is_empty() {
            return Ok(());
        }
        self.appender.append(records, checkpoints).await
    }

    pub async fn append_checkpoint(&self, c: &StoredCheckpoint) -> Result<()> {
        self.append_audit_with_checkpoints(&[], std::slice::from_ref(c))
            .await
    }

    /// The last record of every workspace's chain: (workspace, seq, hash).
    pub async fn audit_heads(&self) -> Result<Vec<(String, u64, String)>> {
        let rows = sqlx::query(
            "SELECT r.workspace_id, r.seq, r.hash FROM audit_records r
             JOIN (SELECT workspace_id, MAX(seq) AS seq FROM audit_records GROUP BY workspace_id) m
               ON m.workspace_id = r.workspace_id AND m.seq = r.seq",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get::<i64, _>(1)? as u64, r.try_get(2)?)))
            .collect()
    }

    /// The latest checkpoint of every workspace: (workspace, seq, ts).
    pub async fn last_checkpoints(&self) -> Result<Vec<(String, u64, String)>> {
        let rows = sqlx::query(
            "SELECT workspace_id, seq, MAX(ts) FROM audit_checkpoints c
             WHERE seq = (SELECT MAX(seq) FROM audit_checkpoints d WHERE d.workspace_id = c.workspace_id)
             GROUP BY workspace_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get::<i64, _>(1)? as u64, r.try_get(2)?)))
            .collect()
    }

    /// The first seq of a workspace's records at or after `ts` (RFC 3339).
    pub async fn audit_first_seq_since(&self, workspace: &str, ts: &str) -> Result<Option<u64>> {
        let seq: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(seq) FROM audit_records WHERE workspace_id = ? AND ts >= ?",
        )
        .bind(workspace)
        .bind(ts)
        .fetch_one(&self.pool)
        .await?;
        Ok(seq.map(|s| s as u64))
    }

    /// The hash of one record, and the last seq of the workspace's chain.
    pub async fn audit_hash_at(&self, workspace: &str, seq: u64) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT hash FROM audit_records WHERE workspace_id = ? AND seq = ?")
                .bind(workspace)
                .bind(seq as i64)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn audit_last_seq(&self, workspace: &str) -> Result<u64> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM audit_records WHERE workspace_id = ?")
                .bind(workspace)
                .fetch_one(&self.pool)
                .await?;
        Ok(seq.unwrap_or(0) as u64)
    }

    /// A workspace's records newest first, before `before_seq` (all when
    /// none), at most `limit`, optionally of one tool and one outcome: the
    /// dashboard's listing (the export streams in chain order instead).
    pub async fn audit_records_before(
        &self,
        workspace: &str,
        before_seq: Option<u64>,
        limit: u32,
        filter: RecordFilter<'_>,
    ) -> Result<Vec<StoredRecord>> {
        // `ts` is always `format_ts`'s spelling (UTC, milliseconds, `Z`), so
        // text order is time order.
        let rows = sqlx::query(
            "SELECT workspace_id, seq, ts, tool, key_id, outcome, hash, record FROM audit_records
             WHERE workspace_id = ? AND seq < ? AND (? IS NULL OR tool = ?) AND (? IS NULL OR outcome = ?)
               AND (? IS NULL OR ts >= ?) AND (? IS NULL OR ts <= ?)
             ORDER BY seq DESC LIMIT ?",
        )
        .bind(workspace)
        .bind(before_seq.map_or(i64::MAX, |s| s.min(i64::MAX as u64) as i64))
        .bind(filter.tool)
        .bind(filter.tool)
        .bind(filter.outcome)
        .bind(filter.outcome)
        .bind(filter.since)
        .bind(filter.since)
        .bind(filter.until)
        .bind(filter.until)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_from).collect()
    }

    /// One page of a workspace's audit rows in chain order: records with
    /// seq > `after_seq`, interleaved with checkpoints, at most `limit` records.
    pub async fn audit_page(
        &self,
        workspace: &str,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditRow>> {
        let records = sqlx::query(
            "SELECT workspace_id, seq, ts, tool, key_id, outcome, hash, record FROM audit_records
             WHERE workspace_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(workspace)
        .bind(after_seq as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(records.len());
        let Some(last) = records.last() else {
            return Ok(out);
        };
        let last_seq: i64 = last.try_get(1)?;
        let full_page = records.len() as u32 == limit;
        let checkpoints = sqlx::query(
            "SELECT workspace_id, seq, ts, hash, sig FROM audit_checkpoints
             WHERE workspace_id = ? AND seq > ? AND (seq <= ? OR ?) ORDER BY seq, ts",
        )
        .bind(workspace)
        .bind(after_seq as i64)
        .bind(last_seq)
        .bind(!full_page)
        .fetch_all(&self.pool)
        .await?;
        let mut cps = checkpoints.into_iter().peekable();
        for r in records {
            let record = record_from(&r)?;
            let seq = record.seq;
            out.push(AuditRow::Record(record));
            while let Some(c) = cps.peek() {
                let cseq = c.try_get::<i64, _>(1)? as u64;
                if cseq > seq {
                    break;
                }
                if let Some(c) = cps.next() {
                    out.push(AuditRow::Checkpoint(checkpoint_from(&c)?));
                }
            }
        }
        for c in cps {
            out.push(AuditRow::Checkpoint(checkpoint_from(&c)?));
        }
        Ok(out)
    }
}

/// A record row selected as `workspace_id, seq, ts, tool, key_id, outcome, hash, record`.
fn record_from(r: &sqlx::sqlite::SqliteRow) -> Result<StoredRecord> {
    Ok(StoredRecord {
        workspace_id: r.try_get(0)?,
        seq: r.try_get::<i64, _>(1)? as u64,
        ts: r.try_get(2)?,
        tool: r.try_get(3)?,
        key_id: r.try_get(4)?,
        outcome: r.try_get(5)?,
        hash: r.try_get(6)?,
        record: r.try_get(7)?,
    })
}

fn checkpoint_from(r: &sqlx::sqlite::SqliteRow) -> Result<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        workspace_id: r.try_get(0)?,
        seq: r.try_get::<i64, _>(1)? as u64,
        ts: r.try_get(2)?,
        hash: r.try_get(3)?,
        sig: r.try_get(4)?,
    })
}

/// What a listing of records is narrowed to; `None` does not narrow.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecordFilter<'a> {
    pub tool: Option<&'a str>,
    pub outcome: Option<&'a str>,
    /// At or after, in `format_ts`'s spelling.
    pub since: Option<&'a str>,
    /// At or before, in `format_ts`'s spelling.
    pub until: Option<&'a str>,
}

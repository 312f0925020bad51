//! The store itself refuses edits of the audit chain: UPDATE and DELETE on
//! the audit tables fail at the SQL level, not only in application code.

use conexor_store::{Store, StoredCheckpoint, StoredRecord};
use sqlx::Connection;

#[tokio::test]
async fn audit_rows_cannot_be_updated_or_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let record = StoredRecord {
        workspace_id: "ws_0123456789abcdef".into(),
        seq: 1,
        ts: "2026-11-22T00:00:00.000Z".into(),
        tool: "run_query".into(),
        key_id: Some("abcdefABCDEF".into()),
        outcome: "ok".into(),
        hash: "00".repeat(32),
        record: "{}".into(),
    };
    store
        .append_audit(std::slice::from_ref(&record))
        .await
        .unwrap();
    store
        .append_checkpoint(&StoredCheckpoint {
            workspace_id: record.workspace_id.clone(),
            seq: 1,
            ts: record.ts.clone(),
            hash: record.hash.clone(),
            sig: "sig".into(),
        })
        .await
        .unwrap();
    // A second record with the same seq is refused (no rewriting by insert).
    assert!(
        store
            .append_audit(std::slice::from_ref(&record))
            .await
            .is_err()
    );
    store.close().await;

    // Someone with the file opens it directly and tries to rewrite history.
    let url = format!("sqlite://{}", dir.path().join("conexor.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for statement in [
        "UPDATE audit_records SET outcome = 'ok', record = '{}' WHERE seq = 1",
        "DELETE FROM audit_records WHERE seq = 1",
        "DELETE FROM audit_records",
        "UPDATE audit_checkpoints SET sig = 'forged'",
        "DELETE FROM audit_checkpoints",
    ] {
        let err = sqlx::query(statement).execute(&mut conn).await.unwrap_err();
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_records")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

/// A batch is one transaction: when one of its records is refused, none of
/// the batch is kept, and the next batch is written in full.
#[tokio::test]
async fn a_batch_that_fails_part_way_keeps_nothing_and_the_next_one_lands() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let record = |seq: u64| StoredRecord {
        workspace_id: "ws_0123456789abcdef".into(),
        seq,
        ts: "2026-11-22T00:00:00.000Z".into(),
        tool: "run_query".into(),
        key_id: None,
        outcome: "ok".into(),
        hash: format!("{seq:064x}"),
        record: "{}".into(),
    };
    let checkpoint = |seq: u64| StoredCheckpoint {
        workspace_id: "ws_0123456789abcdef".into(),
        seq,
        ts: "2026-11-22T00:00:00.000Z".into(),
        hash: format!("{seq:064x}"),
        sig: "sig".into(),
    };
    store.append_audit(&[record(1)]).await.unwrap();
    // Records 2 and 3, then 1 again (refused): the batch fails as a whole.
    let failed = store
        .append_audit_with_checkpoints(&[record(2), record(3), record(1)], &[checkpoint(3)])
        .await;
    assert!(failed.is_err());
    let url = format!("sqlite://{}", dir.path().join("conexor.db").display());
    let count = |sql: &'static str| {
        let url = url.clone();
        async move {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
            n
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM audit_records").await, 1);
    assert_eq!(count("SELECT COUNT(*) FROM audit_checkpoints").await, 0);
    // The same appender goes on: 2 and 3 with their checkpoint land together.
    store
        .append_audit_with_checkpoints(&[record(2), record(3)], &[checkpoint(3)])
        .await
        .unwrap();
    assert_eq!(count("SELECT COUNT(*) FROM audit_records").await, 3);
    assert_eq!(count("SELECT COUNT(*) FROM audit_checkpoints").await, 1);
    store.close().await;
}

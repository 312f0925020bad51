//! Keys and connections are served from memory between writes: every write
//! that changes what a request would read is seen by the very next read.
//! (Fails if a write method forgets to invalidate the cache.)

use conexor_store::{ConnectionRecord, KeyRecord, RevokeOutcome, Scope, Store, WorkspaceRecord};
use conexor_types::{KeyId, SecretId, WorkspaceId};

fn key(id: &str, ws: &WorkspaceId) -> KeyRecord {
    KeyRecord {
        key_id: KeyId::parse(id).unwrap(),
        workspace_id: ws.clone(),
        label: format!("key {id}"),
        scope: Scope::Admin,
        created_at: "2026-12-02T00:00:00.000Z".into(),
        revoked_at: None,
        auth_salt: vec![1; 16],
        auth_hash: vec![2; 32],
        kdf_salt: vec![3; 16],
        kdf_iterations: 600_000,
        wrapped_wmk: "wrapped".into(),
        wmk_check: "check".into(),
    }
}

fn connection(ws: &WorkspaceId, name: &str, secret: &str) -> ConnectionRecord {
    ConnectionRecord {
        workspace_id: ws.clone(),
        name: name.into(),
        kind: conexor_types::ConnectionKind::Postgresql,
        mode: conexor_types::Mode::Direct,
        secret_id: SecretId::parse(secret).unwrap(),
        secret_version: 1,
        sealed_value: "v".into(),
        sealed_dek: "d".into(),
        schema_json: None,
        discovered_at: None,
        created_at: conexor_types::Timestamp::now(),
        updated_at: conexor_types::Timestamp::now(),
    }
}

#[tokio::test]
async fn every_write_is_seen_by_the_next_cached_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let ws = WorkspaceId::parse("ws_0123456789abcdef").unwrap();
    let first = key("abcdefABCDEF", &ws);
    store
        .create_workspace(
            &WorkspaceRecord {
                id: ws.clone(),
                name: "w".into(),
                created_at: "2026-12-02T00:00:00.000Z".into(),
            },
            &first,
        )
        .await
        .unwrap();

    // Keys: cached, then revoked; the next read says revoked.
    let second = key("ghijklGHIJKL", &ws);
    assert!(store.cached_key(&second.key_id).await.unwrap().is_none());
    store.insert_key(&second).await.unwrap();
    let cached = store.cached_key(&second.key_id).await.unwrap().unwrap();
    assert!(cached.revoked_at.is_none());
    assert!(
        store
            .cached_key(&second.key_id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    let outcome = store.revoke_key(&ws, &second.key_id, false).await.unwrap();
    assert!(matches!(outcome, RevokeOutcome::Revoked));
    let after = store.cached_key(&second.key_id).await.unwrap().unwrap();
    assert!(
        after.revoked_at.is_some(),
        "a revoked key was served from memory"
    );

    // Connections: an absent name is remembered as absent until one is added.
    assert!(
        store
            .cached_workspace_connections(&ws)
            .await
            .unwrap()
            .direct
            .is_empty()
    );
    assert!(
        store
            .cached_connection(&ws, "shop")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .cached_connection(&ws, "shop")
            .await
            .unwrap()
            .is_none()
    );
    store
        .insert_connection(&connection(&ws, "shop", "sec_0123456789ABCDEF"), &[])
        .await
        .unwrap();
    let found = store.cached_connection(&ws, "shop").await.unwrap().unwrap();
    assert_eq!(found.secret_version, 1);
    let listed = store.cached_workspace_connections(&ws).await.unwrap();
    assert_eq!(listed.direct.len(), 1);

    // New credentials: the next read has the new version and secret id.
    let new_secret = SecretId::parse("sec_FEDCBA9876543210").unwrap();
    store
        .replace_secret(&ws, "shop", &new_secret, "v2", "d2", None, &[])
        .await
        .unwrap();
    let found = store.cached_connection(&ws, "shop").await.unwrap().unwrap();
    assert_eq!(found.secret_version, 2);
    assert_eq!(found.secret_id, new_secret);
    assert_eq!(found.sealed_value, "v2");

    // A new schema, then removal.
    store
        .set_schema(&ws, "shop", "{\"tables\":[]}")
        .await
        .unwrap();
    let found = store.cached_connection(&ws, "shop").await.unwrap().unwrap();
    assert_eq!(found.schema_json.as_deref(), Some("{\"tables\":[]}"));
    let listed = store.cached_workspace_connections(&ws).await.unwrap();
    assert_eq!(
        listed.direct[0].schema_json.as_deref(),
        Some("{\"tables\":[]}")
    );
    store.delete_connection(&ws, "shop").await.unwrap();
    assert!(
        store
            .cached_connection(&ws, "shop")
            .await
            .unwrap()
            .is_none()
    );
    let listed = store.cached_workspace_connections(&ws).await.unwrap();
    assert!(
        listed.direct.is_empty(),
        "a removed connection was still listed"
    );

    // Master key rotation rewraps the caller's key: the next read has it.
    let before = store.cached_key(&first.key_id).await.unwrap().unwrap();
    assert_eq!(before.wrapped_wmk, "wrapped");
    store
        .rotate_master(&ws, &first.key_id, "rewrapped", "check2", &[], &[])
        .await
        .unwrap();
    let after = store.cached_key(&first.key_id).await.unwrap().unwrap();
    assert_eq!(after.wrapped_wmk, "rewrapped");
}

#[tokio::test]
async fn a_flood_of_unknown_names_stays_bounded_and_correct() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let ws = WorkspaceId::parse("ws_0123456789abcdef").unwrap();
    for i in 0..10_000 {
        assert!(
            store
                .cached_connection(&ws, &format!("missing{i}"))
                .await
                .unwrap()
                .is_none()
        );
    }
    assert!(
        store
            .cached_agent_connection(&ws, "x")
            .await
            .unwrap()
            .is_none()
    );
}

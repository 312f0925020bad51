//! Named Secrets: values sealed by the client exactly like a connection spec
//! (format v1: the value under a fresh DEK with AAD
//! `conexor/secret/v1/<ws>/<sec_id>`, the DEK under the workspace master key),
//! referenced by name from connection specs (`password_secret`). The store
//! holds the envelopes and, in clear, the name, the kind and which
//! connections reference which secret — never a value.
//!
//! A rotation writes a new secret id and envelope and bumps the secret
//! version of every connection that references it, in one transaction: the
//! pools are keyed by that version, so each connection uses the new value
//! from its next call. A secret still referenced cannot be removed.

use crate::{Error, Result, Store, now};
use conexor_types::{SecretId, WorkspaceId};
use sqlx::Row;

pub(crate) const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS secrets (
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        name TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('password','secret_access_key','token','generic')),
        secret_id TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL,
        sealed_value TEXT NOT NULL,
        sealed_dek TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (workspace_id, name)
    ) STRICT",
    "CREATE TABLE IF NOT EXISTS connection_secret_refs (
        workspace_id TEXT NOT NULL,
        connection TEXT NOT NULL,
        field TEXT NOT NULL,
        secret_name TEXT NOT NULL,
        PRIMARY KEY (workspace_id, connection, field)
    ) STRICT",
];

/// What a secret is for (metadata in clear, for listings).
pub const SECRET_KINDS: &[&str] = &["password", "secret_access_key", "token", "generic"];

/// One named secret: metadata and envelopes (never a value).
#[derive(Debug, Clone)]
pub struct SecretRecord {
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub kind: String,
    pub secret_id: SecretId,
    pub version: i64,
    /// Envelope JSON of the value, sealed under its DEK.
    pub sealed_value: String,
    /// Envelope JSON of the DEK, wrapped by the workspace master key.
    pub sealed_dek: String,
    pub created_at: String,
    pub updated_at: String,
    /// Connections that reference it, by name.
    pub used_by: Vec<String>,
}

macro_rules! select {
    ($where:literal) => {
        concat!(
            "SELECT workspace_id, name, kind, secret_id, version, sealed_value, sealed_dek, created_at, updated_at,
                (SELECT group_concat(connection, char(10)) FROM (SELECT DISTINCT connection FROM connection_secret_refs r
                    WHERE r.workspace_id = s.workspace_id AND r.secret_name = s.name ORDER BY connection))
             FROM secrets s ",
            $where
        )
    };
}

fn from_row(r: &sqlx::sqlite::SqliteRow) -> Result<SecretRecord> {
    let used: Option<String> = r.try_get(9)?;
    Ok(SecretRecord {
        workspace_id: WorkspaceId::parse(&r.try_get::<String, _>(0)?)
            .map_err(|_| Error::Corrupt("workspace id"))?,
        name: r.try_get(1)?,
        kind: r.try_get(2)?,
        secret_id: SecretId::parse(&r.try_get::<String, _>(3)?)
            .map_err(|_| Error::Corrupt("secret id"))?,
        version: r.try_get(4)?,
        sealed_value: r.try_get(5)?,
        sealed_dek: r.try_get(6)?,
        created_at: r.try_get(7)?,
        updated_at: r.try_get(8)?,
        used_by: used
            .map(|u| u.split('\n').map(str::to_owned).collect())
            .unwrap_or_default(),
    })
}

impl Store {
    pub async fn secrets(&self, workspace: &WorkspaceId) -> Result<Vec<SecretRecord>> {
        let rows = sqlx::query(select!("WHERE s.workspace_id = ? ORDER BY s.name"))
            .bind(workspace.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn secret(
        &self,
        workspace: &WorkspaceId,
        name: &str,
    ) -> Result<Option<SecretRecord>> {
        let row = sqlx::query(select!("WHERE s.workspace_id = ? AND s.name = ?"))
            .bind(workspace.as_str())
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| from_row(&r)).transpose()
    }

    /// Adds a secret; its id is claimed forever (shared with connections).
    pub async fn insert_secret(&self, s: &SecretRecord) -> Result<()> {
        self.writing(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            if !Self::claim_secret_id(&mut tx, s.secret_id.as_str()).await? {
                return Err(Error::Conflict("secret id"));
            }
            let now = now();
            let done = sqlx::query(
                "INSERT OR IGNORE INTO secrets (workspace_id, name, kind, secret_id, version, sealed_value,
                    sealed_dek, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)",
            )
            .bind(s.workspace_id.as_str())
            .bind(&s.name)
            .bind(&s.kind)
            .bind(s.secret_id.as_str())
            .bind(&s.sealed_value)
            .bind(&s.sealed_dek)
            .bind(&now)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(Error::Conflict("secret"));
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Replaces a secret's value (a new id and envelope, the next version)
    /// and bumps the secret version of every connection that references it,
    /// so that each opens a new pool with the new value on its next call.
    /// Returns the new version and the connections it touched.
    pub async fn rotate_secret(
        &self,
        workspace: &WorkspaceId,
        name: &str,
        secret_id: &SecretId,
        sealed_value: &str,
        sealed_dek: &str,
    ) -> Result<(i64, Vec<String>)> {
        self.writing(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            if !Self::claim_secret_id(&mut tx, secret_id.as_str()).await? {
                return Err(Error::Conflict("secret id"));
            }
            let now = now();
            let version: Option<i64> = sqlx::query_scalar(
                "UPDATE secrets SET secret_id = ?, version = version + 1, sealed_value = ?, sealed_dek = ?,
                    updated_at = ? WHERE workspace_id = ? AND name = ? RETURNING version",
            )
            .bind(secret_id.as_str())
            .bind(sealed_value)
            .bind(sealed_dek)
            .bind(&now)
            .bind(workspace.as_str())
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            let version = version.ok_or(Error::NotFound("secret"))?;
            let users: Vec<String> = sqlx::query_scalar(
                "UPDATE connections SET secret_version = secret_version + 1, updated_at = ?
                 WHERE workspace_id = ? AND name IN (SELECT connection FROM connection_secret_refs
                    WHERE workspace_id = ? AND secret_name = ?) RETURNING name",
            )
            .bind(&now)
            .bind(workspace.as_str())
            .bind(workspace.as_str())
            .bind(name)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok((version, users))
        })
        .await
    }

    /// Removes a secret no connection references; `InUse` names those that do.
    pub async fn delete_secret(&self, workspace: &WorkspaceId, name: &str) -> Result<()> {
        self.writing(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let users: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT connection FROM connection_secret_refs
                 WHERE workspace_id = ? AND secret_name = ? ORDER BY connection",
            )
            .bind(workspace.as_str())
            .bind(name)
            .fetch_all(&mut *tx)
            .await?;
            if !users.is_empty() {
                return Err(Error::InUse(users));
            }
            let done = sqlx::query("DELETE FROM secrets WHERE workspace_id = ? AND name = ?")
                .bind(workspace.as_str())
                .bind(name)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                return Err(Error::NotFound("secret"));
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

/// Records which secrets a connection's spec references (`(field, secret
/// name)`), replacing what was recorded, inside the caller's transaction;
/// each secret must exist in the workspace.
pub(crate) async fn write_refs(
    tx: &mut sqlx::SqliteConnection,
    workspace: &WorkspaceId,
    connection: &str,
    refs: &[(String, String)],
) -> Result<()> {
    for (_, secret) in refs {
        let found: Option<String> =
            sqlx::query_scalar("SELECT name FROM secrets WHERE workspace_id = ? AND name = ?")
                .bind(workspace.as_str())
                .bind(secret)
                .fetch_optional(&mut *tx)
                .await?;
        if found.is_none() {
            return Err(Error::NotFound("secret"));
        }
    }
    sqlx::query("DELETE FROM connection_secret_refs WHERE workspace_id = ? AND connection = ?")
        .bind(workspace.as_str())
        .bind(connection)
        .execute(&mut *tx)
        .await?;
    for (field, secret) in refs {
        sqlx::query(
            "INSERT INTO connection_secret_refs (workspace_id, connection, field, secret_name)
             VALUES (?, ?, ?, ?)",
        )
        .bind(workspace.as_str())
        .bind(connection)
        .bind(field)
        .bind(secret)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

//! The control-plane store: workspaces, API keys (hashes and wrapped keys
//! only), connections (name, kind and sealed envelopes only) and their
//! discovered schema.
//!
//! Nothing stored here opens a secret: the server keeps, per key, a salted
//! SHA-256 of its secret and the workspace master key wrapped under a key
//! derived from that secret (DESIGN §4). This crate stores those values as
//! opaque bytes and text; it does no cryptography and knows nothing of HTTP.
//!
//! The embedded backend is a SQLite file (WAL, `synchronous=FULL`). Every
//! write transaction starts with `BEGIN IMMEDIATE`: a deferred one that reads
//! first and then writes fails at once with `SQLITE_BUSY` when another
//! connection committed in between (the busy timeout does not apply to that
//! upgrade), which a concurrent audit writer makes likely. A
//! PostgreSQL backend for several replicas is planned behind the same
//! methods; until then this type is the interface.

mod agents;
mod audit;
mod cache;
mod records;
mod secrets;
mod tools;

pub use secrets::{SECRET_KINDS, SecretRecord};
pub use tools::ToolRecord;

pub use agents::{AgentConnectionRecord, AgentRecord, EnrolRefusal};

pub use audit::{AuditRow, RecordFilter, StoredCheckpoint, StoredRecord};

pub use records::{ConnectionRecord, KeyRecord, Scope, WorkspaceRecord};

pub use cache::WorkspaceConnections;

use conexor_types::{KeyId, WorkspaceId};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("store error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("stored data is damaged: {0}")]
    Corrupt(&'static str),
    /// A secret still referenced: the connections that reference it.
    #[error("in use by {}", .0.join(", "))]
    InUse(Vec<String>),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The file name of the store inside the data directory.
pub const STORE_FILE: &str = "conexor.db";

#[derive(Clone)]
pub struct Store {
    pub(crate) pool: SqlitePool,
    path: PathBuf,
    /// Keys and connections between writes; see [`cache`].
    pub(crate) cache: std::sync::Arc<cache::ReadCache>,
    /// The audit appender's own session (see `audit::Appender`).
    pub(crate) appender: std::sync::Arc<audit::Appender>,
}

const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT",
    // When each key was last used, to the minute (written at most once a
    // minute per key, off the request's path).
    "CREATE TABLE IF NOT EXISTS key_usage (
        key_id TEXT PRIMARY KEY REFERENCES api_keys(key_id),
        last_used_at TEXT NOT NULL
    ) STRICT",
    "CREATE TABLE IF NOT EXISTS workspaces (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL
    ) STRICT",
    "CREATE TABLE IF NOT EXISTS api_keys (
        key_id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        label TEXT NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('admin','mcp')),
        created_at TEXT NOT NULL,
        revoked_at TEXT,
        auth_salt BLOB NOT NULL,
        auth_hash BLOB NOT NULL,
        kdf_salt BLOB NOT NULL,
        kdf_iterations INTEGER NOT NULL CHECK (kdf_iterations >= 600000),
        wrapped_wmk TEXT NOT NULL,
        wmk_check TEXT NOT NULL
    ) STRICT",
    "CREATE INDEX IF NOT EXISTS api_keys_workspace ON api_keys(workspace_id)",
    "CREATE TABLE IF NOT EXISTS connections (
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('direct','agent')),
        secret_id TEXT NOT NULL UNIQUE,
        secret_version INTEGER NOT NULL,
        sealed_value TEXT NOT NULL,
        sealed_dek TEXT NOT NULL,
        schema_json TEXT,
        discovered_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (workspace_id, name)
    ) STRICT",
    // Secret ids ever used, so that a retired id is never accepted again.
    "CREATE TABLE IF NOT EXISTS used_secret_ids (
        secret_id TEXT PRIMARY KEY
    ) STRICT",
];

pub(crate) fn now() -> String {
    conexor_types::Timestamp::now().to_string()
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`.
    pub async fn open(data_dir: &Path) -> Result<Store> {
        Self::open_with(data_dir, Durability::Full).await
    }

    /// Opens the store with a chosen durability of commits.
    pub async fn open_with(data_dir: &Path, durability: Durability) -> Result<Store> {
        let path = data_dir.join(STORE_FILE);
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::ProcessCrash => SqliteSynchronous::Normal,
            })
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await?;
        for statement in MIGRATIONS
            .iter()
            .chain(audit::MIGRATIONS)
            .chain(agents::MIGRATIONS)
            .chain(tools::MIGRATIONS)
            .chain(secrets::MIGRATIONS)
        {
            sqlx::query(*statement).execute(&pool).await?;
        }
        Ok(Store {
            pool,
            path,
            cache: Default::default(),
            appender: std::sync::Arc::new(audit::Appender::new(options)),
        })
    }

    /// Runs a write to keys, connections, agents or tools, then forgets the
    /// cached reads (see [`cache`]), whether the write succeeded or not.
    pub(crate) async fn writing<T>(&self, write: impl Future<Output = Result<T>>) -> Result<T> {
        let result = write.await;
        self.cache.invalidate();
        result
    }

    /// A read through the cache: the cached answer, or `read` under the
    /// generation seen before it, kept by `put` (see [`cache`]).
    async fn read_through<T: Clone>(
        lookup: cache::Lookup<T>,
        read: impl Future<Output = Result<T>>,
        put: impl FnOnce(u64, T),
    ) -> Result<T> {
        let generation = match lookup {
            cache::Lookup::Hit(found) => return Ok(found),
            cache::Lookup::Miss(generation) => generation,
        };
        let found = read.await?;
        put(generation, found.clone());
        Ok(found)
    }

    /// [`Store::key`], served from memory between writes: the lookup every
    /// authenticated request makes. Unknown ids are always read from disk.
    pub async fn cached_key(&self, key_id: &KeyId) -> Result<Option<Arc<KeyRecord>>> {
        Self::read_through(
            self.cache.key(key_id).map(Some),
            async { Ok(self.key(key_id).await?.map(Arc::new)) },
            |generation, found| {
                if let Some(record) = found {
                    self.cache.put_key(generation, record);
                }
            },
        )
        .await
    }

    /// [`Store::connection`], served from memory between writes.
    pub async fn cached_connection(
        &self,
        workspace: &WorkspaceId,
        name: &str,
    ) -> Result<Option<Arc<ConnectionRecord>>> {
        Self::read_through(
            self.cache.connection(workspace, name),
            async { Ok(self.connection(workspace, name).await?.map(Arc::new)) },
            |generation, found| {
                self.cache
                    .put_connection(generation, workspace, name, found)
            },
        )
        .await
    }

    /// Every connection of a workspace ([`Store::connections`] and
    /// [`Store::agent_connections`]), served from memory between writes.
    pub async fn cached_workspace_connections(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Arc<WorkspaceConnections>> {
        let read = async {
            let direct = self.connections(workspace).await?;
            let agent = self.agent_connections(workspace).await?;
            Ok(Arc::new(WorkspaceConnections {
                direct: direct.into_iter().map(Arc::new).collect(),
                agent: agent.into_iter().map(Arc::new).collect(),
            }))
        };
        Self::read_through(
            self.cache.workspace(workspace),
            read,
            |generation, found| self.cache.put_workspace(generation, workspace, found),
        )
        .await
    }

    /// [`Store::agent_connection`], served from memory between writes.
    pub async fn cached_agent_connection(
        &self,
        workspace: &WorkspaceId,
        name: &str,
    ) -> Result<Option<Arc<AgentConnectionRecord>>> {
        Self::read_through(
            self.cache.agent_connection(workspace, name),
            async { Ok(self.agent_connection(workspace, name).await?.map(Arc::new)) },
            |generation, found| {
                self.cache
                    .put_agent_connection(generation, workspace, name, found)
            },
        )
        .await
    }

    /// The store's file, which no connection may point at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn close(&self) {
        self.appender.close().await;
        self.pool.close().await;
    }

    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Sets a setting only if it is not set yet; returns whether it was set.
    pub async fn init_setting(&self, name: &str, value: &str) -> Result<bool> {
        let done = sqlx::query("INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn put_setting(&self, name: &str, value: &str) -> Result<()> {
        sqlx::query("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Creates a workspace with its first key, atomically.
    pub async fn create_workspace(
        &self,
        workspace: &WorkspaceRecord,
        first_key: &KeyRecord,
    ) -> Result<()> {
        self.writing(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let inserted = sqlx::query(
                "INSERT OR IGNORE INTO workspaces (id, name, created_at) VALUES (?, ?, ?)",
            )
            .bind(workspace.id.as_str())
            .bind(&workspace.name)
            .bind(now())
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() != 1 {
                return Err(Error::Conflict("workspace"));
            }
            insert_key(&mut tx, first_key).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub async fn workspace(&self, id: &WorkspaceId) -> Result<Option<WorkspaceRecord>> {
        let row = sqlx::query("SELECT id, name, created_at FROM workspaces WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| records::workspace_from_row(&r)).transpose()
    }

    pub async fn key(&self, key_id: &KeyId) -> Result<Option<KeyRecord>> {
        let row = sqlx::query(records::KEY_SELECT_BY_ID)
            .bind(key_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| records::key_from_row(&r)).transpose()
    }

    pub async fn keys(&self, workspace: &WorkspaceId) -> Result<Vec<KeyRecord>> {
        let rows = sqlx::query(records::KEY_SELECT_BY_WORKSPACE)
            .bind(workspace.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(records::key_from_row).collect()
    }

    /// Notes that a key was used at `ts` (RFC 3339).
    pub async fn touch_key(&self, key_id: &KeyId, ts: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO key_usage (key_id, last_used_at) VALUES (?, ?)
             ON CONFLICT (key_id) DO UPDATE SET last_used_at = excluded.last_used_at",
        )
        .bind(key_id.as_str())
        .bind(ts)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// When each of the workspace's keys was last used, by key id.
    pub async fn keys_last_used(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<std::collections::HashMap<String, String>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT u.key_id, u.last_used_at FROM key_usage u JOIN api_keys k ON k.key_id = u.key_id
             WHERE k.workspace_id = ?",
        )
        .bind(workspace.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    pub async fn insert_key(&self, key: &KeyRecord) -> Result<()> {
        self.writing(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            insert_key(&mut tx, key).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Revokes a key: its auth hash and its wrap of the master key are erased.
    /// Refuses the workspace's last live key unless `force`.
    pub async fn revoke_key(
        &self,
        workspace: &WorkspaceId,
        key_id: &KeyId,
        force: bool,
    ) -> Result<RevokeOutcome> {
        self.writing(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let live: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM api_keys WHERE workspace_id = ? AND revoked_at IS NULL",
            )
            .bind(workspace.as_str())
            .fetch_one(&mut *tx)
            .await?;
            let target: Option<Option<String>> = sqlx::query_scalar(
                "SELECT revoked_at FROM api_keys WHERE workspace_id = ? AND key_id = ?",
            )
            .bind(workspace.as_str())
            .bind(key_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            match target {
                None => return Err(Error::NotFound("key")),
                Some(Some(_)) => return Ok(RevokeOutcome::AlreadyRevoked),
                Some(None) => {}
            }
            if live <= 1 && !force {
                return Ok(RevokeOutcome::LastKey);
            }
            sqlx::query(
                "UPDATE api_keys SET revoked_at = ?, auth_hash = X'', wrapped_wmk = '', wmk_check = ''
                 WHERE workspace_id = ? AND key_id = ?",
            )
            .bind(now())
            .bind(workspace.as_str())
            .bind(key_id.as_str())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(RevokeOutcome::Revoked)
        })
        .await
    }

    /// Replaces the workspace master key: the caller's key gets the new wrap,
    /// every DEK is re-wrapped, every other live key is revoked. All or nothing.
    pub async fn rotate_master(
        &self,
        workspace: &WorkspaceId,
        caller: &KeyId,
        wrapped_wmk: &str,
        wmk_check: &str,
        deks: &[(String, String)],
        new_keys: &[KeyRecord],
    ) -> Result<Vec<KeyId>> {
        self.writing(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            // Connection specs and named secrets share the id space and the format.
            let secret_ids: Vec<String> = sqlx::query_scalar(
                "SELECT secret_id FROM connections WHERE workspace_id = ?
                 UNION ALL SELECT secret_id FROM secrets WHERE workspace_id = ?",
            )
            .bind(workspace.as_str())
            .bind(workspace.as_str())
            .fetch_all(&mut *tx)
            .await?;
            let mut given: Vec<&str> = deks.iter().map(|(s, _)| s.as_str()).collect();
            given.sort_unstable();
            let mut expected: Vec<&str> = secret_ids.iter().map(String::as_str).collect();
            expected.sort_unstable();
            if given != expected {
                return Err(Error::Corrupt(
                    "the rotation must re-wrap exactly the workspace's secrets",
                ));
            }
            for (secret_id, dek) in deks {
                for update in [
                    "UPDATE connections SET sealed_dek = ?, updated_at = ? WHERE workspace_id = ? AND secret_id = ?",
                    "UPDATE secrets SET sealed_dek = ?, updated_at = ? WHERE workspace_id = ? AND secret_id = ?",
                ] {
                    sqlx::query(update)
                    .bind(dek)
                    .bind(now())
                    .bind(workspace.as_str())
                    .bind(secret_id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            let others: Vec<String> = sqlx::query_scalar(
                "SELECT key_id FROM api_keys WHERE workspace_id = ? AND revoked_at IS NULL AND key_id <> ?",
            )
            .bind(workspace.as_str())
            .bind(caller.as_str())
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE api_keys SET revoked_at = ?, auth_hash = X'', wrapped_wmk = '', wmk_check = ''
                 WHERE workspace_id = ? AND revoked_at IS NULL AND key_id <> ?",
            )
            .bind(now())
            .bind(workspace.as_str())
            .bind(caller.as_str())
            .execute(&mut *tx)
            .await?;
            let updated = sqlx::query("UPDATE api_keys SET wrapped_wmk = ?, wmk_check = ? WHERE workspace_id = ? AND key_id = ? AND revoked_at IS NULL")
                .bind(wrapped_wmk)
                .bind(wmk_check)
                .bind(workspace.as_str())
                .bind(caller.as_str())
                .execute(&mut *tx)
                .await?;
            if updated.rows_affected() != 1 {
                return Err(Error::NotFound("key"));
            }
            for key in new_keys {
                insert_key(&mut tx, key).await?;
            }
            tx.commit().await?;
            others
                .iter()
                .map(|k| KeyId::parse(k).map_err(|_| Error::Corrupt("key id")))
                .collect()
        })
        .await
    }

    pub async fn connections(&self, workspace: &WorkspaceId) -> Result<Vec<ConnectionRecord>> {
        let rows = sqlx::query(records::CONNECTION_SELECT_BY_WORKSPACE)
            .bind(workspace.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(records::connection_from_row).collect()
    }

    pub async fn connection(
        &self,
        workspace: &WorkspaceId,
        name: &str,
    ) -> Result<Option<ConnectionRecord>> {
        let row = sqlx::query(records::CONNECTION_SELECT_ONE)
            .bind(workspace.as_str())
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| records::connection_from_row(&r)).transpose()
    }

    /// Claims a secret id forever; false when it was used before.
    async fn claim_secret_id(tx: &mut sqlx::SqliteConnection, secret_id: &str) -> Result<bool> {
        let done = sqlx::query("INSERT OR IGNORE INTO used_secret_ids (secret_id) VALUES (?)")
            .bind(secret_id)
            .execute(&mut *tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds a connection and records the named secrets its spec references
    /// (`(field, secret name)`; each must exist), in one transaction.
    pub async fn insert_connection(
        &self,
        c: &ConnectionRecord,
        secret_refs: &[(String, String)],
    ) -> Result<()> {
        self.writing(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            if !Self::claim_secret_id(&mut tx, c.secret_id.as_str()).await? {
                return Err(Error::Conflict("secret id"));
            }
            let offered: Option<String> = sqlx::query_scalar(
                "SELECT name FROM agent_connections WHERE workspace_id = ? AND name = ?",
            )
            .bind(c.workspace_id.as_str())
            .bind(&c.name)
            .fetch_optional(&mut *tx)
            .await?;
            if offered.is_some() {
                return Err(Error::Conflict("connection (offered by an agent)"));
            }
            let now = now();
            let done = sqlx::query(
                "INSERT OR IGNORE INTO connections (workspace_id, name, kind, mode, secret_id, secret_version,
                    sealed_value, sealed_dek, schema_json, discovered_at, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
            )
            .bind(c.workspace_id.as_str())
            .bind(&c.name)
            .bind(c.kind.as_str())
            .bind(c.mode.as_str())
            .bind(c.secret_id.as_str())
            .bind(&c.sealed_value)
            .bind(&c.sealed_dek)
            .bind(&c.schema_json)
            .bind(c.schema_json.as_ref().map(|_| now.clone()))
            .bind(&now)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(Error::Conflict("connection"));
            }
            secrets::write_refs(&mut tx, &c.workspace_id, &c.name, secret_refs).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Replaces a connection's credentials: a new secret id and the next
    /// version, and the named secrets the new spec references.
    #[allow(clippy::too_many_arguments)]
    pub async fn replace_secret(
        &self,
        workspace: &WorkspaceId,
        name: &str,
        secret_id: &conexor_types::SecretId,
        sealed_value: &str,
        sealed_dek: &str,
        schema_json: Option<&str>,
        secret_refs: &[(String, String)],
    ) -> Result<i64> {
        self.writing(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            if !Self::claim_secret_id(&mut tx, secret_id.as_str()).await? {
                return Err(Error::Conflict("secret id"));
            }
            let now = now();
            let version: Option<i64> = sqlx::query_scalar(
                "UPDATE connections SET secret_id = ?, secret_version = secret_version + 1, sealed_value = ?,
                    sealed_dek = ?, schema_json = COALESCE(?, schema_json),
                    discovered_at = CASE WHEN ? IS NULL THEN discovered_at ELSE ? END, updated_at = ?
                 WHERE workspace_id = ? AND name = ? RETURNING secret_version",
            )
            .bind(secret_id.as_str())
            .bind(sealed_value)
            .bind(sealed_dek)
            .bind(schema_json)
            .bind(schema_json)
            .bind(&now)
            .bind(&now)
            .bind(workspace.as_str())
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            let version = version.ok_or(Error::NotFound("connection"))?;
            secrets::write_refs(&mut tx, workspace, name, secret_refs).await?;
            tx.commit().await?;
            Ok(version)
        })
        .await
    }

    pub async fn set_schema(
        &self,
        workspace: &WorkspaceId,
        name: &str,
        schema_json: &str,
    ) -> Result<()> {
        self.writing(async {
            let done = sqlx::query("UPDATE connections SET schema_json = ?, discovered_at = ? WHERE workspace_id = ? AND name = ?")
                .bind(schema_json)
                .bind(now())
                .bind(workspace.as_str())
                .bind(name)
                .execute(&self.pool)
                .await?;
            if done.rows_affected() != 1 {
                return Err(Error::NotFound("connection"));
            }
            Ok(())
        })
        .await
    }

    pub async fn delete_connection(&self, workspace: &WorkspaceId, name: &str) -> Result<()> {
        self.writing(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let done = sqlx::query("DELETE FROM connections WHERE workspace_id = ? AND name = ?")
                .bind(workspace.as_str())
                .bind(name)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                return Err(Error::NotFound("connection"));
            }
            // Its secrets may now be removed.
            sqlx::query(
                "DELETE FROM connection_secret_refs WHERE workspace_id = ? AND connection = ?",
            )
            .bind(workspace.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Whether the store answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        let one: i64 = sqlx::query("SELECT 1")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        if one == 1 {
            Ok(())
        } else {
            Err(Error::Corrupt("ping"))
        }
    }
}

/// What a committed write (an audit record above all) survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: every commit is fsynced; survives power loss.
    #[default]
    Full,
    /// `synchronous=NORMAL` in WAL mode: survives a crash of the process
    /// (the OS holds the WAL), but a power loss or kernel crash can drop the
    /// last commits.
    ProcessCrash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    Revoked,
    AlreadyRevoked,
    LastKey,
}

async fn insert_key(tx: &mut sqlx::SqliteConnection, key: &KeyRecord) -> Result<()> {
    let done = sqlx::query(
        "INSERT OR IGNORE INTO api_keys (key_id, workspace_id, label, scope, created_at, revoked_at,
            auth_salt, auth_hash, kdf_salt, kdf_iterations, wrapped_wmk, wmk_check)
         VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?)",
    )
    .bind(key.key_id.as_str())
    .bind(key.workspace_id.as_str())
    .bind(&key.label)
    .bind(key.scope.as_str())
    .bind(now())
    .bind(&key.auth_salt)
    .bind(&key.auth_hash)
    .bind(&key.kdf_salt)
    .bind(key.kdf_iterations as i64)
    .bind(&key.wrapped_wmk)
    .bind(&key.wmk_check)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(Error::Conflict("key id"));
    }
    Ok(())
}

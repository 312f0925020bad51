//! Agents and the connections they offer. The server keeps, per agent, a
//! name, the SHA-256 of its one-time enrolment token until it is used (never
//! the token), the expiry of that token, and after enrolment the agent's
//! Ed25519 public key. Agent connections hold a name, a kind and discovered
//! schema: there is no column for a secret because the server never has one.

use crate::{Error, Result, Store, now};
use conexor_types::{ConnectionKind, WorkspaceId};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

pub(crate) const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS agents (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        name TEXT NOT NULL,
        token_hash BLOB,
        token_expires_at TEXT NOT NULL,
        public_key TEXT,
        enrolled_at TEXT,
        revoked_at TEXT,
        created_at TEXT NOT NULL,
        last_seen_at TEXT,
        last_version TEXT,
        last_address TEXT
    ) STRICT",
    "CREATE UNIQUE INDEX IF NOT EXISTS agents_live_name ON agents(workspace_id, name) WHERE revoked_at IS NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS agents_token ON agents(token_hash) WHERE token_hash IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS agent_connections (
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        name TEXT NOT NULL,
        agent_id TEXT NOT NULL REFERENCES agents(id),
        kind TEXT NOT NULL,
        schema_json TEXT,
        discovered_at TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (workspace_id, name)
    ) STRICT",
];

/// One agent as the server knows it: public values only. The token's hash is
/// kept after enrolment (it opens nothing once expired, and lets the same key
/// enrol again if its welcome was lost before the token expires).
#[derive(Debug, Clone)]
pub struct AgentRecord {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub token_expires_at: conexor_types::Timestamp,
    /// base64url Ed25519 public key, once enrolled.
    pub public_key: Option<String>,
    pub enrolled_at: Option<conexor_types::Timestamp>,
    pub revoked_at: Option<conexor_types::Timestamp>,
    pub created_at: conexor_types::Timestamp,
    pub last_seen_at: Option<conexor_types::Timestamp>,
    pub last_version: Option<String>,
    pub last_address: Option<String>,
}

/// A connection offered by an agent: name, kind and schema; no secret.
#[derive(Debug, Clone)]
pub struct AgentConnectionRecord {
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub agent_id: String,
    pub agent_name: String,
    /// Parsed once, when the row is read.
    pub kind: ConnectionKind,
    pub schema_json: Option<String>,
    pub discovered_at: Option<conexor_types::Timestamp>,
    pub updated_at: conexor_types::Timestamp,
}

macro_rules! agent_select {
    ($where:literal) => {
        concat!(
            "SELECT id, workspace_id, name, token_expires_at, public_key, enrolled_at, revoked_at, created_at, last_seen_at, last_version, last_address FROM agents ",
            $where
        )
    };
}
macro_rules! agent_connection_select {
    ($where:literal) => {
        concat!(
            "SELECT c.workspace_id, c.name, c.agent_id, a.name, c.kind, c.schema_json, c.discovered_at, c.updated_at FROM agent_connections c JOIN agents a ON a.id = c.agent_id ",
            $where
        )
    };
}

fn optional_timestamp(r: &SqliteRow, i: usize) -> Result<Option<conexor_types::Timestamp>> {
    r.try_get::<Option<String>, _>(i)?
        .map(|t| crate::records::timestamp(&t))
        .transpose()
}

fn agent_from_row(r: &SqliteRow) -> Result<AgentRecord> {
    Ok(AgentRecord {
        id: r.try_get(0)?,
        workspace_id: WorkspaceId::parse(&r.try_get::<String, _>(1)?)
            .map_err(|_| Error::Corrupt("workspace id"))?,
        name: r.try_get(2)?,
        token_expires_at: crate::records::timestamp(&r.try_get::<String, _>(3)?)?,
        public_key: r.try_get(4)?,
        enrolled_at: optional_timestamp(r, 5)?,
        revoked_at: optional_timestamp(r, 6)?,
        created_at: crate::records::timestamp(&r.try_get::<String, _>(7)?)?,
        last_seen_at: optional_timestamp(r, 8)?,
        last_version: r.try_get(9)?,
        last_address: r.try_get(10)?,
    })
}

fn agent_connection_from_row(r: &SqliteRow) -> Result<AgentConnectionRecord> {
    Ok(AgentConnectionRecord {
        workspace_id: WorkspaceId::parse(&r.try_get::<String, _>(0)?)
            .map_err(|_| Error::Corrupt("workspace id"))?,
        name: r.try_get(1)?,
        agent_id: r.try_get(2)?,
        agent_name: r.try_get(3)?,
        kind: ConnectionKind::parse(&r.try_get::<String, _>(4)?)
            .ok_or(Error::Corrupt("connection kind"))?,
        schema_json: r.try_get(5)?,
        discovered_at: optional_timestamp(r, 6)?,
        updated_at: crate::records::timestamp(&r.try_get::<String, _>(7)?)?,
    })
}

/// Why an enrolment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrolRefusal {
    /// No agent has this token (never issued, or already used).
    Unknown,
    Expired,
    Revoked,
}

impl Store {
    /// Creates a pending agent with the hash of its enrolment token.
    pub async fn create_agent(
        &self,
        id: &str,
        workspace: &WorkspaceId,
        name: &str,
        token_hash: &[u8; 32],
        expires_at: &str,
    ) -> Result<AgentRecord> {
        self.writing(async {
            let done = sqlx::query(
                "INSERT OR IGNORE INTO agents (id, workspace_id, name, token_hash, token_expires_at, created_at)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(workspace.as_str())
            .bind(name)
            .bind(&token_hash[..])
            .bind(expires_at)
            .bind(now())
            .execute(&self.pool)
            .await?;
            if done.rows_affected() != 1 {
                return Err(Error::Conflict("agent"));
            }
            self.agent(id).await?.ok_or(Error::NotFound("agent"))
        })
        .await
    }

    pub async fn agent(&self, id: &str) -> Result<Option<AgentRecord>> {
        let row = sqlx::query(agent_select!("WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| agent_from_row(&r)).transpose()
    }

    /// The workspace's agents, revoked ones included, oldest first.
    pub async fn agents(&self, workspace: &WorkspaceId) -> Result<Vec<AgentRecord>> {
        let rows = sqlx::query(agent_select!(
            "WHERE workspace_id = ? ORDER BY created_at, id"
        ))
        .bind(workspace.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(agent_from_row).collect()
    }

    /// Uses a token: binds `public_key` to its agent and records the
    /// token's enrolment, atomically. A used (by another key), expired or revoked
    /// token is refused; the same key again before expiry gets the same agent.
    pub async fn enrol_agent(
        &self,
        token_hash: &[u8; 32],
        public_key: &str,
    ) -> Result<std::result::Result<AgentRecord, EnrolRefusal>> {
        self.writing(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let row = sqlx::query(agent_select!("WHERE token_hash = ?"))
                .bind(&token_hash[..])
                .fetch_optional(&mut *tx)
                .await?;
            let Some(agent) = row.map(|r| agent_from_row(&r)).transpose()? else {
                return Ok(Err(EnrolRefusal::Unknown));
            };
            if agent.revoked_at.is_some() {
                return Ok(Err(EnrolRefusal::Revoked));
            }
            let now = now();
            if agent.token_expires_at <= conexor_types::Timestamp::now() {
                return Ok(Err(EnrolRefusal::Expired));
            }
            if agent.enrolled_at.is_some() {
                // The same key again before the token expires: its welcome was
                // lost, so the agent could not save its id. Any other key: used.
                return Ok(if agent.public_key.as_deref() == Some(public_key) {
                    Ok(agent)
                } else {
                    Err(EnrolRefusal::Unknown)
                });
            }
            sqlx::query(
                "UPDATE agents SET public_key = ?, enrolled_at = ? WHERE id = ? AND enrolled_at IS NULL",
            )
            .bind(public_key)
            .bind(&now)
            .bind(&agent.id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            let agent = self
                .agent(&agent.id)
                .await?
                .ok_or(Error::NotFound("agent"))?;
            Ok(Ok(agent))
        })
        .await
    }

    /// Revokes an agent: its token and key stop working and the connections
    /// it offered are removed. False when it was already revoked.
    pub async fn revoke_agent(&self, workspace: &WorkspaceId, id: &str) -> Result<bool> {
        self.writing(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let done = sqlx::query(
                "UPDATE agents SET revoked_at = ? WHERE workspace_id = ? AND id = ? AND revoked_at IS NULL",
            )
            .bind(now())
            .bind(workspace.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                let exists: Option<String> =
                    sqlx::query_scalar("SELECT id FROM agents WHERE workspace_id = ? AND id = ?")
                        .bind(workspace.as_str())
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                return match exists {
                    Some(_) => Ok(false),
                    None => Err(Error::NotFound("agent")),
                };
            }
            sqlx::query("DELETE FROM agent_connections WHERE agent_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    pub async fn agent_seen(&self, id: &str, version: &str, address: &str) -> Result<()> {
        sqlx::query(
            "UPDATE agents SET last_seen_at = ?, last_version = ?, last_address = ? WHERE id = ?",
        )
        .bind(now())
        .bind(version)
        .bind(address)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Replaces the set of connections an agent offers. Returns the offers
    /// refused (name taken by a direct connection or another agent) with why.
    pub async fn set_agent_connections(
        &self,
        workspace: &WorkspaceId,
        agent_id: &str,
        offers: &[(String, String)],
    ) -> Result<Vec<(String, &'static str)>> {
        self.writing(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let revoked: Option<Option<String>> =
                sqlx::query_scalar("SELECT revoked_at FROM agents WHERE id = ? AND workspace_id = ?")
                    .bind(agent_id)
                    .bind(workspace.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            if !matches!(revoked, Some(None)) {
                return Err(Error::Conflict("agent revoked"));
            }
            let existing: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT name, agent_id, kind FROM agent_connections WHERE workspace_id = ?",
            )
            .bind(workspace.as_str())
            .fetch_all(&mut *tx)
            .await?;
            for (name, owner, _) in &existing {
                if owner == agent_id && !offers.iter().any(|(n, _)| n == name) {
                    sqlx::query("DELETE FROM agent_connections WHERE workspace_id = ? AND name = ?")
                        .bind(workspace.as_str())
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            let mut rejected = Vec::new();
            for (name, kind) in offers {
                let direct: Option<String> = sqlx::query_scalar(
                    "SELECT name FROM connections WHERE workspace_id = ? AND name = ?",
                )
                .bind(workspace.as_str())
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
                if direct.is_some() {
                    rejected.push((
                        name.clone(),
                        "a direct connection of this workspace has this name",
                    ));
                    continue;
                }
                match existing.iter().find(|(n, _, _)| n == name) {
                    Some((_, owner, _)) if owner != agent_id => {
                        rejected.push((
                            name.clone(),
                            "another agent of this workspace offers this name",
                        ));
                    }
                    Some((_, _, old_kind)) => {
                        sqlx::query(
                            "UPDATE agent_connections SET kind = ?, updated_at = ?,
                                schema_json = CASE WHEN kind = ? THEN schema_json ELSE NULL END
                             WHERE workspace_id = ? AND name = ?",
                        )
                        .bind(kind)
                        .bind(now())
                        .bind(old_kind)
                        .bind(workspace.as_str())
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        sqlx::query(
                            "INSERT INTO agent_connections (workspace_id, name, agent_id, kind, updated_at) VALUES (?, ?, ?, ?, ?)",
                        )
                        .bind(workspace.as_str())
                        .bind(name)
                        .bind(agent_id)
                        .bind(kind)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
            tx.commit().await?;
            Ok(rejected)
        })
        .await
    }

    pub async fn set_agent_schema(
        &self,
        workspace: &WorkspaceId,
        agent_id: &str,
        name: &str,
        schema_json: &str,
    ) -> Result<()> {
        self.writing(async {
            let done = sqlx::query(
                "UPDATE agent_connections SET schema_json = ?, discovered_at = ? WHERE workspace_id = ? AND agent_id = ? AND name = ?",
            )
            .bind(schema_json)
            .bind(now())
            .bind(workspace.as_str())
            .bind(agent_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() != 1 {
                return Err(Error::NotFound("agent connection"));
            }
            Ok(())
        })
        .await
    }

    pub async fn agent_connections(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Vec<AgentConnectionRecord>> {
        let rows = sqlx::query(agent_connection_select!(
            "WHERE c.workspace_id = ? ORDER BY c.name"
        ))
        .bind(workspace.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(agent_connection_from_row).collect()
    }

    pub async fn agent_connection(
        &self,
        workspace: &WorkspaceId,
        name: &str,
    ) -> Result<Option<AgentConnectionRecord>> {
        let row = sqlx::query(agent_connection_select!(
            "WHERE c.workspace_id = ? AND c.name = ?"
        ))
        .bind(workspace.as_str())
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| agent_connection_from_row(&r)).transpose()
    }
}

//! Row types of the store and their mapping from SQL rows.

use crate::{Error, Result};
use conexor_types::{ConnectionKind, KeyId, Mode, SecretId, Timestamp, WorkspaceId};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

#[derive(Debug, Clone)]
pub struct WorkspaceRecord {
    pub id: WorkspaceId,
    pub name: String,
    pub created_at: String,
}

/// What a key may do: `admin` manages keys and connections and calls tools;
/// `mcp` (the key pasted into an AI client) only calls tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Admin,
    Mcp,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Mcp => "mcp",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "admin" => Some(Scope::Admin),
            "mcp" => Some(Scope::Mcp),
            _ => None,
        }
    }
}

/// One API key as the server knows it: public and wrapped values only.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub key_id: KeyId,
    pub workspace_id: WorkspaceId,
    pub label: String,
    pub scope: Scope,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub auth_salt: Vec<u8>,
    pub auth_hash: Vec<u8>,
    pub kdf_salt: Vec<u8>,
    pub kdf_iterations: u32,
    /// Envelope JSON of the workspace master key wrapped for this key.
    pub wrapped_wmk: String,
    /// Envelope JSON that lets a client confirm an unwrap.
    pub wmk_check: String,
}

/// One connection: name, kind and mode in clear, everything else sealed.
#[derive(Debug, Clone)]
pub struct ConnectionRecord {
    pub workspace_id: WorkspaceId,
    pub name: String,
    /// Parsed once, when the row is read.
    pub kind: ConnectionKind,
    /// Parsed once, when the row is read.
    pub mode: Mode,
    pub secret_id: SecretId,
    pub secret_version: i64,
    /// Envelope JSON of the connection spec, sealed under its DEK.
    pub sealed_value: String,
    /// Envelope JSON of the DEK, wrapped by the workspace master key.
    pub sealed_dek: String,
    /// Discovered schema as JSON (names, types, keys; never rows).
    pub schema_json: Option<String>,
    pub discovered_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

pub(crate) const KEY_SELECT_BY_ID: &str = "SELECT key_id, workspace_id, label, scope, created_at, revoked_at, auth_salt, auth_hash, kdf_salt, kdf_iterations, wrapped_wmk, wmk_check FROM api_keys WHERE key_id = ?";
pub(crate) const KEY_SELECT_BY_WORKSPACE: &str = "SELECT key_id, workspace_id, label, scope, created_at, revoked_at, auth_salt, auth_hash, kdf_salt, kdf_iterations, wrapped_wmk, wmk_check FROM api_keys WHERE workspace_id = ? ORDER BY created_at, key_id";
pub(crate) const CONNECTION_SELECT_BY_WORKSPACE: &str = "SELECT workspace_id, name, kind, mode, secret_id, secret_version, sealed_value, sealed_dek, schema_json, discovered_at, created_at, updated_at FROM connections WHERE workspace_id = ? ORDER BY name";
pub(crate) const CONNECTION_SELECT_ONE: &str = "SELECT workspace_id, name, kind, mode, secret_id, secret_version, sealed_value, sealed_dek, schema_json, discovered_at, created_at, updated_at FROM connections WHERE workspace_id = ? AND name = ?";

pub(crate) fn workspace_from_row(r: &SqliteRow) -> Result<WorkspaceRecord> {
    Ok(WorkspaceRecord {
        id: WorkspaceId::parse(&r.try_get::<String, _>(0)?)
            .map_err(|_| Error::Corrupt("workspace id"))?,
        name: r.try_get(1)?,
        created_at: r.try_get(2)?,
    })
}

pub(crate) fn key_from_row(r: &SqliteRow) -> Result<KeyRecord> {
    let iterations: i64 = r.try_get(9)?;
    Ok(KeyRecord {
        key_id: KeyId::parse(&r.try_get::<String, _>(0)?).map_err(|_| Error::Corrupt("key id"))?,
        workspace_id: WorkspaceId::parse(&r.try_get::<String, _>(1)?)
            .map_err(|_| Error::Corrupt("workspace id"))?,
        label: r.try_get(2)?,
        scope: Scope::parse(&r.try_get::<String, _>(3)?).ok_or(Error::Corrupt("key scope"))?,
        created_at: r.try_get(4)?,
        revoked_at: r.try_get(5)?,
        auth_salt: r.try_get(6)?,
        auth_hash: r.try_get(7)?,
        kdf_salt: r.try_get(8)?,
        kdf_iterations: u32::try_from(iterations).map_err(|_| Error::Corrupt("kdf iterations"))?,
        wrapped_wmk: r.try_get(10)?,
        wmk_check: r.try_get(11)?,
    })
}

pub(crate) fn connection_from_row(r: &SqliteRow) -> Result<ConnectionRecord> {
    Ok(ConnectionRecord {
        workspace_id: WorkspaceId::parse(&r.try_get::<String, _>(0)?)
            .map_err(|_| Error::Corrupt("workspace id"))?,
        name: r.try_get(1)?,
        kind: ConnectionKind::parse(&r.try_get::<String, _>(2)?)
            .ok_or(Error::Corrupt("connection kind"))?,
        mode: Mode::parse(&r.try_get::<String, _>(3)?).ok_or(Error::Corrupt("connection mode"))?,
        secret_id: SecretId::parse(&r.try_get::<String, _>(4)?)
            .map_err(|_| Error::Corrupt("secret id"))?,
        secret_version: r.try_get(5)?,
        sealed_value: r.try_get(6)?,
        sealed_dek: r.try_get(7)?,
        schema_json: r.try_get(8)?,
        discovered_at: r
            .try_get::<Option<String>, _>(9)?
            .map(|t| timestamp(&t))
            .transpose()?,
        created_at: timestamp(&r.try_get::<String, _>(10)?)?,
        updated_at: timestamp(&r.try_get::<String, _>(11)?)?,
    })
}

/// A stored time, read once; one that is not a time is a corrupt row.
pub(crate) fn timestamp(text: &str) -> Result<Timestamp> {
    Timestamp::parse(text).ok_or(Error::Corrupt("timestamp"))
}

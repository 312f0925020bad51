//! Authentication of every request, and the in-memory cache of unwrapped
//! workspace master keys.
//!
//! A bearer `cxk_…` key is parsed strictly, looked up by its public key id
//! and checked against the stored salted SHA-256 in constant time. That is
//! all an unauthenticated request costs: no key derivation happens before
//! the hash matches. Only a request that needs a secret opened (direct-mode
//! reads, tests, discovery) derives the KEK, and the unwrapped master key is
//! then cached for `key_cache_ttl`, zeroized when evicted.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use conexor_crypto::{ApiKey, Envelope, Wmk};
use conexor_store::{KeyRecord, Scope};
use conexor_types::{KeyId, WorkspaceId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Who is calling: an authenticated, unrevoked API key.
#[derive(Clone)]
pub struct Principal {
    pub workspace_id: WorkspaceId,
    pub key_id: KeyId,
    pub label: String,
    pub scope: Scope,
    /// The key's secret, needed to unwrap the workspace key for direct-mode reads.
    secret: Arc<Zeroizing<[u8; 32]>>,
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("workspace_id", &self.workspace_id)
            .field("key_id", &self.key_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// Who to name in an audit record for an action taken with the admin
    /// token (workspace creation). It holds no key secret and opens nothing.
    pub(crate) fn admin_token(workspace_id: WorkspaceId, key_id: KeyId) -> Principal {
        Principal {
            workspace_id,
            key_id,
            label: "admin token".into(),
            scope: Scope::Admin,
            secret: Arc::new(Zeroizing::new([0u8; 32])),
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.scope {
            Scope::Admin => Ok(()),
            Scope::Mcp => Err(ApiError::Forbidden(
                "this key has mcp scope: it can call tools but not manage keys or connections",
            )),
        }
    }
}

/// Extracts the bearer token of a request.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim())
}

/// Checks a presented key against the store. Costs one SHA-256 and one lookup.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let key = ApiKey::parse(token).map_err(|_| ApiError::Unauthenticated)?;
    let record = state
        .store
        .cached_key(key.key_id())
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    if record.revoked_at.is_some() {
        return Err(ApiError::Unauthenticated);
    }
    let salt: [u8; 16] = record
        .auth_salt
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::Unauthenticated)?;
    if !conexor_crypto::verify_auth(&salt, key.secret(), &record.auth_hash) {
        return Err(ApiError::Unauthenticated);
    }
    state.key_usage.note(&state.store, &record.key_id);
    Ok(Principal {
        workspace_id: record.workspace_id.clone(),
        key_id: record.key_id.clone(),
        label: record.label.clone(),
        scope: record.scope,
        secret: Arc::new(Zeroizing::new(*key.secret())),
    })
}

/// Axum middleware: every request under it carries a valid key or gets 401.
pub async fn require_key(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = bearer(request.headers())
        .ok_or(ApiError::Unauthenticated)?
        .to_owned();
    let principal = authenticate(&state, &token).await?;
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// Unwrapped workspace master keys, by key id, for a short time.
#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<KeyId, (Wmk, Instant)>>,
    /// One derivation per key at a time (see [`crate::gates`]).
    deriving: crate::gates::Gates<KeyId>,
    /// Key derivations this server has run; lets tests prove that an
    /// unauthenticated request costs none.
    derivations: std::sync::atomic::AtomicU64,
}

impl KeyCache {
    /// Returns the workspace master key for `principal`, deriving the KEK
    /// (PBKDF2, ~60 ms) only when not cached.
    pub async fn unlock(
        &self,
        store: &conexor_store::Store,
        ttl: Duration,
        principal: &Principal,
    ) -> Result<Wmk, ApiError> {
        if let Some(wmk) = self.get(&principal.key_id, ttl) {
            return Ok(wmk);
        }
        let _turn = self.deriving.enter(&principal.key_id).await;
        if let Some(wmk) = self.get(&principal.key_id, ttl) {
            return Ok(wmk);
        }
        let record = store
            .key(&principal.key_id)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        if record.revoked_at.is_some() {
            return Err(ApiError::Unauthenticated);
        }
        let secret = principal.secret.clone();
        self.derivations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let wmk = tokio::task::spawn_blocking(move || unwrap_for(&record, &secret))
            .await
            .map_err(|e| ApiError::Internal(e.into()))??;
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(principal.key_id.clone(), (wmk.clone(), Instant::now()));
        }
        Ok(wmk)
    }

    fn get(&self, key_id: &KeyId, ttl: Duration) -> Option<Wmk> {
        let mut entries = self.entries.lock().ok()?;
        match entries.get(key_id) {
            Some((wmk, at)) if at.elapsed() < ttl => Some(wmk.clone()),
            Some(_) => {
                entries.remove(key_id);
                None
            }
            None => None,
        }
    }

    pub fn derivations(&self) -> u64 {
        self.derivations.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Drops a key's entry (revocation, rotation).
    pub fn forget(&self, key_id: &KeyId) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key_id);
        }
    }

    /// Drops every expired entry; called periodically.
    pub fn sweep(&self, ttl: Duration) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
        }
    }
}

fn unwrap_for(record: &KeyRecord, secret: &[u8; 32]) -> Result<Wmk, ApiError> {
    let kdf_salt: [u8; 16] =
        record.kdf_salt.as_slice().try_into().map_err(|_| {
            ApiError::Internal(anyhow::anyhow!("stored kdf salt has the wrong length"))
        })?;
    let kek = conexor_crypto::derive_kek(secret, &kdf_salt, record.kdf_iterations)
        .map_err(|e| ApiError::Internal(e.into()))?;
    let wrapped: Envelope =
        serde_json::from_str(&record.wrapped_wmk).map_err(|e| ApiError::Internal(e.into()))?;
    conexor_crypto::unwrap_wmk(&kek, &wrapped, &record.key_id)
        .map_err(|e| ApiError::Internal(e.into()))
}

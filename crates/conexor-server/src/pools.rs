//! Open source pools, keyed by (workspace, connection, secret version) so an
//! edited connection never reuses a pool opened with old credentials. Pools
//! idle longer than the key-cache TTL are closed.

use conexor_connectors::Source;
use conexor_types::WorkspaceId;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub type PoolKey = (WorkspaceId, String, i64);

#[derive(Default)]
pub struct PoolCache {
    pools: Mutex<HashMap<PoolKey, (Source, Instant)>>,
    /// One opener per pool at a time (see [`crate::gates`]).
    opening: crate::gates::Gates<PoolKey>,
}

impl PoolCache {
    pub async fn get(
        &self,
        workspace: &WorkspaceId,
        connection: &str,
        version: i64,
    ) -> Option<Source> {
        let mut pools = self.pools.lock().await;
        let entry = pools.get_mut(&(workspace.clone(), connection.to_owned(), version))?;
        entry.1 = Instant::now();
        Some(entry.0.clone())
    }

    /// Waits for the turn to open the pool of (workspace, connection,
    /// version); look it up again once it is yours.
    pub async fn opening(
        &self,
        workspace: &WorkspaceId,
        connection: &str,
        version: i64,
    ) -> crate::gates::Turn<'_, PoolKey> {
        self.opening
            .enter(&(workspace.clone(), connection.to_owned(), version))
            .await
    }

    /// Stores a pool, closing any pool of another version of the same connection
    /// (and one of the same version it replaces).
    pub async fn put(
        &self,
        workspace: &WorkspaceId,
        connection: &str,
        version: i64,
        source: Source,
    ) {
        self.close_where(|(w, c, v), _| w == workspace && c == connection && *v != version)
            .await;
        let key = (workspace.clone(), connection.to_owned(), version);
        let replaced = self
            .pools
            .lock()
            .await
            .insert(key, (source, Instant::now()));
        if let Some((old, _)) = replaced {
            old.close().await;
        }
    }

    /// Closes every pool of a connection (edit, remove).
    pub async fn close_connection(&self, workspace: &WorkspaceId, connection: &str) {
        self.close_where(|(w, c, _), _| w == workspace && c == connection)
            .await;
    }

    /// Closes pools idle for `idle` or longer.
    pub async fn sweep(&self, idle: Duration) {
        self.close_where(|_, last_used| last_used.elapsed() >= idle)
            .await;
    }

    pub async fn close_all(&self) {
        self.close_where(|_, _| true).await;
    }

    /// Removes the matching pools under the lock, then closes them outside it.
    async fn close_where(&self, matches: impl Fn(&PoolKey, &Instant) -> bool) {
        let removed: Vec<Source> = {
            let mut pools = self.pools.lock().await;
            let keys: Vec<PoolKey> = pools
                .iter()
                .filter(|(k, (_, at))| matches(k, at))
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter()
                .filter_map(|k| pools.remove(k))
                .map(|(s, _)| s)
                .collect()
        };
        for source in removed {
            source.close().await;
        }
    }
}

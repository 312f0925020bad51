//! Open source pools, keyed by (workspace, connection, secret version) so an
//! edited connection never reuses a pool opened with old credentials. Pools
//! idle longer than the key-cache TTL are closed.

use conexor_connectors::Source;
use conexor_types::WorkspaceId;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

type PoolKey = (WorkspaceId, String, i64);

#[derive(Default)]
pub struct PoolCache {
    pools: Mutex<HashMap<PoolKey, (Source, Instant)>>,
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

    /// Stores a pool, closing any pool of an older version of the same connection.
    pub async fn put(
        &self,
        workspace: &WorkspaceId,
        connection: &str,
        version: i64,
        source: Source,
    ) {
        let stale: Vec<Source> = {
            let mut pools = self.pools.lock().await;
            let old_keys: Vec<PoolKey> = pools
                .keys()
                .filter(|(w, c, v)| w == workspace && c == connection && *v != version)
                .cloned()
                .collect();
            let stale = old_keys
                .iter()
                .filter_map(|k| pools.remove(k))
                .map(|(s, _)| s)
                .collect();
            pools.insert(
                (workspace.clone(), connection.to_owned(), version),
                (source, Instant::now()),
            );
            stale
        };
        for s in stale {
            s.close().await;
        }
    }

    /// Closes every pool of a connection (edit, remove).
    pub async fn close_connection(&self, workspace: &WorkspaceId, connection: &str) {
        let removed: Vec<Source> = {
            let mut pools = self.pools.lock().await;
            let keys: Vec<PoolKey> = pools
                .keys()
                .filter(|(w, c, _)| w == workspace && c == connection)
                .cloned()
                .collect();
            keys.iter()
                .filter_map(|k| pools.remove(k))
                .map(|(s, _)| s)
                .collect()
        };
        for s in removed {
            s.close().await;
        }
    }

    pub async fn sweep(&self, idle: Duration) {
        let removed: Vec<Source> = {
            let mut pools = self.pools.lock().await;
            let keys: Vec<PoolKey> = pools
                .iter()
                .filter(|(_, (_, at))| at.elapsed() >= idle)
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter()
                .filter_map(|k| pools.remove(k))
                .map(|(s, _)| s)
                .collect()
        };
        for s in removed {
            s.close().await;
        }
    }

    pub async fn close_all(&self) {
        let all: Vec<Source> = self
            .pools
            .lock()
            .await
            .drain()
            .map(|(_, (s, _))| s)
            .collect();
        for s in all {
            s.close().await;
        }
    }
}

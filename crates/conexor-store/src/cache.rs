//! Records read on every call, kept in memory between writes.
//!
//! Each authenticated request reads its key's record, each read its
//! connection's record, and each schema call its workspace's connection list. Reading them from SQLite every time cost two or three
//! queries per call, each a hop to sqlx's SQLite worker thread; under load
//! that was about 3 % of a call's CPU, and it grows with the schema stored in
//! the connection's record. This cache keeps them in memory.
//!
//! Correctness rests on one rule: every method of [`Store`](crate::Store)
//! that writes a table read through here calls [`ReadCache::invalidate`]
//! after its write (and after a failed one too). Invalidation bumps a
//! generation and empties the maps; a reader inserts what it read only if the
//! generation is still the one it saw *before* its query. So an entry read
//! before a commit is either rejected or cleared by that commit's
//! invalidation: a revoked key or an edited connection is never served from
//! memory after the write returns. Only this process writes the store.
//!
//! The maps are bounded: keys and names come from requests, so a flood of
//! unknown ones empties a full map rather than growing it. Unknown keys are
//! not remembered at all. Connection records carry their discovered schema,
//! so the connection maps are also bounded by the text they hold.

use crate::{AgentConnectionRecord, ConnectionRecord, KeyRecord};
use conexor_types::{KeyId, WorkspaceId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Most entries per map; a full map is emptied before the next insert.
const CAPACITY: usize = 4096;

/// Most bytes of stored text (schemas above all: 5.8 MB for 10,000 tables)
/// kept across both connection maps; past it they are emptied.
const CONNECTION_BYTES: usize = 64 << 20;

type Named = (WorkspaceId, String);

#[derive(Default)]
struct Maps {
    generation: u64,
    keys: HashMap<KeyId, Arc<KeyRecord>>,
    connections: HashMap<Named, Option<Arc<ConnectionRecord>>>,
    agent_connections: HashMap<Named, Option<Arc<AgentConnectionRecord>>>,
    /// Every connection of a workspace, for the calls that list or search them.
    workspaces: HashMap<WorkspaceId, Arc<WorkspaceConnections>>,
    /// Text held by the connection maps, about.
    connection_bytes: usize,
}

/// Every connection of one workspace, direct and offered by agents, each
/// sorted by name as the store lists them.
#[derive(Debug, Default)]
pub struct WorkspaceConnections {
    pub direct: Vec<Arc<ConnectionRecord>>,
    pub agent: Vec<Arc<AgentConnectionRecord>>,
}

impl WorkspaceConnections {
    fn bytes(&self) -> usize {
        let direct: usize = self
            .direct
            .iter()
            .map(|c| c.schema_json.as_ref().map_or(0, String::len) + c.sealed_value.len())
            .sum();
        let agent: usize = self
            .agent
            .iter()
            .map(|c| c.schema_json.as_ref().map_or(0, String::len))
            .sum();
        direct + agent
    }
}

impl Maps {
    /// Makes room for a connection record of `bytes`: both connection maps are
    /// emptied when it would pass [`CONNECTION_BYTES`].
    fn room_for(&mut self, bytes: usize) {
        if self.connection_bytes + bytes > CONNECTION_BYTES {
            self.connections.clear();
            self.agent_connections.clear();
            self.workspaces.clear();
            self.connection_bytes = 0;
        }
        self.connection_bytes += bytes;
    }
}

#[derive(Default)]
pub(crate) struct ReadCache {
    maps: Mutex<Maps>,
}

/// What a lookup found: a cached answer, or the generation to read under.
pub(crate) enum Lookup<T> {
    Hit(T),
    Miss(u64),
}

impl<T> Lookup<T> {
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Lookup<U> {
        match self {
            Lookup::Hit(found) => Lookup::Hit(f(found)),
            Lookup::Miss(generation) => Lookup::Miss(generation),
        }
    }
}

fn insert<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= CAPACITY {
        map.clear();
    }
    map.insert(key, value);
}

impl ReadCache {
    fn maps(&self) -> MutexGuard<'_, Maps> {
        // A panic while holding this lock leaves plain maps behind, still valid.
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets everything: called by every write to keys, connections or agents.
    pub(crate) fn invalidate(&self) {
        let mut maps = self.maps();
        maps.generation = maps.generation.wrapping_add(1);
        maps.keys.clear();
        maps.connections.clear();
        maps.agent_connections.clear();
        maps.workspaces.clear();
        maps.connection_bytes = 0;
    }

    pub(crate) fn workspace(&self, workspace: &WorkspaceId) -> Lookup<Arc<WorkspaceConnections>> {
        let maps = self.maps();
        match maps.workspaces.get(workspace) {
            Some(found) => Lookup::Hit(found.clone()),
            None => Lookup::Miss(maps.generation),
        }
    }

    pub(crate) fn put_workspace(
        &self,
        generation: u64,
        workspace: &WorkspaceId,
        found: Arc<WorkspaceConnections>,
    ) {
        let mut maps = self.maps();
        if maps.generation == generation {
            maps.room_for(found.bytes());
            insert(&mut maps.workspaces, workspace.clone(), found);
        }
    }

    pub(crate) fn key(&self, id: &KeyId) -> Lookup<Arc<KeyRecord>> {
        let maps = self.maps();
        match maps.keys.get(id) {
            Some(record) => Lookup::Hit(record.clone()),
            None => Lookup::Miss(maps.generation),
        }
    }

    pub(crate) fn put_key(&self, generation: u64, record: Arc<KeyRecord>) {
        let mut maps = self.maps();
        if maps.generation == generation {
            insert(&mut maps.keys, record.key_id.clone(), record);
        }
    }

    pub(crate) fn connection(
        &self,
        workspace: &WorkspaceId,
        name: &str,
    ) -> Lookup<Option<Arc<ConnectionRecord>>> {
        let maps = self.maps();
        match maps.connections.get(&(workspace.clone(), name.to_owned())) {
            Some(found) => Lookup::Hit(found.clone()),
            None => Lookup::Miss(maps.generation),
        }
    }

    pub(crate) fn put_connection(
        &self,
        generation: u64,
        workspace: &WorkspaceId,
        name: &str,
        found: Option<Arc<ConnectionRecord>>,
    ) {
        let mut maps = self.maps();
        if maps.generation == generation {
            let bytes = found.as_ref().map_or(0, |c| {
                c.schema_json.as_ref().map_or(0, String::len)
                    + c.sealed_value.len()
                    + c.sealed_dek.len()
            });
            maps.room_for(bytes);
            insert(
                &mut maps.connections,
                (workspace.clone(), name.to_owned()),
                found,
            );
        }
    }

    pub(crate) fn agent_connection(
        &self,
        workspace: &WorkspaceId,
        name: &str,
    ) -> Lookup<Option<Arc<AgentConnectionRecord>>> {
        let maps = self.maps();
        match maps
            .agent_connections
            .get(&(workspace.clone(), name.to_owned()))
        {
            Some(found) => Lookup::Hit(found.clone()),
            None => Lookup::Miss(maps.generation),
        }
    }

    pub(crate) fn put_agent_connection(
        &self,
        generation: u64,
        workspace: &WorkspaceId,
        name: &str,
        found: Option<Arc<AgentConnectionRecord>>,
    ) {
        let mut maps = self.maps();
        if maps.generation == generation {
            let bytes = found
                .as_ref()
                .map_or(0, |c| c.schema_json.as_ref().map_or(0, String::len));
            maps.room_for(bytes);
            insert(
                &mut maps.agent_connections,
                (workspace.clone(), name.to_owned()),
                found,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conexor_types::SecretId;

    fn record(ws: &WorkspaceId, name: &str, schema_bytes: usize) -> Arc<ConnectionRecord> {
        Arc::new(ConnectionRecord {
            workspace_id: ws.clone(),
            name: name.into(),
            kind: conexor_types::ConnectionKind::Postgresql,
            mode: conexor_types::Mode::Direct,
            secret_id: SecretId::parse("sec_0123456789ABCDEF").unwrap(),
            secret_version: 1,
            sealed_value: String::new(),
            sealed_dek: String::new(),
            schema_json: Some("x".repeat(schema_bytes)),
            discovered_at: None,
            created_at: conexor_types::Timestamp::now(),
            updated_at: conexor_types::Timestamp::now(),
        })
    }

    #[test]
    fn connection_records_are_bounded_by_the_text_they_hold() {
        let cache = ReadCache::default();
        let ws = WorkspaceId::parse("ws_0123456789abcdef").unwrap();
        let generation = match cache.connection(&ws, "c0") {
            Lookup::Miss(generation) => generation,
            Lookup::Hit(_) => panic!("empty cache"),
        };
        for i in 0..6 {
            let name = format!("c{i}");
            cache.put_connection(generation, &ws, &name, Some(record(&ws, &name, 20 << 20)));
            let maps = cache.maps();
            assert!(
                maps.connection_bytes <= CONNECTION_BYTES,
                "{}",
                maps.connection_bytes
            );
            assert!(maps.connections.len() <= 3);
        }
        // The newest is kept; the oldest went with the emptying.
        assert!(matches!(cache.connection(&ws, "c5"), Lookup::Hit(Some(_))));
        assert!(matches!(cache.connection(&ws, "c0"), Lookup::Miss(_)));
    }
}

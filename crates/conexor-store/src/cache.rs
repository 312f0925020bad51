//! Records read on every call, kept in memory between writes.
//!
//! Each authenticated request reads its key's record and each read its
//! connection's record. Reading them from SQLite every time cost two or three
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
//! not remembered at all.

use crate::{AgentConnectionRecord, ConnectionRecord, KeyRecord};
use conexor_types::{KeyId, WorkspaceId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Most entries per map; a full map is emptied before the next insert.
const CAPACITY: usize = 4096;

type Named = (WorkspaceId, String);

#[derive(Default)]
struct Maps {
    generation: u64,
    keys: HashMap<KeyId, Arc<KeyRecord>>,
    connections: HashMap<Named, Option<Arc<ConnectionRecord>>>,
    agent_connections: HashMap<Named, Option<Arc<AgentConnectionRecord>>>,
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
            insert(
                &mut maps.agent_connections,
                (workspace.clone(), name.to_owned()),
                found,
            );
        }
    }
}

//! One opener at a time per key: concurrent first callers wait for the
//! first one's work instead of repeating it.
//!
//! After a restart every session's first call finds no unwrapped workspace
//! key and no open pool. Without a gate each one ran its own key derivation
//! (PBKDF2, ~60 ms of CPU) and opened its own pool (a login each, all but one
//! thrown away): bench/load.sh saw first calls take 5 s with 20 sessions.
//! With a gate the first caller does the work and the others, woken in turn,
//! find its result in the cache they check again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Gates by key; a gate lives only while someone holds or waits on it.
pub struct Gates<K> {
    gates: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
}

impl<K> Default for Gates<K> {
    fn default() -> Self {
        Gates {
            gates: Mutex::new(HashMap::new()),
        }
    }
}

/// Held while the holder works; others with the same key wait.
pub struct Turn<'a, K: Hash + Eq> {
    gates: &'a Gates<K>,
    key: K,
    gate: Arc<tokio::sync::Mutex<()>>,
    _held: tokio::sync::OwnedMutexGuard<()>,
}

impl<K: Hash + Eq + Clone> Gates<K> {
    /// Waits for `key`'s turn.
    pub async fn enter(&self, key: &K) -> Turn<'_, K> {
        let gate = {
            let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
            gates.entry(key.clone()).or_default().clone()
        };
        let held = gate.clone().lock_owned().await;
        Turn {
            gates: self,
            key: key.clone(),
            gate,
            _held: held,
        }
    }
}

impl<K: Hash + Eq> Drop for Turn<'_, K> {
    fn drop(&mut self) {
        let mut gates = self.gates.gates.lock().unwrap_or_else(|e| e.into_inner());
        // The map, this turn and its guard hold the gate: nobody else waits.
        if gates
            .get(&self.key)
            .is_some_and(|g| Arc::ptr_eq(g, &self.gate) && Arc::strong_count(g) <= 3)
        {
            gates.remove(&self.key);
        }
    }
}

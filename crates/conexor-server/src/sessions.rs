//! MCP sessions: which API key opened each one, when it was last used, and
//! their bounds.
//!
//! rmcp's [`LocalSessionManager`] holds the live sessions; this module keeps
//! the binding of each session to its key and enforces two limits on top:
//! a session unused for `idle` is closed (rmcp's own `keep_alive` is set to
//! the same duration as a backstop), and a key holds at most `per_key` live
//! sessions — opening one more closes that key's least recently used
//! session, whose client then gets 404 and initializes again, as the MCP
//! specification says for an unknown session. Bindings are dropped as soon
//! as rmcp forgets a session, so the bookkeeping shrinks with the sessions.

use conexor_types::KeyId;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Most bindings kept at once, whatever the number of keys: past it the
/// least recently used session of the whole server is closed.
const MAX_BINDINGS: usize = 100_000;

struct Binding {
    key: KeyId,
    last_used: Instant,
}

/// What a request's session id refers to.
#[derive(Debug, PartialEq, Eq)]
pub enum Owner {
    /// Bound to this key and still live in rmcp.
    Key(KeyId),
    /// Never opened here, closed, reaped, or evicted.
    Unknown,
}

pub struct Sessions {
    manager: Arc<LocalSessionManager>,
    bound: Mutex<HashMap<String, Binding>>,
    idle: Duration,
    per_key: usize,
}

impl Sessions {
    pub fn new(idle: Duration, per_key: usize) -> Sessions {
        let mut manager = LocalSessionManager::default();
        manager.session_config.keep_alive = Some(idle);
        Sessions {
            manager: Arc::new(manager),
            bound: Mutex::new(HashMap::new()),
            idle,
            per_key: per_key.max(1),
        }
    }

    /// The session manager handed to rmcp's Streamable HTTP service.
    pub fn manager(&self) -> Arc<LocalSessionManager> {
        self.manager.clone()
    }

    /// How long an unused session lives.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    fn bound(&self) -> MutexGuard<'_, HashMap<String, Binding>> {
        match self.bound.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Who owns `session`, marking it used. A binding whose session rmcp no
    /// longer holds (reaped, closed) is dropped and reported unknown.
    pub async fn owner(&self, session: &str) -> Owner {
        let live = self.manager.sessions.read().await.contains_key(session);
        let mut bound = self.bound();
        if !live {
            bound.remove(session);
            return Owner::Unknown;
        }
        match bound.get_mut(session) {
            Some(binding) => {
                binding.last_used = Instant::now();
                Owner::Key(binding.key.clone())
            }
            None => Owner::Unknown,
        }
    }

    /// Binds a newly opened session to `key`, then closes whatever sessions
    /// the limits push out (that key's least recently used beyond
    /// `per_key`, or the server's least recently used beyond the global cap).
    pub async fn bind(&self, session: &str, key: &KeyId) {
        let evicted = {
            let mut bound = self.bound();
            if bound.contains_key(session) {
                return;
            }
            bound.insert(
                session.to_owned(),
                Binding {
                    key: key.clone(),
                    last_used: Instant::now(),
                },
            );
            let mut evicted = Vec::new();
            loop {
                let mine: Vec<(&String, Instant)> = bound
                    .iter()
                    .filter(|(id, b)| b.key == *key && id.as_str() != session)
                    .map(|(id, b)| (id, b.last_used))
                    .collect();
                if mine.len() < self.per_key {
                    break;
                }
                let Some(oldest) = mine
                    .into_iter()
                    .min_by_key(|(_, at)| *at)
                    .map(|(id, _)| id.clone())
                else {
                    break;
                };
                bound.remove(&oldest);
                evicted.push(oldest);
            }
            while bound.len() > MAX_BINDINGS {
                let Some(oldest) = bound
                    .iter()
                    .filter(|(id, _)| id.as_str() != session)
                    .min_by_key(|(_, b)| b.last_used)
                    .map(|(id, _)| id.clone())
                else {
                    break;
                };
                bound.remove(&oldest);
                evicted.push(oldest);
            }
            evicted
        };
        for id in evicted {
            tracing::info!(key_id = %key, "MCP session closed: the key opened more than its limit.");
            self.close(&id).await;
        }
    }

    /// Forgets a session the client deleted.
    pub fn forget(&self, session: &str) {
        self.bound().remove(session);
    }

    /// Closes a session in rmcp (its worker ends; later requests get 404).
    async fn close(&self, session: &str) {
        use rmcp::transport::streamable_http_server::session::SessionManager;
        let id: rmcp::transport::streamable_http_server::session::SessionId = session.into();
        if let Err(e) = self.manager.close_session(&id).await {
            tracing::warn!(error = %e, "Closing an MCP session failed.");
        }
    }

    /// Closes sessions unused for `idle` and drops bindings of sessions rmcp
    /// no longer holds. Called periodically.
    pub async fn sweep(&self) {
        let live: std::collections::HashSet<String> = self
            .manager
            .sessions
            .read()
            .await
            .keys()
            .map(|id| id.to_string())
            .collect();
        let idle = {
            let mut bound = self.bound();
            bound.retain(|id, _| live.contains(id));
            let idle: Vec<String> = bound
                .iter()
                .filter(|(_, b)| b.last_used.elapsed() >= self.idle)
                .map(|(id, _)| id.clone())
                .collect();
            for id in &idle {
                bound.remove(id);
            }
            idle
        };
        for id in &idle {
            self.close(id).await;
        }
        // Sessions rmcp holds that were never bound (an initialize whose
        // answer never reached `bind`) are closed once idle by rmcp itself.
    }

    /// Bindings held (for tests: the bookkeeping shrinks with the sessions).
    pub fn bound_len(&self) -> usize {
        self.bound().len()
    }

    /// Bindings held for one key.
    pub fn bound_for(&self, key: &KeyId) -> usize {
        self.bound().values().filter(|b| b.key == *key).count()
    }

    /// Sessions rmcp holds.
    pub async fn live_len(&self) -> usize {
        self.manager.sessions.read().await.len()
    }
}

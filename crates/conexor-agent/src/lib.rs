//! The on-premise agent (`conexor agent`): it runs next to the customer's
//! databases, dials **out** to the server over one WebSocket, offers its
//! local connections by name and kind, and serves guarded reads. The server
//! never dials in and never sees a connection string: there is no message
//! that could carry one (see `conexor-protocol`).
//!
//! The agent trusts nothing the server sends. Every request goes through
//! the same SELECT-only guard and the same source-side read-only session as
//! in direct mode, under the agent's own limits, and is recorded in the
//! agent's own hash-chained audit log before it is answered.
//!
//! The parts: [`config`] (agent.toml and the local secrets it names),
//! [`state`] (identity key and ids on disk), `audit_log` (the local chain),
//! `session` (one WebSocket session: handshake, heartbeats, dispatch) and
//! `serve` (one request). [`run`] reconnects with exponential backoff and
//! jitter until shutdown or a permanent refusal.

pub mod config;
pub mod state;

mod audit_log;
mod outbox;
mod serve;
mod session;

pub use audit_log::{FILE as AUDIT_FILE, signing_key as audit_signing_key};
pub use config::{AgentLimits, ConfigError, LocalConnection, Settings};

use conexor_connectors::Source;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why the agent stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("agent state: {0}")]
    State(#[from] std::io::Error),
    #[error(
        "this agent is not enrolled yet and has no enrolment token: create one with `conexor agents create NAME` and set token_env (or token) in agent.toml"
    )]
    NoToken,
    #[error("the server refused this agent ({code}): {reason}")]
    Refused { code: String, reason: String },
}

/// State shared by every session of one agent process.
pub(crate) struct Shared {
    pub settings: Settings,
    pub identity: Mutex<state::Identity>,
    /// Open local pools, opened on first use.
    pub sources: tokio::sync::Mutex<HashMap<String, Source>>,
    /// The local audit log, opened once the workspace is known.
    pub audit: Arc<audit_log::AuditSink>,
    /// The server of the current session lets `done` carry the last batch
    /// of rows (`welcome.features`).
    pub rows_in_done: std::sync::atomic::AtomicBool,
}

/// Runs the agent until `shutdown` is cancelled or the server refuses it
/// for good (revoked, unknown, token used or expired).
pub async fn run(settings: Settings, shutdown: CancellationToken) -> Result<(), AgentError> {
    let identity = state::load_or_create_identity(&settings.state_dir)?;
    if identity.enrolled.is_none() && settings.token.is_none() {
        return Err(AgentError::NoToken);
    }
    let shared = Arc::new(Shared {
        identity: Mutex::new(identity),
        sources: tokio::sync::Mutex::new(HashMap::new()),
        audit: Arc::default(),
        rows_in_done: Default::default(),
        settings,
    });
    let mut attempt: u32 = 0;
    let result = loop {
        match session::run(&shared, &shutdown).await {
            Ok(session::End::Shutdown) => break Ok(()),
            Ok(session::End::Refused { code, reason }) if session::is_permanent(&code) => {
                tracing::error!(code = %code, reason = %reason, "Refused by the server; stopping.");
                break Err(AgentError::Refused { code, reason });
            }
            Ok(end) => {
                if end.was_connected() {
                    attempt = 0;
                }
                attempt = attempt.saturating_add(1);
                let delay = backoff(&shared.settings, attempt);
                tracing::warn!(attempt, delay_ms = delay.as_millis() as u64, why = %end.describe(), "Reconnecting.");
                tokio::select! {
                    _ = shutdown.cancelled() => break Ok(()),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            Err(e) => break Err(e),
        }
    };
    for source in shared.sources.lock().await.values() {
        source.close().await;
    }
    // The log ends with a signed checkpoint.
    shared.audit.close().await;
    result
}

/// Exponential backoff with "equal jitter": half the doubled delay fixed,
/// half random, capped.
fn backoff(settings: &Settings, attempt: u32) -> Duration {
    let base = settings.backoff_base.as_millis() as u64;
    let max = settings.backoff_max.as_millis() as u64;
    let exp = base
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(20))
        .min(max)
        .max(1);
    let jitter = rand::random_range(0..=exp / 2);
    Duration::from_millis(exp - exp / 2 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut s =
            Settings::parse("server = \"http://127.0.0.1:1\"", std::path::Path::new("/")).unwrap();
        s.backoff_base = Duration::from_millis(100);
        s.backoff_max = Duration::from_secs(2);
        for attempt in 1..40 {
            let d = backoff(&s, attempt).as_millis() as u64;
            let exp = (100u64 << (attempt - 1).min(20)).min(2000);
            assert!(d >= exp / 2 && d <= exp, "attempt {attempt}: {d} ms");
        }
    }
}

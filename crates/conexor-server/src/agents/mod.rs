//! The agent hub: the server's end of agent mode (DESIGN §7).
//!
//! Agents dial in to `GET /agent/v1` (a WebSocket); the server never dials
//! out to them or to their sources, and holds no secret for their
//! connections. Each session starts with a fresh nonce; the agent answers
//! with `enrol` (a one-time token, stored here only as a SHA-256, plus a
//! public key and proof of its private half) or `hello` (its agent id,
//! signed with the key enrolled before). Then many requests share the one
//! socket, matched by id, each bounded by the caller's caps, and fail with a
//! clear error naming the agent when it goes away (closed socket, or no
//! traffic for three heartbeats).
//!
//! The hub trusts an agent with its own rows and metadata, nothing more:
//! result sizes are re-counted and capped here, error codes are checked to
//! be value-free before they enter the audit chain, and an agent can offer
//! connections only into the workspace its identity belongs to.
//!
//! This file holds the hub, its links and the socket's entry point; each job
//! has its own file: `handshake` (nonce, enrol or hello, welcome or
//! refused), `session` (a live socket: reader, writer, heartbeats, replies
//! routed by id), `request` (a call's request and its re-capped answer) and
//! `events` (agent events in the audit chain).

use crate::gateway::ToolError;
use crate::state::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use conexor_protocol::{
    AgentMessage, ConnectionOffer, Operation, RejectedOffer, ServerMessage, decode_agent, encode,
};
use conexor_store::{AgentRecord, EnrolRefusal};
use conexor_types::{Column, Limits, ResultSet, WorkspaceId};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

mod events;
mod handshake;
mod request;
pub use request::ValueRead;
mod session;

use events::audit_event;
use handshake::*;
use session::*;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest opening message (enrol or hello) read before it is parsed.
const MAX_OPENING_BYTES: usize = 64 << 10;
/// Longest one frame may take to leave.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Most queued messages written to an agent's socket in one flush.
const COALESCE: usize = 64;
/// Requests one agent may have in flight from this server.
const MAX_IN_FLIGHT: u32 = 64;
/// Frames waiting to go to one agent.
const OUTBOX: usize = 256;
/// Replies buffered per request before the socket reader waits.
const REPLY_BUFFER: usize = 8;
/// A session that sends this many malformed messages is closed.
const MAX_MALFORMED: u32 = 20;
/// Largest schema accepted from an agent for one connection.
const MAX_SCHEMA_BYTES: usize = 2 << 20;
/// Grace beyond the statement timeout before the server gives up on an answer.
const ANSWER_GRACE: Duration = Duration::from_secs(5);

/// What one request receives from the socket reader.
enum Reply {
    Rows {
        columns: Option<Vec<Column>>,
        rows: Vec<Vec<Value>>,
    },
    Done {
        truncated: bool,
        /// The hash of the statement the agent sent to its source, under its own caps.
        query_hash: Option<String>,
        /// The last batch, when it rode on `done` (`ROWS_IN_DONE`).
        columns: Option<Vec<Column>>,
        rows: Vec<Vec<Value>>,
    },
    Error {
        /// Parsed once, here at the edge.
        code: conexor_types::ErrorCode,
        message: String,
        denied: bool,
    },
    Schema {
        connection: String,
        schema: Value,
    },
    /// An object read's answer (well-formed hash only).
    Object {
        value: Value,
        rows: Option<u64>,
        query_hash: Option<String>,
    },
}

/// One live agent connection.
pub struct Link {
    pub agent_id: String,
    pub name: String,
    pub workspace_id: WorkspaceId,
    pub version: String,
    pub address: String,
    pub connected_at: String,
    outbox: mpsc::Sender<String>,
    pending: Mutex<HashMap<u64, mpsc::Sender<Reply>>>,
    next_id: AtomicU64,
    permits: Arc<Semaphore>,
    /// Cancelled when the session ends (socket gone, heartbeat lost, revoked).
    closed: CancellationToken,
    /// Why it ended, for the calls that were waiting.
    end_reason: Mutex<Option<String>>,
}

impl Link {
    fn ended_why(&self) -> String {
        self.end_reason
            .lock()
            .ok()
            .and_then(|r| r.clone())
            .unwrap_or_else(|| "the connection closed".into())
    }
}

/// Sockets that may be between upgrade and welcome at once: an
/// unauthenticated peer can hold one for at most [`HANDSHAKE_TIMEOUT`].
const MAX_HANDSHAKES: usize = 256;

/// Pending handshakes one address may hold.
const MAX_HANDSHAKES_PER_ADDRESS: usize = 16;

/// Live agents, by agent id.
pub struct AgentHub {
    live: Mutex<HashMap<String, Arc<Link>>>,
    handshakes: Arc<Semaphore>,
    /// Pending handshakes by peer IP address.
    pending_by_ip: Arc<Mutex<HashMap<std::net::IpAddr, usize>>>,
}

/// A pending handshake's slot for its address; freed on drop.
struct AddressSlot {
    ip: Option<std::net::IpAddr>,
    map: Arc<Mutex<HashMap<std::net::IpAddr, usize>>>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            let mut map = lock(&self.map);
            if let Some(n) = map.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(&ip);
                }
            }
        }
    }
}

impl Default for AgentHub {
    fn default() -> Self {
        AgentHub {
            live: Mutex::new(HashMap::new()),
            handshakes: Arc::new(Semaphore::new(MAX_HANDSHAKES)),
            pending_by_ip: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

/// Public facts about a live link, for `agents list`.
pub struct LinkInfo {
    pub version: String,
    pub address: String,
    pub connected_at: String,
    pub in_flight: usize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Removes a request's reply slot when the caller is done, and tells the
/// agent to stop when the caller went away before the answer.
struct PendingGuard {
    link: Arc<Link>,
    id: u64,
    finished: bool,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        lock(&self.link.pending).remove(&self.id);
        if !self.finished {
            let _ = self
                .link
                .outbox
                .try_send(encode(&ServerMessage::Cancel { id: self.id }));
        }
    }
}

impl AgentHub {
    pub fn info(&self, agent_id: &str) -> Option<LinkInfo> {
        lock(&self.live).get(agent_id).map(|l| LinkInfo {
            version: l.version.clone(),
            address: l.address.clone(),
            connected_at: l.connected_at.clone(),
            in_flight: lock(&l.pending).len(),
        })
    }

    pub fn is_live(&self, agent_id: &str) -> bool {
        lock(&self.live).contains_key(agent_id)
    }

    /// Cuts an agent off at once (revocation): it is told why, its socket
    /// closes, and its waiting calls fail.
    pub fn disconnect(&self, agent_id: &str, why: &str, code: &str) {
        let link = lock(&self.live).remove(agent_id);
        if let Some(link) = link {
            *lock(&link.end_reason) = Some(why.to_owned());
            let _ = link.outbox.try_send(encode(&ServerMessage::Refused {
                code: code.into(),
                reason: why.into(),
            }));
            // Give the refusal a moment to leave before the socket closes.
            let closed = link.closed.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                closed.cancel();
            });
            for (_, tx) in lock(&link.pending).drain() {
                drop(tx);
            }
        }
    }
}

/// `GET /agent/v1`: upgrades to the agent protocol. Unauthenticated at the
/// HTTP layer: the protocol's challenge is the authentication.
pub async fn socket(
    State(state): State<Arc<AppState>>,
    ws: WebSocketUpgrade,
    request: Request,
) -> Response {
    let Ok(permit) = state.agents.handshakes.clone().try_acquire_owned() else {
        return crate::error::ApiError::TooMany(
            "too many agents are connecting at once; retry shortly",
        )
        .into_response();
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let address = peer.map(|p| p.to_string()).unwrap_or_default();
    let ip = peer.map(|p| p.ip());
    if let Some(ip) = ip {
        let mut map = lock(&state.agents.pending_by_ip);
        let n = map.entry(ip).or_insert(0);
        if *n >= MAX_HANDSHAKES_PER_ADDRESS {
            return crate::error::ApiError::TooMany(
                "too many pending agent connections from this address; retry shortly",
            )
            .into_response();
        }
        *n += 1;
    }
    let handshake = (
        permit,
        AddressSlot {
            ip,
            map: state.agents.pending_by_ip.clone(),
        },
    );
    ws.max_message_size(conexor_protocol::MAX_MESSAGE_BYTES)
        .max_frame_size(conexor_protocol::MAX_MESSAGE_BYTES)
        .read_buffer_size(conexor_protocol::READ_CHUNK_BYTES)
        .on_upgrade(move |socket| async move {
            session(state, socket, address, handshake).await;
        })
}

type Sink = futures::stream::SplitSink<WebSocket, Message>;
type Stream = futures::stream::SplitStream<WebSocket>;

/// The SHA-256 the store keeps for an enrolment token.
pub fn enrolment_token_hash(token: &str) -> [u8; 32] {
    sha2::Sha256::digest(token.as_bytes()).into()
}

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

use crate::gateway::ToolError;
use crate::state::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use conexor_audit::{Draft, Outcome};
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

    fn start(
        &self,
        agent_id: &str,
        agent_name: &str,
        connection: &str,
        op: Operation,
    ) -> Result<(PendingGuard, mpsc::Receiver<Reply>), ToolError> {
        let link = lock(&self.live).get(agent_id).cloned().ok_or_else(|| {
            ToolError::failed(
                "agent.offline",
                format!("agent {agent_name:?} is not connected, so connection {connection:?} cannot be reached; it comes back when the agent reconnects (see `conexor agents list`)"),
            )
        })?;
        let permit = link.permits.clone().try_acquire_owned().map_err(|_| {
            ToolError::denied(
                "agent.busy",
                format!("agent {agent_name:?} has too many calls in flight; retry shortly"),
            )
        })?;
        let id = link.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(REPLY_BUFFER);
        lock(&link.pending).insert(id, tx);
        let guard = PendingGuard {
            link: link.clone(),
            id,
            finished: false,
            _permit: permit,
        };
        let frame = encode(&ServerMessage::Request {
            id,
            connection: connection.to_owned(),
            op,
        });
        if link.outbox.try_send(frame).is_err() {
            return Err(ToolError::failed(
                "agent.busy",
                format!("agent {agent_name:?} is not keeping up; retry shortly"),
            ));
        }
        Ok((guard, rx))
    }

    /// Runs one guarded query on an agent's connection. The result is
    /// bounded by `limits` here too, whatever the agent sends. Also returns
    /// the hash of the statement the agent says it sent (its caps may be
    /// tighter than ours, so its statement can differ), for the record.
    pub async fn query(
        &self,
        agent_id: &str,
        agent_name: &str,
        connection: &str,
        sql: &str,
        params: &[Value],
        limits: &Limits,
    ) -> Result<(ResultSet, Option<String>), ToolError> {
        let op = Operation::Query {
            sql: sql.to_owned(),
            params: params.to_vec(),
            max_rows: limits.max_rows,
            max_bytes: limits.max_bytes,
            timeout_ms: limits.timeout_ms,
        };
        let (mut guard, mut rx) = self.start(agent_id, agent_name, connection, op)?;
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(limits.timeout_ms) + ANSWER_GRACE;
        let mut result = ResultSet {
            columns: Vec::new(),
            rows: Vec::new(),
            truncated: false,
            bytes: 0,
        };
        loop {
            let reply = tokio::select! {
                r = rx.recv() => r,
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(ToolError::failed("agent.timeout", format!("agent {agent_name:?} did not answer in time")));
                }
            };
            match reply {
                None => {
                    return Err(ToolError::failed(
                        "agent.lost",
                        format!(
                            "agent {agent_name:?} went away during the call ({}); retry when it is back",
                            guard.link.ended_why()
                        ),
                    ));
                }
                Some(Reply::Rows { columns, rows }) => {
                    if let Some(c) = columns {
                        result.columns = c;
                    }
                    for row in rows {
                        if result.truncated {
                            break;
                        }
                        let size = conexor_connectors::json_len(&row);
                        if result.rows.len() as u64 >= limits.max_rows
                            || result.bytes + size > limits.max_bytes
                        {
                            result.truncated = true;
                            break;
                        }
                        result.bytes += size;
                        result.rows.push(row);
                    }
                }
                Some(Reply::Done {
                    truncated,
                    query_hash,
                }) => {
                    result.truncated |= truncated;
                    guard.finished = true;
                    return Ok((result, query_hash));
                }
                Some(Reply::Error {
                    code,
                    message,
                    denied,
                }) => {
                    guard.finished = true;
                    return Err(ToolError {
                        message: format!("agent {agent_name:?}: {message}"),
                        code,
                        denied,
                        mode: Some("agent"),
                    });
                }
                Some(Reply::Schema { .. }) => {}
            }
        }
    }

    /// Asks an agent to rediscover one connection's schema.
    pub async fn discover(
        &self,
        agent_id: &str,
        agent_name: &str,
        connection: &str,
    ) -> Result<Value, ToolError> {
        let (mut guard, mut rx) =
            self.start(agent_id, agent_name, connection, Operation::Discover)?;
        let reply = tokio::time::timeout(Duration::from_secs(120), rx.recv()).await;
        guard.finished = true;
        match reply {
            Err(_) => Err(ToolError::failed(
                "agent.timeout",
                format!("agent {agent_name:?} did not finish discovery in time"),
            )),
            Ok(None) => Err(ToolError::failed(
                "agent.lost",
                format!("agent {agent_name:?} went away during discovery"),
            )),
            Ok(Some(Reply::Schema {
                connection: c,
                schema,
            })) if c == connection => Ok(schema),
            Ok(Some(Reply::Schema { .. })) => Err(ToolError::failed(
                "agent.bad_schema",
                format!(
                    "agent {agent_name:?} answered discovery of {connection:?} with another connection's schema"
                ),
            )),
            Ok(Some(Reply::Error {
                code,
                message,
                denied,
            })) => Err(ToolError {
                message: format!("agent {agent_name:?}: {message}"),
                code,
                denied,
                mode: Some("agent"),
            }),
            Ok(Some(_)) => Err(ToolError::failed(
                "agent.protocol",
                "the agent answered discovery with something else",
            )),
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

async fn refuse(sink: &mut Sink, code: &str, reason: &str, address: &str) {
    tracing::warn!(code, reason, address, "Agent refused.");
    let _ = sink
        .send(Message::Text(
            encode(&ServerMessage::Refused {
                code: code.into(),
                reason: reason.into(),
            })
            .into(),
        ))
        .await;
    let _ = sink.close().await;
}

async fn next_text(stream: &mut Stream) -> Option<String> {
    loop {
        match stream.next().await? {
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            _ => return None,
        }
    }
}

/// The SHA-256 the store keeps for an enrolment token.
pub fn enrolment_token_hash(token: &str) -> [u8; 32] {
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Appends an agent event to its workspace's chain. Failures are logged:
/// these events answer no caller.
async fn audit_event(
    state: &AppState,
    agent: &AgentRecord,
    tool: &str,
    params: Value,
    refused: Option<&str>,
) {
    let mut draft = Draft::new(
        tool,
        if refused.is_some() {
            Outcome::Denied
        } else {
            Outcome::Ok
        },
    );
    draft.user = Some(format!("agent:{}", agent.name));
    draft.params = params;
    draft.mode = Some("agent".into());
    if let Some(code) = refused {
        draft.error = Some(format!(
            "{code}: {}",
            conexor_types::ErrorCode::parse(code).fixed_reason()
        ));
    }
    if state
        .audit
        .append(agent.workspace_id.as_str(), draft)
        .await
        .is_err()
    {
        tracing::error!(agent_id = %agent.id, tool, "Could not audit an agent event.");
    }
}

/// Authenticates the opening message. On success: the agent, its offers and version.
async fn authenticate(
    state: &AppState,
    nonce: &str,
    opening: AgentMessage,
) -> Result<
    (AgentRecord, Vec<ConnectionOffer>, String, bool),
    (&'static str, String, Option<AgentRecord>),
> {
    match opening {
        AgentMessage::Enrol {
            token,
            public_key,
            signature,
            version,
            connections,
        } => {
            if !token.starts_with(conexor_protocol::TOKEN_PREFIX) || token.len() > 100 {
                return Err((
                    "token.invalid",
                    "this is not an enrolment token (cxa_…)".into(),
                    None,
                ));
            }
            match conexor_protocol::verify_challenge(
                &public_key,
                nonce,
                conexor_protocol::ENROL_SUBJECT,
                &signature,
            ) {
                Ok(true) => {}
                _ => {
                    return Err((
                        "signature.invalid",
                        "the enrolment is not signed by the offered key".into(),
                        None,
                    ));
                }
            }
            let enrolled = state
                .store
                .enrol_agent(&enrolment_token_hash(&token), &public_key)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "Store failed during enrolment.");
                    (
                        "server.unavailable",
                        "the server's store failed; retry".to_string(),
                        None,
                    )
                })?;
            match enrolled {
                Ok(agent) => Ok((agent, connections, version, true)),
                Err(EnrolRefusal::Unknown) => Err(("token.used", "this enrolment token is unknown or was already used; create a new one with `conexor agents create`".into(), None)),
                Err(EnrolRefusal::Expired) => Err(("token.expired", "this enrolment token has expired; create a new one with `conexor agents create`".into(), None)),
                Err(EnrolRefusal::Revoked) => Err(("agent.revoked", "this agent was revoked".into(), None)),
            }
        }
        AgentMessage::Hello {
            agent_id,
            workspace_id,
            signature,
            version,
            connections,
        } => {
            let agent = match state.store.agent(&agent_id).await {
                Ok(Some(a)) => a,
                Ok(None) => {
                    return Err((
                        "agent.unknown",
                        "no agent has this id; enrol again with a new token".into(),
                        None,
                    ));
                }
                Err(e) => {
                    tracing::error!(error = %e, "Store failed during agent hello.");
                    return Err((
                        "server.unavailable",
                        "the server's store failed; retry".into(),
                        None,
                    ));
                }
            };
            let Some(public_key) = agent.public_key.clone() else {
                return Err(("agent.unknown", "this agent never enrolled".into(), None));
            };
            match conexor_protocol::verify_challenge(
                &public_key,
                nonce,
                &conexor_protocol::hello_subject(&agent_id, &workspace_id),
                &signature,
            ) {
                Ok(true) => {}
                _ => {
                    return Err((
                        "signature.invalid",
                        "the answer to the challenge is not signed by this agent's key".into(),
                        Some(agent),
                    ));
                }
            }
            if agent.workspace_id.as_str() != workspace_id {
                return Err((
                    "agent.workspace",
                    "this agent belongs to another workspace".into(),
                    Some(agent),
                ));
            }
            if agent.revoked_at.is_some() {
                return Err((
                    "agent.revoked",
                    "this agent was revoked".into(),
                    Some(agent),
                ));
            }
            Ok((agent, connections, version, false))
        }
        _ => Err((
            "protocol.unexpected",
            "the first message must be enrol or hello".into(),
            None,
        )),
    }
}

async fn session(
    state: Arc<AppState>,
    socket: WebSocket,
    address: String,
    handshake: (tokio::sync::OwnedSemaphorePermit, AddressSlot),
) {
    let (mut sink, mut stream) = socket.split();
    let Ok(nonce) = conexor_protocol::new_nonce() else {
        return refuse(&mut sink, "server.unavailable", "no randomness", &address).await;
    };
    let challenge = encode(&ServerMessage::Challenge {
        protocol: conexor_protocol::VERSION,
        nonce: nonce.clone(),
    });
    if sink.send(Message::Text(challenge.into())).await.is_err() {
        return;
    }
    let opening = match tokio::time::timeout(HANDSHAKE_TIMEOUT, next_text(&mut stream)).await {
        Ok(Some(text)) if text.len() > MAX_OPENING_BYTES => {
            return refuse(
                &mut sink,
                "protocol.malformed",
                "the opening message is too large",
                &address,
            )
            .await;
        }
        Ok(Some(text)) => match decode_agent(&text) {
            Ok(m) => m,
            Err(e) => {
                return refuse(&mut sink, "protocol.malformed", &e.to_string(), &address).await;
            }
        },
        _ => {
            return refuse(
                &mut sink,
                "protocol.timeout",
                "no enrol or hello in time",
                &address,
            )
            .await;
        }
    };
    let (agent, offers, version, enrolled_now) = match authenticate(&state, &nonce, opening).await {
        Ok(ok) => ok,
        Err((code, reason, agent)) => {
            // A bad signature proves nothing about who sent it (agent ids are not
            // secret): logged, not written into the named agent's chain.
            if let Some(agent) = agent.as_ref().filter(|_| code != "signature.invalid") {
                audit_event(
                    &state,
                    agent,
                    "admin.agent_refused",
                    json!({"agent": agent.name, "address": address}),
                    Some(code),
                )
                .await;
            }
            return refuse(&mut sink, code, &reason, &address).await;
        }
    };
    if enrolled_now {
        audit_event(
            &state,
            &agent,
            "admin.agent_enrol",
            json!({"agent": agent.name, "agent_id": agent.id, "address": address}),
            None,
        )
        .await;
        tracing::info!(agent_id = %agent.id, agent = %agent.name, address = %address, "Agent enrolled.");
    }

    // Which offers to accept.
    let mut rejected = Vec::new();
    let mut accepted: Vec<(String, String)> = Vec::new();
    for (i, offer) in offers.into_iter().enumerate() {
        if i >= conexor_protocol::MAX_OFFERS {
            if rejected.len() < conexor_protocol::MAX_OFFERS {
                rejected.push(RejectedOffer {
                    name: offer.name.chars().take(64).collect(),
                    reason: format!(
                        "at most {} connections per agent",
                        conexor_protocol::MAX_OFFERS
                    ),
                });
            }
        } else if !conexor_protocol::valid_name(&offer.name) {
            rejected.push(RejectedOffer {
                name: offer.name.chars().take(64).collect(),
                reason: "names are 1-64 characters of letters, digits, _ - .".into(),
            });
        } else if conexor_types::ConnectionKind::parse(&offer.kind).is_none() {
            rejected.push(RejectedOffer {
                name: offer.name.chars().take(64).collect(),
                reason: format!(
                    "unsupported type {:?}",
                    offer.kind.chars().take(32).collect::<String>()
                ),
            });
        } else if accepted.iter().any(|(n, _)| *n == offer.name) {
            rejected.push(RejectedOffer {
                name: offer.name,
                reason: "offered twice".into(),
            });
        } else {
            accepted.push((offer.name, offer.kind));
        }
    }

    // One live session per identity.
    let (outbox, mut outbox_rx) = mpsc::channel::<String>(OUTBOX);
    let link = Arc::new(Link {
        agent_id: agent.id.clone(),
        name: agent.name.clone(),
        workspace_id: agent.workspace_id.clone(),
        version: version.chars().take(64).collect(),
        address: address.clone(),
        connected_at: conexor_audit::format_ts(chrono::Utc::now()),
        outbox,
        pending: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT as usize)),
        closed: state.stopping.child_token(),
        end_reason: Mutex::new(None),
    });
    let duplicate = {
        let mut live = lock(&state.agents.live);
        let taken = live.contains_key(&agent.id);
        if !taken {
            live.insert(agent.id.clone(), link.clone());
        }
        taken
    };
    {
        if duplicate {
            tracing::warn!(agent_id = %agent.id, agent = %agent.name, address = %address, "A second connection with this agent's identity was refused; is the identity copied to another host?");
            audit_event(
                &state,
                &agent,
                "admin.agent_refused",
                json!({"agent": agent.name, "address": address}),
                Some("agent.duplicate"),
            )
            .await;
            return refuse(
                &mut sink,
                "agent.duplicate",
                "this agent identity is already connected from elsewhere",
                &address,
            )
            .await;
        }
    }
    let stored_rejects = match state
        .store
        .set_agent_connections(&agent.workspace_id, &agent.id, &accepted)
        .await
    {
        Ok(r) => r,
        // Revoked between the check above and now: the revocation wins.
        Err(conexor_store::Error::Conflict(_)) => {
            lock(&state.agents.live).remove(&agent.id);
            return refuse(
                &mut sink,
                "agent.revoked",
                "this agent was revoked",
                &address,
            )
            .await;
        }
        Err(e) => {
            tracing::error!(error = %e, "Store failed registering agent connections.");
            lock(&state.agents.live).remove(&agent.id);
            return refuse(
                &mut sink,
                "server.unavailable",
                "the server's store failed; retry",
                &address,
            )
            .await;
        }
    };
    for (name, reason) in stored_rejects {
        accepted.retain(|(n, _)| *n != name);
        rejected.push(RejectedOffer {
            name,
            reason: reason.into(),
        });
    }
    let _ = state
        .store
        .agent_seen(&agent.id, &link.version, &address)
        .await;
    let names: Vec<&str> = accepted.iter().map(|(n, _)| n.as_str()).collect();
    audit_event(&state, &agent, "admin.agent_connect", json!({"agent": agent.name, "address": address, "connections": names, "rejected": rejected.iter().map(|r| &r.name).collect::<Vec<_>>()}), None).await;
    let heartbeat = state.config.agent_heartbeat;
    let welcome = ServerMessage::Welcome {
        agent_id: agent.id.clone(),
        workspace_id: agent.workspace_id.to_string(),
        name: agent.name.clone(),
        heartbeat_ms: heartbeat.as_millis() as u64,
        max_in_flight: MAX_IN_FLIGHT,
        rejected,
    };
    if sink
        .send(Message::Text(encode(&welcome).into()))
        .await
        .is_err()
    {
        lock(&state.agents.live).remove(&agent.id);
        return;
    }
    tracing::info!(agent_id = %agent.id, agent = %agent.name, address = %address, connections = names.len(), "Agent connected.");
    drop(handshake);

    let closed = link.closed.clone();
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                m = outbox_rx.recv() => match m {
                    Some(text) => {
                        // What is queued already goes out with it, in one flush.
                        let sent = async {
                            sink.feed(Message::Text(text.into())).await?;
                            for _ in 1..COALESCE {
                                let Ok(more) = outbox_rx.try_recv() else { break };
                                sink.feed(Message::Text(more.into())).await?;
                            }
                            sink.flush().await
                        };
                        match tokio::time::timeout(SEND_TIMEOUT, sent).await {
                            Ok(Ok(())) => {}
                            _ => break,
                        }
                    }
                    None => break,
                },
                _ = closed.cancelled() => {
                    // Flush what is queued (a revocation notice), then close.
                    while let Ok(text) = outbox_rx.try_recv() {
                        if !matches!(tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Text(text.into()))).await, Ok(Ok(()))) {
                            break;
                        }
                    }
                    break;
                }
            }
        }
        let _ = sink.close().await;
    });

    let mut last_heard = Instant::now();
    let mut tick = tokio::time::interval(heartbeat);
    let mut ping = 0u64;
    let mut malformed = 0u32;
    let why: String = loop {
        tokio::select! {
            _ = link.closed.cancelled() => break link.ended_why(),
            _ = tick.tick() => {
                if last_heard.elapsed() > heartbeat * 3 {
                    break format!("no heartbeat for {} ms", last_heard.elapsed().as_millis());
                }
                ping += 1;
                let _ = link.outbox.try_send(encode(&ServerMessage::Ping { seq: ping }));
            }
            frame = stream.next() => {
                last_heard = Instant::now();
                let text = match frame {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break "the agent closed the connection".into(),
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => { malformed += 1; if malformed > MAX_MALFORMED { break "too many malformed messages".into() } continue }
                    Some(Ok(_)) => continue,
                };
                match decode_agent(text.as_str()) {
                    Ok(message) => on_message(&state, &agent, &link, &accepted, message).await,
                    Err(e) => {
                        malformed += 1;
                        tracing::warn!(agent_id = %agent.id, error = %e, "Malformed message from agent.");
                        if malformed > MAX_MALFORMED { break "too many malformed messages".into() }
                    }
                }
            }
        }
    };
    // Fail every waiting call now, naming the agent.
    {
        let mut reason = lock(&link.end_reason);
        if reason.is_none() {
            *reason = Some(why.clone());
        }
    }
    {
        let mut live = lock(&state.agents.live);
        if live.get(&agent.id).is_some_and(|l| Arc::ptr_eq(l, &link)) {
            live.remove(&agent.id);
        }
    }
    lock(&link.pending).clear();
    link.closed.cancel();
    let abort = writer.abort_handle();
    if tokio::time::timeout(Duration::from_secs(1), writer)
        .await
        .is_err()
    {
        abort.abort();
    }
    let _ = state
        .store
        .agent_seen(&agent.id, &link.version, &address)
        .await;
    tracing::info!(agent_id = %agent.id, agent = %agent.name, why = %why, "Agent disconnected.");
}

async fn route(link: &Link, id: u64, reply: Reply) {
    let tx = lock(&link.pending).get(&id).cloned();
    if let Some(tx) = tx {
        // Waits when the caller is slower than the agent (backpressure on the socket).
        let _ = tx.send(reply).await;
    }
}

async fn on_message(
    state: &AppState,
    agent: &AgentRecord,
    link: &Link,
    accepted: &[(String, String)],
    message: AgentMessage,
) {
    match message {
        AgentMessage::Rows { id, columns, rows } => {
            route(link, id, Reply::Rows { columns, rows }).await
        }
        AgentMessage::Done {
            id,
            truncated,
            query_hash,
            ..
        } => {
            // Only a well-formed hash is kept (it goes into the audit record).
            let query_hash = query_hash.filter(|h| {
                h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            });
            route(
                link,
                id,
                Reply::Done {
                    truncated,
                    query_hash,
                },
            )
            .await
        }
        AgentMessage::Error {
            id,
            code,
            message,
            denied,
        } => {
            let code = if conexor_protocol::valid_code(&code) {
                conexor_types::ErrorCode::parse(&code)
            } else {
                conexor_types::ErrorCode::Agent("bad_code".into())
            };
            let message: String = message.chars().take(4000).collect();
            route(
                link,
                id,
                Reply::Error {
                    code,
                    message,
                    denied,
                },
            )
            .await
        }
        AgentMessage::Schema {
            connection,
            id,
            schema,
        } => {
            let offered = accepted.iter().any(|(n, _)| *n == connection);
            let size = serde_json::to_string(&schema)
                .map(|s| s.len())
                .unwrap_or(usize::MAX);
            let parsed: Option<conexor_connectors::Schema> = serde_json::from_value(schema).ok();
            let (Some(parsed), true, true) = (parsed, offered, size <= MAX_SCHEMA_BYTES) else {
                tracing::warn!(agent_id = %agent.id, connection = %connection.chars().take(64).collect::<String>(), "Refused a schema from the agent (not offered, too large, or malformed).");
                if let Some(id) = id {
                    route(
                        link,
                        id,
                        Reply::Error {
                            code: conexor_types::ErrorCode::Agent("bad_schema".into()),
                            message: "the agent sent an unusable schema".into(),
                            denied: false,
                        },
                    )
                    .await;
                }
                return;
            };
            let json = serde_json::to_string(&parsed).unwrap_or_default();
            if let Err(e) = state
                .store
                .set_agent_schema(&agent.workspace_id, &agent.id, &connection, &json)
                .await
            {
                tracing::error!(error = %e, "Store failed saving an agent schema.");
            } else {
                tracing::info!(agent_id = %agent.id, connection = %connection, tables = parsed.tables.len(), "Agent schema stored.");
            }
            if let Some(id) = id {
                let value = serde_json::to_value(&parsed).unwrap_or(Value::Null);
                route(
                    link,
                    id,
                    Reply::Schema {
                        connection: connection.clone(),
                        schema: value,
                    },
                )
                .await;
            }
        }
        AgentMessage::Ping { seq } => {
            let _ = link.outbox.try_send(encode(&ServerMessage::Pong { seq }));
        }
        AgentMessage::Pong { .. } => {}
        AgentMessage::Enrol { .. } | AgentMessage::Hello { .. } => {
            tracing::warn!(agent_id = %agent.id, "Agent repeated its handshake mid-session; ignored.");
        }
    }
}

//! One WebSocket session with the server: connect, answer the challenge,
//! offer connections, push schema, then serve requests until the socket
//! goes away, the server falls silent, or the agent stops.

use crate::outbox::Socket;
use crate::state::{Enrolled, save_identity};
use crate::{AgentError, Shared, serve};
use conexor_protocol::{
    AgentMessage, ConnectionOffer, ENROL_SUBJECT, ServerMessage, decode_server, encode,
    hello_subject,
};
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames waiting for the socket; request tasks wait beyond this (backpressure).
const OUTBOX: usize = 64;

pub(crate) enum End {
    Shutdown,
    /// The session ended; `connected` says whether it had been welcomed.
    Lost {
        why: String,
        connected: bool,
    },
    Refused {
        code: String,
        reason: String,
    },
}

impl End {
    pub fn was_connected(&self) -> bool {
        matches!(
            self,
            End::Lost {
                connected: true,
                ..
            }
        )
    }
    pub fn describe(&self) -> String {
        match self {
            End::Shutdown => "shutdown".into(),
            End::Lost { why, .. } => why.clone(),
            End::Refused { code, reason } => format!("refused ({code}): {reason}"),
        }
    }
}

/// Refusals that retrying cannot fix.
pub(crate) fn is_permanent(code: &str) -> bool {
    matches!(
        code,
        "agent.revoked"
            | "agent.unknown"
            | "agent.workspace"
            | "token.invalid"
            | "token.expired"
            | "token.used"
            | "signature.invalid"
            | "protocol.version"
    )
}

fn lost(why: impl Into<String>) -> End {
    End::Lost {
        why: why.into(),
        connected: false,
    }
}

fn connector(shared: &Shared) -> Result<tokio_tungstenite::Connector, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = &shared.settings.ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|_| "ca_cert is not a PEM certificate".to_string())?;
            roots
                .add(cert)
                .map_err(|e| format!("ca_cert is not usable: {e}"))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS set-up: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_tungstenite::Connector::Rustls(Arc::new(config)))
}

pub(crate) fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(conexor_protocol::MAX_MESSAGE_BYTES))
        .max_frame_size(Some(conexor_protocol::MAX_MESSAGE_BYTES))
        .read_buffer_size(conexor_protocol::READ_CHUNK_BYTES)
}

type Stream = futures::stream::SplitStream<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
>;

/// The next text message from the server, parsed.
async fn next_message(stream: &mut Stream) -> Result<ServerMessage, String> {
    loop {
        match stream.next().await {
            None => return Err("the server closed the connection".into()),
            Some(Err(e)) => return Err(format!("connection error: {e}")),
            Some(Ok(Message::Text(t))) => {
                return decode_server(t.as_str()).map_err(|e| e.to_string());
            }
            Some(Ok(Message::Close(_))) => return Err("the server closed the connection".into()),
            Some(Ok(_)) => continue,
        }
    }
}

pub(crate) async fn run(
    shared: &Arc<Shared>,
    shutdown: &CancellationToken,
) -> Result<End, AgentError> {
    let settings = &shared.settings;
    let connector = match connector(shared) {
        Ok(c) => c,
        Err(e) => return Err(AgentError::Config(crate::ConfigError(e))),
    };
    let connect = tokio_tungstenite::connect_async_tls_with_config(
        settings.server.as_str(),
        Some(ws_config()),
        true,
        Some(connector),
    );
    let ws = tokio::select! {
        _ = shutdown.cancelled() => return Ok(End::Shutdown),
        r = tokio::time::timeout(CONNECT_TIMEOUT, connect) => match r {
            Err(_) => return Ok(lost("connecting timed out")),
            Ok(Err(e)) => return Ok(lost(format!("could not connect to {}: {e}", settings.server))),
            Ok(Ok((ws, _))) => ws,
        }
    };
    let (mut sink, mut stream) = ws.split();

    // Challenge, then enrol or hello, then welcome or refused.
    let nonce = match tokio::time::timeout(HANDSHAKE_TIMEOUT, next_message(&mut stream)).await {
        Err(_) => return Ok(lost("no challenge from the server")),
        Ok(Err(e)) => return Ok(lost(e)),
        Ok(Ok(ServerMessage::Challenge { protocol, nonce }))
            if protocol == conexor_protocol::VERSION =>
        {
            nonce
        }
        Ok(Ok(ServerMessage::Challenge { protocol, .. })) => {
            return Ok(End::Refused {
                code: "protocol.version".into(),
                reason: format!(
                    "the server speaks agent protocol {protocol}; this agent speaks {}",
                    conexor_protocol::VERSION
                ),
            });
        }
        Ok(Ok(_)) => return Ok(lost("the server did not start with a challenge")),
    };
    let identity = match shared.identity.lock() {
        Ok(i) => i.clone(),
        Err(p) => p.into_inner().clone(),
    };
    let offers: Vec<ConnectionOffer> = settings
        .connections
        .iter()
        .map(|c| ConnectionOffer {
            name: c.name.clone(),
            kind: c.kind.as_str().to_owned(),
        })
        .collect();
    let version = env!("CARGO_PKG_VERSION").to_owned();
    let opening = match &identity.enrolled {
        Some(e) => AgentMessage::Hello {
            agent_id: e.agent_id.clone(),
            workspace_id: e.workspace_id.clone(),
            signature: identity
                .key
                .answer(&nonce, &hello_subject(&e.agent_id, &e.workspace_id)),
            version,
            connections: offers,
        },
        None => {
            let token = settings.token.as_ref().ok_or(AgentError::NoToken)?;
            AgentMessage::Enrol {
                token: token.to_string(),
                public_key: identity.key.public_text(),
                signature: identity.key.answer(&nonce, ENROL_SUBJECT),
                version,
                connections: offers,
            }
        }
    };
    if let Err(e) = sink.send(Message::text(encode(&opening))).await {
        return Ok(lost(format!("sending hello: {e}")));
    }
    let (agent_id, workspace_id, name, heartbeat, max_in_flight) = match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        next_message(&mut stream),
    )
    .await
    {
        Err(_) => return Ok(lost("no answer to hello")),
        Ok(Err(e)) => return Ok(lost(e)),
        Ok(Ok(ServerMessage::Refused { code, reason })) => {
            return Ok(End::Refused { code, reason });
        }
        Ok(Ok(ServerMessage::Welcome {
            agent_id,
            workspace_id,
            name,
            heartbeat_ms,
            max_in_flight,
            rejected,
            features,
        })) => {
            shared.rows_in_done.store(
                features.iter().any(|f| f == conexor_protocol::ROWS_IN_DONE),
                std::sync::atomic::Ordering::Relaxed,
            );
            for r in rejected {
                tracing::warn!(connection = %r.name, reason = %r.reason, "The server did not accept this connection.");
            }
            (
                agent_id,
                workspace_id,
                name,
                Duration::from_millis(heartbeat_ms.clamp(200, 60_000)),
                max_in_flight,
            )
        }
        Ok(Ok(_)) => return Ok(lost("unexpected answer to hello")),
    };
    let enrolled = Enrolled {
        agent_id: agent_id.clone(),
        workspace_id: workspace_id.clone(),
    };
    match &identity.enrolled {
        None => {
            let mut updated = identity.clone();
            updated.enrolled = Some(enrolled);
            save_identity(&settings.state_dir, &updated)?;
            if let Ok(mut i) = shared.identity.lock() {
                *i = updated;
            }
            tracing::info!(agent_id = %agent_id, workspace_id = %workspace_id, name = %name, "Enrolled; identity saved.");
        }
        Some(e) if *e != enrolled => return Ok(lost("the server welcomed another identity")),
        Some(_) => {}
    }
    open_audit(shared, &workspace_id).await?;
    tracing::info!(agent_id = %agent_id, name = %name, server = %settings.server, "Connected.");

    // Serving.
    let (tx, rx) = mpsc::channel::<Message>(OUTBOX);
    let socket = Arc::new(Socket::new(sink));
    let writer = tokio::spawn({
        let socket = socket.clone();
        async move { socket.write_queued(rx).await }
    });
    let schemas = tokio::spawn(serve::push_schemas(shared.clone(), tx.clone()));
    let limit = (max_in_flight as usize)
        .clamp(1, 1024)
        .min(settings.limits.max_in_flight);
    let permits = Arc::new(Semaphore::new(limit));
    let mut tasks: HashMap<u64, (CancellationToken, tokio::task::AbortHandle)> = HashMap::new();
    let mut last_heard = Instant::now();
    let mut tick = tokio::time::interval(heartbeat);
    let mut ping_seq = 0u64;
    let connected = |why: String| End::Lost {
        why,
        connected: true,
    };
    let end = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break End::Shutdown,
            frame = stream.next() => {
                last_heard = Instant::now();
                let text = match frame {
                    None => break connected("the server closed the connection".into()),
                    Some(Err(e)) => break connected(format!("connection error: {e}")),
                    Some(Ok(Message::Close(_))) => break connected("the server closed the connection".into()),
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        serve::refuse_malformed(shared, &tx, None, "a binary frame");
                        continue;
                    }
                    Some(Ok(_)) => continue,
                };
                match decode_server(text.as_str()) {
                    Ok(ServerMessage::Request { id, connection, op }) => {
                        tasks.retain(|_, (_, h)| !h.is_finished());
                        match permits.clone().try_acquire_owned() {
                            Ok(permit) => {
                                let cancel = CancellationToken::new();
                                let task = tokio::spawn(serve::handle(shared.clone(), tx.clone(), socket.clone(), serve::Request { id, connection: connection.clone(), op, cancel: cancel.clone(), permit }));
                                tasks.insert(id, (cancel, task.abort_handle()));
                                tokio::spawn(serve::answer_if_failed(shared.clone(), tx.clone(), id, connection, task));
                            }
                            Err(_) => serve::busy(shared, &tx, id, &connection),
                        }
                    }
                    Ok(ServerMessage::Cancel { id }) => {
                        // Stopped, and still recorded by the task itself.
                        if let Some((cancel, _)) = tasks.remove(&id) {
                            cancel.cancel();
                        }
                    }
                    Ok(ServerMessage::Ping { seq }) => {
                        let _ = tx.try_send(Message::text(encode(&AgentMessage::Pong { seq })));
                    }
                    Ok(ServerMessage::Pong { .. }) => {}
                    Ok(ServerMessage::Refused { code, reason }) => break End::Refused { code, reason },
                    Ok(ServerMessage::Challenge { .. } | ServerMessage::Welcome { .. }) => {
                        serve::refuse_malformed(shared, &tx, None, "a handshake message mid-session");
                    }
                    Err(e) => {
                        let id = serde_json::from_str::<serde_json::Value>(text.as_str())
                            .ok()
                            .and_then(|v| v.get("id").and_then(serde_json::Value::as_u64));
                        serve::refuse_malformed(shared, &tx, id, &e.to_string());
                    }
                }
            }
            _ = tick.tick() => {
                if last_heard.elapsed() > heartbeat * 3 {
                    break connected(format!("no word from the server for {} ms", last_heard.elapsed().as_millis()));
                }
                ping_seq += 1;
                let _ = tx.try_send(Message::text(encode(&AgentMessage::Ping { seq: ping_seq })));
            }
        }
    };
    schemas.abort();
    // In-flight requests stop and record themselves; their answers have nowhere to go.
    for (_, (cancel, _)) in tasks.drain() {
        cancel.cancel();
    }
    drop(tx);
    // Let the writer flush a close frame, briefly; then it goes.
    let abort = writer.abort_handle();
    if tokio::time::timeout(Duration::from_secs(1), writer)
        .await
        .is_err()
    {
        abort.abort();
    }
    Ok(end)
}

async fn open_audit(shared: &Arc<Shared>, workspace_id: &str) -> Result<(), AgentError> {
    shared
        .audit
        .open(
            &shared.settings.state_dir,
            workspace_id,
            shared.settings.audit_fsync,
        )
        .await
        .map_err(AgentError::State)
}

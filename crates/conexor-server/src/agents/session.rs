//! A live agent session: the socket's reader and writer, heartbeats, and
//! each message from the agent routed to the call waiting for it.

use super::*;

pub(super) async fn session(
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
        features: vec![conexor_protocol::ROWS_IN_DONE.to_owned()],
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

/// 64 lower-case hex digits: the only `query_hash` an audit record takes
/// from an agent.
fn well_formed_hash(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(super) async fn route(link: &Link, id: u64, reply: Reply) {
    let tx = lock(&link.pending).get(&id).cloned();
    if let Some(tx) = tx {
        // Waits when the caller is slower than the agent (backpressure on the socket).
        let _ = tx.send(reply).await;
    }
}

pub(super) async fn on_message(
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
        AgentMessage::Object {
            id,
            value,
            rows,
            query_hash,
            ..
        } => {
            let query_hash = Some(query_hash).filter(|h| well_formed_hash(h));
            route(
                link,
                id,
                Reply::Object {
                    value,
                    rows,
                    query_hash,
                },
            )
            .await
        }
        AgentMessage::Done {
            id,
            truncated,
            query_hash,
            columns,
            batch,
            ..
        } => {
            // Only a well-formed hash is kept (it goes into the audit record).
            let query_hash = query_hash.filter(|h| well_formed_hash(h));
            route(
                link,
                id,
                Reply::Done {
                    truncated,
                    query_hash,
                    columns,
                    rows: batch,
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

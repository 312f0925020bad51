//! The opening of an agent's socket: a fresh nonce, then `enrol` (a one-time
//! token and proof of the key) or `hello` (a signed agent id), then
//! `welcome` or `refused`.

use super::*;

pub(super) async fn refuse(sink: &mut Sink, code: &str, reason: &str, address: &str) {
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

pub(super) async fn next_text(stream: &mut Stream) -> Option<String> {
    loop {
        match stream.next().await? {
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            _ => return None,
        }
    }
}

/// Authenticates the opening message. On success: the agent, its offers and version.
pub(super) async fn authenticate(
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

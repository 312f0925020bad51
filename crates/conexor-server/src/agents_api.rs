//! REST endpoints for agents (`conexor agents create|list|revoke`).
//!
//! `create` makes a pending agent and returns its one-time enrolment token
//! once; the store keeps only the token's SHA-256 and its expiry. `revoke`
//! cuts a connected agent off at once and removes the connections it offered.

use crate::api::audited;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use conexor_store::AgentRecord;
use serde_json::json;
use std::sync::Arc;

/// Longest an enrolment token may live.
const MAX_TOKEN_TTL_S: u64 = 7 * 24 * 3600;
const DEFAULT_TOKEN_TTL_S: u64 = 3600;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/agents", get(list_agents).post(create_agent))
        .route("/agents/{agent}", delete(revoke_agent))
}

async fn create_agent(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Json(body): Json<conexor_api::NewAgent>,
) -> Result<Json<conexor_api::AgentCreated>, ApiError> {
    p.require_admin()?;
    if !conexor_protocol::valid_name(&body.name) {
        return Err(ApiError::BadRequest(
            "agent names are 1-64 characters of letters, digits, _ - .".into(),
        ));
    }
    let ttl = body.expires_in_s.unwrap_or(DEFAULT_TOKEN_TTL_S);
    if ttl == 0 || ttl > MAX_TOKEN_TTL_S {
        return Err(ApiError::BadRequest(format!(
            "expires_in_s must be between 1 and {MAX_TOKEN_TTL_S} (7 days)"
        )));
    }
    let id = format!("agt_{}", conexor_crypto::random_base62(16));
    let token = format!(
        "{}{}",
        conexor_protocol::TOKEN_PREFIX,
        conexor_crypto::random_base62(43)
    );
    let expires_at = conexor_audit::format_ts(
        chrono::Utc::now() + chrono::Duration::seconds(i64::try_from(ttl).unwrap_or(3600)),
    );
    let hash = crate::agents::enrolment_token_hash(&token);
    let agent = match state
        .store
        .create_agent(&id, &p.workspace_id, &body.name, &hash, &expires_at)
        .await
    {
        Ok(a) => a,
        Err(conexor_store::Error::Conflict(_)) => {
            return Err(ApiError::Conflict(format!(
                "an agent named {:?} already exists; revoke it first or pick another name",
                body.name
            )));
        }
        Err(e) => return Err(e.into()),
    };
    audited(
        &state,
        &p,
        "admin.agent_create",
        json!({"agent": agent.name, "agent_id": agent.id, "expires_at": expires_at}),
        None,
    )
    .await?;
    tracing::info!(workspace_id = %p.workspace_id, agent_id = %agent.id, agent = %agent.name, "Agent created.");
    Ok(Json(conexor_api::AgentCreated {
        agent_id: agent.id.to_string(),
        name: agent.name,
        token: token.to_string(),
        expires_at,
    }))
}

fn state_of(state: &AppState, a: &AgentRecord) -> &'static str {
    if a.revoked_at.is_some() {
        "revoked"
    } else if state.agents.is_live(&a.id) {
        "connected"
    } else if a.enrolled_at.is_some() {
        "offline"
    } else if a.token_expires_at <= conexor_types::Timestamp::now() {
        "expired"
    } else {
        "pending"
    }
}

async fn list_agents(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
) -> Result<Json<conexor_api::AgentList>, ApiError> {
    p.require_admin()?;
    let agents = state.store.agents(&p.workspace_id).await?;
    let connections = state.store.agent_connections(&p.workspace_id).await?;
    let agents = agents
        .iter()
        .map(|a| {
            let live = state.agents.info(&a.id);
            let offered: Vec<&str> = connections
                .iter()
                .filter(|c| c.agent_id == a.id)
                .map(|c| c.name.as_str())
                .collect();
            let text = |t: &Option<conexor_types::Timestamp>| t.as_ref().map(|t| t.to_string());
            conexor_api::AgentSummary {
                agent_id: a.id.to_string(),
                name: a.name.clone(),
                state: state_of(&state, a).to_owned(),
                created_at: a.created_at.to_string(),
                enrolled_at: text(&a.enrolled_at),
                revoked_at: text(&a.revoked_at),
                token_expires_at: a
                    .enrolled_at
                    .is_none()
                    .then(|| a.token_expires_at.to_string()),
                last_seen_at: text(&a.last_seen_at),
                version: live
                    .as_ref()
                    .map(|l| l.version.clone())
                    .or_else(|| a.last_version.clone()),
                address: live
                    .as_ref()
                    .map(|l| l.address.clone())
                    .or_else(|| a.last_address.clone()),
                connected_at: live.as_ref().map(|l| l.connected_at.clone()),
                in_flight: live.as_ref().map(|l| l.in_flight),
                connections: offered.into_iter().map(str::to_owned).collect(),
            }
        })
        .collect();
    Ok(Json(conexor_api::AgentList { agents }))
}

async fn revoke_agent(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Path(which): Path<String>,
) -> Result<Json<conexor_api::AgentRevoked>, ApiError> {
    p.require_admin()?;
    let agents = state.store.agents(&p.workspace_id).await?;
    let agent = agents
        .iter()
        .find(|a| a.id == which)
        .or_else(|| {
            agents
                .iter()
                .find(|a| a.name == which && a.revoked_at.is_none())
        })
        .ok_or_else(|| ApiError::NotFound(format!("no agent {which:?} in this workspace")))?;
    let newly = state.store.revoke_agent(&p.workspace_id, &agent.id).await?;
    state
        .agents
        .disconnect(&agent.id, "this agent was revoked", "agent.revoked");
    if newly {
        audited(
            &state,
            &p,
            "admin.agent_revoke",
            json!({"agent": agent.name, "agent_id": agent.id}),
            None,
        )
        .await?;
        tracing::info!(workspace_id = %p.workspace_id, agent_id = %agent.id, "Agent revoked.");
    }
    Ok(Json(conexor_api::AgentRevoked {
        agent_id: agent.id.to_string(),
        name: agent.name.clone(),
        revoked: true,
        already: !newly,
    }))
}

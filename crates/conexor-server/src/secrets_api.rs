//! `/api/v1/secrets`: named Secrets (`conexor secrets`). The client seals
//! each value exactly like a connection spec (format v1) before it leaves
//! the machine; the API lists names and metadata only, never an envelope or
//! a value. Every change is an admin action in the audit chain.

use crate::api::{audited, ctx, valid_name};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use conexor_crypto::SealedSecret;
use conexor_store::{SECRET_KINDS, SecretRecord};
use conexor_types::SecretId;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/secrets", get(list).post(add))
        .route("/secrets/{name}", get(show).put(rotate).delete(remove))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSecret {
    name: String,
    #[serde(default = "generic")]
    kind: String,
    secret_id: String,
    sealed: SealedSecret,
}

fn generic() -> String {
    "generic".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotation {
    secret_id: String,
    sealed: SealedSecret,
}

/// What anyone with the admin key may see of a secret: never its value.
fn describe(s: &SecretRecord) -> conexor_api::SecretSummary {
    conexor_api::SecretSummary {
        name: s.name.clone(),
        kind: s.kind.clone(),
        version: s.version,
        created_at: s.created_at.clone(),
        updated_at: s.updated_at.clone(),
        used_by: s.used_by.clone(),
    }
}

fn parse_id(text: &str) -> Result<SecretId, ApiError> {
    SecretId::parse(text).map_err(|_| ApiError::BadRequest("malformed secret_id".into()))
}

fn json_text<T: serde::Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|e| ApiError::Internal(e.into()))
}

async fn list(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
) -> Result<Json<conexor_api::SecretList>, ApiError> {
    p.require_admin()?;
    let secrets = state.store.secrets(&p.workspace_id).await?;
    Ok(Json(conexor_api::SecretList {
        secrets: secrets.iter().map(describe).collect(),
    }))
}

async fn show(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<conexor_api::SecretSummary>, ApiError> {
    p.require_admin()?;
    let secret = state
        .store
        .secret(&p.workspace_id, &name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no secret named {name:?}")))?;
    Ok(Json(describe(&secret)))
}

async fn add(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Json(body): Json<NewSecret>,
) -> Result<(StatusCode, Json<conexor_api::SecretAdded>), ApiError> {
    p.require_admin()?;
    valid_name(&body.name)?;
    if !SECRET_KINDS.contains(&body.kind.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "unknown secret kind {:?}: use {}",
            body.kind,
            SECRET_KINDS.join(", ")
        )));
    }
    let secret_id = parse_id(&body.secret_id)?;
    // It must open with the caller's key, for this workspace and this id.
    state
        .gateway
        .clone()
        .check_sealed_value(&ctx(&p), &secret_id, &body.sealed)
        .await
        .map_err(ApiError::from)?;
    let record = SecretRecord {
        workspace_id: p.workspace_id.clone(),
        name: body.name.clone(),
        kind: body.kind.clone(),
        secret_id,
        version: 1,
        sealed_value: json_text(&body.sealed.value)?,
        sealed_dek: json_text(&body.sealed.dek)?,
        created_at: String::new(),
        updated_at: String::new(),
        used_by: Vec::new(),
    };
    state
        .store
        .insert_secret(&record)
        .await
        .map_err(|e| match e {
            conexor_store::Error::Conflict("secret") => ApiError::Conflict(format!(
                "a secret named {:?} already exists; use rotate",
                body.name
            )),
            other => other.into(),
        })?;
    audited(
        &state,
        &p,
        "admin.secret_add",
        json!({"name": body.name, "kind": body.kind}),
        None,
    )
    .await?;
    tracing::info!(workspace_id = %p.workspace_id, secret = %body.name, "Secret added.");
    Ok((
        StatusCode::CREATED,
        Json(conexor_api::SecretAdded {
            name: body.name,
            kind: body.kind,
            version: 1,
        }),
    ))
}

async fn rotate(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Json(body): Json<Rotation>,
) -> Result<Json<conexor_api::SecretRotated>, ApiError> {
    p.require_admin()?;
    let secret_id = parse_id(&body.secret_id)?;
    state
        .gateway
        .clone()
        .check_sealed_value(&ctx(&p), &secret_id, &body.sealed)
        .await
        .map_err(ApiError::from)?;
    let (version, users) = state
        .store
        .rotate_secret(
            &p.workspace_id,
            &name,
            &secret_id,
            &json_text(&body.sealed.value)?,
            &json_text(&body.sealed.dek)?,
        )
        .await
        .map_err(|e| match e {
            conexor_store::Error::NotFound(_) => {
                ApiError::NotFound(format!("no secret named {name:?}"))
            }
            other => other.into(),
        })?;
    // Their next call opens a new pool with the new value (pools are keyed by
    // the secret version); the old sessions go now.
    for connection in &users {
        state
            .pools
            .close_connection(&p.workspace_id, connection)
            .await;
    }
    audited(
        &state,
        &p,
        "admin.secret_rotate",
        json!({"name": name, "version": version, "connections": users}),
        None,
    )
    .await?;
    tracing::info!(workspace_id = %p.workspace_id, secret = %name, version, connections = users.len(), "Secret rotated.");
    Ok(Json(conexor_api::SecretRotated {
        name,
        version,
        connections: users,
    }))
}

async fn remove(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<conexor_api::Removed>, ApiError> {
    p.require_admin()?;
    state
        .store
        .delete_secret(&p.workspace_id, &name)
        .await
        .map_err(|e| match e {
            conexor_store::Error::NotFound(_) => {
                ApiError::NotFound(format!("no secret named {name:?}"))
            }
            conexor_store::Error::InUse(users) => {
                crate::error::in_use(&format!("the secret {name:?}"), &users)
            }
            other => other.into(),
        })?;
    audited(
        &state,
        &p,
        "admin.secret_remove",
        json!({"name": name}),
        None,
    )
    .await?;
    tracing::info!(workspace_id = %p.workspace_id, secret = %name, "Secret removed.");
    Ok(Json(conexor_api::Removed::new(name)))
}

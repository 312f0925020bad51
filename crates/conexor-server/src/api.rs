//! The REST API used by the CLI (and later the dashboard), under `/api/v1`.
//! Request and response shapes live here and nowhere else.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::gateway::{CallContext, Candidate, ToolError, parse_schema};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use conexor_api as shapes;
use conexor_api::{NewKey, RotateMaster, SealedConnection};
use conexor_store::{ConnectionRecord, KeyRecord, RevokeOutcome, Scope, WorkspaceRecord};
use conexor_types::{ConnectionKind, KeyId, SecretId, WorkspaceId};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Routes that need a workspace key (the auth middleware is applied by the caller).
pub fn keyed_routes() -> Router<Arc<AppState>> {
    // A sealed REST connection carries its OpenAPI description (GitHub's
    // is 11 MB of JSON, 15 MB sealed): these routes take more than others.
    let specs = Router::new()
        .route("/connections", get(list_connections).post(add_connection))
        .route("/connections/test", post(test_connection))
        .route(
            "/connections/{name}",
            get(show_connection)
                .put(edit_connection)
                .delete(remove_connection),
        )
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::MAX_SPEC_BODY_BYTES,
        ));
    Router::new()
        .merge(specs)
        .route("/keys/self", get(key_self))
        .route("/keys", get(list_keys).post(create_key))
        .route("/keys/rotate-master", post(rotate_master))
        .route("/keys/deks", get(list_deks))
        .route("/keys/{key_id}", delete(revoke_key))
        .route("/connections/{name}/refresh", post(refresh_connection))
        .route("/query", post(query))
        .route("/audit/pubkey", get(crate::audit_api::pubkey))
        .route("/audit/export", get(crate::audit_api::export_audit))
        .route("/audit/records", get(crate::audit_api::list_records))
        .route("/audit/verify", get(crate::audit_api::verify_chain))
        .route("/connections/{name}/sealed", get(sealed_spec))
}

/// Routes authenticated by the admin token.
pub fn admin_routes() -> Router<Arc<AppState>> {
    Router::new().route("/workspaces", post(create_workspace))
}

/// An envelope the store keeps as JSON text.
fn envelope(text: &str) -> Result<shapes::Envelope, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::Internal(e.into()))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str, len: usize, what: &str) -> Result<Vec<u8>, ApiError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| ApiError::BadRequest(format!("{what} is not base64url")))?;
    if bytes.len() != len {
        return Err(ApiError::BadRequest(format!("{what} must be {len} bytes")));
    }
    Ok(bytes)
}

/// A new key as the client sent it, checked and made into the stored record.
pub(crate) fn key_record(key: NewKey, workspace_id: &WorkspaceId) -> Result<KeyRecord, ApiError> {
    if key.kdf_iterations < conexor_crypto::MIN_KDF_ITERATIONS
        || key.kdf_iterations > conexor_crypto::MAX_KDF_ITERATIONS
    {
        return Err(ApiError::BadRequest(format!(
            "kdf_iterations must be between {} and {}",
            conexor_crypto::MIN_KDF_ITERATIONS,
            conexor_crypto::MAX_KDF_ITERATIONS
        )));
    }
    if key.label.len() > 200 {
        return Err(ApiError::BadRequest("label is too long".into()));
    }
    Ok(KeyRecord {
        key_id: KeyId::parse(&key.key_id).map_err(|e| ApiError::BadRequest(e.to_string()))?,
        workspace_id: workspace_id.clone(),
        label: key.label,
        scope: Scope::parse(&key.scope)
            .ok_or_else(|| ApiError::BadRequest("scope must be admin or mcp".into()))?,
        created_at: String::new(),
        revoked_at: None,
        auth_salt: unb64(&key.auth_salt, 16, "auth_salt")?,
        auth_hash: unb64(&key.auth_hash, 32, "auth_hash")?,
        kdf_salt: unb64(&key.kdf_salt, 16, "kdf_salt")?,
        kdf_iterations: key.kdf_iterations,
        wrapped_wmk: serde_json::to_string(&key.wrapped_wmk)
            .map_err(|e| ApiError::Internal(e.into()))?,
        wmk_check: serde_json::to_string(&key.wmk_check)
            .map_err(|e| ApiError::Internal(e.into()))?,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateWorkspace {
    workspace_id: String,
    name: String,
    key: NewKey,
}

async fn create_workspace(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(body): Json<CreateWorkspace>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let token = crate::auth::bearer(&headers).ok_or(ApiError::Unauthenticated)?;
    if !state.is_admin_token(token) {
        return Err(ApiError::Unauthenticated);
    }
    let id =
        WorkspaceId::parse(&body.workspace_id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut key = key_record(body.key, &id)?;
    key.scope = Scope::Admin;
    let workspace = WorkspaceRecord {
        id: id.clone(),
        name: body.name,
        created_at: String::new(),
    };
    state.store.create_workspace(&workspace, &key).await?;
    let who = Principal::admin_token(id.clone(), key.key_id.clone());
    audited(
        &state,
        &who,
        "admin.workspace_create",
        json!({"key_id": key.key_id, "label": key.label}),
        None,
    )
    .await?;
    tracing::info!(workspace_id = %id, key_id = %key.key_id, "Workspace created.");
    Ok((
        StatusCode::CREATED,
        Json(json!({"workspace_id": id, "key_id": key.key_id})),
    ))
}

async fn key_self(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
) -> Result<Json<shapes::KeySelf>, ApiError> {
    let record = state
        .store
        .key(&p.key_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    Ok(Json(shapes::KeySelf {
        key_id: record.key_id.to_string(),
        workspace_id: record.workspace_id.to_string(),
        label: record.label,
        scope: record.scope.as_str().to_owned(),
        kdf_salt: b64(&record.kdf_salt),
        kdf_iterations: record.kdf_iterations,
        wrapped_wmk: envelope(&record.wrapped_wmk)?,
        wmk_check: envelope(&record.wmk_check)?,
    }))
}

async fn list_keys(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
) -> Result<Json<shapes::KeyList>, ApiError> {
    p.require_admin()?;
    let keys = state.store.keys(&p.workspace_id).await?;
    let mut used = state.store.keys_last_used(&p.workspace_id).await?;
    let keys = keys
        .into_iter()
        .map(|k| shapes::KeySummary {
            last_used_at: used.remove(k.key_id.as_str()),
            current: k.key_id == p.key_id,
            key_id: k.key_id.to_string(),
            label: k.label,
            scope: k.scope.as_str().to_owned(),
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        })
        .collect();
    Ok(Json(shapes::KeyList { keys }))
}

async fn create_key(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Json(body): Json<NewKey>,
) -> Result<(StatusCode, Json<shapes::KeyCreated>), ApiError> {
    p.require_admin()?;
    let record = key_record(body, &p.workspace_id)?;
    state.store.insert_key(&record).await?;
    audited(
        &state,
        &p,
        "admin.key_create",
        json!({"key_id": record.key_id, "label": record.label, "scope": record.scope.as_str()}),
        None,
    )
    .await?;
    tracing::info!(workspace_id = %p.workspace_id, key_id = %record.key_id, "Key created.");
    Ok((
        StatusCode::CREATED,
        Json(shapes::KeyCreated {
            key_id: record.key_id.to_string(),
            scope: record.scope.as_str().to_owned(),
        }),
    ))
}

#[derive(Deserialize)]
struct RevokeQuery {
    #[serde(default)]
    force: bool,
}

async fn revoke_key(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Path(key_id): Path<String>,
    Query(q): Query<RevokeQuery>,
) -> Result<Json<shapes::KeyRevoked>, ApiError> {
    p.require_admin()?;
    let key_id = KeyId::parse(&key_id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    match state.store.revoke_key(&p.workspace_id, &key_id, q.force).await? {
        RevokeOutcome::Revoked => {
            state.keys.forget(&key_id);
            audited(&state, &p, "admin.key_revoke", json!({"key_id": key_id, "force": q.force}), None).await?;
            tracing::info!(workspace_id = %p.workspace_id, key_id = %key_id, "Key revoked.");
            Ok(Json(shapes::KeyRevoked { key_id: key_id.to_string(), revoked: true, note: None }))
        }
        RevokeOutcome::AlreadyRevoked => Ok(Json(shapes::KeyRevoked {
            key_id: key_id.to_string(),
            revoked: true,
            note: Some("already revoked".into()),
        })),
        RevokeOutcome::LastKey => Err(ApiError::Conflict(
            "this is the workspace's last key: revoking it makes every stored secret unrecoverable; pass force to do it anyway".into(),
        )),
    }
}

/// Every wrapped DEK of the workspace, for a client rotating the master key.
async fn list_deks(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
) -> Result<Json<shapes::DekList>, ApiError> {
    p.require_admin()?;
    let mut deks = Vec::new();
    for c in state.store.connections(&p.workspace_id).await? {
        deks.push(shapes::WrappedDek {
            dek: envelope(&c.sealed_dek)?,
            connection: Some(c.name),
            secret: None,
            secret_id: c.secret_id.as_str().to_owned(),
        });
    }
    for s in state.store.secrets(&p.workspace_id).await? {
        deks.push(shapes::WrappedDek {
            dek: envelope(&s.sealed_dek)?,
            connection: None,
            secret: Some(s.name),
            secret_id: s.secret_id.as_str().to_owned(),
        });
    }
    Ok(Json(shapes::DekList { deks }))
}

async fn rotate_master(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Json(body): Json<RotateMaster>,
) -> Result<Json<shapes::Rotated>, ApiError> {
    p.require_admin()?;
    let deks: Vec<(String, String)> = body
        .deks
        .into_iter()
        .map(|d| {
            Ok((
                d.secret_id,
                serde_json::to_string(&d.dek).map_err(|e| ApiError::Internal(e.into()))?,
            ))
        })
        .collect::<Result<_, ApiError>>()?;
    let new_keys: Vec<KeyRecord> = body
        .new_keys
        .into_iter()
        .map(|k| key_record(k, &p.workspace_id))
        .collect::<Result<_, _>>()?;
    let wrapped =
        serde_json::to_string(&body.wrapped_wmk).map_err(|e| ApiError::Internal(e.into()))?;
    let check = serde_json::to_string(&body.wmk_check).map_err(|e| ApiError::Internal(e.into()))?;
    let revoked = state
        .store
        .rotate_master(
            &p.workspace_id,
            &p.key_id,
            &wrapped,
            &check,
            &deks,
            &new_keys,
        )
        .await
        .map_err(|e| match e {
            conexor_store::Error::Corrupt(why) => ApiError::BadRequest(why.into()),
            other => other.into(),
        })?;
    state.keys.forget(&p.key_id);
    for k in &revoked {
        state.keys.forget(k);
    }
    audited(
        &state,
        &p,
        "admin.key_rotate_master",
        json!({"revoked": revoked, "rewrapped": deks.len(), "issued": new_keys.len()}),
        None,
    )
    .await?;
    tracing::info!(workspace_id = %p.workspace_id, key_id = %p.key_id, revoked = revoked.len(), "Master key rotated.");
    Ok(Json(shapes::Rotated {
        revoked: revoked.iter().map(|k| k.to_string()).collect(),
        rewrapped: deks.len(),
    }))
}

/// What discovery found, in counts; for a REST API also the tools it adds
/// and the bytes they take in tools/list.
fn discovered(
    name: &str,
    kind: ConnectionKind,
    schema: &conexor_connectors::Schema,
) -> shapes::Found {
    let mut found = shapes::Found {
        tables: schema.tables.len(),
        buckets: schema.buckets.len(),
        ..Default::default()
    };
    // By the kind, not by what was found: a cluster with no topic yet is
    // still a Kafka cluster.
    if kind.family() == conexor_types::Family::Topics {
        found.topics = Some(schema.topics.len());
    }
    if let Some(api) = &schema.api {
        use conexor_connectors::rest;
        let ops: Vec<&rest::openapi::Operation> = api.operations.iter().collect();
        let plan = rest::tool_plan(name, &ops);
        found.operations = Some(api.operations.len());
        found.tools = Some(shapes::ToolPlan {
            mode: match plan.mode {
                rest::ToolMode::Named => "named",
                rest::ToolMode::Generic => "generic",
            }
            .to_owned(),
            count: plan.tools.len(),
            bytes: plan.bytes,
        });
    }
    found
}

/// A connection's summary from what every mode has: its name, kind, when
/// it was discovered and updated, and what discovery found (by its kind).
fn summary(
    name: &str,
    kind: ConnectionKind,
    schema: Option<&conexor_connectors::Schema>,
    discovered_at: Option<&conexor_types::Timestamp>,
    updated_at: &conexor_types::Timestamp,
) -> shapes::ConnectionSummary {
    shapes::ConnectionSummary {
        name: name.to_owned(),
        kind: kind.as_str().to_owned(),
        mode: "direct".into(),
        secret_version: None,
        agent: None,
        agent_id: None,
        online: None,
        tables: schema.map(|s| s.tables.len()),
        buckets: schema.map(|s| s.buckets.len()).filter(|n| *n > 0),
        operations: schema
            .and_then(|s| s.api.as_ref())
            .map(|api| api.operations.len()),
        topics: schema
            .map(|s| s.topics.len())
            .filter(|_| kind.family() == conexor_types::Family::Topics),
        discovered_at: discovered_at.map(|t| t.to_string()),
        created_at: None,
        updated_at: updated_at.to_string(),
    }
}

fn connection_summary(c: &ConnectionRecord) -> shapes::ConnectionSummary {
    let schema = parse_schema(c);
    shapes::ConnectionSummary {
        mode: c.mode.as_str().to_owned(),
        secret_version: Some(c.secret_version),
        created_at: Some(c.created_at.to_string()),
        ..summary(
            &c.name,
            c.kind,
            schema.as_ref(),
            c.discovered_at.as_ref(),
            &c.updated_at,
        )
    }
}

fn agent_connection_summary(
    state: &AppState,
    a: &conexor_store::AgentConnectionRecord,
) -> shapes::ConnectionSummary {
    let schema = a
        .schema_json
        .as_deref()
        .and_then(|j| serde_json::from_str::<conexor_connectors::Schema>(j).ok());
    shapes::ConnectionSummary {
        mode: "agent".into(),
        agent: Some(a.agent_name.clone()),
        agent_id: Some(a.agent_id.to_string()),
        online: Some(state.agents.is_live(&a.agent_id)),
        ..summary(
            &a.name,
            a.kind,
            schema.as_ref(),
            a.discovered_at.as_ref(),
            &a.updated_at,
        )
    }
}

/// Agent connections are configured on the agent, not here.
async fn refuse_if_agent(state: &AppState, p: &Principal, name: &str) -> Result<(), ApiError> {
    if let Some(a) = state.store.agent_connection(&p.workspace_id, name).await? {
        return Err(ApiError::Conflict(format!(
            "connection {name:?} is offered by agent {:?}: change or remove it in that agent's agent.toml (or revoke the agent)",
            a.agent_name
        )));
    }
    Ok(())
}

async fn list_connections(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
) -> Result<Json<shapes::ConnectionList>, ApiError> {
    let mut list: Vec<shapes::ConnectionSummary> = state
        .store
        .connections(&p.workspace_id)
        .await?
        .iter()
        .map(connection_summary)
        .collect();
    list.extend(
        state
            .store
            .agent_connections(&p.workspace_id)
            .await?
            .iter()
            .map(|a| agent_connection_summary(&state, a)),
    );
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(shapes::ConnectionList { connections: list }))
}

async fn show_connection(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<shapes::ConnectionDetail>, ApiError> {
    let Some(c) = state.store.connection(&p.workspace_id, &name).await? else {
        let a = state
            .store
            .agent_connection(&p.workspace_id, &name)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no connection named {name:?}")))?;
        return Ok(Json(shapes::ConnectionDetail {
            summary: agent_connection_summary(&state, &a),
            schema: a
                .schema_json
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok()),
        }));
    };
    Ok(Json(shapes::ConnectionDetail {
        summary: connection_summary(&c),
        schema: parse_schema(&c),
    }))
}

/// A direct connection's sealed spec, for a client that edits it: the
/// holder of a workspace key opens it, changes it and sends it back sealed
/// again (`PUT /connections/{name}`). The server hands out only what it
/// stores: envelopes it cannot open. An admin key can thus read back the
/// credentials of its workspace's connections (as its holder can open
/// anything of the workspace); every read is audited, so that one is seen.
async fn sealed_spec(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<shapes::SealedSpec>, ApiError> {
    p.require_admin()?;
    refuse_if_agent(&state, &p, &name).await?;
    let c = state
        .store
        .connection(&p.workspace_id, &name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no connection named {name:?}")))?;
    audited(
        &state,
        &p,
        "admin.connection_read_spec",
        json!({"name": c.name, "secret_version": c.secret_version}),
        Some(&c.name),
    )
    .await?;
    Ok(Json(shapes::SealedSpec {
        sealed: shapes::SealedSecret {
            value: envelope(&c.sealed_value)?,
            dek: envelope(&c.sealed_dek)?,
        },
        name: c.name,
        kind: c.kind.as_str().to_owned(),
        secret_id: c.secret_id.as_str().to_owned(),
        secret_version: c.secret_version,
    }))
}

pub(crate) fn valid_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphabetic();
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "connection names are 1-64 letters, digits, '_' or '-', starting with a letter".into(),
        ))
    }
}

pub(crate) fn ctx(p: &Principal) -> CallContext {
    CallContext::of(p.clone())
}

fn tool_error(e: ToolError) -> ApiError {
    ApiError::from(e)
}

fn parse_sealed(body: &SealedConnection) -> Result<(ConnectionKind, SecretId), ApiError> {
    valid_name(&body.name)?;
    let kind = ConnectionKind::parse(&body.kind).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown connection type {:?}: use postgresql, mysql, sqlite, sqlserver, s3, rest or kafka",
            body.kind
        ))
    })?;
    let secret_id =
        SecretId::parse(&body.secret_id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok((kind, secret_id))
}

async fn test_connection(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Json(body): Json<SealedConnection>,
) -> Result<Json<shapes::Tested>, ApiError> {
    p.require_admin()?;
    let (kind, secret_id) = parse_sealed(&body)?;
    let gateway = state.gateway.clone();
    let (report, _) = gateway
        .test_connection(
            &ctx(&p),
            &Candidate {
                name: &body.name,
                kind,
                secret_id: &secret_id,
                sealed: &body.sealed,
                allow_privileged: body.allow_privileged,
            },
            false,
        )
        .await
        .map_err(tool_error)?;
    Ok(Json(shapes::Tested { test: report }))
}

async fn add_connection(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Json(body): Json<SealedConnection>,
) -> Result<(StatusCode, Json<shapes::Saved>), ApiError> {
    p.require_admin()?;
    let (kind, secret_id) = parse_sealed(&body)?;
    if state
        .store
        .connection(&p.workspace_id, &body.name)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "a connection named {:?} already exists; use edit",
            body.name
        )));
    }
    let (report, schema_json, found) =
        test_and_discover(&state, &p, &body, kind, &secret_id).await?;
    let record = ConnectionRecord {
        workspace_id: p.workspace_id.clone(),
        name: body.name.clone(),
        kind,
        mode: conexor_types::Mode::Direct,
        secret_id,
        secret_version: 1,
        sealed_value: json_text(&body.sealed.value)?,
        sealed_dek: json_text(&body.sealed.dek)?,
        schema_json,
        discovered_at: None,
        created_at: conexor_types::Timestamp::now(),
        updated_at: conexor_types::Timestamp::now(),
    };
    let refs = state
        .gateway
        .clone()
        .secret_refs(&ctx(&p), kind, &record.secret_id, &body.sealed)
        .await
        .map_err(tool_error)?;
    state
        .store
        .insert_connection(&record, &refs)
        .await
        .map_err(secret_ref_error)?;
    audited(
        &state,
        &p,
        "admin.connection_add",
        json!({"name": body.name, "type": kind.as_str()}),
        Some(&body.name),
    )
    .await?;
    tracing::info!(workspace_id = %p.workspace_id, connection = %body.name, kind = %kind, "Connection added.");
    Ok((
        StatusCode::CREATED,
        Json(shapes::Saved {
            name: body.name,
            test: report,
            secret_version: None,
            found,
        }),
    ))
}

/// Tests a sealed connection and discovers its schema, through the gateway.
async fn test_and_discover(
    state: &Arc<AppState>,
    p: &Principal,
    body: &SealedConnection,
    kind: ConnectionKind,
    secret_id: &SecretId,
) -> Result<
    (
        conexor_connectors::TestReport,
        Option<String>,
        shapes::Found,
    ),
    ApiError,
> {
    let candidate = Candidate {
        name: &body.name,
        kind,
        secret_id,
        sealed: &body.sealed,
        allow_privileged: body.allow_privileged,
    };
    let (report, schema) = state
        .gateway
        .clone()
        .test_connection(&ctx(p), &candidate, true)
        .await
        .map_err(tool_error)?;
    let found = schema
        .as_ref()
        .map(|s| discovered(&body.name, kind, s))
        .unwrap_or_default();
    let schema_json = schema.as_ref().map(json_text).transpose()?;
    Ok((report, schema_json, found))
}

/// A connection saved with a reference to a secret that went away meanwhile.
fn secret_ref_error(e: conexor_store::Error) -> ApiError {
    match e {
        conexor_store::Error::NotFound("secret") => ApiError::NotFound(
            "the connection references a secret this workspace does not have (see `conexor secrets list`)".into(),
        ),
        other => other.into(),
    }
}

fn json_text<T: serde::Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|e| ApiError::Internal(e.into()))
}

async fn edit_connection(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Json(body): Json<SealedConnection>,
) -> Result<Json<shapes::Saved>, ApiError> {
    p.require_admin()?;
    refuse_if_agent(&state, &p, &name).await?;
    if body.name != name {
        return Err(ApiError::BadRequest(
            "a connection cannot be renamed; remove and add it".into(),
        ));
    }
    let (kind, secret_id) = parse_sealed(&body)?;
    let existing = state
        .store
        .connection(&p.workspace_id, &name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no connection named {name:?}")))?;
    if existing.kind != kind {
        return Err(ApiError::BadRequest(
            "a connection's type cannot change".into(),
        ));
    }
    let (report, schema_json, found) =
        test_and_discover(&state, &p, &body, kind, &secret_id).await?;
    let value = json_text(&body.sealed.value)?;
    let dek = json_text(&body.sealed.dek)?;
    let refs = state
        .gateway
        .clone()
        .secret_refs(&ctx(&p), kind, &secret_id, &body.sealed)
        .await
        .map_err(tool_error)?;
    let version = state
        .store
        .replace_secret(
            &p.workspace_id,
            &name,
            &secret_id,
            &value,
            &dek,
            schema_json.as_deref(),
            &refs,
        )
        .await
        .map_err(secret_ref_error)?;
    state.pools.close_connection(&p.workspace_id, &name).await;
    audited(
        &state,
        &p,
        "admin.connection_edit",
        json!({"name": name, "secret_version": version}),
        Some(&name),
    )
    .await?;
    tracing::info!(workspace_id = %p.workspace_id, connection = %name, version, "Connection credentials replaced.");
    Ok(Json(shapes::Saved {
        name,
        test: report,
        secret_version: Some(version),
        found,
    }))
}

async fn refresh_connection(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<shapes::Refreshed>, ApiError> {
    p.require_admin()?;
    let gateway = state.gateway.clone();
    let (schema, kind) = gateway.refresh(&ctx(&p), &name).await.map_err(tool_error)?;
    let found = discovered(&name, kind, &schema);
    Ok(Json(shapes::Refreshed { name, found }))
}

async fn remove_connection(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<shapes::Removed>, ApiError> {
    p.require_admin()?;
    refuse_if_agent(&state, &p, &name).await?;
    state
        .store
        .delete_connection(&p.workspace_id, &name)
        .await?;
    state.pools.close_connection(&p.workspace_id, &name).await;
    audited(
        &state,
        &p,
        "admin.connection_remove",
        json!({"name": name}),
        Some(&name),
    )
    .await?;
    tracing::info!(workspace_id = %p.workspace_id, connection = %name, "Connection removed.");
    Ok(Json(shapes::Removed::new(name)))
}

async fn query(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let gateway = state.gateway.clone();
    match gateway.call_tool(&ctx(&p), "run_query", body).await {
        Ok(v) => Ok(Json(v)),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// Records an admin action in the audit chain before the answer goes out.
pub(crate) async fn audited(
    state: &Arc<AppState>,
    principal: &Principal,
    tool: &str,
    params: Value,
    connection: Option<&str>,
) -> Result<(), ApiError> {
    state
        .gateway
        .clone()
        .record_admin(principal, tool, params, connection, None)
        .await
        .map_err(|e| {
            ApiError::Unavailable(format!(
                "the action was done but could not be audited: {}",
                e.message
            ))
        })
}

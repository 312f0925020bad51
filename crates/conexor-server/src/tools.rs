//! Named-query tools on the server: the REST API (`/api/v1/tools`), the
//! tools directory it loads and reloads without a restart, and the MCP
//! sessions it tells (`notifications/tools/list_changed`) when a
//! workspace's tools change.
//!
//! Definitions and their checks are `conexor-tools`'; here they are checked
//! against the workspace (the connection must exist, by name; the SQL is
//! guarded in that connection's dialect) before they are stored. The store
//! is the source of truth; the tools file `<workspace_id>.toml` in the tools
//! directory replaces exactly the tools that came from it.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::gateway::CallContext;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use conexor_tools::ToolDef;
use conexor_types::WorkspaceId;
use rmcp::{Peer, RoleServer};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Most MCP sessions remembered for notifications, in all and per workspace.
const MAX_WATCHERS: usize = 10_000;
const MAX_WATCHERS_PER_WORKSPACE: usize = 1_000;

/// MCP sessions by workspace, to notify when its tools change.
#[derive(Default)]
pub struct Watchers {
    peers: Mutex<Vec<(WorkspaceId, Peer<RoleServer>)>>,
}

impl Watchers {
    pub fn add(&self, workspace: WorkspaceId, peer: Peer<RoleServer>) {
        let mut peers = match self.peers.lock() {
            Ok(p) => p,
            Err(p) => p.into_inner(),
        };
        peers.retain(|(_, p)| !p.is_transport_closed());
        // One workspace's sessions cannot push out another's.
        let mine = peers.iter().filter(|(w, _)| *w == workspace).count();
        if mine >= MAX_WATCHERS_PER_WORKSPACE {
            if let Some(i) = peers.iter().position(|(w, _)| *w == workspace) {
                peers.remove(i);
            }
        } else if peers.len() >= MAX_WATCHERS {
            peers.remove(0);
        }
        peers.push((workspace, peer));
    }

    /// Sends `notifications/tools/list_changed` to the workspace's sessions.
    pub fn notify(&self, workspace: &WorkspaceId) {
        let targets: Vec<Peer<RoleServer>> = match self.peers.lock() {
            Ok(mut p) => {
                p.retain(|(_, peer)| !peer.is_transport_closed());
                p.iter()
                    .filter(|(w, _)| w == workspace)
                    .map(|(_, peer)| peer.clone())
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        for peer in targets {
            tokio::spawn(async move {
                let _ = peer.notify_tool_list_changed().await;
            });
        }
    }
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/tools", get(list_tools).post(put_tool))
        .route("/tools/export", get(export_tools))
        .route("/tools/generate", post(generate_tools))
        .route("/tools/{name}", get(show_tool).delete(remove_tool))
        .route("/tools/{name}/try", post(try_tool))
}

/// The dialect of a connection of the workspace, direct or agent.
async fn dialect_of(
    state: &AppState,
    ws: &WorkspaceId,
    name: &str,
) -> Result<conexor_guard::Dialect, String> {
    let kind = match state.store.connection(ws, name).await {
        Ok(Some(c)) => Some(c.kind),
        Ok(None) => match state.store.agent_connection(ws, name).await {
            Ok(Some(a)) => Some(a.kind),
            Ok(None) => None,
            Err(_) => return Err("the server's store failed".into()),
        },
        Err(_) => return Err("the server's store failed".into()),
    };
    let Some(kind) = kind else {
        return Err(format!(
            "connection: no connection named {name:?} in this workspace (a tool names one by reference)"
        ));
    };
    conexor_connectors::dialect_for(kind).ok_or_else(|| {
        format!("connection: {name:?} is {kind} object storage; a tool's SQL needs a database")
    })
}

/// Every check a definition passes before it is stored: the guard in the
/// connection's dialect, then each table it reads against the discovered
/// schema (when there is one).
async fn check(state: &AppState, ws: &WorkspaceId, def: &ToolDef) -> Result<(), String> {
    let dialect = dialect_of(state, ws, &def.connection).await?;
    let relations = def.check(dialect).map_err(|e| e.0)?;
    let schema_json = match state.store.connection(ws, &def.connection).await {
        Ok(Some(c)) => c.schema_json,
        _ => match state.store.agent_connection(ws, &def.connection).await {
            Ok(Some(a)) => a.schema_json,
            _ => None,
        },
    };
    let Some(schema) =
        schema_json.and_then(|j| serde_json::from_str::<conexor_connectors::Schema>(&j).ok())
    else {
        return Ok(());
    };
    let known: Vec<String> = schema
        .tables
        .iter()
        .flat_map(|t| {
            [
                t.name.to_lowercase(),
                format!("{}.{}", t.schema, t.name).to_lowercase(),
            ]
        })
        .collect();
    for r in relations {
        // System catalogs and functions' tables are the source's business.
        if r.starts_with("information_schema.")
            || r.starts_with("pg_catalog.")
            || r.starts_with("sqlite_")
        {
            continue;
        }
        if !known.contains(&r) {
            let names: Vec<String> = schema.tables.iter().map(|t| t.name.clone()).collect();
            let near = crate::gateway::nearest(r.rsplit('.').next().unwrap_or(&r), &names);
            return Err(format!(
                "sql: no table {r:?} in the discovered schema of {:?}{} (run `conexor connections refresh {}` if it is new)",
                def.connection,
                if near.is_empty() {
                    String::new()
                } else {
                    format!("; did you mean {}?", near.join(", "))
                },
                def.connection
            ));
        }
    }
    Ok(())
}

fn summary(
    def: &conexor_tools::Stored,
    source: &str,
    updated_at: &str,
) -> conexor_api::ToolSummary {
    let params = match def {
        conexor_tools::Stored::Query(d) => d
            .params
            .iter()
            .map(|p| conexor_api::ToolParamSummary {
                name: p.name.clone(),
                kind: p.kind.as_str().to_owned(),
                required: p.required,
            })
            .collect(),
        conexor_tools::Stored::Table { .. } => ["columns", "where", "order_by", "limit"]
            .iter()
            .map(|n| conexor_api::ToolParamSummary {
                name: (*n).to_owned(),
                kind: "filter".into(),
                required: false,
            })
            .collect(),
    };
    // A generated tool names its table, so a page can show which tables have one.
    let table = match def {
        conexor_tools::Stored::Table { table_tool } => Some(conexor_api::TableRef {
            schema: table_tool.schema.clone(),
            name: table_tool.table.clone(),
        }),
        conexor_tools::Stored::Query(_) => None,
    };
    conexor_api::ToolSummary {
        name: def.name().to_owned(),
        description: def.description().to_owned(),
        connection: def.connection().to_owned(),
        params,
        source: source.to_owned(),
        updated_at: updated_at.to_owned(),
        table,
    }
}

async fn list_tools(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
) -> Result<Json<conexor_api::ToolList>, ApiError> {
    let tools = state
        .store
        .tools(&p.workspace_id)
        .await?
        .iter()
        .filter_map(|t| {
            serde_json::from_str::<conexor_tools::Stored>(&t.definition)
                .ok()
                .map(|d| summary(&d, &t.source, &t.updated_at))
        })
        .collect();
    Ok(Json(conexor_api::ToolList { tools }))
}

async fn show_tool(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<conexor_api::ToolShown>, ApiError> {
    let t = state
        .store
        .tool(&p.workspace_id, &name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no tool named {name:?}")))?;
    let mut def: Value =
        serde_json::from_str(&t.definition).map_err(|e| ApiError::Internal(e.into()))?;
    if let Some(inner) = def.get("table_tool").cloned() {
        def = inner;
    }
    Ok(Json(conexor_api::ToolShown {
        definition: def,
        source: t.source,
        updated_at: t.updated_at,
    }))
}

async fn put_tool(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Json(body): Json<Value>,
) -> Result<Json<conexor_api::ToolSaved>, ApiError> {
    p.require_admin()?;
    if let Some(bad) = body.as_object().and_then(|o| {
        o.keys()
            .find(|k| conexor_tools::INLINE_FIELDS.contains(&k.as_str()))
            .cloned()
    }) {
        return Err(ApiError::BadRequest(format!(
            "field {bad}: a tool names a connection by reference; inline connections exist only on the client (`conexor tools try --url …`) and are never sent to the server"
        )));
    }
    let def: ToolDef = serde_json::from_value(body)
        .map_err(|e| ApiError::BadRequest(format!("tool definition: {e}")))?;
    check(&state, &p.workspace_id, &def)
        .await
        .map_err(|e| ApiError::BadRequest(format!("tool {:?}: {e}", def.name)))?;
    let json = serde_json::to_string(&def).map_err(|e| ApiError::Internal(e.into()))?;
    match state
        .store
        .put_api_tool(&p.workspace_id, &def.name, &def.connection, &json)
        .await
    {
        Ok(()) => {}
        Err(conexor_store::Error::Conflict(_)) => {
            return Err(ApiError::Conflict(format!(
                "tool {:?} is defined in the tools file; change it there",
                def.name
            )));
        }
        Err(e) => return Err(e.into()),
    }
    crate::api::audited(
        &state,
        &p,
        "admin.tool_put",
        json!({"name": def.name, "connection": def.connection}),
        Some(&def.connection),
    )
    .await?;
    state.tool_watchers.notify(&p.workspace_id);
    tracing::info!(workspace_id = %p.workspace_id, tool = %def.name, "Tool saved.");
    Ok(Json(conexor_api::ToolSaved {
        name: def.name,
        saved: true,
    }))
}

async fn remove_tool(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<conexor_api::Removed>, ApiError> {
    p.require_admin()?;
    if !state.store.delete_api_tool(&p.workspace_id, &name).await? {
        return match state.store.tool(&p.workspace_id, &name).await? {
            Some(_) => Err(ApiError::Conflict(format!(
                "tool {name:?} is defined in the tools file; remove it there"
            ))),
            None => Err(ApiError::NotFound(format!("no tool named {name:?}"))),
        };
    }
    crate::api::audited(&state, &p, "admin.tool_remove", json!({"name": name}), None).await?;
    state.tool_watchers.notify(&p.workspace_id);
    Ok(Json(conexor_api::Removed::new(name)))
}

/// Most tables generated without naming them: one tool per table does not
/// scale, so larger schemas must pick (`--tables`).
const GENERATE_ALL_MAX: usize = 20;

/// Generates one read tool per chosen table from the discovered schema.
async fn generate_tools(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Json(body): Json<conexor_api::Generate>,
) -> Result<Json<conexor_api::Generated>, ApiError> {
    p.require_admin()?;
    let ws = &p.workspace_id;
    let schema_json = match state.store.connection(ws, &body.connection).await? {
        Some(c) => c.schema_json,
        None => {
            state
                .store
                .agent_connection(ws, &body.connection)
                .await?
                .ok_or_else(|| {
                    ApiError::NotFound(format!("no connection named {:?}", body.connection))
                })?
                .schema_json
        }
    };
    let schema: conexor_connectors::Schema = schema_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "connection {:?} has no discovered schema; run `conexor connections refresh {}`",
                body.connection, body.connection
            ))
        })?;
    let qualified = |t: &conexor_connectors::Table| {
        if t.schema.is_empty() || t.schema == "main" || t.schema == "public" {
            t.name.clone()
        } else {
            format!("{}.{}", t.schema, t.name)
        }
    };
    let names: Vec<String> = schema.tables.iter().map(qualified).collect();
    let chosen: Vec<&conexor_connectors::Table> = if body.tables.is_empty() {
        if schema.tables.len() > GENERATE_ALL_MAX {
            return Err(ApiError::BadRequest(format!(
                "{} has {} tables; one tool per table does not scale, so name the ones you want with --tables (the AI finds the others with search_schema)",
                body.connection,
                schema.tables.len()
            )));
        }
        schema.tables.iter().collect()
    } else {
        let mut out = Vec::new();
        for wanted in &body.tables {
            let found = pick_table(&schema.tables, wanted, qualified)
                .map_err(|why| ApiError::BadRequest(format!("{why} in {}", body.connection)))?;
            match found {
                Some(t) => out.push(t),
                None => {
                    let near = crate::gateway::nearest(wanted, &names);
                    return Err(ApiError::BadRequest(format!(
                        "no table {wanted:?} in {}{}",
                        body.connection,
                        if near.is_empty() {
                            String::new()
                        } else {
                            format!("; did you mean {}?", near.join(", "))
                        }
                    )));
                }
            }
        }
        out
    };
    // Every name is settled before anything is saved: no duplicates in this
    // request, no built-in name, and no tool of that name for another table.
    let mut tools: Vec<conexor_tools::TableTool> = Vec::new();
    for t in chosen {
        let schema_name = if t.schema == "main" {
            ""
        } else {
            t.schema.as_str()
        };
        let columns: Vec<(String, String, Option<String>)> = t
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.type_name.clone(), c.comment.clone()))
            .collect();
        let tool = conexor_tools::TableTool::new(
            &body.connection,
            schema_name,
            &t.name,
            t.comment.as_deref(),
            &columns,
            &t.primary_key,
        );
        if conexor_tools::RESERVED.contains(&tool.name.as_str()) {
            return Err(ApiError::Conflict(format!(
                "{:?} would be the name of a built-in tool",
                tool.name
            )));
        }
        if let Some(other) = tools.iter().find(|o| o.name == tool.name) {
            return Err(ApiError::Conflict(format!(
                "tables {:?} and {:?} would both be named {:?}; generate them one at a time under different connections",
                other.table, tool.table, tool.name
            )));
        }
        if let Some(existing) = state.store.tool(ws, &tool.name).await? {
            let same = existing.source == "generated"
                && matches!(serde_json::from_str::<conexor_tools::Stored>(&existing.definition),
                    Ok(conexor_tools::Stored::Table { table_tool }) if table_tool.connection == tool.connection && table_tool.schema == tool.schema && table_tool.table == tool.table);
            if !same {
                return Err(ApiError::Conflict(format!(
                    "a tool named {:?} already exists for something else",
                    tool.name
                )));
            }
        }
        tools.push(tool);
    }
    let mut created = Vec::new();
    for tool in tools {
        let json = serde_json::to_string(&json!({"table_tool": tool}))
            .map_err(|e| ApiError::Internal(e.into()))?;
        match state
            .store
            .put_tool(ws, &tool.name, &body.connection, &json, "generated")
            .await
        {
            Ok(()) => created.push(tool.name),
            Err(e) => {
                tracing::error!(error = %e, "Store failed saving a generated tool.");
                break;
            }
        }
    }
    crate::api::audited(
        &state,
        &p,
        "admin.tools_generate",
        json!({"connection": body.connection, "tools": created}),
        Some(&body.connection),
    )
    .await?;
    state.tool_watchers.notify(ws);
    Ok(Json(conexor_api::Generated {
        connection: body.connection,
        tools: created,
    }))
}

/// The table `wanted` names: its qualified name first, else a bare name that
/// one table alone has (two schemas may each hold an `orders`).
fn pick_table<'a>(
    tables: &'a [conexor_connectors::Table],
    wanted: &str,
    qualified: impl Fn(&conexor_connectors::Table) -> String,
) -> Result<Option<&'a conexor_connectors::Table>, String> {
    if let Some(t) = tables
        .iter()
        .find(|t| qualified(t).eq_ignore_ascii_case(wanted))
    {
        return Ok(Some(t));
    }
    let bare: Vec<&conexor_connectors::Table> = tables
        .iter()
        .filter(|t| t.name.eq_ignore_ascii_case(wanted))
        .collect();
    match bare.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        several => Err(format!(
            "{wanted:?} names {} tables ({}); name one with its schema",
            several.len(),
            several
                .iter()
                .map(|t| format!("{}.{}", t.schema, t.name))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Runs a named tool as an MCP client would (the same chokepoint, audited).
async fn try_tool(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Json(args): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let ctx = CallContext::of(p);
    match state.gateway.clone().call_tool(&ctx, &name, args).await {
        Ok(v) => Ok(Json(v)),
        Err(e) => Err(ApiError::from(e)),
    }
}

async fn export_tools(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
) -> Result<String, ApiError> {
    let defs: Vec<ToolDef> = state
        .store
        .tools(&p.workspace_id)
        .await?
        .iter()
        .filter(|t| t.source != "generated")
        .filter_map(|t| serde_json::from_str(&t.definition).ok())
        .collect();
    conexor_tools::to_file(&defs).map_err(|e| ApiError::Internal(anyhow::anyhow!(e.0)))
}

/// Watches the tools directory: `<workspace_id>.toml` files, polled every
/// `every`. A changed file is parsed and checked as a whole; on any error
/// the previous tools stay and the error (line, tool, field) is logged.
pub fn spawn_directory_watcher(
    state: Arc<AppState>,
    dir: PathBuf,
    every: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen: Option<HashMap<PathBuf, Signature>> = None;
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => scan(&state, &dir, &mut seen).await,
            }
        }
    })
}

async fn scan(
    state: &Arc<AppState>,
    dir: &std::path::Path,
    seen: &mut Option<HashMap<PathBuf, Signature>>,
) {
    // An unreadable directory (unmounted, permissions) changes nothing.
    let Ok(entries) = std::fs::read_dir(dir) else {
        tracing::warn!(dir = %dir.display(), "Tools directory unreadable; tools unchanged.");
        return;
    };
    let first = seen.is_none();
    let seen = seen.get_or_insert_with(HashMap::new);
    let mut present: Vec<PathBuf> = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        present.push(path.clone());
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let sig = signature(&bytes);
        if seen.get(&path) == Some(&sig) {
            continue;
        }
        // Remembered once settled (loaded, or refused for its content), so a
        // passing failure (store, unknown workspace) is retried next time.
        if load(state, &path, &bytes).await {
            seen.insert(path.clone(), sig);
        }
    }
    // A removed file removes the tools that came from it, also one removed
    // while the server was stopped.
    let mut gone: Vec<PathBuf> = seen
        .keys()
        .filter(|p| !present.contains(p))
        .cloned()
        .collect();
    if first && let Ok(workspaces) = state.store.workspaces_with_file_tools().await {
        for ws in workspaces {
            let path = dir.join(format!("{ws}.toml"));
            if !present.contains(&path) && !gone.contains(&path) {
                gone.push(path);
            }
        }
    }
    for path in gone {
        seen.remove(&path);
        if let Some(ws) = workspace_of(&path) {
            apply(state, &path, &ws, Vec::new()).await;
        }
    }
}

/// What a file held when it was last settled: its length and SHA-256.
type Signature = (usize, [u8; 32]);

fn signature(bytes: &[u8]) -> Signature {
    use sha2::Digest;
    (bytes.len(), sha2::Sha256::digest(bytes).into())
}

fn workspace_of(path: &std::path::Path) -> Option<WorkspaceId> {
    WorkspaceId::parse(path.file_stem()?.to_str()?).ok()
}

/// Loads one file; true once settled (applied, or refused for its content).
async fn load(state: &Arc<AppState>, path: &std::path::Path, bytes: &[u8]) -> bool {
    let file = path.display().to_string();
    let Some(ws) = workspace_of(path) else {
        tracing::warn!(
            file,
            "Tools file ignored: name it <workspace id>.toml (ws_…)."
        );
        return true;
    };
    match state.store.workspace(&ws).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            tracing::warn!(file, workspace_id = %ws, "Tools file waiting: no such workspace (yet).");
            return false;
        }
        Err(_) => return false,
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        tracing::error!(file, "Tools file refused: not UTF-8; previous tools kept.");
        return true;
    };
    let parsed = match conexor_tools::parse_file(text) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(file, error = %e, "Tools file refused; previous tools kept.");
            return true;
        }
    };
    let mut rows = Vec::new();
    for t in parsed {
        if let Err(e) = check(state, &ws, &t.def).await {
            tracing::error!(file, error = %format!("line {}: tool {:?}: {e}", t.line, t.def.name), "Tools file refused; previous tools kept.");
            return true;
        }
        match serde_json::to_string(&t.def) {
            Ok(json) => rows.push((t.def.name.clone(), t.def.connection.clone(), json)),
            Err(_) => return true,
        }
    }
    apply(state, path, &ws, rows).await
}

/// Records the reload, then applies it: no record, no change (fail closed).
async fn apply(
    state: &Arc<AppState>,
    path: &std::path::Path,
    ws: &WorkspaceId,
    rows: Vec<(String, String, String)>,
) -> bool {
    let file = path.display().to_string();
    let names: Vec<&str> = rows.iter().map(|(n, _, _)| n.as_str()).collect();
    let recorded = state
        .gateway
        .record_event(
            ws,
            "tools file".into(),
            "admin.tools_reload",
            json!({"file": path.file_name().and_then(|n| n.to_str()), "tools": names}),
            None,
            None,
        )
        .await;
    if recorded.is_err() {
        tracing::error!(
            file,
            "Tools reload not applied: it could not be audited; retrying."
        );
        return false;
    }
    match state.store.replace_file_tools(ws, &rows).await {
        Ok(clashes) if !clashes.is_empty() => {
            tracing::error!(file, tools = %clashes.join(", "), "Tools file refused: these names are defined through the API; previous tools kept.");
            true
        }
        Ok(_) => {
            tracing::info!(file, workspace_id = %ws, tools = names.len(), "Tools file loaded.");
            state.tool_watchers.notify(ws);
            true
        }
        Err(e) => {
            tracing::error!(file, error = %e, "Store failed loading a tools file; retrying.");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pick_table;
    use conexor_connectors::Table;

    fn table(schema: &str, name: &str) -> Table {
        Table {
            schema: schema.into(),
            name: name.into(),
            kind: "table".into(),
            comment: None,
            row_estimate: None,
            columns: Vec::new(),
            primary_key: Vec::new(),
            foreign_keys: Vec::new(),
        }
    }

    fn qualified(t: &Table) -> String {
        if t.schema == "public" {
            t.name.clone()
        } else {
            format!("{}.{}", t.schema, t.name)
        }
    }

    #[test]
    fn a_qualified_name_wins_and_an_ambiguous_bare_one_is_refused() {
        // `analytics.orders` first: a bare-name match would have taken it.
        let tables = [table("analytics", "orders"), table("public", "orders")];
        let got = pick_table(&tables, "orders", qualified).unwrap().unwrap();
        assert_eq!(got.schema, "public");
        let got = pick_table(&tables, "analytics.orders", qualified)
            .unwrap()
            .unwrap();
        assert_eq!(got.schema, "analytics");
        let tables = [table("a", "orders"), table("b", "orders")];
        let err = pick_table(&tables, "orders", qualified).unwrap_err();
        assert!(err.contains("a.orders, b.orders"), "{err}");
        assert!(pick_table(&tables, "nope", qualified).unwrap().is_none());
        let tables = [table("sales", "invoices")];
        let got = pick_table(&tables, "INVOICES", qualified).unwrap().unwrap();
        assert_eq!(got.name, "invoices");
    }
}

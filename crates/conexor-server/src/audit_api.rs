//! The audit endpoints of the REST API: the verifying key and streaming
//! exports (JSON Lines, CSV, OCSF) with an optional `follow` mode for SIEM
//! forwarders. Exports are streamed page by page: memory stays constant
//! whatever the length of the chain.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::Response;
use axum::{Extension, Json};
use conexor_audit::{Record, export};
use conexor_store::AuditRow;
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::mpsc;

const PAGE: u32 = 1000;

pub async fn pubkey(State(state): State<Arc<AppState>>) -> Json<conexor_api::AuditKey> {
    Json(audit_key(&state))
}

fn audit_key(state: &AppState) -> conexor_api::AuditKey {
    let key = state.audit.public_key();
    conexor_api::AuditKey {
        pubkey: key.to_text(),
        key_id: key.key_id(),
    }
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    #[serde(default = "default_format")]
    format: String,
    /// Records at or after this time (RFC 3339).
    since: Option<String>,
    /// Records at or before this time (RFC 3339).
    until: Option<String>,
    /// Only this user label (the export is then not verifiable as a chain).
    user: Option<String>,
    /// Only this tool (not verifiable as a chain).
    tool: Option<String>,
    /// Only this outcome (not verifiable as a chain).
    outcome: Option<String>,
    /// Keep streaming new records and checkpoints as they are written.
    #[serde(default)]
    follow: bool,
}

fn default_format() -> String {
    "jsonl".into()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Jsonl,
    Csv,
    Ocsf,
}

pub async fn export_audit(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    p.require_admin()?;
    let format = match q.format.as_str() {
        "jsonl" => Format::Jsonl,
        "csv" => Format::Csv,
        "ocsf" => Format::Ocsf,
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown format {other:?}: use jsonl, csv or ocsf"
            )));
        }
    };
    let since = query_time(q.since.as_deref(), "since")?;
    query_time(q.until.as_deref(), "until")?;
    check_outcome(q.outcome.as_deref())?;
    let workspace = p.workspace_id.to_string();
    let from_seq = match &since {
        Some(ts) => {
            state
                .store
                .audit_first_seq_since(&workspace, ts)
                .await?
                // Nothing since then: an empty export that starts after the head.
                .unwrap_or(
                    state
                        .store
                        .audit_last_seq(&workspace)
                        .await?
                        .saturating_add(1),
                )
        }
        None => 1,
    };
    let (tx, rx) = mpsc::channel::<String>(64);
    tokio::spawn(async move {
        stream_export(state, workspace, q, format, from_seq, tx).await;
    });
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), rx))
    }));
    let content_type = match format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Jsonl | Format::Ocsf => "application/x-ndjson",
    };
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .map_err(|e| ApiError::Internal(e.into()))
}

/// Writes the export into `tx`, one line per message; stops when the client
/// goes away. False when the store failed or a stored record did not parse:
/// the export was cut short (logged), which is not the chain's damage.
async fn stream_export(
    state: Arc<AppState>,
    workspace: String,
    q: ExportQuery,
    format: Format,
    from_seq: u64,
    tx: mpsc::Sender<String>,
) -> bool {
    let key = state.audit.public_key();
    let mut header = export::Header::new(
        workspace.clone(),
        &key,
        state.audit.interval(),
        chrono::Utc::now(),
    );
    header.from_seq = from_seq;
    let first = match format {
        Format::Jsonl => export::jsonl_header(&header).ok(),
        Format::Csv => export::csv_header_row(&header)
            .ok()
            .map(|row| format!("{}{row}", export::csv_header())),
        Format::Ocsf => None,
    };
    if let Some(line) = first
        && tx.send(line).await.is_err()
    {
        return true;
    }
    let until = q
        .until
        .as_deref()
        .and_then(|t| conexor_audit::parse_ts(t).ok());
    let mut after = from_seq.saturating_sub(1);
    let mut last: Option<(u64, String)> = None;
    loop {
        let page = match state.store.audit_page(&workspace, after, PAGE).await {
            Ok(page) => page,
            Err(error) => {
                tracing::error!(error = %error, "Audit export failed.");
                return false;
            }
        };
        let mut records_in_page = 0;
        let mut reached_until = false;
        for row in page {
            let line = match row {
                AuditRow::Record(stored) => {
                    records_in_page += 1;
                    after = stored.seq;
                    let Ok(record) = serde_json::from_str::<Record>(&stored.record) else {
                        tracing::error!(seq = stored.seq, "A stored audit record does not parse.");
                        return false;
                    };
                    if until
                        .is_some_and(|u| conexor_audit::parse_ts(&record.ts).is_ok_and(|ts| ts > u))
                    {
                        reached_until = true;
                        break;
                    }
                    last = Some((record.seq, record.hash.clone()));
                    if !selected(&q, &record) {
                        continue;
                    }
                    match format {
                        Format::Jsonl => export::jsonl_record(&record).ok(),
                        Format::Csv => export::csv_record(&record).ok(),
                        Format::Ocsf => export::ocsf_record(&record).ok(),
                    }
                }
                AuditRow::Checkpoint(c) => {
                    let covered =
                        last.as_ref().is_some_and(|(seq, _)| c.seq <= *seq) && c.seq >= from_seq;
                    if !covered || format == Format::Ocsf {
                        continue;
                    }
                    let cp = conexor_audit::Checkpoint {
                        workspace: c.workspace_id,
                        seq: c.seq,
                        hash: c.hash,
                        ts: c.ts,
                    };
                    match format {
                        Format::Jsonl => export::jsonl_checkpoint(&cp, &c.sig).ok(),
                        _ => Some(export::csv_checkpoint(&cp, &c.sig)),
                    }
                }
            };
            if let Some(line) = line
                && tx.send(line).await.is_err()
            {
                return true;
            }
        }
        if reached_until {
            break;
        }
        if records_in_page < PAGE as usize {
            if !q.follow {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = tx.closed() => return true,
            }
        }
    }
    if format == Format::Ocsf {
        return true;
    }
    // Always end with a freshly signed head checkpoint, or a cut tail would be invisible.
    let (seq, hash) = match last {
        Some(head) => head,
        None => {
            // No record exported: sign the record just before the range, truthfully.
            let before = from_seq.saturating_sub(1);
            let hash = match before {
                0 => Some(conexor_audit::ZERO_HASH.to_owned()),
                seq => state
                    .store
                    .audit_hash_at(&workspace, seq)
                    .await
                    .ok()
                    .flatten(),
            };
            match hash {
                Some(hash) => (before, hash),
                None => return false,
            }
        }
    };
    if let Ok((cp, sig)) = state.audit.sign_head(&workspace, seq, &hash) {
        let line = match format {
            Format::Jsonl => export::jsonl_checkpoint(&cp, &sig).ok(),
            _ => Some(export::csv_checkpoint(&cp, &sig)),
        };
        if let Some(line) = line {
            let _ = tx.send(line).await;
        }
    }
    true
}

fn selected(q: &ExportQuery, r: &Record) -> bool {
    q.user
        .as_ref()
        .is_none_or(|u| r.user.as_deref() == Some(u.as_str()))
        && q.tool.as_ref().is_none_or(|t| &r.tool == t)
        && q.outcome.as_ref().is_none_or(|o| r.outcome.as_str() == o)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyQuery {
    /// The key the reader pinned (`ed25519:…`); without it the signatures
    /// are only checked against the key the export names.
    #[serde(default)]
    pubkey: Option<String>,
}

/// `GET /api/v1/audit/verify`: the workspace's whole export, produced by the
/// same stream as `GET /audit/export` and read by the same verifier as
/// `conexor audit verify`, without holding it in memory. It says what the
/// stored chain is now; an auditor who does not trust this server verifies
/// an export on their own machine instead.
pub async fn verify_chain(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Query(q): Query<VerifyQuery>,
) -> Result<Json<conexor_api::Verification>, ApiError> {
    p.require_admin()?;
    // Each verification reads a whole chain on a blocking thread: a few at
    // a time for the whole server.
    let _permit = VERIFYING.try_acquire().map_err(|_| {
        ApiError::TooMany("chain verifications are already running; try again in a moment")
    })?;
    let pinned = match q.pubkey.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        Some(text) => Some(conexor_audit::PublicKey::parse(text).map_err(|_| {
            ApiError::BadRequest(
                "the pinned key is not an audit public key (ed25519: followed by 43 base64url characters)"
                    .into(),
            )
        })?),
        None => None,
    };
    let everything = ExportQuery {
        format: default_format(),
        since: None,
        until: None,
        user: None,
        tool: None,
        outcome: None,
        follow: false,
    };
    let (tx, rx) = mpsc::channel::<String>(64);
    // A client that goes away stops the export, which ends the verifier's input.
    let stop = tokio_util::sync::CancellationToken::new();
    let _stop_when_dropped = stop.clone().drop_guard();
    let exported = tokio::spawn({
        let state = state.clone();
        let workspace = p.workspace_id.to_string();
        async move {
            tokio::select! {
                whole = stream_export(state, workspace, everything, Format::Jsonl, 1, tx) => whole,
                _ = stop.cancelled() => false,
            }
        }
    });
    let reader = std::io::BufReader::new(ChannelReader {
        rx,
        chunk: Vec::new(),
        at: 0,
    });
    let started = std::time::Instant::now();
    let outcome =
        tokio::task::spawn_blocking(move || conexor_audit::verify(reader, pinned.as_ref()))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
    // A store that failed mid-way cut the export: that says nothing of the chain.
    if !exported.await.unwrap_or(false) {
        return Err(ApiError::Unavailable(
            "the chain could not be read whole from the store (see the server's log); nothing was verified".into(),
        ));
    }
    let server = audit_key(&state);
    let duration_ms = started.elapsed().as_millis() as u64;
    Ok(Json(match outcome {
        Ok(r) => conexor_api::Verification::Intact(conexor_api::Intact {
            ok: true,
            records: r.records,
            first_seq: r.first_seq,
            last_seq: r.last_seq,
            checkpoints: r.checkpoints,
            head_seq: r.head_seq,
            head_hash: r.head_hash,
            head_ts: r.head_ts,
            pubkey: r.pubkey,
            pinned: r.signatures == conexor_audit::SignatureTrust::Pinned,
            server,
            duration_ms,
        }),
        Err(problem) => conexor_api::Verification::Damaged(conexor_api::Damaged {
            ok: false,
            line: problem.line,
            damage: problem.kind.as_str().to_owned(),
            detail: problem.detail,
            server,
            duration_ms,
        }),
    }))
}

/// Chain verifications running at once, server-wide.
static VERIFYING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The export's lines, read on a blocking thread as they are produced.
struct ChannelReader {
    rx: mpsc::Receiver<String>,
    chunk: Vec<u8>,
    at: usize,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(next) => {
                    self.chunk = next.into_bytes();
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    /// The `next` of the previous page: records older than it.
    #[serde(default)]
    pub before: Option<u64>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub tool: Option<String>,
    #[serde(default)]
    pub outcome: Option<String>,
    /// Records at or after this time (RFC 3339).
    #[serde(default)]
    pub since: Option<String>,
    /// Records at or before this time (RFC 3339).
    #[serde(default)]
    pub until: Option<String>,
}

/// An outcome filter is `ok`, `denied` or `error`.
fn check_outcome(outcome: Option<&str>) -> Result<(), ApiError> {
    match outcome {
        Some(o) if conexor_audit::Outcome::parse(o).is_none() => Err(ApiError::BadRequest(
            "outcome must be ok, denied or error".into(),
        )),
        _ => Ok(()),
    }
}

/// An RFC 3339 time from a query, in the store's spelling; empty is none.
fn query_time(text: Option<&str>, what: &str) -> Result<Option<String>, ApiError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => conexor_audit::parse_ts(t)
            .map(|ts| Some(conexor_audit::format_ts(ts)))
            .map_err(|_| {
                ApiError::BadRequest(format!(
                    "{what} is not an RFC 3339 time (like 2026-12-01T08:00:00Z)"
                ))
            }),
    }
}

/// `GET /api/v1/audit/records`: a page of records, newest first, with the
/// cursor of the next (older) page; filters by tool, outcome and time. For people
/// reading the trail; the export (chain order, checkpoints) is what verifies.
pub async fn list_records(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Query(q): Query<ListQuery>,
) -> Result<Json<conexor_api::RecordPage>, ApiError> {
    p.require_admin()?;
    check_outcome(q.outcome.as_deref())?;
    if q.tool.as_ref().is_some_and(|t| t.len() > 128) {
        return Err(ApiError::BadRequest("the tool name is too long".into()));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let since = query_time(q.since.as_deref(), "since")?;
    let until = query_time(q.until.as_deref(), "until")?;
    let rows = state
        .store
        .audit_records_before(
            p.workspace_id.as_str(),
            q.before,
            limit,
            conexor_store::RecordFilter {
                tool: q.tool.as_deref().filter(|t| !t.is_empty()),
                outcome: q.outcome.as_deref().filter(|o| !o.is_empty()),
                since: since.as_deref(),
                until: until.as_deref(),
            },
        )
        .await?;
    let next = (rows.len() as u32 == limit)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    let records = rows
        .iter()
        .map(|r| {
            serde_json::from_str::<Record>(&r.record).map_err(|_| {
                ApiError::Unavailable(format!(
                    "the stored audit record {} does not parse; verify the chain",
                    r.seq
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Json(conexor_api::RecordPage { records, next }))
}

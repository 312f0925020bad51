//! One request from the server, served under the agent's own rules: the
//! SELECT-only guard in the connection's dialect, the agent's limits
//! (whichever of the server's and the agent's is smaller), the source-side
//! read-only session of `conexor-connectors`, and a local audit record
//! written durably before the answer is sent.

use crate::Shared;
use conexor_audit::{Draft, Outcome};
use conexor_connectors::{OpenOptions, Source, SourceSpec};
use conexor_protocol::{AgentMessage, Operation, encode};
use conexor_types::{Limits, ResultSet};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// Largest schema the server accepts for one connection.
const MAX_SCHEMA_BYTES: usize = 2 << 20;
/// A rows message stays this far below the protocol's message cap (envelope, columns).
const MESSAGE_MARGIN: usize = 64 << 10;

/// A refused or failed request: a value-free code, and a message for the AI.
struct Refusal {
    code: String,
    message: String,
    denied: bool,
}

impl Refusal {
    fn denied(code: &str, message: impl Into<String>) -> Refusal {
        Refusal {
            code: code.into(),
            message: message.into(),
            denied: true,
        }
    }
}

impl From<conexor_connectors::Error> for Refusal {
    fn from(e: conexor_connectors::Error) -> Self {
        let class = e.class();
        // The source's own message about the statement goes back to the AI (it
        // needs "column x does not exist"); messages about logins, hosts and
        // the spec stay on this side (logged here, class only to the server).
        let message = match &e {
            conexor_connectors::Error::Source { .. }
            | conexor_connectors::Error::Param { .. }
            | conexor_connectors::Error::Usage(_)
            | conexor_connectors::Error::Refused { .. } => e.to_string(),
            _ => {
                tracing::warn!(error = %e, "Source unavailable.");
                format!(
                    "the agent could not use this connection ({}); see the agent's log",
                    class.reason
                )
            }
        };
        Refusal {
            code: class.code,
            message,
            denied: matches!(e, conexor_connectors::Error::Refused { .. }),
        }
    }
}

async fn send(tx: &mpsc::Sender<Message>, message: &AgentMessage) -> bool {
    tx.send(Message::text(encode(message))).await.is_ok()
}

/// For the socket reader: never waits (a server that stops reading must not
/// stall the agent's heartbeat and shutdown checks).
fn send_now(tx: &mpsc::Sender<Message>, message: &AgentMessage) -> bool {
    tx.try_send(Message::text(encode(message))).is_ok()
}

/// Answers (and records) a request the agent has no room for.
pub(crate) fn busy(shared: &Arc<Shared>, tx: &mpsc::Sender<Message>, id: u64, connection: &str) {
    tracing::warn!(id, "Request refused: too many in flight.");
    send_now(
        tx,
        &AgentMessage::Error {
            id,
            code: "limit.concurrency".into(),
            message: "the agent is serving as many requests as it allows; retry shortly".into(),
            denied: true,
        },
    );
    let mut draft = Draft::new("agent.query", Outcome::Denied);
    draft.mode = Some("agent".into());
    draft.connection = Some(connection.chars().take(64).collect());
    draft.error = Some(format!(
        "limit.concurrency: {}",
        conexor_types::ErrorCode::Limit("concurrency".into()).fixed_reason()
    ));
    let shared = shared.clone();
    tokio::spawn(async move {
        let _ = record(&shared, draft).await;
    });
}

/// Awaits a request's task. One that panicked (a client library meeting an
/// answer it did not expect, say) would leave its request unanswered until
/// the server's timeout: it is answered as failed at once, and recorded.
pub(crate) async fn answer_if_failed(
    shared: Arc<Shared>,
    tx: mpsc::Sender<Message>,
    id: u64,
    connection: String,
    task: tokio::task::JoinHandle<()>,
) {
    let ended = task.await;
    let Some(answer) = owed_answer(id, &ended) else {
        return;
    };
    tracing::error!(
        id,
        connection,
        "Serving a request failed inside the agent; answered as failed."
    );
    send_now(&tx, &answer);
    let mut draft = Draft::new("agent.request", Outcome::Error);
    draft.mode = Some("agent".into());
    draft.connection = Some(connection.chars().take(64).collect());
    draft.error = Some(format!(
        "internal: {}",
        conexor_types::ErrorCode::Internal.fixed_reason()
    ));
    let _ = record(&shared, draft).await;
}

/// The answer still owed for a request whose task ended: none when it
/// answered itself or was stopped on purpose (cancelled), a failure when it
/// panicked.
fn owed_answer(id: u64, ended: &Result<(), tokio::task::JoinError>) -> Option<AgentMessage> {
    match ended {
        Err(e) if e.is_panic() => Some(AgentMessage::Error {
            id,
            code: "internal".into(),
            message: "the agent failed while serving this request; its log says why".into(),
            denied: false,
        }),
        _ => None,
    }
}

/// Records and refuses a message the agent does not understand. When it had
/// an id, the server gets an error for it.
pub(crate) fn refuse_malformed(
    shared: &Arc<Shared>,
    tx: &mpsc::Sender<Message>,
    id: Option<u64>,
    why: &str,
) {
    tracing::warn!(
        id = id.unwrap_or(0),
        why,
        "Refused a message from the server."
    );
    let mut draft = Draft::new("agent.protocol", Outcome::Denied);
    draft.mode = Some("agent".into());
    draft.error = Some(format!(
        "protocol.malformed: {}",
        conexor_types::ErrorCode::Protocol("malformed".into()).fixed_reason()
    ));
    if let Some(id) = id {
        send_now(tx, &AgentMessage::Error {
            id,
            code: "protocol.unknown_operation".into(),
            message: "the agent serves only `query`, `object`, `topics`, `call` and `discover` requests on its offered connections".into(),
            denied: true,
        });
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let _ = record(&shared, draft).await;
    });
}

/// Appends to the local audit log (grouped with concurrent requests' records).
async fn record(shared: &Arc<Shared>, draft: Draft) -> Result<(), ()> {
    if shared.audit.record(draft).await {
        Ok(())
    } else {
        Err(())
    }
}

async fn source(shared: &Arc<Shared>, name: &str) -> Result<Source, Refusal> {
    let Some(local) = shared.settings.connections.iter().find(|c| c.name == name) else {
        let names: Vec<&str> = shared
            .settings
            .connections
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(Refusal::denied(
            "unknown_connection",
            format!(
                "this agent offers no connection {name:?}; it offers: {}",
                names.join(", ")
            ),
        ));
    };
    let mut sources = shared.sources.lock().await;
    if let Some(s) = sources.get(name) {
        return Ok(s.clone());
    }
    let limits = &shared.settings.limits;
    let options = OpenOptions {
        statement_timeout: limits.statement_timeout,
        connect_timeout: Duration::from_secs(10),
        max_connections: limits.max_in_flight.clamp(1, 8) as u32,
        ..OpenOptions::default()
    };
    let opened = Source::open_spec(&local.spec, &options).await?;
    // The agent protects itself: a login that can do more than read is refused unless
    // agent.toml says otherwise for this connection. No server message can lift it.
    if !local.allow_privileged {
        let report = match opened.test().await {
            Ok(report) => report,
            Err(e) => {
                opened.close().await;
                return Err(e.into());
            }
        };
        if !report.privileges.is_empty() {
            opened.close().await;
            tracing::error!(
                connection = %name,
                privileges = %report.privileges.join("; "),
                "Refusing a login that can do more than read; use a read-only login, or set allow_privileged = true for this connection in agent.toml."
            );
            return Err(Refusal::denied(
                "agent.privileged_login",
                format!(
                    "the agent refuses connection {name:?}: its login can do more than read ({}); the agent's owner must use a read-only login or set allow_privileged = true in agent.toml",
                    report.privileges.join("; ")
                ),
            ));
        }
    }
    sources.insert(name.to_owned(), opened.clone());
    Ok(opened)
}

/// Discovers each offered connection and sends its schema (metadata only).
pub(crate) async fn push_schemas(shared: Arc<Shared>, tx: mpsc::Sender<Message>) {
    for c in &shared.settings.connections {
        let started = Instant::now();
        let result = async {
            let s = source(&shared, &c.name).await?;
            Ok::<_, Refusal>(s.discover().await?)
        }
        .await;
        match result {
            Ok(schema) => {
                let tables = schema.tables.len();
                let schema = serde_json::to_value(&schema).unwrap_or(Value::Null);
                let size = serde_json::to_string(&schema)
                    .map(|t| t.len())
                    .unwrap_or(usize::MAX);
                if size > MAX_SCHEMA_BYTES {
                    tracing::warn!(connection = %c.name, tables, bytes = size, "Schema too large to send (limit 2 MiB); the connection is offered without schema.");
                    continue;
                }
                send(
                    &tx,
                    &AgentMessage::Schema {
                        connection: c.name.clone(),
                        id: None,
                        schema,
                    },
                )
                .await;
                tracing::info!(connection = %c.name, tables, duration_ms = started.elapsed().as_millis() as u64, "Schema sent.");
            }
            Err(r) => {
                tracing::warn!(connection = %c.name, error = %r.code, "Discovery failed; the connection is offered without schema.");
            }
        }
    }
}

/// One request from the server, as the session hands it to [`handle`].
pub(crate) struct Request {
    pub(crate) id: u64,
    pub(crate) connection: String,
    pub(crate) op: Operation,
    /// Cancelled when the server sends a cancel or the session ends.
    pub(crate) cancel: tokio_util::sync::CancellationToken,
    /// The request's place under the agent's concurrency cap, held until
    /// the answer is queued.
    pub(crate) permit: OwnedSemaphorePermit,
}

pub(crate) async fn handle(
    shared: Arc<Shared>,
    tx: mpsc::Sender<Message>,
    socket: Arc<crate::outbox::Socket>,
    request: Request,
) {
    let Request {
        id,
        connection,
        op,
        cancel,
        permit: _permit,
    } = request;
    let mut out = Out {
        queue: &tx,
        socket: &socket,
        queued: false,
    };
    let started = Instant::now();
    let (tool, params) = match &op {
        Operation::Query {
            sql,
            params,
            max_rows,
            ..
        } => (
            "agent.query",
            json!({"connection": connection, "sql": sql, "params": params, "limit": max_rows}),
        ),
        Operation::Discover => ("agent.discover", json!({"connection": connection})),
        Operation::Object { read, .. } => (
            "agent.read",
            json!({"connection": connection, "read": read}),
        ),
        Operation::Topics { read, .. } => (
            "agent.topics",
            json!({"connection": connection, "read": read}),
        ),
        // A call's argument values enter only its query_hash.
        Operation::Call {
            operation,
            arguments,
            ..
        } => {
            let mut names: Vec<&String> = arguments.keys().collect();
            names.sort();
            (
                "agent.call",
                json!({"connection": connection, "operation": operation, "arguments": names}),
            )
        }
    };
    let cancelled = || Refusal {
        code: "cancelled".into(),
        message: "the request was cancelled".into(),
        denied: false,
    };
    // A cancelled request stops its work (a query is stopped at the source by
    // the read itself) and is still recorded.
    let outcome = async {
        match op {
            Operation::Query {
                sql,
                params,
                max_rows,
                max_bytes,
                timeout_ms,
            } => query(
                &shared,
                &connection,
                &sql,
                &params,
                Limits {
                    max_rows,
                    max_bytes,
                    timeout_ms,
                },
                &cancel,
            )
            .await
            .map(Answer::Rows),
            Operation::Object {
                read,
                max_rows,
                max_bytes,
                timeout_ms,
            } => {
                let asked = Limits {
                    max_rows,
                    max_bytes,
                    timeout_ms,
                };
                object(&shared, &connection, read, asked, &cancel)
                    .await
                    .map(Answer::Object)
            }
            Operation::Topics {
                read,
                max_rows,
                max_bytes,
                timeout_ms,
            } => {
                let asked = Limits {
                    max_rows,
                    max_bytes,
                    timeout_ms,
                };
                topics(&shared, &connection, read, asked, &cancel)
                    .await
                    .map(Answer::Object)
            }
            Operation::Call {
                operation,
                arguments,
                max_bytes,
                timeout_ms,
            } => {
                let asked = Limits {
                    max_rows: 0,
                    max_bytes,
                    timeout_ms,
                };
                api_call(&shared, &connection, &operation, &arguments, asked, &cancel)
                    .await
                    .map(Answer::Object)
            }
            Operation::Discover => {
                let discovered = async {
                    let s = source(&shared, &connection).await?;
                    Ok(Answer::Schema(s.discover().await?))
                };
                tokio::select! {
                    outcome = discovered => outcome,
                    _ = cancel.cancelled() => Err(cancelled()),
                }
            }
        }
    }
    .await;
    let mut draft = Draft::new(tool, Outcome::Ok);
    draft.params = params;
    draft.connection = Some(connection.clone());
    draft.mode = Some("agent".into());
    draft.duration_ms = started.elapsed().as_millis() as u64;
    match &outcome {
        Ok(Answer::Rows((rs, hash))) => {
            draft.query_hash = Some(hash.clone());
            draft.rows = Some(rs.rows.len() as u64);
            draft.bytes = Some(rs.bytes);
        }
        Ok(Answer::Schema(s)) => draft.rows = Some(s.items() as u64),
        Ok(Answer::Object((answer, hash))) => {
            draft.query_hash = Some(hash.clone());
            draft.rows = answer.rows;
            draft.bytes = Some(conexor_connectors::json_len(&answer.value));
        }
        Err(r) => {
            draft.outcome = if r.denied {
                Outcome::Denied
            } else {
                Outcome::Error
            };
            draft.error = Some(format!(
                "{}: {}",
                r.code,
                conexor_types::ErrorCode::parse(&r.code).fixed_reason()
            ));
        }
    }
    let duration_ms = draft.duration_ms;
    let outcome_text = draft.outcome.as_str();
    // Record first, answer second: no local record, no answer.
    if record(&shared, draft).await.is_err() {
        out.last(&AgentMessage::Error {
            id,
            code: "audit.unavailable".into(),
            message: "the agent could not write its local audit log, so it did not answer".into(),
            denied: false,
        })
        .await;
        return;
    }
    match outcome {
        Ok(Answer::Rows((rs, hash))) => {
            // Every request is in the local audit log; the log line is for debugging.
            tracing::debug!(id, connection = %connection, rows = rs.rows.len(), bytes = rs.bytes, duration_ms, query_hash = %hash, "Request served.");
            let rows_in_done = shared
                .rows_in_done
                .load(std::sync::atomic::Ordering::Relaxed);
            send_rows(&mut out, id, rs, duration_ms, hash, rows_in_done).await;
        }
        Ok(Answer::Object((answer, query_hash))) => {
            out.last(&AgentMessage::Object {
                id,
                value: answer.value,
                rows: answer.rows,
                fetched_bytes: answer.fetched_bytes,
                duration_ms,
                query_hash,
            })
            .await;
        }
        Ok(Answer::Schema(schema)) => {
            let schema = serde_json::to_value(&schema).unwrap_or(Value::Null);
            out.last(&AgentMessage::Schema {
                connection,
                id: Some(id),
                schema,
            })
            .await;
        }
        Err(r) => {
            if r.denied {
                tracing::warn!(id, connection = %connection, code = %r.code, outcome = outcome_text, "Request refused.");
            } else {
                tracing::info!(id, connection = %connection, code = %r.code, outcome = outcome_text, "Request failed.");
            }
            out.last(&AgentMessage::Error {
                id,
                code: r.code,
                message: r.message,
                denied: r.denied,
            })
            .await;
        }
    }
}

/// One request's way out: its frames are queued for the writer, except its
/// last when nothing of it was queued before, which is written directly when
/// the socket is free (see `outbox`).
struct Out<'a> {
    queue: &'a mpsc::Sender<Message>,
    socket: &'a crate::outbox::Socket,
    queued: bool,
}

impl Out<'_> {
    async fn queue(&mut self, message: &AgentMessage) -> bool {
        self.queued = true;
        send(self.queue, message).await
    }

    async fn last(&mut self, message: &AgentMessage) -> bool {
        if self.queued {
            send(self.queue, message).await
        } else {
            self.socket
                .answer(self.queue, Message::text(encode(message)))
                .await
        }
    }
}

enum Answer {
    Rows((ResultSet, String)),
    Schema(conexor_connectors::Schema),
    Object((conexor_connectors::s3::ObjectAnswer, String)),
}

/// One object storage read, under the agent's own caps and allow-list
/// (agent.toml), whatever the server asked.
async fn object(
    shared: &Arc<Shared>,
    connection: &str,
    read: conexor_types::objects::ObjectRead,
    asked: Limits,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<(conexor_connectors::s3::ObjectAnswer, String), Refusal> {
    let s = source(shared, connection).await?;
    let store = s.objects()?;
    let limits = within_own_limits(shared, asked);
    let op = store.scoped(conexor_connectors::s3::S3Source::clamp(read, &limits))?;
    let hash = conexor_connectors::query_hash(&op.hash_input());
    let answer = store.read(&op, cancel).await?;
    Ok((answer, hash))
}

/// What the server asked, within this agent's own caps.
fn within_own_limits(shared: &Shared, asked: Limits) -> Limits {
    let local = &shared.settings.limits;
    Limits {
        max_rows: asked.max_rows.clamp(1, local.max_rows),
        max_bytes: asked.max_bytes.clamp(1, local.max_bytes),
        timeout_ms: asked
            .timeout_ms
            .clamp(1, local.statement_timeout.as_millis() as u64),
    }
}

/// One Kafka read under the agent's own caps, whatever the server asked.
async fn topics(
    shared: &Arc<Shared>,
    connection: &str,
    read: conexor_types::topics::TopicRead,
    asked: Limits,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<(conexor_connectors::s3::ObjectAnswer, String), Refusal> {
    let s = source(shared, connection).await?;
    let cluster = s.topics()?;
    let limits = within_own_limits(shared, asked);
    let op = conexor_connectors::kafka::KafkaSource::clamp(read, &limits);
    let hash = conexor_connectors::query_hash(&op.hash_input());
    let answer = cluster.read(&op, cancel).await?;
    let fetched = conexor_connectors::json_len(&answer.value);
    Ok((
        conexor_connectors::s3::ObjectAnswer {
            value: answer.value,
            rows: answer.rows,
            fetched_bytes: fetched,
        },
        hash,
    ))
}

/// One REST API call, checked against the agent's own description and
/// sent to its own base URL, under its own byte cap, whatever the server asked.
async fn api_call(
    shared: &Arc<Shared>,
    connection: &str,
    operation: &str,
    arguments: &serde_json::Map<String, Value>,
    asked: Limits,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<(conexor_connectors::s3::ObjectAnswer, String), Refusal> {
    let s = source(shared, connection).await?;
    let api = s.api()?;
    let max_bytes = asked.max_bytes.clamp(1, shared.settings.limits.max_bytes) as usize;
    let answer = api.call(operation, arguments, max_bytes, cancel).await?;
    let hash = conexor_connectors::query_hash(&answer.hash_input);
    let fetched = conexor_connectors::json_len(&answer.value);
    Ok((
        conexor_connectors::s3::ObjectAnswer {
            value: answer.value,
            rows: answer.rows,
            fetched_bytes: fetched,
        },
        hash,
    ))
}

async fn query(
    shared: &Arc<Shared>,
    connection: &str,
    sql: &str,
    params: &[Value],
    asked: Limits,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<(ResultSet, String), Refusal> {
    let Limits {
        max_rows,
        max_bytes,
        timeout_ms,
    } = asked;
    let local = &shared.settings.limits;
    if sql.len() > local.max_sql_bytes {
        return Err(Refusal::denied(
            "guard.too_long",
            format!(
                "the SQL text is {} bytes; this agent allows {}",
                sql.len(),
                local.max_sql_bytes
            ),
        ));
    }
    let local_connection = shared
        .settings
        .connections
        .iter()
        .find(|c| c.name == connection);
    let Some((kind, policy)) = local_connection.map(|c| {
        let policy = match &c.spec {
            SourceSpec::Sql(_, spec) => spec.function_policy().unwrap_or_default(),
            SourceSpec::S3(_) | SourceSpec::Rest(_) | SourceSpec::Kafka(_) => Default::default(),
        };
        (c.kind, policy)
    }) else {
        // Same answer as for any unknown name.
        return Err(source(shared, connection)
            .await
            .err()
            .unwrap_or_else(|| Refusal::denied("unknown_connection", "unknown connection")));
    };
    let Some(dialect) = conexor_connectors::dialect_for(kind) else {
        return Err(Refusal::denied(
            "usage",
            "this connection holds objects, not tables",
        ));
    };
    // The agent's own guard: the server's check counts for nothing here.
    let checked = conexor_guard::check_with_policy_async(dialect, sql, Some(params.len()), &policy)
        .await
        .map_err(|r| {
            Refusal::denied(
                r.rule.code(),
                format!("query refused by the agent: {}", r.reason),
            )
        })?;
    let max_rows = max_rows.clamp(1, local.max_rows);
    let limits = Limits {
        max_rows,
        max_bytes: max_bytes.clamp(1, local.max_bytes),
        timeout_ms: timeout_ms.clamp(1, local.statement_timeout.as_millis() as u64),
    };
    let hash = conexor_connectors::query_hash(&checked.source_sql(max_rows, limits.max_bytes));
    let s = source(shared, connection).await?;
    let rs = s.read(&checked, params, &limits, cancel).await?;
    Ok((rs, hash))
}

/// Streams a result in batches of about [`conexor_protocol::BATCH_BYTES`];
/// each send waits for room in the outbox (backpressure from the socket).
/// With `rows_in_done` (the server said it understands it), the last batch
/// rides on `done`: a small answer is one frame.
async fn send_rows(
    out: &mut Out<'_>,
    id: u64,
    rs: ResultSet,
    duration_ms: u64,
    hash: String,
    rows_in_done: bool,
) {
    let ResultSet {
        columns,
        rows,
        truncated,
        bytes,
    } = rs;
    let total = rows.len() as u64;
    let mut columns = Some(columns);
    let mut batch = Vec::new();
    let mut batch_bytes = 0usize;
    let limit = conexor_protocol::MAX_MESSAGE_BYTES - MESSAGE_MARGIN;
    for row in rows {
        let size = conexor_connectors::json_len(&row) as usize;
        if size > limit {
            out.last(&AgentMessage::Error {
                id,
                code: "limit.row_size".into(),
                message: format!("one row is {size} bytes, more than the agent protocol carries; select fewer or shorter columns"),
                denied: true,
            })
            .await;
            return;
        }
        // Cut before a row would take the message past the limit.
        if batch_bytes + size > limit || batch_bytes >= conexor_protocol::BATCH_BYTES {
            let rows = std::mem::take(&mut batch);
            batch_bytes = 0;
            if !out
                .queue(&AgentMessage::Rows {
                    id,
                    columns: columns.take(),
                    rows,
                })
                .await
            {
                return;
            }
        }
        batch_bytes += size;
        batch.push(row);
    }
    let (columns, batch) = if rows_in_done {
        (columns.take(), batch)
    } else {
        if (!batch.is_empty() || columns.is_some())
            && !out
                .queue(&AgentMessage::Rows {
                    id,
                    columns: columns.take(),
                    rows: batch,
                })
                .await
        {
            return;
        }
        (None, Vec::new())
    };
    out.last(&AgentMessage::Done {
        id,
        rows: total,
        bytes,
        truncated,
        duration_ms,
        query_hash: Some(hash),
        columns,
        batch,
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::owed_answer;
    use conexor_protocol::AgentMessage;

    #[tokio::test]
    async fn a_request_whose_task_panicked_is_answered_as_failed() {
        let panicked =
            tokio::spawn(async { panic!("a library met an answer it did not expect") }).await;
        match owed_answer(7, &panicked) {
            Some(AgentMessage::Error {
                id, code, denied, ..
            }) => {
                assert_eq!((id, code.as_str(), denied), (7, "internal", false));
            }
            other => panic!("no failure answer: {other:?}"),
        }
        let answered = tokio::spawn(async {}).await;
        assert!(owed_answer(8, &answered).is_none());
        let stopped = tokio::spawn(std::future::pending::<()>());
        stopped.abort();
        assert!(
            owed_answer(9, &stopped.await).is_none(),
            "a cancelled request answers itself"
        );
    }
}

//! Requests to an agent: sent over its socket, answered by id, re-capped
//! here whatever the agent sends, failed naming the agent when it goes away.

use super::*;

/// What a [`AgentHub::read_value`] asks of an agent.
pub enum ValueRead {
    Object(conexor_types::objects::ObjectRead),
    Topics(conexor_types::topics::TopicRead),
    /// A REST operation of the agent's own description, by name.
    Call {
        operation: String,
        arguments: serde_json::Map<String, Value>,
    },
}

impl AgentHub {
    pub(super) fn start(
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
        // One timer for the whole answer, however many batches it comes in.
        let timer = tokio::time::sleep_until(deadline);
        tokio::pin!(timer);
        loop {
            let reply = tokio::select! {
                r = rx.recv() => r,
                _ = &mut timer => {
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
                Some(Reply::Rows { columns, rows }) => take(&mut result, columns, rows, limits),
                Some(Reply::Done {
                    truncated,
                    query_hash,
                    columns,
                    rows,
                }) => {
                    take(&mut result, columns, rows, limits);
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
                    return Err(agent_refusal(agent_name, code, message, denied));
                }
                Some(Reply::Schema { .. } | Reply::Object { .. }) => {}
            }
        }
    }

    /// Runs one read answered with one `object` message (an object store
    /// read, a Kafka read, a REST call) on an agent's connection. The agent
    /// applies its own caps and checks (allow-list, its own description);
    /// the answer is bounded here too (`max_answer` bytes of JSON). Returns
    /// the answer, its row count and the hash of the read the agent sent.
    pub async fn read_value(
        &self,
        agent_id: &str,
        agent_name: &str,
        connection: &str,
        read: ValueRead,
        limits: &Limits,
        max_answer: u64,
    ) -> Result<(Value, Option<u64>, Option<String>), ToolError> {
        let (max_rows, max_bytes, timeout_ms) =
            (limits.max_rows, limits.max_bytes, limits.timeout_ms);
        let op = match read {
            ValueRead::Object(read) => Operation::Object {
                read,
                max_rows,
                max_bytes,
                timeout_ms,
            },
            ValueRead::Topics(read) => Operation::Topics {
                read,
                max_rows,
                max_bytes,
                timeout_ms,
            },
            ValueRead::Call {
                operation,
                arguments,
            } => Operation::Call {
                operation,
                arguments,
                max_bytes,
                timeout_ms,
            },
        };
        self.value_request(agent_id, agent_name, connection, op, timeout_ms, max_answer)
            .await
    }

    /// A request answered with one `object` message.
    async fn value_request(
        &self,
        agent_id: &str,
        agent_name: &str,
        connection: &str,
        op: Operation,
        timeout_ms: u64,
        max_answer: u64,
    ) -> Result<(Value, Option<u64>, Option<String>), ToolError> {
        let (mut guard, mut rx) = self.start(agent_id, agent_name, connection, op)?;
        let wait = Duration::from_millis(timeout_ms) + ANSWER_GRACE;
        let reply = tokio::time::timeout(wait, rx.recv()).await;
        guard.finished = true;
        match reply {
            Err(_) => Err(ToolError::failed(
                "agent.timeout",
                format!("agent {agent_name:?} did not answer in time"),
            )),
            Ok(None) => Err(ToolError::failed(
                "agent.lost",
                format!(
                    "agent {agent_name:?} went away during the call ({}); retry when it is back",
                    guard.link.ended_why()
                ),
            )),
            Ok(Some(Reply::Object {
                value,
                rows,
                query_hash,
            })) => {
                if conexor_connectors::json_len(&value) > max_answer {
                    return Err(ToolError::failed(
                        "agent.protocol",
                        format!("agent {agent_name:?} answered with more than this server allows"),
                    ));
                }
                Ok((value, rows, query_hash))
            }
            Ok(Some(Reply::Error {
                code,
                message,
                denied,
            })) => Err(agent_refusal(agent_name, code, message, denied)),
            Ok(Some(_)) => Err(ToolError::failed(
                "agent.protocol",
                "the agent answered an object read or an API call with something else",
            )),
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
            })) => Err(agent_refusal(agent_name, code, message, denied)),
            Ok(Some(_)) => Err(ToolError::failed(
                "agent.protocol",
                "the agent answered discovery with something else",
            )),
        }
    }
}

/// An agent's error answer, as the caller sees it (the message names the agent).
fn agent_refusal(
    agent_name: &str,
    code: conexor_types::ErrorCode,
    message: String,
    denied: bool,
) -> ToolError {
    ToolError {
        message: format!("agent {agent_name:?}: {message}"),
        code,
        denied,
        mode: Some("agent"),
    }
}

/// Adds a batch from the agent to the answer, re-capped here whatever the
/// agent sends.
fn take(
    result: &mut ResultSet,
    columns: Option<Vec<Column>>,
    rows: Vec<Vec<Value>>,
    limits: &Limits,
) {
    if let Some(c) = columns {
        result.columns = c;
    }
    for row in rows {
        if result.truncated {
            break;
        }
        let size = conexor_connectors::json_len(&row);
        if result.rows.len() as u64 >= limits.max_rows || result.bytes + size > limits.max_bytes {
            result.truncated = true;
            break;
        }
        result.bytes += size;
        result.rows.push(row);
    }
}

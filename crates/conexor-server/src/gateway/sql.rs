//! SQL reads: `run_query`, named tools, and the guarded read both use.

use super::*;

/// The guard dialect of a SQL connection; a clear error for one that holds
/// objects.
fn sql_dialect(
    connection: &str,
    kind: ConnectionKind,
) -> Result<conexor_guard::Dialect, ToolError> {
    conexor_connectors::dialect_for(kind).ok_or_else(|| {
        ToolError::invalid(format!(
            "connection {connection:?} is {kind} object storage, not a database: use list_objects, object_info, read_object or preview_object"
        ))
    })
}

impl Gateway {
    /// A named query of the caller's workspace: arguments validated by type
    /// and bound to the placeholders, then the same guarded read as run_query.
    pub(super) async fn named_tool(
        &self,
        ctx: &CallContext,
        name: &str,
        args: &Value,
    ) -> Result<(Value, Measure), ToolError> {
        let ws = &ctx.principal.workspace_id;
        let Some(record) = self.parts.store.tool(ws, name).await.map_err(store_err)? else {
            let mut names: Vec<String> = TOOLS.iter().map(|t| (*t).to_owned()).collect();
            names.extend(
                self.parts
                    .store
                    .tools(ws)
                    .await
                    .map_err(store_err)?
                    .into_iter()
                    .map(|t| t.name),
            );
            let near = nearest(&name.to_lowercase(), &names);
            return Err(ToolError::failed(
                "unknown_tool",
                format!(
                    "unknown tool {name:?}{}; available tools: {}",
                    suggest(&near),
                    names.join(", ")
                ),
            ));
        };
        let stored: conexor_tools::Stored = serde_json::from_str(&record.definition)
            .map_err(|_| ToolError::failed("store", "a stored tool definition is damaged"))?;
        let limits = &self.parts.config.limits;
        let (connection, sql, params, max_rows) = match stored {
            conexor_tools::Stored::Query(def) => {
                let params = def
                    .bind(args)
                    .map_err(|e| ToolError::failed("param", format!("{}: {e}", def.name)))?;
                (def.connection, def.sql, params, def.max_rows)
            }
            conexor_tools::Stored::Table { table_tool: t } => {
                let kind = self.connection(ctx, &t.connection).await?.kind();
                let (sql, params, limit) = t
                    .build(args, sql_dialect(&t.connection, kind)?)
                    .map_err(|e| ToolError::failed("param", format!("{}: {e}", t.name)))?;
                let cap = match (limit, t.max_rows) {
                    (Some(l), Some(m)) => Some(l.min(m)),
                    (l, m) => l.or(m),
                };
                (t.connection, sql, params, cap)
            }
        };
        let max_rows = max_rows
            .unwrap_or(limits.default_rows)
            .clamp(1, limits.max_rows);
        let (value, mut measure) = self.read(ctx, &connection, &sql, params, max_rows).await?;
        measure.connection = Some(connection);
        Ok((value, measure))
    }

    pub(super) async fn run_query(
        &self,
        ctx: &CallContext,
        args: &Value,
    ) -> Result<(Value, Measure), ToolError> {
        let connection = str_arg(args, "connection")?;
        let sql = str_arg(args, "sql")?;
        let params: Vec<Value> = match args.get("params") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return Err(ToolError::invalid("params must be an array of values")),
        };
        let limits = &self.parts.config.limits;
        let max_rows = opt_u64_arg(args, "limit")?
            .unwrap_or(limits.default_rows)
            .clamp(1, limits.max_rows);
        self.read(ctx, connection, sql, params, max_rows).await
    }

    /// One guarded read on a connection of the caller's workspace, direct or
    /// through its agent: the shared path of run_query and named tools.
    pub(super) async fn read(
        &self,
        ctx: &CallContext,
        connection: &str,
        sql: &str,
        params: Vec<Value>,
        max_rows: u64,
    ) -> Result<(Value, Measure), ToolError> {
        let limits = &self.parts.config.limits;
        if sql.len() > limits.max_sql_bytes {
            return Err(ToolError::denied(
                "guard.too_long",
                format!(
                    "the SQL text is {} bytes; the limit is {}",
                    sql.len(),
                    limits.max_sql_bytes
                ),
            ));
        }
        let record = self.connection(ctx, connection).await?;
        let kind = record.kind();
        let _memory = self.memory_permit().await?;
        let dialect = sql_dialect(connection, kind)?;
        let refused = |r: conexor_guard::Rejection| {
            ToolError::denied(r.rule.code(), format!("query refused: {}", r.reason))
        };
        // The guard first runs with no user function allowed (no key derivation for a
        // query refused anyway). A call of a user-defined function is decided by the
        // connection's own allow-list: for a direct connection it lives in the sealed
        // spec, so the source is opened and the query checked again under it; for an
        // agent connection the agent decides, under its agent.toml, and the server
        // forwards the text it could not judge (the agent checks every query anyway).
        let mut direct_source = None;
        let checked = match conexor_guard::check_with_policy_async(
            dialect,
            sql,
            Some(params.len()),
            &conexor_guard::FunctionPolicy::default(),
        )
        .await
        {
            Ok(checked) => Some(checked),
            Err(r) if r.rule == conexor_guard::Rule::UnknownFunction => match &record {
                Conn::Direct(direct) => {
                    let source = self.source(ctx, direct, kind).await?;
                    let checked = conexor_guard::check_with_policy_async(
                        dialect,
                        sql,
                        Some(params.len()),
                        source.policy(),
                    )
                    .await
                    .map_err(refused)?;
                    direct_source = Some(source);
                    Some(checked)
                }
                Conn::Agent(_) => None,
            },
            Err(r) => return Err(refused(r)),
        };
        let read_limits = Limits {
            max_rows,
            max_bytes: limits.max_bytes,
            timeout_ms: limits.statement_timeout.as_millis() as u64,
        };
        let mut measure_hash = match &checked {
            Some(checked) => {
                conexor_connectors::query_hash(&checked.source_sql(max_rows, limits.max_bytes))
            }
            None => conexor_connectors::query_hash(sql),
        };
        // Only a failed call pays for parsing the schema.
        let with_hint = |mut err: ToolError| {
            if !err.denied && err.code.may_concern_names() {
                let hint = checked
                    .as_ref()
                    .zip(record.schema(&self.parts.schemas))
                    .and_then(|(q, s)| crate::hints::name_hint(&err.code, q, &s))
                    .unwrap_or_else(|| "check names with describe_table".into());
                err.message = format!("{}; {hint}", err.message);
            }
            err
        };
        let (result, mode) = match &record {
            Conn::Direct(direct) => {
                let Some(checked) = &checked else {
                    return Err(ToolError::failed("internal", "the query was not checked"));
                };
                let source = match direct_source {
                    Some(source) => source,
                    None => self
                        .source(ctx, direct, kind)
                        .await
                        .map_err(|e| e.in_mode("direct"))?,
                };
                let result = source
                    .read(checked, &params, &read_limits, &ctx.stop)
                    .await
                    .map_err(|e| with_hint(ToolError::from(e)).in_mode("direct"))?;
                (result, "direct")
            }
            // The server checked the SQL above; the agent checks it again with
            // its own guard and limits, and runs it on its side.
            // Given up, the request is dropped, which sends the agent a cancel: the
            // agent then stops the statement at its source.
            Conn::Agent(a) => {
                let asked = self.parts.agents.query(
                    &a.agent_id,
                    &a.agent_name,
                    &a.name,
                    sql,
                    &params,
                    &read_limits,
                );
                let (result, sent_hash) = tokio::select! {
                    result = asked => result.map_err(|e| with_hint(e).in_mode("agent"))?,
                    _ = ctx.stop.cancelled() => return Err(ToolError::cancelled().in_mode("agent")),
                };
                // The statement the agent sent is under its own caps, which may be
                // tighter than ours: its hash is the one both records carry.
                if let Some(sent) = sent_hash {
                    measure_hash = sent;
                }
                (result, "agent")
            }
        };
        let row_count = result.rows.len() as u64;
        let unmapped = result
            .rows
            .iter()
            .flatten()
            .any(|v| v.get("$unsupported").is_some());
        let bytes = result.bytes;
        let mut answer = conexor_api::QueryAnswer::from_result(result);
        if answer.truncated {
            answer.note = Some(format!(
                "result truncated at {row_count} rows (limit {max_rows}, {} bytes max); add WHERE filters, aggregate, or select fewer columns",
                limits.max_bytes
            ));
        }
        if unmapped {
            answer.hint = Some(
                "some values have a type this gateway does not map; cast them to text in the SQL"
                    .to_owned(),
            );
        }
        // The rows are moved into the answer, not copied.
        let answer = answer.into_value();
        Ok((
            answer,
            Measure {
                mode: Some(mode),
                query_hash: Some(measure_hash),
                rows: Some(row_count),
                bytes: Some(bytes),
                ..Default::default()
            },
        ))
    }
}

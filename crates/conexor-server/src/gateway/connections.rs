//! The caller's connections (stored sealed for direct mode, offered by an
//! agent for agent mode): lookup, opening a direct source from its sealed
//! spec, test-before-save and rediscovery.

use super::*;

/// A connection of the caller's workspace: stored sealed (direct mode) or
/// offered by an agent (agent mode, no secret here at all).
pub(crate) enum Conn {
    Direct(Arc<ConnectionRecord>),
    Agent(Arc<AgentConnectionRecord>),
}

impl Conn {
    pub(super) fn name(&self) -> &str {
        match self {
            Conn::Direct(c) => &c.name,
            Conn::Agent(c) => &c.name,
        }
    }
    pub(super) fn kind(&self) -> ConnectionKind {
        match self {
            Conn::Direct(c) => c.kind,
            Conn::Agent(c) => c.kind,
        }
    }
    /// The discovered schema, parsed once per stored text ([`SchemaCache`]).
    pub(super) fn schema(&self, cache: &SchemaCache) -> Option<Arc<Schema>> {
        match self {
            Conn::Direct(c) => cache.get(
                c.workspace_id.as_str(),
                &c.name,
                false,
                c.schema_json.as_deref()?,
            ),
            Conn::Agent(c) => cache.get(
                c.workspace_id.as_str(),
                &c.name,
                true,
                c.schema_json.as_deref()?,
            ),
        }
    }
}

impl Gateway {
    /// Every connection of the caller's workspace, direct and agent, by name.
    pub(super) async fn all_connections(&self, ctx: &CallContext) -> Result<Vec<Conn>, ToolError> {
        let ws = &ctx.principal.workspace_id;
        let listed = self
            .parts
            .store
            .cached_workspace_connections(ws)
            .await
            .map_err(store_err)?;
        let mut all: Vec<Conn> = listed.direct.iter().cloned().map(Conn::Direct).collect();
        all.extend(listed.agent.iter().cloned().map(Conn::Agent));
        all.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(all)
    }

    /// Looks up a connection of the caller's workspace (direct or agent).
    pub(super) async fn connection(
        &self,
        ctx: &CallContext,
        name: &str,
    ) -> Result<Conn, ToolError> {
        let ws = &ctx.principal.workspace_id;
        if let Some(c) = self
            .parts
            .store
            .cached_connection(ws, name)
            .await
            .map_err(store_err)?
        {
            return Ok(Conn::Direct(c));
        }
        if let Some(c) = self
            .parts
            .store
            .cached_agent_connection(ws, name)
            .await
            .map_err(store_err)?
        {
            return Ok(Conn::Agent(c));
        }
        Err(unknown_connection(name, &self.all_connections(ctx).await?))
    }

    /// The open pool for a stored connection, opening it with the caller's key if needed.
    pub(super) async fn source(
        &self,
        ctx: &CallContext,
        record: &ConnectionRecord,
        kind: ConnectionKind,
    ) -> Result<Source, ToolError> {
        let ws = &ctx.principal.workspace_id;
        if let Some(source) = self
            .parts
            .pools
            .get(ws, &record.name, record.secret_version)
            .await
        {
            return Ok(source);
        }
        // Concurrent first callers wait for the first one's pool.
        let _turn = self
            .parts
            .pools
            .opening(ws, &record.name, record.secret_version)
            .await;
        if let Some(source) = self
            .parts
            .pools
            .get(ws, &record.name, record.secret_version)
            .await
        {
            return Ok(source);
        }
        let sealed = SealedSecret {
            value: parse_envelope(&record.sealed_value)?,
            dek: parse_envelope(&record.sealed_dek)?,
        };
        let spec = self
            .open_spec(ctx, kind, &record.secret_id, &sealed)
            .await?;
        let source = self.open_source(&spec).await?;
        self.parts
            .pools
            .put(ws, &record.name, record.secret_version, source.clone())
            .await;
        Ok(source)
    }

    /// Opens a sealed spec in memory with the caller's key.
    pub(crate) async fn open_spec(
        &self,
        ctx: &CallContext,
        kind: ConnectionKind,
        secret_id: &SecretId,
        sealed: &SealedSecret,
    ) -> Result<SourceSpec, ToolError> {
        let (wmk, mut spec) = self
            .open_spec_unresolved(ctx, kind, secret_id, sealed)
            .await?;
        spec.resolve(|name| self.named_secret(ctx, &wmk, name))
            .await?;
        Ok(spec)
    }

    /// The workspace master key of the caller's key (cached for the TTL).
    async fn unlock(&self, ctx: &CallContext) -> Result<conexor_crypto::Wmk, ToolError> {
        let parts = &self.parts;
        Ok(parts
            .keys
            .unlock(&parts.store, parts.config.key_cache_ttl, &ctx.principal)
            .await?)
    }

    /// Checks that a sealed named Secret opens with the caller's key, for
    /// this workspace and id, and holds `{"value": …}` (before it is saved).
    pub(crate) async fn check_sealed_value(
        &self,
        ctx: &CallContext,
        secret_id: &SecretId,
        sealed: &SealedSecret,
    ) -> Result<(), ToolError> {
        let wmk = self.unlock(ctx).await?;
        let plain = conexor_crypto::open_secret(&wmk, &ctx.principal.workspace_id, secret_id, sealed)
            .map_err(|_| ToolError::failed("crypto.open", "the secret does not open with this key (sealed for another workspace or id, or damaged)"))?;
        serde_json::from_slice::<SecretValue>(&plain)
            .map(drop)
            .map_err(|_| {
                ToolError::invalid("a secret's sealed plaintext must be {\"value\": \"…\"}")
            })
    }

    /// The named Secrets a sealed spec references, as `(field, secret name)`
    /// (recorded in clear when the connection is saved, so that a secret in
    /// use cannot be removed and a rotation reaches its connections).
    pub(crate) async fn secret_refs(
        &self,
        ctx: &CallContext,
        kind: ConnectionKind,
        secret_id: &SecretId,
        sealed: &SealedSecret,
    ) -> Result<Vec<(String, String)>, ToolError> {
        Ok(self
            .open_spec_unresolved(ctx, kind, secret_id, sealed)
            .await?
            .1
            .secret_refs())
    }

    async fn open_spec_unresolved(
        &self,
        ctx: &CallContext,
        kind: ConnectionKind,
        secret_id: &SecretId,
        sealed: &SealedSecret,
    ) -> Result<(conexor_crypto::Wmk, SourceSpec), ToolError> {
        let wmk = self.unlock(ctx).await?;
        let plain = conexor_crypto::open_secret(&wmk, &ctx.principal.workspace_id, secret_id, sealed)
            .map_err(|_| ToolError::failed("crypto.open", "the connection's secret does not open with this key (wrong workspace, damaged, or rotated)"))?;
        let spec = SourceSpec::from_json(kind, &plain).map_err(|e| {
            ToolError::failed(
                "spec",
                format!("the connection's secret is not a valid connection spec: {e}"),
            )
        })?;
        Ok((wmk, spec))
    }

    /// The value of a named Secret of the caller's workspace, opened in
    /// memory with the caller's key.
    async fn named_secret(
        &self,
        ctx: &CallContext,
        wmk: &conexor_crypto::Wmk,
        name: String,
    ) -> Result<zeroize::Zeroizing<String>, ToolError> {
        let ws = &ctx.principal.workspace_id;
        let Some(record) = self
            .parts
            .store
            .secret(ws, &name)
            .await
            .map_err(store_err)?
        else {
            return Err(ToolError::failed(
                "unknown_secret",
                format!(
                    "the connection uses the secret {name:?}, which this workspace does not have (see `conexor secrets list`)"
                ),
            ));
        };
        let damaged = || ToolError::failed("store", "a stored secret is damaged");
        let sealed = SealedSecret {
            value: serde_json::from_str(&record.sealed_value).map_err(|_| damaged())?,
            dek: serde_json::from_str(&record.sealed_dek).map_err(|_| damaged())?,
        };
        let plain =
            conexor_crypto::open_secret(wmk, ws, &record.secret_id, &sealed).map_err(|_| {
                ToolError::failed(
                    "crypto.open",
                    format!(
                        "the secret {name:?} does not open with this key (damaged, or rotated)"
                    ),
                )
            })?;
        serde_json::from_slice::<SecretValue>(&plain)
            .map(|v| v.value)
            .map_err(|_| ToolError::failed("spec", format!("the secret {name:?} holds no value")))
    }

    pub(super) async fn open_source(&self, spec: &SourceSpec) -> Result<Source, ToolError> {
        let config = &self.parts.config;
        let policy = DestinationPolicy {
            deny_loopback: config.deny_loopback,
            deny_private: config.deny_private,
            sqlite_dirs: config.sqlite_dirs.clone(),
            own_paths: vec![config.data_dir.clone()],
        };
        conexor_connectors::check_spec_destination(spec, &policy).await?;
        let options = OpenOptions {
            statement_timeout: config.limits.statement_timeout,
            connect_timeout: Duration::from_secs(10),
            max_connections: config.limits.per_connection_concurrency,
            idle_timeout: config.key_cache_ttl,
            destinations: policy,
        };
        Ok(Source::open_spec(spec, &options).await?)
    }

    /// Tests a sealed spec (not stored) and optionally discovers its schema.
    /// Runs through the chokepoint like any tool call.
    pub async fn test_connection(
        &self,
        ctx: &CallContext,
        candidate: &Candidate<'_>,
        discover: bool,
    ) -> Result<(TestReport, Option<Schema>), ToolError> {
        let Candidate {
            name,
            kind,
            secret_id,
            sealed,
            allow_privileged,
        } = *candidate;
        let started = Instant::now();
        let outcome = async {
            let spec = self.open_spec(ctx, kind, secret_id, sealed).await?;
            let source = self.open_source(&spec).await?;
            let result = async {
                let report = source.test().await?;
                if !report.privileges.is_empty() && !allow_privileged {
                    return Err(ToolError::denied(
                        "privileged_login",
                        format!(
                            "this login can do more than read: {}. Use a read-only login, or pass --allow-privileged to accept it.\nA read-only login:\n{}",
                            report.privileges.join("; "),
                            report.read_only_grants
                        ),
                    ));
                }
                let schema = if discover { Some(source.discover().await?) } else { None };
                Ok((report, schema))
            }
            .await;
            source.close().await;
            let (report, schema) = result?;
            let tables = schema.as_ref().map(|s| s.items() as u64);
            Ok(((report, schema), Measure { mode: Some("direct"), rows: tables, ..Default::default() }))
        }
        .await;
        let tool = if discover {
            "admin.connection_discover"
        } else {
            "admin.connection_test"
        };
        let params = json!({"name": name, "type": kind.as_str()});
        self.record(ctx, tool, params, Some(name), started, &outcome)
            .await?;
        outcome.map(|(v, _)| v)
    }

    /// Rediscovers a stored connection's schema and stores it; answers the
    /// schema and the connection's kind.
    pub async fn refresh(
        &self,
        ctx: &CallContext,
        name: &str,
    ) -> Result<(Schema, ConnectionKind), ToolError> {
        let started = Instant::now();
        let outcome = async {
            let record = self.connection(ctx, name).await?;
            let (schema, mode) = match &record {
                Conn::Direct(direct) => {
                    let source = self.source(ctx, direct, direct.kind).await?;
                    let schema = source.discover().await?;
                    let json = serde_json::to_string(&schema)
                        .map_err(|e| ToolError::failed("internal", e.to_string()))?;
                    self.parts
                        .store
                        .set_schema(&ctx.principal.workspace_id, name, &json)
                        .await
                        .map_err(store_err)?;
                    (schema, "direct")
                }
                // The agent discovers on its side; the hub stores what it sends.
                Conn::Agent(a) => {
                    let value = self
                        .parts
                        .agents
                        .discover(&a.agent_id, &a.agent_name, &a.name)
                        .await?;
                    let schema: Schema = serde_json::from_value(value).map_err(|_| {
                        ToolError::failed("agent.bad_schema", "the agent sent an unusable schema")
                    })?;
                    (schema, "agent")
                }
            };
            let tables = schema.items() as u64;
            Ok((
                (schema, record.kind()),
                Measure {
                    mode: Some(mode),
                    rows: Some(tables),
                    ..Default::default()
                },
            ))
        }
        .await;
        let params = json!({"name": name});
        self.record(
            ctx,
            "admin.connection_refresh",
            params,
            Some(name),
            started,
            &outcome,
        )
        .await?;
        outcome.map(|(s, _)| s)
    }
}

/// The plaintext of a named Secret (format v1 §9a): `{"value": "…"}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretValue {
    value: zeroize::Zeroizing<String>,
}

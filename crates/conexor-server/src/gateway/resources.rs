//! MCP resources: `conexor://connection/NAME` (a connection and
//! its tables) and `conexor://connection/NAME/table/TABLE` (one table, as
//! describe_table returns it). Names are percent-encoded.

use super::*;

/// Schema as MCP resources: `conexor://connection/NAME` (the connection and
/// its tables) and `conexor://connection/NAME/table/TABLE` (one table, as
/// describe_table returns it). Names are percent-encoded.
pub(super) const RESOURCE_PREFIX: &str = "conexor://connection/";

pub(super) fn encode(part: &str) -> String {
    percent_encoding::utf8_percent_encode(part, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl Gateway {
    /// Every resource of the caller's workspace: (uri, name, description).
    pub async fn resources(
        &self,
        ctx: &CallContext,
    ) -> Result<Vec<(String, String, Option<String>)>, ToolError> {
        let mut out = Vec::new();
        for c in self.all_connections(ctx).await? {
            let base = format!("{RESOURCE_PREFIX}{}", encode(c.name()));
            let schema = c.schema(&self.parts.schemas);
            let tables = schema.as_ref().map(|s| s.tables.len()).unwrap_or(0);
            out.push((
                base.clone(),
                c.name().to_owned(),
                Some(format!("{} connection with {tables} tables", c.kind())),
            ));
            for t in schema.iter().flat_map(|s| s.tables.iter()) {
                let q = qualified(t);
                out.push((
                    format!("{base}/table/{}", encode(&q)),
                    format!("{}.{q}", c.name()),
                    t.comment.clone(),
                ));
            }
        }
        Ok(out)
    }

    /// Reads one resource, through the chokepoint (recorded as `resources/read`).
    pub async fn read_resource(&self, ctx: &CallContext, uri: &str) -> Result<Value, ToolError> {
        let started = Instant::now();
        let parsed = uri.strip_prefix(RESOURCE_PREFIX).map(|rest| {
            let mut parts = rest.splitn(3, '/');
            let decode = |p: &str| {
                percent_encoding::percent_decode_str(p)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let conn = parts.next().map(decode).unwrap_or_default();
            let table = match (parts.next(), parts.next()) {
                (Some("table"), Some(t)) => Some(decode(t)),
                _ => None,
            };
            (conn, table)
        });
        let connection = parsed.as_ref().map(|(c, _)| c.clone());
        let outcome = async {
            let Some((conn, table)) = parsed else {
                return Err(ToolError::failed("unknown_resource", format!("resource URIs start with {RESOURCE_PREFIX}")));
            };
            match table {
                Some(t) => self.describe_table(ctx, &json!({"connection": conn, "table": t})).await,
                None => {
                    let c = self.connection(ctx, &conn).await?;
                    let tables: Vec<Value> = c
                        .schema(&self.parts.schemas)
                        .map(|s| s.tables.clone())
                        .unwrap_or_default()
                        .iter()
                        .map(|t| json!({"table": qualified(t), "kind": t.kind, "comment": t.comment, "rows": t.row_estimate}))
                        .collect();
                    Ok((json!({"connection": c.name(), "type": c.kind(), "tables": tables}), Measure::default()))
                }
            }
        }
        .await;
        self.record(
            ctx,
            "resources/read",
            json!({"uri": uri}),
            connection.as_deref(),
            started,
            &outcome,
        )
        .await?;
        outcome.map(|(v, _)| v)
    }
}

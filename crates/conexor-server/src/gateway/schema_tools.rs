//! The schema tools: `list_connections`, `search_schema`, `describe_table`.

use super::*;

/// A case-insensitive pattern: `%` and `*` match any run, `_` and `?` one
/// character; without wildcards it matches as a substring.
pub(super) struct Pattern {
    parts: Vec<char>,
    anchored: bool,
}

impl Pattern {
    fn new(text: &str) -> Pattern {
        let anchored = text.contains(['%', '*', '_', '?']);
        Pattern {
            parts: text.chars().collect(),
            anchored,
        }
    }

    fn matches(&self, candidate: &str) -> bool {
        let candidate = candidate.to_lowercase();
        if !self.anchored {
            return candidate.contains(&self.parts.iter().collect::<String>());
        }
        let c: Vec<char> = candidate.chars().collect();
        glob(&self.parts, &c)
    }
}

pub(super) fn glob(p: &[char], s: &[char]) -> bool {
    // Iterative wildcard match with backtracking on the last star.
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && (p[pi] == '%' || p[pi] == '*') {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && (p[pi] == '%' || p[pi] == '*') {
        pi += 1;
    }
    pi == p.len()
}

impl Gateway {
    pub(super) async fn list_connections(
        &self,
        ctx: &CallContext,
    ) -> Result<(Value, Measure), ToolError> {
        let list: Vec<Value> = self
            .all_connections(ctx)
            .await?
            .iter()
            .map(|c| {
                let schema = c.schema(&self.parts.schemas);
                let mut entry = match c {
                    Conn::Direct(d) => json!({"name": d.name, "type": d.kind, "mode": d.mode}),
                    Conn::Agent(a) => json!({
                        "name": a.name, "type": a.kind, "mode": "agent",
                        "agent": a.agent_name, "online": self.parts.agents.is_live(&a.agent_id),
                    }),
                };
                // An object store lists its buckets (names only, a few KB at
                // most); a database counts its tables (search_schema names them).
                match c.kind().family() {
                    conexor_types::Family::Sql => {
                        entry["tables"] = json!(schema.map(|s| s.tables.len()).unwrap_or(0));
                    }
                    conexor_types::Family::Objects => {
                        let buckets: Vec<&str> = schema
                            .as_ref()
                            .map(|s| {
                                s.buckets
                                    .iter()
                                    .map(|b| b.name.as_str())
                                    .take(100)
                                    .collect()
                            })
                            .unwrap_or_default();
                        entry["buckets"] = json!(buckets);
                    }
                    conexor_types::Family::Topics => {
                        let topics: Vec<&str> = schema
                            .as_ref()
                            .map(|s| s.topics.iter().map(|t| t.name.as_str()).take(100).collect())
                            .unwrap_or_default();
                        entry["topics"] = json!(topics);
                    }
                    conexor_types::Family::Api => {
                        let api = schema.as_ref().and_then(|s| s.api.as_ref());
                        entry["api"] = json!(api.map(|a| format!("{} {}", a.title, a.version)));
                        entry["operations"] = json!(api.map_or(0, |a| a.operations.len()));
                    }
                }
                entry
            })
            .collect();
        Ok((json!({ "connections": list }), Measure::default()))
    }

    pub(super) async fn search_schema(
        &self,
        ctx: &CallContext,
        args: &Value,
    ) -> Result<(Value, Measure), ToolError> {
        let pattern = str_arg(args, "pattern")?.to_lowercase();
        let only = opt_str_arg(args, "connection")?;
        let limit = opt_u64_arg(args, "limit")?.unwrap_or(50).min(500) as usize;
        let records = self.all_connections(ctx).await?;
        if let Some(name) = &only
            && !records.iter().any(|c| c.name() == name)
        {
            return Err(unknown_connection(name, &records));
        }
        let matcher = Pattern::new(&pattern);
        let mut hits = Vec::new();
        let mut total = 0usize;
        for c in records
            .iter()
            .filter(|c| only.as_ref().is_none_or(|n| n == c.name()))
        {
            let Some(schema) = c.schema(&self.parts.schemas) else {
                continue;
            };
            for t in &schema.tables {
                let table_hit = matcher.matches(&t.name)
                    || t.comment.as_deref().is_some_and(|d| matcher.matches(d));
                let columns: Vec<&str> = t
                    .columns
                    .iter()
                    .filter(|col| matcher.matches(&col.name))
                    .map(|col| col.name.as_str())
                    .collect();
                if table_hit || !columns.is_empty() {
                    total += 1;
                    if hits.len() < limit {
                        hits.push(json!({
                            "connection": c.name(), "table": qualified(t), "kind": t.kind,
                            "matching_columns": columns, "comment": t.comment,
                        }));
                    }
                }
            }
        }
        let mut answer = json!({ "matches": hits, "total": total });
        if total > limit {
            answer["note"] = json!(format!(
                "showing {limit} of {total}; use a narrower pattern"
            ));
        }
        Ok((answer, Measure::default()))
    }

    pub(super) async fn describe_table(
        &self,
        ctx: &CallContext,
        args: &Value,
    ) -> Result<(Value, Measure), ToolError> {
        let connection = str_arg(args, "connection")?;
        let table = str_arg(args, "table")?;
        let record = self.connection(ctx, connection).await?;
        let schema = record.schema(&self.parts.schemas).ok_or_else(|| {
            ToolError::failed(
                "no_schema",
                "this connection has no discovered schema; run `conexor connections refresh`",
            )
        })?;
        let wanted = table.to_lowercase();
        let found = schema
            .tables
            .iter()
            .find(|t| qualified(t).to_lowercase() == wanted || t.name.to_lowercase() == wanted);
        let Some(t) = found else {
            let names: Vec<String> = schema.tables.iter().map(qualified).collect();
            let near = nearest(&wanted, &names);
            return Err(ToolError::failed(
                "unknown_table",
                format!(
                    "no table {table:?} in connection {connection:?}{}",
                    suggest(&near)
                ),
            ));
        };
        Ok((
            serde_json::to_value(t).unwrap_or(Value::Null),
            Measure::default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(Pattern::new("order").matches("order_items"));
        assert!(Pattern::new("ord%").matches("orders"));
        assert!(!Pattern::new("ord%").matches("reorders"));
        assert!(Pattern::new("%_id").matches("customer_id"));
        assert!(Pattern::new("*mail*").matches("Email"));
    }
}

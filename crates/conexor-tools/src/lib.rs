//! Named queries as MCP tools: `get_orders_by_country(country)` is a name, a
//! description, a connection *by reference*, one guarded SQL statement with
//! typed parameters, and limits.
//!
//! What this crate does: the definition ([`ToolDef`], [`ParamDef`]), the
//! tools file (`[[tools]]` tables in TOML, [`parse_file`]) with errors that
//! name the line, the tool and the field, the checks made when a definition is
//! saved ([`ToolDef::check`]: names, types, defaults, enum values, and the
//! SELECT-only guard in the connection's dialect with the placeholder count),
//! the MCP input schema ([`ToolDef::input_schema`]) and the binding of an AI's
//! arguments to the placeholders ([`ToolDef::bind`]): values are validated by
//! type and always bound, never spliced into the SQL.
//!
//! What it does not do: look connections up or run anything (the server does,
//! through the same gateway as `run_query`). A definition cannot carry an
//! inline connection: fields such as `url` or `password` are refused with a
//! message that says why.

#![forbid(unsafe_code)]

mod table;

pub use table::{ColumnClass, TableColumn, TableTool};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// A problem with a definition or a call, for a person or an AI to act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ToolError(pub String);

fn err(msg: impl Into<String>) -> ToolError {
    ToolError(msg.into())
}

/// Names the generic tools use; a named query may not shadow them.
pub const RESERVED: &[&str] = &[
    "list_connections",
    "search_schema",
    "describe_table",
    "run_query",
    "list_objects",
    "object_info",
    "read_object",
    "preview_object",
    "search_operations",
    "describe_operation",
    "call_operation",
    "list_topics",
    "peek_messages",
];

/// Fields that would make a definition carry an inline connection.
pub const INLINE_FIELDS: &[&str] = &[
    "url",
    "dsn",
    "connection_url",
    "connection_string",
    "password",
    "host",
    "port",
    "user",
    "username",
];

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Integer,
    Number,
    Boolean,
    /// `YYYY-MM-DD`, bound as text (cast it in the SQL: `$1::date`).
    Date,
    /// RFC 3339, bound as text (cast it in the SQL: `$1::timestamptz`).
    Datetime,
    /// One of `values`, bound as text.
    Enum,
}

impl ParamType {
    /// The name definitions write (`string`, `integer`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Number => "number",
            ParamType::Boolean => "boolean",
            ParamType::Date => "date",
            ParamType::Datetime => "datetime",
            ParamType::Enum => "enum",
        }
    }
}

/// One typed parameter, bound to the placeholder at its position.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct ParamDef {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ParamType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Without a default, a required parameter must be given; an optional one binds NULL.
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// The allowed values of an `enum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
}

/// A named query.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    /// A connection of the workspace, by name.
    pub connection: String,
    /// One query in the connection's dialect; placeholders (`$1`… or `?`) in
    /// the order of `params`.
    pub sql: String,
    #[serde(default)]
    pub params: Vec<ParamDef>,
    /// Most rows one call returns (the server's own cap still applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u64>,
}

fn valid_tool_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

impl ParamDef {
    /// Checks one value against the type; returns the value to bind.
    fn accept(&self, value: &Value) -> Result<Value, String> {
        let want = self.kind.as_str();
        match (self.kind, value) {
            (_, Value::Null) => Ok(Value::Null),
            (ParamType::String, Value::String(s)) => {
                if let Some(max) = self.max_length
                    && s.chars().count() > max
                {
                    return Err(format!("is longer than {max} characters"));
                }
                Ok(value.clone())
            }
            (ParamType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => {
                let Some(i) = n.as_i64() else {
                    return Err("is out of range for a 64-bit integer".into());
                };
                self.range(i as f64)?;
                Ok(value.clone())
            }
            (ParamType::Number, Value::Number(n)) => {
                self.range(n.as_f64().unwrap_or(f64::NAN))?;
                Ok(value.clone())
            }
            (ParamType::Boolean, Value::Bool(_)) => Ok(value.clone()),
            (ParamType::Date, Value::String(s)) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|_| value.clone())
                .map_err(|_| format!("must be a date like 2026-12-01, got {s:?}")),
            (ParamType::Datetime, Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|_| value.clone())
                .map_err(|_| {
                    format!("must be an RFC 3339 time like 2026-12-01T09:30:00Z, got {s:?}")
                }),
            (ParamType::Enum, Value::String(s)) => {
                let values = self.values.as_deref().unwrap_or_default();
                if values.iter().any(|v| v == s) {
                    Ok(value.clone())
                } else {
                    Err(format!("must be one of {}, got {s:?}", values.join(", ")))
                }
            }
            (_, other) => Err(format!(
                "must be {} {want}, got {}",
                article(want),
                kind_of(other)
            )),
        }
    }

    fn range(&self, x: f64) -> Result<(), String> {
        if let Some(min) = self.min
            && x < min
        {
            return Err(format!("must be at least {min}"));
        }
        if let Some(max) = self.max
            && x > max
        {
            return Err(format!("must be at most {max}"));
        }
        Ok(())
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl ToolDef {
    /// The checks made when a definition is saved, for the connection's
    /// dialect: names, parameter types, defaults, enum values, and the
    /// SELECT-only guard with the placeholder count. Errors name the field.
    /// Returns the tables the SQL reads, for a check against the schema.
    pub fn check(&self, dialect: conexor_guard::Dialect) -> Result<Vec<String>, ToolError> {
        if !valid_tool_name(&self.name) {
            return Err(err(
                "name: 1-64 characters of a-z, 0-9 and _, starting with a letter",
            ));
        }
        if RESERVED.contains(&self.name.as_str()) {
            return Err(err(format!("name: {:?} is a built-in tool", self.name)));
        }
        if self.connection.contains("://") || self.connection.contains('@') {
            return Err(err(
                "connection: name a connection of the workspace; inline connections with URLs or passwords exist only on the client (`conexor tools try --url …`)",
            ));
        }
        let c = self.connection.as_bytes();
        if c.is_empty()
            || c.len() > 64
            || !c[0].is_ascii_alphanumeric()
            || !c
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(err(
                "connection: a connection name (1-64 letters, digits, _ - .)",
            ));
        }
        if self.description.trim().is_empty() {
            return Err(err(
                "description: say what the tool returns; the AI chooses tools by it",
            ));
        }
        if self.description.len() > 2000 {
            return Err(err("description: at most 2000 characters"));
        }
        if self.max_rows == Some(0) {
            return Err(err("max_rows: must be at least 1"));
        }
        let mut seen: Vec<&str> = Vec::new();
        for (i, p) in self.params.iter().enumerate() {
            let at = format!("params[{i}] ({:?})", p.name);
            if !valid_tool_name(&p.name) {
                return Err(err(format!(
                    "{at}: name: 1-64 characters of a-z, 0-9 and _"
                )));
            }
            if seen.contains(&p.name.as_str()) {
                return Err(err(format!("{at}: the name is used twice")));
            }
            seen.push(&p.name);
            match (p.kind, &p.values) {
                (ParamType::Enum, None) => return Err(err(format!("{at}: an enum needs values"))),
                (ParamType::Enum, Some(v)) if v.is_empty() => {
                    return Err(err(format!("{at}: an enum needs values")));
                }
                (ParamType::Enum, Some(_)) => {}
                (_, Some(_)) => return Err(err(format!("{at}: values are for enums only"))),
                (_, None) => {}
            }
            if let Some(d) = &p.default {
                p.accept(d)
                    .map_err(|why| err(format!("{at}: default {why}")))?;
            }
        }
        let checked = conexor_guard::check_with_params(dialect, &self.sql, self.params.len())
            .map_err(|r| err(format!("sql: query refused: {}", r.reason)))?;
        Ok(checked.relations().to_vec())
    }

    /// The MCP input schema (JSON Schema 2020-12).
    pub fn input_schema(&self) -> Value {
        let mut props = Map::new();
        let mut required = Vec::new();
        for p in &self.params {
            let mut s = match p.kind {
                ParamType::String => json!({"type": "string"}),
                ParamType::Integer => json!({"type": "integer"}),
                ParamType::Number => json!({"type": "number"}),
                ParamType::Boolean => json!({"type": "boolean"}),
                ParamType::Date => json!({"type": "string", "format": "date"}),
                ParamType::Datetime => json!({"type": "string", "format": "date-time"}),
                ParamType::Enum => {
                    json!({"type": "string", "enum": p.values.clone().unwrap_or_default()})
                }
            };
            if let Some(d) = &p.description {
                s["description"] = json!(d);
            }
            if let Some(d) = &p.default {
                s["default"] = d.clone();
            }
            if let Some(m) = p.min {
                s["minimum"] = json!(m);
            }
            if let Some(m) = p.max {
                s["maximum"] = json!(m);
            }
            if let Some(m) = p.max_length {
                s["maxLength"] = json!(m);
            }
            if p.required && p.default.is_none() {
                required.push(json!(p.name));
            }
            props.insert(p.name.clone(), s);
        }
        json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
    }

    /// Turns an AI's arguments into the values bound to the placeholders, in
    /// order. Wrong types, missing required values, values outside an enum
    /// or a range, and unknown names are refused with a clear message.
    pub fn bind(&self, args: &Value) -> Result<Vec<Value>, ToolError> {
        let empty = Map::new();
        let map = match args {
            Value::Object(m) => m,
            Value::Null => &empty,
            _ => return Err(err("arguments must be an object")),
        };
        if let Some(unknown) = map
            .keys()
            .find(|k| !self.params.iter().any(|p| &p.name == *k))
        {
            let names: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
            return Err(err(format!(
                "unknown argument {unknown:?}; {} takes {}",
                self.name,
                if names.is_empty() {
                    "no arguments".to_string()
                } else {
                    names.join(", ")
                }
            )));
        }
        let mut out = Vec::with_capacity(self.params.len());
        for p in &self.params {
            let value = match map.get(&p.name) {
                Some(v) if !v.is_null() => v.clone(),
                _ => match (&p.default, p.required) {
                    (Some(d), _) => d.clone(),
                    (None, true) => {
                        return Err(err(format!(
                            "missing required argument {:?} ({})",
                            p.name,
                            p.kind.as_str()
                        )));
                    }
                    (None, false) => Value::Null,
                },
            };
            out.push(
                p.accept(&value)
                    .map_err(|why| err(format!("argument {:?} {why}", p.name)))?,
            );
        }
        Ok(out)
    }
}

/// A tool as read from a file, with the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct FileTool {
    pub line: usize,
    pub def: ToolDef,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    tools: Vec<toml::Spanned<toml::Table>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Parses a tools file (`[[tools]]` tables). Errors name the line, the tool
/// and the field. Checks needing the connection (the guard in its dialect)
/// are [`ToolDef::check`]'s.
pub fn parse_file(text: &str) -> Result<Vec<FileTool>, ToolError> {
    let file: File = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
        err(format!("line {line}: {}", e.message()))
    })?;
    let mut spans = Vec::new();
    for spanned in &file.tools {
        let line = line_of(text, spanned.span().start);
        let table = spanned.get_ref();
        let label = table
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_owned();
        if let Some(bad) = table.keys().find(|k| INLINE_FIELDS.contains(&k.as_str())) {
            return Err(err(format!(
                "line {line}: tool {label:?}: field {bad}: a tools file names a connection (connection = \"NAME\"); inline connections with URLs or passwords exist only on the client (`conexor tools try --url …`) and are never sent to or stored by the server"
            )));
        }
        spans.push((spanned.span(), line, label));
    }
    // Typed, straight from the text, so that an error points at its value.
    #[derive(Deserialize)]
    struct Typed {
        #[serde(default)]
        tools: Vec<ToolDef>,
    }
    let typed: Typed = toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| s.start).unwrap_or(0);
        let line = line_of(text, at);
        let label = spans
            .iter()
            .rev()
            .find(|(span, _, _)| span.start <= at)
            .map(|(_, _, l)| l.clone())
            .unwrap_or_else(|| "?".into());
        let field = text
            .lines()
            .nth(line.saturating_sub(1))
            .and_then(|l| l.split_once('='))
            .map(|(k, _)| format!("field {}: ", k.trim()))
            .unwrap_or_default();
        err(format!(
            "line {line}: tool {label:?}: {field}{}",
            e.message()
        ))
    })?;
    let mut out: Vec<FileTool> = Vec::new();
    for (def, (_, line, label)) in typed.tools.into_iter().zip(spans) {
        if out.iter().any(|t| t.def.name == def.name) {
            return Err(err(format!(
                "line {line}: tool {label:?}: the name is used twice in this file"
            )));
        }
        out.push(FileTool { line, def });
    }
    Ok(out)
}

/// Writes definitions as a tools file, for review and version control.
pub fn to_file(defs: &[ToolDef]) -> Result<String, ToolError> {
    #[derive(Serialize)]
    struct Out<'a> {
        tools: &'a [ToolDef],
    }
    toml::to_string_pretty(&Out { tools: defs }).map_err(|e| err(e.to_string()))
}

/// A stored tool: a named query, or a read tool generated from a table.
/// Stored as JSON; a generated one is `{"table_tool": {…}}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum Stored {
    Table { table_tool: TableTool },
    Query(ToolDef),
}

impl Stored {
    pub fn name(&self) -> &str {
        match self {
            Stored::Table { table_tool } => &table_tool.name,
            Stored::Query(d) => &d.name,
        }
    }
    pub fn description(&self) -> &str {
        match self {
            Stored::Table { table_tool } => &table_tool.description,
            Stored::Query(d) => &d.description,
        }
    }
    pub fn connection(&self) -> &str {
        match self {
            Stored::Table { table_tool } => &table_tool.connection,
            Stored::Query(d) => &d.connection,
        }
    }
    pub fn input_schema(&self) -> Value {
        match self {
            Stored::Table { table_tool } => table_tool.input_schema(),
            Stored::Query(d) => d.input_schema(),
        }
    }
}

/// Up to three names closest to `wanted` (edit distance, or containing it).
pub fn nearest(wanted: &str, names: &[String]) -> Vec<String> {
    let wanted = wanted.to_lowercase();
    let mut scored: Vec<(usize, &String)> = names
        .iter()
        .map(|n| (edit_distance(&wanted, &n.to_lowercase()), n))
        .filter(|(d, n)| *d <= (n.len() / 2).max(2) || n.to_lowercase().contains(&wanted))
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n.clone()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests;

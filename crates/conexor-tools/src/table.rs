//! Read tools generated from one table's discovered columns, opt-in per
//! table: typed filters per column (equality, ranges for numbers and times,
//! `in`, `like` for text), column selection, ordering and a limit.
//!
//! The SQL is built here from the stored column list only: identifiers come
//! from the discovered schema and are quoted for the dialect, never from the
//! caller; every value the caller gives is bound. The gateway still passes
//! the built statement through the SELECT-only guard.

use crate::{ToolError, err};
use conexor_guard::Dialect;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// How a column can be filtered, from its source type name.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ColumnClass {
    Integer,
    Number,
    Text,
    Time,
    Boolean,
    /// Bytes, JSON, arrays…: selectable, not filterable.
    Other,
}

impl ColumnClass {
    /// Classifies a source type name (PostgreSQL, MySQL/MariaDB, SQLite) by
    /// its base name (before any `(…)`, without `unsigned`), exactly; what it
    /// does not know is `Other`: selectable, not filterable.
    pub fn of(type_name: &str) -> ColumnClass {
        let t = type_name.trim().to_ascii_lowercase();
        if t == "tinyint(1)" {
            return ColumnClass::Boolean;
        }
        let base = t.split('(').next().unwrap_or_default().trim();
        let base = base
            .trim_end_matches(" zerofill")
            .trim_end_matches(" unsigned")
            .trim_end_matches(" signed")
            .trim();
        match base {
            "bool" | "boolean" => ColumnClass::Boolean,
            "int" | "int2" | "int4" | "int8" | "integer" | "smallint" | "bigint" | "tinyint"
            | "mediumint" | "serial" | "bigserial" | "smallserial" => ColumnClass::Integer,
            "numeric" | "decimal" | "real" | "double" | "double precision" | "float" | "float4"
            | "float8" | "money" => ColumnClass::Number,
            "date"
            | "datetime"
            | "timestamp"
            | "timestamptz"
            | "time"
            | "timetz"
            | "timestamp without time zone"
            | "timestamp with time zone"
            | "time without time zone"
            | "time with time zone" => ColumnClass::Time,
            "char" | "character" | "varchar" | "character varying" | "bpchar" | "text"
            | "tinytext" | "mediumtext" | "longtext" | "citext" | "name" | "nchar" | "nvarchar"
            | "clob" | "string" => ColumnClass::Text,
            _ => ColumnClass::Other,
        }
    }

    fn ops(self) -> &'static [&'static str] {
        match self {
            ColumnClass::Integer | ColumnClass::Number | ColumnClass::Time => {
                &["eq", "in", "gt", "gte", "lt", "lte"]
            }
            ColumnClass::Text => &["eq", "in", "like"],
            ColumnClass::Boolean => &["eq"],
            ColumnClass::Other => &[],
        }
    }

    fn value_schema(self) -> Value {
        match self {
            ColumnClass::Integer => json!({"type": "integer"}),
            ColumnClass::Number => json!({"type": "number"}),
            ColumnClass::Text => json!({"type": "string"}),
            ColumnClass::Time => json!({"type": "string", "description": "date or RFC 3339 time"}),
            ColumnClass::Boolean => json!({"type": "boolean"}),
            ColumnClass::Other => json!({}),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub class: ColumnClass,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A generated read tool for one table.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableTool {
    pub name: String,
    pub description: String,
    pub connection: String,
    /// Empty when the source needs no schema qualifier (SQLite `main`).
    pub schema: String,
    pub table: String,
    pub columns: Vec<TableColumn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u64>,
}

/// Most values in one `in` filter.
const MAX_IN: usize = 100;

fn sanitize(text: &str) -> String {
    let mut out: String = text
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    out.trim_matches('_').to_owned()
}

impl TableTool {
    /// The tool for `table` of `connection`; `columns` are (name, type, comment).
    /// Its name is `<connection>_<table>`, lowercased, other characters as `_`.
    pub fn new(
        connection: &str,
        schema: &str,
        table: &str,
        comment: Option<&str>,
        columns: &[(String, String, Option<String>)],
        primary_key: &[String],
    ) -> TableTool {
        let mut name = sanitize(&format!("{connection}_{table}"));
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            name = format!("t_{name}");
        }
        name.truncate(64);
        let qualified = if schema.is_empty() {
            table.to_owned()
        } else {
            format!("{schema}.{table}")
        };
        let mut description = format!("Read rows of table {qualified} in connection {connection}");
        if let Some(c) = comment.filter(|c| !c.trim().is_empty()) {
            description.push_str(&format!(" ({})", c.trim()));
        }
        description.push('.');
        if !primary_key.is_empty() {
            description.push_str(&format!(" Primary key: {}.", primary_key.join(", ")));
        }
        description.push_str(" Filter with `where` ({column: {eq|in|gt|gte|lt|lte|like: value}}), pick `columns`, sort with `order_by`, cap with `limit`.");
        TableTool {
            name,
            description,
            connection: connection.to_owned(),
            schema: schema.to_owned(),
            table: table.to_owned(),
            columns: columns
                .iter()
                .map(|(n, t, c)| TableColumn {
                    name: n.clone(),
                    type_name: t.clone(),
                    class: ColumnClass::of(t),
                    comment: c.clone(),
                })
                .collect(),
            max_rows: None,
        }
    }

    pub fn input_schema(&self) -> Value {
        let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        let mut filters = Map::new();
        for c in &self.columns {
            let ops = c.class.ops();
            if ops.is_empty() {
                continue;
            }
            let mut props = Map::new();
            for op in ops {
                let v = c.class.value_schema();
                let s = match *op {
                    "in" => json!({"type": "array", "items": v, "maxItems": MAX_IN}),
                    "like" => {
                        json!({"type": "string", "description": "SQL LIKE pattern: % any run, _ one character"})
                    }
                    _ => v,
                };
                props.insert((*op).to_owned(), s);
            }
            let mut f =
                json!({"type": "object", "properties": props, "additionalProperties": false});
            if let Some(comment) = &c.comment {
                f["description"] = json!(comment);
            }
            filters.insert(c.name.clone(), f);
        }
        json!({
            "type": "object",
            "properties": {
                "columns": {"type": "array", "items": {"type": "string", "enum": names}, "description": "columns to return (default: all)"},
                "where": {"type": "object", "properties": filters, "additionalProperties": false},
                "order_by": {"type": "array", "items": {"type": "object", "properties": {
                    "column": {"type": "string", "enum": names}, "desc": {"type": "boolean"}
                }, "required": ["column"], "additionalProperties": false}},
                "limit": {"type": "integer", "minimum": 1}
            },
            "additionalProperties": false
        })
    }

    fn column(&self, name: &str) -> Result<&TableColumn, ToolError> {
        self.columns.iter().find(|c| c.name == name).ok_or_else(|| {
            let names: Vec<String> = self.columns.iter().map(|c| c.name.clone()).collect();
            let near = crate::nearest(name, &names);
            err(format!(
                "unknown column {name:?} in {}{}",
                self.table,
                if near.is_empty() {
                    format!("; columns: {}", names.join(", "))
                } else {
                    format!("; did you mean {}?", near.join(", "))
                }
            ))
        })
    }

    /// Builds the statement and its bound values from the caller's arguments.
    /// Returns (sql, params, limit asked for).
    pub fn build(
        &self,
        args: &Value,
        dialect: Dialect,
    ) -> Result<(String, Vec<Value>, Option<u64>), ToolError> {
        let empty = Map::new();
        let args = match args {
            Value::Object(m) => m,
            Value::Null => &empty,
            _ => return Err(err("arguments must be an object")),
        };
        if let Some(k) = args
            .keys()
            .find(|k| !["columns", "where", "order_by", "limit"].contains(&k.as_str()))
        {
            return Err(err(format!(
                "unknown argument {k:?}; {} takes columns, where, order_by, limit",
                self.name
            )));
        }
        let quote = |ident: &str| match dialect {
            Dialect::Mysql => format!("`{}`", ident.replace('`', "``")),
            Dialect::Sqlserver => format!("[{}]", ident.replace(']', "]]")),
            _ => format!("\"{}\"", ident.replace('"', "\"\"")),
        };
        let mut params: Vec<Value> = Vec::new();
        let placeholder = |params: &mut Vec<Value>, v: Value| {
            params.push(v);
            match dialect {
                Dialect::Postgresql => format!("${}", params.len()),
                Dialect::Sqlserver => format!("@P{}", params.len()),
                _ => "?".to_owned(),
            }
        };
        let select = match args.get("columns") {
            None | Some(Value::Null) => "*".to_owned(),
            Some(Value::Array(cols)) if !cols.is_empty() => {
                let mut out = Vec::new();
                for c in cols {
                    let name = c
                        .as_str()
                        .ok_or_else(|| err("columns must be column names"))?;
                    out.push(quote(&self.column(name)?.name));
                }
                out.join(", ")
            }
            Some(_) => return Err(err("columns must be a non-empty array of column names")),
        };
        let from = if self.schema.is_empty() {
            quote(&self.table)
        } else {
            format!("{}.{}", quote(&self.schema), quote(&self.table))
        };
        let mut sql = format!("SELECT {select} FROM {from}");
        let mut conditions = Vec::new();
        match args.get("where") {
            None | Some(Value::Null) => {}
            Some(Value::Object(filters)) => {
                for (name, ops) in filters {
                    let col = self.column(name)?;
                    let Value::Object(ops) = ops else {
                        return Err(err(format!(
                            "where.{name} must be an object like {{\"eq\": …}}"
                        )));
                    };
                    for (op, value) in ops {
                        if !col.class.ops().contains(&op.as_str()) {
                            return Err(err(format!(
                                "where.{name}: {op:?} is not a filter for this column (type {}); use {}",
                                col.type_name,
                                if col.class.ops().is_empty() {
                                    "none: it cannot be filtered".to_owned()
                                } else {
                                    col.class.ops().join(", ")
                                }
                            )));
                        }
                        let q = quote(&col.name);
                        let cond = match op.as_str() {
                            "in" => {
                                let Value::Array(items) = value else {
                                    return Err(err(format!("where.{name}.in must be an array")));
                                };
                                if items.is_empty() || items.len() > MAX_IN {
                                    return Err(err(format!(
                                        "where.{name}.in takes 1 to {MAX_IN} values"
                                    )));
                                }
                                let mut ps = Vec::new();
                                for item in items {
                                    let v = typed(col, name, item)?;
                                    ps.push(cast(dialect, col, placeholder(&mut params, v)));
                                }
                                format!("{q} IN ({})", ps.join(", "))
                            }
                            "like" => {
                                let Value::String(_) = value else {
                                    return Err(err(format!(
                                        "where.{name}.like must be a string pattern"
                                    )));
                                };
                                format!("{q} LIKE {}", placeholder(&mut params, value.clone()))
                            }
                            _ => {
                                let v = typed(col, name, value)?;
                                let sym = match op.as_str() {
                                    "eq" => "=",
                                    "gt" => ">",
                                    "gte" => ">=",
                                    "lt" => "<",
                                    _ => "<=",
                                };
                                format!(
                                    "{q} {sym} {}",
                                    cast(dialect, col, placeholder(&mut params, v))
                                )
                            }
                        };
                        conditions.push(cond);
                    }
                }
            }
            Some(_) => return Err(err("where must be an object of column filters")),
        }
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        match args.get("order_by") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                let mut parts = Vec::new();
                for item in items {
                    let column = item.get("column").and_then(Value::as_str).ok_or_else(|| {
                        err("order_by items are {\"column\": …, \"desc\": true|false}")
                    })?;
                    let desc = match item.get("desc") {
                        None | Some(Value::Null) => false,
                        Some(Value::Bool(b)) => *b,
                        Some(_) => return Err(err("order_by.desc must be true or false")),
                    };
                    parts.push(format!(
                        "{}{}",
                        quote(&self.column(column)?.name),
                        if desc { " DESC" } else { "" }
                    ));
                }
                if !parts.is_empty() {
                    sql.push_str(" ORDER BY ");
                    sql.push_str(&parts.join(", "));
                }
            }
            Some(_) => return Err(err("order_by must be an array")),
        }
        let limit = match args.get("limit") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| err("limit must be a positive integer"))?,
            ),
        };
        Ok((sql, params, limit))
    }
}

/// The value, checked against the column's class.
fn typed(col: &TableColumn, name: &str, v: &Value) -> Result<Value, ToolError> {
    let ok = match (col.class, v) {
        (ColumnClass::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (ColumnClass::Number, Value::Number(_)) => true,
        (ColumnClass::Text, Value::String(_)) => true,
        (ColumnClass::Boolean, Value::Bool(_)) => true,
        (ColumnClass::Time, Value::String(s)) => {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
                || chrono::DateTime::parse_from_rfc3339(s).is_ok()
                || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok()
                || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").is_ok()
        }
        _ => false,
    };
    if ok {
        Ok(v.clone())
    } else {
        let want = match col.class {
            ColumnClass::Integer => "an integer",
            ColumnClass::Number => "a number",
            ColumnClass::Text => "a string",
            ColumnClass::Boolean => "true or false",
            ColumnClass::Time => "a date (2026-12-01) or time (2026-12-01T09:30:00Z)",
            ColumnClass::Other => "nothing: it cannot be filtered",
        };
        Err(err(format!(
            "where.{name}: the value must be {want} (column type {})",
            col.type_name
        )))
    }
}

/// PostgreSQL binds text as `text`: compare times through the column's own
/// type, chosen from a fixed list (never spliced from the stored type name).
fn cast(dialect: Dialect, col: &TableColumn, p: String) -> String {
    if dialect != Dialect::Postgresql || col.class != ColumnClass::Time {
        return p;
    }
    let base = col.type_name.trim().to_ascii_lowercase();
    let target = match base.split('(').next().unwrap_or_default().trim() {
        "date" => "date",
        "time" | "time without time zone" => "time",
        "timetz" | "time with time zone" => "timetz",
        "timestamp" | "timestamp without time zone" => "timestamp",
        "timestamptz" | "timestamp with time zone" => "timestamptz",
        _ => return p,
    };
    format!("CAST({p} AS {target})")
}

//! One call's arguments checked against its operation and built into the
//! request that is sent: no network here, so every refusal is tested
//! offline and happens before anything leaves.
//!
//! - Every argument must be a parameter of the operation (no extra names),
//!   every required one present, each value of its schema's type (and in
//!   its enum, within its bounds) and at most [`MAX_VALUE_BYTES`].
//! - Path values are percent-encoded as whole segments (`/`, `?`, `#`, `%`
//!   and every byte outside the unreserved set); `.` and `..` are refused,
//!   since a URL parser folds them (also as `%2e%2e`), and the built URL is
//!   checked to be exactly the path written, under the base path, at the
//!   base origin.
//! - Header values are visible ASCII (and spaces) only: CR, LF and other
//!   control characters are refused; a parameter cannot set the
//!   connection's own headers ([`super::spec::RESERVED_HEADERS`]).

use super::openapi::{Location, Operation, Param, ReadMethod, argument_name};
use crate::Error;
use serde_json::{Map, Value};

/// Largest value one argument may have, in bytes of its text.
pub const MAX_VALUE_BYTES: usize = 8 * 1024;
/// Most items of an array argument.
const MAX_ITEMS: usize = 100;

/// A request ready to send, without the connection's credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub method: ReadMethod,
    /// The full URL (base, path with values, query with values).
    pub url: url::Url,
    /// Header parameters, checked.
    pub headers: Vec<(String, String)>,
    /// The argument names given, sorted.
    pub names: Vec<String>,
}

impl Prepared {
    /// The text the audit's `query_hash` is of: `rest.call`, the method,
    /// the operation's path template, the path and query sent (credentials
    /// are added later and never enter it) and each header parameter as
    /// `name: value`, one per line.
    pub fn hash_input(&self, template: &str) -> String {
        let mut text = format!(
            "rest.call\n{}\n{template}\n{}",
            self.method.as_str(),
            &self.url[url::Position::BeforePath..]
        );
        for (name, value) in &self.headers {
            text.push('\n');
            text.push_str(&name.to_ascii_lowercase());
            text.push_str(": ");
            text.push_str(value);
        }
        text
    }
}

fn usage(message: impl Into<String>) -> Error {
    Error::Usage(message.into())
}

/// Checks `args` against `op` and builds its request under `base` (a URL
/// whose path ends with `/`).
pub fn prepare(
    op: &Operation,
    base: &url::Url,
    args: &Map<String, Value>,
) -> Result<Prepared, Error> {
    let by_name: Vec<(String, &Param)> = op
        .params
        .iter()
        .map(|p| (argument_name(op, p), p))
        .collect();
    if let Some(unknown) = args.keys().find(|k| !by_name.iter().any(|(n, _)| n == *k)) {
        let known: Vec<&str> = by_name.iter().map(|(n, _)| n.as_str()).collect();
        return Err(usage(format!(
            "{:?} is not a parameter of {}; it takes {}",
            cut(unknown, 64),
            op.tool,
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )));
    }
    let mut path = String::new();
    let mut query: Vec<(String, String)> = Vec::new();
    let mut headers = Vec::new();
    let mut values: Vec<(&Param, Vec<String>)> = Vec::new();
    for (name, param) in &by_name {
        match args.get(name) {
            None | Some(Value::Null) if param.required || param.location == Location::Path => {
                return Err(usage(format!("{name} is required by {}", op.tool)));
            }
            None | Some(Value::Null) => {}
            Some(value) => values.push((param, texts(name, &param.schema, value)?)),
        }
    }
    // The path, its {names} replaced by encoded values.
    let mut rest = op.path.as_str();
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return Err(usage("the operation's path template is malformed"));
        };
        let name = &rest[open + 1..open + close];
        let value = values
            .iter()
            .find(|(p, _)| p.location == Location::Path && p.name == name)
            .map(|(_, v)| v.join(","))
            .ok_or_else(|| usage(format!("{name} is required by {}", op.tool)))?;
        if value.is_empty() || value == "." || value == ".." {
            return Err(usage(format!(
                "{name}: {value:?} is not a value a path segment can take"
            )));
        }
        path.push_str(&encode_segment(&value));
        rest = &rest[open + close + 1..];
    }
    path.push_str(rest);
    for (param, texts) in &values {
        match param.location {
            Location::Path => {}
            Location::Query => {
                for t in texts {
                    query.push((param.name.clone(), t.clone()));
                }
            }
            Location::Header => {
                let lower = param.name.to_ascii_lowercase();
                if !super::spec::is_token(&param.name)
                    || super::spec::RESERVED_HEADERS.contains(&lower.as_str())
                {
                    return Err(usage(format!(
                        "the header {:?} cannot be set by a call",
                        param.name
                    )));
                }
                let value = texts.join(",");
                if value
                    .bytes()
                    .any(|b| !(b == b' ' || b == b'\t' || (0x21..0x7f).contains(&b)))
                {
                    return Err(usage(format!(
                        "{}: a header value may hold only visible ASCII characters (no CR, LF or control characters)",
                        param.name
                    )));
                }
                headers.push((param.name.clone(), value));
            }
        }
    }
    let relative = path.trim_start_matches('/');
    let mut url = base
        .join(relative)
        .map_err(|_| usage("the values do not make a valid URL"))?;
    let expected = format!("{}{relative}", base.path());
    if url.path() != expected
        || url.origin() != base.origin()
        || !url.path().starts_with(base.path())
    {
        return Err(usage(
            "the values would send the request to another path; it was not sent",
        ));
    }
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query.iter());
    }
    let mut names: Vec<String> = args
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, _)| k.clone())
        .collect();
    names.sort();
    Ok(Prepared {
        method: op.method,
        url,
        headers,
        names,
    })
}

/// Percent-encodes a path segment: everything but `A-Z a-z 0-9 - . _ ~`.
fn encode_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The value's text(s) as sent, checked against the schema.
fn texts(name: &str, schema: &Value, value: &Value) -> Result<Vec<String>, Error> {
    let kind = schema
        .get("type")
        .and_then(|t| match t {
            Value::String(s) => Some(s.as_str()),
            // 3.1: ["string", "null"]
            Value::Array(a) => a.iter().filter_map(Value::as_str).find(|t| *t != "null"),
            _ => None,
        })
        .unwrap_or("");
    if kind == "array" {
        let Value::Array(items) = value else {
            return Err(usage(format!("{name}: expected a list")));
        };
        if items.len() > MAX_ITEMS {
            return Err(usage(format!("{name}: at most {MAX_ITEMS} items")));
        }
        let item_schema = schema.get("items").cloned().unwrap_or(Value::Null);
        return items
            .iter()
            .map(|item| scalar(name, &item_schema, item))
            .collect();
    }
    Ok(vec![scalar(name, schema, value)?])
}

fn scalar(name: &str, schema: &Value, value: &Value) -> Result<String, Error> {
    let kind = schema
        .get("type")
        .and_then(|t| match t {
            Value::String(s) => Some(s.as_str()),
            Value::Array(a) => a.iter().filter_map(Value::as_str).find(|t| *t != "null"),
            _ => None,
        })
        .unwrap_or("");
    let text = match (kind, value) {
        ("integer", Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        ("integer", Value::String(s)) if s.parse::<i64>().is_ok() => s.clone(),
        ("integer", _) => return Err(usage(format!("{name}: expected an integer"))),
        ("number", Value::Number(n)) => n.to_string(),
        ("number", Value::String(s)) if s.parse::<f64>().is_ok_and(f64::is_finite) => s.clone(),
        ("number", _) => return Err(usage(format!("{name}: expected a number"))),
        ("boolean", Value::Bool(b)) => b.to_string(),
        ("boolean", Value::String(s)) if s == "true" || s == "false" => s.clone(),
        ("boolean", _) => return Err(usage(format!("{name}: expected true or false"))),
        (_, Value::String(s)) => s.clone(),
        (_, Value::Number(n)) => n.to_string(),
        (_, Value::Bool(b)) => b.to_string(),
        (_, _) => {
            return Err(usage(format!(
                "{name}: expected a single value (lists and objects are not taken here)"
            )));
        }
    };
    if text.len() > MAX_VALUE_BYTES {
        return Err(usage(format!(
            "{name}: the value is {} bytes; at most {MAX_VALUE_BYTES}",
            text.len()
        )));
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !allowed.iter().any(|a| match a {
            Value::String(s) => *s == text,
            Value::Number(n) => text.parse::<f64>().ok() == n.as_f64(),
            Value::Bool(b) => text == if *b { "true" } else { "false" },
            _ => false,
        })
    {
        let listed: Vec<String> = allowed
            .iter()
            .take(20)
            .map(|a| match a {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        return Err(usage(format!("{name}: one of {}", listed.join(", "))));
    }
    if matches!(kind, "integer" | "number") {
        let n: f64 = text.parse().unwrap_or(f64::NAN);
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            return Err(usage(format!("{name}: at least {min}")));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            return Err(usage(format!("{name}: at most {max}")));
        }
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && text.chars().count() as u64 > max
    {
        return Err(usage(format!("{name}: at most {max} characters")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op() -> Operation {
        let spec = json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {"/items/{id}": {"get": {
                "operationId": "getItem",
                "parameters": [
                    {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                    {"name": "state", "in": "query", "schema": {"type": "string", "enum": ["open", "closed"]}},
                    {"name": "tags", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                    {"name": "X-Trace", "in": "header", "schema": {"type": "string"}}
                ]
            }}}
        });
        let api = super::super::openapi::parse(spec.to_string().as_bytes()).unwrap();
        api.operations.into_iter().next().unwrap()
    }

    fn base() -> url::Url {
        url::Url::parse("http://127.0.0.1:8080/api/v1/").unwrap()
    }

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn values_are_encoded_into_the_path_and_query() {
        let p = prepare(
            &op(),
            &base(),
            &args(json!({"id": "a/b c?#%", "limit": 5, "tags": ["x", "y&z"], "X-Trace": "t-1"})),
        )
        .unwrap();
        assert_eq!(
            p.url.as_str(),
            "http://127.0.0.1:8080/api/v1/items/a%2Fb%20c%3F%23%25?limit=5&tags=x&tags=y%26z"
        );
        assert_eq!(p.headers, vec![("X-Trace".to_owned(), "t-1".to_owned())]);
        assert_eq!(p.names, ["X-Trace", "id", "limit", "tags"]);
        assert!(
            p.hash_input("/items/{id}")
                .starts_with("rest.call\nGET\n/items/{id}\n/api/v1/items/a%2Fb")
        );
    }

    #[test]
    fn hostile_values_are_refused_before_anything_is_sent() {
        for (bad, says) in [
            (json!({"id": ".."}), "path segment"),
            (json!({"id": "."}), "path segment"),
            (json!({}), "required"),
            (json!({"id": "1", "limit": 0}), "at least"),
            (json!({"id": "1", "limit": "ten"}), "integer"),
            (json!({"id": "1", "state": "merged"}), "one of"),
            (
                json!({"id": "1", "X-Trace": "a\r\nHost: evil"}),
                "visible ASCII",
            ),
            (json!({"id": "1", "X-Trace": "a\u{7f}"}), "visible ASCII"),
            (json!({"id": "1", "other": 1}), "not a parameter"),
            (json!({"id": {"a": 1}}), "single value"),
            (json!({"id": "x".repeat(1 << 20)}), "bytes"),
        ] {
            let err = prepare(&op(), &base(), &args(bad.clone())).unwrap_err();
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
        // Traversal spellings stay inside one encoded segment.
        for value in [
            "../admin",
            "%2e%2e",
            "%2e%2e%2fadmin",
            "..%2f..",
            "a/../../b",
        ] {
            let p = prepare(&op(), &base(), &args(json!({"id": value}))).unwrap();
            assert!(
                p.url.path().starts_with("/api/v1/items/"),
                "{value}: {}",
                p.url
            );
            assert_eq!(p.url.path().matches('/').count(), 4, "{value}: {}", p.url);
        }
    }
}

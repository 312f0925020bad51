//! An OpenAPI 3.0 or 3.1 description read into the operations a REST
//! connection may call: only GET and HEAD, by type ([`ReadMethod`] has no
//! other variant), each with its parameters (path, query, header) and their
//! schemas, `$ref`s resolved inside the document only.
//!
//! The document is untrusted input (it may come from the API's own server):
//! its size is capped before parsing, serde_json refuses nesting deeper than
//! 128, a `$ref` outside the document is refused (never fetched), a
//! recursive or very deep schema is cut at [`MAX_SCHEMA_DEPTH`] with a note,
//! and the schema text kept per operation is bounded by a node budget, so a
//! hostile spec cannot make a tool definition (or the work to build it)
//! grow without bound. Walked as `serde_json::Value` rather than through a
//! typed OpenAPI crate: the typed crates cover 3.0 or 3.1, not both, and
//! fail the whole document on one odd field, where a gateway wants to keep
//! every operation it can read and say why it skipped the others.

use crate::Error;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Largest description accepted, in bytes (GitHub's full description, a
/// large real one, is about 11 MB as JSON).
pub const MAX_SPEC_BYTES: usize = 32 * 1024 * 1024;

/// Deepest schema nesting kept in a tool's input schema; deeper parts (and
/// recursive ones) are replaced by a note.
pub const MAX_SCHEMA_DEPTH: usize = 8;

/// Most schema nodes kept for one parameter.
const MAX_SCHEMA_NODES: usize = 2_000;

/// The only methods a REST tool can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "UPPERCASE")]
pub enum ReadMethod {
    Get,
    Head,
}

/// Where a parameter goes in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    Path,
    Query,
    Header,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct Param {
    pub name: String,
    #[serde(rename = "in")]
    pub location: Location,
    pub required: bool,
    /// The parameter's schema, `$ref`s resolved, cut where too deep.
    pub schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One callable read operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct Operation {
    /// The tool name: the operationId made safe and unique (or built from
    /// the method and path when there is none).
    pub tool: String,
    /// The description's own operationId, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    pub method: ReadMethod,
    /// The path template as written (`/repos/{owner}/{repo}`).
    pub path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub params: Vec<Param>,
    /// The shape of a successful JSON answer (types and property names, a
    /// few levels deep), for `describe_operation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

/// What a description holds, as far as a read-only gateway is concerned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Api {
    pub title: String,
    pub version: String,
    /// The first `servers` entry, as written (absolute or relative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    pub operations: Vec<Operation>,
    /// Operations with another method (POST, PUT, PATCH, DELETE, …), never
    /// callable: counted so that the user is told.
    pub write_operations: usize,
    /// Read operations that cannot be offered, and why (a required cookie
    /// parameter, an unreadable parameter).
    pub skipped: Vec<String>,
}

fn spec_error(message: impl Into<String>) -> Error {
    Error::Spec(message.into())
}

/// Reads an OpenAPI 3.0 or 3.1 description given as JSON or YAML.
pub fn parse(text: &[u8]) -> Result<Api, Error> {
    if text.len() > MAX_SPEC_BYTES {
        return Err(spec_error(format!(
            "the OpenAPI description is {} bytes; the limit is {MAX_SPEC_BYTES}",
            text.len()
        )));
    }
    let trimmed = text.trim_ascii_start();
    let root: Value = if trimmed.starts_with(b"{") {
        serde_json::from_slice(text).map_err(|e| {
            spec_error(format!(
                "the OpenAPI description is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?
    } else {
        yaml::to_json(text)?
    };
    if root.get("swagger").is_some() {
        return Err(spec_error(
            "Swagger 2.0 descriptions are not supported: convert it to OpenAPI 3 (e.g. with swagger2openapi)",
        ));
    }
    let version = root
        .get("openapi")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !(version.starts_with("3.0") || version.starts_with("3.1")) {
        return Err(spec_error(format!(
            "not an OpenAPI 3.0 or 3.1 description (openapi = {:?})",
            truncate(version, 20)
        )));
    }
    let info = root.get("info");
    let text_at = |v: Option<&Value>, key: &str| {
        v.and_then(|v| v.get(key))
            .and_then(Value::as_str)
            .map(|s| truncate(s, 200))
            .unwrap_or_default()
    };
    let mut api = Api {
        title: text_at(info, "title"),
        version: text_at(info, "version"),
        server: root
            .get("servers")
            .and_then(Value::as_array)
            .and_then(|s| s.first())
            .and_then(|s| s.get("url"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        operations: Vec::new(),
        write_operations: 0,
        skipped: Vec::new(),
    };
    let Some(paths) = root.get("paths").and_then(Value::as_object) else {
        return Ok(api);
    };
    let mut names = std::collections::HashSet::new();
    for (path, item) in paths {
        let item = resolve(&root, item, 0)?;
        let Some(item) = item.as_object() else {
            continue;
        };
        let shared = item.get("parameters");
        for (method, op) in item {
            let method = match method.as_str() {
                "get" => ReadMethod::Get,
                "head" => ReadMethod::Head,
                "post" | "put" | "patch" | "delete" | "options" | "trace" => {
                    api.write_operations += 1;
                    continue;
                }
                _ => continue,
            };
            match operation(&root, path, method, op, shared, &mut names) {
                Ok(Some(op)) => api.operations.push(op),
                Ok(None) => {}
                Err(Error::Spec(why)) if why.starts_with("skip:") => api.skipped.push(format!(
                    "{} {path}: {}",
                    method_name(method),
                    why.trim_start_matches("skip:").trim()
                )),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(api)
}

fn method_name(method: ReadMethod) -> &'static str {
    method.as_str()
}

impl ReadMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadMethod::Get => "GET",
            ReadMethod::Head => "HEAD",
        }
    }
}

fn operation(
    root: &Value,
    path: &str,
    method: ReadMethod,
    op: &Value,
    shared: Option<&Value>,
    names: &mut std::collections::HashSet<String>,
) -> Result<Option<Operation>, Error> {
    let op = resolve(root, op, 0)?;
    let Some(op) = op.as_object() else {
        return Ok(None);
    };
    let mut params: Vec<Param> = Vec::new();
    // Path-level parameters first; an operation's own one of the same name
    // and location replaces it.
    for list in [shared, op.get("parameters")].into_iter().flatten() {
        for raw in list.as_array().map(Vec::as_slice).unwrap_or_default() {
            let raw = resolve(root, raw, 0)?;
            let Some(param) = parameter(root, raw)? else {
                continue;
            };
            params.retain(|p| !(p.name == param.name && p.location == param.location));
            params.push(param);
        }
    }
    // Every `{name}` in the template must be a path parameter.
    for name in template_names(path) {
        if !params
            .iter()
            .any(|p| p.location == Location::Path && p.name == name)
        {
            return Err(spec_error(format!(
                "skip: the path names {{{name}}} but no path parameter defines it"
            )));
        }
    }
    let operation_id = op
        .get("operationId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let tool = unique_name(&tool_name(operation_id.as_deref(), method, path), names);
    Ok(Some(Operation {
        tool,
        operation_id,
        method,
        path: path.to_owned(),
        summary: op
            .get("summary")
            .or_else(|| op.get("description"))
            .and_then(Value::as_str)
            .map(|s| truncate(s.lines().next().unwrap_or_default(), 300))
            .unwrap_or_default(),
        tags: op
            .get("tags")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .map(|s| truncate(s, 100))
                    .collect()
            })
            .unwrap_or_default(),
        params,
        response: response_shape(root, op),
    }))
}

/// Most levels of a response's shape kept.
const SHAPE_DEPTH: usize = 3;
/// Most nodes of one response's shape.
const SHAPE_NODES: usize = 250;

/// The shape of the operation's first 2xx JSON answer, if it says one.
fn response_shape(root: &Value, op: &Map<String, Value>) -> Option<Value> {
    let responses = op.get("responses")?.as_object()?;
    let answer = responses
        .iter()
        .filter(|(code, _)| code.starts_with('2'))
        .map(|(_, v)| v)
        .next()?;
    let answer = resolve(root, answer, 0).ok()?;
    let content = answer.get("content")?.as_object()?;
    let (_, media) = content.iter().find(|(kind, _)| kind.contains("json"))?;
    let schema = media.get("schema")?;
    let mut budget = SHAPE_NODES;
    Some(shape(root, schema, 0, &mut Vec::new(), &mut budget))
}

/// A schema as types and property names only: `"integer"`, `["string"]`,
/// `{"id": "integer", "owner": {…}}`; `"…"` where it was cut.
fn shape(
    root: &Value,
    value: &Value,
    depth: usize,
    expanding: &mut Vec<String>,
    budget: &mut usize,
) -> Value {
    if depth > SHAPE_DEPTH || *budget == 0 {
        return Value::String("…".into());
    }
    *budget -= 1;
    if let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        if expanding.iter().any(|r| r == reference) {
            return Value::String("(recursive)".into());
        }
        let Ok(target) = pointer(root, reference) else {
            return Value::String("…".into());
        };
        expanding.push(reference.to_owned());
        let out = shape(root, target, depth, expanding, budget);
        expanding.pop();
        return out;
    }
    for combined in ["allOf", "oneOf", "anyOf"] {
        if let Some(first) = value
            .get(combined)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return shape(root, first, depth, expanding, budget);
        }
    }
    let kind = match value.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or(""),
        _ if value.get("properties").is_some() => "object",
        _ => "",
    };
    match kind {
        "array" => Value::Array(vec![
            value
                .get("items")
                .map(|i| shape(root, i, depth + 1, expanding, budget))
                .unwrap_or(Value::String("…".into())),
        ]),
        "object" => {
            let mut out = Map::new();
            for (name, p) in value
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .take(100)
            {
                out.insert(
                    truncate(name, 100),
                    shape(root, p, depth + 1, expanding, budget),
                );
            }
            Value::Object(out)
        }
        "" => Value::String("any".into()),
        other => Value::String(truncate(other, 20)),
    }
}

fn parameter(root: &Value, raw: &Value) -> Result<Option<Param>, Error> {
    let name = raw.get("name").and_then(Value::as_str).unwrap_or_default();
    let location = match raw.get("in").and_then(Value::as_str) {
        Some("path") => Location::Path,
        Some("query") => Location::Query,
        Some("header") => Location::Header,
        Some("cookie") => {
            if raw.get("required").and_then(Value::as_bool) == Some(true) {
                return Err(spec_error(format!(
                    "skip: it needs the cookie parameter {name:?}, which tools do not send"
                )));
            }
            return Ok(None);
        }
        _ => return Err(spec_error("skip: a parameter has no valid `in`")),
    };
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(spec_error("skip: a parameter has no usable name"));
    }
    if location == Location::Header
        && [
            "authorization",
            "cookie",
            "host",
            "content-length",
            "transfer-encoding",
            "connection",
        ]
        .contains(&name.to_ascii_lowercase().as_str())
    {
        // Set by the connection (its credential) or the HTTP client, never
        // by the caller.
        return Ok(None);
    }
    let mut budget = MAX_SCHEMA_NODES;
    let schema = match raw.get("schema") {
        Some(s) => schema(root, s, 0, &mut Vec::new(), &mut budget)?,
        None => json!({"type": "string"}),
    };
    Ok(Some(Param {
        name: name.to_owned(),
        location,
        required: location == Location::Path
            || raw
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        schema,
        description: raw
            .get("description")
            .and_then(Value::as_str)
            .map(|d| truncate(d.lines().next().unwrap_or_default(), 300)),
    }))
}

/// A schema with its `$ref`s resolved, cut at [`MAX_SCHEMA_DEPTH`], on a
/// recursion (a `$ref` already being expanded above), or when the node
/// budget is spent. Only the keywords that describe an input are kept.
fn schema(
    root: &Value,
    value: &Value,
    depth: usize,
    expanding: &mut Vec<String>,
    budget: &mut usize,
) -> Result<Value, Error> {
    const CUT: &str = "(nested deeper than this tool describes)";
    if depth > MAX_SCHEMA_DEPTH || *budget == 0 {
        return Ok(json!({"description": CUT}));
    }
    *budget -= 1;
    if let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        if expanding.iter().any(|r| r == reference) {
            return Ok(json!({"description": "(recursive: see the enclosing schema)"}));
        }
        let target = pointer(root, reference)?;
        expanding.push(reference.to_owned());
        let out = schema(root, target, depth + 1, expanding, budget);
        expanding.pop();
        return out;
    }
    let Some(object) = value.as_object() else {
        return Ok(json!({}));
    };
    let mut out = Map::new();
    for (key, v) in object {
        match key.as_str() {
            "type" | "format" | "enum" | "default" | "minimum" | "maximum" | "exclusiveMinimum"
            | "exclusiveMaximum" | "minLength" | "maxLength" | "pattern" | "minItems"
            | "maxItems" | "nullable" | "const" => {
                out.insert(key.clone(), bounded(v));
            }
            "description" | "title" => {
                if let Some(s) = v.as_str() {
                    out.insert(key.clone(), Value::String(truncate(s, 300)));
                }
            }
            "items" | "additionalProperties" if v.is_object() => {
                out.insert(key.clone(), schema(root, v, depth + 1, expanding, budget)?);
            }
            "properties" => {
                let mut props = Map::new();
                for (name, p) in v.as_object().into_iter().flatten().take(100) {
                    props.insert(
                        truncate(name, 100),
                        schema(root, p, depth + 1, expanding, budget)?,
                    );
                }
                out.insert(key.clone(), Value::Object(props));
            }
            "allOf" | "anyOf" | "oneOf" => {
                let mut list = Vec::new();
                for s in v.as_array().into_iter().flatten().take(20) {
                    list.push(schema(root, s, depth + 1, expanding, budget)?);
                }
                out.insert(key.clone(), Value::Array(list));
            }
            _ => {}
        }
    }
    Ok(Value::Object(out))
}

/// A scalar keyword's value, with long enums and strings cut.
fn bounded(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(truncate(s, 300)),
        Value::Array(items) => Value::Array(items.iter().take(100).map(bounded).collect()),
        Value::Object(_) => json!({}),
        other => other.clone(),
    }
}

/// A `$ref`-resolved value (for path items, operations and parameters).
fn resolve<'a>(root: &'a Value, value: &'a Value, depth: usize) -> Result<&'a Value, Error> {
    match value.get("$ref").and_then(Value::as_str) {
        Some(_) if depth > MAX_SCHEMA_DEPTH => {
            Err(spec_error("a chain of $ref is too long or circular"))
        }
        Some(reference) => resolve(root, pointer(root, reference)?, depth + 1),
        None => Ok(value),
    }
}

/// The value a local `$ref` (`#/components/schemas/Repo`) names; any other
/// reference is refused, never fetched.
fn pointer<'a>(root: &'a Value, reference: &str) -> Result<&'a Value, Error> {
    let Some(path) = reference.strip_prefix('#') else {
        return Err(spec_error(format!(
            "external $ref {:?} is not supported: a description must be self-contained (nothing is fetched)",
            truncate(reference, 100)
        )));
    };
    // RFC 6901 within the document; `~1` is `/`, `~0` is `~`. Percent
    // escapes are not decoded: such a name is simply not found.
    let mut node = root;
    for token in path.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        node = match node {
            Value::Object(map) => map.get(&token),
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        }
        .ok_or_else(|| {
            spec_error(format!(
                "$ref {:?} points at nothing",
                truncate(reference, 100)
            ))
        })?;
    }
    Ok(node)
}

/// The `{name}`s of a path template.
fn template_names(path: &str) -> Vec<&str> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .collect()
}

/// `get_repos_owner_repo` from `GET /repos/{owner}/{repo}`, or the
/// operationId with every character outside `[A-Za-z0-9_-]` made `_`;
/// at most 64 characters (what MCP clients accept).
fn tool_name(operation_id: Option<&str>, method: ReadMethod, path: &str) -> String {
    let raw = match operation_id {
        Some(id) if !id.trim().is_empty() => id.to_owned(),
        _ => format!(
            "{}_{}",
            method_name(method).to_ascii_lowercase(),
            path.replace(['{', '}'], "")
        ),
    };
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    while name.contains("__") {
        name = name.replace("__", "_");
    }
    let name = name.trim_matches('_');
    let name = if name.is_empty() { "operation" } else { name };
    name.chars().take(56).collect()
}

fn unique_name(base: &str, names: &mut std::collections::HashSet<String>) -> String {
    let mut name = base.to_owned();
    let mut n = 2;
    while !names.insert(name.to_ascii_lowercase()) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

/// An operation's input schema as an MCP tool takes it: one property per
/// parameter (a header and a query parameter of the same name are told
/// apart as `header.NAME`), required ones listed.
pub fn input_schema(op: &Operation) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for p in &op.params {
        let key = argument_name(op, p);
        let mut schema = p.schema.clone();
        if let (Some(d), Value::Object(map)) = (&p.description, &mut schema) {
            map.entry("description")
                .or_insert_with(|| Value::String(d.clone()));
        }
        if p.required {
            required.push(Value::String(key.clone()));
        }
        properties.insert(key, schema);
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// The argument name of a parameter in [`input_schema`].
pub fn argument_name(op: &Operation, param: &Param) -> String {
    let clash = op
        .params
        .iter()
        .any(|q| q.name == param.name && q.location != param.location);
    if clash && param.location == Location::Header {
        format!("header.{}", param.name)
    } else {
        param.name.clone()
    }
}

mod yaml;

#[cfg(test)]
mod tests;

//! An open REST connection: its enabled read operations and an HTTP client
//! pinned to the base URL's origin.
//!
//! Every request goes to the base URL's scheme, host and port, under its
//! path ([`super::request::prepare`] checks the built URL); the resolver
//! checks every address against the destination policy on every
//! connection; a redirect is followed only within the same origin (at most
//! five), and one to another origin is refused, so the credentials are only
//! ever sent to the origin the user saved. Bodies are read up to a byte
//! cap and the whole call up to the statement timeout.

use super::openapi::{self, Operation, ReadMethod};
use super::request::{Prepared, prepare};
use super::spec::{AuthKind, RestSpec};
use crate::{Error, OpenOptions, Schema, TestReport};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

/// Most redirects followed within the base origin.
const MAX_REDIRECTS: usize = 5;
/// Most bytes of an error answer's body passed on to the caller.
const ERROR_BODY: usize = 4 * 1024;

/// What discovery records of a REST connection: the description's title
/// and the operations enabled as tools (never a response).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct ApiSchema {
    pub title: String,
    pub version: String,
    /// The enabled read operations.
    pub operations: Vec<Operation>,
    /// Read operations in the description (enabled or not).
    pub read_operations: usize,
    /// Operations with another method, never callable.
    pub write_operations: usize,
}

impl ApiSchema {
    /// The enabled operation of this tool name or operationId.
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.tool == name).or_else(|| {
            self.operations
                .iter()
                .find(|o| o.operation_id.as_deref() == Some(name))
        })
    }
}

/// What one call returns, and what it cost.
#[derive(Debug, Clone)]
pub struct ApiAnswer {
    pub value: Value,
    /// Items, when the body is a JSON array.
    pub rows: Option<u64>,
    /// The audit's `query_hash` input ([`Prepared::hash_input`]).
    pub hash_input: String,
}

#[derive(Clone)]
pub struct RestSource {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    base: url::Url,
    schema: ApiSchema,
    auth: AuthKind,
    auth_name: String,
    token: Zeroizing<String>,
    test_operation: Option<String>,
}

/// Whether `op` is enabled by `rules` (`tag:NAME`, `path:PATTERN`, or an
/// operationId / tool name); every operation when there are none.
fn enabled(rules: &[String], op: &Operation) -> bool {
    rules.is_empty()
        || rules.iter().any(|rule| {
            let rule = rule.trim();
            if let Some(tag) = rule.strip_prefix("tag:") {
                op.tags.iter().any(|t| t.eq_ignore_ascii_case(tag.trim()))
            } else if let Some(pattern) = rule.strip_prefix("path:") {
                glob(pattern.trim(), &op.path)
            } else {
                op.operation_id.as_deref() == Some(rule) || op.tool == rule
            }
        })
}

/// `*` matches any run of characters; everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(after) = rest.strip_prefix(part) else {
                return false;
            };
            rest = after;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Reads the description and keeps the operations `spec` enables, with the
/// checks made at save: a `servers` entry at another origin is refused
/// (unless the base URL is meant to replace it), one at an address the
/// policy refuses always.
fn describe(spec: &RestSpec, options: &OpenOptions) -> Result<ApiSchema, Error> {
    let base = spec.base()?;
    let api = openapi::parse(spec.openapi.as_bytes())?;
    if let Some(server) = api.server.as_deref()
        && let Ok(url) = url::Url::parse(server)
        && url.has_host()
    {
        crate::http::check_literal(&url, &options.destinations).map_err(|e| match e {
            Error::Destination(why) => Error::Destination(format!(
                "the description's servers entry points at an address the policy refuses: {why}"
            )),
            other => other,
        })?;
        if !same_origin(&url, &base) && !spec.ignore_servers {
            return Err(Error::Destination(format!(
                "the description's servers entry is {}, not the base URL's origin {}; requests only ever go to the base URL (pass --ignore-spec-servers to use the base URL instead)",
                url.origin().ascii_serialization(),
                base.origin().ascii_serialization()
            )));
        }
    }
    let operations: Vec<Operation> = api
        .operations
        .iter()
        .filter(|op| enabled(&spec.enable, op))
        .cloned()
        .collect();
    if !spec.enable.is_empty() && operations.is_empty() {
        return Err(Error::Spec(
            "no read operation matches the enable rules (tag:NAME, path:/pattern/*, or an operationId)"
                .into(),
        ));
    }
    let schema = ApiSchema {
        title: api.title.clone(),
        version: api.version.clone(),
        operations,
        read_operations: api.operations.len(),
        write_operations: api.write_operations,
    };
    Ok(schema)
}

impl RestSource {
    /// Reads the description and builds the client. Sends nothing.
    pub fn open(spec: &RestSpec, options: &OpenOptions) -> Result<RestSource, Error> {
        spec.validate()?;
        if spec.token_secret.is_some() {
            return Err(Error::Spec(
                "the token refers to a named secret that was not resolved".into(),
            ));
        }
        let base = spec.base()?;
        crate::http::check_literal(&base, &options.destinations)?;
        let schema = describe(spec, options)?;
        let origin = base.clone();
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if same_origin(attempt.url(), &origin) {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let client = crate::http::client(
            crate::http::ClientSettings {
                https_only: !spec.allow_http,
                verify_tls: spec.verify_tls,
                ca_pem: spec.ca_pem.as_deref(),
                redirect,
            },
            options,
        )?;
        Ok(RestSource {
            inner: Arc::new(Inner {
                client,
                base,
                schema,
                auth: spec.auth,
                auth_name: spec.auth_name.clone().unwrap_or_default(),
                token: spec.token.clone().unwrap_or_default(),
                test_operation: spec.test_operation.clone(),
            }),
        })
    }

    pub fn schema(&self) -> &ApiSchema {
        &self.inner.schema
    }

    /// The enabled operation called `name`, or a clear error.
    pub fn operation(&self, name: &str) -> Result<&Operation, Error> {
        self.inner.schema.operation(name).ok_or_else(|| {
            Error::Usage(format!(
                "{name:?} is not an enabled operation of this connection; search_operations lists them"
            ))
        })
    }

    /// Checks and builds one call (nothing is sent).
    pub fn prepare(
        &self,
        name: &str,
        args: &Map<String, Value>,
    ) -> Result<(Prepared, String), Error> {
        let op = self.operation(name)?;
        let prepared = prepare(op, &self.inner.base, args)?;
        let hash_input = prepared.hash_input(&op.path);
        Ok((prepared, hash_input))
    }

    /// Calls operation `name` with `args`, reading at most `max_bytes` of
    /// the answer. `stop` abandons it.
    pub async fn call(
        &self,
        name: &str,
        args: &Map<String, Value>,
        max_bytes: usize,
        stop: &CancellationToken,
    ) -> Result<ApiAnswer, Error> {
        let (prepared, hash_input) = self.prepare(name, args)?;
        let (value, rows) = tokio::select! {
            answer = self.send(&prepared, max_bytes) => answer?,
            _ = stop.cancelled() => return Err(Error::Cancelled),
        };
        Ok(ApiAnswer {
            value,
            rows,
            hash_input,
        })
    }

    /// The request for `prepared`, with the connection's credentials.
    fn request(&self, prepared: &Prepared) -> Result<reqwest::RequestBuilder, Error> {
        let inner = &self.inner;
        let mut url = prepared.url.clone();
        if inner.auth == AuthKind::Query {
            url.query_pairs_mut()
                .append_pair(&inner.auth_name, &inner.token);
        }
        let method = match prepared.method {
            ReadMethod::Get => reqwest::Method::GET,
            ReadMethod::Head => reqwest::Method::HEAD,
        };
        let mut request = inner
            .client
            .request(method, url)
            .header("accept", "application/json, text/*;q=0.8, */*;q=0.5");
        for (name, value) in &prepared.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        Ok(match inner.auth {
            AuthKind::None | AuthKind::Query => request,
            AuthKind::Bearer => request.header(
                "authorization",
                sensitive(&format!("Bearer {}", inner.token.as_str()))?,
            ),
            AuthKind::Header => request.header(inner.auth_name.as_str(), sensitive(&inner.token)?),
            AuthKind::Basic => {
                let pair = Zeroizing::new(format!("{}:{}", inner.auth_name, inner.token.as_str()));
                let encoded = Zeroizing::new(
                    base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()),
                );
                request.header(
                    "authorization",
                    sensitive(&format!("Basic {}", encoded.as_str()))?,
                )
            }
        })
    }

    /// Sends `prepared` and returns a successful response; a redirect to
    /// another origin and an error status become errors.
    async fn response(&self, prepared: &Prepared) -> Result<reqwest::Response, Error> {
        let response = self
            .request(prepared)?
            .send()
            .await
            .map_err(crate::http::transport_error)?;
        let status = response.status();
        if status.is_redirection() {
            let to = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .and_then(|l| response.url().join(l).ok())
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_else(|| "elsewhere".to_owned());
            return Err(Error::Destination(format!(
                "the API redirected to {to}, another origin; a redirect is followed only within the base URL's origin"
            )));
        }
        if !status.is_success() {
            let (body, _) = crate::http::read_capped(response, ERROR_BODY).await?;
            let text = String::from_utf8_lossy(&body);
            let reason = status.canonical_reason().unwrap_or("");
            return Err(Error::Source {
                code: format!("http:{}", status.as_u16()),
                message: format!(
                    "the API answered {} {reason}: {}",
                    status.as_u16(),
                    text.chars()
                        .filter(|c| !c.is_control() || *c == '\n')
                        .collect::<String>()
                ),
                timeout: false,
            });
        }
        Ok(response)
    }

    /// The answer's JSON and, for a JSON array, its length.
    async fn send(
        &self,
        prepared: &Prepared,
        max_bytes: usize,
    ) -> Result<(Value, Option<u64>), Error> {
        let started = Instant::now();
        let response = self.response(prepared).await?;
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type");
        let declared = header("content-length").and_then(|s| s.parse::<u64>().ok());
        if prepared.method == ReadMethod::Head {
            return Ok((
                json!({
                    "status": status.as_u16(),
                    "content_type": content_type,
                    "content_length": declared,
                    "etag": header("etag"),
                    "last_modified": header("last-modified"),
                }),
                None,
            ));
        }
        let (body, more) = crate::http::read_capped(response, max_bytes).await?;
        let elapsed = started.elapsed().as_millis() as u64;
        let truncated = more || declared.is_some_and(|d| d > body.len() as u64);
        let kind = content_type.as_deref().unwrap_or("").to_ascii_lowercase();
        let is_json = kind.contains("json");
        let is_text = kind.starts_with("text/") || kind.contains("xml") || kind.is_empty();
        let mut rows = None;
        let mut value = json!({
            "status": status.as_u16(),
            "content_type": content_type,
            "bytes": body.len(),
            "truncated": truncated,
            "duration_ms": elapsed,
        });
        if is_json && !truncated {
            match serde_json::from_slice::<Value>(&body) {
                Ok(parsed) => {
                    if let Value::Array(items) = &parsed {
                        rows = Some(items.len() as u64);
                    }
                    value["body"] = parsed;
                }
                Err(_) => {
                    return Err(Error::Source {
                        code: "rest:InvalidJson".into(),
                        message: format!(
                            "the API said its answer is JSON ({kind}) but its {} bytes are not valid JSON",
                            body.len()
                        ),
                        timeout: false,
                    });
                }
            }
        } else if is_json || is_text {
            let text = match std::str::from_utf8(&body) {
                Ok(t) => t.to_owned(),
                // Cut mid-character by the cap: keep the whole characters.
                Err(e) if e.error_len().is_none() => {
                    String::from_utf8_lossy(&body[..e.valid_up_to()]).into_owned()
                }
                Err(_) => String::from_utf8_lossy(&body).into_owned(),
            };
            value["text"] = Value::String(text);
        } else {
            value["note"] = Value::String(format!(
                "a {kind} answer of {} bytes is not shown (only JSON and text are)",
                declared.unwrap_or(body.len() as u64)
            ));
        }
        if truncated {
            value["note"] = Value::String(format!(
                "the answer was cut at {max_bytes} bytes; ask for less (a page size, a filter)"
            ));
        }
        Ok((value, rows))
    }

    /// Calls the chosen test operation (or the first GET without required
    /// parameters) and reports its status and latency.
    pub async fn test(&self) -> Result<TestReport, Error> {
        let schema = &self.inner.schema;
        let chosen = match &self.inner.test_operation {
            Some(name) => Some(self.operation(name)?),
            None => schema
                .operations
                .iter()
                .find(|o| o.method == ReadMethod::Get && o.params.iter().all(|p| !p.required)),
        };
        let host = self.inner.base.host_str().unwrap_or_default().to_owned();
        let mut notes = vec![format!(
            "{} {} at {host}: {} read operations ({} enabled), {} write operations never callable",
            schema.title,
            schema.version,
            schema.read_operations,
            schema.operations.len(),
            schema.write_operations
        )];
        let started = Instant::now();
        if let Some(op) = chosen {
            // Reachability and credentials: the status, not the body.
            let (prepared, _) = self.prepare(&op.tool, &Map::new())?;
            let response = self.response(&prepared).await?;
            notes.push(format!(
                "{} {} answered {}",
                op.method.as_str(),
                op.path,
                response.status().as_u16()
            ));
        } else {
            notes.push(
                "no operation without required parameters to call; name one with --test-operation"
                    .into(),
            );
        }
        Ok(TestReport {
            version: notes.join("; "),
            latency_ms: started.elapsed().as_millis() as u64,
            // Only GET and HEAD can be sent, whatever the token allows.
            privileges: Vec::new(),
            read_only_grants: "Give the connection a token that can only read (a read-only scope or role), if the API offers one.".into(),
        })
    }

    pub fn discover(&self) -> Schema {
        Schema {
            api: Some(self.inner.schema.clone()),
            ..Schema::default()
        }
    }
}

/// A header value marked sensitive (kept out of reqwest's debug output).
fn sensitive(text: &str) -> Result<reqwest::header::HeaderValue, Error> {
    let mut value = reqwest::header::HeaderValue::from_str(text)
        .map_err(|_| Error::Spec("the token cannot be sent in a header".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_rules_pick_by_tag_path_or_id() {
        let op = Operation {
            tool: "repos_get".into(),
            operation_id: Some("repos/get".into()),
            method: ReadMethod::Get,
            path: "/repos/{owner}/{repo}".into(),
            summary: String::new(),
            tags: vec!["repos".into()],
            params: vec![],
            response: None,
        };
        let rules = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(enabled(&[], &op));
        assert!(enabled(&rules(&["tag:Repos"]), &op));
        assert!(enabled(&rules(&["path:/repos/*"]), &op));
        assert!(enabled(&rules(&["path:/repos/*/{repo}"]), &op));
        assert!(enabled(&rules(&["repos/get"]), &op));
        assert!(!enabled(&rules(&["tag:users", "path:/users/*"]), &op));
        assert!(!enabled(&rules(&["path:/repo"]), &op));
    }
}

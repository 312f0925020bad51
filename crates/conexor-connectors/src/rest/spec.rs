//! The plaintext REST connection spec: what the client seals (format v1)
//! and the server or agent opens in memory. It carries the OpenAPI
//! description itself, so that what the tools are built from is what was
//! saved (refreshing the connection re-reads it, never a URL the server
//! would fetch). Its `Debug` is redacted and the token is zeroized on drop.

use crate::Error;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// How requests authenticate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `<auth_name>: <token>` (an API-key header such as `X-API-Key`).
    Header,
    /// `?<auth_name>=<token>` (an API-key query parameter).
    Query,
    /// `Authorization: Basic base64(<auth_name>:<token>)`.
    Basic,
}

impl AuthKind {
    pub fn parse(text: &str) -> Option<AuthKind> {
        Some(match text {
            "none" => AuthKind::None,
            "bearer" => AuthKind::Bearer,
            "header" | "api_key_header" => AuthKind::Header,
            "query" | "api_key_query" => AuthKind::Query,
            "basic" => AuthKind::Basic,
            _ => return None,
        })
    }
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestSpec {
    /// `https://api.example.com/v1`: every request goes to this scheme,
    /// host and port, under this path.
    pub base_url: String,
    /// The OpenAPI 3.0/3.1 description, as JSON or YAML text.
    pub openapi: String,
    #[serde(default)]
    pub auth: AuthKind,
    /// The header or query parameter that carries the key, or the basic
    /// auth user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_name: Option<String>,
    /// The token, API key or basic auth password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Zeroizing<String>>,
    /// The token is the named Secret of this name, resolved by the server
    /// when the connection is opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret: Option<String>,
    /// Which read operations become tools: `tag:NAME`, `path:/repos/*`
    /// (`*` matches any run of characters) or an operationId. Empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enable: Vec<String>,
    /// The operation test-before-save calls (a tool name or operationId);
    /// the first GET without required parameters when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_operation: Option<String>,
    /// Check the server's certificate (off only for self-signed ones).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub verify_tls: bool,
    /// PEM of a CA that signs the server's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// Allow an `http://` base URL (local test servers); refused otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_http: bool,
    /// The base URL replaces the description's `servers` entry when they
    /// differ (a staging server, a mirror); refused otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_servers: bool,
}

fn yes() -> bool {
    true
}

fn is_true(v: &bool) -> bool {
    *v
}

impl std::fmt::Debug for RestSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RestSpec([redacted])")
    }
}

/// Headers a parameter or an API-key name may not set: the connection's
/// own framing, routing and credentials.
pub(crate) const RESERVED_HEADERS: &[&str] = &[
    "host",
    "authorization",
    "proxy-authorization",
    "cookie",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "keep-alive",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
];

/// An HTTP header name (RFC 9110 token).
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl RestSpec {
    /// The base URL, checked: http(s) only, `http` only with `allow_http`,
    /// no user info, query or fragment; its path ends with `/`.
    pub fn base(&self) -> Result<url::Url, Error> {
        let text = self.base_url.trim();
        let mut url = url::Url::parse(text)
            .map_err(|_| Error::Spec(format!("the base URL {text:?} is not a URL")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(Error::Spec(
                    "the base URL is plain http: pass --allow-http (local test servers only) or use https".into(),
                ));
            }
            other => {
                return Err(Error::Spec(format!(
                    "the base URL's scheme {other:?} is not http(s)"
                )));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::Spec("the base URL names no host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Spec(
                "the base URL may not carry a user or password; use --auth".into(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::Spec(
                "the base URL may not carry a query or fragment".into(),
            ));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(url)
    }

    /// The named Secrets the spec references, as `(field, secret name)`.
    pub fn secret_refs(&self) -> Vec<(String, String)> {
        self.token_secret
            .iter()
            .map(|name| ("token".to_owned(), name.clone()))
            .collect()
    }

    pub fn validate(&self) -> Result<(), Error> {
        self.base()?;
        if self.openapi.trim().is_empty() {
            return Err(Error::Spec("the spec holds no OpenAPI description".into()));
        }
        if self.token.is_some() && self.token_secret.is_some() {
            return Err(Error::Spec(
                "give either a token or a token secret, not both".into(),
            ));
        }
        let name = self.auth_name.as_deref().unwrap_or_default();
        let has_token = self.token.is_some() || self.token_secret.is_some();
        match self.auth {
            AuthKind::None if has_token => {
                return Err(Error::Spec(
                    "a token was given but --auth is none: say bearer, header, query or basic"
                        .into(),
                ));
            }
            AuthKind::None => {}
            _ if !has_token => {
                return Err(Error::Spec(format!(
                    "--auth {} needs a token (or a token secret)",
                    serde_json::to_value(self.auth)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                )));
            }
            AuthKind::Bearer => {}
            AuthKind::Header => {
                if !is_token(name) {
                    return Err(Error::Spec(
                        "--auth header needs the header's name (--auth-name X-API-Key)".into(),
                    ));
                }
                if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                    return Err(Error::Spec(format!(
                        "{name:?} cannot carry an API key; use --auth bearer or basic"
                    )));
                }
            }
            AuthKind::Query => {
                if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
                    return Err(Error::Spec(
                        "--auth query needs the parameter's name (--auth-name api_key)".into(),
                    ));
                }
            }
            AuthKind::Basic => {
                if name.contains(':') || name.chars().any(char::is_control) {
                    return Err(Error::Spec(
                        "the basic auth user name may not hold ':' or control characters".into(),
                    ));
                }
            }
        }
        if let Some(token) = &self.token
            && token.bytes().any(|b| !(0x20..0x7f).contains(&b))
        {
            return Err(Error::Spec(
                "the token holds characters an HTTP header cannot carry".into(),
            ));
        }
        for rule in &self.enable {
            if rule.trim().is_empty() || rule.chars().any(char::is_control) {
                return Err(Error::Spec(format!("{rule:?} is not an enable rule")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(base: &str) -> RestSpec {
        RestSpec {
            base_url: base.into(),
            openapi: "{}".into(),
            ..Default::default()
        }
    }

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(
            spec("https://api.example.com/v1").base().unwrap().as_str(),
            "https://api.example.com/v1/"
        );
        assert!(spec("http://127.0.0.1:8080").base().is_err());
        let local = RestSpec {
            allow_http: true,
            ..spec("http://127.0.0.1:8080")
        };
        assert!(local.validate().is_ok());
        for bad in [
            "ftp://x",
            "https://u:p@x",
            "https://x/?a=b",
            "https://x/#f",
            "not a url",
        ] {
            assert!(spec(bad).validate().is_err(), "{bad}");
        }
        assert_eq!(format!("{:?}", spec("https://x")), "RestSpec([redacted])");
    }

    #[test]
    fn auth_needs_what_it_sends() {
        let with = |auth, name: Option<&str>, token: Option<&str>| RestSpec {
            auth,
            auth_name: name.map(str::to_owned),
            token: token.map(|t| Zeroizing::new(t.to_owned())),
            ..spec("https://x")
        };
        assert!(with(AuthKind::Bearer, None, Some("t")).validate().is_ok());
        assert!(with(AuthKind::Bearer, None, None).validate().is_err());
        assert!(with(AuthKind::None, None, Some("t")).validate().is_err());
        assert!(
            with(AuthKind::Header, Some("X-API-Key"), Some("t"))
                .validate()
                .is_ok()
        );
        assert!(
            with(AuthKind::Header, Some("Host"), Some("t"))
                .validate()
                .is_err()
        );
        assert!(
            with(AuthKind::Header, Some("X Key"), Some("t"))
                .validate()
                .is_err()
        );
        assert!(
            with(AuthKind::Bearer, None, Some("t\r\nX: y"))
                .validate()
                .is_err()
        );
        assert!(
            with(AuthKind::Basic, Some("a:b"), Some("t"))
                .validate()
                .is_err()
        );
    }
}

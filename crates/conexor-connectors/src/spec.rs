//! The plaintext connection spec: what the client encrypts and the server
//! opens in memory for one request. Its `Debug` is redacted and its password
//! is zeroized on drop; the drivers keep their own copies of the password in
//! their connect options, which this crate cannot zeroize.

use crate::Error;
use conexor_types::ConnectionKind;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(text: &str) -> Option<SslMode> {
        match text.to_ascii_lowercase().replace('_', "-").as_str() {
            "disable" | "disabled" | "false" => Some(SslMode::Disable),
            "prefer" | "preferred" => Some(SslMode::Prefer),
            "require" | "required" | "true" => Some(SslMode::Require),
            "verify-ca" => Some(SslMode::VerifyCa),
            "verify-full" | "verify-identity" => Some(SslMode::VerifyFull),
            _ => None,
        }
    }
}

/// SQL Server's `Encrypt`: `off` encrypts only the login, `on` (the
/// default) everything after the pre-login, `strict` (TDS 8.0) everything
/// from the first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encrypt {
    Off,
    On,
    Strict,
}

impl Encrypt {
    pub fn parse(text: &str) -> Option<Encrypt> {
        match text.to_ascii_lowercase().as_str() {
            "off" | "false" | "no" | "optional" => Some(Encrypt::Off),
            "on" | "true" | "yes" | "mandatory" => Some(Encrypt::On),
            "strict" => Some(Encrypt::Strict),
            _ => None,
        }
    }
}

/// Everything about a connection except its name, kind and mode — all of it
/// secret, all of it encrypted by the client (DESIGN §4).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Zeroizing<String>>,
    /// The password is the named Secret of this name (`conexor secrets`),
    /// resolved by the server with the caller's key when the connection is
    /// opened; a spec is never opened with it unresolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<String>,
    #[serde(default)]
    pub ssl_mode: SslMode,
    /// PEM of the CA that signs the server's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_ca_pem: Option<String>,
    /// SQLite: the database file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// User-defined functions the connection's admin allows queries to call
    /// (`name` or `schema.name`): an opt-in that says they have no side effects.
    /// See `conexor_guard::FunctionPolicy`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_functions: Vec<String>,
    /// SQL Server: encryption (`on` when absent). `ssl_ca_pem` is the CA
    /// that signs the server's certificate, as for the other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypt: Option<Encrypt>,
    /// SQL Server: accept any certificate (self-signed servers only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trust_server_certificate: bool,
    /// SQL Server: `ApplicationIntent=ReadOnly` (the default, `true`), which
    /// an availability group routes to a readable secondary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_intent: Option<bool>,
}

impl std::fmt::Debug for ConnectionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectionSpec([redacted])")
    }
}

impl ConnectionSpec {
    /// The guard policy made of [`ConnectionSpec::allow_functions`].
    pub fn function_policy(&self) -> Result<conexor_guard::FunctionPolicy, Error> {
        conexor_guard::FunctionPolicy::new(&self.allow_functions).map_err(Error::Spec)
    }

    /// Parses a connection URL: `postgres://user:pass@host:5432/db?sslmode=require`,
    /// `mysql://…`, `mariadb://…`, `sqlite:///abs/path.db` or `sqlite:relative.db`.
    pub fn from_url(text: &str) -> Result<(ConnectionKind, ConnectionSpec), Error> {
        if let Some(rest) = text.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(Error::Spec("a sqlite URL needs a file path".into()));
            }
            let spec = ConnectionSpec {
                path: Some(path.to_owned()),
                ..Default::default()
            };
            return Ok((ConnectionKind::Sqlite, spec));
        }
        let url =
            url::Url::parse(text).map_err(|_| Error::Spec("not a valid connection URL".into()))?;
        let kind = match url.scheme() {
            "postgres" | "postgresql" => ConnectionKind::Postgresql,
            "mysql" | "mariadb" => ConnectionKind::Mysql,
            other => {
                return Err(Error::Spec(format!(
                    "unsupported URL scheme {other:?}: use postgres://, mysql://, mariadb:// or sqlite:"
                )));
            }
        };
        let decode = |s: &str| -> Result<String, Error> {
            percent_decode(s).ok_or_else(|| Error::Spec("invalid percent-encoding in URL".into()))
        };
        let mut spec = ConnectionSpec {
            host: url
                .host_str()
                .map(|h| h.trim_matches(['[', ']']).to_owned()),
            port: url.port(),
            ..Default::default()
        };
        if !url.username().is_empty() {
            spec.username = Some(decode(url.username())?);
        }
        if let Some(pw) = url.password() {
            spec.password = Some(Zeroizing::new(decode(pw)?));
        }
        let db = url.path().trim_start_matches('/');
        if !db.is_empty() {
            spec.database = Some(decode(db)?);
        }
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "sslmode" | "ssl-mode" | "ssl_mode" => {
                    spec.ssl_mode = SslMode::parse(&v)
                        .ok_or_else(|| Error::Spec(format!("unknown sslmode {v:?}")))?;
                }
                _ => {}
            }
        }
        spec.validate(kind)?;
        Ok((kind, spec))
    }

    /// The named Secrets the spec references, as `(field, secret name)`.
    pub fn secret_refs(&self) -> Vec<(String, String)> {
        self.password_secret
            .iter()
            .map(|name| ("password".to_owned(), name.clone()))
            .collect()
    }

    /// Checks that the fields a kind needs are present.
    pub fn validate(&self, kind: ConnectionKind) -> Result<(), Error> {
        if self.password.is_some() && self.password_secret.is_some() {
            return Err(Error::Spec(
                "give either a password or a password secret, not both".into(),
            ));
        }
        let sqlserver_only = self.encrypt.is_some()
            || self.trust_server_certificate
            || self.read_only_intent.is_some();
        if sqlserver_only && kind != ConnectionKind::Sqlserver {
            return Err(Error::Spec(
                "encrypt, trust_server_certificate and read_only_intent are sql server fields; use ssl_mode for this kind".into(),
            ));
        }
        if kind == ConnectionKind::Sqlserver && self.ssl_mode != SslMode::default() {
            return Err(Error::Spec(
                "a sql server connection sets encrypt (off, on, strict) and trust_server_certificate, not ssl_mode".into(),
            ));
        }
        match kind {
            ConnectionKind::Sqlite => {
                if self.path.as_deref().unwrap_or_default().is_empty() {
                    return Err(Error::Spec("a sqlite connection needs a file path".into()));
                }
            }
            ConnectionKind::S3 => {
                return Err(Error::Spec(
                    "an s3 connection has its own fields (access key, endpoint, …), not a database's".into(),
                ));
            }
            ConnectionKind::Kafka => {
                return Err(Error::Spec(
                    "a kafka connection has its own fields (bootstrap servers, security protocol, SASL), not a database's".into(),
                ));
            }
            ConnectionKind::Rest => {
                return Err(Error::Spec(
                    "a rest connection has its own fields (base URL, OpenAPI description, auth), not a database's".into(),
                ));
            }
            ConnectionKind::Postgresql | ConnectionKind::Mysql | ConnectionKind::Sqlserver => {
                if self.host.as_deref().unwrap_or_default().is_empty() {
                    return Err(Error::Spec("a host is required".into()));
                }
                if self.username.as_deref().unwrap_or_default().is_empty() {
                    return Err(Error::Spec("a user name is required".into()));
                }
            }
        }
        Ok(())
    }
}

/// The plaintext spec of a connection of any kind: a database's, or an
/// object store's. What the client seals is its JSON; the kind, stored in
/// clear beside it, says which shape to read.
#[derive(Clone)]
pub enum SourceSpec {
    Sql(ConnectionKind, ConnectionSpec),
    S3(crate::s3::S3Spec),
    Rest(crate::rest::RestSpec),
    Kafka(crate::kafka::KafkaSpec),
}

impl std::fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceSpec([redacted])")
    }
}

impl SourceSpec {
    /// Reads a spec's JSON as the shape of `kind`. The error names no value.
    pub fn from_json(kind: ConnectionKind, json: &[u8]) -> Result<SourceSpec, Error> {
        let invalid = |e: serde_json::Error| {
            // serde's message can quote a value (a password, a number); only
            // the name of an unknown or missing field is kept.
            let text = e.to_string();
            let field = (text.starts_with("unknown field") || text.starts_with("missing field"))
                .then(|| text.split('`').nth(1))
                .flatten()
                .filter(|f| {
                    f.len() < 64 && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                });
            Error::Spec(match field {
                Some(f) if text.starts_with("unknown") => {
                    format!("not a valid {kind} spec (unknown field `{f}`)")
                }
                Some(f) => format!("not a valid {kind} spec (missing field `{f}`)"),
                None => format!("not a valid {kind} spec"),
            })
        };
        Ok(match kind {
            ConnectionKind::S3 => SourceSpec::S3(serde_json::from_slice(json).map_err(invalid)?),
            ConnectionKind::Rest => {
                SourceSpec::Rest(serde_json::from_slice(json).map_err(invalid)?)
            }
            ConnectionKind::Kafka => {
                SourceSpec::Kafka(serde_json::from_slice(json).map_err(invalid)?)
            }
            sql => SourceSpec::Sql(sql, serde_json::from_slice(json).map_err(invalid)?),
        })
    }

    pub fn kind(&self) -> ConnectionKind {
        match self {
            SourceSpec::Sql(kind, _) => *kind,
            SourceSpec::S3(_) => ConnectionKind::S3,
            SourceSpec::Rest(_) => ConnectionKind::Rest,
            SourceSpec::Kafka(_) => ConnectionKind::Kafka,
        }
    }

    /// The named Secrets the spec references, as `(field, secret name)`.
    pub fn secret_refs(&self) -> Vec<(String, String)> {
        match self {
            SourceSpec::Sql(_, spec) => spec.secret_refs(),
            SourceSpec::S3(spec) => spec.secret_refs(),
            SourceSpec::Rest(spec) => spec.secret_refs(),
            SourceSpec::Kafka(spec) => spec.secret_refs(),
        }
    }

    /// Puts each referenced secret's value in its field. `value` opens the
    /// secret of a name.
    pub async fn resolve<F, Fut, E>(&mut self, mut value: F) -> Result<(), E>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = Result<Zeroizing<String>, E>>,
    {
        match self {
            SourceSpec::Sql(_, spec) => {
                if let Some(name) = spec.password_secret.take() {
                    spec.password = Some(value(name).await?);
                }
            }
            SourceSpec::S3(spec) => {
                if let Some(name) = spec.secret_access_key_secret.take() {
                    spec.secret_access_key = Some(value(name).await?);
                }
            }
            SourceSpec::Rest(spec) => {
                if let Some(name) = spec.token_secret.take() {
                    spec.token = Some(value(name).await?);
                }
            }
            SourceSpec::Kafka(spec) => {
                if let Some(name) = spec.password_secret.take() {
                    spec.password = Some(value(name).await?);
                }
                if let Some(name) = spec.schema_registry_password_secret.take() {
                    spec.schema_registry_password = Some(value(name).await?);
                }
            }
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), Error> {
        match self {
            SourceSpec::Sql(kind, spec) => spec.validate(*kind),
            SourceSpec::S3(spec) => spec.validate(),
            SourceSpec::Rest(spec) => spec.validate(),
            SourceSpec::Kafka(spec) => spec.validate(),
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_errors_name_fields_never_values() {
        let err = |json: &str, kind| {
            SourceSpec::from_json(kind, json.as_bytes())
                .unwrap_err()
                .to_string()
        };
        let e = err(
            r#"{"host": "h", "pasword": "hunter2"}"#,
            ConnectionKind::Postgresql,
        );
        assert!(e.contains("unknown field `pasword`"), "{e}");
        let e = err(
            r#"{"host": "h", "port": "hunter2"}"#,
            ConnectionKind::Postgresql,
        );
        assert!(!e.contains("hunter2"), "{e}");
        let e = err(r#"{"host": "h", "port": 99999999}"#, ConnectionKind::Mysql);
        assert!(!e.contains("99999999"), "{e}");
        let e = err(r#"{"secret_access_key": "hunter2"}"#, ConnectionKind::S3);
        assert!(
            e.contains("missing field `access_key_id`") && !e.contains("hunter2"),
            "{e}"
        );
        let ok = br#"{"access_key_id":"a","secret_access_key":"b"}"#;
        assert!(SourceSpec::from_json(ConnectionKind::S3, ok).is_ok());
    }

    #[test]
    fn parses_urls() {
        let (kind, spec) =
            ConnectionSpec::from_url("postgres://u%40x:p%2Fw@db.example:6543/shop?sslmode=require")
                .unwrap();
        assert_eq!(kind, ConnectionKind::Postgresql);
        assert_eq!(spec.username.as_deref(), Some("u@x"));
        assert_eq!(spec.password.as_deref().map(|s| s.as_str()), Some("p/w"));
        assert_eq!(spec.port, Some(6543));
        assert_eq!(spec.database.as_deref(), Some("shop"));
        assert_eq!(spec.ssl_mode, SslMode::Require);
        let (kind, spec) = ConnectionSpec::from_url("sqlite:///tmp/x.db").unwrap();
        assert_eq!(kind, ConnectionKind::Sqlite);
        assert_eq!(spec.path.as_deref(), Some("/tmp/x.db"));
        assert!(ConnectionSpec::from_url("redis://x").is_err());
        assert!(ConnectionSpec::from_url("postgres://host/db").is_err());
        assert_eq!(format!("{spec:?}"), "ConnectionSpec([redacted])");
    }
}

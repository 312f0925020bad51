//! The plaintext S3 connection spec: what the client seals (format v1) and
//! the server or agent opens in memory. Its `Debug` is redacted and its
//! secret key is zeroized on drop.

use crate::Error;
use conexor_types::objects::{BucketName, ObjectPrefix};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Spec {
    pub access_key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<Zeroizing<String>>,
    /// The secret access key is the named Secret of this name, resolved by
    /// the server when the connection is opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key_secret: Option<String>,
    /// Default `us-east-1` (what MinIO, moto and most compatibles accept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `https://minio.internal:9000`, `http://127.0.0.1:5000`, …; AWS's
    /// regional endpoint when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// `/bucket/key` rather than `bucket.host/key`; the default when an
    /// endpoint is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_style: Option<bool>,
    /// Check the endpoint's certificate (off only for self-signed ones).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub verify_tls: bool,
    /// PEM of a CA that signs the endpoint's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// Allow an `http://` endpoint (a local MinIO); refused otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_http: bool,
    /// `bucket` or `bucket/prefix`: the only places reads may go. Empty:
    /// every bucket the credentials can read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
}

fn yes() -> bool {
    true
}

fn is_true(v: &bool) -> bool {
    *v
}

impl std::fmt::Debug for S3Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3Spec([redacted])")
    }
}

/// One entry of the allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub bucket: BucketName,
    pub prefix: ObjectPrefix,
}

impl Scope {
    pub fn parse(text: &str) -> Result<Scope, Error> {
        let (bucket, prefix) = text.split_once('/').unwrap_or((text, ""));
        let bucket = BucketName::parse(bucket)
            .map_err(|e| Error::Spec(format!("allowed bucket {bucket:?}: {e}")))?;
        let prefix = ObjectPrefix::parse(prefix)
            .map_err(|e| Error::Spec(format!("allowed prefix {prefix:?}: {e}")))?;
        Ok(Scope { bucket, prefix })
    }
}

impl S3Spec {
    pub fn region(&self) -> &str {
        self.region
            .as_deref()
            .filter(|r| !r.is_empty())
            .unwrap_or("us-east-1")
    }

    /// The endpoint URL, checked: http(s) only, no user info, path, query or
    /// fragment; `http` only with `allow_http`.
    pub fn endpoint_url(&self) -> Result<url::Url, Error> {
        let text = match &self.endpoint {
            Some(e) if !e.trim().is_empty() => e.trim().to_owned(),
            _ => {
                let region = self.region();
                if !region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                {
                    return Err(Error::Spec(format!("{region:?} is not an AWS region name")));
                }
                format!("https://s3.{region}.amazonaws.com")
            }
        };
        let url = url::Url::parse(&text)
            .map_err(|_| Error::Spec(format!("the endpoint {text:?} is not a URL")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(Error::Spec(
                    "the endpoint is plain http: pass --allow-http (local test servers only) or use https".into(),
                ));
            }
            other => {
                return Err(Error::Spec(format!(
                    "the endpoint's scheme {other:?} is not http(s)"
                )));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Spec(
                "the endpoint URL may not carry a user or password".into(),
            ));
        }
        if url.host_str().unwrap_or_default().is_empty() {
            return Err(Error::Spec("the endpoint needs a host".into()));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(Error::Spec(
                "the endpoint is a scheme, host and port only (no path or query)".into(),
            ));
        }
        Ok(url)
    }

    pub fn path_style(&self) -> bool {
        self.path_style.unwrap_or(self.endpoint.is_some())
    }

    pub fn scopes(&self) -> Result<Vec<Scope>, Error> {
        self.allow.iter().map(|s| Scope::parse(s)).collect()
    }

    /// The named Secrets the spec references, as `(field, secret name)`.
    pub fn secret_refs(&self) -> Vec<(String, String)> {
        self.secret_access_key_secret
            .iter()
            .map(|name| ("secret_access_key".to_owned(), name.clone()))
            .collect()
    }

    pub fn validate(&self) -> Result<(), Error> {
        if self.access_key_id.trim().is_empty() {
            return Err(Error::Spec("an access key id is required".into()));
        }
        match (&self.secret_access_key, &self.secret_access_key_secret) {
            (Some(_), Some(_)) => {
                return Err(Error::Spec(
                    "give either a secret access key or a secret access key secret, not both"
                        .into(),
                ));
            }
            (None, None) => return Err(Error::Spec("a secret access key is required".into())),
            _ => {}
        }
        if self.ca_pem.is_some() && !self.verify_tls {
            return Err(Error::Spec(
                "a CA certificate and verify_tls = false contradict each other".into(),
            ));
        }
        self.endpoint_url()?;
        self.scopes()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(endpoint: &str) -> S3Spec {
        S3Spec {
            access_key_id: "AK".into(),
            secret_access_key: Some(Zeroizing::new("sk".into())),
            endpoint: Some(endpoint.into()),
            ..Default::default()
        }
    }

    #[test]
    fn endpoints_are_checked() {
        assert!(spec("https://minio.example:9000").validate().is_ok());
        assert!(spec("http://127.0.0.1:5000").validate().is_err());
        let mut local = spec("http://127.0.0.1:5000");
        local.allow_http = true;
        assert!(local.validate().is_ok());
        assert!(local.path_style());
        for bad in [
            "ftp://x",
            "https://u:p@x",
            "https://x/path",
            "https://x/?a=b",
            "not a url",
        ] {
            assert!(spec(bad).validate().is_err(), "{bad}");
        }
        let aws = S3Spec {
            endpoint: None,
            region: Some("eu-west-1".into()),
            ..spec("")
        };
        assert_eq!(
            aws.endpoint_url().unwrap().as_str(),
            "https://s3.eu-west-1.amazonaws.com/"
        );
        assert!(!aws.path_style());
        let evil = S3Spec {
            endpoint: None,
            region: Some("x.evil.com/".into()),
            ..spec("")
        };
        assert!(evil.endpoint_url().is_err());
    }

    #[test]
    fn scopes_parse() {
        let s = Scope::parse("cx-data/reports/").unwrap();
        assert_eq!(s.bucket.as_str(), "cx-data");
        assert_eq!(s.prefix.as_str(), "reports/");
        assert!(Scope::parse("Bad_Bucket").is_err());
        assert!(Scope::parse("cx-data/../x").is_err());
        assert_eq!(format!("{:?}", spec("https://x")), "S3Spec([redacted])");
    }
}

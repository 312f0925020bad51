//! The HTTP layer of the S3 connector: signed `GET` and `HEAD` only.
//!
//! [`ReadMethod`] has no other variant, and nothing here builds a body or a
//! query-string signature: writes and presigned URLs cannot be expressed.
//! The client never follows a redirect (a 3xx is refused as a destination
//! error), ignores proxy variables, and resolves names through
//! [`PolicyResolver`], which checks every address it returns against the
//! destination policy — on every connection, so a DNS answer that changes
//! after the connection was saved (rebinding) is still refused. Bodies are
//! read as a stream and stopped at a byte cap: a server that ignores `Range`
//! cannot make the connector read more than it asked for.

use super::sigv4::{self, Credentials, Signable};
use crate::Error;
use crate::error::ConnectFailure;
pub(crate) use crate::http::{read_capped, transport_error};
use conexor_types::objects::BucketName;

/// The only methods the connector sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadMethod {
    Get,
    Head,
}

impl ReadMethod {
    fn as_str(self) -> &'static str {
        match self {
            ReadMethod::Get => "GET",
            ReadMethod::Head => "HEAD",
        }
    }
}

/// Where requests go and how they are signed.
pub(crate) struct Endpoint {
    pub client: reqwest::Client,
    /// Scheme, host and port only.
    pub base: url::Url,
    pub path_style: bool,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: zeroize::Zeroizing<String>,
}

/// The bytes a `GET` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// From `first` to `last`, inclusive.
    Span { first: u64, last: u64 },
    /// The object's last bytes (its size comes back with them).
    Tail(u64),
}

/// One request to make.
pub(crate) struct Request<'a> {
    pub method: ReadMethod,
    /// None: the service itself (`ListBuckets`).
    pub bucket: Option<&'a BucketName>,
    /// Empty: the bucket itself.
    pub key: &'a str,
    pub query: Vec<(&'static str, String)>,
    /// First and last byte, inclusive.
    pub range: Option<ByteRange>,
    /// The object's ETag as an earlier read answered it: the store refuses
    /// the read (412) if the object has changed since.
    pub if_match: Option<&'a str>,
}

impl Endpoint {
    /// Sends `request`, signed, and returns a successful response; any
    /// other status becomes an [`Error`] built from S3's error code.
    pub(crate) async fn send(&self, request: &Request<'_>) -> Result<reqwest::Response, Error> {
        let (url, host) = self.url(request)?;
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let mut headers: Vec<(&str, String)> = vec![
            ("host", host),
            (
                "x-amz-content-sha256",
                sigv4::EMPTY_PAYLOAD_SHA256.to_owned(),
            ),
            ("x-amz-date", amz_date.clone()),
        ];
        match request.range {
            Some(ByteRange::Span { first, last }) => {
                headers.push(("range", format!("bytes={first}-{last}")))
            }
            Some(ByteRange::Tail(len)) => headers.push(("range", format!("bytes=-{len}"))),
            None => {}
        }
        if let Some(etag) = request.if_match {
            headers.push(("if-match", etag.to_owned()));
        }
        let canonical_query = url.query().unwrap_or_default().to_owned();
        let authorization = sigv4::authorization(
            &Signable {
                method: request.method.as_str(),
                canonical_uri: url.path(),
                canonical_query: &canonical_query,
                headers: &headers,
            },
            &Credentials {
                access_key_id: &self.access_key_id,
                secret_access_key: &self.secret_access_key,
                region: &self.region,
            },
            &amz_date,
        );
        let method = match request.method {
            ReadMethod::Get => reqwest::Method::GET,
            ReadMethod::Head => reqwest::Method::HEAD,
        };
        let mut builder = self.client.request(method, url);
        for (name, value) in &headers {
            if *name != "host" {
                builder = builder.header(*name, value);
            }
        }
        let response = builder
            .header("authorization", authorization)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status.is_redirection() {
            // AWS answers a request signed for the wrong region with a 301
            // naming the bucket's region: say so instead of following it.
            if let Some(region) = response
                .headers()
                .get("x-amz-bucket-region")
                .and_then(|v| v.to_str().ok())
                .filter(|r| valid_region(r))
            {
                return Err(Error::Source {
                    code: "s3:WrongRegion".into(),
                    message: format!(
                        "the bucket is in region {region}; set the connection's region to it (--region {region})"
                    ),
                    timeout: false,
                });
            }
            return Err(Error::Destination(
                "the object store answered with a redirect, which is never followed".into(),
            ));
        }
        Err(status_error(request.method, response).await)
    }

    /// The request's URL and its `Host` header, checked to be exactly what
    /// is signed: the URL parser must not have folded the key's path.
    fn url(&self, request: &Request<'_>) -> Result<(url::Url, String), Error> {
        let base_host = self.base.host_str().unwrap_or_default();
        let port = self
            .base
            .port()
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        let key = sigv4::uri_encode(request.key, true);
        let (host, path) = match request.bucket {
            None => (base_host.to_owned(), "/".to_owned()),
            // A bucket with dots does not match the store's wildcard
            // certificate as a host name: address it by path.
            Some(bucket) if self.path_style || bucket.as_str().contains('.') => (
                base_host.to_owned(),
                if request.key.is_empty() {
                    format!("/{bucket}")
                } else {
                    format!("/{bucket}/{key}")
                },
            ),
            Some(bucket) => (format!("{bucket}.{base_host}"), format!("/{key}")),
        };
        let query = sigv4::canonical_query(&request.query);
        let text = format!(
            "{}://{host}{port}{path}{}{query}",
            self.base.scheme(),
            if query.is_empty() { "" } else { "?" }
        );
        let url = url::Url::parse(&text)
            .map_err(|_| Error::Usage("the object key does not make a valid URL".into()))?;
        if url.path() != path || url.query().unwrap_or_default() != query {
            return Err(Error::Usage(
                "the object key would be sent as another path; it cannot be read".into(),
            ));
        }
        Ok((url, format!("{host}{port}")))
    }
}

/// An AWS region name: lower-case letters, digits and dashes.
fn valid_region(text: &str) -> bool {
    (2..=32).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The error a non-2xx answer means. S3's `<Code>` decides; its
/// `<Message>` is not passed on (it may quote a request's header values).
async fn status_error(method: ReadMethod, response: reqwest::Response) -> Error {
    let status = response.status().as_u16();
    let code = if method == ReadMethod::Head {
        None
    } else {
        match read_capped(response, 16 * 1024).await {
            Ok((body, _)) => error_code(&body),
            Err(e) => return e,
        }
    };
    let code = code.unwrap_or_else(|| match status {
        404 => "NoSuchKey".to_owned(),
        403 => "AccessDenied".to_owned(),
        416 => "InvalidRange".to_owned(),
        412 => "PreconditionFailed".to_owned(),
        other => format!("http_{other}"),
    });
    error_for_code(code)
}

/// The error an S3 error code means, in words a user can act on.
fn error_for_code(code: String) -> Error {
    let message = match code.as_str() {
        "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidToken" | "ExpiredToken" => {
            return Error::Connect {
                failure: ConnectFailure::Auth,
            };
        }
        "NoSuchKey" => "no object with this key (list_objects shows the keys that exist)",
        "NoSuchBucket" => "no such bucket (list_connections shows the buckets discovered)",
        "AccessDenied" | "AllAccessDisabled" => "the connection's credentials may not read this",
        "InvalidRange" => "the range starts beyond the end of the object",
        "PreconditionFailed" => {
            "the object changed while it was being read (it was rewritten between two ranged reads); try again"
        }
        "SlowDown" | "ServiceUnavailable" | "InternalError" => {
            "the object store is busy or failing; try again shortly"
        }
        _ => "the object store refused the request",
    };
    Error::Source {
        code: format!("s3:{code}"),
        message: format!("{message} ({code})"),
        timeout: false,
    }
}

/// `<Error><Code>…</Code></Error>`, kept only when it is a plain word.
fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let doc = roxmltree::Document::parse(text).ok()?;
    let code = doc
        .descendants()
        .find(|n| n.has_tag_name("Code"))?
        .text()?
        .trim();
    (!code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(base: &str, path_style: bool) -> Endpoint {
        Endpoint {
            client: reqwest::Client::new(),
            base: url::Url::parse(base).unwrap(),
            path_style,
            region: "us-east-1".into(),
            access_key_id: "AK".into(),
            secret_access_key: zeroize::Zeroizing::new("SK".into()),
        }
    }

    #[test]
    fn an_object_changed_between_ranged_reads_is_said_in_words() {
        let Error::Source { code, message, .. } = error_for_code("PreconditionFailed".into())
        else {
            panic!("a precondition failure is the source's error");
        };
        assert_eq!(code, "s3:PreconditionFailed");
        assert!(
            message.contains("changed while it was being read"),
            "{message}"
        );
    }

    #[test]
    fn urls_keep_keys_literal() {
        let e = endpoint("http://127.0.0.1:5000", true);
        let bucket = BucketName::parse("cx-data").unwrap();
        let req = |key: &'static str| Request {
            method: ReadMethod::Get,
            bucket: Some(&bucket),
            key,
            query: vec![],
            range: None,
            if_match: None,
        };
        let (url, host) = e.url(&req("a/%2e%2e/b c")).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:5000/cx-data/a/%252e%252e/b%20c"
        );
        assert_eq!(host, "127.0.0.1:5000");
        // A key the type would refuse is refused here too, if it got this far.
        assert!(e.url(&req("a/../b")).is_err());
        assert!(e.url(&req("a/%2e%2e/b")).is_ok());
        let aws = endpoint("https://s3.eu-west-1.amazonaws.com", false);
        let (url, host) = aws
            .url(&Request {
                method: ReadMethod::Get,
                bucket: Some(&bucket),
                key: "",
                query: vec![("list-type", "2".into()), ("prefix", "a b".into())],
                range: None,
                if_match: None,
            })
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://cx-data.s3.eu-west-1.amazonaws.com/?list-type=2&prefix=a%20b"
        );
        assert_eq!(host, "cx-data.s3.eu-west-1.amazonaws.com");
        let dotted = BucketName::parse("logs.example.com").unwrap();
        let (url, _) = aws
            .url(&Request {
                method: ReadMethod::Get,
                bucket: Some(&dotted),
                key: "a",
                query: vec![],
                range: None,
                if_match: None,
            })
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://s3.eu-west-1.amazonaws.com/logs.example.com/a"
        );
        assert!(valid_region("eu-west-1") && !valid_region("x.evil") && !valid_region(""));
    }

    #[test]
    fn error_codes_are_plain_words() {
        let body =
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>k</Message></Error>";
        assert_eq!(error_code(body).as_deref(), Some("NoSuchKey"));
        assert_eq!(error_code(b"<Error><Code>a b</Code></Error>"), None);
        assert_eq!(error_code(b"not xml"), None);
    }
}

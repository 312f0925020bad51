//! AWS Signature Version 4 for S3 `GET` and `HEAD` requests, in headers.
//!
//! Written here rather than taken from a crate: `aws-sigv4` brings the
//! smithy runtime, `object_store` and `aws-sdk-s3` bring their own HTTP
//! stacks whose redirect, proxy and DNS behaviour the connector must
//! control, and `rusty-s3` signs only presigned URLs — the one thing this
//! connector must never make. The algorithm is small and fixed; it is
//! checked against the examples AWS publishes and against botocore's signer.
//!
//! Only what a read needs: no payload (the empty payload's hash), no
//! chunked signing, no query-string (presigned) form.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// SHA-256 of the empty payload: every request here has no body.
pub(crate) const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The bytes a URI component keeps as they are (RFC 3986 unreserved).
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes every byte but the unreserved ones (and `/` when
/// `keep_slash`), upper-case hex, as SigV4 and S3 want it.
pub(crate) fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for &b in text.as_bytes() {
        if unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical query string: pairs encoded, then sorted by key and value.
pub(crate) fn canonical_query(pairs: &[(&str, String)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// What to sign: the request as it will go on the wire.
pub(crate) struct Signable<'a> {
    pub method: &'a str,
    /// Already encoded (see [`uri_encode`] with `keep_slash`).
    pub canonical_uri: &'a str,
    /// Already canonical (see [`canonical_query`]).
    pub canonical_query: &'a str,
    /// Lower-case names; `host`, `x-amz-content-sha256` and `x-amz-date`
    /// must be among them.
    pub headers: &'a [(&'a str, String)],
}

/// The credentials a request is signed with.
pub(crate) struct Credentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub region: &'a str,
}

/// The `Authorization` header's value for `request` at `amz_date`
/// (`YYYYMMDDTHHMMSSZ`).
pub(crate) fn authorization(
    request: &Signable<'_>,
    creds: &Credentials<'_>,
    amz_date: &str,
) -> String {
    let date = &amz_date[..8.min(amz_date.len())];
    let mut headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(k, v)| (*k, v.trim()))
        .collect();
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| *k)
        .collect::<Vec<_>>()
        .join(";");
    let payload = request
        .headers
        .iter()
        .find(|(k, _)| *k == "x-amz-content-sha256")
        .map(|(_, v)| v.as_str())
        .unwrap_or(EMPTY_PAYLOAD_SHA256);
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        request.canonical_uri,
        request.canonical_query,
        canonical_headers,
        signed_headers,
        payload
    );
    let scope = format!("{date}/{}/s3/aws4_request", creds.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let secret = zeroize::Zeroizing::new(format!("AWS4{}", creds.secret_access_key));
    let key = hmac(secret.as_bytes(), date.as_bytes());
    let key = hmac(&key, creds.region.as_bytes());
    let key = hmac(&key, b"s3");
    let key = hmac(&key, b"aws4_request");
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        creds.access_key_id
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts a key of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDS: Credentials<'static> = Credentials {
        access_key_id: "AKIAIOSFODNN7EXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region: "us-east-1",
    };

    /// "Example: GET Object" of the S3 API reference (header-based auth).
    #[test]
    fn aws_get_object_example() {
        let headers = [
            ("host", "examplebucket.s3.amazonaws.com".to_owned()),
            ("range", "bytes=0-9".to_owned()),
            ("x-amz-content-sha256", EMPTY_PAYLOAD_SHA256.to_owned()),
            ("x-amz-date", "20130524T000000Z".to_owned()),
        ];
        let auth = authorization(
            &Signable {
                method: "GET",
                canonical_uri: "/test.txt",
                canonical_query: "",
                headers: &headers,
            },
            &CREDS,
            "20130524T000000Z",
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// "Example: GET Bucket (List Objects)" of the same reference.
    #[test]
    fn aws_list_objects_example() {
        let headers = [
            ("host", "examplebucket.s3.amazonaws.com".to_owned()),
            ("x-amz-content-sha256", EMPTY_PAYLOAD_SHA256.to_owned()),
            ("x-amz-date", "20130524T000000Z".to_owned()),
        ];
        let query = canonical_query(&[("prefix", "J".into()), ("max-keys", "2".into())]);
        assert_eq!(query, "max-keys=2&prefix=J");
        let auth = authorization(
            &Signable {
                method: "GET",
                canonical_uri: "/",
                canonical_query: &query,
                headers: &headers,
            },
            &CREDS,
            "20130524T000000Z",
        );
        assert!(
            auth.ends_with(
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
            ),
            "{auth}"
        );
    }

    #[test]
    fn encoding_is_rfc3986_once() {
        assert_eq!(uri_encode("a b/c%2e~_-.", true), "a%20b/c%252e~_-.");
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
        assert_eq!(uri_encode("ü", true), "%C3%BC");
        assert_eq!(uri_encode("x+y=z&", false), "x%2By%3Dz%26");
    }
}

//! S3 and S3-compatible object storage (`s3`): list, head, ranged reads and
//! table previews, with `GET` and `HEAD` only.
//!
//! Layers, outermost first:
//! - [`ObjectRead`] can express no write, delete, copy or presign, and its
//!   bucket, key and prefix types refuse names an HTTP client would read as
//!   another path (`conexor_types::objects`).
//! - [`S3Source::clamp`] fits a request to the caps (objects per page, bytes
//!   per read, preview rows) before anything is sent, and the allow-list of
//!   buckets and prefixes is checked before any request leaves.
//! - The HTTP layer ([`http`]) signs `GET`/`HEAD` only, never follows a
//!   redirect, checks every resolved address against the destination policy
//!   and stops reading a body at its cap.
//!
//! Every `GET` of object bytes carries a `Range`: no read, and no preview,
//! can fetch an object whole when it is larger than the cap.

mod http;
mod list;
mod sigv4;
mod spec;

pub use conexor_preview::{Preview, PreviewColumn};
pub use list::{Listing, ObjectEntry};
pub use spec::{S3Spec, Scope};

use crate::{Error, OpenOptions, TestReport};
use base64::Engine;
use conexor_types::Limits;
use conexor_types::objects::{
    BucketName, Encoding, ObjectKey, ObjectPrefix, ObjectRead, PreviewFormat,
};
use http::{ByteRange, Endpoint, ReadMethod, Request};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Most keys one listing returns (S3's own page limit).
pub const MAX_LIST: u32 = 1000;
/// Most bytes of a listing's XML read before parsing.
const MAX_LIST_BODY: usize = 4 * 1024 * 1024;
/// Most bytes of the object a CSV/JSON Lines preview fetches.
pub const PREVIEW_FETCH_BYTES: u64 = 1024 * 1024;
/// Most bytes a Parquet preview fetches for its row groups (its footer is
/// read besides, up to `conexor_preview::parquet::MAX_FOOTER`).
pub const PARQUET_FETCH_BYTES: u64 = 8 * 1024 * 1024;
/// Most bytes of JSON rows a preview answers with.
pub const PREVIEW_ANSWER_BYTES: u64 = 1024 * 1024;
/// Most bytes of `x-amz-meta-*` metadata passed on.
const MAX_METADATA: usize = 8 * 1024;
/// Prefixes per bucket kept by discovery.
const DISCOVERED_PREFIXES: u32 = 100;

/// What an object read returns, and what it cost at the source.
#[derive(Debug, Clone)]
pub struct ObjectAnswer {
    /// The answer the caller gets (JSON).
    pub value: Value,
    /// Objects listed or rows previewed; none for a read or head.
    pub rows: Option<u64>,
    /// Bytes the store sent for this read (bodies only).
    pub fetched_bytes: u64,
}

/// A bucket found by discovery (names only: never object contents).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct BucketInfo {
    pub name: String,
    /// The allowed prefix, when the connection is limited to one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// Top-level prefixes ("folders") under the scope, at most 100.
    #[serde(default)]
    pub prefixes: Vec<String>,
}

#[derive(Clone)]
pub struct S3Source {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    scopes: Vec<Scope>,
}

/// What a ranged `GET` brought back.
struct Fetched {
    body: Vec<u8>,
    /// The whole object's size, when the store said it.
    size: Option<u64>,
    content_type: Option<String>,
    /// As the store sent it (quotes included), to send back in If-Match.
    etag: Option<String>,
}

impl S3Source {
    /// Builds the HTTP client for `spec`. Sends nothing.
    pub fn open(spec: &S3Spec, options: &OpenOptions) -> Result<S3Source, Error> {
        spec.validate()?;
        let Some(secret) = spec.secret_access_key.clone() else {
            return Err(Error::Spec(
                "the secret access key refers to a named secret that was not resolved".into(),
            ));
        };
        let base = spec.endpoint_url()?;
        crate::http::check_literal(&base, &options.destinations)?;
        let client = crate::http::client(
            crate::http::ClientSettings {
                https_only: !spec.allow_http,
                verify_tls: spec.verify_tls,
                ca_pem: spec.ca_pem.as_deref(),
                redirect: reqwest::redirect::Policy::none(),
            },
            options,
        )?;
        Ok(S3Source {
            inner: Arc::new(Inner {
                endpoint: Endpoint {
                    client,
                    base,
                    path_style: spec.path_style(),
                    region: spec.region().to_owned(),
                    access_key_id: spec.access_key_id.trim().to_owned(),
                    secret_access_key: secret,
                },
                scopes: spec.scopes()?,
            }),
        })
    }

    /// Fits `op` to `limits`: objects per page and preview rows to
    /// `max_rows` (and S3's 1,000), a read's length to `max_bytes`. The
    /// audit record's `query_hash` is computed from the result.
    pub fn clamp(mut op: ObjectRead, limits: &Limits) -> ObjectRead {
        let rows = limits.max_rows.clamp(1, u64::from(u32::MAX)) as u32;
        match &mut op {
            ObjectRead::ListObjects { limit, .. } => *limit = (*limit).clamp(1, rows.min(MAX_LIST)),
            ObjectRead::ReadObject { length, .. } => {
                *length = (*length).clamp(1, limits.max_bytes.max(1))
            }
            ObjectRead::PreviewObject { rows: wanted, .. } => *wanted = (*wanted).clamp(1, rows),
            ObjectRead::HeadObject { .. } => {}
        }
        op
    }

    /// Refuses `op` when it leaves the connection's allow-list; a listing
    /// with no prefix (or a shorter one) is narrowed to the allowed prefix.
    /// Nothing has been sent when this refuses.
    pub fn scoped(&self, mut op: ObjectRead) -> Result<ObjectRead, Error> {
        let scopes = &self.inner.scopes;
        if scopes.is_empty() {
            return Ok(op);
        }
        let in_bucket: Vec<&Scope> = scopes.iter().filter(|s| &s.bucket == op.bucket()).collect();
        if in_bucket.is_empty() {
            return Err(Error::Destination(format!(
                "bucket {} is not allowed for this connection",
                op.bucket()
            )));
        }
        let outside = || {
            Error::Destination("the key is outside the prefixes allowed for this connection".into())
        };
        match &mut op {
            ObjectRead::ListObjects { prefix, .. } => {
                let p = prefix.as_str();
                if !in_bucket.iter().any(|s| p.starts_with(s.prefix.as_str())) {
                    // A shorter prefix (or none) is narrowed to the allowed one.
                    *prefix = in_bucket
                        .iter()
                        .find(|s| s.prefix.as_str().starts_with(p))
                        .map(|s| s.prefix.clone())
                        .ok_or_else(outside)?;
                }
            }
            ObjectRead::HeadObject { key, .. }
            | ObjectRead::ReadObject { key, .. }
            | ObjectRead::PreviewObject { key, .. } => {
                if !in_bucket
                    .iter()
                    .any(|s| key.as_str().starts_with(s.prefix.as_str()))
                {
                    return Err(outside());
                }
            }
        }
        Ok(op)
    }

    /// Runs one read, already clamped and scoped. `stop` abandons it (the
    /// connection to the store is dropped).
    pub async fn read(
        &self,
        op: &ObjectRead,
        stop: &CancellationToken,
    ) -> Result<ObjectAnswer, Error> {
        tokio::select! {
            answer = self.read_here(op) => answer,
            _ = stop.cancelled() => Err(Error::Cancelled),
        }
    }

    async fn read_here(&self, op: &ObjectRead) -> Result<ObjectAnswer, Error> {
        match op {
            ObjectRead::ListObjects {
                bucket,
                prefix,
                delimited,
                cursor,
                limit,
            } => {
                let (listing, fetched) = self
                    .list(bucket, prefix, *delimited, cursor.as_deref(), *limit)
                    .await?;
                Ok(ObjectAnswer {
                    rows: Some(listing.objects.len() as u64),
                    fetched_bytes: fetched,
                    value: json!({
                        "bucket": bucket,
                        "prefix": prefix,
                        "objects": listing.objects,
                        "common_prefixes": listing.common_prefixes,
                        "next_cursor": listing.next_cursor,
                        "truncated": listing.next_cursor.is_some(),
                    }),
                })
            }
            ObjectRead::HeadObject { bucket, key } => {
                let value = self.head(bucket, key).await?;
                Ok(ObjectAnswer {
                    value,
                    rows: None,
                    fetched_bytes: 0,
                })
            }
            ObjectRead::ReadObject {
                bucket,
                key,
                offset,
                length,
                encoding,
            } => {
                self.read_range(bucket, key, *offset, *length, *encoding)
                    .await
            }
            ObjectRead::PreviewObject {
                bucket,
                key,
                format,
                rows,
            } => self.preview(bucket, key, *format, *rows).await,
        }
    }

    async fn list(
        &self,
        bucket: &BucketName,
        prefix: &ObjectPrefix,
        delimited: bool,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<(Listing, u64), Error> {
        let mut query = vec![
            ("list-type", "2".to_owned()),
            ("max-keys", limit.to_string()),
        ];
        if !prefix.as_str().is_empty() {
            query.push(("prefix", prefix.as_str().to_owned()));
        }
        if delimited {
            query.push(("delimiter", "/".to_owned()));
        }
        if let Some(cursor) = cursor {
            if cursor.len() > 1024 || cursor.chars().any(char::is_control) {
                return Err(Error::Usage(
                    "the cursor is not one a listing returned".into(),
                ));
            }
            query.push(("continuation-token", cursor.to_owned()));
        }
        let response = self
            .inner
            .endpoint
            .send(&Request {
                method: ReadMethod::Get,
                bucket: Some(bucket),
                key: "",
                query,
                range: None,
                if_match: None,
            })
            .await?;
        let (body, more) = http::read_capped(response, MAX_LIST_BODY).await?;
        if more {
            return Err(Error::Source {
                code: "s3:ListTooLarge".into(),
                message: "the listing is larger than a listing may be; ask for fewer keys".into(),
                timeout: false,
            });
        }
        let fetched = body.len() as u64;
        let mut listing = list::parse_listing(&body)?;
        listing.objects.truncate(limit as usize);
        Ok((listing, fetched))
    }

    /// A signed `HEAD` of one object.
    async fn head_response(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<reqwest::Response, Error> {
        self.inner
            .endpoint
            .send(&Request {
                method: ReadMethod::Head,
                bucket: Some(bucket),
                key: key.as_str(),
                query: vec![],
                range: None,
                if_match: None,
            })
            .await
    }

    async fn head(&self, bucket: &BucketName, key: &ObjectKey) -> Result<Value, Error> {
        let response = self.head_response(bucket, key).await?;
        let headers = response.headers();
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let mut metadata = serde_json::Map::new();
        let mut room = MAX_METADATA;
        let mut cut = false;
        for (name, value) in headers {
            if let Some(meta) = name.as_str().strip_prefix("x-amz-meta-") {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                let cost = meta.len() + value.len();
                if cost > room {
                    cut = true;
                    continue;
                }
                room -= cost;
                metadata.insert(meta.to_owned(), Value::String(value));
            }
        }
        Ok(json!({
            "bucket": bucket,
            "key": key,
            "size": text("content-length").and_then(|s| s.parse::<u64>().ok()),
            "content_type": text("content-type"),
            "last_modified": text("last-modified"),
            "etag": text("etag").map(|e| e.trim_matches('"').to_owned()),
            "storage_class": text("x-amz-storage-class"),
            "metadata": metadata,
            "metadata_truncated": cut,
        }))
    }

    /// A ranged `GET` of `length` bytes from `offset` (at most `length` are
    /// read, whatever the store sends).
    async fn get_range(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        offset: u64,
        length: u64,
        if_match: Option<&str>,
    ) -> Result<Fetched, Error> {
        let last = offset.saturating_add(length.max(1) - 1);
        self.get(
            bucket,
            key,
            ByteRange::Span {
                first: offset,
                last,
            },
            length,
            if_match,
        )
        .await
    }

    /// A `GET` of `range`, reading at most `cap` bytes of the body; with
    /// `if_match`, only of that version of the object.
    async fn get(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        range: ByteRange,
        cap: u64,
        if_match: Option<&str>,
    ) -> Result<Fetched, Error> {
        let response = self
            .inner
            .endpoint
            .send(&Request {
                method: ReadMethod::Get,
                bucket: Some(bucket),
                key: key.as_str(),
                query: vec![],
                range: Some(range),
                if_match,
            })
            .await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type");
        let etag = header("etag");
        let size: Option<u64> = match (response.status().as_u16(), header("content-range")) {
            // `bytes 0-9/1234`
            (206, Some(range)) => range.rsplit('/').next().and_then(|s| s.parse().ok()),
            _ => header("content-length").and_then(|s| s.parse().ok()),
        };
        // A store that ignored the range answers 200 with the whole object
        // from its start: right for a read from offset 0, or a tail that is
        // the whole object (the cap still stops the read); wrong otherwise.
        let ignored = response.status().as_u16() == 200
            && match range {
                ByteRange::Span { first, .. } => first > 0,
                ByteRange::Tail(len) => size.is_none_or(|s| s > len),
            };
        if ignored {
            return Err(Error::Source {
                code: "s3:RangeIgnored".into(),
                message:
                    "the object store ignored the byte range; only reads from offset 0 work with it"
                        .into(),
                timeout: false,
            });
        }
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        let (body, _) = http::read_capped(response, cap).await?;
        Ok(Fetched {
            body,
            size,
            content_type,
            etag,
        })
    }

    async fn read_range(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        offset: u64,
        length: u64,
        encoding: Encoding,
    ) -> Result<ObjectAnswer, Error> {
        let Fetched {
            body,
            size,
            content_type,
            ..
        } = self.get_range(bucket, key, offset, length, None).await?;
        let fetched = body.len() as u64;
        let end = offset + fetched;
        let truncated = size.is_some_and(|s| end < s);
        let (data, returned) = match encoding {
            Encoding::Base64 => (
                base64::engine::general_purpose::STANDARD.encode(&body),
                body.len(),
            ),
            Encoding::Text => match std::str::from_utf8(&body) {
                Ok(text) => (text.to_owned(), body.len()),
                // Cut mid-character by the range: keep the whole characters.
                Err(e) if e.error_len().is_none() && truncated => {
                    let valid = e.valid_up_to();
                    (String::from_utf8_lossy(&body[..valid]).into_owned(), valid)
                }
                Err(_) => {
                    return Err(Error::Usage(
                        "the object is not UTF-8 text; read it with encoding \"base64\"".into(),
                    ));
                }
            },
        };
        Ok(ObjectAnswer {
            value: json!({
                "bucket": bucket,
                "key": key,
                "offset": offset,
                "length": returned,
                "object_size": size,
                "content_type": content_type,
                "encoding": encoding,
                "data": data,
                "truncated": truncated || returned < body.len(),
            }),
            rows: None,
            fetched_bytes: fetched,
        })
    }

    async fn preview(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        format: PreviewFormat,
        rows: u32,
    ) -> Result<ObjectAnswer, Error> {
        let text = match format {
            PreviewFormat::Csv => conexor_preview::TextFormat::Csv,
            PreviewFormat::Tsv => conexor_preview::TextFormat::Tsv,
            PreviewFormat::Jsonl => conexor_preview::TextFormat::Jsonl,
            PreviewFormat::Parquet => return self.preview_parquet(bucket, key, rows).await,
        };
        let Fetched {
            body: head, size, ..
        } = self
            .get_range(bucket, key, 0, PREVIEW_FETCH_BYTES, None)
            .await?;
        let fetched = head.len() as u64;
        let complete = size.is_some_and(|s| s <= fetched) || fetched < PREVIEW_FETCH_BYTES;
        let gzip = conexor_preview::is_gzip(&head);
        let (data, complete) = if gzip {
            conexor_preview::inflate_head(&head, complete).map_err(unreadable)?
        } else {
            (head, complete)
        };
        let table = conexor_preview::preview_text(text, &data, complete, rows as usize)
            .map_err(unreadable)?;
        Ok(preview_answer(
            bucket, key, format, gzip, size, table, fetched,
        ))
    }

    /// A Parquet preview: the object's tail (with the footer and the
    /// object's size), then only the first row groups' column chunks, each a
    /// ranged `GET`.
    async fn preview_parquet(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        rows: u32,
    ) -> Result<ObjectAnswer, Error> {
        use conexor_preview::parquet::{TAIL_BYTES, footer_len, plan};
        // One request for the tail and the size (`bytes=-N`); every later
        // range is of the same version of the object (If-Match its ETag),
        // so a file rewritten between the reads is an error, not a mix.
        let Fetched {
            body: tail,
            size,
            etag,
            ..
        } = self
            .get(bucket, key, ByteRange::Tail(TAIL_BYTES), TAIL_BYTES, None)
            .await?;
        let etag = etag.as_deref();
        let size = size.ok_or_else(|| Error::Source {
            code: "s3:NoContentLength".into(),
            message: "the object store did not say the object's size".into(),
            timeout: false,
        })?;
        let mut fetched = tail.len() as u64;
        let footer = footer_len(&tail, size).map_err(unreadable)?;
        let footer_bytes = if footer <= tail.len() as u64 {
            tail[tail.len() - footer as usize..].to_vec()
        } else {
            let more = self
                .get_range(bucket, key, size - footer, footer, etag)
                .await?
                .body;
            fetched += more.len() as u64;
            more
        };
        let plan =
            plan(&footer_bytes, size, rows as usize, PARQUET_FETCH_BYTES).map_err(unreadable)?;
        let mut pieces = vec![(size - footer, footer_bytes)];
        for (start, len) in &plan.ranges {
            let bytes = self.get_range(bucket, key, *start, *len, etag).await?.body;
            fetched += bytes.len() as u64;
            pieces.push((*start, bytes));
        }
        let table = conexor_preview::parquet::rows(size, pieces, plan.row_groups, rows as usize)
            .map_err(unreadable)?;
        Ok(preview_answer(
            bucket,
            key,
            PreviewFormat::Parquet,
            false,
            Some(size),
            table,
            fetched,
        ))
    }

    /// Lists one bucket (the first allowed one, else the first the
    /// credentials list) and reports what the credentials could do.
    pub async fn test(&self) -> Result<TestReport, Error> {
        let started = Instant::now();
        let mut notes = Vec::new();
        let bucket = match self.inner.scopes.first() {
            Some(scope) => scope.bucket.clone(),
            None => {
                let buckets = self.list_buckets().await?;
                notes.push(format!("can list buckets: yes ({})", buckets.len()));
                match buckets.into_iter().next() {
                    Some(b) => b,
                    None => {
                        return Ok(self.report(started, notes));
                    }
                }
            }
        };
        let prefix = self
            .inner
            .scopes
            .first()
            .map(|s| s.prefix.clone())
            .unwrap_or_default();
        let (listing, _) = self.list(&bucket, &prefix, true, None, 1).await?;
        let seen = listing.objects.len() + listing.common_prefixes.len();
        notes.push(format!(
            "can list {bucket}/{}: yes{}",
            prefix.as_str(),
            if seen == 0 { " (empty)" } else { "" }
        ));
        Ok(self.report(started, notes))
    }

    fn report(&self, started: Instant, notes: Vec<String>) -> TestReport {
        let host = self.inner.endpoint.base.host_str().unwrap_or_default();
        TestReport {
            version: format!("S3-compatible object store at {host}; {}", notes.join("; ")),
            latency_ms: started.elapsed().as_millis() as u64,
            // A write cannot be probed without writing; Conexor sends only
            // GET and HEAD whatever the credentials allow.
            privileges: Vec::new(),
            read_only_grants: READ_ONLY_POLICY.to_owned(),
        }
    }

    async fn list_buckets(&self) -> Result<Vec<BucketName>, Error> {
        let response = self
            .inner
            .endpoint
            .send(&Request {
                method: ReadMethod::Get,
                bucket: None,
                key: "",
                query: vec![],
                range: None,
                if_match: None,
            })
            .await?;
        let (body, _) = http::read_capped(response, MAX_LIST_BODY).await?;
        Ok(list::parse_buckets(&body)?
            .iter()
            .filter_map(|name| BucketName::parse(name).ok())
            .collect())
    }

    /// Buckets and their top-level prefixes; never object contents.
    pub async fn buckets(&self) -> Result<Vec<BucketInfo>, Error> {
        let scopes: Vec<Scope> = if self.inner.scopes.is_empty() {
            self.list_buckets()
                .await?
                .into_iter()
                .map(|bucket| Scope {
                    bucket,
                    prefix: ObjectPrefix::default(),
                })
                .collect()
        } else {
            self.inner.scopes.clone()
        };
        let mut found = Vec::new();
        for scope in scopes.into_iter().take(100) {
            let prefixes = match self
                .list(
                    &scope.bucket,
                    &scope.prefix,
                    true,
                    None,
                    DISCOVERED_PREFIXES,
                )
                .await
            {
                Ok((listing, _)) => listing.common_prefixes,
                // A bucket the credentials may not list is still named.
                Err(Error::Source { .. }) => Vec::new(),
                Err(other) => return Err(other),
            };
            found.push(BucketInfo {
                name: scope.bucket.to_string(),
                scope: scope.prefix.as_str().to_owned(),
                prefixes,
            });
        }
        Ok(found)
    }
}

fn unreadable(e: conexor_preview::PreviewError) -> Error {
    Error::Source {
        code: "s3:UnreadableObject".into(),
        message: e.0,
        timeout: false,
    }
}

/// A preview's answer, its rows cut at [`PREVIEW_ANSWER_BYTES`] of JSON.
fn preview_answer(
    bucket: &BucketName,
    key: &ObjectKey,
    format: PreviewFormat,
    gzip: bool,
    size: Option<u64>,
    mut table: Preview,
    fetched: u64,
) -> ObjectAnswer {
    let mut bytes = 0u64;
    let kept = table
        .rows
        .iter()
        .take_while(|row| {
            bytes += crate::json_len(row);
            bytes <= PREVIEW_ANSWER_BYTES
        })
        .count();
    if kept < table.rows.len() {
        table.rows.truncate(kept);
        table.truncated = true;
    }
    ObjectAnswer {
        rows: Some(table.rows.len() as u64),
        fetched_bytes: fetched,
        value: json!({
            "bucket": bucket,
            "key": key,
            "format": format,
            "gzip": gzip,
            "object_size": size,
            "columns": table.columns,
            "rows": table.rows,
            "truncated": table.truncated,
            "fetched_bytes": fetched,
        }),
    }
}

/// An IAM policy that lets a key read and list, and nothing else.
const READ_ONLY_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Action": ["s3:ListAllMyBuckets", "s3:ListBucket", "s3:GetObject", "s3:GetBucketLocation"],
    "Resource": ["arn:aws:s3:::BUCKET", "arn:aws:s3:::BUCKET/*"]
  }]
}"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn source(allow: &[&str]) -> S3Source {
        let spec = S3Spec {
            access_key_id: "AK".into(),
            secret_access_key: Some(zeroize::Zeroizing::new("SK".into())),
            endpoint: Some("http://127.0.0.1:9".into()),
            allow_http: true,
            allow: allow.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        S3Source::open(&spec, &OpenOptions::default()).unwrap()
    }

    fn read(bucket: &str, key: &str) -> ObjectRead {
        ObjectRead::ReadObject {
            bucket: BucketName::parse(bucket).unwrap(),
            key: ObjectKey::parse(key).unwrap(),
            offset: 0,
            length: u64::MAX,
            encoding: Encoding::Text,
        }
    }

    #[test]
    fn requests_are_clamped_before_they_are_sent() {
        let limits = Limits {
            max_rows: 50,
            max_bytes: 1024,
            timeout_ms: 1000,
        };
        match S3Source::clamp(read("cx-data", "a"), &limits) {
            ObjectRead::ReadObject { length, .. } => assert_eq!(length, 1024),
            other => panic!("{other:?}"),
        }
        let list = ObjectRead::ListObjects {
            bucket: BucketName::parse("cx-data").unwrap(),
            prefix: ObjectPrefix::default(),
            delimited: false,
            cursor: None,
            limit: 5000,
        };
        match S3Source::clamp(list, &limits) {
            ObjectRead::ListObjects { limit, .. } => assert_eq!(limit, 50),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn the_allow_list_is_checked_before_anything_is_sent() {
        let s = source(&["cx-data/reports/"]);
        assert!(s.scoped(read("cx-data", "reports/a.csv")).is_ok());
        for (bucket, key) in [
            ("cx-data", "secret"),
            ("cx-other", "reports/a.csv"),
            ("cx-data", "reportsX"),
        ] {
            assert!(
                matches!(s.scoped(read(bucket, key)), Err(Error::Destination(_))),
                "{bucket}/{key}"
            );
        }
        let list = |prefix: &str| ObjectRead::ListObjects {
            bucket: BucketName::parse("cx-data").unwrap(),
            prefix: ObjectPrefix::parse(prefix).unwrap(),
            delimited: true,
            cursor: None,
            limit: 10,
        };
        match s.scoped(list("")).unwrap() {
            ObjectRead::ListObjects { prefix, .. } => assert_eq!(prefix.as_str(), "reports/"),
            other => panic!("{other:?}"),
        }
        assert!(s.scoped(list("reports/2026/")).is_ok());
        assert!(s.scoped(list("other/")).is_err());
        let open = source(&[]);
        assert!(open.scoped(read("any-bucket", "k")).is_ok());
    }

    /// The resolver checks every address a name resolves to, on every
    /// connection (a name is not checked when the source is opened), and a
    /// name that does not resolve is a DNS failure by what it is.
    #[tokio::test]
    async fn resolved_addresses_are_checked_when_connecting() {
        let open = |endpoint: &str, destinations: crate::DestinationPolicy| {
            let spec = S3Spec {
                access_key_id: "AK".into(),
                secret_access_key: Some(zeroize::Zeroizing::new("SK".into())),
                endpoint: Some(endpoint.into()),
                allow_http: true,
                ..Default::default()
            };
            let options = OpenOptions {
                destinations,
                ..OpenOptions::default()
            };
            S3Source::open(&spec, &options).unwrap()
        };
        let strict = crate::DestinationPolicy {
            deny_loopback: true,
            ..Default::default()
        };
        let stop = CancellationToken::new();
        let op = read("cx-data", "a");
        let err = open("http://localhost:9", strict)
            .read(&op, &stop)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Destination(_)), "{err:?}");
        let err = open("http://no-such-host.invalid:9", Default::default())
            .read(&op, &stop)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Connect {
                    failure: crate::ConnectFailure::Dns
                }
            ),
            "{err:?}"
        );
        let err = open("http://127.0.0.1:9", Default::default())
            .read(&op, &stop)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Connect {
                    failure: crate::ConnectFailure::Refused
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn metadata_endpoints_are_refused_when_opened() {
        let spec = S3Spec {
            access_key_id: "AK".into(),
            secret_access_key: Some(zeroize::Zeroizing::new("SK".into())),
            endpoint: Some("http://169.254.169.254".into()),
            allow_http: true,
            ..Default::default()
        };
        assert!(matches!(
            S3Source::open(&spec, &OpenOptions::default()),
            Err(Error::Destination(_))
        ));
    }
}

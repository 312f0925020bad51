//! Object storage (S3 and S3-compatible): validated names, and the typed
//! read an AI may ask for.
//!
//! An object key is data chosen by whoever wrote the bucket, and by the AI
//! that names it; it must never become another object. The URL parser of the
//! HTTP client follows WHATWG, which folds `.` and `..` path segments (and
//! their percent-encoded spellings `%2e`) into another path, so a key with
//! such a segment is refused here with a clear error instead of being
//! silently normalised. Every other key (a literal `%2e%2e`, spaces, UTF-8)
//! is read byte for byte: the connector percent-encodes it once (`%` becomes
//! `%25`, so `%2e%2e` is never a dot segment on the wire), and checks that
//! the URL it sends has exactly the path it signed.
//!
//! [`ObjectRead`] has no variant that can write, delete, copy, presign or
//! list versions: the connector's HTTP layer sends only `GET` and `HEAD`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest object key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Why a bucket name, key or prefix was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub &'static str);

/// A bucket name by S3's rules: 3–63 of `a-z 0-9 . -`, starting and ending
/// with a letter or digit, no `..`, not shaped like an IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BucketName(String);

impl BucketName {
    pub fn parse(text: &str) -> Result<BucketName, NameError> {
        let bad = NameError(
            "a bucket name is 3 to 63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit",
        );
        let bytes = text.as_bytes();
        if !(3..=63).contains(&bytes.len())
            || !bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
            || !bytes[0].is_ascii_alphanumeric()
            || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
            || text.contains("..")
        {
            return Err(bad);
        }
        if text.parse::<std::net::Ipv4Addr>().is_ok() {
            return Err(NameError("a bucket name may not be an IP address"));
        }
        Ok(BucketName(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BucketName {
    type Error = NameError;
    fn try_from(text: String) -> Result<Self, NameError> {
        BucketName::parse(&text)
    }
}

impl From<BucketName> for String {
    fn from(name: BucketName) -> String {
        name.0
    }
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks the text shared by keys and prefixes: at most 1,024 bytes, no
/// control characters, no `.` or `..` path segment (see the module doc).
fn check_key_text(text: &str) -> Result<(), NameError> {
    if text.len() > MAX_KEY_BYTES {
        return Err(NameError("an object key is at most 1024 bytes"));
    }
    if text.chars().any(char::is_control) {
        return Err(NameError(
            "an object key may not contain control characters",
        ));
    }
    if text
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(NameError(
            "an object key may not contain a '.' or '..' path segment (an HTTP client would read another object)",
        ));
    }
    Ok(())
}

/// An object key: 1–1,024 bytes of UTF-8 (see [`check_key_text`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn parse(text: &str) -> Result<ObjectKey, NameError> {
        if text.is_empty() {
            return Err(NameError("an object key may not be empty"));
        }
        check_key_text(text)?;
        Ok(ObjectKey(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ObjectKey {
    type Error = NameError;
    fn try_from(text: String) -> Result<Self, NameError> {
        ObjectKey::parse(&text)
    }
}

impl From<ObjectKey> for String {
    fn from(key: ObjectKey) -> String {
        key.0
    }
}

/// The start of keys to list (may be empty: the whole bucket).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObjectPrefix(String);

impl ObjectPrefix {
    pub fn parse(text: &str) -> Result<ObjectPrefix, NameError> {
        check_key_text(text)?;
        Ok(ObjectPrefix(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ObjectPrefix {
    type Error = NameError;
    fn try_from(text: String) -> Result<Self, NameError> {
        ObjectPrefix::parse(&text)
    }
}

impl From<ObjectPrefix> for String {
    fn from(prefix: ObjectPrefix) -> String {
        prefix.0
    }
}

/// How a read returns an object's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// UTF-8 text (an error names `base64` when the bytes are not UTF-8).
    #[default]
    Text,
    Base64,
}

/// A table-shaped file a preview can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PreviewFormat {
    Csv,
    Tsv,
    Jsonl,
    Parquet,
}

impl PreviewFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            PreviewFormat::Csv => "csv",
            PreviewFormat::Tsv => "tsv",
            PreviewFormat::Jsonl => "jsonl",
            PreviewFormat::Parquet => "parquet",
        }
    }

    pub fn parse(text: &str) -> Option<PreviewFormat> {
        match text.to_ascii_lowercase().as_str() {
            "csv" => Some(PreviewFormat::Csv),
            "tsv" => Some(PreviewFormat::Tsv),
            "jsonl" | "ndjson" | "json_lines" | "jsonlines" => Some(PreviewFormat::Jsonl),
            "parquet" => Some(PreviewFormat::Parquet),
            _ => None,
        }
    }

    /// The format a key's extension suggests (`.gz` looked through).
    pub fn from_key(key: &str) -> Option<PreviewFormat> {
        let lowered = key.to_ascii_lowercase();
        let name = lowered.strip_suffix(".gz").unwrap_or(&lowered);
        let ext = name.rsplit_once('.')?.1;
        match ext {
            "csv" => Some(PreviewFormat::Csv),
            "tsv" | "tab" => Some(PreviewFormat::Tsv),
            "jsonl" | "ndjson" => Some(PreviewFormat::Jsonl),
            "parquet" | "pq" => Some(PreviewFormat::Parquet),
            _ => None,
        }
    }
}

/// One read of object storage. Nothing here can write, delete, copy or
/// presign. The caps (`limit`, `length`, `rows`) are the effective ones
/// once the connector has clamped the caller's request to its own limits,
/// and [`ObjectRead::hash_input`] is computed from them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum ObjectRead {
    /// Keys under a prefix, one page (`ListObjectsV2`).
    ListObjects {
        bucket: BucketName,
        #[serde(default)]
        prefix: ObjectPrefix,
        /// Group keys by `/` into common prefixes (the only delimiter).
        #[serde(default)]
        delimited: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
        limit: u32,
    },
    /// Size, type, modified time, ETag and metadata (`HEAD`).
    HeadObject { bucket: BucketName, key: ObjectKey },
    /// A byte range of an object (`GET` with `Range`).
    ReadObject {
        bucket: BucketName,
        key: ObjectKey,
        offset: u64,
        length: u64,
        #[serde(default)]
        encoding: Encoding,
    },
    /// The first rows and the columns of a CSV, TSV, JSON Lines or Parquet
    /// object, read with bounded ranges.
    PreviewObject {
        bucket: BucketName,
        key: ObjectKey,
        format: PreviewFormat,
        rows: u32,
    },
}

impl ObjectRead {
    pub fn bucket(&self) -> &BucketName {
        match self {
            ObjectRead::ListObjects { bucket, .. }
            | ObjectRead::HeadObject { bucket, .. }
            | ObjectRead::ReadObject { bucket, .. }
            | ObjectRead::PreviewObject { bucket, .. } => bucket,
        }
    }

    /// The operation's name: `s3.list_objects`, `s3.head_object`, …
    pub fn name(&self) -> &'static str {
        match self {
            ObjectRead::ListObjects { .. } => "s3.list_objects",
            ObjectRead::HeadObject { .. } => "s3.head_object",
            ObjectRead::ReadObject { .. } => "s3.read_object",
            ObjectRead::PreviewObject { .. } => "s3.preview_object",
        }
    }

    /// The text whose SHA-256 is the audit record's `query_hash`
    /// (docs/audit-format.md): the operation's name and its fields, one per
    /// line. Keys and prefixes hold no control characters, so the join is
    /// unambiguous; the cursor is opaque printable text from the server.
    pub fn hash_input(&self) -> String {
        match self {
            ObjectRead::ListObjects {
                bucket,
                prefix,
                delimited,
                cursor,
                limit,
            } => format!(
                "{}\n{bucket}\n{}\n{}\n{}\n{limit}",
                self.name(),
                prefix.as_str(),
                if *delimited { "/" } else { "" },
                cursor.as_deref().unwrap_or_default()
            ),
            ObjectRead::HeadObject { bucket, key } => {
                format!("{}\n{bucket}\n{}", self.name(), key.as_str())
            }
            ObjectRead::ReadObject {
                bucket,
                key,
                offset,
                length,
                ..
            } => format!(
                "{}\n{bucket}\n{}\nbytes={offset}-{}",
                self.name(),
                key.as_str(),
                (offset + length).saturating_sub(1)
            ),
            ObjectRead::PreviewObject {
                bucket,
                key,
                format,
                rows,
            } => format!(
                "{}\n{bucket}\n{}\n{}\n{rows}",
                self.name(),
                key.as_str(),
                format.as_str()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for good in ["cx-data", "a.b.c", "abc", &"a".repeat(63)] {
            assert!(BucketName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "ab",
            "Upper",
            "under_score",
            "-lead",
            "trail-",
            "a..b",
            "192.168.1.1",
            "has/slash",
            "sp ace",
            &"a".repeat(64),
            "evil.com:80",
        ] {
            assert!(BucketName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_are_data_but_never_another_path() {
        for good in [
            "a",
            "dir/file.csv",
            "a/%2e%2e/b",
            "...",
            "a/.../b",
            ".hidden",
            "x..y",
            "ü/ñ",
            "with space",
            "trailing/",
            "%2e%2e/x",
            "a/%2E/b",
            ".%2e/x",
            &"k".repeat(1024),
        ] {
            assert_eq!(ObjectKey::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "../secret",
            "a/../b",
            "./a",
            "a/.",
            "a/./b",
            "ctl\u{1}x",
            "new\nline",
            "del\u{7f}",
            "c1\u{85}x",
            &"k".repeat(1025),
        ] {
            assert!(ObjectKey::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ObjectPrefix::parse("").is_ok());
        assert!(ObjectPrefix::parse("../").is_err());
    }

    #[test]
    fn no_operation_can_write() {
        for op in [
            "put_object",
            "delete_object",
            "copy_object",
            "presign",
            "delete_objects",
        ] {
            let text = format!(r#"{{"op":"{op}","bucket":"cx-data","key":"a"}}"#);
            assert!(serde_json::from_str::<ObjectRead>(&text).is_err(), "{op}");
        }
        let extra = r#"{"op":"head_object","bucket":"cx-data","key":"a","method":"PUT"}"#;
        assert!(serde_json::from_str::<ObjectRead>(extra).is_err());
        let traversal = r#"{"op":"head_object","bucket":"cx-data","key":"../a"}"#;
        assert!(serde_json::from_str::<ObjectRead>(traversal).is_err());
    }

    #[test]
    fn hash_inputs_are_one_field_per_line() {
        let op = ObjectRead::ReadObject {
            bucket: BucketName::parse("cx-data").unwrap(),
            key: ObjectKey::parse("dir/a.csv").unwrap(),
            offset: 10,
            length: 100,
            encoding: Encoding::Text,
        };
        assert_eq!(
            op.hash_input(),
            "s3.read_object\ncx-data\ndir/a.csv\nbytes=10-109"
        );
        let list = ObjectRead::ListObjects {
            bucket: BucketName::parse("cx-data").unwrap(),
            prefix: ObjectPrefix::parse("dir/").unwrap(),
            delimited: true,
            cursor: None,
            limit: 100,
        };
        assert_eq!(
            list.hash_input(),
            "s3.list_objects\ncx-data\ndir/\n/\n\n100"
        );
        let round: ObjectRead = serde_json::from_value(serde_json::to_value(&op).unwrap()).unwrap();
        assert_eq!(round, op);
    }

    #[test]
    fn formats_from_keys() {
        assert_eq!(
            PreviewFormat::from_key("a/b.CSV.gz"),
            Some(PreviewFormat::Csv)
        );
        assert_eq!(
            PreviewFormat::from_key("e.jsonl"),
            Some(PreviewFormat::Jsonl)
        );
        assert_eq!(
            PreviewFormat::from_key("t.parquet"),
            Some(PreviewFormat::Parquet)
        );
        assert_eq!(PreviewFormat::from_key("noext"), None);
    }
}

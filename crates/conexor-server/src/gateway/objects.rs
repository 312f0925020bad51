//! Object storage reads: `list_objects`, `object_info`, `read_object` and
//! `preview_object`. A call's arguments become one typed
//! [`ObjectRead`] (names validated, nothing that can write), clamped to the
//! server's caps and checked against the connection's allow-list before
//! anything is sent; the audit record's `query_hash` is the SHA-256 of that
//! operation's [`ObjectRead::hash_input`].

use super::*;
use conexor_connectors::s3::S3Source;
use conexor_types::objects::{
    BucketName, Encoding, ObjectKey, ObjectPrefix, ObjectRead, PreviewFormat,
};

/// The tools of workspaces that hold an object store.
pub const OBJECT_TOOLS: &[&str] = &[
    "list_objects",
    "object_info",
    "read_object",
    "preview_object",
];

/// Most bytes one `read_object` returns (less when the server's `max_bytes` is lower).
const READ_CAP: u64 = 1024 * 1024;
/// Keys a listing returns when the caller does not say.
const DEFAULT_LIST: u32 = 100;
/// Rows a preview returns when the caller does not say.
const DEFAULT_PREVIEW_ROWS: u32 = 20;

fn bucket_arg(args: &Value) -> Result<BucketName, ToolError> {
    BucketName::parse(str_arg(args, "bucket")?)
        .map_err(|e| ToolError::invalid(format!("bucket: {e}")))
}

fn key_arg(args: &Value) -> Result<ObjectKey, ToolError> {
    ObjectKey::parse(str_arg(args, "key")?).map_err(|e| ToolError::invalid(format!("key: {e}")))
}

fn u32_arg(args: &Value, name: &str, default: u32) -> Result<u32, ToolError> {
    Ok(opt_u64_arg(args, name)?
        .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
        .unwrap_or(default))
}

/// The typed read a tool call asks for.
fn operation(tool: &str, args: &Value) -> Result<ObjectRead, ToolError> {
    Ok(match tool {
        "list_objects" => ObjectRead::ListObjects {
            bucket: bucket_arg(args)?,
            prefix: ObjectPrefix::parse(&opt_str_arg(args, "prefix")?.unwrap_or_default())
                .map_err(|e| ToolError::invalid(format!("prefix: {e}")))?,
            delimited: match opt_str_arg(args, "delimiter")?.as_deref() {
                None | Some("") => false,
                Some("/") => true,
                Some(_) => return Err(ToolError::invalid("delimiter: only \"/\" is supported")),
            },
            cursor: opt_str_arg(args, "cursor")?.filter(|c| !c.is_empty()),
            limit: u32_arg(args, "limit", DEFAULT_LIST)?,
        },
        "object_info" => ObjectRead::HeadObject {
            bucket: bucket_arg(args)?,
            key: key_arg(args)?,
        },
        "read_object" => ObjectRead::ReadObject {
            bucket: bucket_arg(args)?,
            key: key_arg(args)?,
            offset: opt_u64_arg(args, "offset")?.unwrap_or(0),
            length: opt_u64_arg(args, "length")?.unwrap_or(u64::MAX),
            encoding: match opt_str_arg(args, "encoding")?.as_deref() {
                None | Some("text") => Encoding::Text,
                Some("base64") => Encoding::Base64,
                Some(_) => {
                    return Err(ToolError::invalid("encoding: \"text\" or \"base64\""));
                }
            },
        },
        "preview_object" => {
            let key = key_arg(args)?;
            let format = match opt_str_arg(args, "format")? {
                Some(f) => PreviewFormat::parse(&f)
                    .ok_or_else(|| ToolError::invalid("format: csv, tsv, jsonl or parquet"))?,
                None => PreviewFormat::from_key(key.as_str()).ok_or_else(|| {
                    ToolError::invalid(
                        "format: the key's extension does not say; pass csv, tsv, jsonl or parquet",
                    )
                })?,
            };
            ObjectRead::PreviewObject {
                bucket: bucket_arg(args)?,
                key,
                format,
                rows: u32_arg(args, "rows", DEFAULT_PREVIEW_ROWS)?,
            }
        }
        other => {
            return Err(ToolError::failed(
                "unknown_tool",
                format!("unknown tool {other:?}"),
            ));
        }
    })
}

impl Gateway {
    pub(super) async fn object_tool(
        &self,
        ctx: &CallContext,
        tool: &str,
        args: &Value,
    ) -> Result<(Value, Measure), ToolError> {
        let connection = str_arg(args, "connection")?;
        let asked = operation(tool, args)?;
        let record = self.connection(ctx, connection).await?;
        let kind = record.kind();
        if kind.family() != conexor_types::Family::Objects {
            return Err(ToolError::invalid(format!(
                "connection {connection:?} is a {kind} database, not object storage: use run_query"
            )));
        }
        let caps = self.value_caps(READ_CAP);
        let op = S3Source::clamp(asked, &caps);
        let _memory = self.memory_permit().await?;
        let (value, rows, query_hash, mode) = match &record {
            Conn::Direct(direct) => {
                let source = self
                    .source(ctx, direct, kind)
                    .await
                    .map_err(|e| e.in_mode("direct"))?;
                let store = source
                    .objects()
                    .map_err(|e| ToolError::from(e).in_mode("direct"))?;
                let op = store
                    .scoped(op)
                    .map_err(|e| ToolError::from(e).in_mode("direct"))?;
                let answer = store
                    .read(&op, &ctx.stop)
                    .await
                    .map_err(|e| ToolError::from(e).in_mode("direct"))?;
                let hash = conexor_connectors::query_hash(&op.hash_input());
                (answer.value, answer.rows, hash, "direct")
            }
            // The agent clamps the read to its own caps and checks its own
            // allow-list; the hash both records carry is of the read it sent.
            Conn::Agent(a) => {
                let ours = conexor_connectors::query_hash(&op.hash_input());
                let (value, rows, sent) = self
                    .agent_value(ctx, a, crate::agents::ValueRead::Object(op), &caps)
                    .await?;
                (value, rows, sent.unwrap_or(ours), "agent")
            }
        };
        Ok(value_measured(value, rows, query_hash, mode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_become_typed_reads_or_clear_errors() {
        let ok = operation(
            "read_object",
            &json!({"bucket": "cx-data", "key": "a/b.csv", "offset": 5, "encoding": "base64"}),
        )
        .unwrap();
        assert!(matches!(
            ok,
            ObjectRead::ReadObject {
                offset: 5,
                encoding: Encoding::Base64,
                ..
            }
        ));
        for (tool, args, says) in [
            (
                "read_object",
                json!({"bucket": "cx-data", "key": "../secret"}),
                "key:",
            ),
            (
                "read_object",
                json!({"bucket": "Bad_Bucket", "key": "a"}),
                "bucket:",
            ),
            (
                "read_object",
                json!({"bucket": "cx-data", "key": ""}),
                "key:",
            ),
            (
                "list_objects",
                json!({"bucket": "cx-data", "delimiter": ","}),
                "delimiter",
            ),
            (
                "preview_object",
                json!({"bucket": "cx-data", "key": "noext"}),
                "format",
            ),
            (
                "read_object",
                json!({"bucket": "cx-data", "key": "a", "encoding": "hex"}),
                "encoding",
            ),
        ] {
            let err = operation(tool, &args).unwrap_err();
            assert!(err.message.contains(says), "{tool} {args}: {}", err.message);
            assert_eq!(err.code, ErrorCode::InvalidParams);
        }
        let p = operation(
            "preview_object",
            &json!({"bucket": "cx-data", "key": "e.jsonl.gz"}),
        )
        .unwrap();
        assert!(matches!(
            p,
            ObjectRead::PreviewObject {
                format: PreviewFormat::Jsonl,
                rows: 20,
                ..
            }
        ));
    }
}

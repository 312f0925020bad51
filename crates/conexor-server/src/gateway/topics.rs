//! Kafka reads: `list_topics` and `peek_messages`. A call's arguments
//! become one typed [`TopicRead`] (topic names validated; nothing that
//! produces, joins a group or commits), clamped to the server's caps before
//! anything is sent; the audit record's `query_hash` is the SHA-256 of that
//! read's [`TopicRead::hash_input`]. Message contents never enter a record.

use super::*;
use conexor_connectors::kafka::KafkaSource;
use conexor_types::topics::{Start, TopicName, TopicRead};

/// The tools of workspaces that hold a Kafka connection.
pub const TOPIC_TOOLS: &[&str] = &["list_topics", "peek_messages"];

/// Messages a peek returns when the caller does not say.
const DEFAULT_PEEK: u32 = 10;
/// Most bytes one peek returns (less when the server's `max_bytes` is lower).
const PEEK_CAP: u64 = 1024 * 1024;

/// The typed read a tool call asks for.
fn operation(tool: &str, args: &Value) -> Result<TopicRead, ToolError> {
    let read = match tool {
        "list_topics" => TopicRead::ListTopics {
            pattern: opt_str_arg(args, "pattern")?.unwrap_or_default(),
            internal: match args.get("internal") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(ToolError::invalid("internal: true or false")),
            },
        },
        "peek_messages" => {
            let topic = TopicName::parse(str_arg(args, "topic")?)
                .map_err(|e| ToolError::invalid(format!("topic: {e}")))?;
            let partition = match args.get("partition") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_i64()
                        .and_then(|p| i32::try_from(p).ok())
                        .filter(|p| *p >= 0)
                        .ok_or_else(|| ToolError::invalid("partition: a number from 0"))?,
                ),
            };
            let number = |name: &str| -> Result<Option<i64>, ToolError> {
                match args.get(name) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => v.as_i64().filter(|n| *n >= 0).map(Some).ok_or_else(|| {
                        ToolError::invalid(format!("{name}: a whole number from 0"))
                    }),
                }
            };
            let start = match opt_str_arg(args, "from")?.as_deref() {
                None | Some("latest") => Start::Latest,
                Some("earliest") => Start::Earliest,
                Some("offset") => Start::Offset(
                    number("offset")?
                        .ok_or_else(|| ToolError::invalid("from offset needs offset"))?,
                ),
                Some("timestamp") => Start::Timestamp(number("timestamp")?.ok_or_else(|| {
                    ToolError::invalid("from timestamp needs timestamp (milliseconds since 1970)")
                })?),
                Some(_) => {
                    return Err(ToolError::invalid(
                        "from: latest, earliest, offset or timestamp",
                    ));
                }
            };
            let limit = opt_u64_arg(args, "limit")?
                .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
                .unwrap_or(DEFAULT_PEEK);
            TopicRead::Peek {
                topic,
                partition,
                start,
                limit,
                max_bytes: opt_u64_arg(args, "max_bytes")?.unwrap_or(u64::MAX),
            }
        }
        other => {
            return Err(ToolError::failed(
                "unknown_tool",
                format!("unknown tool {other:?}"),
            ));
        }
    };
    read.validate()
        .map_err(|e| ToolError::invalid(e.0.to_owned()))?;
    Ok(read)
}

impl Gateway {
    pub(super) async fn topic_tool(
        &self,
        ctx: &CallContext,
        tool: &str,
        args: &Value,
    ) -> Result<(Value, Measure), ToolError> {
        let connection = str_arg(args, "connection")?;
        let asked = operation(tool, args)?;
        let record = self.connection(ctx, connection).await?;
        let kind = record.kind();
        if kind.family() != conexor_types::Family::Topics {
            return Err(ToolError::invalid(format!(
                "connection {connection:?} is a {kind} connection, not Kafka"
            )));
        }
        let caps = self.value_caps(PEEK_CAP);
        let op = KafkaSource::clamp(asked, &caps);
        let _memory = self.memory_permit().await?;
        let (value, rows, query_hash, mode) = match &record {
            Conn::Direct(direct) => {
                let source = self
                    .source(ctx, direct, kind)
                    .await
                    .map_err(|e| e.in_mode("direct"))?;
                let cluster = source
                    .topics()
                    .map_err(|e| ToolError::from(e).in_mode("direct"))?;
                let answer = cluster
                    .read(&op, &ctx.stop)
                    .await
                    .map_err(|e| ToolError::from(e).in_mode("direct"))?;
                let hash = conexor_connectors::query_hash(&op.hash_input());
                (answer.value, answer.rows, hash, "direct")
            }
            Conn::Agent(a) => {
                let ours = conexor_connectors::query_hash(&op.hash_input());
                let (value, rows, sent) = self
                    .agent_value(ctx, a, crate::agents::ValueRead::Topics(op), &caps)
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
        let peek = operation(
            "peek_messages",
            &json!({"topic": "orders", "partition": 1, "from": "offset", "offset": 5, "limit": 3}),
        )
        .unwrap();
        assert!(matches!(
            peek,
            TopicRead::Peek {
                partition: Some(1),
                start: Start::Offset(5),
                limit: 3,
                ..
            }
        ));
        for (args, says) in [
            (json!({"topic": "ord\u{0}ers"}), "topic:"),
            (
                json!({"topic": "orders", "from": "offset", "offset": -1}),
                "offset",
            ),
            (
                json!({"topic": "orders", "from": "offset", "offset": 5}),
                "partition",
            ),
            (json!({"topic": "orders", "partition": -2}), "partition"),
            (json!({"topic": "orders", "from": "tomorrow"}), "from:"),
            (json!({"topic": "orders", "from": "timestamp"}), "timestamp"),
        ] {
            let err = operation("peek_messages", &args).unwrap_err();
            assert!(err.message.contains(says), "{args}: {}", err.message);
            assert_eq!(err.code, ErrorCode::InvalidParams);
        }
        // A million is asked; the clamp keeps the server's caps.
        let huge = operation(
            "peek_messages",
            &json!({"topic": "orders", "limit": 1_000_000}),
        )
        .unwrap();
        let caps = Limits {
            max_rows: 100,
            max_bytes: 1024,
            timeout_ms: 1000,
        };
        assert!(matches!(
            KafkaSource::clamp(huge, &caps),
            TopicRead::Peek {
                limit: 100,
                max_bytes: 1024,
                ..
            }
        ));
    }
}

//! Kafka: validated topic names, and the typed read an AI may ask for.
//!
//! [`TopicRead`] lists topics or peeks at messages by explicit offset; it
//! has no variant that produces, deletes, creates, joins a consumer group
//! or commits an offset, so none of those can be asked of a connector (or
//! sent to an agent) at all.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a topic name or a peek was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TopicError(pub &'static str);

/// A topic name by Kafka's rules: 1–249 of `a-z A-Z 0-9 . _ -`, not `.`
/// or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TopicName(String);

impl TopicName {
    pub fn parse(text: &str) -> Result<TopicName, TopicError> {
        if text.is_empty()
            || text.len() > 249
            || text == "."
            || text == ".."
            || !text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        {
            return Err(TopicError(
                "a topic name is 1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-'",
            ));
        }
        Ok(TopicName(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Kafka's own topics (`__consumer_offsets`, `_schemas`, …).
    pub fn is_internal(&self) -> bool {
        self.0.starts_with('_')
    }
}

impl TryFrom<String> for TopicName {
    type Error = TopicError;
    fn try_from(text: String) -> Result<Self, TopicError> {
        TopicName::parse(&text)
    }
}

impl From<TopicName> for String {
    fn from(name: TopicName) -> String {
        name.0
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a peek starts, in each partition it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "from", content = "at")]
pub enum Start {
    /// The oldest message still kept.
    Earliest,
    /// The last N messages (N is the peek's limit).
    Latest,
    /// This offset (one partition).
    Offset(i64),
    /// The first message at or after this time, milliseconds since the epoch.
    Timestamp(i64),
}

impl Start {
    fn text(&self) -> String {
        match self {
            Start::Earliest => "earliest".into(),
            Start::Latest => "latest".into(),
            Start::Offset(o) => format!("offset={o}"),
            Start::Timestamp(t) => format!("timestamp={t}"),
        }
    }
}

/// What may be asked of a Kafka connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum TopicRead {
    /// Topics with their partitions' earliest and latest offsets.
    ListTopics {
        /// Substring of the name (case-insensitive); empty: all.
        #[serde(default)]
        pattern: String,
        /// Include Kafka's own topics (names starting with `_`).
        #[serde(default)]
        internal: bool,
    },
    /// Messages of one topic by explicit offset: no group, no commit.
    Peek {
        topic: TopicName,
        /// One partition, or all of them.
        #[serde(default)]
        partition: Option<i32>,
        start: Start,
        /// Most messages returned.
        limit: u32,
        /// Most bytes of keys, values and headers returned.
        max_bytes: u64,
    },
}

impl TopicRead {
    pub fn name(&self) -> &'static str {
        match self {
            TopicRead::ListTopics { .. } => "kafka.list_topics",
            TopicRead::Peek { .. } => "kafka.peek",
        }
    }

    /// Checks what the types cannot: an offset start names one partition,
    /// offsets and times are not negative, the pattern is short.
    pub fn validate(&self) -> Result<(), TopicError> {
        match self {
            TopicRead::ListTopics { pattern, .. } => {
                if pattern.len() > 249 || pattern.chars().any(char::is_control) {
                    return Err(TopicError("the pattern is a part of a topic name"));
                }
            }
            TopicRead::Peek {
                partition, start, ..
            } => {
                if partition.is_some_and(|p| p < 0) {
                    return Err(TopicError("a partition is a number from 0"));
                }
                match start {
                    Start::Offset(o) if *o < 0 => {
                        return Err(TopicError("an offset is a number from 0"));
                    }
                    Start::Offset(_) if partition.is_none() => {
                        return Err(TopicError(
                            "an offset is of one partition: give the partition too",
                        ));
                    }
                    Start::Timestamp(t) if *t < 0 => {
                        return Err(TopicError("a timestamp is milliseconds since 1970"));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The text the audit's `query_hash` is of (docs/audit-format.md §1.1),
    /// after the caps were applied.
    pub fn hash_input(&self) -> String {
        match self {
            TopicRead::ListTopics { pattern, internal } => {
                format!("{}\n{pattern}\n{internal}", self.name())
            }
            TopicRead::Peek {
                topic,
                partition,
                start,
                limit,
                max_bytes,
            } => format!(
                "{}\n{topic}\n{}\n{}\n{limit}\n{max_bytes}",
                self.name(),
                partition.map_or("*".to_owned(), |p| p.to_string()),
                start.text()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_s_rules() {
        assert!(TopicName::parse("orders").is_ok());
        assert!(TopicName::parse("orders.v2_eu-1").is_ok());
        for bad in [
            "",
            ".",
            "..",
            "a b",
            "a/b",
            "ord\u{0}ers",
            "x\r\ny",
            &"a".repeat(250),
        ] {
            assert!(TopicName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            TopicName::parse("__consumer_offsets")
                .unwrap()
                .is_internal()
        );
    }

    #[test]
    fn peeks_are_checked_and_hashed_as_sent() {
        let peek = |partition, start| TopicRead::Peek {
            topic: TopicName::parse("orders").unwrap(),
            partition,
            start,
            limit: 10,
            max_bytes: 1024,
        };
        assert!(peek(None, Start::Offset(5)).validate().is_err());
        assert!(peek(Some(0), Start::Offset(-1)).validate().is_err());
        assert!(peek(Some(-1), Start::Earliest).validate().is_err());
        assert!(peek(None, Start::Timestamp(-5)).validate().is_err());
        assert!(peek(Some(2), Start::Offset(5)).validate().is_ok());
        assert_eq!(
            peek(None, Start::Latest).hash_input(),
            "kafka.peek\norders\n*\nlatest\n10\n1024"
        );
        // Nothing but a read can be decoded.
        let produce = r#"{"op": "produce", "topic": "orders"}"#;
        assert!(serde_json::from_str::<TopicRead>(produce).is_err());
        let sneaky = r#"{"op": "list_topics", "commit": true}"#;
        assert!(serde_json::from_str::<TopicRead>(sneaky).is_err());
    }
}

//! The messages, as JSON objects with a `type` member. Unknown members are
//! ignored (a newer peer may add some); an unknown `type` is an error the
//! receiver answers or drops, never a crash.

use crate::Error;
use conexor_types::Column;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A connection the agent offers: its name and kind only. Where it points
/// and how it logs in stay in the agent's own configuration.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ConnectionOffer {
    pub name: String,
    /// `postgresql`, `mysql`, `sqlite`, `sqlserver`, `s3` or `rest`.
    pub kind: String,
}

/// An offered connection the server did not accept, and why.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct RejectedOffer {
    pub name: String,
    pub reason: String,
}

/// What the server asks of one connection.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Operation {
    /// One query. The agent checks it with its own guard and its own limits,
    /// whatever the server says.
    Query {
        sql: String,
        #[serde(default)]
        params: Vec<Value>,
        max_rows: u64,
        max_bytes: u64,
        timeout_ms: u64,
    },
    /// Rediscover the schema; answered with a `schema` message carrying the id.
    Discover,
    /// One object storage read (a connection the agent offered as `s3`).
    /// The agent clamps it to its own limits and checks its own allow-list
    /// of buckets and prefixes, whatever the server says; the read's type
    /// has no variant that writes, deletes, copies or presigns. Answered
    /// with an `object` message.
    Object {
        read: conexor_types::objects::ObjectRead,
        max_rows: u64,
        max_bytes: u64,
        timeout_ms: u64,
    },
    /// One REST API call (a connection the agent offered as `rest`): an
    /// operation of the agent's own description, by name, and its
    /// arguments. The agent checks them against that description and sends
    /// only GET or HEAD, only to its own base URL, within its own caps,
    /// whatever the server says. Answered with an `object` message.
    Call {
        operation: String,
        #[serde(default)]
        arguments: serde_json::Map<String, Value>,
        max_bytes: u64,
        timeout_ms: u64,
    },
    /// One Kafka read (a connection the agent offered as `kafka`): list
    /// topics, or peek by explicit offset. The read's type has no variant
    /// that produces, joins a group or commits; the agent clamps it to its
    /// own caps. Answered with an `object` message.
    Topics {
        read: conexor_types::topics::TopicRead,
        max_rows: u64,
        max_bytes: u64,
        timeout_ms: u64,
    },
}

/// Server to agent.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First message of every connection: the nonce to sign.
    Challenge {
        protocol: u32,
        nonce: String,
    },
    /// The agent is who it says; it may now offer schema and serve requests.
    Welcome {
        agent_id: String,
        workspace_id: String,
        name: String,
        /// The server pings this often and expects traffic at least as often.
        heartbeat_ms: u64,
        /// Most requests the server keeps in flight on this agent.
        max_in_flight: u32,
        #[serde(default)]
        rejected: Vec<RejectedOffer>,
        /// Optional behaviours this server understands (see [`ROWS_IN_DONE`]);
        /// an agent uses only those listed, so agents and servers of
        /// different versions keep working together.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        features: Vec<String>,
    },
    /// The connection is refused; the socket closes after this.
    Refused {
        code: String,
        reason: String,
    },
    Request {
        id: u64,
        connection: String,
        op: Operation,
    },
    /// The caller went away: stop work on `id` if it is still running.
    Cancel {
        id: u64,
    },
    Ping {
        seq: u64,
    },
    Pong {
        seq: u64,
    },
}

/// Agent to server.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMessage {
    /// First connection: exchange a one-time token for an identity.
    Enrol {
        token: String,
        public_key: String,
        signature: String,
        version: String,
        connections: Vec<ConnectionOffer>,
    },
    /// Every later connection.
    Hello {
        agent_id: String,
        workspace_id: String,
        signature: String,
        version: String,
        connections: Vec<ConnectionOffer>,
    },
    /// Discovered metadata of one connection (names, types, keys, comments,
    /// estimates; never rows). `id` is set when it answers a `discover`.
    Schema {
        connection: String,
        #[serde(default)]
        id: Option<u64>,
        schema: Value,
    },
    /// A batch of rows; the first batch of a request carries the columns.
    Rows {
        id: u64,
        #[serde(default)]
        columns: Option<Vec<Column>>,
        rows: Vec<Vec<Value>>,
    },
    Done {
        id: u64,
        rows: u64,
        bytes: u64,
        truncated: bool,
        duration_ms: u64,
        /// SHA-256 hex of the exact statement the agent sent to its source.
        query_hash: Option<String>,
        /// With [`ROWS_IN_DONE`]: the columns, when no `rows` message carried
        /// them, and the last batch of rows, in this message instead of a
        /// `rows` message before it (a small answer is one frame).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        columns: Option<Vec<Column>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        batch: Vec<Vec<Value>>,
    },
    /// The request failed or was refused. `code` is a value-free class;
    /// `message` is for the AI caller and is never logged by the server.
    /// The answer to an `object` request: the read's JSON answer, and the
    /// hash of the read the agent sent (after its own caps).
    Object {
        id: u64,
        value: Value,
        #[serde(default)]
        rows: Option<u64>,
        fetched_bytes: u64,
        duration_ms: u64,
        query_hash: String,
    },
    Error {
        id: u64,
        code: String,
        message: String,
        denied: bool,
    },
    Ping {
        seq: u64,
    },
    Pong {
        seq: u64,
    },
}

/// A `welcome` feature: `done` may carry the columns and the last batch of
/// rows (see [`AgentMessage::Done`]).
pub const ROWS_IN_DONE: &str = "rows_in_done";

/// One message as a JSON text frame.
pub fn encode<T: Serialize>(message: &T) -> String {
    // Serialising these types cannot fail: every map key is a string.
    serde_json::to_string(message).unwrap_or_else(|_| String::from("{}"))
}

fn decode<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::Malformed(classify(&e)))
}

/// Decodes a frame sent by the server.
pub fn decode_server(text: &str) -> Result<ServerMessage, Error> {
    decode(text)
}

/// Decodes a frame sent by an agent.
pub fn decode_agent(text: &str) -> Result<AgentMessage, Error> {
    decode(text)
}

/// A description of a decoding error that quotes nothing of the input.
fn classify(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Io => "i/o".into(),
        Category::Syntax => format!("not JSON (line {}, column {})", e.line(), e.column()),
        Category::Data => "not a known message shape".into(),
        Category::Eof => "truncated JSON".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_and_shapes() {
        let m = ServerMessage::Request {
            id: 7,
            connection: "wh".into(),
            op: Operation::Query {
                sql: "SELECT 1".into(),
                params: vec![json!(1)],
                max_rows: 10,
                max_bytes: 100,
                timeout_ms: 1000,
            },
        };
        let text = encode(&m);
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"type":"request","id":7,"connection":"wh","op":{"kind":"query","sql":"SELECT 1","params":[1],"max_rows":10,"max_bytes":100,"timeout_ms":1000}})
        );
        assert_eq!(decode_server(&text).unwrap(), m);
        let done = AgentMessage::Done {
            id: 7,
            rows: 1,
            bytes: 3,
            truncated: false,
            duration_ms: 2,
            query_hash: None,
            columns: None,
            batch: vec![],
        };
        // Without a batch, `done` is what every version of the protocol sends.
        let text = encode(&done);
        assert!(
            !text.contains("batch") && !text.contains("columns"),
            "{text}"
        );
        assert_eq!(decode_agent(&text).unwrap(), done);
        let with_rows = AgentMessage::Done {
            id: 7,
            rows: 1,
            bytes: 3,
            truncated: false,
            duration_ms: 2,
            query_hash: None,
            columns: Some(vec![Column {
                name: "id".into(),
                type_name: "INT4".into(),
            }]),
            batch: vec![vec![json!(42)]],
        };
        assert_eq!(decode_agent(&encode(&with_rows)).unwrap(), with_rows);
    }

    /// A server of this version understands `done` with rows; an agent that
    /// meets an older server (no `features` in `welcome`) sees none listed.
    #[test]
    fn welcome_features_are_optional_both_ways() {
        let old = r#"{"type":"welcome","agent_id":"a","workspace_id":"w","name":"n","heartbeat_ms":1000,"max_in_flight":4}"#;
        match decode_server(old).unwrap() {
            ServerMessage::Welcome { features, .. } => assert!(features.is_empty()),
            other => panic!("{other:?}"),
        }
        let new = ServerMessage::Welcome {
            agent_id: "a".into(),
            workspace_id: "w".into(),
            name: "n".into(),
            heartbeat_ms: 1000,
            max_in_flight: 4,
            rejected: vec![],
            features: vec![ROWS_IN_DONE.into()],
        };
        assert_eq!(decode_server(&encode(&new)).unwrap(), new);
    }

    #[test]
    fn garbage_is_an_error_that_quotes_nothing() {
        for text in [
            "",
            "nope",
            "{\"type\":\"get_config\"}",
            "{\"type\":\"request\",\"id\":\"x\"}",
            "[1,2]",
            "{\"type\":\"request\",\"id\":1,\"connection\":\"a\",\"op\":{\"kind\":\"write\"}}",
        ] {
            let err = decode_server(text).unwrap_err();
            assert!(!err.to_string().contains("get_config"), "{err}");
        }
        assert!(decode_agent("{\"type\":\"hello\"}").is_err());
    }
}

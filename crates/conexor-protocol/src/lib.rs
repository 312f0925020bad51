//! The agent protocol, version 1 (DESIGN §7): the JSON messages that the
//! on-premise agent and the server exchange over one WebSocket at
//! [`PATH`], and the challenge signature by which an agent proves who it is.
//!
//! Why a crate of its own: the agent and the server must agree on every
//! byte, and neither should pull the other's dependencies. This crate holds
//! no I/O, no clock and no network code; nothing here panics on input.
//!
//! The shape of a session:
//!
//! ```text
//! server → agent  challenge {nonce}
//! agent  → server enrol {token, public_key, signature, …}   (first time only)
//!                 hello {agent_id, workspace_id, signature, …} (every later time)
//! server → agent  welcome {…} | refused {code, reason}
//! agent  → server schema {connection, schema}      (per offered connection)
//! server → agent  request {id, connection, op}     (many in flight)
//! agent  → server rows {id, columns?, rows}… then done {id, …} | error {id, …}
//! both            ping {seq} / pong {seq}
//! ```
//!
//! What can never travel: there is no message that carries a connection
//! string, a password or any part of the agent's local configuration; the
//! agent sends only names, kinds, schema metadata and the rows of guarded
//! reads.

#![forbid(unsafe_code)]

mod identity;
mod messages;

pub use identity::{
    AgentKey, ENROL_SUBJECT, challenge_message, hello_subject, new_nonce, verify_challenge,
};
pub use messages::{
    AgentMessage, ConnectionOffer, Operation, ROWS_IN_DONE, RejectedOffer, ServerMessage,
    decode_agent, decode_server, encode,
};

/// Where the server accepts agents.
pub const PATH: &str = "/agent/v1";
/// The protocol version this crate speaks.
pub const VERSION: u32 = 1;
/// Largest WebSocket message either side accepts. Larger frames are refused
/// by the WebSocket layer before they are parsed.
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;
/// Row batches are cut at about this many bytes of encoded rows.
pub const BATCH_BYTES: usize = 256 << 10;
/// Most bytes one socket read takes, on both ends. The WebSocket layer fills
/// its read buffer with zeros up to this size before every read (its default,
/// 128 KiB, was a quarter of the server's instructions per agent-mode call
/// under callgrind); messages larger than this are read in several reads.
pub const READ_CHUNK_BYTES: usize = 16 << 10;
/// Most connections one agent may offer.
pub const MAX_OFFERS: usize = 100;
/// Enrolment tokens: `cxa_` and 43 base62 characters.
pub const TOKEN_PREFIX: &str = "cxa_";

/// An error decoding or checking a protocol value. Messages carry no content
/// from the input beyond its kind.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    #[error("not a valid protocol message: {0}")]
    Malformed(String),
    #[error("invalid public key")]
    PublicKey,
    #[error("invalid signature encoding")]
    Signature,
    #[error("the operating system's random source is unavailable")]
    Random,
}

/// True for names the protocol accepts for connections and agents: 1–64
/// characters of `A–Z a–z 0–9 _ - .`, starting with a letter or digit.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// True for an error class code an agent may report: value-free, short,
/// like `guard.denied_statement` or `sqlstate:42P01`.
pub fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code.as_bytes()[0].is_ascii_lowercase()
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes() {
        assert!(valid_name("warehouse"));
        assert!(valid_name("db-1.eu"));
        assert!(!valid_name(""));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"a".repeat(65)));
        assert!(valid_code("sqlstate:42P01"));
        assert!(valid_code("guard.denied_function"));
        assert!(!valid_code("password is hunter2"));
        assert!(!valid_code("Guard"));
    }
}

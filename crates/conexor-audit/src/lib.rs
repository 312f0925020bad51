//! The audit chain of Conexor (DESIGN §6, `docs/audit-format.md`): records,
//! their hash chain, signed checkpoints, export line layouts and the offline
//! verifier.
//!
//! What it does: builds one [`Record`] per tool call from a [`Draft`] and
//! links it into its workspace's [`Chain`]
//! (`hash = hex(SHA-256(prev_hash || JCS(record without hash)))`), signs
//! [`Checkpoint`]s with Ed25519 over `JCS({workspace, seq, hash, ts})`,
//! writes export lines one at a time ([`export`]: JSON Lines, CSV, OCSF) and
//! checks an export offline with [`verify()`], naming the first bad line and
//! the kind of damage ([`Damage`]).
//!
//! What it does not do: no storage, no I/O beyond the reader handed to
//! [`verify()`], no clock of its own (every timestamp is passed in), no
//! network, database, HTTP or MCP crate (security-core invariant). It does
//! not decide what goes into `params` or `error`: the caller must never put
//! row values or driver messages there. Nothing here panics on input.

#![forbid(unsafe_code)]

mod chain;
mod csv;
pub mod export;
mod jcs;
mod lines;
mod record;
mod sign;
mod strict;
mod verify;

pub use chain::{Chain, Interval, START_TOOL};
pub use record::{Draft, Outcome, Record, ZERO_HASH, ensure_i_json, record_hash};
pub use sign::{Checkpoint, PublicKey, SigningKey};
pub use verify::{Damage, ExportKind, Problem, Report, SignatureTrust, verify};

/// Everything that can go wrong outside verification (which reports
/// [`Problem`]s instead). Messages are lowercase and carry no record content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A hash is not 64 lowercase hexadecimal characters.
    #[error("invalid hash: expected 64 lowercase hex characters")]
    InvalidHash,
    /// A public key text is not `ed25519:<base64url of 32 bytes>` or not a
    /// valid curve point.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(&'static str),
    /// The sequence number would pass `u64::MAX`.
    #[error("sequence number overflow")]
    SeqOverflow,
    /// A timestamp is not RFC 3339.
    #[error("invalid timestamp: expected rfc 3339")]
    InvalidTimestamp,
    /// Serialising to JSON or to canonical JSON (RFC 8785) failed.
    #[error("json serialisation failed: {0}")]
    Json(String),
    /// The operating system's random source failed.
    #[error("the operating system's random source is unavailable")]
    Random,
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json(e.to_string())
    }
}

/// Formats a timestamp the way every record and checkpoint carries it: UTC,
/// RFC 3339, milliseconds, `Z` (`2026-11-22T05:12:39.123Z`).
pub fn format_ts(ts: chrono::DateTime<chrono::Utc>) -> String {
    ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 timestamp (any offset) into UTC.
pub fn parse_ts(text: &str) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| Error::InvalidTimestamp)
}

/// True when `s` is exactly 64 lowercase hexadecimal characters.
pub(crate) fn is_hash_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

//! Table previews of object contents: CSV, TSV and JSON Lines (gzip too)
//! from an object's head, and Parquet from its footer and first row groups.
//!
//! Pure decoders, no I/O: the caller fetches bounded byte ranges and hands
//! them over, so what a preview reads from the store is decided by the
//! caller's ranges and checked here before anything is decoded (a column
//! chunk larger than the fetch cap, a footer that lies about its length, a
//! decompression bomb: each is a clear error with bounded memory). In a
//! crate of its own because the Parquet decoder is heavy to build and this
//! code rarely changes.

mod delimited;
mod pages;
pub mod parquet;
mod thrift;

pub use delimited::{MAX_INFLATED, TextFormat, inflate_head, is_gzip, preview_text};

use serde_json::Value;

/// Most columns a preview keeps.
const MAX_COLUMNS: usize = 1000;
/// Longest text cell kept whole; longer ones are cut and marked.
const MAX_CELL: usize = 4096;

/// A previewed table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Preview {
    pub columns: Vec<PreviewColumn>,
    pub rows: Vec<Vec<Value>>,
    /// More rows exist (or may exist) beyond those shown.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PreviewColumn {
    pub name: String,
    /// CSV/JSON: inferred from the values shown (`integer`, `number`,
    /// `boolean`, `text`, `object`, `array`, `null`, `mixed`); Parquet: the
    /// column's own type.
    #[serde(rename = "type")]
    pub type_name: String,
}

/// Why an object cannot be previewed; the message is for the caller and
/// quotes no object content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PreviewError(pub String);

fn bad(message: impl Into<String>) -> PreviewError {
    PreviewError(message.into())
}

fn cell(text: &str) -> Value {
    if text.len() <= MAX_CELL {
        Value::String(text.to_owned())
    } else {
        let mut end = MAX_CELL;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Value::String(format!("{}… [cut at {MAX_CELL} bytes]", &text[..end]))
    }
}

//! The compact result of a read: columns once, then rows of JSON values.
//!
//! Values follow one mapping shared by direct and agent mode (DESIGN §8):
//! integers beyond ±2^53 and decimals as strings, bytes as `{"$b64": …}`,
//! timestamps as RFC 3339 strings, NaN and infinities as strings.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// The source's own type name, as the driver reports it.
    #[serde(rename = "type")]
    pub type_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultSet {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<serde_json::Value>>,
    /// True when the source had more rows (or bytes) than the caps allowed.
    pub truncated: bool,
    /// Size in bytes of the rows as encoded JSON; this is the audit's `bytes`.
    pub bytes: u64,
}

/// Largest integer a JSON number carries exactly in every client.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Maps an integer to JSON: a number when exact in IEEE doubles, else a string.
pub fn int_value(value: i64) -> serde_json::Value {
    if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&value) {
        serde_json::Value::from(value)
    } else {
        serde_json::Value::String(value.to_string())
    }
}

/// Maps a float to JSON: NaN and infinities as strings.
pub fn float_value(value: f64) -> serde_json::Value {
    if value.is_finite() {
        serde_json::Number::from_f64(value)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| serde_json::Value::String(value.to_string()))
    } else if value.is_nan() {
        serde_json::Value::String("NaN".into())
    } else if value > 0.0 {
        serde_json::Value::String("Infinity".into())
    } else {
        serde_json::Value::String("-Infinity".into())
    }
}

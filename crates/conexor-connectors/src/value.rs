//! Collecting rows within the caps, and the JSON mapping of values shared by
//! every connector (DESIGN §8): big integers and decimals as strings, bytes
//! as `{"$b64": …}`, timestamps RFC 3339, NaN and infinities as strings.

use base64::Engine;
use conexor_types::{Column, Limits, ResultSet};
use serde_json::Value;

pub(crate) fn bytes_value(bytes: &[u8]) -> Value {
    let mut map = serde_json::Map::new();
    map.insert(
        "$b64".into(),
        Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
    );
    Value::Object(map)
}

pub(crate) fn unsupported(type_name: &str) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("$unsupported".into(), Value::String(type_name.to_owned()));
    Value::Object(map)
}

/// Accumulates rows until a cap is reached. Memory held is bounded by the
/// caps, whatever the size of the table behind the query.
pub(crate) struct Collector {
    columns: Vec<Column>,
    rows: Vec<Vec<Value>>,
    bytes: u64,
    max_rows: u64,
    max_bytes: u64,
    truncated: bool,
}

impl Collector {
    pub(crate) fn new(limits: &Limits) -> Collector {
        Collector {
            columns: Vec::new(),
            rows: Vec::new(),
            bytes: 0,
            max_rows: limits.max_rows,
            max_bytes: limits.max_bytes,
            truncated: false,
        }
    }

    pub(crate) fn has_columns(&self) -> bool {
        !self.columns.is_empty()
    }

    pub(crate) fn set_columns(&mut self, columns: Vec<Column>) {
        self.columns = columns;
    }

    /// Adds a row; returns false when the caller should stop reading.
    pub(crate) fn push(&mut self, row: Vec<Value>) -> bool {
        if self.rows.len() as u64 >= self.max_rows {
            self.truncated = true;
            return false;
        }
        let size = encoded_len(&row);
        if self.bytes + size > self.max_bytes {
            self.truncated = true;
            return false;
        }
        self.bytes += size;
        self.rows.push(row);
        true
    }

    pub(crate) fn finish(self) -> ResultSet {
        ResultSet {
            columns: self.columns,
            rows: self.rows,
            truncated: self.truncated,
            bytes: self.bytes,
        }
    }
}

/// Length of a value's JSON encoding, counted without building it.
pub fn encoded_len(value: &impl serde::Serialize) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Serialising a `Value` cannot fail (no map has a non-string key).
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// Binds one JSON parameter: null, booleans, integers, floats and strings as
/// themselves; arrays and objects as their JSON text. Used where the driver
/// has no JSON parameter type of its own (MySQL, SQLite).
pub(crate) fn bind_json<'q, DB>(
    query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    param: &Value,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    for<'t> bool: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> f64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> Option<String>: sqlx::Encode<'t, DB>,
{
    match param {
        Value::Null => query.bind(None::<String>),
        Value::Bool(b) => query.bind(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => query.bind(i),
            (None, Some(f)) => query.bind(f),
            _ => query.bind(n.to_string()),
        },
        Value::String(s) => query.bind(s.clone()),
        other => query.bind(other.to_string()),
    }
}

/// Column names and the driver's type names of a row.
pub(crate) fn columns_of<R: sqlx::Row>(row: &R) -> Vec<Column> {
    use sqlx::{Column as _, TypeInfo};
    row.columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_owned(),
            type_name: c.type_info().name().to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte cap counts exactly what the row's JSON will be.
    #[test]
    fn encoded_len_is_the_length_of_the_encoding() {
        let row = vec![
            Value::from(1),
            Value::String("a \"quoted\" é\n".into()),
            Value::Null,
            bytes_value(&[0, 1, 2, 255]),
            serde_json::json!({"k": [1.5, true]}),
        ];
        assert_eq!(
            encoded_len(&row),
            serde_json::to_vec(&row).unwrap().len() as u64
        );
    }
}

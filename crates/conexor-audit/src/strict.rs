//! Strict reading for the verifier: a line must be exactly the canonical
//! form of what it says, so that every reader sees the record that was
//! hashed.
//!
//! What it does: parses JSON while refusing duplicated members (serde_json
//! keeps the last one silently, other readers keep the first), and explains
//! where a line differs from the canonical text the verifier re-serialised
//! from it (members out of order, whitespace, a non-canonical number or
//! string escape, unneeded CSV quotes or a stray neutralising `'`).
//!
//! What it does not do: it does not decide what the canonical text is; the
//! caller renders it with the same functions the export uses.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// A JSON value read with duplicate members refused.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a json value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut obj = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if obj.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate member {key}")));
            }
            obj.insert(key, v);
        }
        Ok(Value::Object(obj))
    }
}

/// Parses one JSON text, refusing duplicated members anywhere in it. The
/// error is `duplicate member NAME` for a duplicate, `not json: …` otherwise.
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<Strict>(text) {
        Ok(Strict(v)) => Ok(v),
        Err(e) => {
            let msg = e.to_string();
            if msg.starts_with("duplicate member ") {
                Err(msg)
            } else {
                Err(format!("not json: {msg}"))
            }
        }
    }
}

/// `None` when `found` is exactly `expected`; otherwise where and how they
/// differ. `what` names the canonical form (`its canonical json (rfc 8785)`).
/// `hint` lists the usual causes.
pub(crate) fn difference(found: &[u8], expected: &[u8], what: &str, hint: &str) -> Option<String> {
    if found == expected {
        return None;
    }
    let at = found
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(found.len().min(expected.len()));
    let column = String::from_utf8_lossy(&found[..at]).chars().count() + 1;
    let snippet = |bytes: &[u8]| -> String {
        let tail = String::from_utf8_lossy(&bytes[at..]);
        let mut s: String = tail.chars().take(24).collect();
        if tail.chars().count() > 24 {
            s.push('…');
        }
        s
    };
    let cause = if strip_whitespace(found) == expected {
        "whitespace outside strings"
    } else {
        hint
    };
    Some(format!(
        "not exactly {what}: at column {column} expected `{}` but found `{}` ({cause})",
        snippet(expected),
        snippet(found)
    ))
}

/// `text` without the whitespace JSON allows between tokens.
fn strip_whitespace(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in text {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            if b == b'"' {
                in_string = true;
            }
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        assert_eq!(
            parse(r#"{"a":1,"a":2}"#).err().as_deref().map(|e| e
                .split(" at line")
                .next()
                .unwrap_or_default()
                .to_owned()),
            Some("duplicate member a".to_owned())
        );
        assert!(parse(r#"{"x":[{"b":1,"c":{"d":1,"d":1}}]}"#).is_err());
        // The same name spelled with an escape is the same member.
        assert!(parse(r#"{"ab":1,"a\u0062":2}"#).is_err());
        assert_eq!(
            parse(r#"{"a":[1,-2,2.5,null,true,"s"],"b":{}}"#).ok(),
            serde_json::from_str(r#"{"a":[1,-2,2.5,null,true,"s"],"b":{}}"#).ok()
        );
        assert!(parse("{").is_err_and(|e| e.starts_with("not json")));
        assert!(parse("[1e400]").is_err());
    }

    #[test]
    fn differences_name_the_column_and_the_cause() {
        assert_eq!(difference(b"{}", b"{}", "x", "h"), None);
        let d = difference(br#"{"a": 1}"#, br#"{"a":1}"#, "x", "h").unwrap_or_default();
        assert!(d.contains("column 6") && d.contains("whitespace"), "{d}");
        let d = difference(br#"{"b":1,"a":1}"#, br#"{"a":1,"b":1}"#, "x", "h").unwrap_or_default();
        assert!(d.contains("column 3") && d.ends_with("(h)"), "{d}");
    }
}

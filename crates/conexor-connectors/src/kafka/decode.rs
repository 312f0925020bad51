//! A message's key, value and headers as an AI can read them: JSON when
//! the bytes are JSON, text when they are UTF-8, base64 otherwise (and
//! said so); the Confluent wire format (magic byte 0, a 4-byte schema id)
//! is recognised and named. Each part is cut at its byte cap, and says so.

use base64::Engine;
use serde_json::{Value, json};

/// One part of a message (key, value or a header), decoded within `cap` bytes.
pub fn part(bytes: &[u8], cap: usize) -> Value {
    let total = bytes.len();
    let cut = total > cap;
    let kept = if cut { &bytes[..cap] } else { bytes };
    if kept.len() >= 5 && kept[0] == 0 {
        let id = u32::from_be_bytes([kept[1], kept[2], kept[3], kept[4]]);
        return json!({
            "encoding": "base64",
            "data": base64::engine::general_purpose::STANDARD.encode(&kept[5..]),
            "bytes": total,
            "truncated": cut,
            "schema_id": id,
            "note": format!("Confluent wire format (schema id {id}): Avro or JSON Schema, shown as base64 without a schema registry"),
        });
    }
    let text = match std::str::from_utf8(kept) {
        Ok(t) => Some(t),
        // Cut mid-character by the cap: keep the whole characters.
        Err(e) if cut && e.error_len().is_none() => {
            std::str::from_utf8(&kept[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    match text {
        Some(t) if !cut => match serde_json::from_str::<Value>(t) {
            Ok(parsed) if parsed.is_object() || parsed.is_array() => {
                json!({"encoding": "json", "data": parsed, "bytes": total, "truncated": false})
            }
            _ => json!({"encoding": "text", "data": t, "bytes": total, "truncated": false}),
        },
        Some(t) => json!({"encoding": "text", "data": t, "bytes": total, "truncated": true}),
        None => json!({
            "encoding": "base64",
            "data": base64::engine::general_purpose::STANDARD.encode(kept),
            "bytes": total,
            "truncated": cut,
            "note": "not UTF-8: shown as base64",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_json_text_or_base64_and_cut_at_the_cap() {
        assert_eq!(part(br#"{"id": 7}"#, 100)["data"]["id"], 7);
        assert_eq!(part(b"hello", 100)["encoding"], "text");
        assert_eq!(part(b"42", 100)["encoding"], "text");
        let bin = part(&[0xff, 0xfe, 1], 100);
        assert_eq!(bin["encoding"], "base64");
        assert_eq!(bin["data"], "//4B");
        let avro = part(&[0, 0, 0, 0, 9, 2, 4], 100);
        assert_eq!(avro["schema_id"], 9);
        let long = "é".repeat(100);
        let cut = part(long.as_bytes(), 5);
        assert_eq!(cut["data"], "éé");
        assert_eq!(cut["truncated"], true);
        assert_eq!(cut["bytes"], 200);
    }
}

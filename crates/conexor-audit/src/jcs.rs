//! JCS (RFC 8785) of a record body, written directly.
//!
//! The generic `serde_jcs` serializer re-parses every member name to sort
//! it and buffers every value separately: about 100,000 instructions for one
//! record, the largest single cost of an audited call (bench/RESULTS.md).
//! This writer produces the same bytes for the record's fixed fields (their
//! names are written in their sorted order) and for any `params` value:
//! strings escaped as `serde_json` escapes them (the JCS rules: `"`, `\` and
//! control characters only, `\u00xx` in lower case), numbers as ECMAScript
//! prints the IEEE 754 double (`ryu-js`, as `serde_jcs` does, integers
//! included), object members sorted by their UTF-16 code units.
//! `tests::same_bytes_as_serde_jcs` checks it against `serde_jcs` on
//! generated values; `serde_jcs` stays the reference for everything else.

use crate::record::Record;
use serde_json::{Map, Number, Value};

/// `JCS(record without hash)`.
pub(crate) fn record_body(r: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    record_members(&mut out, r, None);
    out
}

/// `{"record":JCS(record)}\n`, the export line of a record (hash included).
pub(crate) fn record_line(r: &Record) -> String {
    let mut out = Vec::with_capacity(640);
    out.extend_from_slice(b"{\"record\":");
    record_members(&mut out, r, Some(&r.hash));
    out.extend_from_slice(b"}\n");
    // Every piece written is UTF-8 (JSON text of Rust strings).
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The record object's members in JCS order; `hash` is a member only when given.
fn record_members(out: &mut Vec<u8>, r: &Record, hash: Option<&str>) {
    // Member names in UTF-16 (here: ASCII) order.
    out.extend_from_slice(b"{\"bytes\":");
    opt_u64(out, r.bytes);
    out.extend_from_slice(b",\"client\":");
    opt_str(out, r.client.as_deref());
    out.extend_from_slice(b",\"connection\":");
    opt_str(out, r.connection.as_deref());
    out.extend_from_slice(b",\"duration_ms\":");
    u64_number(out, r.duration_ms);
    out.extend_from_slice(b",\"error\":");
    opt_str(out, r.error.as_deref());
    if let Some(hash) = hash {
        out.extend_from_slice(b",\"hash\":");
        string(out, hash);
    }
    out.extend_from_slice(b",\"key_id\":");
    opt_str(out, r.key_id.as_deref());
    out.extend_from_slice(b",\"mode\":");
    opt_str(out, r.mode.as_deref());
    out.extend_from_slice(b",\"model\":");
    opt_str(out, r.model.as_deref());
    out.extend_from_slice(b",\"outcome\":");
    string(out, r.outcome.as_str());
    out.extend_from_slice(b",\"params\":");
    value(out, &r.params);
    out.extend_from_slice(b",\"prev_hash\":");
    string(out, &r.prev_hash);
    out.extend_from_slice(b",\"query_hash\":");
    opt_str(out, r.query_hash.as_deref());
    out.extend_from_slice(b",\"rows\":");
    opt_u64(out, r.rows);
    out.extend_from_slice(b",\"seq\":");
    u64_number(out, r.seq);
    out.extend_from_slice(b",\"tool\":");
    string(out, &r.tool);
    out.extend_from_slice(b",\"ts\":");
    string(out, &r.ts);
    out.extend_from_slice(b",\"user\":");
    opt_str(out, r.user.as_deref());
    out.extend_from_slice(b",\"workspace\":");
    string(out, &r.workspace);
    out.push(b'}');
}

/// JCS of any JSON value.
pub(crate) fn value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => number(out, n),
        Value::String(s) => string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => object(out, map),
    }
}

fn object(out: &mut Vec<u8>, map: &Map<String, Value>) {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    out.push(b'{');
    for (i, (name, item)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, name);
        out.push(b':');
        value(out, item);
    }
    out.push(b'}');
}

fn number(out: &mut Vec<u8>, n: &Number) {
    // Without serde_json's arbitrary_precision a Number is always an i64, a
    // u64 or a finite f64, so as_f64 always answers.
    f64_number(out, n.as_f64().unwrap_or(0.0));
}

fn f64_number(out: &mut Vec<u8>, f: f64) {
    let mut buffer = ryu_js::Buffer::new();
    out.extend_from_slice(buffer.format_finite(f).as_bytes());
}

fn u64_number(out: &mut Vec<u8>, n: u64) {
    // JCS reads every number as a double, integers included.
    f64_number(out, n as f64);
}

fn opt_u64(out: &mut Vec<u8>, n: Option<u64>) {
    match n {
        Some(n) => u64_number(out, n),
        None => out.extend_from_slice(b"null"),
    }
}

fn opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    // serde_json's compact escaping is exactly JCS's; writing a str into a Vec
    // cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Outcome, ZERO_HASH};

    /// A small deterministic generator (xorshift), so failures reproduce.
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn text(&mut self) -> String {
            const PIECES: [&str; 14] = [
                "a",
                "B",
                "z",
                "\"",
                "\\",
                "\n",
                "\u{1}",
                "\u{1f}",
                "\u{7f}",
                "é",
                "\u{2028}",
                "\u{ffff}",
                "\u{10000}",
                "😀",
            ];
            (0..self.below(6))
                .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
                .collect()
        }
        fn number(&mut self) -> Value {
            match self.below(6) {
                0 => Value::from(self.next() >> self.below(64)),
                1 => Value::from(-((self.next() >> 12) as i64)),
                2 => Value::from(self.below(1000)),
                3 => Value::from(f64::from_bits(self.next() >> 2) % 1e30),
                4 => Value::from((self.below(2_000_000) as f64 - 1e6) / 1024.0),
                _ => Value::from(1e21 * self.below(5) as f64 + 0.5),
            }
        }
        fn value(&mut self, depth: u32) -> Value {
            match self.below(if depth > 3 { 4 } else { 6 }) {
                0 => Value::Null,
                1 => Value::Bool(self.below(2) == 0),
                2 => self.number(),
                3 => Value::String(self.text()),
                4 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
                _ => Value::Object(
                    (0..self.below(5))
                        .map(|_| (self.text(), self.value(depth + 1)))
                        .collect(),
                ),
            }
        }
    }

    #[test]
    fn same_bytes_as_serde_jcs() {
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let v = g.value(0);
            let mut ours = Vec::new();
            value(&mut ours, &v);
            let reference = serde_jcs::to_vec(&v).expect("finite values");
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&reference),
                "{v}"
            );
        }
    }

    #[test]
    fn astral_member_names_sort_by_utf16_not_bytes() {
        // U+FFFF is 0xFFFF in UTF-16 and U+10000 is 0xD800 0xDC00: the astral
        // one sorts first, although its UTF-8 bytes sort last.
        let v: Value = serde_json::json!({"\u{ffff}": 1, "\u{10000}": 2});
        let mut ours = Vec::new();
        value(&mut ours, &v);
        assert_eq!(
            String::from_utf8(ours).ok().as_deref(),
            Some("{\"𐀀\":2,\"\u{ffff}\":1}")
        );
    }

    #[test]
    fn record_body_and_line_match_the_generic_serializer() {
        let mut g = Gen(42);
        for i in 0..2_000u64 {
            let text = |g: &mut Gen| (g.below(3) > 0).then(|| g.text());
            let r = Record {
                seq: i * 7_919 + (g.below(2) << 60),
                ts: "2026-12-02T06:30:00.123Z".into(),
                workspace: g.text(),
                user: text(&mut g),
                key_id: text(&mut g),
                client: text(&mut g),
                model: text(&mut g),
                tool: g.text(),
                params: g.value(0),
                connection: text(&mut g),
                mode: text(&mut g),
                query_hash: text(&mut g),
                rows: (g.below(2) == 0).then(|| g.next()),
                bytes: (g.below(2) == 0).then(|| g.below(1 << 20)),
                duration_ms: g.below(100_000),
                outcome: [Outcome::Ok, Outcome::Denied, Outcome::Error][g.below(3) as usize],
                error: text(&mut g),
                prev_hash: ZERO_HASH.into(),
                hash: String::new(),
            };
            let generic = crate::record::canonical_body_generic(&r).expect("finite values");
            assert_eq!(
                String::from_utf8_lossy(&record_body(&r)),
                String::from_utf8_lossy(&generic)
            );
            let r = Record {
                hash: g.text(),
                ..r
            };
            let line = format!(
                "{}\n",
                serde_jcs::to_string(&serde_json::json!({ "record": r })).expect("finite values")
            );
            assert_eq!(record_line(&r), line);
        }
    }
}

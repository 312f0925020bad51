//! Hostile or unusual input to the verifier: byte flips anywhere, overlong
//! lines, other line endings, an empty chain, partial input, many records
//! streamed from a generator (constant memory), and floating-point params.

mod common;

use chrono::Duration;
use common::*;
use conexor_audit::{Damage, Draft, Outcome, verify};
use serde_json::json;
use std::io::{BufReader, Read};

fn small() -> Vec<Line> {
    let drafts = (1..=3)
        .map(|i| (draft(i), t0() + Duration::seconds(i as i64)))
        .collect();
    build_with("ws_A", &key(), drafts, t0() + Duration::seconds(10))
}

#[test]
fn byte_flips_anywhere_never_panic_and_records_never_pass() {
    let pin = key().public();
    for text in [jsonl(&small()), csv(&small())] {
        let bytes = text.into_bytes();
        // Where the header ends: flips after it must always fail.
        let header_end = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i)
            .nth(if bytes.starts_with(b"{") { 0 } else { 1 })
            .unwrap_or(0);
        for at in (0..bytes.len()).step_by(11) {
            let mut m = bytes.clone();
            m[at] ^= 0x01;
            let got = verify(&m[..], Some(&pin));
            if at > header_end && m[at] != b'\n' && bytes[at] != b'\n' {
                // A few flips are invisible by construction: JSON escapes of
                // the same character, or a hex digit case flip that still
                // spells the same value. Everything else must fail.
                if let Ok(r) = &got {
                    let same = String::from_utf8_lossy(&m).to_lowercase()
                        == String::from_utf8_lossy(&bytes).to_lowercase();
                    assert!(same, "flip at {at} verified: {r:?}");
                }
            }
        }
    }
}

#[test]
fn an_overlong_line_is_malformed() {
    let mut text = jsonl(&small());
    let huge = format!("{{\"record\":\"{}\"}}\n", "x".repeat(9 << 20));
    let at = text.find('\n').map_or(0, |i| i + 1);
    text.insert_str(at, &huge);
    let p = verify(text.as_bytes(), None).err();
    assert_eq!(p.map(|p| (p.kind, p.line)), Some((Damage::Malformed, 2)));
}

#[test]
fn crlf_json_lines_and_a_bom_csv_still_verify() {
    let pin = key().public();
    let crlf = jsonl(&small()).replace('\n', "\r\n");
    verify(crlf.as_bytes(), Some(&pin)).unwrap_or_else(|p| panic!("{p}"));
    let bom = format!("\u{feff}{}", csv(&small()));
    verify(bom.as_bytes(), Some(&pin)).unwrap_or_else(|p| panic!("{p}"));
}

#[test]
fn blank_lines_and_trailing_garbage_are_malformed() {
    let text = jsonl(&small());
    let n = small().len() as u64;
    let p = verify(format!("{text}\n").as_bytes(), None).err();
    assert_eq!(
        p.map(|p| (p.kind, p.line)),
        Some((Damage::Malformed, n + 1))
    );
    let p = verify(format!("{text}{{\"x\":1}}\n").as_bytes(), None).err();
    assert_eq!(
        p.map(|p| (p.kind, p.line)),
        Some((Damage::Malformed, n + 1))
    );
}

#[test]
fn a_malformed_line_after_a_seq_jump_reports_the_jump_first() {
    let mut lines = small();
    let i = record_at(&lines, 2);
    lines.remove(i);
    let mut text = jsonl(&lines[..=i]);
    text.push_str("not json\n");
    let p = verify(text.as_bytes(), None).err();
    assert_eq!(
        p.map(|p| (p.kind, p.line)),
        Some((Damage::Deleted, jsonl_line(i)))
    );
}

#[test]
fn an_empty_chain_exports_and_verifies() {
    let lines = build_with("ws_A", &key(), Vec::new(), t0());
    assert_eq!(lines.len(), 3); // header, genesis checkpoint, head
    let r =
        verify(jsonl(&lines).as_bytes(), Some(&key().public())).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!((r.records, r.first_seq, r.head_seq), (0, None, 0));
    verify(csv(&lines).as_bytes(), Some(&key().public())).unwrap_or_else(|p| panic!("{p}"));
}

#[test]
fn an_invalid_header_key_is_a_wrong_key() {
    let mut lines = small();
    if let Line::Header(h) = &mut lines[0] {
        h.pubkey = "ed25519:AAAA".into();
    }
    for pin in [Some(key().public()), None] {
        let p = verify(jsonl(&lines).as_bytes(), pin.as_ref()).err();
        assert_eq!(p.map(|p| (p.kind, p.line)), Some((Damage::WrongKey, 1)));
    }
    let mut lines = small();
    if let Line::Header(h) = &mut lines[0] {
        h.key_id = "0000000000000000".into();
    }
    let p = verify(jsonl(&lines).as_bytes(), None).err();
    assert_eq!(p.map(|p| (p.kind, p.line)), Some((Damage::WrongKey, 1)));
}

#[test]
fn floating_point_params_survive_both_layouts() {
    let mut d = Draft::new("query", Outcome::Ok);
    d.params = json!([
        0.1,
        0.30000000000000004,
        1e-7,
        5e-324,
        1.7976931348623157e308,
        -0.0,
        1e21,
        123456789.125
    ]);
    let lines = build_with(
        "ws_A",
        &key(),
        vec![(d, t0() + Duration::seconds(1))],
        t0() + Duration::seconds(5),
    );
    verify(jsonl(&lines).as_bytes(), Some(&key().public())).unwrap_or_else(|p| panic!("{p}"));
    verify(csv(&lines).as_bytes(), Some(&key().public())).unwrap_or_else(|p| panic!("{p}"));
}

/// Fewer checkpoints for the long export (signing is slow in debug builds).
const LONG: conexor_audit::Interval = conexor_audit::Interval {
    records: 1000,
    seconds: 120,
};

/// An export produced line by line on demand: the verifier reads it without
/// anyone holding the whole text.
struct Generated {
    lines: std::vec::IntoIter<Line>,
    chain: conexor_audit::Chain,
    left: u64,
    n: u64,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for Generated {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            self.pos = 0;
            self.buf.clear();
            if let Some(l) = self.lines.next() {
                self.buf = jsonl(&[l]).into_bytes();
            } else if self.left > 0 {
                self.left -= 1;
                self.n += 1;
                let ts = t0() + Duration::milliseconds(self.n as i64);
                let r = self
                    .chain
                    .append(draft(self.n), ts)
                    .map_err(std::io::Error::other)?;
                let mut text = jsonl(&[Line::Record(r)]);
                if self.chain.checkpoint_due(LONG, ts) || self.left == 0 {
                    let cp = self.chain.checkpoint(ts);
                    let sig = key().sign(&cp).map_err(std::io::Error::other)?;
                    text.push_str(&jsonl(&[Line::Checkpoint(cp, sig)]));
                }
                self.buf = text.into_bytes();
            } else {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn a_long_export_streams_through_the_verifier() {
    const N: u64 = 5_000;
    let header = conexor_audit::export::Header::new("ws_A", &key().public(), LONG, t0());
    let mut chain = conexor_audit::Chain::genesis("ws_A");
    let genesis = chain.checkpoint(t0());
    let sig = key().sign(&genesis).unwrap_or_default();
    let head = vec![Line::Header(header), Line::Checkpoint(genesis, sig)];
    let src = Generated {
        lines: head.into_iter(),
        chain,
        left: N,
        n: 0,
        buf: Vec::new(),
        pos: 0,
    };
    let r = verify(BufReader::new(src), Some(&key().public())).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(r.records, N);
    assert_eq!(r.last_seq, Some(N));
}

#[test]
fn a_signed_checkpoint_with_the_genesis_hash_beyond_seq_0_is_refused() {
    // An empty partial export (from_seq 21) whose head wrongly signs
    // (20, 64 zeros): the true hash of record 20 is never all zeros.
    let mut lines = build_with("ws_A", &key(), Vec::new(), t0());
    lines.truncate(1);
    if let Line::Header(h) = &mut lines[0] {
        h.from_seq = 21;
    }
    let cp = conexor_audit::Checkpoint::new("ws_A", 20, conexor_audit::ZERO_HASH, t0());
    let sig = key().sign(&cp).unwrap_or_default();
    lines.push(Line::Checkpoint(cp, sig));
    let p = verify(jsonl(&lines).as_bytes(), Some(&key().public())).err();
    assert_eq!(p.map(|p| (p.kind, p.line)), Some((Damage::Malformed, 2)));
}

//! Shared fixtures for the integration tests: a chain of records with
//! checkpoints, rendered as JSON Lines or CSV, and the attacker's tools
//! (renumbering and re-hashing records without the signing key).
//!
//! Not a test by itself; each test binary uses part of it.

#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use conexor_audit::export::{self, Header};
use conexor_audit::{
    Chain, Checkpoint, Draft, Interval, Outcome, Record, SigningKey, ZERO_HASH, record_hash,
};
use serde_json::json;

/// One export line, before rendering.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Line {
    Header(Header),
    Record(Record),
    Checkpoint(Checkpoint, String),
}

pub const INTERVAL: Interval = Interval {
    records: 10,
    seconds: 120,
};

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0)
        .single()
        .unwrap_or_default()
}

pub fn key() -> SigningKey {
    SigningKey::from_bytes(&[0x42; 32])
}

pub fn attacker_key() -> SigningKey {
    SigningKey::from_bytes(&[0x66; 32])
}

/// A plain draft for call `i`.
pub fn draft(i: u64) -> Draft {
    let outcome = match i % 7 {
        3 => Outcome::Denied,
        5 => Outcome::Error,
        _ => Outcome::Ok,
    };
    let mut d = Draft::new("query", outcome);
    d.user = Some("alice".into());
    d.key_id = Some("k_123".into());
    d.client = Some("claude-desktop/1.2".into());
    d.params = json!({"connection": "shop", "sql": format!("select {i}")});
    d.connection = Some("shop".into());
    d.mode = Some("direct".into());
    d.query_hash = Some(format!("{:064x}", i));
    if outcome == Outcome::Ok {
        d.rows = Some(i);
        d.bytes = Some(i * 10);
    } else {
        d.error = Some("guard.denied_function: function not allowed".into());
    }
    d.duration_ms = i % 13;
    d
}

/// Builds an honest export the way the server would: a checkpoint at
/// genesis, `drafts` appended every `step` seconds with a checkpoint
/// whenever one is due (timer ticks every second), then a fresh head
/// checkpoint `tail` seconds after the last record.
pub fn build_with(
    workspace: &str,
    key: &SigningKey,
    drafts: Vec<(Draft, DateTime<Utc>)>,
    export_at: DateTime<Utc>,
) -> Vec<Line> {
    let mut chain = Chain::genesis(workspace);
    let mut out = vec![Line::Header(Header::new(
        workspace,
        &key.public(),
        INTERVAL,
        export_at,
    ))];
    let mut now = drafts.first().map(|d| d.1).unwrap_or(export_at);
    let push_cp = |chain: &mut Chain, out: &mut Vec<Line>, at: DateTime<Utc>| {
        let cp = chain.checkpoint(at);
        let sig = key.sign(&cp).unwrap_or_default();
        out.push(Line::Checkpoint(cp, sig));
    };
    push_cp(&mut chain, &mut out, now);
    for (d, ts) in drafts {
        // Idle timer ticks until this record's time.
        while now < ts {
            now += Duration::seconds(1);
            if chain.checkpoint_due(INTERVAL, now) && now < ts {
                push_cp(&mut chain, &mut out, now);
            }
        }
        let record = match chain.append(d, ts) {
            Ok(r) => r,
            Err(e) => panic!("append: {e}"),
        };
        out.push(Line::Record(record));
        if chain.checkpoint_due(INTERVAL, ts) {
            push_cp(&mut chain, &mut out, ts);
        }
    }
    // The freshly signed head checkpoint of the export.
    let head = Checkpoint::new(workspace, chain.seq(), chain.head_hash(), export_at);
    let sig = key.sign(&head).unwrap_or_default();
    out.push(Line::Checkpoint(head, sig));
    out
}

/// The standard fixture: 50 records, 10 s apart, checkpoints at seq 0, 10,
/// 20, 30, 40, 50, exported 100 s after the last record.
pub fn build(workspace: &str, key: &SigningKey) -> Vec<Line> {
    let drafts = (1..=50)
        .map(|i| (draft(i), t0() + Duration::seconds(10 * i as i64)))
        .collect();
    build_with(workspace, key, drafts, t0() + Duration::seconds(600))
}

pub fn jsonl(lines: &[Line]) -> String {
    let mut out = String::new();
    for l in lines {
        let text = match l {
            Line::Header(h) => export::jsonl_header(h),
            Line::Record(r) => export::jsonl_record(r),
            Line::Checkpoint(c, s) => export::jsonl_checkpoint(c, s),
        };
        match text {
            Ok(t) => out.push_str(&t),
            Err(e) => panic!("render: {e}"),
        }
    }
    out
}

pub fn csv(lines: &[Line]) -> String {
    let mut out = export::csv_header();
    for l in lines {
        let text = match l {
            Line::Header(h) => export::csv_header_row(h),
            Line::Record(r) => export::csv_record(r),
            Line::Checkpoint(c, s) => Ok(export::csv_checkpoint(c, s)),
        };
        match text {
            Ok(t) => out.push_str(&t),
            Err(e) => panic!("render: {e}"),
        }
    }
    out
}

/// Index of the record with `seq` (first match).
pub fn record_at(lines: &[Line], seq: u64) -> usize {
    lines
        .iter()
        .position(|l| matches!(l, Line::Record(r) if r.seq == seq))
        .unwrap_or_else(|| panic!("no record {seq}"))
}

/// Index of the first checkpoint of `seq`.
pub fn checkpoint_at(lines: &[Line], seq: u64) -> usize {
    lines
        .iter()
        .position(|l| matches!(l, Line::Checkpoint(c, _) if c.seq == seq))
        .unwrap_or_else(|| panic!("no checkpoint {seq}"))
}

/// JSON Lines line number of item `index`; CSV adds the column-name row.
pub fn jsonl_line(index: usize) -> u64 {
    index as u64 + 1
}

pub fn csv_line(index: usize) -> u64 {
    index as u64 + 2
}

/// What an attacker without the signing key can do: renumber every record
/// from 1 and recompute every prev_hash and hash. Checkpoints stay as they
/// are (they cannot be re-signed).
pub fn rechain(lines: &mut [Line]) {
    let mut seq = 0;
    let mut prev = ZERO_HASH.to_owned();
    for l in lines.iter_mut() {
        if let Line::Record(r) = l {
            seq += 1;
            r.seq = seq;
            r.prev_hash = prev.clone();
            r.hash = record_hash(r).unwrap_or_default();
            prev = r.hash.clone();
        }
    }
}

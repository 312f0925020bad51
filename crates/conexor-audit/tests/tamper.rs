//! Tampering with an export, each attack detected by `verify` with the
//! exact damage kind and line, in JSON Lines and in CSV.
//!
//! The attacker has the export and knows the hash rule but not the signing
//! key: they can edit, delete, insert, reorder and re-hash records, drop or
//! move checkpoint lines, and sign with a key of their own.

mod common;

use chrono::Duration;
use common::*;
use conexor_audit::{Damage, Outcome, PublicKey, Report, SignatureTrust, export::Header, verify};

fn pinned() -> PublicKey {
    key().public()
}

fn check_jsonl(lines: &[Line], pin: Option<&PublicKey>) -> Result<Report, conexor_audit::Problem> {
    verify(jsonl(lines).as_bytes(), pin)
}

fn check_csv(lines: &[Line], pin: Option<&PublicKey>) -> Result<Report, conexor_audit::Problem> {
    verify(csv(lines).as_bytes(), pin)
}

/// Asserts the same damage at item `index` in both layouts.
#[track_caller]
fn assert_damage(lines: &[Line], kind: Damage, index: usize) {
    let pin = pinned();
    let j = check_jsonl(lines, Some(&pin));
    let Err(p) = &j else {
        panic!("jsonl verified: {j:?}")
    };
    assert_eq!((p.kind, p.line), (kind, jsonl_line(index)), "jsonl: {p}");
    let c = check_csv(lines, Some(&pin));
    let Err(p) = &c else {
        panic!("csv verified: {c:?}")
    };
    assert_eq!((p.kind, p.line), (kind, csv_line(index)), "csv: {p}");
}

#[test]
fn honest_exports_verify_in_both_layouts() {
    let lines = build("ws_A", &key());
    // header, cp 0, 50 records, cps 10..50, head
    assert_eq!(lines.len(), 1 + 1 + 50 + 5 + 1);
    for report in [
        check_jsonl(&lines, Some(&pinned())),
        check_csv(&lines, Some(&pinned())),
    ] {
        let r = report.unwrap_or_else(|p| panic!("{p}"));
        assert_eq!(r.records, 50);
        assert_eq!(r.checkpoints, 7);
        assert_eq!(
            (r.first_seq, r.last_seq, r.head_seq),
            (Some(1), Some(50), 50)
        );
        assert_eq!(r.signatures, SignatureTrust::Pinned);
        assert!(r.to_string().contains("pinned key"));
    }
    let r = check_jsonl(&lines, None).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(r.signatures, SignatureTrust::SelfConsistentOnly);
    assert!(r.to_string().contains("only self-consistent"));
    // The line numbers the other tests compute, spelled out once.
    assert_eq!(jsonl_line(record_at(&lines, 1)), 3);
    assert_eq!(jsonl_line(checkpoint_at(&lines, 10)), 13);
    assert_eq!(csv_line(checkpoint_at(&lines, 10)), 14);
}

#[test]
fn one_changed_byte_in_a_record_is_modified() {
    let lines = build("ws_A", &key());
    let i = record_at(&lines, 23);
    let pin = pinned();
    for (text, line) in [(jsonl(&lines), jsonl_line(i)), (csv(&lines), csv_line(i))] {
        let mut rows: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
        let row = &mut rows[line as usize - 1];
        let at = row
            .find("select 23")
            .unwrap_or_else(|| panic!("no sql in {row}"));
        row.replace_range(at + 7..at + 8, "4"); // select 23 -> select 24
        let p = verify(rows.concat().as_bytes(), Some(&pin)).err();
        assert_eq!(p.map(|p| (p.kind, p.line)), Some((Damage::Modified, line)));
    }
}

#[test]
fn one_changed_byte_in_a_checkpoint_is_a_bad_signature() {
    let mut lines = build("ws_A", &key());
    let i = checkpoint_at(&lines, 30);
    if let Line::Checkpoint(c, _) = &mut lines[i] {
        c.ts = c.ts.replace(":05:", ":06:");
    }
    assert_damage(&lines, Damage::BadSignature, i);
}

#[test]
fn a_record_rehashed_alone_breaks_the_next_link() {
    let mut lines = build("ws_A", &key());
    let i = record_at(&lines, 17);
    if let Line::Record(r) = &mut lines[i] {
        r.rows = Some(0);
        r.hash = conexor_audit::record_hash(r).unwrap_or_default();
    }
    assert_damage(&lines, Damage::Modified, i + 1);
}

#[test]
fn the_whole_chain_rehashed_after_an_edit_fails_at_the_next_checkpoint() {
    let mut lines = build("ws_A", &key());
    let i = record_at(&lines, 17);
    if let Line::Record(r) = &mut lines[i] {
        r.outcome = Outcome::Ok;
        r.error = None;
    }
    rechain(&mut lines);
    assert_damage(&lines, Damage::Modified, checkpoint_at(&lines, 20));
}

#[test]
fn a_deleted_record_is_a_seq_gap() {
    let mut lines = build("ws_A", &key());
    let i = record_at(&lines, 15);
    lines.remove(i);
    assert_damage(&lines, Damage::Deleted, i);
}

#[test]
fn a_deleted_record_with_renumbering_fails_at_the_next_checkpoint() {
    let mut lines = build("ws_A", &key());
    lines.remove(record_at(&lines, 15));
    rechain(&mut lines);
    // The signed checkpoint of seq 20 now follows record 19.
    assert_damage(&lines, Damage::Deleted, checkpoint_at(&lines, 20));
}

#[test]
fn deleting_the_first_record_is_a_seq_gap() {
    let mut lines = build("ws_A", &key());
    let i = record_at(&lines, 1);
    lines.remove(i);
    assert_damage(&lines, Damage::Deleted, i);
}

fn forged(lines: &[Line]) -> Line {
    // Back-dated to the time of record 3, looking like an innocent call.
    let Line::Record(mut r) = lines[record_at(lines, 3)].clone() else {
        unreachable!()
    };
    r.user = Some("mallory".into());
    r.params = serde_json::json!({"sql": "select 'nothing to see'"});
    Line::Record(r)
}

#[test]
fn a_backdated_record_inserted_with_a_recomputed_chain_is_inserted() {
    let mut lines = build("ws_A", &key());
    let f = forged(&lines);
    lines.insert(record_at(&lines, 15) + 1, f);
    rechain(&mut lines);
    // The checkpoint of seq 20 now follows record 21.
    assert_damage(&lines, Damage::Inserted, checkpoint_at(&lines, 20));
}

#[test]
fn a_record_inserted_without_renumbering_is_a_duplicate_seq() {
    let mut lines = build("ws_A", &key());
    let i = record_at(&lines, 15);
    let Line::Record(mut f) = forged(&lines) else {
        unreachable!()
    };
    let Line::Record(prev) = &lines[i] else {
        unreachable!()
    };
    f.seq = 16;
    f.prev_hash = prev.hash.clone();
    f.hash = conexor_audit::record_hash(&f).unwrap_or_default();
    lines.insert(i + 1, Line::Record(f));
    // The forged record links correctly; the real seq 16 after it is a duplicate.
    assert_damage(&lines, Damage::Inserted, i + 2);
}

#[test]
fn a_record_of_another_workspace_is_inserted() {
    let mut lines = build("ws_A", &key());
    let other = build("ws_B", &key());
    let i = record_at(&lines, 12);
    lines[i] = other[record_at(&other, 12)].clone();
    assert_damage(&lines, Damage::Inserted, i);
}

#[test]
fn two_swapped_records_are_reordered() {
    let mut lines = build("ws_A", &key());
    let (a, b) = (record_at(&lines, 5), record_at(&lines, 6));
    lines.swap(a, b);
    assert_damage(&lines, Damage::Reordered, a);
    // Far apart within one checkpoint interval, too.
    let mut lines = build("ws_A", &key());
    let (a, b) = (record_at(&lines, 12), record_at(&lines, 18));
    lines.swap(a, b);
    assert_damage(&lines, Damage::Reordered, a);
}

#[test]
fn a_moved_record_is_reordered_or_deleted_at_the_jump() {
    // Moved earlier: 1 2 3 8 4 … — the jump to 8 is followed by a lower seq.
    let mut lines = build("ws_A", &key());
    let r = lines.remove(record_at(&lines, 8));
    lines.insert(record_at(&lines, 4), r);
    assert_damage(&lines, Damage::Reordered, record_at(&lines, 8));
    // Moved later: 1 2 4 5 6 7 3 … — the verifier looks one line ahead only,
    // so the first problem, the jump from 2 to 4, reads as a deletion.
    let mut lines = build("ws_A", &key());
    let r = lines.remove(record_at(&lines, 3));
    lines.insert(record_at(&lines, 7) + 1, r);
    assert_damage(&lines, Damage::Deleted, record_at(&lines, 4));
}

#[test]
fn a_tail_cut_after_a_checkpoint_is_truncated() {
    let mut lines = build("ws_A", &key());
    lines.truncate(checkpoint_at(&lines, 30) + 1);
    let end = lines.len();
    assert_damage(&lines, Damage::Truncated, end);
}

#[test]
fn a_tail_cut_after_a_record_is_truncated() {
    let mut lines = build("ws_A", &key());
    lines.truncate(record_at(&lines, 37) + 1);
    let end = lines.len();
    assert_damage(&lines, Damage::Truncated, end);
}

#[test]
fn dropping_only_the_head_checkpoint_is_truncated() {
    let mut lines = build("ws_A", &key());
    lines.pop();
    let end = lines.len();
    assert_damage(&lines, Damage::Truncated, end);
}

#[test]
fn an_export_of_only_a_header_is_truncated() {
    let mut lines = build("ws_A", &key());
    lines.truncate(1);
    assert_damage(&lines, Damage::Truncated, 1);
}

#[test]
fn an_old_checkpoint_replayed_as_head_is_replayed() {
    let mut lines = build("ws_A", &key());
    let old = lines[checkpoint_at(&lines, 10)].clone();
    let last = lines.len() - 1;
    lines[last] = old;
    assert_damage(&lines, Damage::ReplayedCheckpoint, last);
    // An older checkpoint of the same seq after a newer one: the first idle
    // checkpoint of seq 25 replayed after the second.
    let mut lines = idle_fixture();
    let a = checkpoint_at(&lines, 25);
    lines.insert(a + 2, lines[a].clone());
    assert_damage(&lines, Damage::ReplayedCheckpoint, a + 2);
}

#[test]
fn a_checkpoint_of_another_workspace_is_foreign() {
    let mut lines = build("ws_A", &key());
    let other = build("ws_B", &key());
    let i = checkpoint_at(&lines, 20);
    lines[i] = other[checkpoint_at(&other, 20)].clone();
    assert_damage(&lines, Damage::ForeignCheckpoint, i);
}

fn with_header_key(lines: &mut [Line], key: &conexor_audit::SigningKey) {
    if let Line::Header(h) = &mut lines[0] {
        let fresh = Header::new(
            h.workspace.clone(),
            &key.public(),
            INTERVAL,
            chrono::Utc::now(),
        );
        h.pubkey = fresh.pubkey;
        h.key_id = fresh.key_id;
    }
}

#[test]
fn a_replaced_public_key_is_caught() {
    // Only the header's key replaced: pinned -> wrong key; unpinned -> the
    // old signatures fail under the new key.
    let mut lines = build("ws_A", &key());
    with_header_key(&mut lines, &attacker_key());
    assert_damage(&lines, Damage::WrongKey, 0);
    let p = check_jsonl(&lines, None).err();
    assert_eq!(
        p.map(|p| (p.kind, p.line)),
        Some((Damage::BadSignature, jsonl_line(1)))
    );
}

#[test]
fn an_export_forged_and_resigned_with_another_key_only_self_verifies() {
    // The attacker rewrites history and re-signs every checkpoint with a key
    // of their own: without a pinned key it verifies (and says so); with the
    // server's key pinned it fails at the header.
    let mut lines = build("ws_A", &key());
    lines.remove(record_at(&lines, 15));
    rechain(&mut lines);
    // Recompute every checkpoint from the forged chain and sign it.
    let attacker = attacker_key();
    let mut head = (0, conexor_audit::ZERO_HASH.to_owned());
    let mut out = Vec::new();
    for l in lines {
        match l {
            Line::Record(r) => {
                head = (r.seq, r.hash.clone());
                out.push(Line::Record(r));
            }
            Line::Checkpoint(mut c, _) => {
                c.seq = head.0;
                c.hash = head.1.clone();
                let sig = attacker.sign(&c).unwrap_or_default();
                out.push(Line::Checkpoint(c, sig));
            }
            other => out.push(other),
        }
    }
    with_header_key(&mut out, &attacker);
    let r = check_jsonl(&out, None).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(r.signatures, SignatureTrust::SelfConsistentOnly);
    let r = check_csv(&out, None).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(r.signatures, SignatureTrust::SelfConsistentOnly);
    assert_damage(&out, Damage::WrongKey, 0);
}

fn idle_fixture() -> Vec<Line> {
    // Records 1..=25 10 s apart, then 500 s idle, then 26..=30.
    let mut drafts = Vec::new();
    for i in 1..=30_i64 {
        let gap = if i > 25 { 500 } else { 0 };
        drafts.push((draft(i as u64), t0() + Duration::seconds(10 * i + gap)));
    }
    build_with("ws_A", &key(), drafts, t0() + Duration::seconds(900))
}

#[test]
fn an_idle_period_is_covered_by_timer_checkpoints() {
    let lines = idle_fixture();
    let idle = lines
        .iter()
        .filter(|l| matches!(l, Line::Checkpoint(c, _) if c.seq == 25))
        .count();
    assert!(idle >= 3, "expected idle checkpoints, found {idle}");
    let r = check_jsonl(&lines, Some(&pinned())).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(r.records, 30);
    check_csv(&lines, Some(&pinned())).unwrap_or_else(|p| panic!("{p}"));
}

#[test]
fn an_idle_gap_without_checkpoints_is_a_checkpoint_gap() {
    let mut lines = idle_fixture();
    lines.retain(|l| !matches!(l, Line::Checkpoint(c, _) if c.seq == 25));
    assert_damage(&lines, Damage::CheckpointGap, record_at(&lines, 26));
}

#[test]
fn a_dropped_checkpoint_is_a_checkpoint_gap() {
    let mut lines = build("ws_A", &key());
    lines.remove(checkpoint_at(&lines, 20));
    // The checkpoint of seq 10 was signed at +100 s; record 22 (+220 s) is
    // exactly 120 s after it and passes, record 23 (+230 s) is the first one
    // later than that: the tolerance is T, no more.
    assert_damage(&lines, Damage::CheckpointGap, record_at(&lines, 23));
    // With the time trigger off, the count rule finds it: 20 records between
    // the checkpoints of seq 10 and 30.
    if let Line::Header(h) = &mut lines[0] {
        h.interval_s = 0;
    }
    assert_damage(&lines, Damage::CheckpointGap, checkpoint_at(&lines, 30));
}

/// Records 1..=12 10 s apart with their checkpoints, then the server is down
/// for an hour (no checkpoints), restarts, resumes the chain and (when
/// `announce`) appends `admin.start` and signs at once; then one more call.
fn restart_fixture(announce: bool) -> Vec<Line> {
    let mut lines = build_with(
        "ws_A",
        &key(),
        (1..=12)
            .map(|i| (draft(i), t0() + Duration::seconds(10 * i as i64)))
            .collect(),
        t0(),
    );
    lines.pop(); // that export's head
    let Some(Line::Record(last)) = lines.iter().rev().find(|l| matches!(l, Line::Record(_))) else {
        unreachable!()
    };
    let (seq, hash) = (last.seq, last.hash.clone());
    let back = t0() + Duration::seconds(3800);
    let mut chain =
        conexor_audit::Chain::resume("ws_A", seq, hash).unwrap_or_else(|e| panic!("{e}"));
    let k = key();
    let sign = |chain: &mut conexor_audit::Chain, at| {
        let cp = chain.checkpoint(at);
        let sig = k.sign(&cp).unwrap_or_default();
        Line::Checkpoint(cp, sig)
    };
    if announce {
        let start = chain.append_start(back).unwrap_or_else(|e| panic!("{e}"));
        lines.push(Line::Record(start));
        assert!(chain.checkpoint_due(INTERVAL, back));
        lines.push(sign(&mut chain, back));
    }
    let r = chain
        .append(draft(13), back + Duration::seconds(5))
        .unwrap_or_else(|e| panic!("{e}"));
    lines.push(Line::Record(r));
    let at = back + Duration::seconds(30);
    lines.push(sign(&mut chain, at));
    if let Line::Header(h) = &mut lines[0] {
        h.exported_at = conexor_audit::format_ts(at);
    }
    lines
}

#[test]
fn a_restart_after_downtime_is_not_a_gap() {
    let lines = restart_fixture(true);
    let r = check_jsonl(&lines, Some(&pinned())).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(r.records, 14);
    check_csv(&lines, Some(&pinned())).unwrap_or_else(|p| panic!("{p}"));
    // Without the admin.start record the same downtime is a silent gap.
    let lines = restart_fixture(false);
    let i = lines.len() - 2;
    assert_damage(&lines, Damage::CheckpointGap, i);
}

#[test]
fn a_partial_export_verifies_from_its_first_seq() {
    let lines = build("ws_A", &key());
    let start = record_at(&lines, 21);
    let mut partial = vec![lines[0].clone()];
    if let Line::Header(h) = &mut partial[0] {
        h.from_seq = 21;
    }
    partial.extend_from_slice(&lines[start..]);
    let r = check_jsonl(&partial, Some(&pinned())).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!((r.from_seq, r.first_seq, r.records), (21, Some(21), 30));
    assert!(r.to_string().contains("partial export"));
    // Claiming to start at genesis while starting at 21 is a gap.
    let mut claimed = partial.clone();
    if let Line::Header(h) = &mut claimed[0] {
        h.from_seq = 1;
    }
    assert_damage(&claimed, Damage::Deleted, 1);
}

/// Replaces the first `from` on the line of item `index` with `to` and
/// verifies; returns the problem (or panics when the edit did not apply).
fn edited(text: &str, line: u64, from: &str, to: &str) -> Result<Report, conexor_audit::Problem> {
    let mut rows: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
    let row = &mut rows[line as usize - 1];
    assert!(row.contains(from), "{from:?} not in {row}");
    *row = row.replacen(from, to, 1);
    verify(rows.concat().as_bytes(), Some(&pinned()))
}

#[track_caller]
fn assert_malformed(got: Result<Report, conexor_audit::Problem>, line: u64, detail: &str) {
    let Err(p) = &got else {
        panic!("verified: {got:?}")
    };
    assert_eq!((p.kind, p.line), (Damage::Malformed, line), "{p}");
    assert!(p.detail.contains(detail), "{detail:?} not in {p}");
}

#[test]
fn a_duplicated_member_is_refused_by_name() {
    // Record 1 is "ok". A reader that keeps the first member would see
    // "denied"; serde_json keeps the last, which still matches the hash.
    let lines = build("ws_A", &key());
    let line = jsonl_line(record_at(&lines, 1));
    assert_malformed(
        edited(
            &jsonl(&lines),
            line,
            r#""outcome":"ok""#,
            r#""outcome":"denied","outcome":"ok""#,
        ),
        line,
        "duplicate member outcome",
    );
    // Inside params too, and in the CSV params cell.
    let line = jsonl_line(record_at(&lines, 23));
    assert_malformed(
        edited(
            &jsonl(&lines),
            line,
            r#""sql":"select 23""#,
            r#""sql":"DROP TABLE x","sql":"select 23""#,
        ),
        line,
        "duplicate member sql",
    );
    let line = csv_line(record_at(&lines, 23));
    assert_malformed(
        edited(
            &csv(&lines),
            line,
            r#"""sql"":""select 23"""#,
            r#"""sql"":""DROP TABLE x"",""sql"":""select 23"""#,
        ),
        line,
        "duplicate member sql",
    );
}

#[test]
fn a_line_that_is_not_its_canonical_form_is_refused() {
    let lines = build("ws_A", &key());
    let text = jsonl(&lines);
    let i = record_at(&lines, 23);
    let line = jsonl_line(i);
    // Whitespace between tokens.
    assert_malformed(
        edited(&text, line, r#"{"record":{"#, r#"{"record": {"#),
        line,
        "whitespace",
    );
    // A non-canonical string escape of the same text.
    assert_malformed(
        edited(&text, line, "select 23", r"select \u00323"),
        line,
        "canonical",
    );
    // The same members in another order (the record's own field order).
    let Line::Record(r) = &lines[i] else {
        panic!("not a record")
    };
    let reordered = format!(
        "{{\"record\":{}}}",
        serde_json::to_string(r).unwrap_or_default()
    );
    let original = text.lines().nth(line as usize - 1).unwrap_or_default();
    assert_ne!(reordered, original);
    assert_malformed(
        edited(&text, line, original, &reordered),
        line,
        "out of order",
    );
    // Header and checkpoint lines too.
    assert_malformed(
        edited(&text, 1, r#"{"header":{"#, r#"{ "header":{"#),
        1,
        "whitespace",
    );
    let line = jsonl_line(checkpoint_at(&lines, 30));
    assert_malformed(
        edited(&text, line, r#","sig":"#, r#", "sig":"#),
        line,
        "whitespace",
    );
}

#[test]
fn non_canonical_numbers_in_params_are_refused() {
    // 1e1 and 10, 5e-1 and 0.5 are the same numbers: the hash matches either
    // way, but only the canonical form is the line that was written.
    let drafts = (1..=3)
        .map(|i| {
            let mut d = draft(i);
            d.params = serde_json::json!({"n": 10, "f": 0.5});
            (d, t0() + Duration::seconds(10 * i as i64))
        })
        .collect();
    let lines = build_with("ws_A", &key(), drafts, t0() + Duration::seconds(60));
    check_jsonl(&lines, Some(&pinned())).unwrap_or_else(|p| panic!("{p}"));
    check_csv(&lines, Some(&pinned())).unwrap_or_else(|p| panic!("{p}"));
    let line = jsonl_line(record_at(&lines, 2));
    for (from, to) in [(r#""n":10"#, r#""n":1e1"#), (r#""f":0.5"#, r#""f":5e-1"#)] {
        assert_malformed(edited(&jsonl(&lines), line, from, to), line, "canonical");
    }
    let line = csv_line(record_at(&lines, 2));
    assert_malformed(
        edited(&csv(&lines), line, r#"""n"":10"#, r#"""n"":10.0"#),
        line,
        "row the export writes",
    );
}

#[test]
fn csv_rows_must_be_exactly_as_written() {
    let lines = build("ws_A", &key());
    let text = csv(&lines);
    let line = csv_line(record_at(&lines, 23));
    // Unneeded quotes, and a neutralising quote the writer would not add:
    // both read back as the same cell.
    assert_malformed(
        edited(&text, line, ",alice,", r#","alice","#),
        line,
        "quotes",
    );
    assert_malformed(edited(&text, line, ",alice,", ",'alice,"), line, "stray");
    // The column-name row and the header row too.
    assert_malformed(
        edited(&text, 1, "kind,", "\"kind\","),
        1,
        "row the export writes",
    );
    assert_malformed(
        edited(&text, 2, r#"""format"":1,"#, r#"""format"": 1,"#),
        2,
        "row the export writes",
    );
}

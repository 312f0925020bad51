//! The offline verifier: reads a JSON Lines or CSV export (detected from its
//! first byte), checks every record's hash, the chain links, the sequence,
//! every checkpoint's signature and position, the checkpoint intervals and
//! the head checkpoint, and names the first bad line and the kind of damage.
//!
//! It streams: it keeps the header, the last record's seq and hash, the last
//! checkpoint and a few counters, never the records (constant memory; one
//! line or CSV row of at most 8 MiB at a time).
//!
//! What it proves: with a pinned key, that the records are exactly those the
//! server's key signed, in order, gapless from the first exported seq (from
//! genesis when `from_seq` is 1) up to the head checkpoint. What it does not
//! prove: without a pinned key only that the export is self-consistent under
//! the key its own header names (anyone can make such an export); that
//! nothing happened after the head checkpoint's time (a cut export with a
//! re-dated header looks like an older export: compare the head time with
//! when the export was made); that the unsigned header's intervals are the
//! deployment's (the report prints them).

use crate::chain::START_TOOL;
use crate::csv::{self, Rows};
use crate::export::{CSV_COLUMNS, FORMAT, Header};
use crate::lines::{Lines, MAX_LINE};
use crate::record::{Outcome, RECORD_FIELDS, Record, ZERO_HASH, record_hash};
use crate::sign::{Checkpoint, PublicKey};
use crate::{is_hash_hex, parse_ts, strict};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::fmt;
use std::io::BufRead;

/// Tolerance between `exported_at` and the head checkpoint's `ts`.
const HEAD_SLACK_MS: i64 = 60_000;

/// The kind of damage found on a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Damage {
    /// Not a valid export line: bad JSON or CSV, missing or extra fields,
    /// bad types, an unparseable timestamp or hash, a checkpoint of seq ≥ 1
    /// with the genesis hash, a second header, an unsupported format, or
    /// unreadable input.
    Malformed,
    /// A record's content does not match its own hash; or its `prev_hash`
    /// does not match the record before it (one of the two was altered and
    /// re-hashed); or a signed checkpoint's hash differs from the record at
    /// its seq (the chain was altered and recomputed up to it).
    Modified,
    /// A seq gap (records missing); or a checkpoint signs a seq beyond the
    /// last record before it (records deleted and the rest renumbered).
    Deleted,
    /// A seq that appears twice, a record before the export's first seq, a
    /// record of another workspace; or records before a checkpoint beyond
    /// the seq it signs (records inserted and the rest renumbered).
    Inserted,
    /// A seq lower than one already seen (other than a duplicate of the
    /// previous one), or a forward jump followed by the missing seq.
    Reordered,
    /// The export does not end with a head checkpoint that covers its last
    /// record and was signed at or after `exported_at` (60 s tolerance).
    Truncated,
    /// A checkpoint signature that does not verify under the key.
    BadSignature,
    /// A (validly signed) checkpoint of another workspace.
    ForeignCheckpoint,
    /// A checkpoint older than one already seen: a lower seq, or the same
    /// seq signed earlier. (The same checkpoint twice is harmless and
    /// accepted: it claims nothing new.)
    ReplayedCheckpoint,
    /// More than `interval_n` records between two checkpoints, or a record
    /// or checkpoint more than `interval_s` (exactly: no tolerance) after
    /// the last checkpoint (or the last `admin.start` record). The head
    /// checkpoint is exempt from the time rule.
    CheckpointGap,
    /// The header's key differs from the pinned key, is not a valid key, or
    /// its `key_id` does not name it.
    WrongKey,
}

impl Damage {
    /// The lowercase name shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Damage::Malformed => "malformed",
            Damage::Modified => "modified",
            Damage::Deleted => "deleted",
            Damage::Inserted => "inserted",
            Damage::Reordered => "reordered",
            Damage::Truncated => "truncated",
            Damage::BadSignature => "bad signature",
            Damage::ForeignCheckpoint => "foreign checkpoint",
            Damage::ReplayedCheckpoint => "replayed checkpoint",
            Damage::CheckpointGap => "checkpoint gap",
            Damage::WrongKey => "wrong key",
        }
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first problem found: the physical line (from 1; a CSV row counts
/// from the line it starts on; `Truncated` names the line after the last),
/// its kind and a lowercase explanation (control characters escaped, at
/// most 300 characters: the export is attacker-controlled text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Physical line number, from 1.
    pub line: u64,
    /// What kind of damage.
    pub kind: Damage,
    /// Why, for a human.
    pub detail: String,
}

impl Problem {
    fn new(line: u64, kind: Damage, detail: impl AsRef<str>) -> Problem {
        Problem {
            line,
            kind,
            detail: clean(detail.as_ref()),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.kind, self.detail)
    }
}

impl std::error::Error for Problem {}

/// Escapes control characters and caps the length of text that may come
/// from the export: at most 300 characters after escaping, then `…`.
fn clean(text: &str) -> String {
    const MAX_CHARS: usize = 300;
    let mut out = String::new();
    let mut chars = 0;
    for c in text.chars() {
        let width = if c.is_control() {
            c.escape_default().count()
        } else {
            1
        };
        if chars + width > MAX_CHARS {
            out.push('…');
            break;
        }
        chars += width;
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Whose key the signatures were checked with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureTrust {
    /// The key the caller pinned: the export is what that key signed.
    Pinned,
    /// No key was pinned: the key named in the export's own header was used,
    /// so the signatures are only self-consistent (anyone can produce such an
    /// export with a key of their own).
    SelfConsistentOnly,
}

/// Which layout the export had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// JSON Lines.
    Jsonl,
    /// CSV.
    Csv,
}

/// What a successful verification established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// JSON Lines or CSV.
    pub kind: ExportKind,
    /// The workspace of every record and checkpoint.
    pub workspace: String,
    /// The key the signatures were checked with (`ed25519:…`) and its id.
    pub pubkey: String,
    /// [`PublicKey::key_id`] of `pubkey`.
    pub key_id: String,
    /// The header's (unsigned) intervals, as applied.
    pub interval_n: u64,
    /// See `interval_n`.
    pub interval_s: u64,
    /// The header's first seq (1: the export starts at genesis).
    pub from_seq: u64,
    /// Record lines.
    pub records: u64,
    /// Checkpoint lines, the head included.
    pub checkpoints: u64,
    /// First and last record seq (`None` when there are no records).
    pub first_seq: Option<u64>,
    /// See `first_seq`.
    pub last_seq: Option<u64>,
    /// The head checkpoint: seq, hash and signing time.
    pub head_seq: u64,
    /// See `head_seq`.
    pub head_hash: String,
    /// See `head_seq`.
    pub head_ts: String,
    /// Whether the key was pinned.
    pub signatures: SignatureTrust,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ExportKind::Jsonl => "json lines",
            ExportKind::Csv => "csv",
        };
        writeln!(f, "export ok ({kind}), workspace {}", self.workspace)?;
        match (self.first_seq, self.last_seq) {
            (Some(a), Some(b)) => writeln!(f, "records: {} (seq {a}..{b})", self.records)?,
            _ => writeln!(f, "records: 0")?,
        }
        if self.from_seq == 1 {
            writeln!(f, "starts at genesis (seq 1)")?;
        } else {
            writeln!(
                f,
                "partial export: starts at seq {}; earlier records are not covered",
                self.from_seq
            )?;
        }
        writeln!(
            f,
            "checkpoints: {}; head: seq {} signed at {}",
            self.checkpoints, self.head_seq, self.head_ts
        )?;
        writeln!(
            f,
            "intervals (from the unsigned header): {} records, {} s",
            self.interval_n, self.interval_s
        )?;
        match self.signatures {
            SignatureTrust::Pinned => {
                write!(f, "signatures: valid under the pinned key {}", self.pubkey)
            }
            SignatureTrust::SelfConsistentOnly => write!(
                f,
                "signatures: only self-consistent: checked with the key named in the export \
                 itself ({}), which proves nothing about who made it; pin the server's key",
                self.pubkey
            ),
        }
    }
}

/// One parsed line.
enum Item {
    Header(Header),
    Record(Box<Record>),
    Checkpoint(Checkpoint, String),
}

/// Checks an export (JSON Lines or CSV, detected from the first byte after
/// an optional UTF-8 BOM: `{` means JSON Lines). With `pinned`, the
/// header's key must be that key; without it, signatures are checked with
/// the header's own key and the report says they are only self-consistent.
/// Returns the first problem found. Never panics on input.
pub fn verify(input: impl BufRead, pinned: Option<&PublicKey>) -> Result<Report, Problem> {
    let mut lines = Lines::new(input);
    let first = lines
        .peek_first()
        .map_err(|e| Problem::new(1, Damage::Malformed, e.to_string()))?;
    match first {
        None => Err(Problem::new(
            1,
            Damage::Malformed,
            "empty input: not an export",
        )),
        Some(b'{') => run(JsonlSource { lines }, pinned, ExportKind::Jsonl),
        Some(_) => run(
            CsvSource {
                rows: Rows::new(lines),
                columns_seen: false,
            },
            pinned,
            ExportKind::Csv,
        ),
    }
}

trait Source {
    fn next_item(&mut self) -> Result<Option<(u64, Item)>, Problem>;
    fn last_line(&self) -> u64;
}

struct JsonlSource<R> {
    lines: Lines<R>,
}

impl<R: BufRead> Source for JsonlSource<R> {
    fn next_item(&mut self) -> Result<Option<(u64, Item)>, Problem> {
        let mut raw = Vec::new();
        let line = self.lines.number().saturating_add(1);
        match self.lines.read_into(&mut raw, MAX_LINE) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => return Err(Problem::new(line, Damage::Malformed, e.to_string())),
        }
        if raw.last() == Some(&b'\n') {
            raw.pop();
            if raw.last() == Some(&b'\r') {
                raw.pop();
            }
        }
        let text = String::from_utf8(raw)
            .map_err(|_| Problem::new(line, Damage::Malformed, "line is not valid utf-8"))?;
        if text.is_empty() {
            return Err(Problem::new(line, Damage::Malformed, "empty line"));
        }
        let item = parse_json_line(&text).map_err(|e| Problem::new(line, Damage::Malformed, e))?;
        Ok(Some((line, item)))
    }

    fn last_line(&self) -> u64 {
        self.lines.number()
    }
}

/// What usually makes a JSON line differ from its canonical form.
const JSON_HINT: &str = "members out of order, or a number or string escape not in canonical form";

fn parse_json_line(text: &str) -> Result<Item, String> {
    // Duplicated members refused by name; then the line must be exactly the
    // canonical text of what it holds: what was hashed and signed is then
    // the only reading of the line.
    let value = strict::parse(text)?;
    let canonical = crate::export::canonical(&value).map_err(|e| e.to_string())?;
    if let Some(why) = strict::difference(
        text.as_bytes(),
        canonical.as_bytes(),
        "its canonical json (rfc 8785)",
        JSON_HINT,
    ) {
        return Err(why);
    }
    let Value::Object(mut obj) = value else {
        return Err("not a json object".into());
    };
    if obj.len() == 1 {
        if let Some(h) = obj.remove("header") {
            return serde_json::from_value(h)
                .map(Item::Header)
                .map_err(|e| format!("bad header: {e}"));
        }
        if let Some(r) = obj.remove("record") {
            return record_from_value(r).map(|r| Item::Record(Box::new(r)));
        }
    }
    if obj.len() == 2
        && let (Some(cp), Some(sig)) = (obj.remove("checkpoint"), obj.remove("sig"))
    {
        let cp: Checkpoint =
            serde_json::from_value(cp).map_err(|e| format!("bad checkpoint: {e}"))?;
        let Value::String(sig) = sig else {
            return Err("sig must be a string".into());
        };
        return Ok(Item::Checkpoint(cp, sig));
    }
    Err("expected {\"header\":…}, {\"record\":…} or {\"checkpoint\":…,\"sig\":…}".into())
}

fn record_from_value(value: Value) -> Result<Record, String> {
    let Value::Object(map) = &value else {
        return Err("record must be a json object".into());
    };
    if map.len() != RECORD_FIELDS.len() || !RECORD_FIELDS.iter().all(|f| map.contains_key(*f)) {
        return Err("record must have exactly the 19 fields of format 1".into());
    }
    serde_json::from_value(value).map_err(|e| format!("bad record: {e}"))
}

struct CsvSource<R> {
    rows: Rows<R>,
    columns_seen: bool,
}

impl<R: BufRead> Source for CsvSource<R> {
    fn next_item(&mut self) -> Result<Option<(u64, Item)>, Problem> {
        loop {
            let Some((line, cells)) = self
                .rows
                .next_row()
                .map_err(|(line, e)| Problem::new(line, Damage::Malformed, e))?
            else {
                return Ok(None);
            };
            let cells: Vec<&str> = cells.iter().map(|c| csv::restore(c)).collect();
            if !self.columns_seen {
                if cells != CSV_COLUMNS {
                    return Err(Problem::new(
                        line,
                        Damage::Malformed,
                        "not an export: the first line is neither a json header nor the csv column names",
                    ));
                }
                self.columns_seen = true;
                self.exact(line, &crate::export::csv_header())?;
                continue;
            }
            let item = csv_item(&cells).map_err(|e| Problem::new(line, Damage::Malformed, e))?;
            // The row must be exactly what the export writes for that item:
            // no unneeded quotes, no stray neutralising quote, params and
            // header in canonical json.
            let expected = match &item {
                Item::Header(h) => crate::export::csv_header_row(h),
                Item::Record(r) => crate::export::csv_record(r),
                Item::Checkpoint(cp, sig) => Ok(crate::export::csv_checkpoint(cp, sig)),
            }
            .map_err(|e| Problem::new(line, Damage::Malformed, e.to_string()))?;
            self.exact(line, &expected)?;
            return Ok(Some((line, item)));
        }
    }

    fn last_line(&self) -> u64 {
        self.rows.line()
    }
}

impl<R: BufRead> CsvSource<R> {
    /// The row just read must be `expected` byte for byte (its line break
    /// may be CRLF, LF or, on the last row, none).
    fn exact(&self, line: u64, expected: &str) -> Result<(), Problem> {
        let trim = |b: &[u8]| -> Vec<u8> {
            let b = b.strip_suffix(b"\n").unwrap_or(b);
            b.strip_suffix(b"\r").unwrap_or(b).to_vec()
        };
        match strict::difference(
            &trim(self.rows.raw()),
            &trim(expected.as_bytes()),
            "the row the export writes for it",
            "unneeded quotes, a stray leading ', or params or header json not in canonical form",
        ) {
            None => Ok(()),
            Some(why) => Err(Problem::new(line, Damage::Malformed, why)),
        }
    }
}

fn csv_item(cells: &[&str]) -> Result<Item, String> {
    let c: &[&str; 22] = cells
        .try_into()
        .map_err(|_| format!("expected 22 cells, found {}", cells.len()))?;
    let only = |filled: &[usize]| -> Result<(), String> {
        for (i, cell) in c.iter().enumerate() {
            if !filled.contains(&i) && !cell.is_empty() {
                return Err(format!(
                    "cell {} must be empty in a {} row",
                    CSV_COLUMNS[i], c[0]
                ));
            }
        }
        Ok(())
    };
    match c[0] {
        "header" => {
            only(&[0, 21])?;
            let header = strict::parse(c[21]).map_err(|e| format!("bad header: {e}"))?;
            serde_json::from_value(header)
                .map(Item::Header)
                .map_err(|e| format!("bad header: {e}"))
        }
        "checkpoint" => {
            only(&[0, 1, 2, 3, 19, 20])?;
            let cp = Checkpoint {
                workspace: c[3].to_owned(),
                seq: number(c[1], "seq")?,
                hash: c[19].to_owned(),
                ts: c[2].to_owned(),
            };
            Ok(Item::Checkpoint(cp, c[20].to_owned()))
        }
        "record" => {
            only(&(0..20).collect::<Vec<_>>())?;
            let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
            let opt_number = |s: &str, name: &str| -> Result<Option<u64>, String> {
                if s.is_empty() {
                    Ok(None)
                } else {
                    number(s, name).map(Some)
                }
            };
            let params = strict::parse(c[9]).map_err(|e| format!("bad params: {e}"))?;
            Ok(Item::Record(Box::new(Record {
                seq: number(c[1], "seq")?,
                ts: c[2].to_owned(),
                workspace: c[3].to_owned(),
                user: opt(c[4]),
                key_id: opt(c[5]),
                client: opt(c[6]),
                model: opt(c[7]),
                tool: c[8].to_owned(),
                params,
                connection: opt(c[10]),
                mode: opt(c[11]),
                query_hash: opt(c[12]),
                rows: opt_number(c[13], "rows")?,
                bytes: opt_number(c[14], "bytes")?,
                duration_ms: number(c[15], "duration_ms")?,
                outcome: Outcome::parse(c[16]).ok_or("outcome must be ok, denied or error")?,
                error: opt(c[17]),
                prev_hash: c[18].to_owned(),
                hash: c[19].to_owned(),
            })))
        }
        other => Err(format!(
            "kind must be header, record or checkpoint, not {other:?}"
        )),
    }
}

/// A canonical decimal u64: digits only, no sign, no leading zero.
fn number(text: &str, name: &str) -> Result<u64, String> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical
        .then(|| text.parse::<u64>().ok())
        .flatten()
        .ok_or_else(|| format!("{name} must be a decimal integer"))
}

struct LastCheckpoint {
    seq: u64,
    ts: DateTime<Utc>,
    ts_text: String,
    hash: String,
    line: u64,
}

enum Pending {
    /// A record whose seq jumped forward: deleted or reordered, which the
    /// next line tells.
    Jump { line: u64, seq: u64, expected: u64 },
    /// A checkpoint too late after the previous one: a problem unless it is
    /// the head (the last line).
    Gap(Problem),
}

struct Verifier {
    header: Header,
    key: PublicKey,
    trust: SignatureTrust,
    exported_at: DateTime<Utc>,
    next_seq: u64,
    last_seq: u64,
    /// `None` only in a partial export before its anchor is known.
    last_hash: Option<String>,
    last_record_line: Option<u64>,
    last_cp: Option<LastCheckpoint>,
    clock: Option<DateTime<Utc>>,
    since_cp: u64,
    records: u64,
    checkpoints: u64,
    first_seq: Option<u64>,
    last_was_checkpoint: bool,
    pending: Option<Pending>,
}

fn run<S: Source>(
    mut src: S,
    pinned: Option<&PublicKey>,
    kind: ExportKind,
) -> Result<Report, Problem> {
    let Some((line, item)) = src.next_item()? else {
        return Err(Problem::new(1, Damage::Malformed, "no header"));
    };
    let Item::Header(header) = item else {
        return Err(Problem::new(
            line,
            Damage::Malformed,
            "the first line must be the header",
        ));
    };
    if header.format != FORMAT {
        return Err(Problem::new(
            line,
            Damage::Malformed,
            format!("unsupported format {}", header.format),
        ));
    }
    let own = PublicKey::parse(&header.pubkey).ok();
    let (key, trust) = match (pinned, own) {
        (Some(p), Some(k)) if *p == k => (*p, SignatureTrust::Pinned),
        (Some(p), _) => {
            return Err(Problem::new(
                line,
                Damage::WrongKey,
                format!(
                    "the header names key {}, the pinned key is {}",
                    header.pubkey,
                    p.to_text()
                ),
            ));
        }
        (None, Some(k)) => (k, SignatureTrust::SelfConsistentOnly),
        (None, None) => {
            return Err(Problem::new(
                line,
                Damage::WrongKey,
                "the header's pubkey is not a valid ed25519 key",
            ));
        }
    };
    if header.key_id != key.key_id() {
        return Err(Problem::new(
            line,
            Damage::WrongKey,
            "the header's key_id does not name its pubkey",
        ));
    }
    let exported_at = parse_ts(&header.exported_at)
        .map_err(|_| Problem::new(line, Damage::Malformed, "exported_at is not rfc 3339"))?;
    if header.from_seq == 0 {
        return Err(Problem::new(
            line,
            Damage::Malformed,
            "from_seq must be 1 or more",
        ));
    }
    let genesis = header.from_seq == 1;
    let mut v = Verifier {
        next_seq: header.from_seq,
        last_seq: header.from_seq - 1,
        last_hash: genesis.then(|| ZERO_HASH.to_owned()),
        header,
        key,
        trust,
        exported_at,
        last_record_line: None,
        last_cp: None,
        clock: None,
        since_cp: 0,
        records: 0,
        checkpoints: 0,
        first_seq: None,
        last_was_checkpoint: false,
        pending: None,
    };
    loop {
        match src.next_item() {
            Ok(Some((line, item))) => v.item(line, item)?,
            Ok(None) => break,
            // A problem held back from an earlier line comes first.
            Err(p) => return Err(v.take_pending().unwrap_or(p)),
        }
    }
    v.finish(src.last_line(), kind)
}

impl Verifier {
    /// Exactly `interval_s`: the writer signs a time checkpoint no later
    /// than T after the previous one (and checkpoints before a record that
    /// would come later than that), whatever its commit latency.
    fn slack_ms(&self) -> i64 {
        i64::try_from(self.header.interval_s)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000)
    }

    /// True when `ts` is further after `since` than the time interval allows.
    fn too_late(&self, since: DateTime<Utc>, ts: DateTime<Utc>) -> bool {
        self.header.interval_s > 0
            && ts.signed_duration_since(since).num_milliseconds() > self.slack_ms()
    }

    /// The held-back problem, resolved as if the input ended or turned bad
    /// right after it (a late checkpoint followed by anything is not the head).
    fn take_pending(&mut self) -> Option<Problem> {
        self.pending.take().map(|p| match p {
            Pending::Jump {
                line,
                seq,
                expected,
            } => jump_deleted(line, seq, expected),
            Pending::Gap(problem) => problem,
        })
    }

    fn item(&mut self, line: u64, item: Item) -> Result<(), Problem> {
        if let Some(p) = self.pending.take() {
            return Err(match p {
                Pending::Jump {
                    line: at,
                    seq,
                    expected,
                } => match &item {
                    Item::Record(r) if r.seq < seq => Problem::new(
                        at,
                        Damage::Reordered,
                        format!(
                            "seq {seq} where {expected} was expected, followed by seq {}: records are out of order",
                            r.seq
                        ),
                    ),
                    _ => jump_deleted(at, seq, expected),
                },
                Pending::Gap(problem) => problem,
            });
        }
        self.last_was_checkpoint = false;
        match item {
            Item::Header(_) => Err(Problem::new(line, Damage::Malformed, "a second header")),
            Item::Record(r) => self.record(line, *r),
            Item::Checkpoint(cp, sig) => self.checkpoint(line, cp, &sig),
        }
    }

    fn record(&mut self, line: u64, r: Record) -> Result<(), Problem> {
        if r.workspace != self.header.workspace {
            return Err(Problem::new(
                line,
                Damage::Inserted,
                format!(
                    "record of workspace {} in an export of workspace {}",
                    r.workspace, self.header.workspace
                ),
            ));
        }
        if !is_hash_hex(&r.hash) || !is_hash_hex(&r.prev_hash) {
            return Err(Problem::new(
                line,
                Damage::Malformed,
                "hash and prev_hash must be 64 lowercase hex characters",
            ));
        }
        let ts = parse_ts(&r.ts)
            .map_err(|_| Problem::new(line, Damage::Malformed, "ts is not rfc 3339"))?;
        let computed =
            record_hash(&r).map_err(|e| Problem::new(line, Damage::Malformed, e.to_string()))?;
        if computed != r.hash {
            return Err(Problem::new(
                line,
                Damage::Modified,
                format!("record seq {} does not match its hash", r.seq),
            ));
        }
        if r.seq > self.next_seq {
            self.pending = Some(Pending::Jump {
                line,
                seq: r.seq,
                expected: self.next_seq,
            });
            return Ok(());
        }
        if r.seq < self.next_seq {
            let detail = if self.records == 0 {
                format!(
                    "seq {} is before the export's first seq {}",
                    r.seq, self.header.from_seq
                )
            } else if r.seq == self.last_seq {
                format!("seq {} appears twice", r.seq)
            } else {
                String::new()
            };
            if detail.is_empty() {
                return Err(Problem::new(
                    line,
                    Damage::Reordered,
                    format!("seq {} after seq {}", r.seq, self.last_seq),
                ));
            }
            return Err(Problem::new(line, Damage::Inserted, detail));
        }
        if let Some(h) = &self.last_hash
            && *h != r.prev_hash
        {
            let detail = match self.last_record_line {
                Some(p) => format!(
                    "prev_hash does not match the hash of the record on line {p}: one of the two was altered and re-hashed"
                ),
                None if self.header.from_seq == 1 => {
                    "the first record does not link to the genesis hash (64 zeros)".to_owned()
                }
                None => "the first record does not link to the checkpoint before it".to_owned(),
            };
            return Err(Problem::new(line, Damage::Modified, detail));
        }
        if r.tool == START_TOOL {
            self.clock = Some(ts);
        } else if let Some(c) = self.clock {
            if self.too_late(c, ts) {
                return Err(Problem::new(
                    line,
                    Damage::CheckpointGap,
                    format!(
                        "record at {} comes more than {} s after the last checkpoint (or start) at {}",
                        r.ts,
                        self.header.interval_s,
                        crate::format_ts(c)
                    ),
                ));
            }
        } else {
            self.clock = Some(ts);
        }
        self.last_seq = r.seq;
        self.next_seq = r.seq.saturating_add(1);
        self.last_hash = Some(r.hash);
        self.last_record_line = Some(line);
        self.records = self.records.saturating_add(1);
        self.since_cp = self.since_cp.saturating_add(1);
        self.first_seq.get_or_insert(r.seq);
        Ok(())
    }

    fn checkpoint(&mut self, line: u64, cp: Checkpoint, sig: &str) -> Result<(), Problem> {
        if cp.workspace != self.header.workspace {
            return Err(Problem::new(
                line,
                Damage::ForeignCheckpoint,
                format!(
                    "checkpoint of workspace {} in an export of workspace {}",
                    cp.workspace, self.header.workspace
                ),
            ));
        }
        if !is_hash_hex(&cp.hash) {
            return Err(Problem::new(
                line,
                Damage::Malformed,
                "checkpoint hash must be 64 lowercase hex characters",
            ));
        }
        let ts = parse_ts(&cp.ts)
            .map_err(|_| Problem::new(line, Damage::Malformed, "checkpoint ts is not rfc 3339"))?;
        if cp.seq > 0 && cp.hash == ZERO_HASH {
            // No record hashes to 64 zeros: a server that signed this made
            // a false statement (e.g. an empty partial export's head).
            return Err(Problem::new(
                line,
                Damage::Malformed,
                format!(
                    "checkpoint of seq {} carries the genesis hash, which only seq 0 can have",
                    cp.seq
                ),
            ));
        }
        if !self.key.verify(&cp, sig) {
            return Err(Problem::new(
                line,
                Damage::BadSignature,
                format!(
                    "the signature of the checkpoint of seq {} does not verify",
                    cp.seq
                ),
            ));
        }
        if let Some(last) = &self.last_cp
            && (cp.seq < last.seq || (cp.seq == last.seq && ts < last.ts))
        {
            return Err(Problem::new(
                line,
                Damage::ReplayedCheckpoint,
                format!(
                    "checkpoint of seq {} at {} is older than the one on line {} (seq {} at {})",
                    cp.seq, cp.ts, last.line, last.seq, last.ts_text
                ),
            ));
        }
        if cp.seq > self.last_seq {
            return Err(Problem::new(
                line,
                Damage::Deleted,
                format!(
                    "checkpoint signs seq {} but the last record before it is seq {}: records are missing",
                    cp.seq, self.last_seq
                ),
            ));
        }
        if cp.seq < self.last_seq {
            return Err(Problem::new(
                line,
                Damage::Inserted,
                format!(
                    "checkpoint signs seq {} but records up to seq {} come before it: records were inserted",
                    cp.seq, self.last_seq
                ),
            ));
        }
        match &self.last_hash {
            Some(h) if *h != cp.hash => {
                return Err(Problem::new(
                    line,
                    Damage::Modified,
                    format!(
                        "the signed hash of seq {} differs from the chain's: records up to it were altered and re-hashed",
                        cp.seq
                    ),
                ));
            }
            Some(_) => {}
            None => self.last_hash = Some(cp.hash.clone()),
        }
        if self.header.interval_n > 0 && self.since_cp > self.header.interval_n {
            return Err(Problem::new(
                line,
                Damage::CheckpointGap,
                format!(
                    "{} records since the previous checkpoint, more than {}",
                    self.since_cp, self.header.interval_n
                ),
            ));
        }
        let late = self.clock.filter(|c| self.too_late(*c, ts));
        if let Some(c) = late {
            self.pending = Some(Pending::Gap(Problem::new(
                line,
                Damage::CheckpointGap,
                format!(
                    "checkpoint at {} comes more than {} s after the last checkpoint (or start) at {}",
                    cp.ts,
                    self.header.interval_s,
                    crate::format_ts(c)
                ),
            )));
        }
        self.clock = Some(ts);
        self.since_cp = 0;
        self.checkpoints = self.checkpoints.saturating_add(1);
        self.last_was_checkpoint = true;
        self.last_cp = Some(LastCheckpoint {
            seq: cp.seq,
            ts,
            ts_text: cp.ts,
            hash: cp.hash,
            line,
        });
        Ok(())
    }

    fn finish(self, last_line: u64, kind: ExportKind) -> Result<Report, Problem> {
        let end = last_line.saturating_add(1);
        match self.pending {
            Some(Pending::Jump {
                line,
                seq,
                expected,
            }) => return Err(jump_deleted(line, seq, expected)),
            // A late checkpoint on the last line is the head: exempt.
            Some(Pending::Gap(_)) | None => {}
        }
        let head = match (&self.last_cp, self.last_was_checkpoint) {
            (Some(head), true) => head,
            _ => {
                let detail = match self.last_record_line {
                    Some(l) => format!(
                        "the export ends without a head checkpoint: records from line {l} back to the last checkpoint are not covered by any signature"
                    ),
                    None => "the export ends without a head checkpoint".to_owned(),
                };
                return Err(Problem::new(end, Damage::Truncated, detail));
            }
        };
        if head
            .ts
            .signed_duration_since(self.exported_at)
            .num_milliseconds()
            < -HEAD_SLACK_MS
        {
            return Err(Problem::new(
                end,
                Damage::Truncated,
                format!(
                    "the last checkpoint (signed at {}) is older than the export ({}): the head checkpoint and what came before it were cut",
                    head.ts_text, self.header.exported_at
                ),
            ));
        }
        Ok(Report {
            kind,
            workspace: self.header.workspace,
            pubkey: self.key.to_text(),
            key_id: self.key.key_id(),
            interval_n: self.header.interval_n,
            interval_s: self.header.interval_s,
            from_seq: self.header.from_seq,
            records: self.records,
            checkpoints: self.checkpoints,
            first_seq: self.first_seq,
            last_seq: self.first_seq.map(|_| self.last_seq),
            head_seq: head.seq,
            head_hash: head.hash.clone(),
            head_ts: head.ts_text.clone(),
            signatures: self.trust,
        })
    }
}

fn jump_deleted(line: u64, seq: u64, expected: u64) -> Problem {
    Problem::new(
        line,
        Damage::Deleted,
        format!(
            "seq {seq} where {expected} was expected: {} record(s) missing",
            seq.saturating_sub(expected)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (fuzz/, target audit_verify): the cap counted the
    /// characters before escaping, so a workspace name of nul bytes made a
    /// detail of over 1,000 characters.
    #[test]
    fn a_detail_is_capped_after_escaping() {
        let escaped = clean(&"\0".repeat(400));
        assert_eq!(escaped.chars().count(), 301, "{escaped}");
        assert!(escaped.ends_with("\\u{0}…"), "{escaped}");
        assert_eq!(clean(&"a".repeat(300)), "a".repeat(300));
        assert_eq!(clean(&"a".repeat(301)), format!("{}…", "a".repeat(300)));
        let ws = format!("ws_0123{}456789abcdef", "\0".repeat(49));
        let p = Problem::new(
            3,
            Damage::ForeignCheckpoint,
            format!("checkpoint of workspace {ws} in an export of workspace ws_0123456789abcdef"),
        );
        assert!(p.detail.chars().count() <= 301, "{}", p.detail);
    }

    #[test]
    fn garbage_is_malformed_and_never_panics() {
        let inputs: [&[u8]; 9] = [
            b"",
            b"{",
            b"{}\n",
            b"not,an,export\r\n",
            b"\xff\xfe",
            b"{\"header\":1}\n",
            b"{\"record\":{}}\n",
            b"kind\r\n",
            b"\"unterminated\r\n",
        ];
        for input in inputs {
            let got = verify(input, None);
            assert!(
                matches!(&got, Err(p) if p.kind == Damage::Malformed),
                "{input:?}: {got:?}"
            );
        }
    }

    #[test]
    fn details_escape_control_characters() {
        let p = Problem::new(1, Damage::Malformed, "a\u{1b}[31mb\nc");
        assert_eq!(p.detail, "a\\u{1b}[31mb\\nc");
        assert!(
            Problem::new(1, Damage::Malformed, "x".repeat(1000))
                .detail
                .chars()
                .count()
                <= 301
        );
    }

    #[test]
    fn numbers_are_canonical() {
        assert_eq!(number("0", "n"), Ok(0));
        assert_eq!(number("120", "n"), Ok(120));
        for bad in ["", "01", "+1", "-1", "1.0", " 1", "99999999999999999999"] {
            assert!(number(bad, "n").is_err(), "{bad}");
        }
    }
}

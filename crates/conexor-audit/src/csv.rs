//! RFC 4180 cells for the CSV export: quoting, CSV-injection neutralisation
//! and its exact reversal, and a streaming row reader for the verifier.
//!
//! Neutralisation: a cell whose text starts with `=`, `+`, `-`, `@`, tab,
//! carriage return, line feed, their full-width forms (`＝＋－＠`) or `'`
//! is written with one more leading `'`. A spreadsheet then shows it as
//! text instead of evaluating it. The rule is reversible: on reading, a cell
//! that starts with `'` loses exactly one `'` (a written cell can only start
//! with `'` because of the rule, since `'` itself triggers it).
//!
//! What it does not do: no type conversion, no header handling; the
//! verifier maps cells to fields.

use crate::lines::{LineError, Lines};
use std::borrow::Cow;
use std::io::BufRead;

/// Characters that make a spreadsheet treat a cell as a formula (or that
/// would make the reversal ambiguous, `'`).
fn is_trigger(c: char) -> bool {
    matches!(
        c,
        '=' | '+'
            | '-'
            | '@'
            | '\t'
            | '\r'
            | '\n'
            | '\''
            | '\u{FF1D}'
            | '\u{FF0B}'
            | '\u{FF0D}'
            | '\u{FF20}'
    )
}

/// The neutralised text of a cell (before quoting).
pub(crate) fn neutralise(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some(c) if is_trigger(c) => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// The exact inverse of [`neutralise`].
pub(crate) fn restore(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

/// Appends one cell, neutralised and quoted when needed (`,` `"` CR LF).
pub(crate) fn push_cell(out: &mut String, cell: &str) {
    let cell = neutralise(cell);
    if cell.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&cell.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&cell);
    }
}

/// Joins cells into one CSV row terminated by CRLF.
pub(crate) fn row<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_cell(&mut out, cell);
    }
    out.push_str("\r\n");
    out
}

/// A row's first physical line and its cells.
pub(crate) type Row = (u64, Vec<String>);
/// A reading error: the line and why.
pub(crate) type RowError = (u64, String);

/// A streaming RFC 4180 reader: one row at a time (a row may span several
/// physical lines when a quoted cell holds line breaks).
pub(crate) struct Rows<R> {
    lines: Lines<R>,
    raw: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Plain,
    Quoted,
    QuoteInQuoted,
}

impl<R: BufRead> Rows<R> {
    pub(crate) fn new(lines: Lines<R>) -> Self {
        Rows {
            lines,
            raw: Vec::new(),
        }
    }

    /// The bytes of the last row returned, line breaks included.
    pub(crate) fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The number of the last physical line read.
    pub(crate) fn line(&self) -> u64 {
        self.lines.number()
    }

    /// The next row and the physical line it starts on, cells still
    /// neutralised (see [`restore`]). Errors carry the line they concern.
    pub(crate) fn next_row(&mut self) -> Result<Option<Row>, RowError> {
        let mut raw = Vec::new();
        let start_line = self.lines.number().saturating_add(1);
        match self.lines.read_into(&mut raw, crate::lines::MAX_LINE) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => return Err((start_line, e.to_string())),
        }
        let mut cells: Vec<String> = Vec::new();
        let mut cell: Vec<u8> = Vec::new();
        let mut state = State::Start;
        let mut i = 0;
        loop {
            let Some(&b) = raw.get(i) else {
                if state == State::Quoted {
                    // A quoted cell goes on over the line break: read on.
                    let more = self
                        .lines
                        .read_into(&mut raw, crate::lines::MAX_LINE)
                        .map_err(|e: LineError| (start_line, e.to_string()))?;
                    if more {
                        continue;
                    }
                    return Err((start_line, "unterminated quoted cell".into()));
                }
                // End of input without a final line break.
                break;
            };
            i += 1;
            match (state, b) {
                (State::Start, b'"') => state = State::Quoted,
                (State::Start | State::Plain | State::QuoteInQuoted, b',') => {
                    cells.push(to_string(std::mem::take(&mut cell), start_line)?);
                    state = State::Start;
                }
                (State::Start | State::Plain | State::QuoteInQuoted, b'\n') => break,
                (State::Start | State::Plain | State::QuoteInQuoted, b'\r') => {
                    if raw.get(i) == Some(&b'\n') && i + 1 == raw.len() {
                        break;
                    }
                    return Err((start_line, "bare carriage return outside quotes".into()));
                }
                (State::Start | State::Plain, _) if b == b'"' => {
                    return Err((start_line, "quote inside an unquoted cell".into()));
                }
                (State::Start | State::Plain, _) => {
                    cell.push(b);
                    state = State::Plain;
                }
                (State::Quoted, b'"') => state = State::QuoteInQuoted,
                (State::Quoted, _) => cell.push(b),
                (State::QuoteInQuoted, b'"') => {
                    cell.push(b'"');
                    state = State::Quoted;
                }
                (State::QuoteInQuoted, _) => {
                    return Err((start_line, "text after a closing quote".into()));
                }
            }
        }
        cells.push(to_string(cell, start_line)?);
        self.raw = raw;
        Ok(Some((start_line, cells)))
    }
}

fn to_string(bytes: Vec<u8>, line: u64) -> Result<String, RowError> {
    String::from_utf8(bytes).map_err(|_| (line, "cell is not valid utf-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(text: &str) -> Vec<(u64, Vec<String>)> {
        let mut rows = Rows::new(Lines::new(text.as_bytes()));
        let mut out = Vec::new();
        while let Ok(Some(r)) = rows.next_row() {
            out.push(r);
        }
        out
    }

    #[test]
    fn neutralisation_is_exactly_reversible() {
        for s in [
            "", "a", "=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\nx", "'", "''=", "'a", "＝1",
            "a=b", "é",
        ] {
            let n = neutralise(s);
            assert_eq!(restore(&n), s);
            let first = n.chars().next();
            assert!(
                !matches!(first, Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\n')),
                "{s:?} -> {n:?}"
            );
        }
    }

    #[test]
    fn rows_round_trip_through_the_reader() {
        let cells = ["a,b", "say \"hi\"", "line1\r\nline2", "=cmd", "", "plain"];
        let text = format!("{}{}", row(cells), row(["x"]));
        let rows = parse_all(&text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 1);
        assert_eq!(rows[1].0, 3);
        let back: Vec<&str> = rows[0].1.iter().map(|c| restore(c)).collect();
        assert_eq!(back, cells);
    }

    #[test]
    fn malformed_rows_are_refused() {
        for bad in ["a\"b\r\n", "\"a\"b\r\n", "\"open\r\n", "a\rb\r\n"] {
            let mut rows = Rows::new(Lines::new(bad.as_bytes()));
            assert!(rows.next_row().is_err(), "{bad:?}");
        }
    }
}

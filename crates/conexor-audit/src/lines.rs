//! Bounded line reading for the verifier: one physical line at a time, with
//! a hard cap on its length, so that a hostile export can neither exhaust
//! memory with an endless line nor make the verifier hold more than one row.
//!
//! What it does not do: it does not decode JSON or CSV; it hands back raw
//! bytes including the `\n` terminator (CSV needs to see embedded `\r\n`).

use std::io::{self, BufRead};

/// The longest physical line (and the longest CSV row) the verifier accepts.
pub(crate) const MAX_LINE: usize = 8 << 20;

/// Why a line could not be read.
#[derive(Debug)]
pub(crate) enum LineError {
    Io(io::Error),
    TooLong,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::Io(e) => write!(f, "read error: {e}"),
            LineError::TooLong => write!(f, "line longer than {MAX_LINE} bytes"),
        }
    }
}

/// Reads physical lines with their numbers (from 1).
pub(crate) struct Lines<R> {
    reader: R,
    number: u64,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(reader: R) -> Self {
        Lines { reader, number: 0 }
    }

    /// The number of the last line returned (0 before the first).
    pub(crate) fn number(&self) -> u64 {
        self.number
    }

    /// Skips a UTF-8 byte order mark at the very start, if any, and returns
    /// the first byte that follows (without consuming it).
    pub(crate) fn peek_first(&mut self) -> Result<Option<u8>, LineError> {
        let buf = self.reader.fill_buf().map_err(LineError::Io)?;
        if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            self.reader.consume(3);
        }
        let buf = self.reader.fill_buf().map_err(LineError::Io)?;
        Ok(buf.first().copied())
    }

    /// Appends the next physical line (including its `\n`, if any) to `out`;
    /// `Ok(false)` at end of input. `limit` caps `out`'s total length.
    pub(crate) fn read_into(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<bool, LineError> {
        let mut read_any = false;
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LineError::Io(e)),
            };
            if buf.is_empty() {
                break;
            }
            read_any = true;
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if out.len().saturating_add(take) > limit {
                return Err(LineError::TooLong);
            }
            out.extend_from_slice(&buf[..take]);
            self.reader.consume(take);
            if done {
                break;
            }
        }
        if read_any {
            self.number = self.number.saturating_add(1);
        }
        Ok(read_any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_with_terminators_and_numbers() {
        let mut l = Lines::new(&b"\xEF\xBB\xBFa\r\nbb\nc"[..]);
        assert_eq!(l.peek_first().ok().flatten(), Some(b'a'));
        let mut got = Vec::new();
        loop {
            let mut buf = Vec::new();
            match l.read_into(&mut buf, MAX_LINE) {
                Ok(true) => got.push((l.number(), buf)),
                _ => break,
            }
        }
        assert_eq!(
            got,
            vec![
                (1, b"a\r\n".to_vec()),
                (2, b"bb\n".to_vec()),
                (3, b"c".to_vec())
            ]
        );
    }

    #[test]
    fn refuses_overlong_lines() {
        let data = [b'x'; 100];
        let mut l = Lines::new(&data[..]);
        let mut buf = Vec::new();
        assert!(matches!(l.read_into(&mut buf, 10), Err(LineError::TooLong)));
    }
}

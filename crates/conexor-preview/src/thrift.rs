//! A reader of the Thrift compact protocol, by hand, for the two places a
//! preview must look at Thrift before the parquet crate does: the footer
//! (file metadata) and the page headers of the chunks it decodes.
//!
//! The parquet crate keeps its own reader private, and that reader takes a
//! collection's declared size on trust when it skips a field it does not
//! know: a footer whose unknown field declares a map of 1.6 billion boolean
//! pairs in six bytes kept it looping for longer than the fuzzer's
//! 10-second timeout (a fuzz finding, fuzz/regressions/objects/
//! parquet-footer-bool-map). Here every collection's size must fit the
//! bytes left (each element takes at least one), so a walk over `n` bytes
//! costs O(n) and no lie about sizes makes it longer.

use crate::{PreviewError, bad};

/// Checks that `bytes` start with one whole Thrift struct whose every
/// collection fits the bytes it was given, nested at most `max_depth`
/// deep, and returns the struct's length.
pub(crate) fn check_struct(bytes: &[u8], max_depth: usize) -> Result<usize, PreviewError> {
    let mut r = Compact::new(bytes, max_depth);
    r.skip(12, 0)?;
    Ok(r.position())
}

/// A reader of the Thrift compact protocol over a slice.
pub(crate) struct Compact<'a> {
    bytes: &'a [u8],
    at: usize,
    max_depth: usize,
}

impl<'a> Compact<'a> {
    /// A reader at the start of `bytes` that refuses values nested deeper
    /// than `max_depth`.
    pub(crate) fn new(bytes: &'a [u8], max_depth: usize) -> Self {
        Compact {
            bytes,
            at: 0,
            max_depth,
        }
    }

    /// Bytes read so far.
    pub(crate) fn position(&self) -> usize {
        self.at
    }

    fn cut() -> PreviewError {
        bad("a Parquet page header or footer is cut short or malformed")
    }

    pub(crate) fn byte(&mut self) -> Result<u8, PreviewError> {
        let b = *self.bytes.get(self.at).ok_or_else(Self::cut)?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, PreviewError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Self::cut())
    }

    pub(crate) fn zigzag(&mut self) -> Result<i64, PreviewError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    pub(crate) fn zigzag_i32(&mut self) -> Result<i32, PreviewError> {
        i32::try_from(self.zigzag()?).map_err(|_| Self::cut())
    }

    fn advance(&mut self, n: usize) -> Result<(), PreviewError> {
        self.at = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(Self::cut)?;
        Ok(())
    }

    /// A collection declares its size up front: every element takes at
    /// least one byte, so a size past the bytes left is a lie, refused
    /// before it is counted down (a fuzz finding: a map of 2^60 booleans).
    fn elements_fit(&self, size: u64) -> Result<(), PreviewError> {
        let left = (self.bytes.len() - self.at) as u64;
        if size > left {
            return Err(Self::cut());
        }
        Ok(())
    }

    /// Skips one element of a list, set or map: a boolean is a byte there.
    fn element(&mut self, kind: u8, depth: usize) -> Result<(), PreviewError> {
        if kind == 1 || kind == 2 {
            self.advance(1)
        } else {
            self.skip(kind, depth)
        }
    }

    /// Skips one value of compact type `kind`, nested `depth` deep.
    pub(crate) fn skip(&mut self, kind: u8, depth: usize) -> Result<(), PreviewError> {
        if depth > self.max_depth {
            return Err(Self::cut());
        }
        match kind {
            // Booleans carry their value in the type of a field.
            1 | 2 => Ok(()),
            3 => self.advance(1),
            4..=6 => self.varint().map(drop),
            7 => self.advance(8),
            8 => {
                let len = usize::try_from(self.varint()?).map_err(|_| Self::cut())?;
                self.advance(len)
            }
            9 | 10 => {
                let head = self.byte()?;
                let mut size = u64::from(head >> 4);
                if size == 15 {
                    size = self.varint()?;
                }
                let element = head & 0x0f;
                self.elements_fit(size)?;
                for _ in 0..size {
                    self.element(element, depth + 1)?;
                }
                Ok(())
            }
            11 => {
                let size = self.varint()?;
                if size == 0 {
                    return Ok(());
                }
                let types = self.byte()?;
                self.elements_fit(size)?;
                for _ in 0..size {
                    self.element(types >> 4, depth + 1)?;
                    self.element(types & 0x0f, depth + 1)?;
                }
                Ok(())
            }
            12 => {
                let mut last_id: i16 = 0;
                loop {
                    let head = self.byte()?;
                    if head == 0 {
                        return Ok(());
                    }
                    let delta = i16::from(head >> 4);
                    last_id = if delta == 0 {
                        self.zigzag()? as i16
                    } else {
                        last_id.wrapping_add(delta)
                    };
                    self.skip(head & 0x0f, depth + 1)?;
                }
            }
            _ => Err(Self::cut()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_that_claim_more_elements_than_bytes_are_refused_at_once() {
        // Field 14 (delta 14, map) declaring ~1.6e9 bool -> bool pairs, as
        // the fuzzer's footer did, then a few bytes.
        let started = std::time::Instant::now();
        let lie = [0xeb, 0xea, 0xef, 0xea, 0xfb, 0x85, 0x00, 0x12, 1, 1, 0];
        assert!(check_struct(&lie, 32).is_err());
        // The same map with two pairs that are there is a whole struct.
        let honest = [0xeb, 0x02, 0x12, 1, 2, 1, 2, 0];
        assert_eq!(check_struct(&honest, 32).unwrap(), honest.len());
        // A list of 2^20 booleans in four bytes.
        let list = [0x19, 0xf1, 0x80, 0x80, 0x40, 0];
        assert!(check_struct(&list, 32).is_err());
        assert!(started.elapsed() < std::time::Duration::from_millis(50));
    }

    #[test]
    fn nesting_is_bounded_and_cut_input_is_an_error() {
        // Field 1 struct, inside it field 1 struct, ... 40 deep.
        let mut deep = vec![0x1c; 40];
        deep.extend([0u8; 41]);
        assert!(check_struct(&deep, 32).is_err());
        assert!(check_struct(&deep[..], 64).is_ok());
        assert!(check_struct(&[0x15], 8).is_err(), "a field with no value");
        assert!(
            check_struct(&[0x18, 0x05, b'a'], 8).is_err(),
            "a string cut short"
        );
        assert!(check_struct(&[], 8).is_err());
    }
}

//! The page headers of the column chunks a preview decodes, checked before
//! the parquet crate sees them.
//!
//! A page header says how large its page is once decompressed, and the
//! parquet crate reserves that much before it decompresses (and its gzip
//! path fills the reservation): a 2 KB object whose header claims 2 GB cost
//! 1.9 s and that much memory (a fuzz finding). So every page header of the
//! chunks to decode is read here first (with [`crate::thrift`], as the
//! crate keeps its own Thrift reader private) and the
//! preview is refused when the pages claim more than
//! [`crate::parquet::MAX_UNCOMPRESSED`] in all, or do not tile the chunk.

use crate::{PreviewError, bad};

/// Most pages checked in one preview.
pub(crate) const MAX_PAGES: usize = 100_000;

/// The sizes a page header declares, and the header's own length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageSizes {
    pub(crate) uncompressed: i32,
    pub(crate) compressed: i32,
    pub(crate) header_len: usize,
}

/// Walks the pages of one column chunk (`chunk` is its bytes) and returns
/// the uncompressed bytes they declare in all. `budget` counts pages left.
pub(crate) fn chunk_uncompressed(chunk: &[u8], budget: &mut usize) -> Result<u64, PreviewError> {
    let mut at = 0usize;
    let mut total = 0u64;
    while at < chunk.len() {
        if *budget == 0 {
            return Err(bad("the Parquet file has too many pages to preview"));
        }
        *budget -= 1;
        let page = page_header(&chunk[at..])?;
        let (Ok(uncompressed), Ok(compressed)) = (
            u64::try_from(page.uncompressed),
            usize::try_from(page.compressed),
        ) else {
            return Err(bad("a Parquet page header declares a negative size"));
        };
        total = total.saturating_add(uncompressed);
        at = at
            .checked_add(page.header_len)
            .and_then(|a| a.checked_add(compressed))
            .filter(|end| *end <= chunk.len())
            .ok_or_else(|| bad("a Parquet page runs past the end of its column chunk"))?;
    }
    Ok(total)
}

/// Reads the page header at the start of `bytes`, walked as the parquet
/// crate will read it (see [`crate::thrift`]).
pub(crate) fn page_header(bytes: &[u8]) -> Result<PageSizes, PreviewError> {
    let header = crate::thrift::check_page_header(bytes)?;
    match (header.uncompressed, header.compressed) {
        (Some(uncompressed), Some(compressed)) => Ok(PageSizes {
            uncompressed,
            compressed,
            header_len: header.len,
        }),
        _ => Err(bad("a Parquet page header has no page sizes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data page header as parquet-rs writes it: type DATA_PAGE (0),
    /// uncompressed 100, compressed 60, crc absent, data_page_header
    /// {num_values 10, encoding 0, def 3, rep 3}.
    fn header(uncompressed: i32, compressed: i32) -> Vec<u8> {
        fn zz(v: i64) -> Vec<u8> {
            let mut u = ((v << 1) ^ (v >> 63)) as u64;
            let mut out = Vec::new();
            loop {
                let b = (u & 0x7f) as u8;
                u >>= 7;
                if u == 0 {
                    out.push(b);
                    return out;
                }
                out.push(b | 0x80);
            }
        }
        let mut h = vec![0x15];
        h.extend(zz(0));
        h.push(0x15);
        h.extend(zz(i64::from(uncompressed)));
        h.push(0x15);
        h.extend(zz(i64::from(compressed)));
        // field 5, struct (delta 2 from 3)
        h.push(0x2c);
        for v in [10, 0, 3, 3] {
            h.push(0x15);
            h.extend(zz(v));
        }
        h.push(0);
        h.push(0);
        h
    }

    #[test]
    fn page_headers_are_read_and_their_sizes_checked() {
        let h = header(100, 6);
        let sizes = page_header(&h).unwrap();
        assert_eq!(
            (sizes.uncompressed, sizes.compressed, sizes.header_len),
            (100, 6, h.len())
        );
        let mut chunk = h.clone();
        chunk.extend([0u8; 6]);
        chunk.extend(header(50, 0));
        let mut budget = 10;
        assert_eq!(chunk_uncompressed(&chunk, &mut budget).unwrap(), 150);
        // A page that runs past its chunk, a negative size, a cut header.
        let mut long = header(100, 600);
        long.extend([0u8; 6]);
        assert!(chunk_uncompressed(&long, &mut 10).is_err());
        assert!(chunk_uncompressed(&header(-1, 0), &mut 10).is_err());
        assert!(page_header(&h[..3]).is_err());
        assert!(page_header(&[0x1c; 64]).is_err(), "nesting past the limit");
        // A map that claims 2^60 boolean pairs in a few bytes.
        let started = std::time::Instant::now();
        let lie = [
            0x1b, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10, 0x11, 0, 0,
        ];
        assert!(page_header(&lie).is_err());
        assert!(started.elapsed() < std::time::Duration::from_millis(50));
        // Many empty pages stop at the budget.
        let many: Vec<u8> = (0..20).flat_map(|_| header(0, 0)).collect();
        assert!(chunk_uncompressed(&many, &mut 5).is_err());
    }
}

//! Parquet previews from the footer and the first row groups only.
//!
//! The caller reads the object's last [`TAIL_BYTES`], asks [`footer_len`]
//! how long the footer is (and reads more of the tail when it is longer),
//! asks [`plan`] which byte ranges hold the first row groups that have the
//! rows it wants, fetches exactly those, and hands every piece to [`rows`].
//! Nothing else of the object is ever read: a Parquet file of any size costs
//! its footer plus the first row groups, and a row group whose column chunks
//! are larger than the caller's fetch cap is refused before it is fetched.

use crate::{MAX_COLUMNS, Preview, PreviewColumn, PreviewError, bad, cell};
use bytes::{Buf, Bytes};
use parquet::file::reader::{ChunkReader, FileReader, Length};
use parquet::file::serialized_reader::{ReadOptionsBuilder, SerializedFileReader};
use serde_json::Value;

/// Bytes of the object's end read first: the footer of most files fits.
pub const TAIL_BYTES: u64 = 64 * 1024;
/// Longest footer (metadata) a preview reads.
pub const MAX_FOOTER: u64 = 8 * 1024 * 1024;
/// Most bytes the chosen row groups may decode to.
pub const MAX_UNCOMPRESSED: u64 = 64 * 1024 * 1024;

/// The footer's length (metadata plus its 8-byte trailer), from the last
/// bytes of the object.
pub fn footer_len(tail: &[u8], object_size: u64) -> Result<u64, PreviewError> {
    let n = tail.len();
    if n < 8 || &tail[n - 4..] != b"PAR1" {
        return Err(bad("the object is not a Parquet file (no PAR1 trailer)"));
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&tail[n - 8..n - 4]);
    let footer = u64::from(u32::from_le_bytes(len)) + 8;
    if footer > MAX_FOOTER {
        return Err(bad(format!(
            "the Parquet footer is {footer} bytes; a preview reads at most {MAX_FOOTER}"
        )));
    }
    if footer + 4 > object_size {
        return Err(bad(
            "the Parquet footer claims more bytes than the object has",
        ));
    }
    Ok(footer)
}

/// What to fetch for a preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// `(start, length)` of each chosen row group's column chunks.
    pub ranges: Vec<(u64, u64)>,
    /// How many row groups, from the first, the ranges hold.
    pub row_groups: usize,
}

fn unreadable(e: parquet::errors::ParquetError) -> PreviewError {
    bad(format!("the Parquet file cannot be read: {e}"))
}

/// The ranges of the first row groups holding `rows` rows, within
/// `max_fetch` bytes. `footer` is the object's last `footer_len` bytes.
pub fn plan(
    footer: &[u8],
    object_size: u64,
    rows: usize,
    max_fetch: u64,
) -> Result<Plan, PreviewError> {
    contained(|| plan_unguarded(footer, object_size, rows, max_fetch))
}

/// The parquet crate asserts on some malformed input (fuzzing found one in
/// its column metadata and one in its byte-stream-split decoder): a panic
/// while decoding an object is that object's error, never the caller's.
fn contained<T>(work: impl FnOnce() -> Result<T, PreviewError>) -> Result<T, PreviewError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Err(bad(
            "the Parquet file cannot be read: its data is malformed",
        ))
    })
}

fn plan_unguarded(
    footer: &[u8],
    object_size: u64,
    rows: usize,
    max_fetch: u64,
) -> Result<Plan, PreviewError> {
    let metadata =
        parquet::file::metadata::ParquetMetaDataReader::decode_metadata(checked_metadata(footer)?)
            .map_err(unreadable)?;
    let data_end = object_size.saturating_sub(footer.len() as u64);
    let mut plan = Plan {
        ranges: Vec::new(),
        row_groups: 0,
    };
    let (mut fetched, mut decoded, mut got) = (0u64, 0u64, 0usize);
    let mut taken = std::collections::BTreeMap::new();
    for group in metadata.row_groups() {
        if got >= rows && plan.row_groups > 0 {
            break;
        }
        let (mut start, mut end, mut unpacked) = (u64::MAX, 0u64, 0u64);
        for column in group.columns() {
            let (s, l) = column_range(column)?;
            start = start.min(s);
            end = end.max(s.saturating_add(l));
            unpacked = unpacked
                .saturating_add(u64::try_from(column.uncompressed_size()).unwrap_or(u64::MAX));
        }
        if group.columns().is_empty() || end > data_end || start >= end {
            return Err(bad("the Parquet footer points outside the object's data"));
        }
        // Each byte is fetched once: two ranges over the same bytes could
        // come back different (the object changed between the reads) and
        // the checks would then read other bytes than the decoder.
        // (By start: the nearest range starting before this one's end must
        // end by its start, and a footer can list many row groups.)
        if taken
            .range(..end)
            .next_back()
            .is_some_and(|(_, &taken_end)| taken_end > start)
        {
            return Err(bad("the Parquet footer's row groups overlap"));
        }
        taken.insert(start, end);
        let size = end - start;
        if fetched + size > max_fetch || decoded.saturating_add(unpacked) > MAX_UNCOMPRESSED {
            if plan.row_groups == 0 {
                return Err(bad(format!(
                    "the first row group is {size} bytes ({unpacked} decoded); a preview reads at most {max_fetch} ({MAX_UNCOMPRESSED} decoded)"
                )));
            }
            break;
        }
        fetched += size;
        decoded += unpacked;
        plan.ranges.push((start, size));
        plan.row_groups += 1;
        got = got.saturating_add(usize::try_from(group.num_rows()).unwrap_or(0));
    }
    Ok(plan)
}

/// The file metadata of a footer (the footer without its 8-byte trailer),
/// once its Thrift is known to be whole and honest about its sizes: the
/// parquet crate's own reader trusts a collection's declared size when it
/// skips a field it does not know, and loops that many times.
fn checked_metadata(footer: &[u8]) -> Result<&[u8], PreviewError> {
    let Some(metadata) = footer.len().checked_sub(8).map(|n| &footer[..n]) else {
        return Err(bad("the Parquet footer is cut short"));
    };
    crate::thrift::check_footer(metadata)?;
    Ok(metadata)
}

/// Where a column chunk's bytes are, as `ColumnChunkMetaData::byte_range`
/// says, without its assertion (a panic) on the negative offsets or sizes a
/// hostile footer can hold.
fn column_range(
    column: &parquet::file::metadata::ColumnChunkMetaData,
) -> Result<(u64, u64), PreviewError> {
    let first = column
        .dictionary_page_offset()
        .unwrap_or_else(|| column.data_page_offset());
    match (
        u64::try_from(first),
        u64::try_from(column.compressed_size()),
    ) {
        (Ok(start), Ok(len)) => Ok((start, len)),
        _ => Err(bad(
            "the Parquet footer has a negative column offset or size",
        )),
    }
}

/// The fetched pieces of an object, read as if it were whole; a read of
/// bytes that were not fetched is an error, never a fetch.
struct Sparse {
    size: u64,
    pieces: Vec<(u64, Bytes)>,
}

impl Sparse {
    /// The pieces, each byte of the object in at most one of them, so that
    /// every read of an offset sees the same bytes.
    fn new(size: u64, pieces: Vec<(u64, Vec<u8>)>) -> Result<Sparse, PreviewError> {
        let mut pieces: Vec<(u64, Bytes)> = pieces
            .into_iter()
            .map(|(at, bytes)| (at, Bytes::from(bytes)))
            .collect();
        pieces.sort_by_key(|(at, _)| *at);
        for pair in pieces.windows(2) {
            if let [(at, bytes), (next, _)] = pair
                && at.saturating_add(bytes.len() as u64) > *next
            {
                return Err(bad("the pieces of the Parquet object overlap"));
            }
        }
        Ok(Sparse { size, pieces })
    }

    fn piece(&self, start: u64, len: u64) -> parquet::errors::Result<Bytes> {
        for (at, bytes) in &self.pieces {
            let end = at + bytes.len() as u64;
            if *at <= start && start.saturating_add(len) <= end {
                let from = (start - at) as usize;
                return Ok(bytes.slice(from..from + len as usize));
            }
        }
        Err(parquet::errors::ParquetError::General(format!(
            "bytes {start}..{} were not part of the preview's ranges",
            start.saturating_add(len)
        )))
    }
}

impl Length for Sparse {
    fn len(&self) -> u64 {
        self.size
    }
}

impl ChunkReader for Sparse {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        for (at, bytes) in &self.pieces {
            let end = at + bytes.len() as u64;
            if *at <= start && start < end {
                return Ok(bytes.slice((start - at) as usize..).reader());
            }
        }
        Err(parquet::errors::ParquetError::General(format!(
            "byte {start} was not part of the preview's ranges"
        )))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.piece(start, length as u64)
    }
}

/// The first `rows` rows of the first `row_groups` row groups. `pieces`
/// are the planned ranges and the footer, as `(offset, bytes)`.
pub fn rows(
    object_size: u64,
    pieces: Vec<(u64, Vec<u8>)>,
    row_groups: usize,
    rows: usize,
) -> Result<Preview, PreviewError> {
    contained(move || rows_unguarded(object_size, pieces, row_groups, rows))
}

fn rows_unguarded(
    object_size: u64,
    pieces: Vec<(u64, Vec<u8>)>,
    row_groups: usize,
    rows: usize,
) -> Result<Preview, PreviewError> {
    let reader = Sparse::new(object_size, pieces)?;
    let check = Sparse {
        size: reader.size,
        pieces: reader.pieces.clone(),
    };
    // The footer among the pieces is checked as `plan` checks it: the
    // parquet crate reads it again here.
    let trailer = check
        .piece(object_size.saturating_sub(8), 8)
        .map_err(unreadable)?;
    let footer = u64::from(u32::from_le_bytes([
        trailer[0], trailer[1], trailer[2], trailer[3],
    ])) + 8;
    checked_metadata(
        &check
            .piece(object_size.saturating_sub(footer), footer)
            .map_err(unreadable)?,
    )?;
    let options = ReadOptionsBuilder::new()
        .with_predicate(Box::new(move |_, i| i < row_groups))
        .build();
    let file = SerializedFileReader::new_with_options(reader, options).map_err(unreadable)?;
    // Every page of the chunks to decode is checked before any is decoded
    // (see `pages`): what the pages claim, decompressed, is what would be
    // reserved.
    let mut declared = 0u64;
    let mut pages = crate::pages::MAX_PAGES;
    for group in file.metadata().row_groups().iter().take(row_groups) {
        for column in group.columns() {
            let (start, len) = column_range(column)?;
            let chunk = check.piece(start, len).map_err(unreadable)?;
            declared =
                declared.saturating_add(crate::pages::chunk_uncompressed(&chunk, &mut pages)?);
            if declared > MAX_UNCOMPRESSED {
                return Err(bad(format!(
                    "the Parquet pages to preview claim more than {MAX_UNCOMPRESSED} bytes uncompressed"
                )));
            }
        }
    }
    let total = file.metadata().file_metadata().num_rows();
    let schema = file.metadata().file_metadata().schema_descr_ptr();
    let fields = schema.root_schema().get_fields();
    if fields.len() > MAX_COLUMNS {
        return Err(bad(format!("the file has more than {MAX_COLUMNS} columns")));
    }
    let columns = fields
        .iter()
        .map(|f| PreviewColumn {
            name: f.name().to_owned(),
            type_name: if f.is_primitive() {
                match f.get_basic_info().logical_type_ref() {
                    Some(logical) => format!("{} ({logical:?})", f.get_physical_type()),
                    None => f.get_physical_type().to_string(),
                }
            } else {
                "group".to_owned()
            },
        })
        .collect();
    let mut out = Vec::new();
    for row in file.get_row_iter(None).map_err(unreadable)?.take(rows) {
        let row = row.map_err(unreadable)?;
        out.push(
            row.get_column_iter()
                .map(|(_, field)| match field.to_json_value() {
                    Value::String(text) => cell(&text),
                    other => other,
                })
                .collect(),
        );
    }
    Ok(Preview {
        truncated: (out.len() as i64) < total,
        columns,
        rows: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Previews a whole object the way the connector does: the footer, the
    /// plan, then the planned ranges and the footer as the fetched pieces.
    fn preview_whole(object: &[u8]) -> Result<Preview, PreviewError> {
        let size = object.len() as u64;
        let footer = footer_len(object, size)? as usize;
        let tail = &object[object.len() - footer..];
        let plan = plan(tail, size, 10, 1 << 20)?;
        let mut pieces: Vec<(u64, Vec<u8>)> = plan
            .ranges
            .iter()
            .map(|&(at, len)| (at, object[at as usize..(at + len) as usize].to_vec()))
            .collect();
        pieces.push((size - footer as u64, tail.to_vec()));
        rows(size, pieces, plan.row_groups, 10)
    }

    /// Whole objects the fuzzer found (fuzz/regressions/objects, first byte
    /// = the target's selector): each is an error, never a panic.
    #[test]
    fn malformed_files_the_fuzzer_found_are_errors() {
        for object in [
            &include_bytes!("../../../fuzz/regressions/objects/parquet-negative-column-offset")
                [1..],
            &include_bytes!("../../../fuzz/regressions/objects/parquet-byte-stream-split-overrun")
                [1..],
            &include_bytes!("../../../fuzz/regressions/objects/parquet-slow-decode")[1..],
            &include_bytes!("../../../fuzz/regressions/objects/parquet-slow-decode-2")[1..],
            &include_bytes!("../../../fuzz/regressions/objects/parquet-footer-bool-map")[1..],
            // Found by review: bytes the crate reads otherwise than a walk by
            // wire types, and schema trees it would build without bound.
            &include_bytes!(
                "../../../fuzz/regressions/objects/parquet-footer-bool-list-before-lie"
            )[1..],
            &include_bytes!("../../../fuzz/regressions/objects/parquet-footer-retyped-version")
                [1..],
            &include_bytes!(
                "../../../fuzz/regressions/objects/parquet-footer-schema-claims-i32max-children"
            )[1..],
            &include_bytes!("../../../fuzz/regressions/objects/parquet-footer-schema-9000-levels")
                [1..],
        ] {
            let started = std::time::Instant::now();
            let outcome = preview_whole(object);
            assert!(outcome.is_err(), "{outcome:?}");
            assert!(started.elapsed() < std::time::Duration::from_millis(500));
        }
    }

    /// Files pyarrow wrote (the fuzz corpus seeds: 30 rows in row groups of
    /// 10, three columns), previewed through the same plan and page checks.
    #[test]
    fn files_pyarrow_wrote_preview_in_every_codec_built_in() {
        for (object, ok) in [
            (
                &include_bytes!("../../../fuzz/corpus/objects/parquet-snappy")[1..],
                true,
            ),
            (
                &include_bytes!("../../../fuzz/corpus/objects/parquet-gzip")[1..],
                true,
            ),
            (
                &include_bytes!("../../../fuzz/corpus/objects/parquet-none")[1..],
                true,
            ),
            (
                &include_bytes!("../../../fuzz/corpus/objects/parquet-v2-dictionary")[1..],
                true,
            ),
            (
                &include_bytes!("../../../fuzz/corpus/objects/parquet-zstd")[1..],
                false,
            ),
        ] {
            let preview = preview_whole(object);
            if ok {
                let preview = preview.expect("previews");
                assert_eq!(preview.rows.len(), 10);
                assert_eq!(preview.columns.len(), 3);
            } else {
                assert!(preview.is_err());
            }
        }
    }

    #[test]
    fn footers_are_checked_before_anything_is_decoded() {
        assert!(footer_len(b"not parquet", 100).is_err());
        let mut tail = vec![0u8; 16];
        tail.extend_from_slice(&100u32.to_le_bytes());
        tail.extend_from_slice(b"PAR1");
        assert_eq!(footer_len(&tail, 1000).unwrap(), 108);
        assert!(
            footer_len(&tail, 50).is_err(),
            "a footer longer than the object"
        );
        let mut lying = vec![0u8; 4];
        lying.extend_from_slice(&u32::MAX.to_le_bytes());
        lying.extend_from_slice(b"PAR1");
        assert!(footer_len(&lying, u64::MAX).is_err(), "a 4 GiB footer");
        assert!(plan(b"garbage!PAR1", 1000, 10, 1 << 20).is_err());
    }

    #[test]
    fn overlapping_pieces_are_refused() {
        let pieces = vec![(4, vec![0u8; 100]), (54, vec![1u8; 100])];
        assert!(Sparse::new(1000, pieces).is_err());
        let apart = vec![(54, vec![1u8; 100]), (4, vec![0u8; 50])];
        assert!(Sparse::new(1000, apart).is_ok());
    }

    #[test]
    fn a_sparse_object_refuses_reads_outside_its_pieces() {
        let s = Sparse {
            size: 1000,
            pieces: vec![(100, Bytes::from_static(b"0123456789"))],
        };
        assert_eq!(s.get_bytes(102, 3).unwrap(), Bytes::from_static(b"234"));
        assert!(s.get_bytes(108, 5).is_err());
        assert!(s.get_read(99).is_err());
        assert!(s.get_read(105).is_ok());
    }
}

//! The Thrift a preview must check before the parquet crate reads it: a
//! file's footer (its metadata) and the page headers of the chunks it
//! decodes, walked here by hand in the compact protocol.
//!
//! Why: the parquet crate (60.1) keeps its reader private, and that reader
//! skips a field it does not know by the types on the wire, reading no byte
//! for a boolean inside a list or map while trusting the collection's
//! declared size; a footer whose unknown field declared a map of 1.6
//! billion boolean pairs in six bytes kept it looping past the fuzzer's
//! 10-second timeout (fuzz/regressions/objects/parquet-footer-bool-map).
//! And it reads a field it knows by its schema's type, whatever type the
//! wire says, so a walk by wire types alone can see other bytes than the
//! crate does and pass a lie the crate then loops on.
//!
//! So the walk here follows the schema the crate reads ([`FILE_METADATA`],
//! [`PAGE_HEADER`], from parquet.thrift as the crate implements it), and
//! accepts only bytes both read the same way:
//! - a known field must carry its schema's type on the wire;
//! - an unknown field is skipped by its wire types, as the crate does, and
//!   may hold no boolean list and no map with a boolean side (the two reads
//!   differ there, and no Parquet structure has either);
//! - every collection's declared size must fit the bytes left, and nesting
//!   is bounded.
//!
//! A walk over `n` bytes costs O(n), and what it accepts the crate reads
//! the same way, in O(n) too.

use crate::{PreviewError, bad};

/// A type of parquet.thrift, as the walk reads it.
#[derive(Clone, Copy)]
enum Ty {
    Bool,
    Byte,
    I16,
    /// Also every enum.
    I32,
    I64,
    Double,
    /// Also `string`.
    Binary,
    List(&'static Ty),
    /// A struct or a union, by its fields.
    Struct(&'static [(i16, Ty)]),
    /// An `i32` whose value the walk keeps (see [`Seen`]).
    Kept(Slot),
    /// A schema element: a struct whose `num_children` the walk keeps, one
    /// entry per element.
    SchemaElement,
}

/// Where a kept `i32` goes.
#[derive(Clone, Copy)]
enum Slot {
    Uncompressed,
    Compressed,
    Children,
}

/// What a walk keeps of the values it reads: the page sizes of a page
/// header, the `num_children` of a footer's schema elements.
#[derive(Default)]
struct Seen {
    uncompressed: Option<i32>,
    compressed: Option<i32>,
    /// One entry per schema element, in order (`None`: a leaf).
    children: Vec<Option<i32>>,
}

impl Ty {
    /// Whether a value of this type may carry wire type `kind` (booleans
    /// carry their value in it: 1 true, 2 false).
    fn on_wire(self, kind: u8) -> bool {
        match self {
            Ty::Bool => kind == 1 || kind == 2,
            Ty::Byte => kind == 3,
            Ty::I16 => kind == 4,
            Ty::I32 => kind == 5,
            Ty::I64 => kind == 6,
            Ty::Double => kind == 7,
            Ty::Binary => kind == 8,
            Ty::List(_) => kind == 9,
            Ty::Struct(_) | Ty::SchemaElement => kind == 12,
            Ty::Kept(_) => kind == 5,
        }
    }
}

const EMPTY: Ty = Ty::Struct(&[]);
const STATISTICS: Ty = Ty::Struct(&[
    (1, Ty::Binary),
    (2, Ty::Binary),
    (3, Ty::I64),
    (4, Ty::I64),
    (5, Ty::Binary),
    (6, Ty::Binary),
    (7, Ty::Bool),
    (8, Ty::Bool),
    (9, Ty::I64),
]);
const KEY_VALUE: Ty = Ty::Struct(&[(1, Ty::Binary), (2, Ty::Binary)]);
const TIME_UNIT: Ty = Ty::Struct(&[(1, EMPTY), (2, EMPTY), (3, EMPTY)]);
const LOGICAL_TYPE: Ty = Ty::Struct(&[
    (1, EMPTY),
    (2, EMPTY),
    (3, EMPTY),
    (4, EMPTY),
    (5, Ty::Struct(&[(1, Ty::I32), (2, Ty::I32)])),
    (6, EMPTY),
    (7, Ty::Struct(&[(1, Ty::Bool), (2, TIME_UNIT)])),
    (8, Ty::Struct(&[(1, Ty::Bool), (2, TIME_UNIT)])),
    (10, Ty::Struct(&[(1, Ty::Byte), (2, Ty::Bool)])),
    (11, EMPTY),
    (12, EMPTY),
    (13, EMPTY),
    (14, EMPTY),
    (15, EMPTY),
    (16, Ty::Struct(&[(1, Ty::Byte)])),
    (17, Ty::Struct(&[(1, Ty::Binary)])),
    (18, Ty::Struct(&[(1, Ty::Binary), (2, Ty::I32)])),
    (19, EMPTY),
]);
const SCHEMA_ELEMENT: &[(i16, Ty)] = &[
    (1, Ty::I32),
    (2, Ty::I32),
    (3, Ty::I32),
    (4, Ty::Binary),
    (5, Ty::Kept(Slot::Children)),
    (6, Ty::I32),
    (7, Ty::I32),
    (8, Ty::I32),
    (9, Ty::I32),
    (10, LOGICAL_TYPE),
];
const SIZE_STATISTICS: Ty = Ty::Struct(&[
    (1, Ty::I64),
    (2, Ty::List(&Ty::I64)),
    (3, Ty::List(&Ty::I64)),
]);
const GEOSPATIAL_STATISTICS: Ty = Ty::Struct(&[
    (
        1,
        Ty::Struct(&[
            (1, Ty::Double),
            (2, Ty::Double),
            (3, Ty::Double),
            (4, Ty::Double),
            (5, Ty::Double),
            (6, Ty::Double),
            (7, Ty::Double),
            (8, Ty::Double),
        ]),
    ),
    (2, Ty::List(&Ty::I32)),
]);
const COLUMN_META_DATA: Ty = Ty::Struct(&[
    (1, Ty::I32),
    (2, Ty::List(&Ty::I32)),
    (3, Ty::List(&Ty::Binary)),
    (4, Ty::I32),
    (5, Ty::I64),
    (6, Ty::I64),
    (7, Ty::I64),
    (8, Ty::List(&KEY_VALUE)),
    (9, Ty::I64),
    (10, Ty::I64),
    (11, Ty::I64),
    (12, STATISTICS),
    (
        13,
        Ty::List(&Ty::Struct(&[(1, Ty::I32), (2, Ty::I32), (3, Ty::I32)])),
    ),
    (14, Ty::I64),
    (15, Ty::I32),
    (16, SIZE_STATISTICS),
    (17, GEOSPATIAL_STATISTICS),
]);
const COLUMN_CRYPTO_META_DATA: Ty = Ty::Struct(&[
    (1, EMPTY),
    (
        2,
        Ty::Struct(&[(1, Ty::List(&Ty::Binary)), (2, Ty::Binary)]),
    ),
]);
const COLUMN_CHUNK: Ty = Ty::Struct(&[
    (1, Ty::Binary),
    (2, Ty::I64),
    (3, COLUMN_META_DATA),
    (4, Ty::I64),
    (5, Ty::I32),
    (6, Ty::I64),
    (7, Ty::I32),
    (8, COLUMN_CRYPTO_META_DATA),
    (9, Ty::Binary),
]);
const ROW_GROUP: Ty = Ty::Struct(&[
    (1, Ty::List(&COLUMN_CHUNK)),
    (2, Ty::I64),
    (3, Ty::I64),
    (
        4,
        Ty::List(&Ty::Struct(&[(1, Ty::I32), (2, Ty::Bool), (3, Ty::Bool)])),
    ),
    (5, Ty::I64),
    (6, Ty::I64),
    (7, Ty::I16),
]);
const AES_GCM: Ty = Ty::Struct(&[(1, Ty::Binary), (2, Ty::Binary), (3, Ty::Bool)]);

/// `FileMetaData`: a file's footer.
const FILE_METADATA: Ty = Ty::Struct(&[
    (1, Ty::I32),
    (2, Ty::List(&Ty::SchemaElement)),
    (3, Ty::I64),
    (4, Ty::List(&ROW_GROUP)),
    (5, Ty::List(&KEY_VALUE)),
    (6, Ty::Binary),
    (
        7,
        Ty::List(&Ty::Struct(&[(1, EMPTY), (2, EMPTY), (3, EMPTY)])),
    ),
    (8, Ty::Struct(&[(1, AES_GCM), (2, AES_GCM)])),
    (9, Ty::Binary),
]);

/// `PageHeader`: the header before each page of a column chunk.
const PAGE_HEADER: Ty = Ty::Struct(&[
    (1, Ty::I32),
    (2, Ty::Kept(Slot::Uncompressed)),
    (3, Ty::Kept(Slot::Compressed)),
    (4, Ty::I32),
    (
        5,
        Ty::Struct(&[
            (1, Ty::I32),
            (2, Ty::I32),
            (3, Ty::I32),
            (4, Ty::I32),
            (5, STATISTICS),
        ]),
    ),
    (6, EMPTY),
    (7, Ty::Struct(&[(1, Ty::I32), (2, Ty::I32), (3, Ty::Bool)])),
    (
        8,
        Ty::Struct(&[
            (1, Ty::I32),
            (2, Ty::I32),
            (3, Ty::I32),
            (4, Ty::I32),
            (5, Ty::I32),
            (6, Ty::I32),
            (7, Ty::Bool),
            (8, STATISTICS),
        ]),
    ),
]);

/// Deepest nesting a footer or page header may have: real footers nest
/// about 8 (file, row groups, a row group, its columns, a column, its
/// metadata, a list in it), page headers 3.
const MAX_DEPTH: usize = 24;

/// Checks a footer's metadata (the footer without its 8-byte trailer):
/// one whole `FileMetaData` the crate reads as it is walked here, whose
/// schema tree is bounded ([`check_schema_tree`]).
pub(crate) fn check_footer(metadata: &[u8]) -> Result<(), PreviewError> {
    let seen = walk_footer(metadata).map_err(|_| bad("the Parquet footer is malformed"))?;
    check_schema_tree(&seen.children)
}

/// Walks a footer's metadata as the crate will read it; answers what the
/// walk kept.
fn walk_footer(metadata: &[u8]) -> Result<Seen, PreviewError> {
    let mut r = Compact::new(metadata);
    r.typed(FILE_METADATA, 0)?;
    Ok(r.seen)
}

/// Most elements a file's schema may have: the crate copies the path of
/// every leaf while it builds the tree, so memory grows with depth times
/// leaves; real wide tables have a few thousand.
const MAX_SCHEMA_ELEMENTS: usize = 20_000;
/// Deepest schema tree: the crate builds and drops it recursively, one
/// stack frame per level, with no limit of its own (a chain of 9,000 nested
/// groups fits in the first 64 KiB read).
const MAX_SCHEMA_DEPTH: usize = 64;

/// Checks the schema tree a footer describes (`children`: its elements'
/// `num_children` in depth-first order) before the crate builds it: a
/// bounded size and depth, and no group claiming more children than
/// elements follow (the crate reserves that many).
fn check_schema_tree(children: &[Option<i32>]) -> Result<(), PreviewError> {
    if children.len() > MAX_SCHEMA_ELEMENTS {
        return Err(bad(format!(
            "the file's schema has {} elements; a preview reads at most {MAX_SCHEMA_ELEMENTS}",
            children.len()
        )));
    }
    let malformed = || bad("the Parquet footer's schema is malformed");
    let Some((root, rest)) = children.split_first() else {
        return Err(malformed());
    };
    // Children still to come, for each open group from the root down.
    let root = usize::try_from(root.unwrap_or(0)).map_err(|_| malformed())?;
    if root > rest.len() {
        return Err(malformed());
    }
    let mut open: Vec<usize> = vec![root];
    for (i, element) in rest.iter().enumerate() {
        while open.last() == Some(&0) {
            open.pop();
        }
        let Some(parent) = open.last_mut() else {
            return Err(malformed());
        };
        *parent -= 1;
        let count = usize::try_from(element.unwrap_or(0)).map_err(|_| malformed())?;
        if count > rest.len() - i - 1 {
            return Err(malformed());
        }
        if count > 0 {
            open.push(count);
            if open.len() > MAX_SCHEMA_DEPTH {
                return Err(bad(format!(
                    "the file's schema nests deeper than {MAX_SCHEMA_DEPTH} levels"
                )));
            }
        }
    }
    Ok(())
}

/// A page header, walked: its length and the sizes it declares.
pub(crate) struct PageHeader {
    pub(crate) len: usize,
    pub(crate) uncompressed: Option<i32>,
    pub(crate) compressed: Option<i32>,
}

/// Checks the page header at the start of `bytes`.
pub(crate) fn check_page_header(bytes: &[u8]) -> Result<PageHeader, PreviewError> {
    let mut r = Compact::new(bytes);
    r.typed(PAGE_HEADER, 0)?;
    Ok(PageHeader {
        len: r.at,
        uncompressed: r.seen.uncompressed,
        compressed: r.seen.compressed,
    })
}

/// A reader of the Thrift compact protocol over a slice.
struct Compact<'a> {
    bytes: &'a [u8],
    at: usize,
    seen: Seen,
}

impl<'a> Compact<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Compact {
            bytes,
            at: 0,
            seen: Seen::default(),
        }
    }

    fn cut() -> PreviewError {
        bad("a Parquet page header or footer is cut short or malformed")
    }

    fn byte(&mut self) -> Result<u8, PreviewError> {
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

    fn zigzag(&mut self) -> Result<i64, PreviewError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn zigzag_i32(&mut self) -> Result<i32, PreviewError> {
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

    /// A collection declares its size up front: every element the walk
    /// accepts takes at least one byte, so a size past the bytes left is a
    /// lie, refused before it is counted down.
    fn elements_fit(&self, size: u64) -> Result<(), PreviewError> {
        let left = (self.bytes.len() - self.at) as u64;
        if size > left {
            return Err(Self::cut());
        }
        Ok(())
    }

    /// Reads a list or set header: the element type and the size.
    fn list_header(&mut self) -> Result<(u8, u64), PreviewError> {
        let head = self.byte()?;
        let mut size = u64::from(head >> 4);
        if size == 15 {
            size = self.varint()?;
        }
        // The crate reads the size as an i32.
        if size > i32::MAX as u64 {
            return Err(Self::cut());
        }
        Ok((head & 0x0f, size))
    }

    /// The field header of a struct: `None` at its end (a type of 0, as
    /// the crate reads it), else the field's id and wire type.
    fn field(&mut self, last_id: i16) -> Result<Option<(i16, u8)>, PreviewError> {
        let head = self.byte()?;
        let kind = head & 0x0f;
        if kind == 0 {
            return Ok(None);
        }
        let delta = i16::from(head >> 4);
        let id = if delta == 0 {
            i16::try_from(self.zigzag()?).map_err(|_| Self::cut())?
        } else {
            last_id.checked_add(delta).ok_or_else(Self::cut)?
        };
        Ok(Some((id, kind)))
    }

    /// Reads a value of schema type `ty` (its wire type already checked).
    fn typed(&mut self, ty: Ty, depth: usize) -> Result<(), PreviewError> {
        if depth > MAX_DEPTH {
            return Err(Self::cut());
        }
        match ty {
            Ty::Bool => Ok(()),
            Ty::Byte => self.advance(1),
            Ty::I16 | Ty::I32 | Ty::I64 => self.varint().map(drop),
            Ty::Double => self.advance(8),
            Ty::Binary => {
                let len = usize::try_from(self.varint()?).map_err(|_| Self::cut())?;
                self.advance(len)
            }
            Ty::List(element) => {
                // The crate reads a lone 0 as an empty list of any type.
                if self.bytes.get(self.at) == Some(&0) {
                    self.at += 1;
                    return Ok(());
                }
                let (kind, size) = self.list_header()?;
                if matches!(element, Ty::Bool) || !element.on_wire(kind) {
                    return Err(Self::cut());
                }
                self.elements_fit(size)?;
                for _ in 0..size {
                    self.typed(*element, depth + 1)?;
                }
                Ok(())
            }
            Ty::Kept(slot) => {
                let value = Some(self.zigzag_i32()?);
                match slot {
                    Slot::Uncompressed => self.seen.uncompressed = value,
                    Slot::Compressed => self.seen.compressed = value,
                    Slot::Children => {
                        if let Some(last) = self.seen.children.last_mut() {
                            *last = value;
                        }
                    }
                }
                Ok(())
            }
            Ty::SchemaElement => {
                self.seen.children.push(None);
                self.typed(Ty::Struct(SCHEMA_ELEMENT), depth)
            }
            Ty::Struct(fields) => {
                let mut last_id = 0i16;
                while let Some((id, kind)) = self.field(last_id)? {
                    last_id = id;
                    match fields.iter().find(|(known, _)| *known == id) {
                        Some((_, ty)) if ty.on_wire(kind) => self.typed(*ty, depth + 1)?,
                        // The crate would read the bytes as the schema's
                        // type, not as the wire's.
                        Some(_) => return Err(Self::cut()),
                        None => self.skip(kind, depth + 1)?,
                    }
                }
                Ok(())
            }
        }
    }

    /// Skips one value of wire type `kind`, as the crate skips a field it
    /// does not know; refuses what the crate would read otherwise than
    /// the compact protocol says (booleans inside a collection).
    fn skip(&mut self, kind: u8, depth: usize) -> Result<(), PreviewError> {
        if depth > MAX_DEPTH {
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
                let (element, size) = self.list_header()?;
                if size == 0 {
                    return Ok(());
                }
                if element == 1 || element == 2 {
                    return Err(Self::cut());
                }
                self.elements_fit(size)?;
                for _ in 0..size {
                    self.skip(element, depth + 1)?;
                }
                Ok(())
            }
            11 => {
                let size = self.varint()?;
                if size == 0 {
                    return Ok(());
                }
                let types = self.byte()?;
                let (key, value) = (types >> 4, types & 0x0f);
                if matches!(key, 1 | 2) || matches!(value, 1 | 2) || size > i32::MAX as u64 {
                    return Err(Self::cut());
                }
                self.elements_fit(size)?;
                for _ in 0..size {
                    self.skip(key, depth + 1)?;
                    self.skip(value, depth + 1)?;
                }
                Ok(())
            }
            12 => {
                let mut last_id = 0i16;
                while let Some((id, kind)) = self.field(last_id)? {
                    last_id = id;
                    self.skip(kind, depth + 1)?;
                }
                Ok(())
            }
            _ => Err(Self::cut()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema-tree check of a footer the walk accepts.
    fn tree(metadata: &[u8]) -> Result<(), PreviewError> {
        check_schema_tree(&walk_footer(metadata)?.children)
    }

    fn fast(check: impl FnOnce()) {
        let started = std::time::Instant::now();
        check();
        assert!(started.elapsed() < std::time::Duration::from_millis(50));
    }

    #[test]
    fn a_collection_that_claims_more_elements_than_bytes_is_refused_at_once() {
        fast(|| {
            // Field 14 (unknown), a map of ~1.6e9 bool -> bool pairs, as the
            // fuzzer's footer had.
            let lie = [0xeb, 0xea, 0xef, 0xea, 0xfb, 0x85, 0x00, 0x12, 1, 1, 0];
            assert!(check_footer(&lie).is_err());
            // A list of 2^20 i32 in four bytes.
            let list = [0xe9, 0xf5, 0x80, 0x80, 0x40, 0];
            assert!(check_footer(&list).is_err());
        });
        // An honest map of two i32 -> i32 pairs in an unknown field passes.
        let honest = [0xeb, 0x02, 0x55, 2, 4, 6, 8, 0];
        assert!(walk_footer(&honest).is_ok());
    }

    /// Bytes the crate would read otherwise than a walk by wire types: a
    /// boolean list in an unknown field (the crate reads no byte per
    /// element, then takes the next bytes as a field), and a known field
    /// whose wire type is not its schema's (the crate reads the schema's).
    /// Both led a wire-type walk past a lie the crate then looped on.
    #[test]
    fn bytes_the_crate_reads_differently_are_refused() {
        let lie = [0xeb, 0xea, 0xef, 0xea, 0xfb, 0x85, 0x00, 0x12];
        // Field 14: a list of 8 booleans, then the lie as the crate sees it.
        let mut bools = vec![0xe9, 0x81];
        bools.extend(lie);
        bools.push(0);
        assert!(check_footer(&bools).is_err());
        // Field 1 (version, an i32) sent as a boolean: the crate reads the
        // next byte as the version and the lie as the next field.
        let mut retyped = vec![0x11, 0x00];
        retyped.extend(lie);
        assert!(check_footer(&retyped).is_err());
        // A map with a boolean side, an empty struct that is not.
        assert!(check_footer(&[0xeb, 0x01, 0x15, 1, 2, 0]).is_err());
        assert!(check_page_header(&[0x6c, 0x15, 0x02, 0x00, 0x00]).is_ok());
    }

    /// A footer holding only a schema: `children` per element (`None`: a
    /// leaf), in depth-first order.
    fn schema_footer(children: &[Option<i32>]) -> Vec<u8> {
        fn varint(mut v: u64, out: &mut Vec<u8>) {
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        let mut out = vec![0x29, 0xfc];
        varint(children.len() as u64, &mut out);
        for c in children {
            match c {
                // name "", num_children
                Some(n) => {
                    out.extend([0x48, 0x00, 0x15]);
                    varint(
                        ((i64::from(*n) << 1) ^ (i64::from(*n) >> 63)) as u64,
                        &mut out,
                    );
                }
                // type INT32, name ""
                None => out.extend([0x15, 0x02, 0x38, 0x00]),
            }
            out.push(0);
        }
        out.push(0);
        out
    }

    #[test]
    fn schema_trees_are_bounded_before_the_crate_builds_them() {
        let flat = schema_footer(&[Some(2), None, None]);
        assert!(walk_footer(&flat).is_ok());
        assert!(tree(&flat).is_ok());
        let nested: Vec<Option<i32>> = (0..30).map(|_| Some(1)).chain([None]).collect();
        assert!(tree(&schema_footer(&nested)).is_ok());
        // A chain of groups deeper than the crate's recursion can take.
        let deep: Vec<Option<i32>> = (0..100).map(|_| Some(1)).chain([None]).collect();
        let deep = schema_footer(&deep);
        assert!(walk_footer(&deep).is_ok());
        assert!(tree(&deep).is_err());
        // A root claiming i32::MAX children (the crate reserves them all).
        let claim = [
            0x29, 0xfc, 0x01, 0x48, 0x00, 0x15, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0, 0,
        ];
        assert!(walk_footer(&claim).is_ok());
        assert!(tree(&claim).is_err());
        // More elements than the tree holds, a negative count, no schema.
        assert!(tree(&schema_footer(&[Some(1), None, None])).is_err());
        assert!(tree(&schema_footer(&[Some(-1)])).is_err());
        assert!(tree(&[0x15, 0x02, 0x00]).is_err());
        let wide: Vec<Option<i32>> = [Some(25_000)]
            .into_iter()
            .chain((0..25_000).map(|_| None))
            .collect();
        assert!(tree(&schema_footer(&wide)).is_err());
    }

    #[test]
    fn nesting_is_bounded_and_cut_input_is_an_error() {
        // An unknown field 15 holding a struct in a struct … 40 deep.
        let mut deep = vec![0xfc; 1];
        deep.extend(vec![0x1c; 40]);
        deep.extend([0u8; 42]);
        assert!(check_footer(&deep).is_err());
        assert!(check_footer(&[0x15]).is_err(), "a field with no value");
        assert!(
            check_footer(&[0x68, 0x05, b'a']).is_err(),
            "a string cut short"
        );
        assert!(check_footer(&[]).is_err());
        assert!(walk_footer(&[0x15, 0x02, 0x00]).is_ok(), "version 1");
        assert!(check_footer(&[0x15, 0x02, 0x00]).is_err(), "but no schema");
    }
}

//! Table previews of CSV, TSV and JSON Lines objects from the head of the
//! object only.
//!
//! The caller fetched at most a fixed number of bytes from offset 0 (one
//! ranged `GET`); a gzip head is decompressed as a stream and the output is
//! capped too, so neither a huge object nor a decompression bomb can make
//! the preview read or allocate more than its caps. When the head ends
//! mid-record, the partial last record is dropped.

use crate::{MAX_COLUMNS, Preview, PreviewColumn, PreviewError, bad, cell};
use serde_json::Value;
use std::io::Read;

/// Most decompressed bytes a gzip head may expand to.
pub const MAX_INFLATED: usize = 16 * 1024 * 1024;

/// The text formats read from an object's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    Csv,
    Tsv,
    Jsonl,
}

/// Whether `head` starts like a gzip stream.
pub fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
}

/// Decompresses as much of a gzip head as it holds, up to [`MAX_INFLATED`].
/// Returns the bytes and whether the whole stream was decompressed.
pub fn inflate_head(head: &[u8], complete: bool) -> Result<(Vec<u8>, bool), PreviewError> {
    let mut decoder = flate2::read::MultiGzDecoder::new(head).take(MAX_INFLATED as u64 + 1);
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            // The head ends mid-stream: keep what was decoded.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !complete => {
                return Ok((out, false));
            }
            Err(_) if !out.is_empty() && !complete => return Ok((out, false)),
            Err(_) => return Err(bad("the object is not valid gzip")),
        }
    }
    if out.len() > MAX_INFLATED {
        out.truncate(MAX_INFLATED);
        return Ok((out, false));
    }
    Ok((out, complete))
}

/// Previews `data` (already decompressed). `complete`: `data` is the whole object.
pub fn preview_text(
    format: TextFormat,
    data: &[u8],
    complete: bool,
    rows: usize,
) -> Result<Preview, PreviewError> {
    // Cut at the last line end when more follows: the last record is partial.
    let data = if complete {
        data
    } else {
        match data.iter().rposition(|&b| b == b'\n') {
            Some(end) => &data[..=end],
            None => {
                return Err(bad(
                    "the first record is longer than the preview reads; use read_object with a range",
                ));
            }
        }
    };
    match format {
        TextFormat::Csv => delimited(data, b',', complete, rows),
        TextFormat::Tsv => delimited(data, b'\t', complete, rows),
        TextFormat::Jsonl => json_lines(data, complete, rows),
    }
}

fn delimited(
    data: &[u8],
    delimiter: u8,
    complete: bool,
    rows: usize,
) -> Result<Preview, PreviewError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(data);
    let headers = reader
        .headers()
        .map_err(|_| bad("the object's first line is not a CSV header"))?
        .clone();
    if headers.len() > MAX_COLUMNS {
        return Err(bad(format!(
            "the object has more than {MAX_COLUMNS} columns"
        )));
    }
    let width = headers.len();
    let mut out = Vec::new();
    let mut truncated = !complete;
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            bad(format!("the object is not valid CSV at line {line}"))
        })?;
        if out.len() == rows {
            truncated = true;
            break;
        }
        let mut row: Vec<Value> = record.iter().take(width).map(cell).collect();
        row.resize(width, Value::Null);
        out.push(row);
    }
    let columns = headers
        .iter()
        .enumerate()
        .map(|(i, name)| PreviewColumn {
            name: name.to_owned(),
            type_name: infer_text(out.iter().filter_map(|r| r[i].as_str())).to_owned(),
        })
        .collect();
    Ok(Preview {
        columns,
        rows: out,
        truncated,
    })
}

fn infer_text<'a>(values: impl Iterator<Item = &'a str>) -> &'static str {
    let mut kind = "null";
    for v in values.filter(|v| !v.is_empty()) {
        let this = if v.parse::<i64>().is_ok() {
            "integer"
        } else if v.parse::<f64>().is_ok() {
            "number"
        } else if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
            "boolean"
        } else {
            return "text";
        };
        kind = match (kind, this) {
            ("null", t) => t,
            (a, b) if a == b => a,
            ("integer", "number") | ("number", "integer") => "number",
            _ => return "text",
        };
    }
    kind
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "text",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn json_lines(data: &[u8], complete: bool, rows: usize) -> Result<Preview, PreviewError> {
    let mut names: Vec<String> = Vec::new();
    let mut types: Vec<&'static str> = Vec::new();
    let mut objects: Vec<serde_json::Map<String, Value>> = Vec::new();
    let mut truncated = !complete;
    for (number, line) in data.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if objects.len() == rows {
            truncated = true;
            break;
        }
        let value: Value = serde_json::from_slice(line)
            .map_err(|_| bad(format!("line {} is not JSON", number + 1)))?;
        let object = match value {
            Value::Object(map) => map,
            other => serde_json::Map::from_iter([("value".to_owned(), other)]),
        };
        for (name, v) in &object {
            let t = json_type(v);
            match names.iter().position(|n| n == name) {
                Some(i) => {
                    types[i] = match (types[i], t) {
                        (a, "null") => a,
                        ("null", b) => b,
                        (a, b) if a == b => a,
                        ("integer", "number") | ("number", "integer") => "number",
                        _ => "mixed",
                    }
                }
                None if names.len() < MAX_COLUMNS => {
                    names.push(name.clone());
                    types.push(t);
                }
                None => {}
            }
        }
        objects.push(object);
    }
    let rows = objects
        .into_iter()
        .map(|mut o| {
            names
                .iter()
                .map(|n| match o.remove(n) {
                    Some(Value::String(s)) => cell(&s),
                    Some(v) => v,
                    None => Value::Null,
                })
                .collect()
        })
        .collect();
    Ok(Preview {
        columns: names
            .into_iter()
            .zip(types)
            .map(|(name, type_name)| PreviewColumn {
                name,
                type_name: type_name.to_owned(),
            })
            .collect(),
        rows,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn csv_head_drops_the_partial_record() {
        let p = preview_text(
            TextFormat::Csv,
            b"id,name,score\n1,ann,2.5\n2,\"b,ob\",3\n3,ca",
            false,
            10,
        )
        .unwrap();
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[1][1], "b,ob");
        assert!(p.truncated);
        assert_eq!(p.columns[0].type_name, "integer");
        assert_eq!(p.columns[2].type_name, "number");
        let whole = preview_text(TextFormat::Csv, b"a\n1\n2\n3\n", true, 2).unwrap();
        assert_eq!(whole.rows.len(), 2);
        assert!(whole.truncated);
        let all = preview_text(TextFormat::Csv, b"a\n1\n2\n", true, 5).unwrap();
        assert!(!all.truncated);
    }

    #[test]
    fn jsonl_columns_are_the_union() {
        let p = preview_text(
            TextFormat::Jsonl,
            b"{\"a\":1}\n{\"b\":\"x\",\"a\":2.5}\n[1]\n",
            true,
            10,
        )
        .unwrap();
        let names: Vec<_> = p.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "value"]);
        assert_eq!(p.columns[0].type_name, "number");
        assert_eq!(p.rows[0], vec![Value::from(1), Value::Null, Value::Null]);
        assert!(preview_text(TextFormat::Jsonl, b"{bad\n", true, 10).is_err());
    }

    #[test]
    fn gzip_heads_and_bombs_stay_bounded() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"a,b\n1,2\n3,4\n").unwrap();
        let gz = enc.finish().unwrap();
        assert!(is_gzip(&gz));
        let (plain, complete) = inflate_head(&gz, true).unwrap();
        assert_eq!(plain, b"a,b\n1,2\n3,4\n");
        assert!(complete);
        let (part, complete) = inflate_head(&gz[..gz.len() - 8], false).unwrap();
        assert!(!complete);
        assert!(b"a,b\n1,2\n3,4\n".starts_with(&part));
        // 1 GiB of zeros compresses to about 1 MiB: the output stops at the cap.
        let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            bomb.write_all(&zeros).unwrap();
        }
        let bomb = bomb.finish().unwrap();
        let (out, complete) = inflate_head(&bomb, true).unwrap();
        assert_eq!(out.len(), MAX_INFLATED);
        assert!(!complete);
        assert!(inflate_head(b"\x1f\x8bnot gzip at all", true).is_err());
    }
}

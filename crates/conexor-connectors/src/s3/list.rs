//! The XML bodies of `ListObjectsV2` and `ListBuckets`, parsed with a DOM
//! that has no entity expansion (roxmltree refuses DTD entities), after the
//! body was read up to a cap.

use crate::Error;

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ObjectEntry {
    pub key: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

/// One page of `ListObjectsV2`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    pub objects: Vec<ObjectEntry>,
    pub common_prefixes: Vec<String>,
    pub next_cursor: Option<String>,
}

fn malformed() -> Error {
    Error::Source {
        code: "s3:MalformedXML".into(),
        message: "the object store's answer is not a listing it should send".into(),
        timeout: false,
    }
}

fn parse(body: &[u8]) -> Result<roxmltree::Document<'_>, Error> {
    let text = std::str::from_utf8(body).map_err(|_| malformed())?;
    roxmltree::Document::parse_with_options(
        text,
        roxmltree::ParsingOptions {
            allow_dtd: false,
            nodes_limit: 1_000_000,
        },
    )
    .map_err(|_| malformed())
}

fn child_text<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.children().find(|c| c.has_tag_name(name))?.text()
}

pub(crate) fn parse_listing(body: &[u8]) -> Result<Listing, Error> {
    let doc = parse(body)?;
    let root = doc.root_element();
    if !root.has_tag_name("ListBucketResult") {
        return Err(malformed());
    }
    let mut listing = Listing::default();
    for node in root.children().filter(|n| n.is_element()) {
        match node.tag_name().name() {
            "Contents" => listing.objects.push(ObjectEntry {
                key: child_text(node, "Key").ok_or_else(malformed)?.to_owned(),
                size: child_text(node, "Size")
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0),
                last_modified: child_text(node, "LastModified").map(str::to_owned),
                etag: child_text(node, "ETag").map(|e| e.trim_matches('"').to_owned()),
                storage_class: child_text(node, "StorageClass").map(str::to_owned),
            }),
            "CommonPrefixes" => {
                if let Some(p) = child_text(node, "Prefix") {
                    listing.common_prefixes.push(p.to_owned());
                }
            }
            "NextContinuationToken" => {
                listing.next_cursor = node.text().map(str::to_owned).filter(|t| !t.is_empty());
            }
            _ => {}
        }
    }
    if child_text(root, "IsTruncated").map(str::trim) != Some("true") {
        listing.next_cursor = None;
    }
    Ok(listing)
}

pub(crate) fn parse_buckets(body: &[u8]) -> Result<Vec<String>, Error> {
    let doc = parse(body)?;
    let root = doc.root_element();
    if !root.has_tag_name("ListAllMyBucketsResult") {
        return Err(malformed());
    }
    Ok(root
        .descendants()
        .filter(|n| n.has_tag_name("Bucket"))
        .filter_map(|b| child_text(b, "Name").map(str::to_owned))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_parse() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>cx-data</Name><Prefix></Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated><NextContinuationToken>tok1</NextContinuationToken>
  <Contents><Key>a &amp; b.csv</Key><LastModified>2026-12-02T10:00:00.000Z</LastModified>
    <ETag>"abc"</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents>
  <CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes>
</ListBucketResult>"#;
        let l = parse_listing(body).unwrap();
        assert_eq!(l.objects[0].key, "a & b.csv");
        assert_eq!(l.objects[0].size, 42);
        assert_eq!(l.objects[0].etag.as_deref(), Some("abc"));
        assert_eq!(l.common_prefixes, vec!["dir/"]);
        assert_eq!(l.next_cursor.as_deref(), Some("tok1"));
    }

    #[test]
    fn hostile_bodies_are_errors() {
        for body in [
            &b"not xml"[..],
            b"<Other/>",
            b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]><ListBucketResult>&a;</ListBucketResult>",
            b"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
            b"\xff\xfe",
        ] {
            assert!(parse_listing(body).is_err());
        }
        let buckets = br#"<ListAllMyBucketsResult><Buckets><Bucket><Name>b1</Name></Bucket><Bucket><Name>b2</Name></Bucket></Buckets></ListAllMyBucketsResult>"#;
        assert_eq!(parse_buckets(buckets).unwrap(), vec!["b1", "b2"]);
    }
}

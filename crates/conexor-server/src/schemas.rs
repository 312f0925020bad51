//! Discovered schemas, parsed once per stored text.
//!
//! A connection's schema is stored as JSON (5.8 MB for 10,000 tables) and
//! every schema call (`list_connections`, `search_schema`, `describe_table`,
//! resources, the name hint of a failed query) needed it parsed: the parse
//! dominated those calls on large schemas (bench/RESULTS.md, growth figures).
//! Parsed schemas are kept per connection with a tag of the text they came
//! from (its length and a keyed hash, the key random per process); a call
//! whose stored text differs (a refresh, an edit) parses again. Bounded by
//! entries and by the text behind them: a full cache is emptied.

use conexor_connectors::Schema;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

const CAPACITY: usize = 1024;

/// Most bytes of schema text whose parsed form is kept (a parsed schema takes
/// a few times its text); past it the cache is emptied.
const TEXT_BYTES: usize = 64 << 20;

/// (workspace, connection name, offered by an agent)
type Key = (String, String, bool);

#[derive(Default)]
pub struct SchemaCache {
    parsed: Mutex<Parsed>,
    hasher: std::collections::hash_map::RandomState,
}

#[derive(Default)]
struct Parsed {
    by_connection: HashMap<Key, (usize, u64, Arc<Schema>)>,
    /// The text length of every schema kept.
    text_bytes: usize,
}

impl SchemaCache {
    /// The schema stored as `json` for this connection, parsed (or `None` when
    /// the text is not a schema).
    pub fn get(&self, workspace: &str, name: &str, agent: bool, json: &str) -> Option<Arc<Schema>> {
        let tag = (json.len(), self.hasher.hash_one(json));
        let key = (workspace.to_owned(), name.to_owned(), agent);
        let lock = || self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((len, hash, schema)) = lock().by_connection.get(&key)
            && (*len, *hash) == tag
        {
            return Some(schema.clone());
        }
        let schema = Arc::new(serde_json::from_str::<Schema>(json).ok()?);
        let mut parsed = lock();
        if parsed.by_connection.len() >= CAPACITY || parsed.text_bytes + json.len() > TEXT_BYTES {
            parsed.by_connection.clear();
            parsed.text_bytes = 0;
        }
        if let Some((old, _, _)) = parsed
            .by_connection
            .insert(key, (tag.0, tag.1, schema.clone()))
        {
            parsed.text_bytes -= old.min(parsed.text_bytes);
        }
        parsed.text_bytes += json.len();
        Some(schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(tables: &[&str]) -> String {
        let tables: Vec<serde_json::Value> = tables
            .iter()
            .map(|t| serde_json::json!({"schema": "public", "name": t, "kind": "table", "columns": []}))
            .collect();
        serde_json::json!({ "tables": tables }).to_string()
    }

    #[test]
    fn a_changed_text_is_parsed_again_and_connections_are_kept_apart() {
        let cache = SchemaCache::default();
        let first = text(&["orders"]);
        let a = cache.get("ws", "shop", false, &first).expect("a schema");
        let b = cache.get("ws", "shop", false, &first).expect("a schema");
        assert!(Arc::ptr_eq(&a, &b), "the same text is parsed once");
        // A refresh stores another text of the same length: parsed again.
        let second = text(&["orderz"]);
        assert_eq!(first.len(), second.len());
        let c = cache.get("ws", "shop", false, &second).expect("a schema");
        assert_eq!(c.tables[0].name, "orderz");
        // The same name in another workspace, or offered by an agent, is its own entry.
        let other = cache.get("ws2", "shop", false, &first).expect("a schema");
        assert!(!Arc::ptr_eq(&other, &c));
        assert_eq!(
            cache
                .get("ws", "shop", true, &first)
                .map(|s| s.tables[0].name.clone())
                .as_deref(),
            Some("orders")
        );
        assert!(cache.get("ws", "broken", false, "{not json").is_none());
    }
}

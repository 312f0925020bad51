//! Discovered schema: names, types, keys, comments and row estimates. Never rows.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ts_rs::TS)]
pub struct Schema {
    pub tables: Vec<Table>,
    /// Object storage: buckets and their top-level prefixes (never contents).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<crate::s3::BucketInfo>,
    /// REST: the description's title and its enabled read operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<crate::rest::ApiSchema>,
    /// Kafka: topics and their partition counts (never messages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<crate::kafka::TopicInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ts_rs::TS)]
pub struct Table {
    /// Schema (PostgreSQL), database (MySQL) or `main` (SQLite).
    pub schema: String,
    pub name: String,
    /// `table` or `view`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The source's own estimate; null when it keeps none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_estimate: Option<i64>,
    pub columns: Vec<Column>,
    #[serde(default)]
    pub primary_key: Vec<String>,
    #[serde(default)]
    pub foreign_keys: Vec<ForeignKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ts_rs::TS)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub nullable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ts_rs::TS)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub references_schema: String,
    pub references_table: String,
    pub references_columns: Vec<String>,
}

impl Schema {
    /// Tables, buckets or operations discovered.
    pub fn items(&self) -> usize {
        self.tables.len()
            + self.buckets.len()
            + self.topics.len()
            + self.api.as_ref().map_or(0, |a| a.operations.len())
    }

    /// Groups flat discovery rows into tables, in the order tables were listed.
    pub(crate) fn assemble(
        tables: Vec<Table>,
        columns: Vec<(String, String, Column)>,
        primary_keys: Vec<(String, String, Vec<String>)>,
        foreign_keys: Vec<(String, String, ForeignKey)>,
    ) -> Schema {
        use std::collections::HashMap;
        let mut tables = tables;
        let index: HashMap<(String, String), usize> = tables
            .iter()
            .enumerate()
            .map(|(i, t)| ((t.schema.clone(), t.name.clone()), i))
            .collect();
        for (schema, table, column) in columns {
            if let Some(&i) = index.get(&(schema, table)) {
                tables[i].columns.push(column);
            }
        }
        for (schema, table, pk) in primary_keys {
            if let Some(&i) = index.get(&(schema, table)) {
                tables[i].primary_key = pk;
            }
        }
        for (schema, table, fk) in foreign_keys {
            if let Some(&i) = index.get(&(schema, table)) {
                tables[i].foreign_keys.push(fk);
            }
        }
        Schema {
            tables,
            ..Schema::default()
        }
    }
}

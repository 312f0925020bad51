//! "Did you mean …?" for a read that named a table or column the source
//! does not have.
//!
//! The decision comes from the source's error code (PostgreSQL's SQLSTATE
//! 42P01/42703, MySQL's and MariaDB's 42S02/42S22, SQLite's generic result
//! code 1), and the names from the query
//! the guard parsed, checked against the discovered schema — never from the
//! wording of the source's message, which changes with the server's
//! version and language (`lc_messages`) and may quote values.
//!
//! The query does not say which of its names the source failed on, so a
//! column hint names the first name of three characters or more that is
//! neither a table nor a column of the schema; a column alias or a CTE name
//! can be taken for it (the hint then suggests a near column, which the
//! AI can check with describe_table). Only the codes above get a hint.

use conexor_connectors::{Schema, Table};
use conexor_guard::CheckedQuery;
use conexor_types::ErrorCode;

/// What a source's error code says is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing {
    Table,
    Column,
    /// SQLite's code 1 is every "SQL error": try tables, then columns.
    Either,
}

fn missing(code: &ErrorCode) -> Option<Missing> {
    let ErrorCode::Source(text) = code else {
        return None;
    };
    Some(match text.as_str() {
        "sqlstate:42P01" | "sqlstate:42S02" | "mysql:1146" | "mssql:208" => Missing::Table,
        "sqlstate:42703" | "sqlstate:42S22" | "mysql:1054" | "mssql:207" => Missing::Column,
        "source:1" | "sqlite:1" => Missing::Either,
        _ => return None,
    })
}

/// The hint for a failed read, when its code says a name was unknown and
/// the query uses a name close to one the schema has.
pub(crate) fn name_hint(code: &ErrorCode, query: &CheckedQuery, schema: &Schema) -> Option<String> {
    let missing = missing(code)?;
    if matches!(missing, Missing::Table | Missing::Either)
        && let Some(hint) = table_hint(query, schema)
    {
        return Some(hint);
    }
    if matches!(missing, Missing::Column | Missing::Either) {
        return column_hint(query, schema);
    }
    None
}

/// `schema.name`, or the bare name in the default schema.
pub(crate) fn qualified(t: &Table) -> String {
    if t.schema.is_empty() || t.schema == "main" || t.schema == "public" {
        t.name.clone()
    } else {
        format!("{}.{}", t.schema, t.name)
    }
}

fn is_table(t: &Table, relation: &str) -> bool {
    relation == t.name.to_lowercase() || relation == qualified(t).to_lowercase()
}

/// The first relation the query reads that the schema does not have, and
/// the schema's tables nearest to it.
fn table_hint(query: &CheckedQuery, schema: &Schema) -> Option<String> {
    let unknown = query
        .relations()
        .iter()
        .find(|r| !schema.tables.iter().any(|t| is_table(t, r)))?;
    let names: Vec<String> = schema.tables.iter().map(qualified).collect();
    let last = unknown.rsplit('.').next().unwrap_or(unknown);
    let near = conexor_tools::nearest(last, &names);
    (!near.is_empty()).then(|| format!("no table {unknown:?}; did you mean {}?", near.join(", ")))
}

/// A name the query uses (of three characters or more) that is no table and
/// no column of the schema, and
/// the nearest columns of the tables it reads (of every table when it reads
/// none the schema knows).
fn column_hint(query: &CheckedQuery, schema: &Schema) -> Option<String> {
    let read: Vec<&Table> = schema
        .tables
        .iter()
        .filter(|t| query.relations().iter().any(|r| is_table(t, r)))
        .collect();
    let tables: Vec<&Table> = if read.is_empty() {
        schema.tables.iter().collect()
    } else {
        read
    };
    let columns: Vec<String> = tables
        .iter()
        .flat_map(|t| t.columns.iter().map(|c| c.name.clone()))
        .collect();
    let known =
        |word: &str| {
            schema.tables.iter().any(|t| {
                is_table(t, word) || t.columns.iter().any(|c| c.name.to_lowercase() == word)
            }) || query.relations().iter().any(|r| r == word)
        };
    // Names under three characters are taken for aliases (`o`, `t1`): any
    // column is "near" them.
    query
        .identifiers()
        .iter()
        .filter(|w| w.chars().count() >= 3 && !known(w))
        .find_map(|word| {
            let near = conexor_tools::nearest(word, &columns);
            (!near.is_empty())
                .then(|| format!("no column {word:?}; did you mean {}?", near.join(", ")))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use conexor_guard::Dialect;

    fn schema() -> Schema {
        serde_json::from_value(serde_json::json!({"tables": [
            {"schema": "public", "name": "customers", "kind": "table", "columns": [
                {"name": "id", "type": "integer", "nullable": false},
                {"name": "email", "type": "text", "nullable": false}]},
            {"schema": "public", "name": "orders", "kind": "table", "columns": [
                {"name": "id", "type": "integer", "nullable": false},
                {"name": "customer_id", "type": "integer", "nullable": false},
                {"name": "total", "type": "numeric", "nullable": false}]}
        ]}))
        .expect("a schema")
    }

    fn checked(sql: &str) -> CheckedQuery {
        conexor_guard::check(Dialect::Postgresql, sql).expect("admitted")
    }

    #[test]
    fn the_code_decides_and_the_query_names() {
        let s = schema();
        let q = checked("SELECT emial FROM customers");
        for code in ["sqlstate:42703", "sqlstate:42S22", "source:1"] {
            assert_eq!(
                name_hint(&ErrorCode::parse(code), &q, &s).as_deref(),
                Some("no column \"emial\"; did you mean email?"),
                "{code}"
            );
        }
        let q = checked("SELECT id FROM custmers");
        for code in ["sqlstate:42P01", "sqlstate:42S02", "source:1"] {
            assert_eq!(
                name_hint(&ErrorCode::parse(code), &q, &s).as_deref(),
                Some("no table \"custmers\"; did you mean customers?"),
                "{code}"
            );
        }
    }

    #[test]
    fn other_codes_get_no_hint() {
        let s = schema();
        let q = checked("SELECT emial FROM customers");
        for code in [
            "sqlstate:22012",
            "sqlstate:57014",
            "connect.refused",
            "timeout",
        ] {
            assert_eq!(name_hint(&ErrorCode::parse(code), &q, &s), None, "{code}");
        }
    }

    #[test]
    fn columns_come_from_the_tables_read_and_known_names_are_skipped() {
        let s = schema();
        // `customer_id` exists (in orders); `totl` is the unknown one.
        let q = checked("SELECT o.customer_id, o.totl FROM orders o");
        assert_eq!(
            name_hint(&ErrorCode::parse("sqlstate:42703"), &q, &s).as_deref(),
            Some("no column \"totl\"; did you mean total?")
        );
        // Nothing close: no hint rather than a wrong one.
        let q = checked("SELECT zzzzqqq FROM orders");
        assert_eq!(name_hint(&ErrorCode::parse("sqlstate:42703"), &q, &s), None);
    }
}

//! Functions by identity: which function a call reaches, resolved the way the database
//! resolves it, and whether that function may run.
//!
//! Deny by default. A call is accepted only when it resolves to a built-in on the
//! dialect's allow-list (`data/<dialect>.txt`, each file says where it comes from) or to
//! a user-defined function the connection's admin allow-listed by name
//! ([`crate::FunctionPolicy`]). Everything else — a denied built-in, an unknown name,
//! another schema, a three-part name — is refused, whatever its spelling: the name is
//! normalised first (quotes removed, case folded the way the dialect folds it, schema
//! qualification read), so `"pg_sleep"`, `PG_SLEEP`, `pg_catalog.pg_sleep` and
//! `` `SLEEP` `` are one and the same function.
//!
//! Per dialect:
//! - PostgreSQL folds unquoted names to lower case and keeps quoted ones exactly, so
//!   `"LOWER"(x)` is not `lower(x)`: it names another (user-defined) function. A bare
//!   name or `pg_catalog.name` is a built-in candidate; any other schema is user code.
//!   `coalesce`, `greatest` and the other keyword constructs are built-in only when
//!   written bare: quoted, they are ordinary function names.
//! - MySQL and MariaDB fold function names in any spelling, and resolve a bare built-in
//!   name to the built-in before any loadable or stored function; `db.f` is a stored
//!   function.
//! - SQLite folds ASCII case in any spelling and has no schema-qualified functions.
//! - SQL Server compares built-in names without case and calls them bare; a user
//!   scalar function must be called with its schema (`dbo.f`), and a bracketed
//!   `[name]` is treated as a user function, never as the built-in.
//!
//! What the text alone cannot know — a user function that shadows a built-in's name
//! with other argument types, user casts and operators, views and policies over user
//! code — is checked against the catalog by the connector (`conexor-connectors`), from
//! the facts [`crate::CheckedQuery`] reports.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use crate::{Dialect, deny};

/// The verdict on a name written as a built-in candidate (bare, or `pg_catalog.`).
pub(crate) enum Builtin {
    /// On the allow-list.
    Allowed,
    /// A built-in that is not allowed, with the reason for the AI.
    Denied(&'static str),
    /// Not a built-in of this dialect: a user-defined or extension function.
    UserDefined,
}

/// Reason given for a built-in that is off the allow-list without a specific reason.
const NOT_ALLOWED: &str =
    "it is not on the list of side-effect-free built-in functions for this database";

struct Lists {
    postgresql: HashMap<&'static str, bool>,
    mysql: HashSet<&'static str>,
    sqlite: HashSet<&'static str>,
    sqlserver: HashSet<&'static str>,
}

fn lists() -> &'static Lists {
    static LISTS: OnceLock<Lists> = OnceLock::new();
    LISTS.get_or_init(|| Lists {
        postgresql: include_str!("../data/postgresql.txt")
            .lines()
            .filter_map(|line| {
                let line = line.trim();
                if line.starts_with('#') {
                    return None;
                }
                let (verdict, name) = line.split_once(' ')?;
                Some((name.trim(), verdict == "allow"))
            })
            .collect(),
        mysql: names(include_str!("../data/mysql.txt")),
        sqlite: names(include_str!("../data/sqlite.txt")),
        sqlserver: names(include_str!("../data/sqlserver.txt")),
    })
}

fn names(text: &'static str) -> HashSet<&'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// PostgreSQL grammar constructs that look like calls but are not catalog functions;
/// built-in only when written bare and unquoted.
const POSTGRESQL_CONSTRUCTS: &[&str] = &[
    "coalesce",
    "nullif",
    "greatest",
    "least",
    "grouping",
    "current_date",
    "current_time",
    "current_timestamp",
    "localtime",
    "localtimestamp",
    "current_user",
    "current_role",
    "current_catalog",
    "current_schema",
    "session_user",
    "system_user",
    "user",
    "row",
    "array",
    "exists",
    // sqlparser reads `(VALUES (…))` in an expression as a call of `values`.
    "values",
    "cast",
    "extract",
    "position",
    "substring",
    "trim",
    "overlay",
    "normalize",
    "xmlelement",
    "xmlforest",
    "xmlconcat",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmlexists",
    "any",
    "some",
    "all",
];

/// `name` is already normalised (quotes removed, folded as the dialect folds it).
/// `quoted` says whether it was written quoted, which matters on PostgreSQL only.
pub(crate) fn builtin(dialect: Dialect, name: &str, quoted: bool) -> Builtin {
    // Sleeping, files, locks, SQL from text…: refused with a specific reason, and never
    // liftable by an admin's allow-list, on every dialect.
    if let Some(why) = deny::denied_function(dialect, name) {
        return Builtin::Denied(why);
    }
    match dialect {
        Dialect::Postgresql => {
            if !quoted && POSTGRESQL_CONSTRUCTS.contains(&name) {
                return Builtin::Allowed;
            }
            match lists().postgresql.get(name) {
                Some(true) => Builtin::Allowed,
                Some(false) => Builtin::Denied(NOT_ALLOWED),
                None => Builtin::UserDefined,
            }
        }
        Dialect::Mysql => {
            if lists().mysql.contains(name) {
                Builtin::Allowed
            } else {
                Builtin::UserDefined
            }
        }
        Dialect::Sqlite => {
            if lists().sqlite.contains(name) {
                Builtin::Allowed
            } else {
                Builtin::UserDefined
            }
        }
        Dialect::Sqlserver => {
            if !quoted && lists().sqlserver.contains(name) {
                Builtin::Allowed
            } else {
                Builtin::UserDefined
            }
        }
    }
}

/// Whether `name` (normalised) is a PostgreSQL built-in that may not run: used for
/// field-selection notation, where `x.name` calls `name(x)` when `x` has no such column.
pub(crate) fn postgresql_denied_name(name: &str) -> Option<&'static str> {
    if let Some(why) = deny::denied_function(Dialect::Postgresql, name) {
        return Some(why);
    }
    match lists().postgresql.get(name) {
        Some(false) => Some(NOT_ALLOWED),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_hold_what_they_say() {
        let l = lists();
        assert!(l.postgresql.len() > 2000, "{}", l.postgresql.len());
        assert_eq!(l.postgresql.get("lower"), Some(&true));
        assert_eq!(l.postgresql.get("pg_sleep"), Some(&false));
        assert_eq!(l.postgresql.get("query_to_xml"), Some(&false));
        assert_eq!(l.postgresql.get("txid_current"), Some(&false));
        assert_eq!(l.postgresql.get("table_to_xml"), Some(&false));
        assert_eq!(l.postgresql.get("random"), Some(&true));
        assert!(l.mysql.contains("date_format") && !l.mysql.contains("sleep"));
        assert!(!l.mysql.contains("last_insert_id") && !l.mysql.contains("get_lock"));
        assert!(l.sqlite.contains("json_each") && !l.sqlite.contains("load_extension"));
        assert!(l.sqlserver.contains("datediff") && l.sqlserver.contains("string_agg"));
        for denied in [
            "xp_cmdshell",
            "openrowset",
            "openquery",
            "newsequentialid",
            "openxml",
        ] {
            assert!(!l.sqlserver.contains(denied), "{denied}");
        }
        for denied in [
            "sleep",
            "benchmark",
            "load_file",
            "get_lock",
            "release_lock",
        ] {
            assert!(!l.mysql.contains(denied), "{denied}");
        }
    }
}

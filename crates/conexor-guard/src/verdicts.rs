//! Verdicts remembered by their exact input.
//!
//! A verdict is a pure function of the dialect, the SQL text (byte for byte)
//! and the connection's function policy: the allow- and deny-lists are
//! compiled in. Parsing and walking a short query cost about 70,000
//! instructions and a hand-off to a parsing thread (bench/RESULTS.md), and
//! assistants, named tools and applications send the same statement again
//! and again (values are bound, not spliced), so verdicts are kept.
//!
//! Bounded: at most [`MAX_ENTRIES`] verdicts and [`MAX_BYTES`] of SQL text;
//! a full cache is emptied, so a flood of distinct statements costs what it
//! cost without the cache. Texts over [`MAX_TEXT`] are never kept. A refusal
//! because the guard itself failed ([`Rule::Internal`]) is never kept.

use crate::{CheckedQuery, Dialect, FunctionPolicy, Rejection, Rule};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

const MAX_ENTRIES: usize = 2048;
const MAX_BYTES: usize = 8 << 20;
const MAX_TEXT: usize = 16 << 10;

type Key = (Dialect, FunctionPolicy, String);

#[derive(Default)]
struct Verdicts {
    map: HashMap<Key, Result<CheckedQuery, Rejection>>,
    bytes: usize,
}

fn verdicts() -> MutexGuard<'static, Verdicts> {
    static VERDICTS: OnceLock<Mutex<Verdicts>> = OnceLock::new();
    VERDICTS
        .get_or_init(Mutex::default)
        .lock()
        // Plain data: still consistent after a panic elsewhere.
        .unwrap_or_else(|e| e.into_inner())
}

/// The verdict already reached for exactly this input, if kept.
pub(crate) fn get(
    dialect: Dialect,
    sql: &str,
    policy: &FunctionPolicy,
) -> Option<Result<CheckedQuery, Rejection>> {
    if sql.len() > MAX_TEXT {
        return None;
    }
    verdicts()
        .map
        .get(&(dialect, policy.clone(), sql.to_owned()))
        .cloned()
}

/// Keeps a verdict for this input.
pub(crate) fn put(
    dialect: Dialect,
    sql: &str,
    policy: &FunctionPolicy,
    verdict: &Result<CheckedQuery, Rejection>,
) {
    if sql.len() > MAX_TEXT || matches!(verdict, Err(r) if r.rule == Rule::Internal) {
        return;
    }
    let mut kept = verdicts();
    if kept.map.len() >= MAX_ENTRIES || kept.bytes + sql.len() > MAX_BYTES {
        kept.map.clear();
        kept.bytes = 0;
    }
    if kept
        .map
        .insert((dialect, policy.clone(), sql.to_owned()), verdict.clone())
        .is_none()
    {
        kept.bytes += sql.len();
    }
}

//! The row cap for SQL Server, which has no `LIMIT`.
//!
//! The other dialects append `LIMIT n` or wrap the query in a derived table. T-SQL
//! allows neither directly: a derived table may not hold a WITH clause, nor an ORDER
//! BY unless a TOP or OFFSET goes with it. So the guard decides, from the parsed
//! query, where the cap goes, in this order of preference (each keeps the query's own
//! ORDER BY exact):
//!
//! 1. The outermost query body is one SELECT without TOP, OFFSET or FETCH: the cap
//!    becomes its `TOP (n)`, written right after `SELECT` (and `DISTINCT`/`ALL`).
//!    This covers `WITH … SELECT … ORDER BY …` too.
//! 2. A set operation (`UNION`, …) with an outermost ORDER BY and no OFFSET: the cap
//!    becomes `OFFSET 0 ROWS FETCH NEXT n ROWS ONLY` after that ORDER BY.
//! 3. Anything else (a set operation without ORDER BY, or a query that has its own
//!    TOP / OFFSET / FETCH, whose ORDER BY is then legal inside a derived table):
//!    `[WITH …] SELECT TOP (n) * FROM (<body>) AS _cx`, the WITH clause kept in front.
//!    The outer SELECT has no ORDER BY, so SQL Server does not promise the inner order
//!    there; the rows are the right ones.
//!
//! Like the `LIMIT` of the other dialects, the capped text is parsed again and must
//! hold the very query that was checked ([`capped_form_is_the_same`]).

use sqlparser::ast::{Query, SetExpr, Statement, TableFactor};
use sqlparser::dialect::MsSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::{RECURSION_LIMIT, Rejection, Rule, byte_offset};

/// Where the row cap goes in a checked T-SQL text (offsets into the trimmed text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cap {
    /// `TOP (n) ` inserted at this byte offset.
    Top { at: usize },
    /// ` OFFSET 0 ROWS FETCH NEXT n ROWS ONLY` appended.
    Fetch,
    /// `SELECT TOP (n) * FROM (<text from body_at>) AS _cx`, with the text before
    /// `body_at` (the WITH clause) in front.
    Wrap { body_at: usize },
}

impl Cap {
    /// Whether the query bounds its own rows (TOP, OFFSET or FETCH).
    pub(crate) fn limited(&self) -> bool {
        matches!(self, Cap::Wrap { .. })
    }
}

/// The text with the cap `n` applied as `how` says.
pub(crate) fn capped(sql: &str, how: &Cap, n: u64) -> String {
    match how {
        Cap::Top { at } => {
            let (head, tail) = sql.split_at((*at).min(sql.len()));
            format!("{head} TOP ({n}) {}", tail.trim_start())
        }
        Cap::Fetch => format!("{sql} OFFSET 0 ROWS FETCH NEXT {n} ROWS ONLY"),
        Cap::Wrap { body_at } => {
            let (with, body) = sql.split_at((*body_at).min(sql.len()));
            let with = with.trim_end();
            let space = if with.is_empty() { "" } else { " " };
            format!(
                "{with}{space}SELECT TOP ({n}) * FROM ({}) AS _cx",
                body.trim()
            )
        }
    }
}

/// Decide where the cap goes. `sql` is the whole text as received and `start` the
/// offset where the checked (trimmed) text begins in it.
pub(crate) fn plan(sql: &str, start: usize, query: &Query) -> Result<Cap, Rejection> {
    if let Some(
        sqlparser::ast::LimitClause::LimitOffset { limit: Some(_), .. }
        | sqlparser::ast::LimitClause::OffsetCommaLimit { .. },
    ) = &query.limit_clause
    {
        return Err(Rejection::new(
            Rule::UnsupportedSyntax,
            "sql server has no LIMIT: use TOP (n), or ORDER BY … OFFSET … ROWS FETCH NEXT n ROWS ONLY",
        ));
    }
    let own_bound = query.limit_clause.is_some() || query.fetch.is_some();
    let relative = |location| byte_offset(sql, location).saturating_sub(start);
    match query.body.as_ref() {
        SetExpr::Select(select) if select.top.is_none() && !own_bound => {
            let after_select = relative(select.select_token.0.span.end);
            Ok(Cap::Top {
                at: after_select + distinct_or_all_len(sql.get(start + after_select..)),
            })
        }
        SetExpr::SetOperation { .. } | SetExpr::Query(_)
            if query.order_by.is_some() && !own_bound =>
        {
            Ok(Cap::Fetch)
        }
        _ => {
            let body_at = match &query.with {
                Some(with) => match with.cte_tables.last() {
                    Some(cte) => relative(cte.closing_paren_token.0.span.end),
                    None => 0,
                },
                None => 0,
            };
            Ok(Cap::Wrap { body_at })
        }
    }
}

/// Bytes from the start of `rest` (the text right after `SELECT`) to the end of a
/// `DISTINCT` or `ALL` keyword that follows, comments and whitespace included; 0 when
/// none follows. `TOP` goes after them in T-SQL.
fn distinct_or_all_len(rest: Option<&str>) -> usize {
    let Some(rest) = rest else { return 0 };
    let Ok(tokens) = Tokenizer::new(&MsSqlDialect {}, rest).tokenize_with_location() else {
        return 0;
    };
    let first = tokens
        .iter()
        .find(|t| !matches!(t.token, Token::Whitespace(_)));
    match first {
        Some(t)
            if matches!(&t.token, Token::Word(w)
                if w.quote_style.is_none() && matches!(w.keyword, Keyword::DISTINCT | Keyword::ALL)) =>
        {
            byte_offset(rest, t.span.end)
        }
        _ => 0,
    }
}

/// The capped text, parsed again, must hold exactly the query that was checked:
/// text added to a query can change how its end reads.
pub(crate) fn capped_form_is_the_same(
    parser_dialect: &dyn sqlparser::dialect::Dialect,
    sql: &str,
    how: &Cap,
    query: &Query,
) -> Result<(), Rejection> {
    let text = capped(sql, how, 1);
    let parsed = Parser::new(parser_dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(&text)
        .and_then(crate::parse_every_statement);
    let same = match (parsed.as_deref(), how) {
        (Ok([Statement::Query(outer)]), Cap::Top { .. }) => {
            let mut uncapped = (**outer).clone();
            match uncapped.body.as_mut() {
                SetExpr::Select(select) => {
                    select.top = None;
                    select.top_before_distinct = false;
                }
                _ => return Err(ambiguous()),
            }
            uncapped == *query
        }
        (Ok([Statement::Query(outer)]), Cap::Fetch) => {
            let mut uncapped = (**outer).clone();
            uncapped.limit_clause = None;
            uncapped.fetch = None;
            uncapped == *query
        }
        (Ok([Statement::Query(outer)]), Cap::Wrap { .. }) => {
            let mut inner = query.clone();
            inner.with = None;
            outer.with == query.with
                && outer.order_by.is_none()
                && match outer.body.as_ref() {
                    SetExpr::Select(select) => match select.from.as_slice() {
                        [from] if from.joins.is_empty() => matches!(
                            &from.relation,
                            TableFactor::Derived { subquery, .. } if **subquery == inner
                        ),
                        _ => false,
                    },
                    _ => false,
                }
        }
        (Err(ParserError::RecursionLimitExceeded), _) => {
            return Err(Rejection::new(
                Rule::TooDeep,
                format!(
                    "the query is nested too deeply (parentheses, subqueries or expressions): the limit is about {RECURSION_LIMIT} levels"
                ),
            ));
        }
        _ => false,
    };
    if same { Ok(()) } else { Err(ambiguous()) }
}

fn ambiguous() -> Rejection {
    Rejection::new(
        Rule::Parse,
        "the query reads differently once a row limit is added; finish the last expression or put the query in parentheses",
    )
}

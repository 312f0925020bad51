//! The SELECT-only guard (DESIGN.md §5): decides whether one SQL text from an AI
//! assistant may be sent to a database, and if so hands back a [`CheckedQuery`] that the
//! connectors execute (with the row cap pushed into the source by
//! [`CheckedQuery::capped_sql`]).
//!
//! Deny by default: the text must be one `SELECT` / `WITH … SELECT` / `VALUES` / set
//! operation, or an `EXPLAIN` (without `ANALYZE`) of one, parsed with the source's own
//! dialect, with no data-modifying CTE, no `SELECT … INTO`, no locking clause, no denied
//! function anywhere, no MySQL executable comment or optimizer hint, and placeholders in
//! the dialect's own style. Each refusal is a [`Rejection`] with a stable [`Rule`] code
//! for the audit log and a one-sentence reason written for the AI.
//!
//! What it deliberately does not do: resolve names against a catalog, rewrite the query,
//! or replace the source's own read-only session, read-only transaction, statement
//! timeout and database role, which remain the last boundary. Parsing happens on a
//! worker thread with a large stack so that hostile nesting is refused, never a stack
//! overflow.

use std::fmt;

use sqlparser::ast::Statement;
use sqlparser::dialect::{MsSqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

mod allow;
mod deny;
mod tsql;
mod verdicts;
mod walk;

#[cfg(test)]
mod tests;

/// Longest SQL text accepted, in bytes; longer input is refused before parsing.
pub const MAX_SQL_BYTES: usize = 100_000;

/// Parser recursion limit (sqlparser's default): deeper nesting is refused.
pub(crate) const RECURSION_LIMIT: usize = 50;

/// Most MySQL `DIV` / SQLite `REGEXP`, `MATCH`, `GLOB` operators in one query: sqlparser
/// copies the left operand for each of them, so long chains cost quadratic time.
const MAX_COPYING_OPERATORS: usize = 64;

/// Stack reserved for each parsing thread (address space; pages are committed only when
/// touched). Rejected input can still parse into a left-nested operator chain of about
/// one level per two bytes, which is dropped recursively: the worst 100 kB input needs
/// under 8 MiB in a debug build, so this leaves a wide margin.
const WORKER_STACK_BYTES: usize = 64 * 1024 * 1024;

/// The SQL dialect of the source the query will run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// PostgreSQL (placeholders `$1`, `$2`, …).
    Postgresql,
    /// MySQL and MariaDB (placeholders `?`).
    Mysql,
    /// SQLite (placeholders `?`).
    Sqlite,
    /// SQL Server and Azure SQL, T-SQL (placeholders `@P1`, `@P2`, …, as the TDS
    /// driver binds them; row cap with `TOP`, see [`CheckedQuery::capped_sql`]).
    Sqlserver,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Postgresql => "postgresql",
            Dialect::Mysql => "mysql",
            Dialect::Sqlite => "sqlite",
            Dialect::Sqlserver => "sqlserver",
        })
    }
}

/// A statement the guard accepted. Only this crate can construct it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedQuery {
    sql: String,
    dialect: Dialect,
    placeholders: usize,
    explain: bool,
    /// The outermost query has its own LIMIT, OFFSET or FETCH clause (or, on
    /// SQL Server, a TOP).
    limited: bool,
    /// SQL Server: where and how the row cap goes into the text.
    tsql_cap: Option<tsql::Cap>,
    /// Tables and views it reads (lowercased, as written, without CTE names).
    relations: Vec<String>,
    /// Relations as the database resolves the names (see [`CheckedQuery::relation_refs`]).
    relation_refs: Vec<Vec<String>>,
    /// Allow-listed user-defined functions it calls.
    user_functions: Vec<String>,
    /// Every identifier and keyword in the text, lowercased.
    words: std::collections::BTreeSet<String>,
    /// The words that are not SQL keywords, or are quoted, lowercased: the
    /// names the text uses (tables, columns, aliases, functions).
    identifiers: std::collections::BTreeSet<String>,
    /// Every operator symbol in the text.
    symbols: std::collections::BTreeSet<String>,
}

impl CheckedQuery {
    /// The tables and views the query reads, as written (`orders`,
    /// `sales.orders`), lowercased, without the query's own CTE names. For
    /// checking a saved definition against the discovered schema; not a
    /// security boundary (the source's permissions are).
    pub fn relations(&self) -> &[String] {
        &self.relations
    }

    /// Every relation the query reads, each as its name parts resolved the way the
    /// database resolves them (PostgreSQL folds unquoted parts; MySQL and SQLite keep the
    /// text). Complete, CTE names included: for the connector's catalog checks (views and
    /// policies over user code), which match without regard to case.
    pub fn relation_refs(&self) -> &[Vec<String>] {
        &self.relation_refs
    }

    /// The allow-listed user-defined functions the query calls: their effects cannot be
    /// proven absent, so the connector closes the session after such a call.
    pub fn user_functions(&self) -> &[String] {
        &self.user_functions
    }

    /// Every identifier and keyword of the text, lowercased (quoted or not). The
    /// connector refuses a query that names a type, or a function in field-selection
    /// notation, that the catalog marks as reaching user code.
    pub fn words(&self) -> &std::collections::BTreeSet<String> {
        &self.words
    }

    /// The names the text uses (words that are not SQL keywords, or are
    /// quoted), lowercased: where a source's "unknown column" points.
    pub fn identifiers(&self) -> &std::collections::BTreeSet<String> {
        &self.identifiers
    }

    /// Every operator symbol of the text (`=`, `||`, `@>`, …).
    pub fn symbols(&self) -> &std::collections::BTreeSet<String> {
        &self.symbols
    }

    /// The exact text that was checked, without leading whitespace and without trailing
    /// `;`, whitespace and comments (so it can be wrapped in a subquery).
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The dialect it was checked against.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Parameters the query expects: the highest `$n` on PostgreSQL (`@Pn` on SQL
    /// Server), the number of `?` on MySQL and SQLite.
    pub fn placeholder_count(&self) -> usize {
        self.placeholders
    }

    /// Whether the statement is an `EXPLAIN` of a query.
    pub fn is_explain(&self) -> bool {
        self.explain
    }

    /// The exact statement a connector sends for a read of at most `max_rows` rows
    /// whose rows may each be at most `max_row_bytes` large: [`CheckedQuery::capped_sql`],
    /// and on PostgreSQL a filter that makes the server raise an error (carrying
    /// [`ROW_TOO_LARGE`]) instead of sending a larger row, so a hostile query cannot
    /// make the driver buffer a huge value before the byte cap applies. MySQL and
    /// MariaDB refuse rows over `max_allowed_packet` themselves; SQLite values are
    /// capped by the connector.
    pub fn source_sql(&self, max_rows: u64, max_row_bytes: u64) -> String {
        let capped = self.capped_sql(max_rows);
        if self.explain || self.dialect != Dialect::Postgresql {
            return capped;
        }
        // Every function and operator is qualified with pg_catalog: a user object of
        // the same name with a closer argument type must not be what runs here.
        format!(
            "SELECT _cx_row.* FROM ({capped}) AS _cx_row \
             WHERE CASE WHEN pg_catalog.pg_column_size(_cx_row.*) OPERATOR(pg_catalog.>) {max_row_bytes} \
             THEN pg_catalog.concat('{ROW_TOO_LARGE} ', pg_catalog.pg_column_size(_cx_row.*))::pg_catalog.int4 \
             ELSE 1 END OPERATOR(pg_catalog.=) 1"
        )
    }

    /// The SQL to send with the row cap pushed into the source, so the source
    /// stops early and the caller can tell the result was truncated:
    /// `<sql> LIMIT <max_rows + 1>` when the outermost query has no limit of its
    /// own (which keeps its ORDER BY, which MySQL and MariaDB may drop inside a
    /// derived table), otherwise `SELECT * FROM (<sql>) AS _cx LIMIT <max_rows + 1>`
    /// (the inner LIMIT keeps the order). An `EXPLAIN` is returned unchanged.
    ///
    /// SQL Server has no LIMIT: there the cap is a `TOP (<max_rows + 1>)` put into the
    /// outermost SELECT, or `OFFSET 0 ROWS FETCH NEXT … ROWS ONLY` after an outermost
    /// ORDER BY of a set operation, or else `SELECT TOP (…) * FROM (<query>) AS _cx`
    /// with the query's WITH clause kept in front (T-SQL takes no WITH in a derived
    /// table); see `tsql.rs`.
    pub fn capped_sql(&self, max_rows: u64) -> String {
        let cap = max_rows.saturating_add(1);
        if let Some(how) = &self.tsql_cap {
            tsql::capped(&self.sql, how, cap)
        } else if self.explain {
            self.sql.clone()
        } else if self.limited {
            format!("SELECT * FROM ({}) AS _cx LIMIT {cap}", self.sql)
        } else {
            format!("{} LIMIT {cap}", self.sql)
        }
    }
}

/// The text a PostgreSQL source raises (in an integer cast error) for a row larger
/// than the byte cap; see [`CheckedQuery::source_sql`].
pub const ROW_TOO_LARGE: &str = "conexor.row_too_large";

/// Why the guard refused a statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Rejection {
    /// Which rule refused it (its [`Rule::code`] goes into the audit log).
    pub rule: Rule,
    /// One sentence for the AI: lowercase, no trailing period.
    pub reason: String,
}

impl Rejection {
    fn new(rule: Rule, reason: impl Into<String>) -> Self {
        Rejection {
            rule,
            reason: reason.into(),
        }
    }
}

/// The rule behind a [`Rejection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// Empty, whitespace-only or comment-only input.
    Empty,
    /// Longer than [`MAX_SQL_BYTES`].
    TooLong,
    /// Contains a NUL byte.
    NulByte,
    /// MySQL / MariaDB executable comment (`/*!`, `/*M!`) or optimizer hint (`/*+`).
    ExecutableComment,
    /// Does not parse in the source's dialect.
    Parse,
    /// Nested or chained beyond the guard's limits.
    TooDeep,
    /// More than one statement.
    MultipleStatements,
    /// A statement other than a query or `EXPLAIN` of a query.
    NotAQuery,
    /// `INSERT` / `UPDATE` / `DELETE` / `MERGE` inside a query (e.g. in a CTE).
    DataModifyingCte,
    /// `SELECT … INTO` (table, file, dump file or variable).
    SelectInto,
    /// `FOR UPDATE`, `FOR SHARE`, `LOCK IN SHARE MODE` and similar.
    LockingClause,
    /// A built-in function that is not on the dialect's allow-list, in any spelling.
    DeniedFunction,
    /// A function that is not a built-in and not allow-listed for the connection.
    UnknownFunction,
    /// User-variable assignment (`@v := …`).
    VariableAssignment,
    /// `EXPLAIN ANALYZE`, which runs the statement.
    ExplainAnalyze,
    /// An `EXPLAIN` option outside the allowed set.
    ExplainOption,
    /// A placeholder in a style the dialect does not use.
    PlaceholderStyle,
    /// Placeholder count differs from the number of parameters given.
    PlaceholderMismatch,
    /// Syntax the guard does not accept for these sources.
    UnsupportedSyntax,
    /// The guard itself failed; the query was not checked.
    Internal,
}

impl Rule {
    /// Stable snake_case code for the audit log, e.g. `guard.denied_function`.
    pub fn code(&self) -> &'static str {
        match self {
            Rule::Empty => "guard.empty",
            Rule::TooLong => "guard.too_long",
            Rule::NulByte => "guard.nul_byte",
            Rule::ExecutableComment => "guard.executable_comment",
            Rule::Parse => "guard.parse",
            Rule::TooDeep => "guard.too_deep",
            Rule::MultipleStatements => "guard.multiple_statements",
            Rule::NotAQuery => "guard.not_a_query",
            Rule::DataModifyingCte => "guard.data_modifying_cte",
            Rule::SelectInto => "guard.select_into",
            Rule::LockingClause => "guard.locking_clause",
            Rule::DeniedFunction => "guard.denied_function",
            Rule::UnknownFunction => "guard.unknown_function",
            Rule::VariableAssignment => "guard.variable_assignment",
            Rule::ExplainAnalyze => "guard.explain_analyze",
            Rule::ExplainOption => "guard.explain_option",
            Rule::PlaceholderStyle => "guard.placeholder_style",
            Rule::PlaceholderMismatch => "guard.placeholder_mismatch",
            Rule::UnsupportedSyntax => "guard.unsupported_syntax",
            Rule::Internal => "guard.internal",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The user-defined functions a connection's admin allow-listed by name. Empty by
/// default: then only the dialect's built-in allow-list runs.
///
/// Names are `function` or `schema.function`, written the way the database resolves them
/// (PostgreSQL: lower case unless the function was created with a quoted name; MySQL and
/// SQLite: any case). An unqualified entry matches only unqualified calls, a qualified
/// entry only qualified ones. Functions on the deny lists (sleeping, files, locks, SQL
/// from text, …) cannot be allow-listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FunctionPolicy {
    allowed: std::collections::BTreeSet<String>,
}

impl FunctionPolicy {
    /// A policy allowing `names`; each must be `name` or `schema.name` without spaces
    /// or quotes.
    pub fn new<I, S>(names: I) -> Result<FunctionPolicy, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut allowed = std::collections::BTreeSet::new();
        for name in names {
            let name = name.as_ref().trim();
            let parts: Vec<&str> = name.split('.').collect();
            let well_formed = !name.is_empty()
                && parts.len() <= 2
                && parts.iter().all(|p| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
                });
            if !well_formed {
                return Err(format!(
                    "allowed function {name:?} must be a name or schema.name (letters, digits, _ and $ only)"
                ));
            }
            allowed.insert(name.to_owned());
        }
        Ok(FunctionPolicy { allowed })
    }

    /// The allow-listed names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.allowed.iter().map(String::as_str)
    }

    /// Whether the user function `normalised` (as [`CheckedQuery::user_functions`]
    /// reports it) is allow-listed.
    /// PostgreSQL compares exactly (its names are case-sensitive once folded); MySQL and
    /// SQLite compare without case, as they resolve function names.
    pub fn allows(&self, dialect: Dialect, normalised: &str) -> bool {
        match dialect {
            Dialect::Postgresql => self.allowed.contains(normalised),
            Dialect::Mysql | Dialect::Sqlite | Dialect::Sqlserver => self
                .allowed
                .iter()
                .any(|a| a.to_lowercase() == normalised.to_lowercase()),
        }
    }
}

/// Check one SQL text for `dialect`, with no user-defined function allowed.
pub fn check(dialect: Dialect, sql: &str) -> Result<CheckedQuery, Rejection> {
    check_with_policy(dialect, sql, None, &FunctionPolicy::default())
}

/// Check one SQL text for `dialect` under a connection's [`FunctionPolicy`], and when
/// `param_count` is given require exactly that many placeholders.
pub fn check_with_policy(
    dialect: Dialect,
    sql: &str,
    param_count: Option<usize>,
    policy: &FunctionPolicy,
) -> Result<CheckedQuery, Rejection> {
    let checked = check_on_worker(dialect, sql, policy)?;
    if let Some(param_count) = param_count {
        require_params(&checked, param_count)?;
    }
    Ok(checked)
}

/// [`check_with_policy`] for async callers: the parse runs on a parsing
/// thread while the caller's task waits without holding its thread (a
/// runtime worker runs other tasks meanwhile). A verdict already known
/// answers at once.
pub async fn check_with_policy_async(
    dialect: Dialect,
    sql: &str,
    param_count: Option<usize>,
    policy: &FunctionPolicy,
) -> Result<CheckedQuery, Rejection> {
    precheck_text(dialect, sql)?;
    let checked = match verdicts::get(dialect, sql, policy) {
        Some(verdict) => verdict?,
        None => {
            let job = Job {
                dialect,
                sql: sql.to_owned(),
                policy: policy.clone(),
            };
            let verdict = match workers() {
                Some(pool) => pool.run_async(job).await,
                None => job.run_on_new_thread(),
            };
            verdicts::put(dialect, sql, policy, &verdict);
            verdict?
        }
    };
    if let Some(param_count) = param_count {
        require_params(&checked, param_count)?;
    }
    Ok(checked)
}

fn check_on_worker(
    dialect: Dialect,
    sql: &str,
    policy: &FunctionPolicy,
) -> Result<CheckedQuery, Rejection> {
    precheck_text(dialect, sql)?;
    if let Some(verdict) = verdicts::get(dialect, sql, policy) {
        return verdict;
    }
    let job = Job {
        dialect,
        sql: sql.to_owned(),
        policy: policy.clone(),
    };
    let verdict = match workers() {
        Some(pool) => pool.run(job),
        None => job.run_on_new_thread(),
    };
    verdicts::put(dialect, sql, policy, &verdict);
    verdict
}

/// One check for a parsing thread.
struct Job {
    dialect: Dialect,
    sql: String,
    policy: FunctionPolicy,
}

type Verdict = Result<CheckedQuery, Rejection>;

fn guard_failed() -> Rejection {
    Rejection::new(
        Rule::Internal,
        "the guard failed while checking this query; it was not run",
    )
}

impl Job {
    /// Runs the check; a panic becomes a refusal, never an accepted query.
    fn run(self) -> Verdict {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            inspect(self.dialect, &self.sql, &self.policy)
        }))
        .unwrap_or_else(|_| Err(guard_failed()))
    }

    /// Fallback when the worker threads could not be started.
    fn run_on_new_thread(self) -> Verdict {
        std::thread::Builder::new()
            .name("conexor-guard".to_owned())
            .stack_size(WORKER_STACK_BYTES)
            .spawn(move || self.run())
            .map_err(|_| {
                Rejection::new(
                    Rule::Internal,
                    "the guard could not start a worker to check this query; it was not run",
                )
            })?
            .join()
            .unwrap_or_else(|_| Err(guard_failed()))
    }
}

/// Long-lived parsing threads with large stacks (see [`WORKER_STACK_BYTES`]),
/// one per core: starting a thread with a 64 MiB stack for every query cost
/// more than parsing most queries.
struct Workers {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<(Job, Reply)>>,
}

/// Where a parsing thread sends its verdict: a thread that waits, or a task.
enum Reply {
    Blocking(std::sync::mpsc::SyncSender<Verdict>),
    Task(futures_channel::oneshot::Sender<Verdict>),
}

impl Reply {
    fn send(self, verdict: Verdict) {
        let _ = match self {
            Reply::Blocking(tx) => tx.send(verdict).map_err(drop),
            Reply::Task(tx) => tx.send(verdict).map_err(drop),
        };
    }
}

impl Workers {
    fn submit(&self, job: Job, reply: Reply) -> bool {
        let sent = match self.jobs.lock() {
            Ok(jobs) => jobs.send((job, reply)),
            Err(poisoned) => poisoned.into_inner().send((job, reply)),
        };
        sent.is_ok()
    }

    fn run(&self, job: Job) -> Verdict {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        if !self.submit(job, Reply::Blocking(reply)) {
            return Err(guard_failed());
        }
        answer.recv().unwrap_or_else(|_| Err(guard_failed()))
    }

    async fn run_async(&self, job: Job) -> Verdict {
        let (reply, answer) = futures_channel::oneshot::channel();
        if !self.submit(job, Reply::Task(reply)) {
            return Err(guard_failed());
        }
        answer.await.unwrap_or_else(|_| Err(guard_failed()))
    }
}

fn workers() -> Option<&'static Workers> {
    static WORKERS: std::sync::OnceLock<Option<Workers>> = std::sync::OnceLock::new();
    WORKERS
        .get_or_init(|| {
            let (jobs, queue) = std::sync::mpsc::channel::<(Job, Reply)>();
            let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
            let threads = std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2)
                .clamp(2, 8);
            let mut started = 0;
            for i in 0..threads {
                let queue = queue.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("conexor-guard-{i}"))
                    .stack_size(WORKER_STACK_BYTES)
                    .spawn(move || {
                        loop {
                            let next = match queue.lock() {
                                Ok(q) => q.recv(),
                                Err(poisoned) => poisoned.into_inner().recv(),
                            };
                            let Ok((job, reply)) = next else { return };
                            reply.send(job.run());
                        }
                    });
                if spawned.is_ok() {
                    started += 1;
                }
            }
            (started > 0).then(|| Workers {
                jobs: std::sync::Mutex::new(jobs),
            })
        })
        .as_ref()
}

/// [`check`], and also require exactly `param_count` placeholders.
pub fn check_with_params(
    dialect: Dialect,
    sql: &str,
    param_count: usize,
) -> Result<CheckedQuery, Rejection> {
    check_with_policy(dialect, sql, Some(param_count), &FunctionPolicy::default())
}

fn require_params(checked: &CheckedQuery, param_count: usize) -> Result<(), Rejection> {
    if checked.placeholders != param_count {
        return Err(Rejection::new(
            Rule::PlaceholderMismatch,
            format!(
                "the query has {} but {} given",
                plural(checked.placeholders, "placeholder", "placeholders"),
                match param_count {
                    1 => "1 parameter was".to_owned(),
                    n => format!("{n} parameters were"),
                }
            ),
        ));
    }
    Ok(())
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Checks on the raw text, before any tokenizing: cheap, and they bound the work after.
fn precheck_text(dialect: Dialect, sql: &str) -> Result<(), Rejection> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(Rejection::new(
            Rule::TooLong,
            format!(
                "the query is {} bytes long; the limit is {MAX_SQL_BYTES} bytes",
                sql.len()
            ),
        ));
    }
    if sql.trim().is_empty() {
        return Err(Rejection::new(Rule::Empty, "the query is empty"));
    }
    if sql.contains('\0') {
        return Err(Rejection::new(
            Rule::NulByte,
            "the query contains a nul byte, which is not allowed",
        ));
    }
    if dialect == Dialect::Mysql {
        executable_comments(sql)?;
        ambiguous_dash_comments(sql)?;
    }
    Ok(())
}

/// MySQL starts a `--` comment only when the next character is an ascii space or control
/// character; the parser asks for any unicode whitespace. Where the two disagree (say
/// `--` then a no-break space, or then `\x01`) the server would run text the guard took
/// for a comment, or the reverse, so such input is refused.
fn ambiguous_dash_comments(sql: &str) -> Result<(), Rejection> {
    let mut previous_dash = false;
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        if previous_dash
            && ch == '-'
            && let Some(&next) = chars.peek()
        {
            let mysql_comment = next <= ' ' || next == '\x7f';
            if mysql_comment != next.is_whitespace() {
                return Err(Rejection::new(
                    Rule::UnsupportedSyntax,
                    "a -- comment followed by an unusual character is read differently by mysql; put a plain space after --",
                ));
            }
        }
        previous_dash = ch == '-';
    }
    Ok(())
}

/// MySQL runs the body of `/*! … */` (MariaDB also `/*M! … */`) as SQL and honours
/// optimizer hints in `/*+ … */`; the guard cannot see either, so both are refused
/// anywhere in the text, even inside string literals.
fn executable_comments(sql: &str) -> Result<(), Rejection> {
    let bytes = sql.as_bytes();
    for (at, window) in bytes.windows(2).enumerate() {
        if window != b"/*" {
            continue;
        }
        let rest = bytes.get(at + 2..).unwrap_or_default();
        match rest {
            [b'!', ..] | [b'M' | b'm', b'!', ..] => {
                return Err(Rejection::new(
                    Rule::ExecutableComment,
                    "mysql executable comments (/*! … */ and /*M! … */) are not allowed: their content would run unchecked",
                ));
            }
            [b'+', ..] => {
                return Err(Rejection::new(
                    Rule::ExecutableComment,
                    "mysql optimizer hints (/*+ … */) are not allowed: they can change session limits",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Everything after the text pre-checks; runs on the worker thread.
fn inspect(
    dialect: Dialect,
    sql: &str,
    policy: &FunctionPolicy,
) -> Result<CheckedQuery, Rejection> {
    let postgres = PostgreSqlDialect {};
    let mysql = MySqlDialect {};
    let sqlite = SQLiteDialect {};
    let sqlserver = MsSqlDialect {};
    let parser_dialect: &dyn sqlparser::dialect::Dialect = match dialect {
        Dialect::Postgresql => &postgres,
        Dialect::Mysql => &mysql,
        Dialect::Sqlite => &sqlite,
        Dialect::Sqlserver => &sqlserver,
    };

    let tokens = Tokenizer::new(parser_dialect, sql)
        .tokenize_with_location()
        .map_err(|e| Rejection::new(Rule::Parse, format!("could not parse the query: {e}")))?;
    let significant: Vec<&TokenWithSpan> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .collect();
    let Some(last) = significant
        .iter()
        .rev()
        .find(|t| t.token != Token::SemiColon)
    else {
        return Err(Rejection::new(
            Rule::Empty,
            "the query is empty: it has only comments or semicolons",
        ));
    };
    // Leading comments stay (they may carry planner hints); leading `;` (empty
    // statements before the query) and trailing `;`, whitespace and comments
    // go, so the text can be wrapped in a subquery safely (`(;SELECT …)` does
    // not parse: a fuzz finding).
    let leading_semicolon = significant
        .iter()
        .take_while(|t| t.token == Token::SemiColon)
        .last();
    let start = match leading_semicolon {
        Some(semicolon) => {
            let after = byte_offset(sql, semicolon.span.end);
            let rest = sql.get(after..).unwrap_or_default();
            after + (rest.len() - rest.trim_start().len())
        }
        None => sql.len() - sql.trim_start().len(),
    };
    let end = byte_offset(sql, last.span.end);
    let trimmed = sql.get(start..end).unwrap_or(sql).to_owned();

    copying_operators(dialect, &significant)?;
    malformed_names(&significant)?;
    if dialect == Dialect::Sqlserver {
        batch_separators(&significant)?;
    }
    let words = significant_words(&significant);
    let (all_words, identifiers, symbols) = words_and_symbols(&significant);

    let statements = match parse_every_statement(
        Parser::new(parser_dialect)
            .with_recursion_limit(RECURSION_LIMIT)
            .with_tokens_with_locations(tokens),
    ) {
        Ok(statements) => statements,
        Err(ParserError::RecursionLimitExceeded) => {
            return Err(Rejection::new(
                Rule::TooDeep,
                format!(
                    "the query is nested too deeply (parentheses, subqueries or expressions): the limit is about {RECURSION_LIMIT} levels"
                ),
            ));
        }
        Err(error) => return Err(explain_parse_failure(&words, &error)),
    };

    let statement = match statements.as_slice() {
        [] => {
            return Err(Rejection::new(
                Rule::Empty,
                "the query is empty: it has only comments or semicolons",
            ));
        }
        [one] => one,
        many => {
            return Err(Rejection::new(
                Rule::MultipleStatements,
                format!(
                    "only one statement is allowed; got {}: send them one at a time",
                    many.len()
                ),
            ));
        }
    };

    let (query, explain) = match statement {
        Statement::Query(query) => (query, false),
        Statement::Explain { .. } if dialect == Dialect::Sqlserver => {
            return Err(Rejection::new(
                Rule::NotAQuery,
                "sql server has no EXPLAIN statement: send the SELECT itself",
            ));
        }
        Statement::Explain {
            analyze,
            estimate,
            statement,
            options,
            ..
        } => {
            if *analyze {
                return Err(explain_analyze());
            }
            if *estimate {
                return Err(Rejection::new(
                    Rule::ExplainOption,
                    "explain with ESTIMATE is not supported",
                ));
            }
            for option in options.iter().flatten() {
                let name = option.name.value.to_lowercase();
                if name == "analyze" || name == "analyse" {
                    return Err(explain_analyze());
                }
                if !ALLOWED_EXPLAIN_OPTIONS.contains(&name.as_str()) {
                    return Err(Rejection::new(
                        Rule::ExplainOption,
                        format!(
                            "explain option {name} is not allowed; the allowed options are {}",
                            ALLOWED_EXPLAIN_OPTIONS.join(", ")
                        ),
                    ));
                }
            }
            match statement.as_ref() {
                Statement::Query(query) => (query, true),
                other => {
                    return Err(Rejection::new(
                        Rule::NotAQuery,
                        format!(
                            "only EXPLAIN of a SELECT query is allowed; got EXPLAIN of {}",
                            nested_statement_kind(other)
                        ),
                    ));
                }
            }
        }
        _ => {
            return Err(Rejection::new(
                Rule::NotAQuery,
                format!(
                    "only SELECT queries are allowed; got {}",
                    statement_kind(&words)
                ),
            ));
        }
    };

    if let Some(kind) = walk::modifying_body(&query.body) {
        return Err(Rejection::new(
            Rule::NotAQuery,
            format!("only SELECT queries are allowed; got {kind} (after WITH)"),
        ));
    }
    let walked = walk::walk(dialect, query, policy)?;
    let mut limited = query.limit_clause.is_some() || query.fetch.is_some();
    let mut tsql_cap = None;
    if dialect == Dialect::Sqlserver {
        let how = tsql::plan(sql, start, query)?;
        limited = how.limited();
        tsql::capped_form_is_the_same(parser_dialect, &trimmed, &how, query)?;
        tsql_cap = Some(how);
    } else if !explain {
        capped_form_is_the_same(parser_dialect, &trimmed, query, limited)?;
    }

    Ok(CheckedQuery {
        sql: trimmed,
        dialect,
        placeholders: walked.placeholders,
        explain,
        limited,
        tsql_cap,
        relations: walked.relations,
        relation_refs: walked.relation_refs,
        user_functions: walked.user_functions,
        words: all_words,
        identifiers,
        symbols,
    })
}

/// The connector sends the checked text with a row cap added
/// ([`CheckedQuery::capped_sql`]), and text added after a query can change how
/// its end reads: `SELECT AS >*/ NOt` parses with `NOt` as a name, but with
/// ` LIMIT 2` after it as `NOT LIMIT` and a stray `2` (a fuzz finding). So the
/// capped form is parsed again, and it must hold the very query that was
/// checked; otherwise the query is refused (what the source would run is not
/// what the guard judged).
fn capped_form_is_the_same(
    parser_dialect: &dyn sqlparser::dialect::Dialect,
    sql: &str,
    query: &sqlparser::ast::Query,
    limited: bool,
) -> Result<(), Rejection> {
    use sqlparser::ast::{SetExpr, TableFactor};
    let capped = if limited {
        format!("SELECT * FROM ({sql}) AS _cx LIMIT 1")
    } else {
        format!("{sql} LIMIT 1")
    };
    let parsed = Parser::new(parser_dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(&capped)
        .and_then(parse_every_statement);
    let same = match parsed.as_deref() {
        Ok([Statement::Query(outer)]) if limited => match &*outer.body {
            SetExpr::Select(select) => match select.from.as_slice() {
                [from] if from.joins.is_empty() => matches!(
                    &from.relation,
                    TableFactor::Derived { subquery, .. } if **subquery == *query
                ),
                _ => false,
            },
            _ => false,
        },
        Ok([Statement::Query(outer)]) => {
            let mut unlimited = (**outer).clone();
            unlimited.limit_clause = None;
            unlimited == *query
        }
        Err(ParserError::RecursionLimitExceeded) => {
            return Err(Rejection::new(
                Rule::TooDeep,
                format!(
                    "the query is nested too deeply (parentheses, subqueries or expressions): the limit is about {RECURSION_LIMIT} levels"
                ),
            ));
        }
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(Rejection::new(
            Rule::Parse,
            "the end of the query is ambiguous: it reads differently once a row limit is added; finish the last expression or put the query in parentheses",
        ))
    }
}

/// An unquoted name never holds whitespace or a control character; the
/// tokenizer can make one (sqlparser's T-SQL `#` path takes the character
/// after `#` into the name whatever it is: `SELECT #` + CR, a fuzz finding),
/// and text around such a name reads differently once anything is added.
fn malformed_names(tokens: &[&TokenWithSpan]) -> Result<(), Rejection> {
    for token in tokens {
        if let Token::Word(w) = &token.token
            && w.quote_style.is_none()
            && w.value.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Rejection::new(
                Rule::Parse,
                "a name in the query holds a space or control character: quote it",
            ));
        }
    }
    Ok(())
}

/// SQL Server tools split a script into batches at a line that starts with `GO`; the
/// server never sees the word. A query holding one is two batches to whoever pastes
/// it into such a tool, so it is refused however the parser would read it.
fn batch_separators(tokens: &[&TokenWithSpan]) -> Result<(), Rejection> {
    let mut previous_line = 0;
    for token in tokens {
        let line = token.span.start.line;
        if let Token::Word(w) = &token.token
            && line != previous_line
            && w.quote_style.is_none()
            && w.value.eq_ignore_ascii_case("go")
        {
            return Err(Rejection::new(
                Rule::MultipleStatements,
                "batch separators (GO) are not allowed: send one SELECT at a time",
            ));
        }
        previous_line = token.span.end.line;
    }
    Ok(())
}

/// Every statement of the text, to its very end. sqlparser's own
/// `parse_statements` stops, without an error, at an `END` keyword after a
/// statement (it parses the bodies of BEGIN … END blocks with it), so
/// `SELECT a FROM t END; DROP TABLE t` came back as one SELECT and the rest
/// was never looked at, in every dialect (a fuzz finding): here a statement
/// must be followed by `;` or the end of the text, and nothing is skipped.
pub(crate) fn parse_every_statement(mut parser: Parser<'_>) -> Result<Vec<Statement>, ParserError> {
    let mut statements = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        if parser.peek_token_ref().token == Token::EOF {
            return Ok(statements);
        }
        statements.push(parser.parse_statement()?);
        let next = parser.peek_token_ref();
        if !matches!(next.token, Token::SemiColon | Token::EOF) {
            return parser.expected_ref("end of statement", next);
        }
    }
}

/// Characters PostgreSQL and MySQL build operators from.
const OPERATOR_CHARS: &str = "+-*/<>=~!@#%^&|`?";

/// The identifiers and keywords (lowercased), the identifiers alone, and
/// the operator symbols of the text.
fn words_and_symbols(
    tokens: &[&TokenWithSpan],
) -> (
    std::collections::BTreeSet<String>,
    std::collections::BTreeSet<String>,
    std::collections::BTreeSet<String>,
) {
    let mut words = std::collections::BTreeSet::new();
    let mut identifiers = std::collections::BTreeSet::new();
    let mut symbols = std::collections::BTreeSet::new();
    for token in tokens {
        match &token.token {
            Token::Word(w) => {
                let lower = w.value.to_lowercase();
                if w.keyword == Keyword::NoKeyword || w.quote_style.is_some() {
                    identifiers.insert(lower.clone());
                }
                words.insert(lower);
            }
            other => {
                let text = other.to_string();
                if !text.is_empty() && text.chars().all(|c| OPERATOR_CHARS.contains(c)) {
                    symbols.insert(text);
                }
            }
        }
    }
    (words, identifiers, symbols)
}

/// PostgreSQL `EXPLAIN ( … )` options that do not run the statement.
const ALLOWED_EXPLAIN_OPTIONS: &[&str] = &[
    "format",
    "verbose",
    "costs",
    "settings",
    "generic_plan",
    "buffers",
    "summary",
    "memory",
];

fn explain_analyze() -> Rejection {
    Rejection::new(
        Rule::ExplainAnalyze,
        "explain with ANALYZE is not allowed: it runs the statement; use plain EXPLAIN",
    )
}

/// Refuse long chains of operators that sqlparser parses in quadratic time.
fn copying_operators(dialect: Dialect, tokens: &[&TokenWithSpan]) -> Result<(), Rejection> {
    let copying: &[Keyword] = match dialect {
        Dialect::Postgresql => return Ok(()),
        Dialect::Mysql => &[Keyword::DIV],
        Dialect::Sqlite => &[Keyword::REGEXP, Keyword::MATCH, Keyword::GLOB],
        Dialect::Sqlserver => return Ok(()),
    };
    let count = tokens
        .iter()
        .filter(|t| matches!(&t.token, Token::Word(w) if w.quote_style.is_none() && copying.contains(&w.keyword)))
        .count();
    if count > MAX_COPYING_OPERATORS {
        return Err(Rejection::new(
            Rule::TooDeep,
            format!(
                "the query uses {count} {} operators: the limit is {MAX_COPYING_OPERATORS}",
                match dialect {
                    Dialect::Mysql => "DIV",
                    _ => "REGEXP / MATCH / GLOB",
                }
            ),
        ));
    }
    Ok(())
}

/// The unquoted words and other significant tokens, uppercased, for naming statements
/// and explaining parse failures. Quoted identifiers and literals become `""`.
fn significant_words(tokens: &[&TokenWithSpan]) -> Vec<String> {
    tokens
        .iter()
        .map(|t| match &t.token {
            Token::Word(w) if w.quote_style.is_none() => w.value.to_uppercase(),
            Token::LParen => "(".to_owned(),
            _ => String::new(),
        })
        .collect()
}

/// The kind of a statement found inside another (after EXPLAIN).
fn nested_statement_kind(statement: &Statement) -> &'static str {
    match statement {
        Statement::Insert(_) => "INSERT",
        Statement::Update(_) => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::Merge(_) => "MERGE",
        Statement::Explain { .. } => "EXPLAIN",
        _ => "a statement that is not a query",
    }
}

/// "INSERT", "CREATE TABLE", "ALTER SYSTEM", … from the leading words.
fn statement_kind(words: &[String]) -> String {
    let mut leading = words.iter().filter(|w| w.as_str() != "(");
    let Some(first) = leading.next().filter(|w| !w.is_empty()) else {
        return "an unrecognised statement".to_owned();
    };
    let mut kind = first.clone();
    if matches!(
        first.as_str(),
        "CREATE" | "ALTER" | "DROP" | "START" | "LOAD" | "LOCK"
    ) {
        for word in leading {
            if word.is_empty() {
                break;
            }
            kind.push(' ');
            kind.push_str(word);
            if !matches!(
                word.as_str(),
                "OR" | "REPLACE"
                    | "TEMP"
                    | "TEMPORARY"
                    | "UNIQUE"
                    | "MATERIALIZED"
                    | "GLOBAL"
                    | "LOCAL"
                    | "UNLOGGED"
                    | "VIRTUAL"
                    | "EXTERNAL"
                    | "RECURSIVE"
                    | "DEFINER"
            ) {
                break;
            }
        }
    }
    kind
}

/// Turn a parse error into the clearest rejection: a statement that is not a query, a
/// locking or INTO clause sqlparser does not model, or else the parser's message.
fn explain_parse_failure(words: &[String], error: &ParserError) -> Rejection {
    let has = |pattern: &[&str]| {
        words
            .windows(pattern.len())
            .any(|w| w.iter().zip(pattern).all(|(a, b)| a == b))
    };
    let first = words
        .iter()
        .find(|w| w.as_str() != "(")
        .map_or("", |w| w.as_str());
    if !matches!(
        first,
        "SELECT" | "WITH" | "VALUES" | "EXPLAIN" | "DESCRIBE" | "DESC" | "TABLE"
    ) {
        return Rejection::new(
            Rule::NotAQuery,
            format!(
                "only SELECT queries are allowed; got {}",
                statement_kind(words)
            ),
        );
    }
    if has(&["OPENROWSET", "("]) || has(&["OPENDATASOURCE", "("]) || has(&["(", "BULK"]) {
        return Rejection::new(
            Rule::DeniedFunction,
            "reading files or other servers (OPENROWSET, OPENDATASOURCE, BULK) is not allowed",
        );
    }
    if has(&["OPTION", "("]) {
        return Rejection::new(
            Rule::UnsupportedSyntax,
            "query hints (OPTION (…)) are not supported",
        );
    }
    if has(&["FOR", "NO", "KEY", "UPDATE"])
        || has(&["FOR", "KEY", "SHARE"])
        || has(&["LOCK", "IN", "SHARE", "MODE"])
    {
        return Rejection::new(
            Rule::LockingClause,
            "locking clauses (FOR … UPDATE / SHARE, LOCK IN SHARE MODE) are not allowed: queries must not lock rows",
        );
    }
    let into_target = words.windows(2).any(|pair| match pair {
        [into, target] => {
            into == "INTO"
                && (target == "OUTFILE" || target == "DUMPFILE" || target.starts_with('@'))
        }
        _ => false,
    });
    if into_target {
        return Rejection::new(
            Rule::SelectInto,
            "writing results with SELECT … INTO is not allowed: it creates a table, file or variable",
        );
    }
    let message = error.to_string();
    let message = message
        .strip_prefix("sql parser error: ")
        .unwrap_or(&message);
    let message = message
        .replace("found: EOF", "found: the end of the query")
        .trim_end_matches('.')
        .to_owned();
    Rejection::new(Rule::Parse, format!("could not parse the query: {message}"))
}

/// Byte offset in `sql` of a tokenizer location (1-based line and column, counted in
/// characters, lines split on `\n` only). Past the end gives `sql.len()`.
pub(crate) fn byte_offset(sql: &str, location: Location) -> usize {
    let (mut line, mut column) = (1u64, 1u64);
    for (offset, ch) in sql.char_indices() {
        if line == location.line && column == location.column {
            return offset;
        }
        if ch == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    sql.len()
}

/// Whether the built-in function named exactly `name` (as the catalog stores it) is on
/// `dialect`'s allow-list. For the connectors' catalog checks: a view, policy, domain
/// constraint, cast or operator that reaches a built-in off the list runs it for any
/// query that reads through it.
pub fn builtin_allowed(dialect: Dialect, name: &str) -> bool {
    matches!(allow::builtin(dialect, name, true), allow::Builtin::Allowed)
}

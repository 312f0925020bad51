//! The AST walk: visits every node of an accepted-so-far query (CTEs, subqueries in
//! every position, set operations, table functions in FROM, window specs, ORDER BY,
//! function arguments) and stops at the first thing that is not allowed: a nested
//! data-modifying statement, `SELECT … INTO`, a locking clause, a denied function, a
//! user-variable assignment, a placeholder in the wrong style, or nesting deeper than
//! the limits. It also counts placeholders.
//!
//! It deliberately does not judge the top-level statement kind (see `lib.rs`) and does
//! not resolve names: a function is judged by its last identifier only.

use std::ops::ControlFlow;

use sqlparser::ast::{
    AccessExpr, BinaryOperator, Expr, FunctionArg, FunctionArgExpr, Ident, ObjectName,
    ObjectNamePart, Query, Select, SelectItem, SetExpr, Statement, TableFactor, Value,
    ValueWithSpan, Visit, Visitor,
};

use crate::{Dialect, FunctionPolicy, Rejection, Rule, allow, deny};

/// Deepest expression nesting the walk follows (left-deep operator chains such as
/// `a + b + c + …` count one level per operator).
pub(crate) const MAX_EXPR_DEPTH: usize = 512;

/// Most set operations (`UNION`, `INTERSECT`, `EXCEPT`) chained in one query body.
pub(crate) const MAX_SET_OPERATIONS: usize = 256;

/// Most relation references in one query.
const MAX_RELATIONS: usize = 1000;

/// Highest PostgreSQL placeholder number (`$n`); the wire protocol allows 65535.
const MAX_PG_PLACEHOLDER: usize = 65_535;

/// Highest T-SQL placeholder number (`@Pn`); SQL Server takes 2,100 parameters.
const MAX_TSQL_PLACEHOLDER: usize = 2_100;

/// What the walk learned about an accepted query.
pub(crate) struct Walked {
    /// Every relation read, name parts as the database resolves them (CTE names
    /// included: the connector matches conservatively).
    pub(crate) relation_refs: Vec<Vec<String>>,
    /// Allow-listed user-defined functions the query calls (normalised names).
    pub(crate) user_functions: Vec<String>,
    pub(crate) placeholders: usize,
    /// Tables and views read, as written (`orders`, `sales.orders`), without
    /// the query's own CTE names; lowercased, deduplicated.
    pub(crate) relations: Vec<String>,
}

/// Walk `query` and everything below it.
pub(crate) fn walk(
    dialect: Dialect,
    query: &Query,
    policy: &FunctionPolicy,
) -> Result<Walked, Rejection> {
    let mut guard = Guard {
        dialect,
        policy,
        user_functions: Vec::new(),
        depth: 0,
        highest_dollar: 0,
        question_marks: 0,
        relations: Vec::new(),
        relation_refs: Vec::new(),
        ctes: Vec::new(),
    };
    match query.visit(&mut guard) {
        ControlFlow::Break(rejection) => Err(*rejection),
        ControlFlow::Continue(()) => Ok(Walked {
            user_functions: guard.user_functions,
            relation_refs: {
                let mut r = guard.relation_refs;
                r.sort();
                r.dedup();
                r
            },
            placeholders: match dialect {
                Dialect::Postgresql | Dialect::Sqlserver => guard.highest_dollar,
                Dialect::Mysql | Dialect::Sqlite => guard.question_marks,
            },
            relations: {
                let mut r: Vec<String> = guard
                    .relations
                    .into_iter()
                    .filter(|name| !guard.ctes.contains(name))
                    .collect();
                r.sort();
                r.dedup();
                r
            },
        }),
    }
}

/// The name of a data-modifying query body, if it is one.
pub(crate) fn modifying_body(body: &SetExpr) -> Option<&'static str> {
    match body {
        SetExpr::Insert(_) => Some("INSERT"),
        SetExpr::Update(_) => Some("UPDATE"),
        SetExpr::Delete(_) => Some("DELETE"),
        SetExpr::Merge(_) => Some("MERGE"),
        SetExpr::Select(_)
        | SetExpr::Query(_)
        | SetExpr::SetOperation { .. }
        | SetExpr::Values(_)
        | SetExpr::Table(_) => None,
    }
}

struct Guard<'p> {
    dialect: Dialect,
    policy: &'p FunctionPolicy,
    user_functions: Vec<String>,
    depth: usize,
    highest_dollar: usize,
    question_marks: usize,
    relations: Vec<String>,
    relation_refs: Vec<Vec<String>>,
    ctes: Vec<String>,
}

type Flow = ControlFlow<Box<Rejection>>;

fn reject(rule: Rule, reason: String) -> Flow {
    ControlFlow::Break(Box::new(Rejection { rule, reason }))
}

impl Guard<'_> {
    /// Resolve a call the way the database will and accept it only if it reaches an
    /// allowed built-in or an allow-listed user function (see `allow.rs`).
    fn check_function(&mut self, name: &ObjectName) -> Flow {
        let mut parts = Vec::with_capacity(name.0.len());
        for part in &name.0 {
            match part {
                ObjectNamePart::Identifier(ident) => parts.push(ident),
                ObjectNamePart::Function(_) => {
                    return reject(
                        Rule::DeniedFunction,
                        "a function whose name is computed is not allowed".to_owned(),
                    );
                }
            }
        }
        let Some(last) = parts.last() else {
            return reject(
                Rule::DeniedFunction,
                "a function call without a name is not allowed".to_owned(),
            );
        };
        let function = normalise_function_name(self.dialect, last);
        if function.is_empty() {
            return reject(
                Rule::DeniedFunction,
                "a function call with an empty name is not allowed".to_owned(),
            );
        }
        let quoted = last.quote_style.is_some();
        let schema = match parts.as_slice() {
            [_] => None,
            [schema, _] if self.dialect != Dialect::Sqlite => {
                Some(normalise_function_name(self.dialect, schema))
            }
            _ => {
                return reject(
                    Rule::DeniedFunction,
                    format!(
                        "function name {name} has too many parts: call a function by its name, or schema.name"
                    ),
                );
            }
        };
        let builtin_candidate = match (&schema, self.dialect) {
            // T-SQL built-ins are called bare and unquoted; `[name]` and
            // `schema.name` are user functions.
            (None, Dialect::Sqlserver) => !quoted,
            (None, _) => true,
            (Some(s), Dialect::Postgresql) => s == "pg_catalog",
            (Some(_), _) => false,
        };
        if builtin_candidate {
            // `pg_catalog.coalesce` is not the COALESCE construct: treat as quoted.
            match allow::builtin(self.dialect, &function, quoted || schema.is_some()) {
                allow::Builtin::Allowed => return ControlFlow::Continue(()),
                allow::Builtin::Denied(why) => {
                    return reject(
                        Rule::DeniedFunction,
                        format!("function {function} is not allowed: {why}"),
                    );
                }
                allow::Builtin::UserDefined => {}
            }
        } else if let Some(why) = deny::denied_function(self.dialect, &function) {
            return reject(
                Rule::DeniedFunction,
                format!("function {function} is not allowed: {why}"),
            );
        }
        let qualified = match &schema {
            Some(s) => format!("{s}.{function}"),
            None => function,
        };
        if self.policy.allows(self.dialect, &qualified) {
            if !self.user_functions.contains(&qualified) {
                self.user_functions.push(qualified);
            }
            return ControlFlow::Continue(());
        }
        reject(
            Rule::UnknownFunction,
            format!(
                "function {qualified} is not a built-in function allowed on {}: if it is a user-defined function without side effects, the connection's admin can allow-list it by name",
                self.dialect
            ),
        )
    }

    /// Record a relation the query reads. Every one is kept (the connector checks them
    /// against the catalog), so a query naming too many is refused rather than cut.
    fn add_relation(&mut self, display: String, resolved: Vec<String>) -> Flow {
        if self.relation_refs.len() >= MAX_RELATIONS {
            return reject(
                Rule::TooDeep,
                format!("the query reads more than {MAX_RELATIONS} tables and views"),
            );
        }
        self.relations.push(display);
        self.relation_refs.push(resolved);
        ControlFlow::Continue(())
    }

    /// PostgreSQL field selection: `x.name` and `(expr).name` call `name(x)` when `x`
    /// has no field of that name, so a denied built-in is refused in that notation too.
    /// (User-defined names are checked against the catalog by the connector, from the
    /// query's words.)
    fn check_field_name(&self, ident: &Ident) -> Flow {
        if self.dialect != Dialect::Postgresql {
            return ControlFlow::Continue(());
        }
        let name = normalise_function_name(self.dialect, ident);
        match allow::postgresql_denied_name(&name) {
            Some(why) => reject(
                Rule::DeniedFunction,
                format!(
                    "field selection .{name} would call function {name}, which is not allowed: {why}"
                ),
            ),
            None => ControlFlow::Continue(()),
        }
    }

    /// T-SQL: an unquoted `@name` is a placeholder when it is `@P<n>` (how the TDS
    /// driver names bound parameters) and otherwise a variable or a system
    /// function (`@@…`), which a single read has no use for.
    fn at_name(&mut self, ident: &Ident) -> Flow {
        if self.dialect != Dialect::Sqlserver
            || ident.quote_style.is_some()
            || !ident.value.starts_with('@')
        {
            return ControlFlow::Continue(());
        }
        let number = ident
            .value
            .strip_prefix("@P")
            .or_else(|| ident.value.strip_prefix("@p"))
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<usize>().ok());
        match number {
            Some(n) if (1..=MAX_TSQL_PLACEHOLDER).contains(&n) => {
                self.highest_dollar = self.highest_dollar.max(n);
                ControlFlow::Continue(())
            }
            _ if ident.value.starts_with("@@") => reject(
                Rule::UnsupportedSyntax,
                format!(
                    "{} is not allowed: a query reads tables and views, not server or session variables",
                    ident.value
                ),
            ),
            _ => reject(
                Rule::VariableAssignment,
                format!(
                    "variable {} is not allowed: use @P1, @P2, … for parameters",
                    ident.value
                ),
            ),
        }
    }

    /// T-SQL relations that are not tables or views of a database: temporary tables
    /// (`#t`, `##t`), table variables (`@t`) and linked servers (four-part names).
    fn check_tsql_relation(&self, name: &ObjectName) -> Flow {
        if self.dialect != Dialect::Sqlserver {
            return ControlFlow::Continue(());
        }
        if name.0.len() > 3 {
            return reject(
                Rule::UnsupportedSyntax,
                format!(
                    "{name} names a linked server: only tables and views of this server (database.schema.table at most) can be read"
                ),
            );
        }
        let last = name.0.last().and_then(ObjectNamePart::as_ident);
        match last {
            Some(ident) if ident.quote_style.is_none() && ident.value.starts_with('#') => reject(
                Rule::UnsupportedSyntax,
                format!(
                    "temporary table {} is not allowed: read tables and views",
                    ident.value
                ),
            ),
            Some(ident) if ident.quote_style.is_none() && ident.value.starts_with('@') => reject(
                Rule::VariableAssignment,
                format!(
                    "table variable {} is not allowed: read tables and views",
                    ident.value
                ),
            ),
            _ => ControlFlow::Continue(()),
        }
    }

    /// T-SQL table hints: only the ones that take no lock and change no data are
    /// allowed; UPDLOCK, XLOCK, HOLDLOCK, TABLOCK(X), SERIALIZABLE and the rest are
    /// refused, as are INDEX(…) and FORCESEEK (which can only fail or slow a read).
    fn check_table_hints(&self, hints: &[Expr]) -> Flow {
        for hint in hints {
            let name = match hint {
                Expr::Identifier(ident) if ident.quote_style.is_none() => {
                    ident.value.to_ascii_uppercase()
                }
                other => other.to_string().to_ascii_uppercase(),
            };
            if !ALLOWED_HINTS.contains(&name.as_str()) {
                let rule = if LOCKING_HINTS.contains(&name.as_str()) {
                    Rule::LockingClause
                } else {
                    Rule::UnsupportedSyntax
                };
                return reject(
                    rule,
                    format!(
                        "table hint {name} is not allowed: queries must not lock rows; the allowed hints are NOLOCK, READUNCOMMITTED, READCOMMITTED and NOWAIT"
                    ),
                );
            }
        }
        ControlFlow::Continue(())
    }

    fn placeholder(&mut self, text: &str) -> Flow {
        match self.dialect {
            Dialect::Postgresql => {
                let number = text
                    .strip_prefix('$')
                    .filter(|digits| {
                        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                    })
                    .and_then(|digits| digits.parse::<usize>().ok());
                match number {
                    Some(n) if (1..=MAX_PG_PLACEHOLDER).contains(&n) => {
                        self.highest_dollar = self.highest_dollar.max(n);
                        ControlFlow::Continue(())
                    }
                    _ => reject(
                        Rule::PlaceholderStyle,
                        format!(
                            "placeholder {text} is not supported on postgresql: use $1, $2, … (up to ${MAX_PG_PLACEHOLDER})"
                        ),
                    ),
                }
            }
            // `$5.00` is a money constant in T-SQL, not a placeholder.
            Dialect::Sqlserver
                if text.len() > 1
                    && text
                        .strip_prefix('$')
                        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit() || b == b'.')) =>
            {
                ControlFlow::Continue(())
            }
            Dialect::Sqlserver => reject(
                Rule::PlaceholderStyle,
                format!("placeholder {text} is not supported on sqlserver: use @P1, @P2, …"),
            ),
            Dialect::Mysql | Dialect::Sqlite => {
                if text == "?" {
                    self.question_marks += 1;
                    ControlFlow::Continue(())
                } else {
                    reject(
                        Rule::PlaceholderStyle,
                        format!(
                            "placeholder {text} is not supported on {}: use plain ? placeholders",
                            self.dialect
                        ),
                    )
                }
            }
        }
    }
}

/// T-SQL table hints that take no lock and change no data: the allowed ones.
const ALLOWED_HINTS: &[&str] = &["NOLOCK", "READUNCOMMITTED", "READCOMMITTED", "NOWAIT"];

/// T-SQL table hints that take or hold locks.
const LOCKING_HINTS: &[&str] = &[
    "UPDLOCK",
    "XLOCK",
    "HOLDLOCK",
    "TABLOCK",
    "TABLOCKX",
    "PAGLOCK",
    "ROWLOCK",
    "SERIALIZABLE",
    "REPEATABLEREAD",
    "READPAST",
    "READCOMMITTEDLOCK",
];

/// Whether `word` is a T-SQL table hint (learn.microsoft.com, "Table hints").
fn is_table_hint(word: &str) -> bool {
    const OTHER_HINTS: &[&str] = &[
        "NOEXPAND",
        "FORCESEEK",
        "FORCESCAN",
        "SNAPSHOT",
        "KEEPIDENTITY",
        "KEEPDEFAULTS",
        "IGNORE_CONSTRAINTS",
        "IGNORE_TRIGGERS",
    ];
    let word = word.to_ascii_uppercase();
    [ALLOWED_HINTS, LOCKING_HINTS, OTHER_HINTS]
        .iter()
        .any(|list| list.contains(&word.as_str()))
}

/// A function name as the database reads it: PostgreSQL folds unquoted names to lower
/// case (ASCII only, as it does for UTF-8 databases) and keeps quoted names exactly;
/// MySQL, MariaDB and SQLite compare function names without regard to case or quotes.
pub(crate) fn normalise_function_name(dialect: Dialect, ident: &Ident) -> String {
    match dialect {
        Dialect::Postgresql if ident.quote_style.is_some() => ident.value.clone(),
        Dialect::Postgresql | Dialect::Sqlite => ident.value.to_ascii_lowercase(),
        Dialect::Mysql | Dialect::Sqlserver => ident.value.to_lowercase(),
    }
}

/// A relation name part as the database reads it: PostgreSQL folds unquoted names and
/// keeps quoted ones; MySQL and SQLite keep the text (compare without case).
pub(crate) fn normalise_relation_part(dialect: Dialect, ident: &Ident) -> String {
    match dialect {
        Dialect::Postgresql if ident.quote_style.is_none() => ident.value.to_ascii_lowercase(),
        _ => ident.value.clone(),
    }
}

/// Length of the left-deep chain of set operations starting at `body`, counted without
/// recursion so a hostile chain cannot exhaust the stack here.
fn set_operation_chain(body: &SetExpr) -> usize {
    let mut count = 0;
    let mut node = body;
    while let SetExpr::SetOperation { left, .. } = node {
        count += 1;
        node = left;
    }
    count
}

impl Visitor for Guard<'_> {
    type Break = Box<Rejection>;

    fn pre_visit_statement(&mut self, statement: &Statement) -> Flow {
        // The walk starts at a query, so any statement found is nested inside it.
        let kind = match statement {
            Statement::Insert(_) => "INSERT",
            Statement::Update(_) => "UPDATE",
            Statement::Delete(_) => "DELETE",
            Statement::Merge(_) => "MERGE",
            _ => "statement",
        };
        reject(
            Rule::DataModifyingCte,
            format!(
                "a data-modifying {kind} inside a query is not allowed: only reads are permitted"
            ),
        )
    }

    fn pre_visit_query(&mut self, query: &Query) -> Flow {
        if let SetExpr::Table(table) = query.body.as_ref() {
            // `TABLE name`: sqlparser keeps the bare text of the name.
            let resolved: Vec<String> = [&table.schema_name, &table.table_name]
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            let display = resolved.join(".").to_lowercase();
            self.add_relation(display, resolved)?;
        }
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes.push(cte.alias.name.value.to_lowercase());
            }
        }
        if let Some(kind) = modifying_body(&query.body) {
            return reject(
                Rule::DataModifyingCte,
                format!(
                    "a data-modifying {kind} inside a query is not allowed: only reads are permitted"
                ),
            );
        }
        if let Some(lock) = query.locks.first() {
            return reject(
                Rule::LockingClause,
                format!(
                    "locking clause FOR {} is not allowed: queries must not lock rows",
                    lock.lock_type
                ),
            );
        }
        if query.for_clause.is_some() {
            return reject(
                Rule::UnsupportedSyntax,
                "the FOR XML / FOR JSON / FOR BROWSE clause is not supported".to_owned(),
            );
        }
        if query.settings.is_some() || query.format_clause.is_some() {
            return reject(
                Rule::UnsupportedSyntax,
                "the SETTINGS and FORMAT clauses are not supported".to_owned(),
            );
        }
        if !query.pipe_operators.is_empty() {
            return reject(
                Rule::UnsupportedSyntax,
                "pipe operators (|>) are not supported".to_owned(),
            );
        }
        if set_operation_chain(&query.body) > MAX_SET_OPERATIONS {
            return reject(
                Rule::TooDeep,
                format!(
                    "the query chains too many UNION / INTERSECT / EXCEPT operations: the limit is {MAX_SET_OPERATIONS}"
                ),
            );
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> Flow {
        if select.into.is_some() {
            return reject(
                Rule::SelectInto,
                "writing results with SELECT … INTO is not allowed: it creates a table, file or variable".to_owned(),
            );
        }
        if self.dialect == Dialect::Sqlserver {
            // `SELECT @v = expr` assigns a variable (sqlparser reads it as an alias).
            for item in &select.projection {
                if let SelectItem::ExprWithAlias { alias, .. } = item
                    && alias.quote_style.is_none()
                    && alias.value.starts_with('@')
                {
                    return reject(
                        Rule::VariableAssignment,
                        format!(
                            "assigning variable {} in a SELECT is not allowed: queries must not have side effects",
                            alias.value
                        ),
                    );
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, table_factor: &TableFactor) -> Flow {
        if let TableFactor::Table {
            name, with_hints, ..
        } = table_factor
        {
            self.check_tsql_relation(name)?;
            if self.dialect == Dialect::Sqlserver {
                self.check_table_hints(with_hints)?;
            }
        }
        if let TableFactor::Table {
            name, args: None, ..
        } = table_factor
        {
            let mut display = Vec::new();
            let mut resolved = Vec::new();
            for part in &name.0 {
                if let ObjectNamePart::Identifier(ident) = part {
                    display.push(ident.value.to_lowercase());
                    resolved.push(normalise_relation_part(self.dialect, ident));
                }
            }
            self.add_relation(display.join("."), resolved)?;
        }
        // T-SQL's old hint form `FROM t (NOLOCK)` reads as a call of `t`:
        // said as the hint it is.
        if self.dialect == Dialect::Sqlserver
            && let TableFactor::Table {
                args: Some(args), ..
            } = table_factor
        {
            let hints: Option<Vec<Expr>> = args
                .args
                .iter()
                .map(|arg| match arg {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e @ Expr::Identifier(ident)))
                        if ident.quote_style.is_none() && is_table_hint(&ident.value) =>
                    {
                        Some(e.clone())
                    }
                    _ => None,
                })
                .collect();
            if let Some(hints) = hints.filter(|h| !h.is_empty()) {
                self.check_table_hints(&hints)?;
                return reject(
                    Rule::UnsupportedSyntax,
                    "the old table hint form t (HINT) is not supported: write t WITH (NOLOCK)"
                        .to_owned(),
                );
            }
        }
        match table_factor {
            // `FROM f(args)` is parsed as a table with arguments.
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => self.check_function(name),
            // `TABLE(expr)`: the expression is walked as an expression.
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> Flow {
        self.depth += 1;
        if self.depth > MAX_EXPR_DEPTH {
            return reject(
                Rule::TooDeep,
                format!(
                    "the query nests expressions too deeply: the limit is {MAX_EXPR_DEPTH} levels"
                ),
            );
        }
        match expr {
            Expr::Function(function) => self.check_function(&function.name),
            Expr::Identifier(ident) => self.at_name(ident),
            Expr::CompoundIdentifier(parts) => {
                for part in parts {
                    self.at_name(part)?;
                }
                for part in parts.iter().skip(1) {
                    self.check_field_name(part)?;
                }
                ControlFlow::Continue(())
            }
            Expr::CompoundFieldAccess { access_chain, .. } => {
                for access in access_chain {
                    if let AccessExpr::Dot(Expr::Identifier(ident)) = access {
                        self.check_field_name(ident)?;
                    }
                }
                ControlFlow::Continue(())
            }
            Expr::BinaryOp {
                op: BinaryOperator::PGCustomBinaryOperator(parts),
                ..
            } if !matches!(parts.first().map(String::as_str), Some("pg_catalog"))
                || parts.len() != 2 =>
            {
                reject(
                    Rule::DeniedFunction,
                    "the OPERATOR(schema.op) syntax is allowed only for pg_catalog operators"
                        .to_owned(),
                )
            }
            Expr::BinaryOp {
                op: BinaryOperator::Assignment,
                ..
            } => reject(
                Rule::VariableAssignment,
                "assigning a variable with := is not allowed: queries must not have side effects"
                    .to_owned(),
            ),
            _ => ControlFlow::Continue(()),
        }
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> Flow {
        self.depth = self.depth.saturating_sub(1);
        ControlFlow::Continue(())
    }

    fn pre_visit_value(&mut self, value: &ValueWithSpan) -> Flow {
        match &value.value {
            Value::Placeholder(text) => self.placeholder(text),
            _ => ControlFlow::Continue(()),
        }
    }
}

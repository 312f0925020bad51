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
    BinaryOperator, Expr, ObjectName, ObjectNamePart, Query, Select, SetExpr, Statement,
    TableFactor, Value, ValueWithSpan, Visit, Visitor,
};

use crate::{Dialect, Rejection, Rule, deny};

/// Deepest expression nesting the walk follows (left-deep operator chains such as
/// `a + b + c + …` count one level per operator).
pub(crate) const MAX_EXPR_DEPTH: usize = 512;

/// Most set operations (`UNION`, `INTERSECT`, `EXCEPT`) chained in one query body.
pub(crate) const MAX_SET_OPERATIONS: usize = 256;

/// Highest PostgreSQL placeholder number (`$n`); the wire protocol allows 65535.
const MAX_PG_PLACEHOLDER: usize = 65_535;

/// What the walk learned about an accepted query.
pub(crate) struct Walked {
    pub(crate) placeholders: usize,
    /// Tables and views read, as written (`orders`, `sales.orders`), without
    /// the query's own CTE names; lowercased, deduplicated.
    pub(crate) relations: Vec<String>,
}

/// Walk `query` and everything below it.
pub(crate) fn walk(dialect: Dialect, query: &Query) -> Result<Walked, Rejection> {
    let mut guard = Guard {
        dialect,
        depth: 0,
        highest_dollar: 0,
        question_marks: 0,
        relations: Vec::new(),
        ctes: Vec::new(),
    };
    match query.visit(&mut guard) {
        ControlFlow::Break(rejection) => Err(*rejection),
        ControlFlow::Continue(()) => Ok(Walked {
            placeholders: match dialect {
                Dialect::Postgresql => guard.highest_dollar,
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

struct Guard {
    dialect: Dialect,
    depth: usize,
    highest_dollar: usize,
    question_marks: usize,
    relations: Vec<String>,
    ctes: Vec<String>,
}

type Flow = ControlFlow<Box<Rejection>>;

fn reject(rule: Rule, reason: String) -> Flow {
    ControlFlow::Break(Box::new(Rejection { rule, reason }))
}

impl Guard {
    fn check_function(&self, name: &ObjectName) -> Flow {
        let Some(last) = name.0.last() else {
            return reject(
                Rule::DeniedFunction,
                "a function call without a name is not allowed".to_owned(),
            );
        };
        let ident = match last {
            ObjectNamePart::Identifier(ident) => ident,
            ObjectNamePart::Function(_) => {
                return reject(
                    Rule::DeniedFunction,
                    "a function whose name is computed is not allowed".to_owned(),
                );
            }
        };
        let normalised = ident.value.trim().to_lowercase();
        if normalised.is_empty() {
            return reject(
                Rule::DeniedFunction,
                "a function call with an empty name is not allowed".to_owned(),
            );
        }
        match deny::denied_function(self.dialect, &normalised) {
            Some(why) => reject(
                Rule::DeniedFunction,
                format!("function {normalised} is not allowed: {why}"),
            ),
            None => ControlFlow::Continue(()),
        }
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

impl Visitor for Guard {
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
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, table_factor: &TableFactor) -> Flow {
        if let TableFactor::Table {
            name, args: None, ..
        } = table_factor
            && self.relations.len() < 1000
        {
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|p| match p {
                    ObjectNamePart::Identifier(ident) => Some(ident.value.to_lowercase()),
                    _ => None,
                })
                .collect();
            self.relations.push(parts.join("."));
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

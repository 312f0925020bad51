//! What the text of a query cannot show: code it reaches without naming it.
//!
//! The guard accepts a call only when it resolves to an allowed built-in or an
//! allow-listed user function. But a database also runs code the query never names:
//! a view whose definition calls a function, a row-level security policy, a domain's
//! CHECK constraint on a cast, a user-defined cast or operator, a user function that
//! shadows a built-in's name with other argument types (PostgreSQL picks the best
//! match across schemas), or a function reached through field-selection notation
//! (`t.f` is `f(t)`). The catalog knows all of these; this module reads it once per
//! pool and refuses a query that would reach such code:
//!
//! - a relation that is a view (transitively) or carries a policy over dangerous code;
//! - a word naming a user-code function (a shadowing name, or field selection) or a
//!   type whose constraint (or whose element, base or field type) runs dangerous code;
//! - an operator symbol backed by dangerous code; and every query at all when the
//!   database has an implicit or assignment cast through dangerous code, or a
//!   comparison operator (`=`, `<`, `LIKE`'s `~~`, …) backed by it, because those are
//!   used without being written.
//!
//! "Dangerous code" is a built-in off the guard's allow-list, or a user function that
//! is not trusted: written in a procedural or SQL language (user code), or volatile,
//! and not on the connection's allow-list. Functions in C from extensions that are
//! immutable or stable (citext's `lower`, hstore's `->`) are trusted: only a superuser
//! can install C code. Matching is by name without case, so it errs on refusing.
//!
//! The catalog is read when a pool first serves a read; objects created later are
//! seen when the pool is next opened (pools close after their idle time).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use conexor_guard::{CheckedQuery, Dialect, FunctionPolicy};

use crate::Error;

/// Comparison operators that queries use without writing them (`IN`, `BETWEEN`,
/// `CASE x WHEN`, `DISTINCT`, `GROUP BY`, `ORDER BY`, joins with `USING`, `LIKE`, …).
const IMPLICIT_OPERATORS: &[&str] = &[
    "=", "<>", "!=", "<", ">", "<=", ">=", "~~", "~~*", "!~~", "!~~*",
];

/// The catalog's verdicts for one connection.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    /// Refuse every query, with this reason.
    refuse_all: Option<String>,
    /// Lowercased names of untrusted user functions (for shadowing and field selection).
    functions: BTreeMap<String, String>,
    /// Lowercased type names whose use runs dangerous code.
    types: BTreeMap<String, String>,
    /// Operator symbols backed by dangerous code.
    symbols: BTreeMap<String, String>,
    /// (schema, name) lowercased, and why reading it runs dangerous code.
    relations: Vec<(String, String, String)>,
    /// The same verdicts with no user function allowed: a query this refuses but the
    /// connection's catalog admits reaches allow-listed user code, named or not.
    strict: Option<Box<Catalog>>,
}

/// What an admitted query reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// It reaches an allow-listed user function, directly or through a view, policy,
    /// domain, cast or operator: its effects on the session cannot be proven absent.
    pub user_code: bool,
}

impl Catalog {
    /// Refuse `query` if it would reach code the catalog marks as dangerous; otherwise
    /// say whether it reaches allow-listed user code.
    pub fn admit(&self, query: &CheckedQuery) -> Result<Reach, Error> {
        self.check(query)?;
        let user_code = !query.user_functions().is_empty()
            || self
                .strict
                .as_ref()
                .is_some_and(|strict| strict.check(query).is_err());
        Ok(Reach { user_code })
    }

    fn check(&self, query: &CheckedQuery) -> Result<(), Error> {
        let refuse = |reason: String| Error::Refused {
            code: "guard.catalog",
            reason,
        };
        if let Some(reason) = &self.refuse_all {
            return Err(refuse(reason.clone()));
        }
        for parts in query.relation_refs() {
            let Some(name) = parts.last().map(|n| n.to_lowercase()) else {
                continue;
            };
            let schema = parts
                .len()
                .checked_sub(2)
                .and_then(|i| parts.get(i))
                .map(|s| s.to_lowercase());
            for (s, n, why) in &self.relations {
                if *n == name && schema.as_ref().is_none_or(|q| q == s) {
                    return Err(refuse(format!("reading {s}.{n} {why}")));
                }
            }
        }
        for word in query.words() {
            if let Some(why) = self.functions.get(word) {
                return Err(refuse(format!(
                    "the query names {word}, and {why}; written as a call or as field selection (x.{word}) it could reach that function"
                )));
            }
            if let Some(why) = self.types.get(word) {
                return Err(refuse(format!("the query names type {word}, {why}")));
            }
        }
        for symbol in query.symbols() {
            if let Some(why) = self.symbols.get(symbol) {
                return Err(refuse(format!("operator {symbol} {why}")));
            }
        }
        Ok(())
    }

    /// Whether the catalog refuses everything (for tests and reports).
    pub fn refuses_everything(&self) -> Option<&str> {
        self.refuse_all.as_deref()
    }
}

/// One function as the catalog describes it.
pub(crate) struct Proc {
    pub(crate) schema: String,
    pub(crate) name: String,
    /// C or internal language, and not volatile.
    pub(crate) trusted_code: bool,
}

/// Raw PostgreSQL catalog facts, gathered by `postgresql::load_catalog`.
#[derive(Default)]
pub(crate) struct PgFacts {
    pub(crate) procs: HashMap<i64, Proc>,
    /// User operators: (oid, symbol, code oid).
    pub(crate) operators: Vec<(i64, String, i64)>,
    /// User casts: (source, target, context, function oid).
    pub(crate) casts: Vec<(String, String, String, i64)>,
    /// User types: (oid, name, base type, element type, relation of a composite).
    pub(crate) types: Vec<(i64, String, i64, i64, i64)>,
    /// Attributes of composite types: (relation oid, attribute type).
    pub(crate) composite_fields: Vec<(i64, i64)>,
    /// Dependencies of domain constraints: (domain oid, referenced class, referenced oid).
    pub(crate) domain_deps: Vec<(i64, String, i64)>,
    /// Dependencies of views: (view oid, schema, name, referenced class, referenced oid).
    pub(crate) view_deps: Vec<(i64, String, String, String, i64)>,
    /// Dependencies of row-level policies: (table schema, table name, class, oid).
    pub(crate) policy_deps: Vec<(String, String, String, i64)>,
    /// Texts the guard reads itself, because the catalog records no dependency on
    /// pinned built-ins: views (oid, schema, name, definition), policies' USING
    /// expressions (schema, table, expression) and domains' CHECK constraints
    /// (domain oid, definition).
    pub(crate) view_defs: Vec<(i64, String, String, Option<String>)>,
    pub(crate) policy_exprs: Vec<(String, String, Option<String>)>,
    pub(crate) domain_checks: Vec<(i64, Option<String>)>,
}

/// The guard's verdict on a definition the catalog holds, under the connection's
/// policy: `None` when it may run, else why not. A definition the guard cannot read
/// counts as refused.
fn guard_verdict(sql: &str, policy: &FunctionPolicy) -> Option<String> {
    match conexor_guard::check_with_policy(Dialect::Postgresql, sql, None, policy) {
        Ok(_) => None,
        Err(rejection) => Some(rejection.reason),
    }
}

/// `CHECK ((expr))` → a query the guard can judge.
fn check_expression_query(definition: &str) -> String {
    let expr = definition
        .trim()
        .strip_prefix("CHECK")
        .unwrap_or(definition)
        .trim();
    let expr = expr.strip_suffix("NOT VALID").unwrap_or(expr).trim();
    format!("SELECT 1 FROM (SELECT NULL::int AS value) AS _d WHERE {expr}")
}

impl PgFacts {
    pub(crate) fn judge(&self, policy: &FunctionPolicy) -> Catalog {
        let mut catalog = self.judge_under(policy);
        if policy.names().next().is_some() {
            catalog.strict = Some(Box::new(self.judge_under(&FunctionPolicy::default())));
        }
        catalog
    }

    fn judge_under(&self, policy: &FunctionPolicy) -> Catalog {
        let allowed: HashSet<String> = policy.names().map(str::to_owned).collect();
        let dangerous_proc = |oid: i64| -> Option<String> {
            let p = self.procs.get(&oid)?;
            match p.schema.as_str() {
                "pg_catalog" => (!conexor_guard::builtin_allowed(Dialect::Postgresql, &p.name))
                    .then(|| format!("it runs pg_catalog.{}, which is not allowed", p.name)),
                "information_schema" => None,
                schema => {
                    let listed = allowed.contains(&format!("{schema}.{}", p.name))
                        || allowed.contains(&p.name);
                    (!p.trusted_code && !listed).then(|| {
                        format!(
                            "it runs the user-defined function {schema}.{}, which is not allow-listed",
                            p.name
                        )
                    })
                }
            }
        };
        let mut catalog = Catalog::default();

        for p in self.procs.values() {
            if matches!(p.schema.as_str(), "pg_catalog" | "information_schema") {
                continue;
            }
            let listed =
                allowed.contains(&format!("{}.{}", p.schema, p.name)) || allowed.contains(&p.name);
            if !p.trusted_code && !listed {
                catalog.functions.insert(
                    p.name.to_lowercase(),
                    format!(
                        "{}.{} is a user-defined function that is not allow-listed",
                        p.schema, p.name
                    ),
                );
            }
        }

        let mut dangerous_operators: HashMap<i64, String> = HashMap::new();
        for (oid, symbol, code) in &self.operators {
            if let Some(why) = dangerous_proc(*code) {
                if IMPLICIT_OPERATORS.contains(&symbol.as_str()) {
                    catalog.refuse_all.get_or_insert_with(|| format!(
                        "this database defines a {symbol} operator whose code is not allowed ({why}); queries use {symbol} without writing it, so none can be run safely: allow-list the function or drop the operator"
                    ));
                }
                catalog
                    .symbols
                    .insert(symbol.clone(), format!("is user-defined here and {why}"));
                dangerous_operators.insert(*oid, why);
            }
        }

        for (source, target, context, func) in &self.casts {
            if let Some(why) = dangerous_proc(*func) {
                if context == "e" {
                    catalog
                        .types
                        .insert(last_name(target), format!("whose cast from {source} {why}"));
                } else {
                    catalog.refuse_all.get_or_insert_with(|| format!(
                        "this database defines an implicit cast from {source} to {target} whose code is not allowed ({why}); any query could reach it: allow-list the function or drop the cast"
                    ));
                }
            }
        }

        // Types whose use runs dangerous code: domains with such constraints, then
        // everything built on them (domains over them, arrays, composite types).
        let mut dangerous_types: HashMap<i64, String> = HashMap::new();
        for (domain, definition) in &self.domain_checks {
            let verdict = match definition {
                Some(d) => guard_verdict(&check_expression_query(d), policy),
                None => Some("cannot be read".to_owned()),
            };
            if let Some(why) = verdict {
                dangerous_types
                    .entry(*domain)
                    .or_insert_with(|| format!("whose check constraint is not allowed ({why})"));
            }
        }
        for (domain, class, oid) in &self.domain_deps {
            let why = match class.as_str() {
                "pg_proc" => dangerous_proc(*oid),
                "pg_operator" => dangerous_operators.get(oid).cloned(),
                _ => None,
            };
            if let Some(why) = why {
                dangerous_types.insert(*domain, format!("whose check constraint {why}"));
            }
        }
        loop {
            let before = dangerous_types.len();
            for (oid, _, base, element, relation) in &self.types {
                if dangerous_types.contains_key(oid) {
                    continue;
                }
                let from = dangerous_types
                    .get(base)
                    .or_else(|| dangerous_types.get(element))
                    .cloned()
                    .or_else(|| {
                        self.composite_fields
                            .iter()
                            .filter(|(rel, _)| rel == relation && *relation != 0)
                            .find_map(|(_, field)| dangerous_types.get(field).cloned())
                    });
                if let Some(why) = from {
                    dangerous_types.insert(*oid, why);
                }
            }
            if dangerous_types.len() == before {
                break;
            }
        }
        for (oid, name, ..) in &self.types {
            if let Some(why) = dangerous_types.get(oid) {
                catalog
                    .types
                    .insert(name.trim_start_matches('_').to_lowercase(), why.clone());
            }
        }

        // Views, transitively.
        let mut dangerous_views: HashMap<i64, (String, String, String)> = HashMap::new();
        for (view, schema, name, definition) in &self.view_defs {
            let verdict = match definition {
                Some(d) => guard_verdict(d, policy),
                None => Some("its definition cannot be read".to_owned()),
            };
            if let Some(why) = verdict {
                dangerous_views.insert(
                    *view,
                    (
                        schema.clone(),
                        name.clone(),
                        format!("runs what the guard refuses ({why})"),
                    ),
                );
            }
        }
        loop {
            let before = dangerous_views.len();
            for (view, schema, name, class, oid) in &self.view_deps {
                if dangerous_views.contains_key(view) || view == oid {
                    continue;
                }
                let why = match class.as_str() {
                    "pg_proc" => dangerous_proc(*oid),
                    "pg_operator" => dangerous_operators.get(oid).cloned(),
                    "pg_type" => dangerous_types.get(oid).cloned(),
                    "pg_class" => dangerous_views
                        .get(oid)
                        .map(|(s, n, _)| format!("reads the view {s}.{n}, which is refused")),
                    _ => None,
                };
                if let Some(why) = why {
                    dangerous_views.insert(*view, (schema.clone(), name.clone(), why));
                }
            }
            if dangerous_views.len() == before {
                break;
            }
        }
        for (schema, name, why) in dangerous_views.into_values() {
            catalog.relations.push((
                schema.to_lowercase(),
                name.to_lowercase(),
                format!("is refused: the view {why}"),
            ));
        }
        for (schema, name, expression) in &self.policy_exprs {
            let verdict = match expression {
                Some(e) => guard_verdict(&format!("SELECT 1 WHERE {e}"), policy),
                None => None,
            };
            if let Some(why) = verdict {
                catalog.relations.push((
                    schema.to_lowercase(),
                    name.to_lowercase(),
                    format!("is refused: its row-level security policy runs what the guard refuses ({why})"),
                ));
            }
        }
        for (schema, name, class, oid) in &self.policy_deps {
            let why = match class.as_str() {
                "pg_proc" => dangerous_proc(*oid),
                "pg_operator" => dangerous_operators.get(oid).cloned(),
                _ => None,
            };
            if let Some(why) = why {
                catalog.relations.push((
                    schema.to_lowercase(),
                    name.to_lowercase(),
                    format!("is refused: its row-level security policy {why}"),
                ));
            }
        }
        catalog
    }
}

/// MySQL / MariaDB: views whose definition the guard refuses (a stored function, a
/// denied built-in), transitively. A view whose definition this login cannot see is
/// refused too: what it runs cannot be checked.
pub(crate) fn judge_mysql_views(
    views: Vec<(String, String, Option<String>)>,
    policy: &FunctionPolicy,
) -> Catalog {
    let mut catalog = judge_mysql_views_under(&views, policy);
    if policy.names().next().is_some() {
        catalog.strict = Some(Box::new(judge_mysql_views_under(
            &views,
            &FunctionPolicy::default(),
        )));
    }
    catalog
}

fn judge_mysql_views_under(
    views: &[(String, String, Option<String>)],
    policy: &FunctionPolicy,
) -> Catalog {
    let mut catalog = Catalog::default();
    let mut reads: Vec<(String, String, BTreeSet<String>)> = Vec::new();
    for (schema, name, definition) in views {
        let definition = definition.clone().unwrap_or_default();
        if definition.trim().is_empty() {
            catalog.relations.push((
                schema.to_lowercase(),
                name.to_lowercase(),
                "is refused: this login cannot see the view's definition (grant SHOW VIEW), so what it runs cannot be checked".into(),
            ));
            continue;
        }
        match conexor_guard::check_with_policy(Dialect::Mysql, &definition, None, policy) {
            Ok(checked) => {
                let names = checked
                    .relation_refs()
                    .iter()
                    .filter_map(|p| p.last().map(|n| n.to_lowercase()))
                    .collect();
                reads.push((schema.to_lowercase(), name.to_lowercase(), names));
            }
            Err(rejection) => catalog.relations.push((
                schema.to_lowercase(),
                name.to_lowercase(),
                format!(
                    "is refused: the view's definition is not allowed ({})",
                    rejection.reason
                ),
            )),
        }
    }
    loop {
        let before = catalog.relations.len();
        for (schema, name, names) in &reads {
            if catalog
                .relations
                .iter()
                .any(|(s, n, _)| s == schema && n == name)
            {
                continue;
            }
            if let Some((s, n, _)) = catalog
                .relations
                .iter()
                .find(|(_, n, _)| names.contains(n))
                .cloned()
            {
                catalog.relations.push((
                    schema.clone(),
                    name.clone(),
                    format!("is refused: the view reads {s}.{n}, which is refused"),
                ));
            }
        }
        if catalog.relations.len() == before {
            break;
        }
    }
    catalog
}

/// `public.my_type` or `"My Type"` → the last name, lowercased, without quotes.
fn last_name(formatted: &str) -> String {
    formatted
        .rsplit('.')
        .next()
        .unwrap_or(formatted)
        .trim_matches('"')
        .trim_end_matches("[]")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(schema: &str, name: &str, trusted_code: bool) -> Proc {
        Proc {
            schema: schema.into(),
            name: name.into(),
            trusted_code,
        }
    }

    fn query(sql: &str) -> CheckedQuery {
        conexor_guard::check(Dialect::Postgresql, sql).expect(sql)
    }

    #[test]
    fn views_policies_types_and_operators_over_dangerous_code_are_refused() {
        let mut facts = PgFacts::default();
        facts.procs.insert(1, proc("public", "evil", false));
        facts.procs.insert(2, proc("pg_catalog", "pg_sleep", true));
        facts.procs.insert(3, proc("public", "citext_lower", true));
        facts.view_deps = vec![
            (10, "public".into(), "evil_view".into(), "pg_proc".into(), 1),
            (
                11,
                "public".into(),
                "over_view".into(),
                "pg_class".into(),
                10,
            ),
            (12, "public".into(), "sleepy".into(), "pg_proc".into(), 2),
            (13, "public".into(), "fine".into(), "pg_proc".into(), 3),
        ];
        facts.policy_deps = vec![("public".into(), "guarded".into(), "pg_proc".into(), 1)];
        facts.domain_deps = vec![(20, "pg_proc".into(), 1)];
        facts.types = vec![
            (20, "evil_domain".into(), 0, 0, 0),
            (21, "_evil_domain".into(), 0, 20, 0),
            (22, "wrapper".into(), 0, 0, 30),
        ];
        facts.composite_fields = vec![(30, 20)];
        facts.operators = vec![(40, "@@@".into(), 1)];
        let catalog = facts.judge(&FunctionPolicy::default());
        for sql in [
            "SELECT * FROM evil_view",
            "SELECT * FROM public.over_view",
            "SELECT * FROM \"SLEEPY\"",
            "SELECT * FROM guarded",
            "SELECT 'x'::evil_domain",
            "SELECT NULL::wrapper",
            "SELECT (o).evil FROM orders o",
            "SELECT o.evil FROM orders o",
        ] {
            assert!(catalog.admit(&query(sql)).is_err(), "{sql}");
        }
        assert!(catalog.admit(&query("SELECT * FROM fine, orders")).is_ok());
        assert!(
            catalog
                .admit(&query("SELECT * FROM other.evil_view"))
                .is_ok()
        );
        assert!(catalog.refuses_everything().is_none());

        // Allow-listing the function lifts what only it made dangerous.
        let mut facts = PgFacts::default();
        facts.procs.insert(1, proc("public", "evil", false));
        facts.view_deps = vec![(10, "public".into(), "evil_view".into(), "pg_proc".into(), 1)];
        let lifted = facts.judge(&FunctionPolicy::new(["public.evil"]).unwrap());
        let reach = lifted.admit(&query("SELECT * FROM evil_view")).unwrap();
        assert!(
            reach.user_code,
            "a view over allow-listed code reaches user code"
        );
        let reach = lifted.admit(&query("SELECT * FROM orders")).unwrap();
        assert!(!reach.user_code);
    }

    #[test]
    fn implicit_casts_and_comparison_operators_over_user_code_refuse_everything() {
        let mut facts = PgFacts::default();
        facts.procs.insert(1, proc("public", "evil", false));
        facts.operators = vec![(40, "=".into(), 1)];
        assert!(
            facts
                .judge(&FunctionPolicy::default())
                .refuses_everything()
                .is_some()
        );
        let mut facts = PgFacts::default();
        facts.procs.insert(1, proc("public", "evil", false));
        facts.casts = vec![("integer".into(), "text".into(), "i".into(), 1)];
        let catalog = facts.judge(&FunctionPolicy::default());
        assert!(catalog.admit(&query("SELECT 1")).is_err());
    }

    #[test]
    fn mysql_views_over_stored_functions_are_refused_transitively() {
        let catalog = judge_mysql_views(
            vec![
                (
                    "shop".into(),
                    "secrets".into(),
                    Some("select `shop`.`read_file`() AS `x`".into()),
                ),
                (
                    "shop".into(),
                    "on_top".into(),
                    Some("select * from `shop`.`secrets`".into()),
                ),
                ("shop".into(), "hidden".into(), None),
                (
                    "shop".into(),
                    "plain".into(),
                    Some("select `id` from `shop`.`orders`".into()),
                ),
            ],
            &FunctionPolicy::default(),
        );
        let check =
            |sql: &str| catalog.admit(&conexor_guard::check(Dialect::Mysql, sql).expect(sql));
        assert!(check("SELECT * FROM secrets").is_err());
        assert!(check("SELECT * FROM SHOP.ON_TOP").is_err());
        assert!(check("SELECT * FROM hidden").is_err());
        assert!(check("SELECT * FROM plain").is_ok());
    }
}

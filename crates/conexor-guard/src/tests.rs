//! Table-driven tests of the guard: one-line accept/refuse cases per rule, the shared
//! attack and legitimate-query files under `tests/data/`, generated oversized and deeply
//! nested input, placeholder counting, text trimming and the capped SQL.
//!
//! They check the guard's decisions only; running the attack files against real
//! databases is left to the connectors' integration tests.

use std::time::{Duration, Instant};

use expect_test::expect;

use crate::Dialect::{Mysql, Postgresql, Sqlite, Sqlserver};
use crate::{
    Dialect, FunctionPolicy, Rejection, Rule, check, check_with_params, check_with_policy,
    check_with_policy_async,
};

/// The start of `sql` for failure messages (generated input can be 100 kB).
fn head(sql: &str) -> String {
    let mut shown: String = sql.chars().take(160).collect();
    if shown.len() < sql.len() {
        shown.push_str(" …");
    }
    shown
}

#[track_caller]
fn check_ok(dialect: Dialect, sql: &str) {
    if let Err(rejection) = check(dialect, sql) {
        panic!(
            "expected {dialect} to accept:\n{}\nbut it was refused: {} ({})",
            head(sql),
            rejection.reason,
            rejection.rule.code()
        );
    }
}

#[track_caller]
fn check_denied(dialect: Dialect, sql: &str, rule: Rule) {
    match check(dialect, sql) {
        Ok(_) => panic!(
            "expected {dialect} to refuse with {rule}:\n{}\nbut it was accepted",
            head(sql)
        ),
        Err(rejection) => {
            assert_eq!(
                rejection.rule,
                rule,
                "wrong rule for {dialect}:\n{}\nreason: {}",
                head(sql),
                rejection.reason
            );
            assert_reason_style(&rejection);
        }
    }
}

#[track_caller]
fn assert_reason_style(rejection: &Rejection) {
    let reason = &rejection.reason;
    assert!(!reason.is_empty(), "empty reason for {}", rejection.rule);
    assert!(
        !reason.ends_with('.'),
        "reason ends with a period: {reason}"
    );
    assert!(
        !reason.starts_with(|c: char| c.is_ascii_uppercase()),
        "reason starts with a capital: {reason}"
    );
}

/// Entries of a data file: split on lines that are exactly `-- next`, trimmed, skipping
/// chunks made only of `--` comment lines (the file header).
fn entries(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut flush = |chunk: &mut String| {
        let trimmed = chunk.trim();
        let only_comments = trimmed
            .lines()
            .all(|line| line.trim().is_empty() || line.trim_start().starts_with("--"));
        if !only_comments {
            out.push(trimmed.to_owned());
        }
        chunk.clear();
    };
    for line in text.lines() {
        if line.trim_end() == "-- next" {
            flush(&mut current);
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    flush(&mut current);
    out
}

const ATTACKS: [(Dialect, &str); 4] = [
    (
        Postgresql,
        include_str!("../tests/data/attacks-postgresql.sql"),
    ),
    (Mysql, include_str!("../tests/data/attacks-mysql.sql")),
    (Sqlite, include_str!("../tests/data/attacks-sqlite.sql")),
    (
        Sqlserver,
        include_str!("../tests/data/attacks-sqlserver.sql"),
    ),
];

const LEGIT: [(Dialect, &str); 4] = [
    (
        Postgresql,
        include_str!("../tests/data/legit-postgresql.sql"),
    ),
    (Mysql, include_str!("../tests/data/legit-mysql.sql")),
    (Sqlite, include_str!("../tests/data/legit-sqlite.sql")),
    (Sqlserver, include_str!("../tests/data/legit-sqlserver.sql")),
];

#[test]
fn every_attack_is_refused() {
    let mut accepted = Vec::new();
    for (dialect, file) in ATTACKS {
        let cases = entries(file);
        assert!(
            cases.len() >= 70,
            "{dialect}: only {} attack entries",
            cases.len()
        );
        for sql in cases {
            match check(dialect, &sql) {
                Ok(_) => accepted.push(format!("[{dialect}] {sql}")),
                Err(rejection) => assert_reason_style(&rejection),
            }
        }
    }
    assert!(
        accepted.is_empty(),
        "attacks accepted:\n{}",
        accepted.join("\n-- next\n")
    );
}

#[test]
fn legit_queries_pass() {
    let mut refused = Vec::new();
    for (dialect, file) in LEGIT {
        let cases = entries(file);
        assert!(
            cases.len() >= 20,
            "{dialect}: only {} legit entries",
            cases.len()
        );
        for sql in cases {
            if let Err(rejection) = check(dialect, &sql) {
                refused.push(format!(
                    "[{dialect}] {sql}\n  => {}: {}",
                    rejection.rule, rejection.reason
                ));
            }
        }
    }
    assert!(
        refused.is_empty(),
        "legit queries refused:\n{}",
        refused.join("\n")
    );
}

#[test]
fn entries_parser_handles_headers_and_multiline() {
    let text = "-- header\n-- more header\n-- next\nSELECT 1\n-- next\nSELECT\n  2 -- c\n-- next\n";
    assert_eq!(entries(text), vec!["SELECT 1", "SELECT\n  2 -- c"]);
}

#[test]
fn allowed_queries() {
    for (dialect, sql) in [
        (Postgresql, "SELECT 1"),
        (Postgresql, "select 1;"),
        (Postgresql, "SELECT 1 ;  ; \n"),
        (Postgresql, "SELECT 'DROP TABLE x; DELETE' AS s -- INSERT"),
        (
            Postgresql,
            "SELECT 'pg_sleep(1)' AS s /* pg_read_file('x') */",
        ),
        (
            Postgresql,
            "SELECT sum(x) OVER (PARTITION BY a ORDER BY b ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM t",
        ),
        (
            Postgresql,
            "SELECT rank() OVER w FROM t WINDOW w AS (ORDER BY a)",
        ),
        (
            Postgresql,
            "WITH a AS (SELECT 1 AS x), b AS (SELECT x FROM a) SELECT * FROM b",
        ),
        (
            Postgresql,
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5) SELECT * FROM c",
        ),
        (
            Postgresql,
            "SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY x) FROM t",
        ),
        (Postgresql, "EXPLAIN (FORMAT JSON) SELECT * FROM t"),
        (
            Postgresql,
            "EXPLAIN (FORMAT JSON, VERBOSE, COSTS OFF, SETTINGS, BUFFERS) SELECT 1",
        ),
        (Postgresql, "EXPLAIN SELECT 1"),
        (Postgresql, "EXPLAIN VERBOSE SELECT 1"),
        (
            Postgresql,
            "SELECT 1 UNION SELECT 2 INTERSECT SELECT 2 EXCEPT SELECT 3",
        ),
        (Postgresql, "VALUES (1), (2)"),
        (Postgresql, "SELECT CASE WHEN a THEN 1 ELSE 2 END FROM t"),
        (
            Postgresql,
            "SELECT now() - interval '1 day', date_trunc('day', now()), age(now())",
        ),
        (Postgresql, "SELECT * FROM generate_series(1, 3) AS g(n)"),
        (Postgresql, "SELECT generate_series(1, 3)"),
        (Postgresql, "SELECT * FROM information_schema.columns"),
        (Postgresql, "SELECT * FROM pg_catalog.pg_tables"),
        (Postgresql, "SELECT * FROM pg_stat_activity"),
        (Postgresql, "SELECT data->>'x', data#>>'{a,b}' FROM t"),
        (Postgresql, "SELECT x::int, y::text[] FROM t"),
        (
            Postgresql,
            "SELECT * FROM t WHERE a LIKE 'x%' AND b ILIKE '%y'",
        ),
        (Postgresql, "SELECT * FROM t WHERE a IN (SELECT b FROM u)"),
        (Postgresql, "SELECT * FROM t WHERE EXISTS (SELECT 1)"),
        (
            Postgresql,
            "SELECT * FROM t CROSS JOIN LATERAL (SELECT t.a) l",
        ),
        (Postgresql, "SELECT make_interval(days => 1)"),
        (Postgresql, "SELECT lower('A'), log(2), lo"),
        (Postgresql, "SELECT pg_sleep FROM t"),
        (Postgresql, "SELECT * FROM pg_file_settings"),
        (Mysql, "SELECT `a` FROM `t` WHERE `b` = ? LIMIT ?"),
        (Mysql, "SELECT sleep FROM t"),
        (Mysql, "SELECT 'sleep(10)'"),
        (Mysql, "SELECT 'a /* b */ c'"),
        (Mysql, "SELECT 1 /* plain comment */"),
        (Mysql, "EXPLAIN FORMAT=TREE SELECT 1"),
        (Mysql, "SELECT 1 -- comment\n"),
        (Mysql, "SELECT 1 --\tcomment\n, 2"),
        (Mysql, "SELECT 1 --\r\n"),
        (Mysql, "SELECT 1 - -1, 2---1"),
        (Mysql, "SELECT * FROM t LOCK_TABLE_NAME"),
        (Sqlite, "SELECT strftime('%Y', 'now')"),
        (Sqlite, "SELECT * FROM t WHERE a = ? AND b = ?"),
        (
            Sqlite,
            "SELECT sqlite_version(), sqlite_compileoption_get(0)",
        ),
        (Sqlite, "EXPLAIN QUERY PLAN SELECT 1"),
    ] {
        check_ok(dialect, sql);
    }
}

#[test]
fn refused_queries_by_rule() {
    use Rule::*;
    for (dialect, sql, rule) in [
        // empty
        (Postgresql, "", Empty),
        (Postgresql, "  \n\t ", Empty),
        (Postgresql, "-- just a comment", Empty),
        (Postgresql, "/* c */ ; ;", Empty),
        (Mysql, "# hash comment", Empty),
        (Sqlite, ";", Empty),
        // nul byte
        (Postgresql, "SELECT 1\0", NulByte),
        (Sqlite, "SELECT '\0'", NulByte),
        // executable comments and hints (mysql only)
        (Mysql, "/*!50000 DELETE FROM t */", ExecutableComment),
        (Mysql, "/*M!100000 DROP TABLE t */", ExecutableComment),
        (Mysql, "/*m!100000 DROP TABLE t */", ExecutableComment),
        (Mysql, "SELECT /*!50000 sleep(10) */ 1", ExecutableComment),
        (Mysql, "SELECT 1 /*!*/", ExecutableComment),
        (Mysql, "SELECT '/*!'", ExecutableComment),
        (
            Mysql,
            "SELECT /*+ MAX_EXECUTION_TIME(0) */ 1",
            ExecutableComment,
        ),
        // `--` comments that mysql and the parser would read differently
        (
            Mysql,
            "SELECT a --\u{a0}x, sleep(10)\nFROM t",
            UnsupportedSyntax,
        ),
        (Mysql, "SELECT a --\u{85}x\nFROM t", UnsupportedSyntax),
        (
            Mysql,
            "SELECT 1 --\x01'\n, sleep(10) -- '",
            UnsupportedSyntax,
        ),
        (
            Mysql,
            "SELECT 1 --\x1f'\n, sleep(10) -- '",
            UnsupportedSyntax,
        ),
        // parse errors
        (Postgresql, "SELEC 1", NotAQuery),
        (Postgresql, "SELECT 1 +", Parse),
        (Postgresql, "SELECT (1", Parse),
        (Postgresql, "SELECT 'unterminated", Parse),
        (Postgresql, "SELECT ?", Parse),
        (Postgresql, "SELECT * FROM t WHERE a = ?", Parse),
        // multiple statements
        (Postgresql, "SELECT 1; SELECT 2", MultipleStatements),
        (Postgresql, "SELECT 1; DELETE FROM t", MultipleStatements),
        (Mysql, "COMMIT; DROP TABLE x", MultipleStatements),
        (Sqlite, "SELECT 1; ATTACH 'x' AS x", MultipleStatements),
        // not a query
        (Postgresql, "INSERT INTO t VALUES (1)", NotAQuery),
        (Postgresql, "UPDATE t SET a = 1", NotAQuery),
        (Postgresql, "DELETE FROM t", NotAQuery),
        (Postgresql, "DROP TABLE t", NotAQuery),
        (Postgresql, "TRUNCATE t", NotAQuery),
        (Postgresql, "COPY t TO PROGRAM 'id'", NotAQuery),
        (Postgresql, "GRANT ALL ON t TO PUBLIC", NotAQuery),
        (Postgresql, "SET TRANSACTION READ WRITE", NotAQuery),
        (Postgresql, "BEGIN", NotAQuery),
        (Postgresql, "DO $$BEGIN END$$", NotAQuery),
        (Postgresql, "CALL p()", NotAQuery),
        (Postgresql, "VACUUM", NotAQuery),
        (Postgresql, "LISTEN x", NotAQuery),
        (Postgresql, "WITH x AS (SELECT 1) DELETE FROM t", NotAQuery),
        (Mysql, "SET GLOBAL read_only = 0", NotAQuery),
        (Mysql, "HANDLER t OPEN", NotAQuery),
        (Mysql, "SHUTDOWN", NotAQuery),
        (Mysql, "DESCRIBE t", NotAQuery),
        (Sqlite, "PRAGMA writable_schema=1", NotAQuery),
        (Sqlite, "ATTACH DATABASE '/tmp/x.db' AS x", NotAQuery),
        (Sqlite, "VACUUM INTO '/tmp/x'", NotAQuery),
        (Postgresql, "EXPLAIN DELETE FROM t", NotAQuery),
        // data-modifying CTEs
        (
            Postgresql,
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            DataModifyingCte,
        ),
        (
            Postgresql,
            "WITH d AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM d",
            DataModifyingCte,
        ),
        (
            Postgresql,
            "WITH d AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM d",
            DataModifyingCte,
        ),
        (
            Postgresql,
            "SELECT * FROM (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) s",
            DataModifyingCte,
        ),
        (
            Postgresql,
            "SELECT (WITH d AS (DELETE FROM t RETURNING 1) SELECT 1 FROM d)",
            DataModifyingCte,
        ),
        (
            Postgresql,
            "EXPLAIN WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            DataModifyingCte,
        ),
        // select into
        (Postgresql, "SELECT * INTO newt FROM t", SelectInto),
        (
            Postgresql,
            "SELECT * INTO TEMPORARY newt FROM t",
            SelectInto,
        ),
        (Postgresql, "SELECT * FROM (SELECT 1 INTO x) s", SelectInto),
        (Mysql, "SELECT 1 INTO @v", SelectInto),
        (Mysql, "SELECT 1 INTO OUTFILE '/tmp/x'", SelectInto),
        (Mysql, "SELECT 1 INTO DUMPFILE '/tmp/x'", SelectInto),
        (Mysql, "SELECT a FROM t INTO @v", SelectInto),
        // locking clauses
        (Postgresql, "SELECT * FROM t FOR UPDATE", LockingClause),
        (Postgresql, "SELECT * FROM t FOR SHARE", LockingClause),
        (
            Postgresql,
            "SELECT * FROM t FOR NO KEY UPDATE",
            LockingClause,
        ),
        (Postgresql, "SELECT * FROM t FOR KEY SHARE", LockingClause),
        (
            Postgresql,
            "SELECT * FROM t FOR UPDATE OF t SKIP LOCKED",
            LockingClause,
        ),
        (
            Postgresql,
            "SELECT * FROM (SELECT * FROM t FOR UPDATE) s",
            LockingClause,
        ),
        (
            Postgresql,
            "WITH l AS (SELECT * FROM t FOR SHARE) SELECT * FROM l",
            LockingClause,
        ),
        (Mysql, "SELECT * FROM t FOR UPDATE", LockingClause),
        (Mysql, "SELECT * FROM t LOCK IN SHARE MODE", LockingClause),
        // denied functions, everywhere and in every spelling
        (Postgresql, "SELECT pg_sleep(1)", DeniedFunction),
        (Postgresql, "SELECT PG_SLEEP(1)", DeniedFunction),
        (Postgresql, "SELECT pg_catalog.pg_sleep(1)", DeniedFunction),
        (
            Postgresql,
            // Quoted, PG_SLEEP is another function than pg_sleep: not a built-in.
            "SELECT \"pg_catalog\".\"PG_SLEEP\"(1)",
            UnknownFunction,
        ),
        (Postgresql, "SELECT public.pg_sleep(1)", DeniedFunction),
        (Postgresql, "SELECT pg_sleep /* x */ (1)", DeniedFunction),
        (Postgresql, "SELECT pg_sleep\n(1)", DeniedFunction),
        (
            Postgresql,
            "SELECT 1 --c\r, pg_sleep(1)\n FROM t",
            DeniedFunction,
        ),
        (Postgresql, "SELECT pg_sleep_for('1 hour')", DeniedFunction),
        (
            Postgresql,
            "SELECT 1 WHERE pg_sleep(1) IS NULL",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT 1 FROM t GROUP BY pg_sleep(1)",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT 1 FROM t HAVING count(pg_sleep(1)) > 0",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT * FROM t ORDER BY pg_sleep(1)",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT CASE WHEN a THEN pg_sleep(1) END FROM t",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT coalesce(pg_sleep(1), 1)",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT sum(a) OVER (ORDER BY pg_sleep(1)) FROM t",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT * FROM t JOIN u ON pg_sleep(1) IS NULL",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT * FROM t LIMIT (SELECT pg_sleep(1))::int",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT * FROM pg_read_file('/etc/passwd')",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT * FROM pg_catalog.pg_ls_dir('.')",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT * FROM t, LATERAL pg_ls_dir(t.p) d",
            DeniedFunction,
        ),
        (
            Postgresql,
            "WITH x AS (SELECT pg_read_file('f')) SELECT * FROM x",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT (SELECT lo_import('/etc/passwd'))",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT 1 UNION SELECT nextval('s')",
            DeniedFunction,
        ),
        (Postgresql, "SELECT dblink_exec('x', 'y')", DeniedFunction),
        (
            Postgresql,
            "SELECT set_config('a', 'b', false)",
            DeniedFunction,
        ),
        (Postgresql, "SELECT pg_advisory_lock(1)", DeniedFunction),
        (
            Postgresql,
            "SELECT pg_create_physical_replication_slot('s')",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT query_to_xml_and_xmlschema('DELETE FROM t', true, true, '')",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT pg_stat_reset_shared('bgwriter')",
            DeniedFunction,
        ),
        (Postgresql, "SELECT sleep(1)", DeniedFunction),
        (Postgresql, "EXPLAIN SELECT pg_sleep(1)", DeniedFunction),
        (Postgresql, "SELECT a.b.pg_sleep(1)", DeniedFunction),
        (
            Postgresql,
            "SELECT (SELECT 1 FROM pg_ls_dir('.') LIMIT 1)",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT * FROM t WHERE a = ANY (SELECT pg_sleep(1))",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT * FROM t WINDOW w AS (ORDER BY pg_sleep(1))",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT array_agg(a ORDER BY pg_sleep(1)) FROM t",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT count(*) FILTER (WHERE pg_sleep(1) IS NULL) FROM t",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT * FROM t WHERE a = (VALUES (pg_sleep(1)))",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT * FROM t LIMIT 1 OFFSET (SELECT 1 FROM pg_ls_dir('.'))",
            DeniedFunction,
        ),
        (
            Postgresql,
            "SELECT * FROM json_to_record(pg_read_file('x')::json) AS r(a int)",
            DeniedFunction,
        ),
        (Mysql, "SELECT sleep(10)", DeniedFunction),
        (Mysql, "SELECT SLEEP(10)", DeniedFunction),
        (Mysql, "SELECT `sleep`(10)", DeniedFunction),
        (Mysql, "SELECT db.sleep(10)", DeniedFunction),
        (
            Mysql,
            "SELECT benchmark(100000000, md5('x'))",
            DeniedFunction,
        ),
        (Mysql, "SELECT load_file('/etc/passwd')", DeniedFunction),
        (Mysql, "SELECT get_lock('a', 1)", DeniedFunction),
        (Mysql, "SELECT IF(1, sleep(1), 0)", DeniedFunction),
        (
            Mysql,
            "SELECT * FROM t WHERE a = 1 AND (SELECT sleep(1))",
            DeniedFunction,
        ),
        (Sqlite, "SELECT load_extension('x')", DeniedFunction),
        (Sqlite, "SELECT writefile('/tmp/x', 'y')", DeniedFunction),
        (Sqlite, "SELECT readfile('/etc/passwd')", DeniedFunction),
        (Sqlite, "SELECT * FROM fsdir('/')", DeniedFunction),
        (Sqlite, "SELECT zeroblob(1000000000)", DeniedFunction),
        (Sqlite, "SELECT randomblob(1000000000)", DeniedFunction),
        (Sqlite, "SELECT \"LOAD_EXTENSION\"('x')", DeniedFunction),
        // variable assignment
        (Mysql, "SELECT @v := 1", VariableAssignment),
        (Mysql, "SELECT a, @r := @r + 1 FROM t", VariableAssignment),
        // explain
        (Postgresql, "EXPLAIN ANALYZE SELECT 1", ExplainAnalyze),
        (Postgresql, "EXPLAIN (ANALYZE) SELECT 1", ExplainAnalyze),
        (
            Postgresql,
            "EXPLAIN (analyze false) SELECT 1",
            ExplainAnalyze,
        ),
        (
            Postgresql,
            "EXPLAIN (FORMAT JSON, ANALYZE true) SELECT 1",
            ExplainAnalyze,
        ),
        (Postgresql, "EXPLAIN (TIMING) SELECT 1", ExplainOption),
        (Postgresql, "EXPLAIN (SERIALIZE) SELECT 1", ExplainOption),
        (Mysql, "EXPLAIN ANALYZE SELECT 1", ExplainAnalyze),
        // placeholder style
        (Postgresql, "SELECT $0", PlaceholderStyle),
        (Postgresql, "SELECT $99999", PlaceholderStyle),
        (Sqlite, "SELECT ?1", PlaceholderStyle),
        (Sqlite, "SELECT :name", PlaceholderStyle),
        (Sqlite, "SELECT @name", PlaceholderStyle),
        (Sqlite, "SELECT $name", PlaceholderStyle),
        // nesting
        (
            Postgresql,
            &format!("SELECT {}1{}", "(".repeat(60), ")".repeat(60)),
            TooDeep,
        ),
    ] {
        check_denied(dialect, sql, rule);
    }
}

#[test]
fn reasons_read_well() {
    let show = |dialect: Dialect, sql: &str| match check(dialect, sql) {
        Ok(_) => "accepted".to_owned(),
        Err(r) => format!("{}: {}", r.rule.code(), r.reason),
    };
    let lines = [
        show(Postgresql, "SELECT pg_read_file('/etc/passwd')"),
        show(Postgresql, "INSERT INTO t VALUES (1)"),
        show(Postgresql, "CREATE OR REPLACE VIEW v AS SELECT 1"),
        show(Postgresql, "ALTER SYSTEM SET x = 1"),
        show(
            Postgresql,
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        ),
        show(Postgresql, "SELECT * FROM t FOR UPDATE"),
        show(Postgresql, "SELECT * INTO x FROM t"),
        show(Postgresql, "EXPLAIN ANALYZE SELECT 1"),
        show(Postgresql, "SELECT 1; SELECT 2"),
        show(Postgresql, "SELECT 1 +"),
        show(Mysql, "SELECT /*!50000 1 */"),
        show(Mysql, "SELECT sleep(1)"),
        show(Sqlite, "SELECT :a"),
    ]
    .join("\n");
    expect![[r#"
        guard.denied_function: function pg_read_file is not allowed: it reads or writes files on the database server
        guard.not_a_query: only SELECT queries are allowed; got INSERT
        guard.not_a_query: only SELECT queries are allowed; got CREATE OR REPLACE VIEW
        guard.not_a_query: only SELECT queries are allowed; got ALTER SYSTEM
        guard.data_modifying_cte: a data-modifying DELETE inside a query is not allowed: only reads are permitted
        guard.locking_clause: locking clause FOR UPDATE is not allowed: queries must not lock rows
        guard.select_into: writing results with SELECT … INTO is not allowed: it creates a table, file or variable
        guard.explain_analyze: explain with ANALYZE is not allowed: it runs the statement; use plain EXPLAIN
        guard.multiple_statements: only one statement is allowed; got 2: send them one at a time
        guard.parse: could not parse the query: Expected: an expression, found: the end of the query
        guard.executable_comment: mysql executable comments (/*! … */ and /*M! … */) are not allowed: their content would run unchecked
        guard.denied_function: function sleep is not allowed: it makes the database sleep or burn cpu on purpose
        guard.placeholder_style: placeholder :a is not supported on sqlite: use plain ? placeholders"#]]
    .assert_eq(&lines);
}

#[test]
fn too_long_is_refused_fast() {
    let big = format!("SELECT '{}'", "x".repeat(200 * 1024));
    check_denied(Postgresql, &big, Rule::TooLong);

    let huge = "SELECT 1 + ".repeat(1024 * 1024);
    let started = Instant::now();
    for dialect in [Postgresql, Mysql, Sqlite] {
        check_denied(dialect, &huge, Rule::TooLong);
    }
    assert!(started.elapsed() < Duration::from_millis(50));

    // Exactly at the limit is still parsed (and here accepted).
    let at_limit = format!("SELECT '{}'", "x".repeat(crate::MAX_SQL_BYTES - 9));
    assert_eq!(at_limit.len(), crate::MAX_SQL_BYTES);
    check_ok(Postgresql, &at_limit);
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let n = 1000;
    for dialect in [Postgresql, Mysql, Sqlite] {
        check_denied(
            dialect,
            &format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n)),
            Rule::TooDeep,
        );
        check_denied(
            dialect,
            &format!("SELECT {}1{}", "(SELECT ".repeat(n), ")".repeat(n)),
            Rule::TooDeep,
        );
        check_denied(
            dialect,
            &format!(
                "SELECT * FROM {}SELECT 1{} AS x",
                "(".repeat(n),
                ")".repeat(n)
            ),
            Rule::TooDeep,
        );
        check_denied(
            dialect,
            &format!("SELECT {}1{}", "abs(".repeat(n), ")".repeat(n)),
            Rule::TooDeep,
        );
        check_denied(
            dialect,
            &format!("SELECT {}1", "- ".repeat(n)),
            Rule::TooDeep,
        );
        // sqlparser reports this one as a plain syntax error once it is too deep.
        let cases = format!(
            "SELECT {}1{}",
            "CASE WHEN 1 THEN ".repeat(n),
            " END".repeat(n)
        );
        assert!(check(dialect, &cases).is_err());
    }
    check_ok(
        Postgresql,
        &format!(
            "SELECT {}1{}",
            "CASE WHEN 1 THEN ".repeat(10),
            " END".repeat(10)
        ),
    );
    // Moderate nesting is fine.
    check_ok(
        Postgresql,
        &format!("SELECT {}1{}", "(SELECT ".repeat(10), ")".repeat(10)),
    );
}

#[test]
fn long_operator_chains_are_refused_quickly() {
    let max = crate::MAX_SQL_BYTES - 20;
    let cases = [
        (Postgresql, format!("SELECT 1{}", "+1".repeat(max / 2))),
        (Postgresql, format!("SELECT 1{}", "::int".repeat(max / 5))),
        (Postgresql, format!("SELECT 1{}", " AND 1".repeat(max / 6))),
        (
            Postgresql,
            format!("SELECT 1{}", " UNION SELECT 1".repeat(max / 15)),
        ),
        (Mysql, format!("SELECT 1{}", " DIV 1".repeat(max / 6))),
        (Mysql, format!("SELECT 1{}", " || 1".repeat(max / 5))),
        (Sqlite, format!("SELECT 1{}", " GLOB 1".repeat(max / 7))),
        (Sqlite, format!("SELECT 1{}", " REGEXP 1".repeat(max / 9))),
    ];
    for (dialect, sql) in cases {
        assert!(sql.len() <= crate::MAX_SQL_BYTES);
        let started = Instant::now();
        check_denied(dialect, &sql, Rule::TooDeep);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(10),
            "{dialect}: {} took {took:?}",
            &sql[..40]
        );
    }
    // Ordinary lengths of the same shapes pass.
    check_ok(Postgresql, &format!("SELECT 1{}", "+1".repeat(200)));
    check_ok(
        Postgresql,
        &format!("SELECT 1{}", " UNION SELECT 1".repeat(100)),
    );
    check_ok(Mysql, &format!("SELECT 1{}", " DIV 1".repeat(20)));
}

#[test]
fn many_flat_items_are_fine() {
    let list = (0..5000)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    check_ok(Postgresql, &format!("SELECT * FROM t WHERE a IN ({list})"));
    let cols = (0..2000)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    check_ok(Mysql, &format!("SELECT {cols} FROM t"));
}

#[test]
fn placeholders_are_counted_from_the_ast() {
    let count = |dialect, sql| match check(dialect, sql) {
        Ok(q) => q.placeholder_count(),
        Err(r) => panic!("{sql}: {}", r.reason),
    };
    assert_eq!(count(Postgresql, "SELECT 1"), 0);
    assert_eq!(count(Postgresql, "SELECT $1"), 1);
    assert_eq!(count(Postgresql, "SELECT $1, $1, $2"), 2);
    assert_eq!(count(Postgresql, "SELECT $3"), 3);
    assert_eq!(count(Postgresql, "SELECT '$5', $1 -- $9"), 1);
    assert_eq!(
        count(
            Postgresql,
            "SELECT * FROM t WHERE a = $1 LIMIT $2 OFFSET $3"
        ),
        3
    );
    assert_eq!(
        count(Postgresql, "SELECT data ? 'k' FROM t WHERE a = $1"),
        1
    );
    assert_eq!(
        count(
            Postgresql,
            "WITH x AS (SELECT $2 AS v) SELECT v FROM x WHERE v > $1"
        ),
        2
    );
    assert_eq!(count(Mysql, "SELECT ?, '?', \"?\", `?` FROM t LIMIT ?"), 2);
    assert_eq!(count(Mysql, "SELECT ? -- ?"), 1);
    assert_eq!(count(Sqlite, "SELECT ? /* ? */, '?', ?"), 2);
    assert_eq!(
        count(
            Sqlite,
            "SELECT * FROM t WHERE a IN (SELECT b FROM u WHERE c = ?) AND d = ?"
        ),
        2
    );
}

#[test]
fn check_with_params_requires_the_right_count() {
    assert!(check_with_params(Postgresql, "SELECT $1, $2", 2).is_ok());
    assert!(check_with_params(Mysql, "SELECT ?", 1).is_ok());
    assert!(check_with_params(Sqlite, "SELECT 1", 0).is_ok());
    for (dialect, sql, given) in [
        (Postgresql, "SELECT $1, $2", 1),
        (Postgresql, "SELECT $2", 1),
        (Postgresql, "SELECT 1", 1),
        (Mysql, "SELECT ?, ?", 3),
        (Sqlite, "SELECT ?", 0),
    ] {
        match check_with_params(dialect, sql, given) {
            Ok(_) => panic!("{sql} with {given} params was accepted"),
            Err(r) => {
                assert_eq!(r.rule, Rule::PlaceholderMismatch, "{sql}: {}", r.reason);
                assert_reason_style(&r);
            }
        }
    }
    let rejection = check_with_params(Mysql, "SELECT ?, ?", 1).err();
    assert_eq!(
        rejection.map(|r| r.reason),
        Some("the query has 2 placeholders but 1 parameter was given".to_owned())
    );
    // Other rules win over the count.
    assert_eq!(
        check_with_params(Postgresql, "DELETE FROM t", 0)
            .err()
            .map(|r| r.rule),
        Some(Rule::NotAQuery)
    );
}

#[test]
fn sql_is_trimmed_of_trailing_noise_only() {
    let sql = |dialect, text| match check(dialect, text) {
        Ok(q) => q.sql().to_owned(),
        Err(r) => panic!("{text}: {}", r.reason),
    };
    assert_eq!(sql(Postgresql, "SELECT 1"), "SELECT 1");
    assert_eq!(sql(Postgresql, "  SELECT 1 ;\n"), "SELECT 1");
    assert_eq!(sql(Postgresql, "SELECT 1;;  ;"), "SELECT 1");
    assert_eq!(sql(Postgresql, "SELECT 1 -- trailing"), "SELECT 1");
    assert_eq!(sql(Postgresql, "SELECT 1; -- trailing\n"), "SELECT 1");
    assert_eq!(sql(Postgresql, "SELECT 1 /* x */ ;"), "SELECT 1");
    assert_eq!(
        sql(Postgresql, "-- leading\nSELECT 'é€😀' AS \"ü\"\n-- c\n"),
        "-- leading\nSELECT 'é€😀' AS \"ü\""
    );
    assert_eq!(
        sql(Postgresql, "SELECT\r\n  'a;b'\r\n;"),
        "SELECT\r\n  'a;b'"
    );
    assert_eq!(sql(Mysql, "SELECT 1 # hash\n"), "SELECT 1");
    assert_eq!(sql(Sqlite, "SELECT 1; "), "SELECT 1");
}

#[test]
fn capped_sql_appends_or_wraps_and_leaves_explain_alone() {
    let capped = |d, q: &str, n| check(d, q).map(|c| c.capped_sql(n)).ok();
    // No limit of its own: the cap is appended, so ORDER BY stays outermost.
    assert_eq!(
        capped(Postgresql, "SELECT a FROM t ORDER BY a; -- done", 100).as_deref(),
        Some("SELECT a FROM t ORDER BY a LIMIT 101")
    );
    assert_eq!(
        capped(Mysql, "SELECT 1 -- note", 0).as_deref(),
        Some("SELECT 1 LIMIT 1")
    );
    assert_eq!(
        capped(Sqlite, "SELECT 1", u64::MAX),
        Some(format!("SELECT 1 LIMIT {}", u64::MAX))
    );
    // Its own limit, offset or fetch: wrapped, the inner limit keeps the order.
    for (d, q) in [
        (Mysql, "SELECT a FROM t ORDER BY a LIMIT 500"),
        (Postgresql, "SELECT a FROM t ORDER BY a OFFSET 5"),
        (
            Postgresql,
            "SELECT a FROM t ORDER BY a FETCH FIRST 5 ROWS ONLY",
        ),
    ] {
        assert_eq!(
            capped(d, q, 10),
            Some(format!("SELECT * FROM ({q}) AS _cx LIMIT 11"))
        );
    }
    let explain = check(Postgresql, "EXPLAIN (FORMAT JSON) SELECT 1;").ok();
    assert_eq!(
        explain.as_ref().map(|q| (q.capped_sql(10), q.is_explain())),
        Some(("EXPLAIN (FORMAT JSON) SELECT 1".to_owned(), true))
    );
}

#[test]
fn capped_sql_is_itself_accepted() {
    for (dialect, file) in LEGIT {
        for sql in entries(file) {
            let Ok(checked) = check(dialect, &sql) else {
                continue;
            };
            if checked.is_explain() {
                continue;
            }
            let capped = checked.capped_sql(10);
            if let Err(r) = check(dialect, &capped) {
                panic!(
                    "[{dialect}] capped form refused: {capped}\n  => {}",
                    r.reason
                );
            }
        }
    }
}

#[test]
fn rule_codes_are_stable_and_unique() {
    use Rule::*;
    let rules = [
        Empty,
        TooLong,
        NulByte,
        ExecutableComment,
        Parse,
        TooDeep,
        MultipleStatements,
        NotAQuery,
        DataModifyingCte,
        SelectInto,
        LockingClause,
        DeniedFunction,
        VariableAssignment,
        ExplainAnalyze,
        ExplainOption,
        PlaceholderStyle,
        PlaceholderMismatch,
        UnsupportedSyntax,
        Internal,
    ];
    let mut codes: Vec<&str> = rules.iter().map(Rule::code).collect();
    for code in &codes {
        let rest = code.strip_prefix("guard.").unwrap_or_default();
        assert!(
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "bad code {code}"
        );
    }
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), rules.len());
    assert_eq!(Rule::DeniedFunction.code(), "guard.denied_function");
    assert_eq!(Rule::DeniedFunction.to_string(), "guard.denied_function");
}

#[test]
fn rejection_is_an_error_that_displays_its_reason() {
    let rejection = check(Postgresql, "DELETE FROM t").err();
    let shown = rejection.as_ref().map(ToString::to_string);
    assert_eq!(
        shown.as_deref(),
        Some("only SELECT queries are allowed; got DELETE")
    );
    let boxed: Option<Box<dyn std::error::Error>> = rejection.map(|r| Box::new(r) as _);
    assert!(boxed.is_some());
}

#[test]
fn dialects_display_lowercase() {
    assert_eq!(Postgresql.to_string(), "postgresql");
    assert_eq!(Mysql.to_string(), "mysql");
    assert_eq!(Sqlite.to_string(), "sqlite");
}

#[test]
fn relations_read_are_reported_without_cte_names() {
    let q = check(
        Dialect::Postgresql,
        "WITH recent AS (SELECT * FROM Orders WHERE id > 10) SELECT r.id FROM recent r JOIN sales.customers c ON c.id = r.customer_id WHERE c.id IN (SELECT customer_id FROM \"Refunds\")",
    )
    .unwrap();
    assert_eq!(q.relations(), ["orders", "refunds", "sales.customers"]);
}

/// Functions are judged by the function the database reaches, not by the spelling:
/// every dangerous class (SQL-text executors, files, network, locks, processes,
/// sequences, settings, large objects, sleep) in every spelling the dialect accepts
/// (quoted, case, schema-qualified, field-selection notation, extension schemas).
#[test]
fn functions_are_judged_by_identity_in_every_spelling() {
    use Rule::{DeniedFunction, UnknownFunction};
    let dangerous_pg = [
        "pg_sleep(1)",
        "query_to_xml('delete from t', true, true, '')",
        "cursor_to_xml('c', 1, true, true, '')",
        "ts_stat('delete from t')",
        "table_to_xml('t', true, true, '')",
        "pg_read_file('/etc/passwd')",
        "pg_ls_dir('.')",
        "pg_stat_file('x')",
        "lo_import('/etc/passwd')",
        "lo_get(1)",
        "pg_advisory_lock(1)",
        "pg_try_advisory_lock(1)",
        "pg_terminate_backend(1)",
        "pg_cancel_backend(1)",
        "nextval('s')",
        "setval('s', 1)",
        "currval('s')",
        "set_config('work_mem', '1GB', false)",
        "setseed(0.5)",
        "txid_current()",
        "pg_notify('c', 'x')",
        "pg_reload_conf()",
    ];
    for call in dangerous_pg {
        let name = call.split('(').next().unwrap_or_default();
        let args = &call[name.len()..];
        for spelling in [
            format!("{name}{args}"),
            format!("{}{args}", name.to_uppercase()),
            format!("\"{name}\"{args}"),
            format!("pg_catalog.{name}{args}"),
            format!("\"pg_catalog\".\"{name}\"{args}"),
            format!("PG_CATALOG.{}{args}", name.to_uppercase()),
            format!("{name} /* c */ {args}"),
        ] {
            check_denied(Postgresql, &format!("SELECT {spelling}"), DeniedFunction);
            check_denied(
                Postgresql,
                &format!(
                    "SELECT * FROM orders WHERE id IN (SELECT 1 FROM (VALUES ({spelling})) v)"
                ),
                DeniedFunction,
            );
        }
    }
    // Field-selection (attribute) notation calls the function on its operand.
    for sql in [
        "SELECT (1).pg_sleep",
        "SELECT (5.0).PG_SLEEP",
        "SELECT o.pg_terminate_backend FROM orders o",
        "SELECT orders.lo_unlink FROM orders",
        "SELECT ('/etc/passwd').pg_read_file",
        "SELECT (x).\"pg_sleep\" FROM (SELECT 1 AS x) s",
        "SELECT ('s').nextval",
    ] {
        check_denied(Postgresql, sql, DeniedFunction);
    }
    // Extensions, wherever installed: never allowed, even when an admin lists them.
    let lenient = FunctionPolicy::new([
        "dblink_exec",
        "public.dblink_exec",
        "ext.dblink",
        "crosstab",
        "public.pg_file_write",
    ])
    .unwrap();
    for sql in [
        "SELECT dblink_exec('dbname=shop', 'DELETE FROM orders')",
        "SELECT public.dblink_exec('dbname=shop', 'DELETE FROM orders')",
        "SELECT \"dblink_exec\"('dbname=shop', 'DELETE FROM orders')",
        "SELECT * FROM ext.dblink('dbname=shop', 'SELECT 1') AS t(x int)",
        "SELECT * FROM crosstab('SELECT 1, 2, 3') AS t(a int, b int)",
        "SELECT * FROM public.connectby('t', 'a', 'b', '1', 0) AS t(a int, b int, l int)",
        "SELECT public.pg_file_write('/tmp/x', 'y', false)",
        "SELECT pg_logdir_ls()",
    ] {
        let refused = crate::check_with_policy(Postgresql, sql, None, &lenient).expect_err(sql);
        assert_eq!(refused.rule, DeniedFunction, "{sql}: {}", refused.reason);
    }
    // Not a built-in: a user-defined function, refused unless allow-listed.
    for sql in [
        "SELECT evil(1)",
        "SELECT public.evil(1)",
        "SELECT * FROM evil_rows()",
        "SELECT * FROM (VALUES (public.evil(1))) v",
        // Quoted, these are function names, not the COALESCE/GREATEST constructs.
        "SELECT \"coalesce\"(1, 2)",
        "SELECT \"greatest\"(1, 2)",
        "SELECT \"LOWER\"('A')",
        "SELECT pg_catalog.coalesce(1, 2)",
    ] {
        check_denied(Postgresql, sql, UnknownFunction);
    }
    check_denied(Postgresql, "SELECT a.b.c.lower('x')", DeniedFunction);
    check_denied(Postgresql, "SELECT 1 OPERATOR(public.+) 2", DeniedFunction);
    for sql in [
        "SELECT lower('A'), LOWER('A'), \"lower\"('A'), pg_catalog.lower('A')",
        "SELECT coalesce(NULL, 1), greatest(1, 2), nullif(1, 2), COALESCE(1, 2)",
        "SELECT now(), current_date, random(), count(*) FROM orders",
        "SELECT o.id, (o.total).x FROM orders o",
        "SELECT 1 OPERATOR(pg_catalog.+) 2",
    ] {
        check_ok(Postgresql, sql);
    }

    // MySQL and MariaDB: names fold in every spelling; db.f is a stored function.
    for sql in [
        "SELECT SLEEP(1)",
        "SELECT `sleep`(1)",
        "SELECT `SLEEP` (1)",
        "SELECT Benchmark(1000000, md5('x'))",
        "SELECT LOAD_FILE('/etc/passwd')",
        "SELECT `load_file`('/etc/passwd')",
        "SELECT shop.load_file('/etc/passwd')",
        "SELECT GET_LOCK('a', 0)",
        "SELECT last_insert_id(5)",
        "SELECT LAST_INSERT_ID(id) FROM orders",
        "SELECT nextval(s)",
        "SELECT sys_exec('id')",
        "SELECT mysql.sys_exec('id')",
    ] {
        check_denied(Mysql, sql, DeniedFunction);
    }
    for sql in [
        "SELECT read_secret()",
        "SELECT shop.read_secret()",
        "SELECT `shop`.`read_secret`()",
    ] {
        check_denied(Mysql, sql, UnknownFunction);
    }
    check_denied(Mysql, "SELECT a.b.c(1)", DeniedFunction);
    check_ok(
        Mysql,
        "SELECT `LOWER`('A'), Date_Format(NOW(), '%Y'), IFNULL(NULL, 1)",
    );

    // SQLite: names fold in every spelling; there are no schema-qualified functions.
    for sql in [
        "SELECT \"load_extension\"('x')",
        "SELECT LOAD_EXTENSION('x')",
        "SELECT [readfile]('/etc/passwd')",
        "SELECT `writefile`('/tmp/x', 'y')",
        "SELECT eval('DELETE FROM t')",
        "SELECT main.abs(1)",
    ] {
        check_denied(Sqlite, sql, DeniedFunction);
    }
    check_denied(Sqlite, "SELECT app_defined(1)", UnknownFunction);
    check_ok(
        Sqlite,
        "SELECT \"ABS\"(-1), upper('a'), json_extract('{}', '$.a')",
    );
}

#[test]
fn the_admin_allow_list_admits_user_functions_by_exact_name() {
    let policy = FunctionPolicy::new(["public.safe_fn", "plain_fn"]).unwrap();
    let checked = crate::check_with_policy(
        Postgresql,
        "SELECT public.safe_fn(1), plain_fn(2)",
        None,
        &policy,
    )
    .unwrap();
    assert_eq!(checked.user_functions(), ["public.safe_fn", "plain_fn"]);
    // An unqualified entry does not admit another schema's function, nor the reverse.
    for sql in [
        "SELECT safe_fn(1)",
        "SELECT other.plain_fn(1)",
        "SELECT \"SAFE_FN\"(1)",
    ] {
        let refused = crate::check_with_policy(Postgresql, sql, None, &policy).expect_err(sql);
        assert_eq!(refused.rule, Rule::UnknownFunction, "{sql}");
    }
    // MySQL resolves names without case.
    let checked = crate::check_with_policy(
        Mysql,
        "SELECT SHOP.SAFE_FN(1)",
        None,
        &FunctionPolicy::new(["shop.safe_fn"]).unwrap(),
    )
    .unwrap();
    assert_eq!(checked.user_functions(), ["shop.safe_fn"]);
    // Built-ins without a user function leave the list empty (the session is reused).
    assert!(
        check(Postgresql, "SELECT lower('a')")
            .unwrap()
            .user_functions()
            .is_empty()
    );
    for bad in ["", "a.b.c", "a b", "\"x\"", "x;y"] {
        assert!(FunctionPolicy::new([bad]).is_err(), "{bad:?}");
    }
}

#[test]
fn words_symbols_and_relations_are_reported_for_the_catalog_checks() {
    let checked = check(
        Postgresql,
        "SELECT x::Evil_Domain, a @> b FROM \"Sales\".\"Orders\" o JOIN public.items i ON i.id = o.id",
    )
    .unwrap();
    assert!(checked.words().contains("evil_domain"));
    assert!(checked.symbols().contains("@>") && checked.symbols().contains("="));
    assert_eq!(
        checked.relation_refs(),
        [
            vec!["Sales".to_owned(), "Orders".to_owned()],
            vec!["public".to_owned(), "items".to_owned()]
        ]
    );
}

/// Verdicts are kept by exact input (`verdicts`): the same text under another
/// policy or dialect is judged again, never served the other's verdict.
#[test]
fn kept_verdicts_depend_on_policy_and_dialect() {
    let sql = "SELECT public.kept_fn(id) FROM t";
    let open = FunctionPolicy::new(["public.kept_fn"]).unwrap();
    let closed = FunctionPolicy::default();
    for _ in 0..3 {
        assert!(crate::check_with_policy(Postgresql, sql, None, &open).is_ok());
        let refused = crate::check_with_policy(Postgresql, sql, None, &closed).unwrap_err();
        assert_eq!(refused.rule, Rule::UnknownFunction);
    }
    // The same text is a different statement in another dialect.
    let quoted = "SELECT \"a\" FROM t";
    for _ in 0..3 {
        let pg = check(Postgresql, quoted).map(|c| c.relations().to_vec());
        let my = check(Mysql, quoted).map(|c| c.relations().to_vec());
        assert_eq!(pg, Ok(vec!["t".to_owned()]));
        assert_eq!(my, Ok(vec!["t".to_owned()]));
    }
    // Byte-for-byte: one space more is another input with its own verdict.
    assert!(check(Postgresql, "SELECT 1").is_ok());
    assert_eq!(
        check(Postgresql, "SELECT 1 ;; DROP TABLE t")
            .unwrap_err()
            .rule,
        Rule::MultipleStatements
    );
}

/// Fuzz finding (guard target, 2026-12-02): `SELECT AS >*/ NOt` was accepted
/// on PostgreSQL (`NOt` read as a name at the end of the text), but its capped
/// form `… NOt LIMIT 2` reads as `NOT LIMIT` and a stray `2`: what the source
/// would run was not what the guard judged. Now refused, in every dialect,
/// with a reason; ordinary endings still pass, capped or wrapped.
#[test]
fn a_query_whose_end_reads_differently_once_capped_is_refused() {
    for dialect in [Postgresql, Mysql, Sqlite] {
        match crate::check_with_policy(
            dialect,
            "SELECT AS >*/ NOt",
            None,
            &FunctionPolicy::default(),
        ) {
            Ok(checked) => {
                // Accepted only if both capped forms check the same.
                for cap in [0u64, 99] {
                    let capped = checked.capped_sql(cap);
                    let again = crate::check_with_policy(
                        dialect,
                        &capped,
                        Some(0),
                        &FunctionPolicy::default(),
                    )
                    .unwrap_or_else(|r| panic!("{dialect}: {capped:?}: {r:?}"));
                    assert_eq!(again.relations(), checked.relations());
                }
            }
            Err(r) => assert_ne!(r.rule, Rule::Internal, "{dialect}: {r:?}"),
        }
    }
    let refused = check(Postgresql, "SELECT AS >*/ NOt").unwrap_err();
    assert_eq!(refused.rule, Rule::Parse, "{refused:?}");
    assert!(refused.reason.contains("ambiguous"), "{refused:?}");
    for ok in [
        "SELECT id FROM t WHERE NOT active",
        "SELECT id FROM t ORDER BY id",
        "SELECT id FROM t LIMIT 5",
        "SELECT id FROM t FETCH FIRST 5 ROWS ONLY",
        "SELECT 1 AS not_a_keyword",
    ] {
        let checked = check(Postgresql, ok).unwrap_or_else(|r| panic!("{ok}: {r:?}"));
        assert!(check(Postgresql, &checked.capped_sql(10)).is_ok(), "{ok}");
    }
}

/// Fuzz finding (guard target, 2026-12-02, after the capped-form check):
/// empty statements before the query (`;SELECT …`) stayed in the text sent,
/// so its wrapped forms — the row cap around a query with its own limit, and
/// PostgreSQL's row-size filter — read `(;SELECT …)`, which does not parse.
/// Leading semicolons are dropped from the text; its capped forms check again.
#[test]
fn leading_semicolons_are_dropped_from_the_text_sent() {
    let policy = FunctionPolicy::new(["my_func"]).unwrap();
    for dialect in [Postgresql, Mysql, Sqlite] {
        for sql in [
            ";SELECT 'x' a, b DESC",
            "; ;SELECT id FROM t LIMIT 3",
            ";\n-- why\nSELECT 1",
        ] {
            let checked = crate::check_with_policy(dialect, sql, None, &policy)
                .unwrap_or_else(|r| panic!("{dialect}: {sql:?}: {r:?}"));
            assert!(!checked.capped_sql(5).contains("(;"), "{dialect}: {sql:?}");
            for cap in [0u64, 99] {
                let capped = checked.capped_sql(cap);
                let again = crate::check_with_policy(dialect, &capped, Some(0), &policy)
                    .unwrap_or_else(|r| panic!("{dialect}: {capped:?}: {r:?}"));
                assert_eq!(
                    again.relations(),
                    checked.relations(),
                    "{dialect}: {capped:?}"
                );
            }
        }
    }
}

/// Polls a future to its end on this thread (no runtime in this crate).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// The async check gives the verdicts of the blocking one, fresh (parsed on
/// a parsing thread) and remembered, with the placeholder count enforced.
#[test]
fn the_async_check_agrees_with_the_blocking_one() {
    let policy = FunctionPolicy::default();
    let unique = format!(
        "{:?}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
    )
    .replace(|c: char| !c.is_ascii_digit(), "");
    for sql in [
        format!("SELECT id AS c{unique} FROM customers WHERE id = $1"),
        format!("DELETE FROM customers WHERE id = {unique}"),
        format!("SELECT pg_catalog.pg_sleep({unique})"),
        "SELECT 1; SELECT 2".to_owned(),
    ] {
        for _ in 0..2 {
            let asynchronous = block_on(check_with_policy_async(
                Dialect::Postgresql,
                &sql,
                None,
                &policy,
            ));
            let blocking = check_with_policy(Dialect::Postgresql, &sql, None, &policy);
            assert_eq!(
                asynchronous
                    .as_ref()
                    .map(|c| c.placeholders)
                    .map_err(|r| r.rule),
                blocking
                    .as_ref()
                    .map(|c| c.placeholders)
                    .map_err(|r| r.rule),
                "{sql}"
            );
        }
    }
    let sql = format!("SELECT id AS d{unique} FROM customers WHERE id = $1");
    let refused = block_on(check_with_policy_async(
        Dialect::Postgresql,
        &sql,
        Some(2),
        &policy,
    ));
    assert_eq!(
        refused.map(|_| ()).map_err(|r| r.rule),
        Err(Rule::PlaceholderMismatch)
    );
}

#[test]
fn sqlserver_caps_rows_with_top_and_keeps_the_order() {
    let capped = |q: &str| match check(Sqlserver, q) {
        Ok(c) => c.capped_sql(10),
        Err(r) => panic!("{q} refused: {}", r.reason),
    };
    // One SELECT without a bound: TOP goes in, after DISTINCT, before everything else.
    assert_eq!(
        capped("SELECT a FROM t ORDER BY a"),
        "SELECT TOP (11) a FROM t ORDER BY a"
    );
    assert_eq!(
        capped("select distinct a from t;"),
        "select distinct TOP (11) a from t"
    );
    assert_eq!(
        capped("SELECT ALL /* c */ a FROM t"),
        "SELECT ALL TOP (11) /* c */ a FROM t"
    );
    assert_eq!(
        capped("WITH c AS (SELECT a FROM t ORDER BY a OFFSET 0 ROWS) SELECT a FROM c ORDER BY a"),
        "WITH c AS (SELECT a FROM t ORDER BY a OFFSET 0 ROWS) SELECT TOP (11) a FROM c ORDER BY a"
    );
    // A set operation with ORDER BY: OFFSET … FETCH after it (a derived table may
    // not hold an ORDER BY without TOP or OFFSET).
    assert_eq!(
        capped("SELECT a FROM t UNION SELECT a FROM u ORDER BY a"),
        "SELECT a FROM t UNION SELECT a FROM u ORDER BY a OFFSET 0 ROWS FETCH NEXT 11 ROWS ONLY"
    );
    // Without ORDER BY, or bounded by itself: wrapped, the WITH clause kept in front.
    assert_eq!(
        capped("SELECT a FROM t UNION ALL SELECT a FROM u"),
        "SELECT TOP (11) * FROM (SELECT a FROM t UNION ALL SELECT a FROM u) AS _cx"
    );
    assert_eq!(
        capped("SELECT TOP 500 a FROM t ORDER BY a"),
        "SELECT TOP (11) * FROM (SELECT TOP 500 a FROM t ORDER BY a) AS _cx"
    );
    assert_eq!(
        capped("WITH c AS (SELECT a FROM t) SELECT a FROM c ORDER BY a OFFSET 5 ROWS"),
        "WITH c AS (SELECT a FROM t) SELECT TOP (11) * FROM (SELECT a FROM c ORDER BY a OFFSET 5 ROWS) AS _cx"
    );
    assert_eq!(
        capped(
            "WITH c AS (SELECT 1 AS a), d AS (SELECT 2 AS a) SELECT a FROM c UNION SELECT a FROM d"
        ),
        "WITH c AS (SELECT 1 AS a), d AS (SELECT 2 AS a) SELECT TOP (11) * FROM (SELECT a FROM c UNION SELECT a FROM d) AS _cx"
    );
    // Bounded by itself counts as limited; a TOP goes in only where there was none.
    assert!(
        check(Sqlserver, "SELECT TOP (5) a FROM t")
            .is_ok_and(|c| c.capped_sql(0).starts_with("SELECT TOP (1) * FROM ("))
    );
    // Placeholders are @P1…, counted by their highest number.
    let params = check(
        Sqlserver,
        "SELECT a FROM t WHERE a = @P2 OR b = @P1 OR c = @p2",
    );
    assert_eq!(params.map(|c| c.placeholder_count()).ok(), Some(2));
    assert_eq!(
        check_with_params(Sqlserver, "SELECT a FROM t WHERE a = @P1", 2).map_err(|r| r.rule),
        Err(Rule::PlaceholderMismatch)
    );
}

#[test]
fn sqlserver_refuses_batches_variables_and_locks_by_their_rule() {
    for (sql, rule) in [
        ("SELECT 1\nGO\nDELETE FROM t", Rule::MultipleStatements),
        ("SELECT 1\ngo", Rule::MultipleStatements),
        ("SELECT a FROM t\n  GO 5", Rule::MultipleStatements),
        ("EXEC('DELETE FROM t')", Rule::NotAQuery),
        ("SELECT @v = a FROM t", Rule::VariableAssignment),
        ("SELECT a FROM t WHERE a = @v", Rule::VariableAssignment),
        ("SELECT a FROM @t", Rule::VariableAssignment),
        ("SELECT a FROM #t", Rule::UnsupportedSyntax),
        ("SELECT a FROM srv.db.dbo.t", Rule::UnsupportedSyntax),
        (
            "SELECT a FROM t WITH (NOLOCK, UPDLOCK)",
            Rule::LockingClause,
        ),
        ("SELECT a FROM t (UPDLOCK)", Rule::LockingClause),
        ("SELECT a FROM t (NOLOCK)", Rule::UnsupportedSyntax),
        ("SELECT a INTO #t FROM t", Rule::SelectInto),
        (
            "SELECT * FROM OPENROWSET(BULK 'x', SINGLE_BLOB) AS b",
            Rule::DeniedFunction,
        ),
        (
            "SELECT * FROM OPENQUERY(srv, 'SELECT 1')",
            Rule::DeniedFunction,
        ),
        ("SELECT [xp_cmdshell]('dir')", Rule::DeniedFunction),
        ("SELECT a FROM t LIMIT 1", Rule::UnsupportedSyntax),
        ("EXPLAIN SELECT 1", Rule::NotAQuery),
        ("SELECT $1", Rule::Parse),
    ] {
        let got = check(Sqlserver, sql).map(|_| ()).map_err(|r| r.rule);
        if sql == "SELECT $1" {
            // `$1` is a money constant in T-SQL, not a placeholder: accepted.
            assert_eq!(got, Ok(()), "{sql}");
            continue;
        }
        assert_eq!(got, Err(rule), "{sql}");
    }
    // A column called go, or GO inside a line, is not a separator.
    assert!(check(Sqlserver, "SELECT a AS go FROM t").is_ok());
    assert!(check(Sqlserver, "SELECT [go] FROM t").is_ok());
    // An admin may allow-list a schema-qualified user function; never an xp_ one.
    let policy = FunctionPolicy::new(["dbo.net_total", "dbo.xp_evil"]).unwrap_or_default();
    assert!(check_with_policy(Sqlserver, "SELECT DBO.NET_TOTAL(a) FROM t", None, &policy).is_ok());
    assert_eq!(
        check_with_policy(Sqlserver, "SELECT dbo.xp_evil(1)", None, &policy)
            .map_err(|r| r.rule)
            .err(),
        Some(Rule::DeniedFunction)
    );
}

/// sqlparser's `parse_statements` stops at an `END` after a statement and
/// ignores the rest (a fuzz finding, in every dialect): the guard parses to
/// the end of the text, so what follows an `END` is never skipped.
#[test]
fn text_after_an_end_keyword_is_never_skipped() {
    for d in [Postgresql, Mysql, Sqlite, Sqlserver] {
        for sql in [
            "SELECT 1 END DELETE FROM t",
            "SELECT a FROM t END; DROP TABLE t",
            "SELECT a FROM t\nEND\nUPDATE t SET a = 1",
            "SELECT C\n\nEND FR t",
        ] {
            let got = check(d, sql).map(|c| c.capped_sql(10));
            assert!(got.is_err(), "[{d}] {sql:?} accepted as {got:?}");
        }
        // END inside CASE is the expression's own.
        assert!(
            check(d, "SELECT CASE WHEN a > 1 THEN 'x' END AS k FROM t").is_ok(),
            "[{d}]"
        );
    }
}

/// sqlparser's T-SQL tokenizer takes the character after `#` into a name
/// whatever it is (a fuzz finding): such a name is refused, not passed on.
#[test]
fn a_name_with_a_control_character_is_refused() {
    for sql in ["SELECT #\r\x0b\r\r", "SELECT #\t FROM t", "SELECT @\r"] {
        let got = check(Sqlserver, sql).map(|c| c.capped_sql(10));
        assert!(got.is_err(), "{sql:?} accepted as {got:?}");
    }
    assert!(check(Sqlserver, "SELECT [a b] FROM t").is_ok());
}

-- Legitimate PostgreSQL analytics: every entry must be accepted by the guard.
-- Entries are separated by a line containing only "-- next"; a chunk made only
-- of "--" comment lines (like this header) is not an entry.
-- next
SELECT 1
-- next
SELECT id, name FROM users WHERE id = $1
-- next
SELECT * FROM t LIMIT $1 OFFSET $2
-- next
SELECT a, SUM(x) OVER (PARTITION BY a ORDER BY b ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM t
-- next
WITH a AS (SELECT 1 AS x),
     b AS (WITH c AS (SELECT x + 1 AS y FROM a) SELECT y FROM c)
SELECT * FROM b
-- next
WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 10) SELECT n FROM c
-- next
SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY x) FROM t
-- next
EXPLAIN (FORMAT JSON) SELECT * FROM t
-- next
EXPLAIN (VERBOSE, COSTS false) SELECT * FROM t WHERE a > 1
-- next
EXPLAIN SELECT * FROM t WHERE a > 1
-- next
SELECT a FROM t UNION SELECT a FROM u
-- next
SELECT a FROM t INTERSECT SELECT a FROM u
-- next
VALUES (1), (2)
-- next
SELECT CASE WHEN a > 0 THEN 'pos' ELSE 'neg' END FROM t
-- next
SELECT date_trunc('month', created_at) AS m, count(*) FROM orders GROUP BY 1 ORDER BY 1
-- next
SELECT extract(year FROM now()), now() - interval '1 day', make_interval(days => 1)
-- next
SELECT * FROM generate_series(1, 10)
-- next
SELECT generate_series(date '2024-01-01', date '2024-12-01', interval '1 month')
-- next
SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'
-- next
SELECT * FROM pg_catalog.pg_tables
-- next
SELECT data->>'x', data->'y', data ? 'key' FROM t
-- next
SELECT x::int, CAST(y AS text) FROM t
-- next
SELECT * FROM t WHERE name LIKE 'a%'
-- next
SELECT * FROM t WHERE id IN (SELECT t_id FROM u)
-- next
SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.t_id = t.id)
-- next
SELECT * FROM t, LATERAL (SELECT * FROM u WHERE u.t_id = t.id LIMIT 1) l
-- next
SELECT 'DROP TABLE x; DELETE' AS s -- INSERT
-- next
SELECT $$dollar quoted; DELETE FROM t$$ AS s
-- next
/* a leading comment mentioning DELETE */ SELECT 1;
-- next
SELECT count(*) FILTER (WHERE a > 1) FROM t
-- next
SELECT DISTINCT ON (a) a, b FROM t ORDER BY a, b DESC
-- next
SELECT pg_size_pretty(pg_database_size(current_database())), current_setting('TimeZone')
-- next
SELECT array_agg(x ORDER BY x), string_agg(name, ', ') FROM t GROUP BY a HAVING count(*) > 1
-- next
SELECT lower(name), log(10), localtimestamp FROM t
-- next
SELECT * FROM pg_replication_slots

-- Legitimate SQLite analytics: every entry must be accepted by the guard.
-- Entries are separated by a line containing only "-- next"; a chunk made only
-- of "--" comment lines (like this header) is not an entry.
-- next
SELECT 1
-- next
SELECT id, name FROM users WHERE id = ?
-- next
SELECT * FROM t LIMIT ?
-- next
SELECT * FROM t ORDER BY a LIMIT 10 OFFSET 5
-- next
SELECT strftime('%Y-%m', created_at) AS m, count(*) FROM orders GROUP BY 1
-- next
SELECT date('now', '-1 day'), julianday('now')
-- next
SELECT a, sum(x) OVER (PARTITION BY a ORDER BY b ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM t
-- next
WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 10) SELECT n FROM c
-- next
WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT * FROM b
-- next
EXPLAIN QUERY PLAN SELECT * FROM t
-- next
EXPLAIN SELECT * FROM t
-- next
SELECT name FROM sqlite_master WHERE type = 'table'
-- next
SELECT json_extract(data, '$.a') FROM t
-- next
SELECT * FROM json_each('[1,2]')
-- next
SELECT * FROM pragma_table_info('t')
-- next
VALUES (1), (2)
-- next
SELECT CAST(a AS INTEGER), typeof(a), length(b) FROM t
-- next
SELECT * FROM t WHERE name LIKE 'a%'
-- next
SELECT * FROM t WHERE name GLOB 'a*'
-- next
SELECT a FROM t UNION SELECT a FROM u
-- next
SELECT a FROM t EXCEPT SELECT a FROM u
-- next
SELECT CASE WHEN a > 0 THEN 'pos' ELSE 'neg' END FROM t
-- next
SELECT * FROM t WHERE id IN (SELECT t_id FROM u)
-- next
SELECT 'DROP TABLE x; DELETE' AS s -- INSERT
-- next
SELECT group_concat(name, ', '), total(x), avg(x) FROM t
-- next
SELECT "quoted col" FROM "t"
-- next
SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.t_id = t.id)

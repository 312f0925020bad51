-- Legitimate MySQL / MariaDB analytics: every entry must be accepted by the guard.
-- Entries are separated by a line containing only "-- next"; a chunk made only
-- of "--" comment lines (like this header) is not an entry.
-- next
SELECT 1
-- next
SELECT `id`, `name` FROM `users` WHERE `id` = ?
-- next
SELECT * FROM t LIMIT ?
-- next
SELECT * FROM t ORDER BY a DESC LIMIT 10 OFFSET 5
-- next
SELECT * FROM t LIMIT 5, 10
-- next
SELECT a, SUM(x) OVER (PARTITION BY a ORDER BY b ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM t
-- next
WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 10) SELECT n FROM c
-- next
WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT * FROM b
-- next
SELECT DATE_FORMAT(created_at, '%Y-%m') AS m, COUNT(*) FROM orders GROUP BY 1
-- next
SELECT DATE_SUB(NOW(), INTERVAL 1 DAY), CURDATE(), YEAR(NOW())
-- next
SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()
-- next
SELECT data->>'$.x', JSON_EXTRACT(data, '$.a') FROM t
-- next
SELECT CAST(a AS SIGNED), CONVERT(b, CHAR) FROM t
-- next
SELECT IF(a > 0, 'pos', 'neg'), CASE WHEN a > 0 THEN 1 ELSE 0 END FROM t
-- next
SELECT * FROM t WHERE name LIKE 'a%'
-- next
SELECT * FROM t WHERE id IN (SELECT t_id FROM u)
-- next
SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.t_id = t.id)
-- next
SELECT a FROM t UNION ALL SELECT a FROM u
-- next
EXPLAIN SELECT * FROM t
-- next
EXPLAIN FORMAT=JSON SELECT * FROM t
-- next
SELECT 'DROP TABLE x; DELETE' AS s -- INSERT
-- next
SELECT 'sleep(10)' AS s, "load_file('/etc/passwd')" AS t
-- next
SELECT COUNT(DISTINCT a) FROM t GROUP BY b HAVING COUNT(*) > 1
-- next
SELECT a DIV 2, a % 2, MOD(a, 2) FROM t
-- next
SELECT * FROM t # a hash comment
-- next
SELECT * FROM t1 JOIN t2 ON t1.id = t2.t1_id LEFT JOIN t3 USING (id)
-- next
SELECT @@version
-- next
SELECT 1--1

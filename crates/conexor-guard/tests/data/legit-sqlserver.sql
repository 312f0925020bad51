-- Legitimate analytics queries for the SQL Server / Azure SQL (T-SQL) guard: every entry
-- must be accepted. Entries are separated by a line containing only "-- next".
-- next
SELECT 1
-- next
SELECT id, email FROM dbo.customers WHERE id = @P1
-- next
SELECT TOP (10) id, total FROM sales.orders ORDER BY total DESC
-- next
SELECT TOP 10 PERCENT WITH TIES id FROM orders ORDER BY total DESC
-- next
SELECT DISTINCT country FROM customers
-- next
SELECT DISTINCT TOP 5 country FROM customers ORDER BY country
-- next
SELECT [id], [first name] FROM [dbo].[customers] WHERE [id] > @P1 AND [id] < @P2
-- next
SELECT "id" FROM "dbo"."customers"
-- next
SELECT c.id, COUNT(*) AS n FROM customers AS c JOIN orders AS o ON o.customer_id = c.id GROUP BY c.id HAVING COUNT(*) > 1
-- next
WITH recent AS (SELECT id, created_at FROM orders WHERE created_at > DATEADD(day, -7, SYSUTCDATETIME())) SELECT COUNT(*) FROM recent
-- next
WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT y FROM b ORDER BY y
-- next
SELECT id FROM t ORDER BY id OFFSET 10 ROWS FETCH NEXT 5 ROWS ONLY
-- next
SELECT id FROM t ORDER BY id OFFSET 5 ROWS
-- next
SELECT id FROM t UNION ALL SELECT id FROM u
-- next
SELECT id FROM t UNION SELECT id FROM u ORDER BY id
-- next
SELECT id FROM t EXCEPT SELECT id FROM u
-- next
SELECT id, ROW_NUMBER() OVER (PARTITION BY region ORDER BY total DESC) AS rn FROM sales
-- next
SELECT id, LAG(total) OVER (ORDER BY created_at) AS previous FROM orders
-- next
SELECT id, SUM(total) OVER (ORDER BY created_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM orders
-- next
SELECT CONVERT(varchar(10), created_at, 120), CAST(total AS decimal(10, 2)), TRY_CAST('x' AS int) FROM orders
-- next
SELECT IIF(total > 100, 'big', 'small'), CHOOSE(2, 'a', 'b'), ISNULL(note, ''), COALESCE(a, b, 0) FROM orders
-- next
SELECT DATEDIFF(day, created_at, GETDATE()), EOMONTH(created_at), DATEPART(year, created_at), FORMAT(created_at, 'yyyy-MM') FROM orders
-- next
SELECT LEFT(name, 3), LEN(name), UPPER(name), CHARINDEX('a', name), STRING_AGG(name, ', ') WITHIN GROUP (ORDER BY name) FROM customers GROUP BY region
-- next
SELECT JSON_VALUE(doc, '$.a'), ISJSON(doc) FROM docs
-- next
SELECT d.id, j.[key], j.[value] FROM docs AS d CROSS APPLY OPENJSON(d.doc) AS j
-- next
SELECT x.value FROM t CROSS APPLY STRING_SPLIT(t.tags, ',') AS x
-- next
SELECT id FROM t WITH (NOLOCK) WHERE id = @P1
-- next
SELECT id FROM t WITH (READUNCOMMITTED)
-- next
SELECT * FROM sys.tables
-- next
SELECT name FROM sys.columns WHERE object_id = OBJECT_ID(@P1)
-- next
SELECT id FROM otherdb.dbo.t
-- next
SELECT NEWID(), RAND(), PI(), ROUND(2.5, 0), ABS(-1), POWER(2, 10), SQRT(4.0)
-- next
SELECT N'héllo', 0x1F, $5.00, 1e3
-- next
SELECT id FROM t WHERE name LIKE N'%a%' COLLATE Latin1_General_CI_AS
-- next
SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.t_id = t.id)
-- next
SELECT id FROM t WHERE id IN (SELECT t_id FROM u) AND note IS NOT NULL
-- next
SELECT CASE WHEN total > 100 THEN 'big' ELSE 'small' END AS size FROM orders
-- next
SELECT * FROM t FOR SYSTEM_TIME AS OF '2026-01-01'
-- next
SELECT CURRENT_USER, SYSTEM_USER, DB_NAME(), SCHEMA_NAME()
-- next
SELECT dbo.[select] FROM dbo.[from]
-- next
SELECT TOP (@P1) id FROM t ORDER BY id
-- next
-- a comment first
SELECT 1 AS one -- and one after

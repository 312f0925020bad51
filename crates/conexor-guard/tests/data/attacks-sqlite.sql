-- Hostile statements for the SQLite guard: every entry must be refused.
-- Entries are separated by a line containing only "-- next"; a chunk made only
-- of "--" comment lines (like this header) is not an entry.
-- next
INSERT INTO t VALUES (1)
-- next
INSERT INTO t DEFAULT VALUES
-- next
INSERT OR REPLACE INTO t VALUES (1)
-- next
INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2
-- next
REPLACE INTO t VALUES (1)
-- next
UPDATE t SET a = 1
-- next
UPDATE t SET a = 1 RETURNING *
-- next
DELETE FROM t
-- next
DELETE FROM t WHERE 1 RETURNING *
-- next
DROP TABLE t
-- next
DROP VIEW v
-- next
DROP INDEX i
-- next
DROP TRIGGER tr
-- next
CREATE TABLE x (a)
-- next
CREATE TEMP TABLE x (a)
-- next
CREATE TABLE x AS SELECT * FROM t
-- next
ALTER TABLE t RENAME TO u
-- next
ALTER TABLE t ADD COLUMN b
-- next
CREATE INDEX i ON t (a)
-- next
CREATE UNIQUE INDEX i ON t (a)
-- next
CREATE VIEW v AS SELECT 1
-- next
CREATE TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM t; END
-- next
CREATE VIRTUAL TABLE v USING fts5(a)
-- next
ATTACH DATABASE '/tmp/x.db' AS x
-- next
ATTACH '/tmp/x.db' AS x
-- next
DETACH DATABASE x
-- next
PRAGMA writable_schema=1
-- next
PRAGMA main.writable_schema = ON
-- next
PRAGMA journal_mode=delete
-- next
PRAGMA query_only = 0
-- next
PRAGMA foreign_keys = OFF
-- next
PRAGMA temp_store_directory = '/tmp'
-- next
PRAGMA table_info(t)
-- next
VACUUM
-- next
VACUUM INTO '/tmp/x'
-- next
REINDEX
-- next
REINDEX t
-- next
ANALYZE
-- next
ANALYZE t
-- next
BEGIN
-- next
BEGIN IMMEDIATE
-- next
COMMIT
-- next
END
-- next
ROLLBACK
-- next
SAVEPOINT s
-- next
RELEASE s
-- next
COMMIT; DROP TABLE x
-- next
SELECT 1; DELETE FROM t
-- next
select 1;
attach 'x.db' as x
-- next
SELECT * FROM sqlite_master; DROP TABLE t
-- next
SELECT load_extension('x')
-- next
SELECT load_extension('/tmp/evil.so', 'sqlite3_evil_init')
-- next
SELECT LOAD_EXTENSION('x')
-- next
SELECT "load_extension"('x')
-- next
SELECT `readfile`('/etc/passwd')
-- next
SELECT load_extension /* a comment */ ('x')
-- next
SELECT main.load_extension('x')
-- next
SELECT writefile('/tmp/x', 'y')
-- next
SELECT readfile('/etc/passwd')
-- next
SELECT edit('x', 'vi')
-- next
SELECT fts3_tokenizer('simple', x'00')
-- next
SELECT zeroblob(1000000000)
-- next
SELECT length(zeroblob(2000000000))
-- next
SELECT randomblob(1000000000)
-- next
SELECT * FROM fsdir('/')
-- next
SELECT * FROM zipfile('/tmp/x.zip')
-- next
WITH x AS (SELECT readfile('/etc/passwd') AS f) SELECT f FROM x
-- next
SELECT * FROM t WHERE a = (SELECT readfile('/etc/passwd'))
-- next
SELECT * FROM t ORDER BY writefile('/tmp/x', a)
-- next
SELECT CASE WHEN 1 THEN load_extension('x') END
-- next
SELECT * FROM t WHERE EXISTS (SELECT writefile('/tmp/x', a) FROM t)
-- next
SELECT 1 UNION SELECT readfile('/etc/passwd')
-- next
WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d
-- next
WITH x AS (SELECT 1) DELETE FROM t
-- next
WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x
-- next
SELECT * FROM t FOR UPDATE
-- next
EXPLAIN DELETE FROM t
-- next
EXPLAIN QUERY PLAN DELETE FROM t
-- next
EXPLAIN SELECT load_extension('x')
-- next
SELECT * FROM t WHERE a = :name
-- next
SELECT ?1
-- next
SELECT * FROM t WHERE a = @a
-- next
SELECT * FROM t WHERE a = $a
-- next
-- sqlparser stops at END after a statement: the rest must not be skipped
SELECT a FROM t END; DROP TABLE t
-- next
SELECT 1 END DELETE FROM t

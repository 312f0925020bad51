//! What Conexor itself asks a SQL Server: the privilege check behind
//! test-before-save, and discovery from the `sys` catalog views (names,
//! types, keys, `MS_Description` comments, row estimates from
//! `sys.partitions`; never rows). Kept as text here so that it can be read
//! and tested without a server.

/// One row: is the login more than a reader? Each column is 1, 0 or NULL
/// (NULL when the login may not even ask, which is not a privilege).
pub(crate) const PRIVILEGES: &str = "SELECT \
    IS_SRVROLEMEMBER('sysadmin'), \
    IS_ROLEMEMBER('db_owner'), \
    IS_ROLEMEMBER('db_datawriter'), \
    IS_ROLEMEMBER('db_ddladmin'), \
    IS_ROLEMEMBER('db_securityadmin'), \
    HAS_PERMS_BY_NAME(NULL, NULL, 'CONTROL SERVER'), \
    HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'CONTROL'), \
    HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'ALTER'), \
    HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'INSERT'), \
    HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'UPDATE'), \
    HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'DELETE'), \
    HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'EXECUTE'), \
    HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'CREATE TABLE'), \
    DB_NAME()";

/// What each column of [`PRIVILEGES`] means when it is 1, in its order.
pub(crate) const PRIVILEGE_NAMES: [&str; 13] = [
    "member of sysadmin",
    "member of db_owner",
    "member of db_datawriter",
    "member of db_ddladmin",
    "member of db_securityadmin",
    "CONTROL SERVER permission",
    "CONTROL permission on the database",
    "ALTER permission on the database",
    "INSERT permission on the database",
    "UPDATE permission on the database",
    "DELETE permission on the database",
    "EXECUTE permission on the database",
    "CREATE TABLE permission on the database",
];

/// The reasons a login is more than a reader, from the flags of [`PRIVILEGES`].
pub(crate) fn risky(flags: &[Option<i32>]) -> Vec<String> {
    PRIVILEGE_NAMES
        .iter()
        .zip(flags)
        .filter(|(_, flag)| **flag == Some(1))
        .map(|(name, _)| (*name).to_owned())
        .collect()
}

/// The statements that create a login that can only read `database`.
pub(crate) fn read_only_grants(database: &str) -> String {
    let db = database.replace(']', "]]");
    format!(
        "CREATE LOGIN conexor_reader WITH PASSWORD = '<choose one>';\n\
         USE [{db}];\n\
         CREATE USER conexor_reader FOR LOGIN conexor_reader;\n\
         ALTER ROLE db_datareader ADD MEMBER conexor_reader;\n\
         -- Azure SQL Database (contained user, no server login):\n\
         -- CREATE USER conexor_reader WITH PASSWORD = '<choose one>';\n\
         -- ALTER ROLE db_datareader ADD MEMBER conexor_reader;"
    )
}

/// Tables and views: schema, name, `U`/`V`, comment, row estimate.
pub(crate) const TABLES: &str = "SELECT s.name, o.name, RTRIM(o.type), \
    CAST(ep.value AS nvarchar(4000)), \
    (SELECT SUM(p.rows) FROM sys.partitions AS p \
      WHERE p.object_id = o.object_id AND p.index_id IN (0, 1)) \
  FROM sys.objects AS o \
  JOIN sys.schemas AS s ON s.schema_id = o.schema_id \
  LEFT JOIN sys.extended_properties AS ep \
    ON ep.class = 1 AND ep.major_id = o.object_id AND ep.minor_id = 0 AND ep.name = 'MS_Description' \
  WHERE o.type IN ('U', 'V') AND o.is_ms_shipped = 0 \
  ORDER BY s.name, o.name";

/// Columns: schema, table, column, type, max_length, precision, scale,
/// nullable, comment; in column order.
pub(crate) const COLUMNS: &str = "SELECT s.name, o.name, c.name, TYPE_NAME(c.user_type_id), \
    c.max_length, c.precision, c.scale, c.is_nullable, CAST(ep.value AS nvarchar(4000)) \
  FROM sys.columns AS c \
  JOIN sys.objects AS o ON o.object_id = c.object_id \
  JOIN sys.schemas AS s ON s.schema_id = o.schema_id \
  LEFT JOIN sys.extended_properties AS ep \
    ON ep.class = 1 AND ep.major_id = c.object_id AND ep.minor_id = c.column_id AND ep.name = 'MS_Description' \
  WHERE o.type IN ('U', 'V') AND o.is_ms_shipped = 0 \
  ORDER BY s.name, o.name, c.column_id";

/// Primary keys: schema, table, column; in key order.
pub(crate) const PRIMARY_KEYS: &str = "SELECT s.name, t.name, c.name \
  FROM sys.key_constraints AS k \
  JOIN sys.tables AS t ON t.object_id = k.parent_object_id \
  JOIN sys.schemas AS s ON s.schema_id = t.schema_id \
  JOIN sys.index_columns AS ic ON ic.object_id = k.parent_object_id AND ic.index_id = k.unique_index_id \
  JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id \
  WHERE k.type = 'PK' \
  ORDER BY s.name, t.name, ic.key_ordinal";

/// Foreign keys: schema, table, constraint, column, referenced schema,
/// table and column; in constraint column order.
pub(crate) const FOREIGN_KEYS: &str = "SELECT s.name, t.name, fk.name, pc.name, rs.name, rt.name, rc.name \
  FROM sys.foreign_keys AS fk \
  JOIN sys.foreign_key_columns AS fkc ON fkc.constraint_object_id = fk.object_id \
  JOIN sys.tables AS t ON t.object_id = fk.parent_object_id \
  JOIN sys.schemas AS s ON s.schema_id = t.schema_id \
  JOIN sys.columns AS pc ON pc.object_id = fkc.parent_object_id AND pc.column_id = fkc.parent_column_id \
  JOIN sys.tables AS rt ON rt.object_id = fk.referenced_object_id \
  JOIN sys.schemas AS rs ON rs.schema_id = rt.schema_id \
  JOIN sys.columns AS rc ON rc.object_id = fkc.referenced_object_id AND rc.column_id = fkc.referenced_column_id \
  ORDER BY s.name, t.name, fk.name, fkc.constraint_column_id";

#[cfg(test)]
mod tests {
    use super::*;
    use conexor_guard::{Dialect, check};

    /// Conexor's own catalog queries are reads the T-SQL guard itself would
    /// accept (they are not sent through it, but nothing in them should
    /// need to be).
    #[test]
    fn every_catalog_query_is_a_plain_read() {
        for sql in [TABLES, COLUMNS, PRIMARY_KEYS, FOREIGN_KEYS, PRIVILEGES] {
            if let Err(r) = check(Dialect::Sqlserver, sql) {
                panic!("{sql}\n  => {}: {}", r.rule, r.reason);
            }
        }
    }

    #[test]
    fn the_privilege_check_names_what_a_login_can_do_beyond_reading() {
        assert_eq!(
            PRIVILEGE_NAMES.len(),
            PRIVILEGES.matches("HAS_PERMS_BY_NAME").count() + PRIVILEGES.matches("IS_").count()
        );
        let reader = [
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
        ];
        assert!(risky(&reader).is_empty());
        // NULL means the login may not ask, which is not a privilege.
        assert!(risky(&[None; 13]).is_empty());
        let mut owner = reader;
        owner[1] = Some(1);
        owner[7] = Some(1);
        assert_eq!(
            risky(&owner),
            ["member of db_owner", "ALTER permission on the database"]
        );
        let grants = read_only_grants("Sales]DB");
        assert!(grants.contains("USE [Sales]]DB];"), "{grants}");
        assert!(grants.contains("ALTER ROLE db_datareader ADD MEMBER conexor_reader;"));
        assert!(!grants.to_ascii_lowercase().contains("db_datawriter"));
    }
}

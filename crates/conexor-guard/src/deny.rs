//! Per-dialect deny lists of functions that have side effects or reach outside the
//! query: sleeping, file and large-object access, remote connections, sequence and
//! configuration setters, advisory locks, server administration, and functions that run
//! SQL given as a string (which would bypass the guard).
//!
//! This is not what lets a function run — that is the allow-list in `allow.rs`, and
//! anything off it is refused. These lists name the functions that are refused
//! *whatever an admin allow-lists* (a connection's allow-list of user-defined functions
//! cannot lift them, even in another schema: an extension may be installed anywhere),
//! and say why in words the AI can act on. Names are the normalised last identifier,
//! matched exactly or by prefix.

use crate::Dialect;

const SLEEPS: &str = "it makes the database sleep or burn cpu on purpose";
const FILES: &str = "it reads or writes files on the database server";
const LARGE_OBJECTS: &str = "it reads or writes large objects";
const REMOTE: &str = "it connects to other databases";
const SEQUENCES: &str = "it changes sequence state";
const CONFIG: &str = "it changes server settings";
const LOCKS: &str = "it takes or releases locks";
const ADMIN: &str = "it performs server administration";
const REPLICATION: &str = "it changes replication state";
const DYNAMIC_SQL: &str = "it runs sql given as a string, which bypasses the guard";
const NOTIFY: &str = "it sends notifications to other sessions";
const XACT: &str = "it assigns a transaction id, which is a write";
const STATS: &str = "it changes or resets server statistics";
const PROGRAMS: &str = "it runs programs on the database server";
const EXTENSIONS: &str = "it loads native code into the database";
const MEMORY: &str = "it can exhaust server memory";
const SESSION: &str = "it sets session state that would outlive the query";

/// One dialect's deny list: exact names and name prefixes, each with the reason.
struct DenyList {
    exact: &'static [(&'static str, &'static str)],
    prefixes: &'static [(&'static str, &'static str)],
}

/// Denied on every dialect: sleeping and deliberate cpu burn.
const COMMON: DenyList = DenyList {
    exact: &[("sleep", SLEEPS), ("benchmark", SLEEPS)],
    prefixes: &[("pg_sleep", SLEEPS)],
};

const POSTGRESQL: DenyList = DenyList {
    exact: &[
        ("pg_stat_file", FILES),
        ("pg_logdir_ls", FILES),
        ("loread", LARGE_OBJECTS),
        ("lowrite", LARGE_OBJECTS),
        ("set_config", CONFIG),
        ("pg_reload_conf", CONFIG),
        ("setval", SEQUENCES),
        ("nextval", SEQUENCES),
        ("pg_terminate_backend", ADMIN),
        ("pg_cancel_backend", ADMIN),
        ("pg_rotate_logfile", ADMIN),
        ("pg_rotate_logfile_old", ADMIN),
        ("pg_switch_wal", ADMIN),
        ("pg_switch_xlog", ADMIN),
        ("pg_promote", ADMIN),
        ("pg_import_system_collations", ADMIN),
        ("pg_backup_start", ADMIN),
        ("pg_backup_stop", ADMIN),
        ("pg_start_backup", ADMIN),
        ("pg_stop_backup", ADMIN),
        ("pg_log_backend_memory_contexts", ADMIN),
        ("pg_log_standby_snapshot", ADMIN),
        ("pg_drop_replication_slot", REPLICATION),
        ("pg_sync_replication_slots", REPLICATION),
        ("pg_notify", NOTIFY),
        ("ts_stat", DYNAMIC_SQL),
        ("ts_rewrite", DYNAMIC_SQL),
        // tablefunc: both build and run a query from their text arguments.
        ("connectby", DYNAMIC_SQL),
        ("table_to_xml", DYNAMIC_SQL),
        ("table_to_xmlschema", DYNAMIC_SQL),
        ("table_to_xml_and_xmlschema", DYNAMIC_SQL),
        ("schema_to_xml", DYNAMIC_SQL),
        ("database_to_xml", DYNAMIC_SQL),
        ("currval", SEQUENCES),
        ("lastval", SEQUENCES),
        ("setseed", CONFIG),
        ("pg_export_snapshot", XACT),
        ("txid_current", XACT),
        ("pg_current_xact_id", XACT),
        ("pg_stat_statements_reset", STATS),
        ("pg_clear_attribute_stats", STATS),
        ("pg_clear_relation_stats", STATS),
        ("pg_restore_attribute_stats", STATS),
        ("pg_restore_relation_stats", STATS),
    ],
    prefixes: &[
        ("pg_read_", FILES),
        ("pg_ls_", FILES),
        ("pg_file_", FILES),
        ("lo_", LARGE_OBJECTS),
        ("dblink", REMOTE),
        ("pg_advisory_", LOCKS),
        ("pg_try_advisory_", LOCKS),
        ("pg_create_", ADMIN),
        ("pg_wal_replay_", ADMIN),
        ("pg_xlog_replay_", ADMIN),
        ("pg_replication_", REPLICATION),
        ("pg_copy_", REPLICATION),
        ("pg_logical_", REPLICATION),
        ("query_to_xml", DYNAMIC_SQL),
        ("crosstab", DYNAMIC_SQL),
        ("schema_to_xml", DYNAMIC_SQL),
        ("database_to_xml", DYNAMIC_SQL),
        ("cursor_to_xml", DYNAMIC_SQL),
        ("pg_background", DYNAMIC_SQL),
        ("pg_stat_reset", STATS),
        ("pg_buffercache_evict", ADMIN),
    ],
};

/// MySQL and MariaDB.
const MYSQL: DenyList = DenyList {
    exact: &[
        ("load_file", FILES),
        ("get_lock", LOCKS),
        ("release_lock", LOCKS),
        ("release_all_locks", LOCKS),
        ("is_free_lock", LOCKS),
        ("is_used_lock", LOCKS),
        ("master_pos_wait", SLEEPS),
        ("source_pos_wait", SLEEPS),
        ("master_gtid_wait", SLEEPS),
        ("wait_for_executed_gtid_set", SLEEPS),
        ("wait_until_sql_thread_after_gtids", SLEEPS),
        ("sys_exec", PROGRAMS),
        ("sys_eval", PROGRAMS),
        ("sys_get", PROGRAMS),
        ("sys_set", PROGRAMS),
        ("last_insert_id", SESSION),
        ("nextval", SEQUENCES),
        ("setval", SEQUENCES),
        ("lastval", SEQUENCES),
        ("name_const", SESSION),
        ("uuid_short", SEQUENCES),
    ],
    prefixes: &[],
};

const SQLITE: DenyList = DenyList {
    exact: &[
        ("load_extension", EXTENSIONS),
        ("readfile", FILES),
        ("writefile", FILES),
        ("edit", PROGRAMS),
        ("fsdir", FILES),
        ("zipfile", FILES),
        ("eval", DYNAMIC_SQL),
        ("fts3_tokenizer", EXTENSIONS),
        ("zeroblob", MEMORY),
        ("randomblob", MEMORY),
    ],
    prefixes: &[],
};

/// SQL Server and Azure SQL. Extended and system stored procedures cannot be
/// called from a SELECT, but a name that reaches them is refused by its prefix all
/// the same, so no allow-list entry can admit one.
const SQLSERVER: DenyList = DenyList {
    exact: &[
        ("openrowset", FILES),
        ("opendatasource", REMOTE),
        ("openquery", REMOTE),
        ("openxml", SESSION),
        ("newsequentialid", SEQUENCES),
        ("fn_get_audit_file", FILES),
        ("fn_xe_file_target_read_file", FILES),
        ("fn_trace_gettable", FILES),
        ("fn_dblog", ADMIN),
        ("fn_dump_dblog", FILES),
        ("pwdcompare", ADMIN),
        ("pwdencrypt", ADMIN),
        ("get_filestream_transaction_context", XACT),
        ("current_transaction_id", XACT),
        ("next", SEQUENCES),
    ],
    prefixes: &[("xp_", PROGRAMS), ("sp_", DYNAMIC_SQL), ("fn_xe_", FILES)],
};

impl DenyList {
    fn lookup(&self, name: &str) -> Option<&'static str> {
        self.exact
            .iter()
            .find(|(denied, _)| *denied == name)
            .or_else(|| {
                self.prefixes
                    .iter()
                    .find(|(prefix, _)| name.starts_with(prefix))
            })
            .map(|(_, why)| *why)
    }
}

/// Why `name` (already normalised: last identifier, lowercase) is denied on `dialect`,
/// or `None` when it is allowed.
pub(crate) fn denied_function(dialect: Dialect, name: &str) -> Option<&'static str> {
    let list = match dialect {
        Dialect::Postgresql => &POSTGRESQL,
        Dialect::Mysql => &MYSQL,
        Dialect::Sqlite => &SQLITE,
        Dialect::Sqlserver => &SQLSERVER,
    };
    COMMON.lookup(name).or_else(|| list.lookup(name))
}

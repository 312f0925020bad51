//! The one vocabulary of failure codes, and the one mapping from a code to
//! what each surface shows: an HTTP status, an MCP error kind, whether it is
//! a refusal by policy, and the fixed reason an audit record carries.
//!
//! A code's text (`guard.denied_function`, `sqlstate:42P01`, `agent.busy`,
//! …) is what audit records, logs and the agent protocol carry; it is parsed
//! once where it enters (an agent's reply, a driver's error) and every
//! decision is made on the enum, never on the text's spelling. The text form
//! is stable: records written before this type existed parse to the same
//! codes.

use std::fmt;

/// A failure's class. Never carries a value from a row, a query or a driver
/// message: families hold only a short `[a-z0-9_]` detail or a source's own
/// error number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `guard.<rule>`: the SELECT-only guard refused the statement.
    Guard(String),
    /// `limit.<which>`: a cap or a concurrency limit.
    Limit(String),
    /// `destination`: the source's address is refused by policy.
    Destination,
    /// `privileged_login`: the login can do more than read.
    PrivilegedLogin,
    /// `invalid_params`: the call's arguments are wrong.
    InvalidParams,
    /// `param`: a query parameter could not be bound.
    Param,
    /// `usage`: the connector was used wrongly (dialect, parameter count).
    Usage,
    /// `spec`: the connection spec is incomplete or contradictory.
    Spec,
    /// `crypto.open`: a sealed secret does not open with this key.
    CryptoOpen,
    UnknownTool,
    UnknownConnection,
    UnknownTable,
    UnknownResource,
    /// `unknown_secret`: no named Secret of that name in the workspace.
    UnknownSecret,
    /// `conflict`: the name exists, or the object is managed elsewhere.
    Conflict,
    /// `no_schema`: the connection has no discovered schema yet.
    NoSchema,
    /// A source's own error: `sqlstate:<SQLSTATE>` (PostgreSQL, MySQL and
    /// MariaDB), `source:<code>` (a code that is no SQLSTATE: SQLite's result
    /// codes), `mysql:<errno>`, `sqlite:<code>`, `s3:<S3 error code>` (an
    /// object store's `NoSuchKey`, `AccessDenied`, …), or `driver` / `source`
    /// when it gave none.
    Source(String),
    /// `timeout`: the statement ran out of time.
    Timeout,
    /// `connect.<class>` (or bare `connect`): the source could not be reached
    /// or refused the login.
    Connect(String),
    /// `store`: the server's own store failed.
    Store,
    /// `audit.<what>`: the audit log could not take the record, so no answer.
    Audit(String),
    /// `agent.<what>`: the on-premise agent was offline, lost, busy, slow,
    /// or refused the call by its own rules.
    Agent(String),
    /// `protocol.<what>`: a malformed or unknown protocol message.
    Protocol(String),
    /// `cancelled`: the client gave up; the statement was stopped.
    Cancelled,
    /// `internal`: a fault of Conexor itself.
    Internal,
    /// A well-formed code this build does not know (from a newer agent, say):
    /// kept as it came, treated as a failure of the party that sent it.
    Unrecognised(String),
}

/// How an MCP server reports a failure of a `tools/call` or `resources/read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpKind {
    /// A result with `isError: true`: the model reads the message and adapts.
    ToolError,
    /// JSON-RPC "invalid params" (-32602): the request named no such tool.
    InvalidParams,
    /// The named thing does not exist: `resources/read` answers the
    /// protocol's "resource not found"; `tools/call` answers a tool error
    /// (the message lists the names that exist, which the model can use).
    ResourceNotFound,
}

impl ErrorCode {
    /// Parses a code's text; every text gives a code (unknown but
    /// well-formed families are [`ErrorCode::Unrecognised`]).
    pub fn parse(text: &str) -> ErrorCode {
        let detail = |rest: &str| rest.to_owned();
        if let Some((family, rest)) = text.split_once('.') {
            return match family {
                "guard" => ErrorCode::Guard(detail(rest)),
                "limit" => ErrorCode::Limit(detail(rest)),
                "connect" => ErrorCode::Connect(detail(rest)),
                "agent" => ErrorCode::Agent(detail(rest)),
                "protocol" => ErrorCode::Protocol(detail(rest)),
                "audit" => ErrorCode::Audit(detail(rest)),
                "crypto" if rest == "open" => ErrorCode::CryptoOpen,
                _ => ErrorCode::Unrecognised(text.to_owned()),
            };
        }
        if let Some((family, _)) = text.split_once(':') {
            return match family {
                "sqlstate" | "mysql" | "sqlite" | "mssql" | "source" | "s3" | "http" | "rest"
                | "kafka" => ErrorCode::Source(text.to_owned()),
                _ => ErrorCode::Unrecognised(text.to_owned()),
            };
        }
        match text {
            "destination" => ErrorCode::Destination,
            "privileged_login" => ErrorCode::PrivilegedLogin,
            "invalid_params" => ErrorCode::InvalidParams,
            "param" => ErrorCode::Param,
            "usage" => ErrorCode::Usage,
            "spec" => ErrorCode::Spec,
            "unknown_tool" => ErrorCode::UnknownTool,
            "unknown_connection" => ErrorCode::UnknownConnection,
            "unknown_table" => ErrorCode::UnknownTable,
            "unknown_resource" => ErrorCode::UnknownResource,
            "unknown_secret" => ErrorCode::UnknownSecret,
            "conflict" => ErrorCode::Conflict,
            "no_schema" => ErrorCode::NoSchema,
            "driver" | "source" => ErrorCode::Source(text.to_owned()),
            "timeout" => ErrorCode::Timeout,
            "connect" => ErrorCode::Connect(String::new()),
            "store" => ErrorCode::Store,
            "cancelled" => ErrorCode::Cancelled,
            "internal" => ErrorCode::Internal,
            _ => ErrorCode::Unrecognised(text.to_owned()),
        }
    }

    /// A refusal by policy (the guard, a limit, the destination policy, a
    /// privileged login, the agent's own rules), as opposed to a failure.
    pub fn is_denial(&self) -> bool {
        match self {
            ErrorCode::Guard(_)
            | ErrorCode::Limit(_)
            | ErrorCode::Destination
            | ErrorCode::PrivilegedLogin => true,
            ErrorCode::Agent(what) => what == "privileged_login",
            _ => false,
        }
    }

    /// The HTTP status of the REST API for this code.
    pub fn http_status(&self) -> u16 {
        match self {
            ErrorCode::Guard(_) | ErrorCode::Destination | ErrorCode::PrivilegedLogin => 403,
            ErrorCode::Agent(what) if what == "privileged_login" => 403,
            ErrorCode::InvalidParams
            | ErrorCode::Param
            | ErrorCode::Usage
            | ErrorCode::Spec
            | ErrorCode::CryptoOpen => 400,
            ErrorCode::UnknownTool
            | ErrorCode::UnknownConnection
            | ErrorCode::UnknownTable
            | ErrorCode::UnknownResource
            | ErrorCode::UnknownSecret => 404,
            ErrorCode::Conflict | ErrorCode::NoSchema => 409,
            ErrorCode::Limit(which) if which == "row_size" => 422,
            ErrorCode::Limit(_) => 429,
            ErrorCode::Agent(what) if what == "busy" => 429,
            ErrorCode::Source(_) => 422,
            ErrorCode::Timeout => 504,
            ErrorCode::Agent(what) if what == "timeout" => 504,
            ErrorCode::Agent(what) if what == "offline" => 503,
            ErrorCode::Store | ErrorCode::Audit(_) => 503,
            ErrorCode::Connect(_)
            | ErrorCode::Agent(_)
            | ErrorCode::Protocol(_)
            | ErrorCode::Unrecognised(_) => 502,
            // The client is gone; nginx's "client closed request".
            ErrorCode::Cancelled => 499,
            ErrorCode::Internal => 500,
        }
    }

    /// How an MCP server reports it.
    pub fn mcp_kind(&self) -> McpKind {
        match self {
            ErrorCode::UnknownTool => McpKind::InvalidParams,
            ErrorCode::UnknownResource | ErrorCode::UnknownConnection | ErrorCode::UnknownTable => {
                McpKind::ResourceNotFound
            }
            _ => McpKind::ToolError,
        }
    }

    /// Whether a wrong table or column name may be the cause, so that a hint
    /// with the nearest names helps: a source's own statement error, except
    /// PostgreSQL's classes 08 (connection exception), 53 (insufficient
    /// resources) and 57 (operator intervention: a restart, a timeout).
    pub fn may_concern_names(&self) -> bool {
        match self {
            ErrorCode::Source(code) => {
                !(code.starts_with("sqlstate:08")
                    || code.starts_with("sqlstate:53")
                    || code.starts_with("sqlstate:57"))
            }
            _ => false,
        }
    }

    /// The fixed reason an audit record carries with the code: never text
    /// from a driver, a query or a row.
    pub fn fixed_reason(&self) -> &'static str {
        match self {
            ErrorCode::Guard(_) => "refused by the SELECT-only guard",
            ErrorCode::Source(_) => "the source rejected or failed the statement",
            ErrorCode::Timeout => "statement timeout",
            ErrorCode::Connect(_) => "could not connect to the source",
            ErrorCode::Limit(_) => "a limit was reached",
            ErrorCode::Destination => "destination refused by policy",
            ErrorCode::PrivilegedLogin => "the login can do more than read",
            ErrorCode::CryptoOpen => "the secret does not open with this key",
            ErrorCode::Spec => "invalid connection spec",
            ErrorCode::InvalidParams | ErrorCode::Param | ErrorCode::Usage => "invalid arguments",
            ErrorCode::UnknownTool
            | ErrorCode::UnknownConnection
            | ErrorCode::UnknownTable
            | ErrorCode::UnknownResource
            | ErrorCode::UnknownSecret => "unknown name",
            ErrorCode::Conflict => "conflict with what exists",
            ErrorCode::NoSchema => "no discovered schema",
            ErrorCode::Store => "the server's store failed",
            ErrorCode::Audit(_) => "the audit log was unavailable",
            ErrorCode::Agent(_) => "the on-premise agent was unavailable or refused the call",
            ErrorCode::Protocol(_) => "a malformed or unknown protocol message",
            ErrorCode::Cancelled => "the client cancelled the call",
            ErrorCode::Internal | ErrorCode::Unrecognised(_) => "the call failed",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let family = |f: &mut fmt::Formatter<'_>, family: &str, detail: &str| {
            if detail.is_empty() {
                f.write_str(family)
            } else {
                write!(f, "{family}.{detail}")
            }
        };
        match self {
            ErrorCode::Guard(d) => family(f, "guard", d),
            ErrorCode::Limit(d) => family(f, "limit", d),
            ErrorCode::Connect(d) => family(f, "connect", d),
            ErrorCode::Agent(d) => family(f, "agent", d),
            ErrorCode::Protocol(d) => family(f, "protocol", d),
            ErrorCode::Audit(d) => family(f, "audit", d),
            ErrorCode::Source(text) | ErrorCode::Unrecognised(text) => f.write_str(text),
            ErrorCode::Destination => f.write_str("destination"),
            ErrorCode::PrivilegedLogin => f.write_str("privileged_login"),
            ErrorCode::InvalidParams => f.write_str("invalid_params"),
            ErrorCode::Param => f.write_str("param"),
            ErrorCode::Usage => f.write_str("usage"),
            ErrorCode::Spec => f.write_str("spec"),
            ErrorCode::CryptoOpen => f.write_str("crypto.open"),
            ErrorCode::UnknownTool => f.write_str("unknown_tool"),
            ErrorCode::UnknownConnection => f.write_str("unknown_connection"),
            ErrorCode::UnknownTable => f.write_str("unknown_table"),
            ErrorCode::UnknownResource => f.write_str("unknown_resource"),
            ErrorCode::UnknownSecret => f.write_str("unknown_secret"),
            ErrorCode::Conflict => f.write_str("conflict"),
            ErrorCode::NoSchema => f.write_str("no_schema"),
            ErrorCode::Timeout => f.write_str("timeout"),
            ErrorCode::Store => f.write_str("store"),
            ErrorCode::Cancelled => f.write_str("cancelled"),
            ErrorCode::Internal => f.write_str("internal"),
        }
    }
}

impl From<&str> for ErrorCode {
    fn from(text: &str) -> Self {
        ErrorCode::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one mapping, as a table: code text, HTTP status, MCP kind, denial.
    #[test]
    fn the_mapping() {
        use McpKind::*;
        let table: &[(&str, u16, McpKind, bool)] = &[
            ("guard.denied_function", 403, ToolError, true),
            ("guard.multiple_statements", 403, ToolError, true),
            ("destination", 403, ToolError, true),
            ("privileged_login", 403, ToolError, true),
            ("agent.privileged_login", 403, ToolError, true),
            ("invalid_params", 400, ToolError, false),
            ("param", 400, ToolError, false),
            ("usage", 400, ToolError, false),
            ("spec", 400, ToolError, false),
            ("crypto.open", 400, ToolError, false),
            ("unknown_tool", 404, InvalidParams, false),
            ("unknown_connection", 404, ResourceNotFound, false),
            ("unknown_table", 404, ResourceNotFound, false),
            ("unknown_resource", 404, ResourceNotFound, false),
            ("unknown_secret", 404, ToolError, false),
            ("conflict", 409, ToolError, false),
            ("no_schema", 409, ToolError, false),
            ("limit.concurrency", 429, ToolError, true),
            ("limit.memory", 429, ToolError, true),
            ("agent.busy", 429, ToolError, false),
            ("limit.row_size", 422, ToolError, true),
            ("sqlstate:42P01", 422, ToolError, false),
            ("mysql:1146", 422, ToolError, false),
            ("sqlite:1", 422, ToolError, false),
            ("source:1", 422, ToolError, false),
            ("driver", 422, ToolError, false),
            ("timeout", 504, ToolError, false),
            ("agent.timeout", 504, ToolError, false),
            ("connect.auth", 502, ToolError, false),
            ("connect", 502, ToolError, false),
            ("agent.lost", 502, ToolError, false),
            ("agent.bad_schema", 502, ToolError, false),
            ("protocol.malformed", 502, ToolError, false),
            ("agent.offline", 503, ToolError, false),
            ("store", 503, ToolError, false),
            ("audit.unavailable", 503, ToolError, false),
            ("cancelled", 499, ToolError, false),
            ("internal", 500, ToolError, false),
            ("brand_new.thing", 502, ToolError, false),
        ];
        for &(text, status, mcp, denial) in table {
            let code = ErrorCode::parse(text);
            assert_eq!(code.to_string(), text, "the text form round-trips");
            assert_eq!(code.http_status(), status, "{text}");
            assert_eq!(code.mcp_kind(), mcp, "{text}");
            assert_eq!(code.is_denial(), denial, "{text}");
        }
    }

    #[test]
    fn names_are_hinted_only_for_statement_errors() {
        for text in ["sqlstate:42703", "sqlstate:42P01", "mysql:1054", "sqlite:1"] {
            assert!(ErrorCode::parse(text).may_concern_names(), "{text}");
        }
        for text in [
            "sqlstate:08006",
            "sqlstate:53300",
            "sqlstate:57P01",
            "connect.refused",
            "limit.row_size",
            "agent.lost",
            "timeout",
        ] {
            assert!(!ErrorCode::parse(text).may_concern_names(), "{text}");
        }
    }

    #[test]
    fn reasons_are_fixed_per_family() {
        assert_eq!(
            ErrorCode::parse("guard.anything_new").fixed_reason(),
            "refused by the SELECT-only guard"
        );
        assert_eq!(
            ErrorCode::parse("sqlstate:22012").fixed_reason(),
            "the source rejected or failed the statement"
        );
        assert_eq!(
            ErrorCode::parse("who.knows").fixed_reason(),
            "the call failed"
        );
    }
}

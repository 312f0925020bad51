//! The log filter shared by `conexor server`, `conexor demo` and
//! `conexor agent`: the operator's filter, and under it a fixed ceiling for
//! every library, so that no level the operator asks for lets rows, SQL
//! text, parameter values or secrets into the log.
//!
//! What the libraries log, read from their sources (versions in Cargo.lock):
//! - `sqlx`: every statement's SQL text at INFO (`sqlx::query`), slow ones at
//!   WARN; connect-option values and `.pgpass` lines at WARN; driver error
//!   messages (which can quote values) at ERROR. Off.
//! - `rmcp`: every JSON-RPC request (tool arguments: SQL, parameters) and
//!   result (rows) at DEBUG; failed handlers' errors at WARN; a session that
//!   fails its handshake logs the offending message, arguments included, at
//!   ERROR. Off.
//! - `hyper`, `hyper_util`, `h2`, `axum`, `tower_http`, `tungstenite`,
//!   `tokio_tungstenite`, `reqwest`, `rustls`: frames, header blocks and
//!   request rejections (with body snippets) at DEBUG/TRACE; their WARN and
//!   ERROR events name errors and header names only. Capped at WARN, as is
//!   every other library.
//!
//! Conexor's own crates (targets starting with `conexor`) log fixed field
//! names and never payloads, at every level.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;

/// The ceiling applied whatever the operator's filter says.
pub fn ceiling() -> Targets {
    Targets::new()
        .with_default(LevelFilter::WARN)
        .with_target("conexor", LevelFilter::TRACE)
        .with_target("sqlx", LevelFilter::OFF)
        .with_target("rmcp", LevelFilter::OFF)
}

/// The operator's filter (`info`, `debug`, `conexor_server=trace`, …);
/// an unparsable one falls back to `info` and says so.
pub fn operator_filter(text: &str) -> (tracing_subscriber::EnvFilter, Option<String>) {
    match tracing_subscriber::EnvFilter::try_new(text) {
        Ok(filter) => (filter, None),
        Err(e) => (
            tracing_subscriber::EnvFilter::new("info"),
            Some(format!(
                "the log filter {text:?} is not valid ({e}); using info"
            )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn libraries_that_log_payloads_are_off_at_every_level() {
        let c = ceiling();
        for target in [
            "sqlx::query",
            "sqlx_core::pool::inner",
            "sqlx_postgres::options::parse",
            "sqlx_mysql::connection",
            "sqlx_sqlite::logger",
            "rmcp::service",
            "rmcp::transport::streamable_http_server::tower",
        ] {
            assert!(!c.would_enable(target, &Level::ERROR), "{target}");
        }
        for target in [
            "hyper::proto::h1::conn",
            "h2::codec",
            "tower_http::trace",
            "axum::rejection",
        ] {
            assert!(!c.would_enable(target, &Level::INFO), "{target}");
            assert!(c.would_enable(target, &Level::WARN), "{target}");
        }
        assert!(c.would_enable("conexor_server::gateway", &Level::TRACE));
        assert!(c.would_enable("conexor_agent::serve", &Level::DEBUG));
    }
}

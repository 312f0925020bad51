//! The traits every kind of source implements, and the one place that lists
//! the kinds ([`each_kind!`]): adding a kind is its module, a
//! `ConnectionKind` variant, a [`crate::Source`] variant and an arm here.
//!
//! A [`Connector`] tests its login, discovers names (never rows or
//! contents) and closes. A [`SqlConnector`] also runs one guarded query;
//! object storage reads a typed `ObjectRead` instead
//! ([`crate::s3::S3Source::read`]) and does not pretend to be SQL.

use crate::{Error, Schema, TestReport};
use conexor_guard::{CheckedQuery, FunctionPolicy};
use conexor_types::{ConnectionKind, Limits, ResultSet};
use serde_json::Value;
use std::future::Future;
use tokio_util::sync::CancellationToken;

/// What every kind of source does.
pub trait Connector: Clone + Send + Sync + 'static {
    /// The kind this connector serves.
    const KIND: ConnectionKind;

    /// Version, latency, and what the login can do beyond reading.
    fn test(&self) -> impl Future<Output = Result<TestReport, Error>> + Send;

    /// Names, types, keys, comments and estimates (SQL), or buckets and
    /// top-level prefixes (object storage); never rows or contents.
    fn discover(&self) -> impl Future<Output = Result<Schema, Error>> + Send;

    /// Closes every pooled session or connection.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// A source that answers guarded SQL.
pub trait SqlConnector: Connector {
    /// The connection admin's allow-list of user-defined functions.
    fn policy(&self) -> &FunctionPolicy;

    /// Runs one guarded query with bound parameters within `limits`,
    /// stopping it at the source when `stop` is cancelled.
    fn read(
        &self,
        query: &CheckedQuery,
        params: &[Value],
        limits: &Limits,
        stop: &CancellationToken,
    ) -> impl Future<Output = Result<ResultSet, Error>> + Send;
}

/// Runs `$body` with `$s` bound to the connector inside a [`crate::Source`],
/// whatever its kind: the only match over every kind.
macro_rules! each_kind {
    ($source:expr, |$s:ident| $body:expr) => {
        match $source {
            $crate::Source::Postgresql($s) => $body,
            $crate::Source::Mysql(boxed) => {
                let $s = &**boxed;
                $body
            }
            $crate::Source::Sqlite($s) => $body,
            $crate::Source::Sqlserver($s) => $body,
            $crate::Source::S3($s) => $body,
            $crate::Source::Rest($s) => $body,
            $crate::Source::Kafka($s) => $body,
        }
    };
}
pub(crate) use each_kind;

/// Runs `$sql` with `$s` bound to the connector when the source is a SQL
/// kind, `$other` otherwise: the one list of the SQL kinds.
macro_rules! each_sql_kind {
    ($source:expr, |$s:ident| $sql:expr, $other:expr) => {
        match $source {
            $crate::Source::Postgresql($s) => $sql,
            $crate::Source::Mysql(boxed) => {
                let $s = &**boxed;
                $sql
            }
            $crate::Source::Sqlite($s) => $sql,
            $crate::Source::Sqlserver($s) => $sql,
            $crate::Source::S3(_) | $crate::Source::Rest(_) | $crate::Source::Kafka(_) => $other,
        }
    };
}
pub(crate) use each_sql_kind;

/// Implements [`Connector`] and [`SqlConnector`] for a SQL kind from its
/// own methods of the same names.
macro_rules! sql_connector {
    ($ty:ty, $kind:expr) => {
        impl $crate::connector::Connector for $ty {
            const KIND: conexor_types::ConnectionKind = $kind;
            fn test(
                &self,
            ) -> impl std::future::Future<Output = Result<$crate::TestReport, $crate::Error>> + Send
            {
                <$ty>::test(self)
            }
            fn discover(
                &self,
            ) -> impl std::future::Future<Output = Result<$crate::Schema, $crate::Error>> + Send
            {
                <$ty>::discover(self)
            }
            fn close(&self) -> impl std::future::Future<Output = ()> + Send {
                <$ty>::close(self)
            }
        }
        impl $crate::connector::SqlConnector for $ty {
            fn policy(&self) -> &conexor_guard::FunctionPolicy {
                <$ty>::policy(self)
            }
            fn read(
                &self,
                query: &conexor_guard::CheckedQuery,
                params: &[serde_json::Value],
                limits: &conexor_types::Limits,
                stop: &tokio_util::sync::CancellationToken,
            ) -> impl std::future::Future<
                Output = Result<conexor_types::ResultSet, $crate::Error>,
            > + Send {
                <$ty>::read(self, query, params, limits, stop)
            }
        }
    };
}

sql_connector!(
    crate::postgresql::PostgresqlSource,
    ConnectionKind::Postgresql
);
sql_connector!(crate::mysql::MysqlSource, ConnectionKind::Mysql);
sql_connector!(crate::sqlite::SqliteSource, ConnectionKind::Sqlite);
sql_connector!(crate::sqlserver::SqlserverSource, ConnectionKind::Sqlserver);

impl Connector for crate::s3::S3Source {
    const KIND: ConnectionKind = ConnectionKind::S3;

    async fn test(&self) -> Result<TestReport, Error> {
        crate::s3::S3Source::test(self).await
    }

    async fn discover(&self) -> Result<Schema, Error> {
        Ok(Schema {
            tables: Vec::new(),
            buckets: self.buckets().await?,
            ..Schema::default()
        })
    }

    async fn close(&self) {
        // Idle HTTP connections close with the client.
    }
}

impl Connector for crate::rest::RestSource {
    const KIND: ConnectionKind = ConnectionKind::Rest;

    async fn test(&self) -> Result<TestReport, Error> {
        crate::rest::RestSource::test(self).await
    }

    async fn discover(&self) -> Result<Schema, Error> {
        // The description was read when the source was opened; discovery
        // sends nothing.
        Ok(crate::rest::RestSource::discover(self))
    }

    async fn close(&self) {}
}

impl Connector for crate::kafka::KafkaSource {
    const KIND: ConnectionKind = ConnectionKind::Kafka;

    async fn test(&self) -> Result<TestReport, Error> {
        crate::kafka::KafkaSource::test(self).await
    }

    async fn discover(&self) -> Result<Schema, Error> {
        Ok(Schema {
            topics: self.topic_infos().await?,
            ..Schema::default()
        })
    }

    async fn close(&self) {}
}

//! Where a connection may point (DESIGN §5): never at the server's own store,
//! SQLite files only under directories the operator allows, link-local and
//! cloud metadata addresses always refused, loopback and private networks
//! allowed unless the operator refuses them.
//!
//! Host names are resolved and every address is checked. The driver resolves
//! the name again when it connects, so a DNS server that answers differently
//! the second time (rebinding) is not stopped here; operators who need that
//! should refuse private networks and use agent mode.

use crate::{ConnectionSpec, Error, SourceSpec};
use conexor_types::ConnectionKind;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct DestinationPolicy {
    /// Refuse 127.0.0.0/8 and ::1 (multi-tenant deployments).
    pub deny_loopback: bool,
    /// Refuse RFC 1918, CGNAT and unique-local addresses.
    pub deny_private: bool,
    /// Directories under which SQLite files may be opened.
    pub sqlite_dirs: Vec<PathBuf>,
    /// Paths that are the server's own (its data directory); never a destination.
    pub own_paths: Vec<PathBuf>,
}

const METADATA_HOSTS: &[&str] = &[
    "metadata.google.internal",
    "metadata",
    "metadata.azure.com",
    "instance-data",
];

pub async fn check_destination(
    kind: ConnectionKind,
    spec: &ConnectionSpec,
    policy: &DestinationPolicy,
) -> Result<(), Error> {
    match kind {
        ConnectionKind::Sqlite => {
            check_sqlite_path(spec.path.as_deref().unwrap_or_default(), policy)
        }
        ConnectionKind::Postgresql | ConnectionKind::Mysql | ConnectionKind::Sqlserver => {
            // A spec that cannot be used is said so before any name is resolved.
            spec.validate(kind)?;
            let host = spec.host.as_deref().unwrap_or_default();
            let port = spec.port.unwrap_or(match kind {
                ConnectionKind::Mysql => 3306,
                ConnectionKind::Sqlserver => crate::sqlserver::DEFAULT_PORT,
                _ => 5432,
            });
            check_host(host, port, policy).await
        }
        ConnectionKind::S3 | ConnectionKind::Rest | ConnectionKind::Kafka => Err(Error::Spec(
            format!("a {kind} connection is checked from its own spec"),
        )),
    }
}

/// [`check_destination`] for a spec of any kind. An object store's endpoint
/// host is checked here, and again by its resolver on every connection.
pub async fn check_spec_destination(
    spec: &SourceSpec,
    policy: &DestinationPolicy,
) -> Result<(), Error> {
    match spec {
        SourceSpec::Sql(kind, sql) => check_destination(*kind, sql, policy).await,
        SourceSpec::S3(s3) => {
            let url = s3.endpoint_url()?;
            let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
            check_host(host, url.port_or_known_default().unwrap_or(443), policy).await
        }
        // The bootstrap servers here; every broker the cluster names, when
        // it is dialled (kafka/gate.rs).
        SourceSpec::Kafka(kafka) => {
            for (host, port) in kafka.brokers()? {
                check_host(&host, port, policy).await?;
            }
            Ok(())
        }
        SourceSpec::Rest(rest) => {
            let url = rest.base()?;
            let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
            check_host(host, url.port_or_known_default().unwrap_or(443), policy).await
        }
    }
}

fn check_sqlite_path(path: &str, policy: &DestinationPolicy) -> Result<(), Error> {
    let canonical = std::fs::canonicalize(path).map_err(|_| {
        Error::Destination("the sqlite file does not exist or cannot be read".into())
    })?;
    for own in &policy.own_paths {
        if let Ok(own) = std::fs::canonicalize(own) {
            let allowed_inside = policy
                .sqlite_dirs
                .iter()
                .filter_map(|d| std::fs::canonicalize(d).ok())
                .any(|d| d.starts_with(&own) && canonical.starts_with(&d));
            if canonical.starts_with(&own) && !allowed_inside {
                return Err(Error::Destination(
                    "a connection may not point at the server's own data directory".into(),
                ));
            }
        }
    }
    if is_under_any(&canonical, &policy.sqlite_dirs) {
        Ok(())
    } else {
        Err(Error::Destination(
            "sqlite files may only be opened under directories the operator allows (--allow-sqlite-dir)"
                .into(),
        ))
    }
}

fn is_under_any(path: &Path, dirs: &[PathBuf]) -> bool {
    dirs.iter()
        .filter_map(|d| std::fs::canonicalize(d).ok())
        .any(|d| path.starts_with(d))
}

pub(crate) async fn check_host(
    host: &str,
    port: u16,
    policy: &DestinationPolicy,
) -> Result<(), Error> {
    let lowered = host.trim_end_matches('.').to_ascii_lowercase();
    if lowered.is_empty() {
        return Err(Error::Spec("a host is required".into()));
    }
    if lowered.starts_with('/') {
        return Err(Error::Destination(
            "unix socket paths are not allowed as hosts".into(),
        ));
    }
    if METADATA_HOSTS.contains(&lowered.as_str()) {
        return Err(Error::Destination(
            "cloud metadata endpoints are never allowed".into(),
        ));
    }
    let addrs: Vec<IpAddr> = match lowered.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((lowered.as_str(), port))
            .await
            .map_err(|_| Error::Connect {
                failure: crate::error::ConnectFailure::Dns,
            })?
            .map(|a| a.ip())
            .collect(),
    };
    for ip in addrs {
        check_ip(ip, policy)?;
    }
    Ok(())
}

/// Refuses an address by the policy.
pub fn check_ip(ip: IpAddr, policy: &DestinationPolicy) -> Result<(), Error> {
    let ip = match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    let refuse = |why: &str| Err(Error::Destination(why.to_owned()));
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_link_local() || o == [100, 100, 100, 200] || o == [192, 0, 0, 192] {
                return refuse("link-local and cloud metadata addresses are never allowed");
            }
            if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() {
                return refuse("not a unicast address");
            }
            if v4.is_loopback() && policy.deny_loopback {
                return refuse("loopback addresses are refused by the operator");
            }
            let cgnat = o[0] == 100 && (64..128).contains(&o[1]);
            if (v4.is_private() || cgnat) && policy.deny_private {
                return refuse("private network addresses are refused by the operator");
            }
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            if (seg[0] & 0xffc0) == 0xfe80 || seg == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] {
                return refuse("link-local and cloud metadata addresses are never allowed");
            }
            if v6.is_unspecified() || v6.is_multicast() {
                return refuse("not a unicast address");
            }
            if v6.is_loopback() && policy.deny_loopback {
                return refuse("loopback addresses are refused by the operator");
            }
            if (seg[0] & 0xfe00) == 0xfc00 && policy.deny_private {
                return refuse("private network addresses are refused by the operator");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_link_local_always_refused() {
        let open = DestinationPolicy::default();
        for ip in [
            "169.254.169.254",
            "fe80::1",
            "::ffff:169.254.169.254",
            "fd00:ec2::254",
            "100.100.100.200",
        ] {
            assert!(check_ip(ip.parse().unwrap(), &open).is_err(), "{ip}");
        }
        for ip in ["127.0.0.1", "10.0.0.5", "192.168.1.1", "8.8.8.8", "::1"] {
            assert!(check_ip(ip.parse().unwrap(), &open).is_ok(), "{ip}");
        }
        let strict = DestinationPolicy {
            deny_loopback: true,
            deny_private: true,
            ..Default::default()
        };
        for ip in [
            "127.0.0.1",
            "10.0.0.5",
            "192.168.1.1",
            "::1",
            "fd12::1",
            "100.64.0.1",
        ] {
            assert!(check_ip(ip.parse().unwrap(), &strict).is_err(), "{ip}");
        }
    }

    #[tokio::test]
    async fn metadata_host_names_refused() {
        let spec = ConnectionSpec {
            host: Some("metadata.google.internal".into()),
            username: Some("u".into()),
            ..Default::default()
        };
        let err = check_destination(
            ConnectionKind::Postgresql,
            &spec,
            &DestinationPolicy::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Destination(_)));
    }

    #[test]
    fn sqlite_only_under_allowed_dirs_and_never_own_store() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let samples = data.join("samples");
        std::fs::create_dir_all(&samples).unwrap();
        std::fs::write(data.join("conexor.db"), b"x").unwrap();
        std::fs::write(samples.join("shop.db"), b"x").unwrap();
        let elsewhere = dir.path().join("other.db");
        std::fs::write(&elsewhere, b"x").unwrap();
        let policy = DestinationPolicy {
            sqlite_dirs: vec![samples.clone(), dir.path().to_path_buf()],
            own_paths: vec![data.clone()],
            ..Default::default()
        };
        assert!(check_sqlite_path(samples.join("shop.db").to_str().unwrap(), &policy).is_ok());
        assert!(check_sqlite_path(elsewhere.to_str().unwrap(), &policy).is_ok());
        // The store itself, even though dir (its parent) is allowed.
        assert!(check_sqlite_path(data.join("conexor.db").to_str().unwrap(), &policy).is_err());
        // A path that walks back into the store.
        let sneaky = samples.join("../conexor.db");
        assert!(check_sqlite_path(sneaky.to_str().unwrap(), &policy).is_err());
        let narrow = DestinationPolicy {
            sqlite_dirs: vec![samples],
            own_paths: vec![data],
            ..Default::default()
        };
        assert!(check_sqlite_path(elsewhere.to_str().unwrap(), &narrow).is_err());
    }
}

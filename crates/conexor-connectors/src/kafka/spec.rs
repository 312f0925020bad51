//! The plaintext Kafka connection spec, by the fields Kafka users know:
//! what the client seals (format v1) and the server or agent opens in
//! memory. Its `Debug` is redacted; the password and client key are
//! zeroized on drop.

use crate::Error;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(text: &str) -> Option<SecurityProtocol> {
        Some(match text.to_ascii_uppercase().replace('-', "_").as_str() {
            "PLAINTEXT" => SecurityProtocol::Plaintext,
            "SSL" => SecurityProtocol::Ssl,
            "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
            "SASL_SSL" => SecurityProtocol::SaslSsl,
            _ => return None,
        })
    }
    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    pub fn parse(text: &str) -> Option<SaslMechanism> {
        Some(match text.to_ascii_uppercase().replace('_', "-").as_str() {
            "PLAIN" => SaslMechanism::Plain,
            "SCRAM-SHA-256" => SaslMechanism::ScramSha256,
            "SCRAM-SHA-512" => SaslMechanism::ScramSha512,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSpec {
    /// `broker1:9092,broker2:9092`.
    pub bootstrap_servers: String,
    #[serde(default)]
    pub security_protocol: SecurityProtocol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_mechanism: Option<SaslMechanism>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Zeroizing<String>>,
    /// The password is the named Secret of this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<String>,
    /// PEM of the CA that signs the brokers' certificates (SSL, SASL_SSL);
    /// the public web roots when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// Mutual TLS: the client's certificate chain and key, PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_pem: Option<Zeroizing<String>>,
    /// A schema registry with Confluent's API, to decode Avro and JSON
    /// Schema values in Confluent's wire format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry_password: Option<Zeroizing<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry_password_secret: Option<String>,
}

impl std::fmt::Debug for KafkaSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KafkaSpec([redacted])")
    }
}

impl KafkaSpec {
    /// The bootstrap servers as `host:port`, checked.
    pub fn brokers(&self) -> Result<Vec<(String, u16)>, Error> {
        let mut out = Vec::new();
        for entry in self.bootstrap_servers.split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let (host, port) = entry.rsplit_once(':').ok_or_else(|| {
                Error::Spec(format!("bootstrap server {entry:?} is not host:port"))
            })?;
            let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                Error::Spec(format!("bootstrap server {entry:?} has no valid port"))
            })?;
            if host.is_empty()
                || host.len() > 253
                || host.contains(['[', ']', '/', '@', ' '])
                || host.chars().any(char::is_control)
            {
                return Err(Error::Spec(format!(
                    "bootstrap server {entry:?} is not a host name or IPv4 address"
                )));
            }
            out.push((host.to_owned(), port));
        }
        if out.is_empty() {
            return Err(Error::Spec(
                "give at least one bootstrap server (host:port)".into(),
            ));
        }
        if out.len() > 32 {
            return Err(Error::Spec("at most 32 bootstrap servers".into()));
        }
        Ok(out)
    }

    /// The named Secrets the spec references, as `(field, secret name)`.
    pub fn secret_refs(&self) -> Vec<(String, String)> {
        self.password_secret
            .iter()
            .map(|name| ("password".to_owned(), name.clone()))
            .chain(
                self.schema_registry_password_secret
                    .iter()
                    .map(|name| ("schema_registry_password".to_owned(), name.clone())),
            )
            .collect()
    }

    pub fn validate(&self) -> Result<(), Error> {
        self.brokers()?;
        let protocol = self.security_protocol;
        if protocol.sasl() {
            if self.sasl_mechanism.is_none() {
                return Err(Error::Spec(format!(
                    "{} needs a SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                    protocol.as_str()
                )));
            }
            if self.username.as_deref().is_none_or(str::is_empty) {
                return Err(Error::Spec("SASL needs a user name".into()));
            }
            if self.password.is_none() && self.password_secret.is_none() {
                return Err(Error::Spec(
                    "SASL needs a password (or a password secret)".into(),
                ));
            }
        } else if self.sasl_mechanism.is_some()
            || self.password.is_some()
            || self.password_secret.is_some()
        {
            return Err(Error::Spec(format!(
                "{} sends no SASL login: use SASL_PLAINTEXT or SASL_SSL for a user and password",
                protocol.as_str()
            )));
        }
        if self.password.is_some() && self.password_secret.is_some() {
            return Err(Error::Spec(
                "give either a password or a password secret, not both".into(),
            ));
        }
        if !protocol.tls()
            && (self.ca_pem.is_some()
                || self.client_cert_pem.is_some()
                || self.client_key_pem.is_some())
        {
            return Err(Error::Spec(format!(
                "{} uses no TLS: certificates need SSL or SASL_SSL",
                protocol.as_str()
            )));
        }
        if self.schema_registry_url.is_none()
            && (self.schema_registry_username.is_some()
                || self.schema_registry_password.is_some()
                || self.schema_registry_password_secret.is_some())
        {
            return Err(Error::Spec(
                "a schema registry login needs the registry's URL".into(),
            ));
        }
        if self.client_cert_pem.is_some() != self.client_key_pem.is_some() {
            return Err(Error::Spec(
                "mutual TLS needs both the client certificate and its key".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_checked_as_kafka_users_know_them() {
        let spec = |servers: &str| KafkaSpec {
            bootstrap_servers: servers.into(),
            ..Default::default()
        };
        assert_eq!(
            spec("a:9092, b:9093").brokers().unwrap(),
            vec![("a".to_owned(), 9092), ("b".to_owned(), 9093)]
        );
        for bad in ["", "a", "a:0", "a:x", "[::1]:9092", "a b:1", "u@h:1"] {
            assert!(spec(bad).validate().is_err(), "{bad:?}");
        }
        let sasl = KafkaSpec {
            security_protocol: SecurityProtocol::SaslPlaintext,
            sasl_mechanism: Some(SaslMechanism::ScramSha512),
            username: Some("alice".into()),
            password: Some(Zeroizing::new("pw".into())),
            ..spec("k:9092")
        };
        assert!(sasl.validate().is_ok());
        assert!(
            KafkaSpec {
                sasl_mechanism: None,
                ..sasl.clone()
            }
            .validate()
            .is_err()
        );
        assert!(
            KafkaSpec {
                password: None,
                ..sasl.clone()
            }
            .validate()
            .is_err()
        );
        let plain_with_password = KafkaSpec {
            security_protocol: SecurityProtocol::Plaintext,
            ..sasl.clone()
        };
        assert!(plain_with_password.validate().is_err());
        let cert_without_tls = KafkaSpec {
            ca_pem: Some("x".into()),
            ..spec("k:9092")
        };
        assert!(cert_without_tls.validate().is_err());
        assert_eq!(
            SaslMechanism::parse("scram_sha_256"),
            Some(SaslMechanism::ScramSha256)
        );
        assert_eq!(
            SecurityProtocol::parse("sasl-ssl"),
            Some(SecurityProtocol::SaslSsl)
        );
        assert_eq!(format!("{sasl:?}"), "KafkaSpec([redacted])");
    }
}

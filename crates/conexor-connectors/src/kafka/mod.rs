//! Kafka and Kafka-compatible brokers (`kafka`): list topics and peek at
//! messages by explicit offset, never as a consumer group.
//!
//! Layers, outermost first:
//! - [`TopicRead`] has no variant that produces, creates, deletes, joins a
//!   group or commits an offset.
//! - The client is rskafka, which has no consumer-group code at all: it
//!   sends ApiVersions, Metadata, ListOffsets, Fetch and the SASL exchange,
//!   and nothing else here (a test counts the request kinds on the wire).
//! - Every broker dial, the addresses the cluster advertises included, goes
//!   through [`gate`], which checks it against the destination policy.
//! - [`KafkaSource::clamp`] fits a peek to the caps before anything is sent;
//!   a message larger than [`MAX_MESSAGE_BYTES`] is refused by the client,
//!   and each key, value and header is cut at its own cap.

mod decode;
mod gate;
mod registry;
mod spec;

pub use spec::{KafkaSpec, SaslMechanism, SecurityProtocol};

use crate::error::ConnectFailure;
use crate::{Error, OpenOptions, TestReport};
use conexor_types::Limits;
use conexor_types::topics::{Start, TopicName, TopicRead};
use futures::StreamExt;
use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Largest message the client accepts from a broker; a larger batch is an
/// error rather than memory.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Most messages one peek returns.
pub const MAX_PEEK: u32 = 1000;
/// Most bytes of one key, value or header in an answer.
pub const MAX_PART_BYTES: usize = 256 * 1024;
/// Most topics one listing describes (their offsets cost a request per partition).
const MAX_LISTED: usize = 200;

/// A topic found by discovery: its name and partition count (never messages).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: usize,
}

/// What a read returns, and what it cost.
#[derive(Debug, Clone)]
pub struct TopicAnswer {
    pub value: Value,
    /// Topics listed or messages returned.
    pub rows: Option<u64>,
}

#[derive(Clone)]
pub struct KafkaSource {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    gate: gate::Gate,
    protocol: SecurityProtocol,
    mechanism: Option<SaslMechanism>,
    timeout: Duration,
    registry: Option<registry::Registry>,
}

impl KafkaSource {
    /// Connects to the bootstrap servers and reads the cluster's metadata.
    pub async fn open(spec: &KafkaSpec, options: &OpenOptions) -> Result<KafkaSource, Error> {
        spec.validate()?;
        if spec.password_secret.is_some() || spec.schema_registry_password_secret.is_some() {
            return Err(Error::Spec(
                "the password refers to a named secret that was not resolved".into(),
            ));
        }
        let registry = match &spec.schema_registry_url {
            Some(url) => Some(registry::Registry::open(
                url,
                spec.schema_registry_username
                    .clone()
                    .map(|u| (u, spec.schema_registry_password.clone().unwrap_or_default())),
                options,
            )?),
            None => None,
        };
        let brokers = spec.brokers()?;
        let gate = gate::Gate::start(options.destinations.clone(), options.connect_timeout)
            .await
            .map_err(|_| Error::Connect {
                failure: ConnectFailure::Unreachable,
            })?;
        let mut builder = ClientBuilder::new(
            brokers
                .iter()
                .map(|(host, port)| format!("{host}:{port}"))
                .collect(),
        )
        .client_id("conexor")
        .max_message_size(MAX_MESSAGE_BYTES)
        .socks5_proxy(gate.addr.to_string())
        .backoff_config(rskafka::BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
            deadline: Some(options.connect_timeout),
        });
        if spec.security_protocol.tls() {
            builder = builder.tls_config(Arc::new(tls_config(spec)?));
        }
        if spec.security_protocol.sasl() {
            let credentials = Credentials::new(
                spec.username.clone().unwrap_or_default(),
                spec.password
                    .as_ref()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
            );
            builder = builder.sasl_config(match spec.sasl_mechanism {
                Some(SaslMechanism::ScramSha256) => SaslConfig::ScramSha256(credentials),
                Some(SaslMechanism::ScramSha512) => SaslConfig::ScramSha512(credentials),
                _ => SaslConfig::Plain(credentials),
            });
        }
        let client = match tokio::time::timeout(options.connect_timeout, builder.build()).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(kafka_error(e, &gate)),
            Err(_) => {
                return Err(gate_refusal(&gate).unwrap_or(Error::Connect {
                    failure: ConnectFailure::Timeout,
                }));
            }
        };
        Ok(KafkaSource {
            inner: Arc::new(Inner {
                client,
                gate,
                protocol: spec.security_protocol,
                mechanism: spec.sasl_mechanism,
                timeout: options.statement_timeout,
                registry,
            }),
        })
    }

    /// Fits `op` to `limits`: messages to `max_rows` and [`MAX_PEEK`],
    /// bytes to `max_bytes`. The audit's `query_hash` is of the result.
    pub fn clamp(mut op: TopicRead, limits: &Limits) -> TopicRead {
        if let TopicRead::Peek {
            limit, max_bytes, ..
        } = &mut op
        {
            let rows = limits.max_rows.clamp(1, u64::from(MAX_PEEK)) as u32;
            *limit = (*limit).clamp(1, rows);
            *max_bytes = (*max_bytes).clamp(1, limits.max_bytes.max(1));
        }
        op
    }

    /// Runs one read, already clamped, within the statement timeout. `stop`
    /// abandons it.
    pub async fn read(
        &self,
        op: &TopicRead,
        stop: &CancellationToken,
    ) -> Result<TopicAnswer, Error> {
        op.validate().map_err(|e| Error::Usage(e.0.into()))?;
        let work = async {
            match op {
                TopicRead::ListTopics { pattern, internal } => self.list(pattern, *internal).await,
                TopicRead::Peek {
                    topic,
                    partition,
                    start,
                    limit,
                    max_bytes,
                } => {
                    self.peek(topic, *partition, *start, *limit, *max_bytes)
                        .await
                }
            }
        };
        tokio::select! {
            answer = tokio::time::timeout(self.inner.timeout, work) => match answer {
                Ok(answer) => answer,
                Err(_) => Err(Error::Source {
                    code: "timeout".into(),
                    message: "the broker did not answer in time".into(),
                    timeout: true,
                }),
            },
            _ = stop.cancelled() => Err(Error::Cancelled),
        }
    }

    fn error(&self, e: KafkaError) -> Error {
        kafka_error(e, &self.inner.gate)
    }

    async fn topics(&self) -> Result<Vec<rskafka::topic::Topic>, Error> {
        self.inner
            .client
            .list_topics()
            .await
            .map_err(|e| self.error(e))
    }

    /// Earliest and latest offsets of one partition.
    async fn offsets(&self, topic: &str, partition: i32) -> Result<(i64, i64), Error> {
        let pc = self
            .inner
            .client
            .partition_client(topic.to_owned(), partition, UnknownTopicHandling::Error)
            .await
            .map_err(|e| self.error(e))?;
        let earliest = pc
            .get_offset(OffsetAt::Earliest)
            .await
            .map_err(|e| self.error(e))?;
        let latest = pc
            .get_offset(OffsetAt::Latest)
            .await
            .map_err(|e| self.error(e))?;
        Ok((earliest, latest))
    }

    async fn list(&self, pattern: &str, internal: bool) -> Result<TopicAnswer, Error> {
        let needle = pattern.to_lowercase();
        let mut topics: Vec<rskafka::topic::Topic> = self
            .topics()
            .await?
            .into_iter()
            .filter(|t| internal || !t.name.starts_with('_'))
            .filter(|t| needle.is_empty() || t.name.to_lowercase().contains(&needle))
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        let total = topics.len();
        topics.truncate(MAX_LISTED);
        let mut listed = Vec::new();
        for t in &topics {
            let offsets: Vec<Result<(i32, i64, i64), Error>> =
                futures::stream::iter(t.partitions.iter().copied())
                    .map(|p| async move { self.offsets(&t.name, p).await.map(|(e, l)| (p, e, l)) })
                    .buffered(8)
                    .collect()
                    .await;
            let mut partitions = Vec::new();
            let mut messages = 0i64;
            for o in offsets {
                let (p, earliest, latest) = o?;
                messages += (latest - earliest).max(0);
                partitions.push(json!({"partition": p, "earliest": earliest, "latest": latest}));
            }
            listed.push(json!({
                "name": t.name,
                "partitions": partitions,
                "approximate_messages": messages,
            }));
        }
        let rows = listed.len() as u64;
        Ok(TopicAnswer {
            value: json!({"topics": listed, "matches": total, "truncated": total > MAX_LISTED}),
            rows: Some(rows),
        })
    }

    async fn peek(
        &self,
        topic: &TopicName,
        partition: Option<i32>,
        start: Start,
        limit: u32,
        max_bytes: u64,
    ) -> Result<TopicAnswer, Error> {
        let known = self
            .topics()
            .await?
            .into_iter()
            .find(|t| t.name == topic.as_str())
            .ok_or_else(|| Error::Source {
                code: "kafka:UnknownTopicOrPartition".into(),
                message: format!("no topic {topic} (list_topics shows the topics)"),
                timeout: false,
            })?;
        let partitions: Vec<i32> = match partition {
            Some(p) if known.partitions.contains(&p) => vec![p],
            Some(p) => {
                return Err(Error::Usage(format!(
                    "topic {topic} has no partition {p}; its partitions are 0 to {}",
                    known.partitions.len().saturating_sub(1)
                )));
            }
            None => known.partitions.iter().copied().collect(),
        };
        let limit = limit as usize;
        let budget = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        let fetch_bytes = budget.clamp(64 * 1024, 4 * 1024 * 1024) as i32;
        let mut found: Vec<(i32, rskafka::record::RecordAndOffset)> = Vec::new();
        let mut ranges = Vec::new();
        for p in partitions.iter().copied() {
            let pc = self
                .inner
                .client
                .partition_client(topic.as_str().to_owned(), p, UnknownTopicHandling::Error)
                .await
                .map_err(|e| self.error(e))?;
            let earliest = pc
                .get_offset(OffsetAt::Earliest)
                .await
                .map_err(|e| self.error(e))?;
            let latest = pc
                .get_offset(OffsetAt::Latest)
                .await
                .map_err(|e| self.error(e))?;
            let first = match start {
                Start::Earliest => earliest,
                Start::Latest => (latest - limit as i64).max(earliest),
                Start::Offset(o) if o < earliest || o > latest => {
                    return Err(Error::Usage(format!(
                        "offset {o} is outside partition {p}'s messages ({earliest} to {})",
                        (latest - 1).max(earliest)
                    )));
                }
                Start::Offset(o) => o,
                Start::Timestamp(ms) => {
                    let at = chrono::DateTime::from_timestamp_millis(ms)
                        .ok_or_else(|| Error::Usage("the timestamp is out of range".into()))?;
                    let o = pc
                        .get_offset(OffsetAt::Timestamp(at))
                        .await
                        .map_err(|e| self.error(e))?;
                    if o < 0 {
                        latest
                    } else {
                        o.clamp(earliest, latest)
                    }
                }
            };
            ranges.push(
                json!({"partition": p, "earliest": earliest, "latest": latest, "from": first}),
            );
            let mut offset = first;
            let mut taken = 0usize;
            let mut fetched = 0usize;
            while taken < limit && offset < latest && fetched < budget {
                let (records, _) = pc
                    .fetch_records(offset, 1..fetch_bytes, 100)
                    .await
                    .map_err(|e| self.error(e))?;
                if records.is_empty() {
                    break;
                }
                for r in records {
                    if taken >= limit || r.offset >= latest {
                        break;
                    }
                    offset = r.offset + 1;
                    taken += 1;
                    fetched += r.record.approximate_size();
                    found.push((p, r));
                }
            }
        }
        // Across partitions, by time: the first `limit`, or the last.
        if partitions.len() > 1 {
            found.sort_by_key(|(p, r)| (r.record.timestamp, *p, r.offset));
            if start == Start::Latest && found.len() > limit {
                found.drain(..found.len() - limit);
            }
            found.truncate(limit);
        }
        let part_cap = MAX_PART_BYTES.min(budget.max(1));
        let mut used = 0usize;
        let mut truncated = false;
        let mut messages = Vec::new();
        for (p, r) in found {
            let record = &r.record;
            let headers: serde_json::Map<String, Value> = record
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), decode::part(v, part_cap)))
                .collect();
            let message = json!({
                "partition": p,
                "offset": r.offset,
                "timestamp": record.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "key": match record.key.as_deref() {
                    Some(k) => Some(self.decode(k, part_cap).await),
                    None => None,
                },
                "headers": headers,
                "value": match record.value.as_deref() {
                    Some(v) => Some(self.decode(v, part_cap).await),
                    None => None,
                },
            });
            let size = crate::json_len(&message) as usize;
            if used + size > budget && !messages.is_empty() {
                truncated = true;
                break;
            }
            used += size;
            messages.push(message);
        }
        let rows = messages.len() as u64;
        Ok(TopicAnswer {
            value: json!({
                "topic": topic,
                "partitions": ranges,
                "messages": messages,
                "truncated": truncated,
            }),
            rows: Some(rows),
        })
    }

    /// A key or value: through the schema registry when it is in
    /// Confluent's wire format and a registry is configured.
    async fn decode(&self, bytes: &[u8], cap: usize) -> Value {
        match &self.inner.registry {
            Some(registry) if bytes.len() >= 5 && bytes[0] == 0 => {
                let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
                let writer = registry.writer(id).await;
                registry::decode(&writer, id, &bytes[5..], bytes.len(), cap)
            }
            _ => decode::part(bytes, cap),
        }
    }

    /// Lists topics and says which protocol and mechanism it used.
    pub async fn test(&self) -> Result<TestReport, Error> {
        let started = Instant::now();
        let topics = self.topics().await?;
        // One partition's offsets: a request to the broker that leads it,
        // at the address the cluster advertises (checked by the gate).
        let mut reads = String::new();
        if let Some(t) = topics.iter().find(|t| !t.name.starts_with('_'))
            && let Some(p) = t.partitions.iter().next()
        {
            self.offsets(&t.name, *p).await?;
            reads = format!("; offsets of {}/{p} readable", t.name);
        }
        let inner = &self.inner;
        Ok(TestReport {
            version: format!(
                "Kafka cluster: {} topics{reads}; {}{}{}",
                topics.len(),
                inner.protocol.as_str(),
                inner
                    .mechanism
                    .map(|m| format!(" with SASL {}", m.as_str()))
                    .unwrap_or_default(),
                if inner.protocol.tls() { ", TLS verified against the configured CA (or the public roots)" } else { ", no TLS" }
            ),
            latency_ms: started.elapsed().as_millis() as u64,
            // Peeks join no group and commit nothing, whatever the login may do.
            privileges: Vec::new(),
            read_only_grants: "kafka-acls --add --allow-principal User:conexor --operation Read --operation Describe --topic '*'   # and no group ACL at all".into(),
        })
    }

    /// Topic names and partition counts (never messages).
    pub async fn topic_infos(&self) -> Result<Vec<TopicInfo>, Error> {
        let mut topics: Vec<TopicInfo> = self
            .topics()
            .await?
            .into_iter()
            .map(|t| TopicInfo {
                name: t.name,
                partitions: t.partitions.len(),
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }
}

fn gate_refusal(gate: &gate::Gate) -> Option<Error> {
    gate.last_refusal().map(Error::Destination)
}

/// A client error's class, from its kind; the client's text (which names
/// brokers and users) is not passed on.
fn kafka_error(e: KafkaError, gate: &gate::Gate) -> Error {
    if let Some(refused) = gate_refusal(gate) {
        return refused;
    }
    match e {
        KafkaError::ServerError { protocol_error, .. } => match protocol_error {
            ProtocolError::UnknownTopicOrPartition => Error::Source {
                code: "kafka:UnknownTopicOrPartition".into(),
                message: "no such topic or partition (list_topics shows them)".into(),
                timeout: false,
            },
            ProtocolError::OffsetOutOfRange => Error::Source {
                code: "kafka:OffsetOutOfRange".into(),
                message: "the offset is outside the partition's messages".into(),
                timeout: false,
            },
            ProtocolError::SaslAuthenticationFailed | ProtocolError::UnsupportedSaslMechanism => {
                Error::Connect {
                    failure: ConnectFailure::Auth,
                }
            }
            ProtocolError::TopicAuthorizationFailed => Error::Source {
                code: "kafka:TopicAuthorizationFailed".into(),
                message: "the connection's login may not read this topic".into(),
                timeout: false,
            },
            other => Error::Source {
                code: format!(
                    "kafka:{}",
                    format!("{other:?}")
                        .chars()
                        .filter(char::is_ascii_alphanumeric)
                        .take(48)
                        .collect::<String>()
                ),
                message: "the broker refused the request".into(),
                timeout: false,
            },
        },
        KafkaError::Connection(c) => match c {
            rskafka::ConnectionError::SaslFailed(_) => Error::Connect {
                failure: ConnectFailure::Auth,
            },
            _ => Error::Connect {
                failure: ConnectFailure::Unreachable,
            },
        },
        KafkaError::Timeout => Error::Source {
            code: "timeout".into(),
            message: "the broker did not answer in time".into(),
            timeout: true,
        },
        _ => Error::Source {
            code: "kafka:error".into(),
            message: "the broker's answer could not be used".into(),
            timeout: false,
        },
    }
}

/// TLS for SSL and SASL_SSL: the given CA (or the public web roots), and a
/// client certificate for mutual TLS.
fn tls_config(spec: &KafkaSpec) -> Result<rustls::ClientConfig, Error> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    match &spec.ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert =
                    cert.map_err(|_| Error::Spec("the CA certificate is not valid PEM".into()))?;
                roots
                    .add(cert)
                    .map_err(|_| Error::Spec("the CA certificate cannot be used".into()))?;
            }
            if roots.is_empty() {
                return Err(Error::Spec("the CA PEM holds no certificate".into()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| Error::Spec("TLS cannot be set up".into()))?
        .with_root_certificates(roots);
    match (&spec.client_cert_pem, &spec.client_key_pem) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .collect::<Result<_, _>>()
                    .map_err(|_| Error::Spec("the client certificate is not valid PEM".into()))?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                .map_err(|_| Error::Spec("the client key is not valid PEM".into()))?;
            builder.with_client_auth_cert(chain, key).map_err(|_| {
                Error::Spec("the client certificate and key do not fit together".into())
            })
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

//! What the HTTP sources (S3, REST) share: a client that never follows a
//! redirect to another origin and ignores proxy variables, a resolver that
//! checks every address a name resolves to against the destination policy
//! (on every connection, so a DNS answer that changes after the connection
//! was saved is still refused), bodies read as a stream and stopped at a
//! byte cap, and transport failures classed by their kinds, never their text.

use crate::error::ConnectFailure;
use crate::policy::{DestinationPolicy, check_ip};
use crate::{Error, OpenOptions};
use std::net::SocketAddr;

/// How an HTTP source's client is built, beside [`OpenOptions`].
pub(crate) struct ClientSettings<'a> {
    /// Refuse `http://` (every request, redirects included).
    pub https_only: bool,
    /// Check the server's certificate.
    pub verify_tls: bool,
    /// PEM of a CA that signs the server's certificate.
    pub ca_pem: Option<&'a str>,
    /// Which redirects are followed (none, or the same origin only).
    pub redirect: reqwest::redirect::Policy,
}

/// A client for one source: the destination policy in its resolver, the
/// caps of `options`, no proxy.
pub(crate) fn client(
    settings: ClientSettings<'_>,
    options: &OpenOptions,
) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .redirect(settings.redirect)
        .no_proxy()
        .https_only(settings.https_only)
        .connect_timeout(options.connect_timeout)
        .timeout(options.statement_timeout)
        .pool_idle_timeout(options.idle_timeout)
        .pool_max_idle_per_host(options.max_connections as usize)
        .user_agent(concat!("conexor/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(PolicyResolver {
            policy: options.destinations.clone(),
        });
    if !settings.verify_tls {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    if let Some(pem) = settings.ca_pem {
        let cert = reqwest::Certificate::from_pem(pem.as_bytes())
            .map_err(|_| Error::Spec("the CA certificate is not valid PEM".into()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build()
        .map_err(|_| Error::Spec("the HTTP client cannot be built with these settings".into()))
}

/// reqwest skips the resolver for an IP literal: a URL naming an address
/// is checked here.
pub(crate) fn check_literal(url: &url::Url, policy: &DestinationPolicy) -> Result<(), Error> {
    if let Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) = url.host() {
        let ip: std::net::IpAddr = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .parse()
            .map_err(|_| Error::Spec("the URL's address is not valid".into()))?;
        check_ip(ip, policy)?;
    }
    Ok(())
}

/// Resolves host names and refuses any address the policy refuses.
pub(crate) struct PolicyResolver {
    pub policy: DestinationPolicy,
}

/// The resolver's refusal, found again in the error chain to report it as
/// a destination error rather than a DNS failure.
#[derive(Debug)]
struct RefusedAddress(String);

impl std::fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RefusedAddress {}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The host name did not resolve (our resolver's own failure, so that it
/// is classed as DNS by what it is, not by an I/O kind).
#[derive(Debug)]
struct ResolveFailed;

impl std::fmt::Display for ResolveFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the host name does not resolve")
    }
}

impl std::error::Error for ResolveFailed {}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), 0)).await {
                Ok(found) => found.collect(),
                Err(_) => return Err(Box::new(ResolveFailed) as BoxError),
            };
            for addr in &addrs {
                if let Err(Error::Destination(why)) = check_ip(addr.ip(), &policy) {
                    return Err(Box::new(RefusedAddress(why)) as BoxError);
                }
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Reads at most `cap` bytes of a body, then stops (the rest is never read).
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), Error> {
    let mut body = Vec::with_capacity(cap.min(1 << 20));
    loop {
        match response.chunk().await.map_err(transport_error)? {
            None => return Ok((body, false)),
            Some(chunk) => {
                let room = cap - body.len();
                if chunk.len() >= room {
                    let more = chunk.len() > room;
                    body.extend_from_slice(&chunk[..room]);
                    return Ok((body, more || room == 0));
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
}

/// A failed request's class, decided from the error's kinds, never its text.
pub(crate) fn transport_error(err: reqwest::Error) -> Error {
    use std::error::Error as _;
    if err.is_timeout() {
        return Error::Source {
            code: "timeout".into(),
            message: "the source did not answer in time".into(),
            timeout: true,
        };
    }
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<RefusedAddress>() {
            return Error::Destination(refused.0.clone());
        }
        if cause.downcast_ref::<ResolveFailed>().is_some() {
            return Error::Connect {
                failure: ConnectFailure::Dns,
            };
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                return Error::Connect {
                    failure: ConnectFailure::Tls,
                };
            }
            return Error::Connect {
                failure: ConnectFailure::of_io(io.kind()),
            };
        }
        if cause.downcast_ref::<rustls::Error>().is_some() {
            return Error::Connect {
                failure: ConnectFailure::Tls,
            };
        }
        source = cause.source();
    }
    Error::Connect {
        failure: if err.is_connect() {
            ConnectFailure::Unreachable
        } else {
            ConnectFailure::Lost
        },
    }
}

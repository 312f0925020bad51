//! Client commands: `init`, `keys`, `connections`, `query`. Secrets are read
//! from a prompt or stdin, sealed here, and only envelopes are sent.

use crate::ClientArgs;
use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use conexor_connectors::{ConnectionSpec, SslMode};
use conexor_types::ConnectionKind;
use serde_json::{Value, json};
use std::io::{IsTerminal, Read};
use zeroize::Zeroizing;

#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The server's admin token
    #[arg(long, env = "CONEXOR_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Workspace name
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Label of the first key
    #[arg(long, default_value = "first admin key")]
    pub label: String,
}

pub async fn init(args: InitArgs) -> Result<()> {
    let token = match args.admin_token {
        Some(t) => t,
        None => prompt_secret("Admin token: ")?.to_string(),
    };
    let client = args.client.client()?;
    let (workspace, key) = client
        .create_workspace(token.trim(), &args.name, &args.label)
        .await?;
    let text = key.to_text();
    if args.client.json {
        println!(
            "{}",
            json!({"workspace_id": workspace, "key_id": key.key_id(), "api_key": text.as_str()})
        );
    } else {
        println!(
            "Workspace {workspace} created.\n\nAPI key (admin scope; shown once, store it in a secret manager):\n\n    {}\n",
            text.as_str()
        );
        println!("Use it with: export CONEXOR_API_KEY=<the key>");
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Create a key; its secret is shown once
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// What the key is for
        #[arg(long, default_value = "key")]
        label: String,
        /// admin: manages keys and connections; mcp: only calls tools (paste this one into AI clients)
        #[arg(long, default_value = "mcp", value_parser = ["admin", "mcp"])]
        scope: String,
    },
    /// List the workspace's keys
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Revoke a key (removes its auth and its wrap of the workspace key)
    Revoke {
        #[command(flatten)]
        client: ClientArgs,
        key_id: String,
        /// Revoke even the workspace's last key (every stored secret becomes unrecoverable)
        #[arg(long)]
        force: bool,
    },
    /// Replace the workspace master key: re-wrap every secret, revoke every other key
    RotateMaster {
        #[command(flatten)]
        client: ClientArgs,
        /// Issue a replacement for each revoked key (same label and scope)
        #[arg(long)]
        reissue: bool,
    },
}

pub async fn keys(cmd: KeysCmd) -> Result<()> {
    match cmd {
        KeysCmd::Create {
            client: args,
            label,
            scope,
        } => {
            let client = args.client()?;
            let key = client.create_key(&label, &scope).await?;
            let text = key.to_text();
            if args.json {
                println!(
                    "{}",
                    json!({"key_id": key.key_id(), "scope": scope, "api_key": text.as_str()})
                );
            } else {
                println!(
                    "Key {} ({scope}) created. Shown once:\n\n    {}\n",
                    key.key_id(),
                    text.as_str()
                );
            }
        }
        KeysCmd::List { client: args } => {
            let list: conexor_api::KeyList = args.client()?.get_as("keys").await?;
            if args.json {
                println!("{}", serde_json::to_string(&list)?);
            } else {
                println!(
                    "{:<14} {:<6} {:<9} {:<26} LABEL",
                    "KEY ID", "SCOPE", "STATE", "CREATED"
                );
                for k in &list.keys {
                    let state = if k.revoked_at.is_none() {
                        "live"
                    } else {
                        "revoked"
                    };
                    let current = if k.current { " (this key)" } else { "" };
                    println!(
                        "{:<14} {:<6} {:<9} {:<26} {}{current}",
                        k.key_id, k.scope, state, k.created_at, k.label
                    );
                }
            }
        }
        KeysCmd::Revoke {
            client: args,
            key_id,
            force,
        } => {
            let client = args.client()?;
            let path = if force {
                format!("keys/{key_id}?force=true")
            } else {
                format!("keys/{key_id}")
            };
            match client.delete_as::<conexor_api::KeyRevoked>(&path).await {
                Ok(v) => {
                    if args.json {
                        println!("{}", serde_json::to_string(&v)?);
                    } else if let Some(note) = &v.note {
                        println!("Key {key_id}: {note}.");
                    } else {
                        println!("Key {key_id} revoked.");
                        println!(
                            "It can no longer authenticate. If its secret may have leaked together with a copy of the store,\nrun `conexor keys rotate-master`: revocation alone does not re-encrypt what the key could open."
                        );
                    }
                }
                Err(e) => {
                    let last = e
                        .downcast_ref::<conexor_client::ServerError>()
                        .is_some_and(|s| s.status == 409);
                    if last {
                        bail!(
                            "{e:#}\nThis is the last live key. Create another first (`conexor keys create --scope admin`), or pass --force knowing every stored secret becomes unrecoverable."
                        );
                    }
                    return Err(e);
                }
            }
        }
        KeysCmd::RotateMaster {
            client: args,
            reissue,
        } => {
            let client = args.client()?;
            let (result, issued) = client.rotate_master(reissue).await?;
            let result: conexor_api::Rotated =
                conexor_client::answer_as("POST", "keys/rotate-master", result)?;
            if args.json {
                let issued: Vec<Value> = issued
                    .iter()
                    .map(|(label, scope, k)| json!({"label": label, "scope": scope, "key_id": k.key_id(), "api_key": k.to_text().as_str()}))
                    .collect();
                println!("{}", json!({"result": result, "issued": issued}));
            } else {
                println!(
                    "Master key rotated: {} secrets re-wrapped, {} other keys revoked.",
                    result.rewrapped,
                    result.revoked.len()
                );
                for (label, scope, k) in issued {
                    println!(
                        "Replacement for {label:?} ({scope}), shown once:\n    {}",
                        k.to_text().as_str()
                    );
                }
            }
        }
    }
    Ok(())
}

/// A secret from stdin (one line; its line ending dropped) when asked, else
/// from a prompt on a terminal, else none (never from argv).
fn secret_input(from_stdin: bool, what: &str, prompt: &str) -> Result<Option<Zeroizing<String>>> {
    if from_stdin {
        let mut text = Zeroizing::new(String::new());
        std::io::stdin()
            .read_to_string(&mut text)
            .with_context(|| format!("reading {what} from stdin"))?;
        return Ok(Some(Zeroizing::new(
            text.trim_end_matches(['\r', '\n']).to_owned(),
        )));
    }
    if std::io::stdin().is_terminal() {
        return Ok(Some(prompt_secret(prompt)?));
    }
    Ok(None)
}

/// How a connection is described on the command line.
#[derive(Args, Debug, Clone)]
pub struct SpecArgs {
    /// Connection type: postgresql, mysql (also MariaDB), sqlite, sqlserver (also Azure SQL), s3, rest or kafka
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Read a connection URL (postgres://…, mysql://…, sqlite:…) from stdin
    #[arg(long)]
    pub url_stdin: bool,
    /// Connection URL; visible to other local users in the process list — prefer --url-stdin
    #[arg(long, env = "CONEXOR_CONNECTION_URL", hide_env_values = true)]
    pub url: Option<String>,
    #[arg(long)]
    pub host: Option<String>,
    #[arg(long)]
    pub port: Option<u16>,
    #[arg(long)]
    pub database: Option<String>,
    #[arg(long = "user")]
    pub user: Option<String>,
    /// Read the password from stdin (otherwise it is prompted for when a terminal is attached)
    #[arg(long, conflicts_with = "password_secret")]
    pub password_stdin: bool,
    /// Use the named Secret NAME as the password (`conexor secrets add NAME`):
    /// rotating the secret rotates this connection's password
    #[arg(long, value_name = "NAME")]
    pub password_secret: Option<String>,
    /// disable, prefer, require, verify-ca or verify-full
    #[arg(long)]
    pub ssl_mode: Option<String>,
    /// CA certificate (PEM file) for verify-ca / verify-full
    #[arg(long)]
    pub ssl_ca: Option<std::path::PathBuf>,
    /// SQLite database file
    #[arg(long)]
    pub path: Option<String>,
    /// A user-defined function queries may call (`name` or `schema.name`; repeat for
    /// more). Only for functions you have checked have no side effects: queries that
    /// reach one run on a session that is closed afterwards. Built-ins that sleep,
    /// touch files, lock or run SQL text can never be allowed. `edit` replaces the
    /// list: pass every function again.
    #[arg(long = "allow-function", value_name = "NAME")]
    pub allow_functions: Vec<String>,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub sqlserver: SqlserverArgs,
    #[command(flatten)]
    pub rest: RestArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

/// The fields of a Kafka connection, `--type kafka` (with --user, the
/// password as for databases (--password-stdin / --password-secret) and
/// --ssl-ca for the brokers' CA).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Kafka (--type kafka)")]
pub struct KafkaArgs {
    /// broker1:9092,broker2:9092
    #[arg(long, value_name = "HOST:PORT,...")]
    pub bootstrap_servers: Option<String>,
    /// PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL
    #[arg(long, value_name = "PROTOCOL")]
    pub security_protocol: Option<String>,
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
    #[arg(long, value_name = "MECHANISM")]
    pub sasl_mechanism: Option<String>,
    /// Mutual TLS: the client certificate (PEM file)
    #[arg(long, value_name = "FILE", requires = "ssl_key")]
    pub ssl_cert: Option<std::path::PathBuf>,
    /// Mutual TLS: the client key (PEM file)
    #[arg(long, value_name = "FILE", requires = "ssl_cert")]
    pub ssl_key: Option<std::path::PathBuf>,
    /// A schema registry with Confluent's API (decodes Avro and JSON Schema values)
    #[arg(long, value_name = "URL")]
    pub schema_registry_url: Option<String>,
    /// The schema registry's user (its password: --schema-registry-password-secret)
    #[arg(long, value_name = "USER", requires = "schema_registry_url")]
    pub schema_registry_user: Option<String>,
    /// Use the named Secret NAME as the schema registry's password
    #[arg(long, value_name = "NAME", requires = "schema_registry_user")]
    pub schema_registry_password_secret: Option<String>,
}

/// The fields of a REST API connection, `--type rest` (with --allow-http
/// and --no-verify-tls as for S3).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "REST APIs described by OpenAPI (--type rest)")]
pub struct RestArgs {
    /// Every request goes to this URL's scheme, host and port, under its path
    /// (https://api.example.com/v1)
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The OpenAPI 3.0/3.1 description, a JSON or YAML file (`-` for stdin)
    #[arg(long, value_name = "FILE", conflicts_with = "openapi_url")]
    pub openapi: Option<std::path::PathBuf>,
    /// Fetch the description from this URL, here (the server never fetches it)
    #[arg(long, value_name = "URL")]
    pub openapi_url: Option<String>,
    /// none, bearer, header (an API-key header), query (an API-key query parameter) or basic
    #[arg(long, value_name = "KIND", default_value = "none")]
    pub auth: String,
    /// The API-key header or query parameter's name, or the basic auth user
    #[arg(long, value_name = "NAME")]
    pub auth_name: Option<String>,
    /// Read the token (API key, basic auth password) from stdin (otherwise it
    /// is prompted for on a terminal)
    #[arg(long, conflicts_with = "token_secret")]
    pub token_stdin: bool,
    /// Use the named Secret NAME as the token (`conexor secrets add NAME`)
    #[arg(long, value_name = "NAME")]
    pub token_secret: Option<String>,
    /// Operations offered as tools: tag:NAME, path:/repos/* or an operationId
    /// (repeat for more; all read operations when absent)
    #[arg(long = "enable", value_name = "RULE")]
    pub enable: Vec<String>,
    /// The operation test-before-save calls (default: the first GET without
    /// required parameters)
    #[arg(long, value_name = "OPERATION")]
    pub test_operation: Option<String>,
    /// Use --base-url even though the description's servers entry names
    /// another origin
    #[arg(long)]
    pub ignore_spec_servers: bool,
}

/// The fields of a SQL Server or Azure SQL connection, `--type sqlserver`
/// (with --host, --port, --database, --user and the password as above).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "SQL Server and Azure SQL (--type sqlserver)")]
pub struct SqlserverArgs {
    /// Read an ADO.NET connection string from stdin, as the Azure portal
    /// shows it (Server=tcp:host,1433;Database=…;User ID=…;Password=…;Encrypt=True);
    /// it holds the password, so it is never taken as an argument
    #[arg(long, conflicts_with_all = ["url", "url_stdin", "password_stdin"])]
    pub connection_string_stdin: bool,
    /// Encryption: on (default), off (only the login is encrypted) or strict (TDS 8.0)
    #[arg(long, value_name = "on|off|strict")]
    pub encrypt: Option<String>,
    /// Accept the server's certificate without checking it (self-signed servers only)
    #[arg(long)]
    pub trust_server_certificate: bool,
    /// ApplicationIntent: read-only (default; an availability group routes
    /// it to a readable secondary) or read-write
    #[arg(long, value_name = "read-only|read-write")]
    pub application_intent: Option<String>,
}

/// The fields of an S3 (or S3-compatible) connection, `--type s3`.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "S3 and S3-compatible storage (--type s3)")]
pub struct S3Args {
    /// Access key id
    #[arg(long, value_name = "ID")]
    pub access_key_id: Option<String>,
    /// Read the secret access key from stdin (otherwise it is prompted for on a terminal)
    #[arg(long, conflicts_with = "secret_access_key_secret")]
    pub secret_access_key_stdin: bool,
    /// Use the named Secret NAME as the secret access key (`conexor secrets add NAME`)
    #[arg(long, value_name = "NAME")]
    pub secret_access_key_secret: Option<String>,
    /// Region (default us-east-1)
    #[arg(long)]
    pub region: Option<String>,
    /// Endpoint of an S3-compatible server (MinIO, Ceph, R2, moto…), e.g. https://minio.internal:9000
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Address buckets as /bucket/key (the default when --endpoint is given)
    #[arg(long)]
    pub path_style: bool,
    /// Address buckets as bucket.host/key
    #[arg(long, conflicts_with = "path_style")]
    pub virtual_hosted: bool,
    /// Do not verify the endpoint's TLS certificate (self-signed test servers only; s3 and rest)
    #[arg(long, alias = "no-verify-ssl")]
    pub no_verify_tls: bool,
    /// Allow a plain-http endpoint or base URL (a local test server; s3 and rest)
    #[arg(long)]
    pub allow_http: bool,
    /// Limit reads to BUCKET or BUCKET/PREFIX (repeat for more)
    #[arg(long = "allow-bucket", value_name = "BUCKET[/PREFIX]")]
    pub allow_buckets: Vec<String>,
}

impl SpecArgs {
    /// The spec's kind and its plaintext JSON (what the client seals).
    pub async fn build_plain(&self) -> Result<(ConnectionKind, Zeroizing<Vec<u8>>)> {
        if self.kind.as_deref().and_then(ConnectionKind::parse) == Some(ConnectionKind::Kafka) {
            let spec = self.build_kafka()?;
            return Ok((
                ConnectionKind::Kafka,
                Zeroizing::new(serde_json::to_vec(&spec)?),
            ));
        }
        if self.kind.as_deref().and_then(ConnectionKind::parse) == Some(ConnectionKind::Rest) {
            let spec = self.build_rest().await?;
            return Ok((
                ConnectionKind::Rest,
                Zeroizing::new(serde_json::to_vec(&spec)?),
            ));
        }
        if self.kind.as_deref().and_then(ConnectionKind::parse) == Some(ConnectionKind::S3) {
            let spec = self.build_s3()?;
            return Ok((
                ConnectionKind::S3,
                Zeroizing::new(serde_json::to_vec(&spec)?),
            ));
        }
        let (kind, spec) = self.build()?;
        Ok((kind, Zeroizing::new(serde_json::to_vec(&spec)?)))
    }

    fn build_kafka(&self) -> Result<conexor_connectors::kafka::KafkaSpec> {
        use conexor_connectors::kafka::{KafkaSpec, SaslMechanism, SecurityProtocol};
        if self.url.is_some() || self.url_stdin || self.host.is_some() || self.path.is_some() {
            bail!("a kafka connection takes --bootstrap-servers, not a URL, host or path");
        }
        let a = &self.kafka;
        let read = |p: &std::path::PathBuf| {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
        };
        let protocol = match &a.security_protocol {
            Some(p) => SecurityProtocol::parse(p).ok_or_else(|| {
                anyhow!(
                    "unknown --security-protocol {p:?}: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
                )
            })?,
            None if a.sasl_mechanism.is_some() => SecurityProtocol::SaslSsl,
            None => SecurityProtocol::Plaintext,
        };
        let mut spec = KafkaSpec {
            bootstrap_servers: a
                .bootstrap_servers
                .clone()
                .ok_or_else(|| anyhow!("--bootstrap-servers is required for --type kafka"))?,
            security_protocol: protocol,
            sasl_mechanism: a
                .sasl_mechanism
                .as_deref()
                .map(|m| {
                    SaslMechanism::parse(m).ok_or_else(|| {
                        anyhow!(
                            "unknown --sasl-mechanism {m:?}: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                        )
                    })
                })
                .transpose()?,
            username: self.user.clone(),
            ca_pem: self.ssl_ca.as_ref().map(read).transpose()?,
            client_cert_pem: a.ssl_cert.as_ref().map(read).transpose()?,
            schema_registry_url: a.schema_registry_url.clone(),
            schema_registry_username: a.schema_registry_user.clone(),
            schema_registry_password_secret: a.schema_registry_password_secret.clone(),
            client_key_pem: a
                .ssl_key
                .as_ref()
                .map(read)
                .transpose()?
                .map(Zeroizing::new),
            ..Default::default()
        };
        if protocol.sasl() {
            match &self.password_secret {
                Some(name) => spec.password_secret = Some(name.clone()),
                None => {
                    spec.password =
                        secret_input(self.password_stdin, "the password", "SASL password: ")?
                }
            }
        }
        spec.validate().map_err(|e| anyhow!("{e}"))?;
        Ok(spec)
    }

    async fn build_rest(&self) -> Result<conexor_connectors::rest::RestSpec> {
        use conexor_connectors::rest::{AuthKind, RestSpec, openapi};
        if self.url.is_some() || self.url_stdin || self.host.is_some() || self.path.is_some() {
            bail!(
                "a rest connection takes --base-url and --openapi (or --openapi-url), not a URL, host or path"
            );
        }
        let a = &self.rest;
        let base_url = a
            .base_url
            .clone()
            .ok_or_else(|| anyhow!("--base-url is required for --type rest"))?;
        let text = match (&a.openapi, &a.openapi_url) {
            (Some(file), _) => crate::openapi_cmds::read_description(file)?,
            (None, Some(url)) => crate::openapi_cmds::fetch_description(url).await?,
            (None, None) => {
                bail!("--type rest needs its description: --openapi FILE or --openapi-url URL")
            }
        };
        // Read here first, so that a description the server would refuse is
        // said before anything is sealed or sent.
        openapi::parse(&text).map_err(|e| anyhow!("{e}"))?;
        let openapi =
            String::from_utf8(text).map_err(|_| anyhow!("the description is not UTF-8 text"))?;
        let auth = AuthKind::parse(&a.auth).ok_or_else(|| {
            anyhow!(
                "unknown --auth {:?}: use none, bearer, header, query or basic",
                a.auth
            )
        })?;
        let mut spec = RestSpec {
            base_url,
            openapi,
            auth,
            auth_name: a.auth_name.clone(),
            enable: a.enable.clone(),
            test_operation: a.test_operation.clone(),
            verify_tls: !self.s3.no_verify_tls,
            allow_http: self.s3.allow_http,
            ignore_servers: a.ignore_spec_servers,
            ..Default::default()
        };
        if let Some(ca) = &self.ssl_ca {
            spec.ca_pem = Some(
                std::fs::read_to_string(ca).with_context(|| format!("reading {}", ca.display()))?,
            );
        }
        if auth != AuthKind::None {
            match &a.token_secret {
                Some(name) => spec.token_secret = Some(name.clone()),
                None => spec.token = secret_input(a.token_stdin, "the token", "Token: ")?,
            }
        }
        spec.validate().map_err(|e| anyhow!("{e}"))?;
        Ok(spec)
    }

    fn build_s3(&self) -> Result<conexor_connectors::s3::S3Spec> {
        if self.url.is_some() || self.url_stdin || self.host.is_some() || self.path.is_some() {
            bail!(
                "an s3 connection takes --endpoint, --access-key-id and the secret access key, not a URL, host or path"
            );
        }
        let a = &self.s3;
        let mut spec = conexor_connectors::s3::S3Spec {
            access_key_id: a
                .access_key_id
                .clone()
                .ok_or_else(|| anyhow!("--access-key-id is required for --type s3"))?,
            region: a.region.clone(),
            endpoint: a.endpoint.clone(),
            path_style: match (a.path_style, a.virtual_hosted) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            verify_tls: !a.no_verify_tls,
            allow_http: a.allow_http,
            allow: a.allow_buckets.clone(),
            ..Default::default()
        };
        if let Some(ca) = &self.ssl_ca {
            spec.ca_pem = Some(
                std::fs::read_to_string(ca).with_context(|| format!("reading {}", ca.display()))?,
            );
        }
        match &a.secret_access_key_secret {
            Some(name) => spec.secret_access_key_secret = Some(name.clone()),
            None => {
                spec.secret_access_key = secret_input(
                    a.secret_access_key_stdin,
                    "the secret access key",
                    "Secret access key: ",
                )?
            }
        }
        spec.validate().map_err(|e| anyhow!("{e}"))?;
        Ok(spec)
    }

    pub fn build(&self) -> Result<(ConnectionKind, ConnectionSpec)> {
        let from_url = if self.url_stdin {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the URL from stdin")?;
            Some(Zeroizing::new(text.trim().to_owned()))
        } else {
            self.url.as_ref().map(|u| Zeroizing::new(u.clone()))
        };
        let ado = if self.sqlserver.connection_string_stdin {
            let mut text = Zeroizing::new(String::new());
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the connection string from stdin")?;
            Some(
                conexor_connectors::sqlserver::ado::parse(text.trim())
                    .map_err(|e| anyhow!("--connection-string-stdin: {e}"))?,
            )
        } else {
            None
        };
        let (kind, mut spec) = match (from_url, ado) {
            (_, Some(spec)) => {
                if let Some(k) = self.kind.as_deref().and_then(ConnectionKind::parse)
                    && k != ConnectionKind::Sqlserver
                {
                    bail!("--connection-string-stdin is for --type sqlserver");
                }
                (ConnectionKind::Sqlserver, spec)
            }
            (Some(url), None) => ConnectionSpec::from_url(&url).map_err(|e| anyhow!("{e}"))?,
            (None, None) => {
                let kind_text = self
                    .kind
                    .as_deref()
                    .ok_or_else(|| anyhow!("give --url/--url-stdin, or --type with fields"))?;
                let kind = ConnectionKind::parse(kind_text).ok_or_else(|| {
                    anyhow!(
                        "unknown --type {kind_text:?}: use postgresql, mysql, sqlite, sqlserver, s3, rest or kafka"
                    )
                })?;
                (kind, ConnectionSpec::default())
            }
        };
        if let Some(h) = &self.host {
            spec.host = Some(h.clone());
        }
        if let Some(p) = self.port {
            spec.port = Some(p);
        }
        if let Some(d) = &self.database {
            spec.database = Some(d.clone());
        }
        if let Some(u) = &self.user {
            spec.username = Some(u.clone());
        }
        if let Some(p) = &self.path {
            let absolute = std::path::Path::new(p)
                .canonicalize()
                .with_context(|| format!("no such file {p:?}"))?;
            spec.path = Some(absolute.to_string_lossy().into_owned());
        }
        if let Some(m) = &self.ssl_mode {
            spec.ssl_mode = SslMode::parse(m).ok_or_else(|| anyhow!("unknown --ssl-mode {m:?}"))?;
        }
        if let Some(ca) = &self.ssl_ca {
            spec.ssl_ca_pem = Some(
                std::fs::read_to_string(ca).with_context(|| format!("reading {}", ca.display()))?,
            );
        }
        if let Some(name) = &self.password_secret {
            if spec.password.is_some() {
                bail!("--password-secret replaces the password: leave it out of the URL");
            }
            spec.password_secret = Some(name.clone());
        } else if self.password_stdin {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the password from stdin")?;
            spec.password = Some(Zeroizing::new(
                text.trim_end_matches(['\r', '\n']).to_owned(),
            ));
        } else if spec.password.is_none()
            && kind != ConnectionKind::Sqlite
            && std::io::stdin().is_terminal()
        {
            spec.password = Some(prompt_secret("Password: ")?);
        }
        let sql = &self.sqlserver;
        if let Some(e) = &sql.encrypt {
            spec.encrypt = Some(
                conexor_connectors::Encrypt::parse(e)
                    .ok_or_else(|| anyhow!("unknown --encrypt {e:?}: use on, off or strict"))?,
            );
        }
        if sql.trust_server_certificate {
            spec.trust_server_certificate = true;
        }
        if let Some(intent) = &sql.application_intent {
            spec.read_only_intent = Some(
                match intent.to_ascii_lowercase().replace('_', "-").as_str() {
                    "read-only" | "readonly" => true,
                    "read-write" | "readwrite" => false,
                    _ => bail!(
                        "unknown --application-intent {intent:?}: use read-only or read-write"
                    ),
                },
            );
        }
        spec.allow_functions = self.allow_functions.clone();
        spec.function_policy()
            .map_err(|e| anyhow!("--allow-function: {e}"))?;
        spec.validate(kind).map_err(|e| anyhow!("{e}"))?;
        Ok((kind, spec))
    }
}

#[derive(Subcommand, Debug)]
pub enum ConnectionsCmd {
    /// Test, discover and save a connection
    Add {
        #[command(flatten)]
        client: ClientArgs,
        name: String,
        #[command(flatten)]
        spec: SpecArgs,
        /// Accept a login that can do more than read
        #[arg(long)]
        allow_privileged: bool,
    },
    /// Test a connection without saving it
    Test {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(default_value = "test")]
        name: String,
        #[command(flatten)]
        spec: SpecArgs,
        #[arg(long)]
        allow_privileged: bool,
    },
    /// List connections
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a connection and its discovered schema
    Show {
        #[command(flatten)]
        client: ClientArgs,
        name: String,
    },
    /// Replace a connection's credentials (new secret version; old pools closed)
    Edit {
        #[command(flatten)]
        client: ClientArgs,
        name: String,
        #[command(flatten)]
        spec: SpecArgs,
        #[arg(long)]
        allow_privileged: bool,
    },
    /// Rediscover a connection's schema
    Refresh {
        #[command(flatten)]
        client: ClientArgs,
        name: String,
    },
    /// Remove a connection
    Remove {
        #[command(flatten)]
        client: ClientArgs,
        name: String,
    },
}

/// Builds the spec from the command line, seals it here, and returns the
/// request body; only the envelope leaves this process.
async fn sealed_body(
    args: &ClientArgs,
    name: &str,
    spec: &SpecArgs,
    allow_privileged: bool,
) -> Result<(conexor_client::Client, Value)> {
    let (kind, plain) = spec.build_plain().await?;
    let client = args.client()?;
    let body = client
        .sealed_connection(name, kind, &plain, allow_privileged)
        .await?;
    Ok((client, body))
}

/// A spinner on a terminal for work that takes a while (large schemas).
fn spinner(args: &ClientArgs, message: String) -> Option<indicatif::ProgressBar> {
    if args.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(message);
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(pb)
}

fn print_test(report: &conexor_api::TestReport) {
    println!("  server:   {}", report.version);
    println!("  latency:  {} ms", report.latency_ms);
}

pub async fn connections(cmd: ConnectionsCmd) -> Result<()> {
    match cmd {
        ConnectionsCmd::Test {
            client: args,
            name,
            spec,
            allow_privileged,
        } => {
            let (client, body) = sealed_body(&args, &name, &spec, allow_privileged).await?;
            let v: conexor_api::Tested = client.post_as("connections/test", body).await?;
            if args.json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!("Connection test passed:");
                print_test(&v.test);
            }
        }
        ConnectionsCmd::Add {
            client: args,
            name,
            spec,
            allow_privileged,
        } => {
            let (client, body) = sealed_body(&args, &name, &spec, allow_privileged).await?;
            let spinner = spinner(
                &args,
                format!("Testing {name:?} and discovering its schema…"),
            );
            let v = client
                .post_as::<conexor_api::Saved>("connections", body)
                .await;
            if let Some(pb) = spinner {
                pb.finish_and_clear();
            }
            let v = v?;
            if args.json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!("Connection {name:?} saved ({}).", found_words(&v.found));
                print_test(&v.test);
            }
        }
        ConnectionsCmd::List { client: args } => {
            let list: conexor_api::ConnectionList = args.client()?.get_as("connections").await?;
            if args.json {
                println!("{}", serde_json::to_string(&list)?);
            } else if list.connections.is_empty() {
                println!(
                    "No connections yet: `conexor connections add NAME --url …` adds one (or the dashboard's Add connection)."
                );
            } else {
                println!(
                    "{:<24} {:<11} {:<7} {:<26} {:<26} FOUND",
                    "NAME", "TYPE", "MODE", "STATUS", "DISCOVERED"
                );
                for c in &list.connections {
                    let status = match (c.mode.as_str(), c.online) {
                        ("agent", Some(true)) => {
                            format!("agent {} online", c.agent.as_deref().unwrap_or("?"))
                        }
                        ("agent", _) => {
                            format!("agent {} offline", c.agent.as_deref().unwrap_or("?"))
                        }
                        _ => format!("spec v{}", c.secret_version.unwrap_or(1)),
                    };
                    println!(
                        "{:<24} {:<11} {:<7} {:<26} {:<26} {}",
                        c.name,
                        c.kind,
                        c.mode,
                        status,
                        c.discovered_at.as_deref().unwrap_or("never"),
                        summary_found(c)
                    );
                }
            }
        }
        ConnectionsCmd::Show { client: args, name } => {
            let v: conexor_api::ConnectionDetail = args
                .client()?
                .get_as(&format!("connections/{}", encode(&name)))
                .await?;
            if args.json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                print_detail(&v);
            }
        }
        ConnectionsCmd::Edit {
            client: args,
            name,
            spec,
            allow_privileged,
        } => {
            let (client, body) = sealed_body(&args, &name, &spec, allow_privileged).await?;
            let v: conexor_api::Saved = client
                .put_as(&format!("connections/{}", encode(&name)), body)
                .await?;
            if args.json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!(
                    "Connection {name:?} updated (secret version {}; {}); old pools closed.",
                    v.secret_version.unwrap_or(1),
                    found_words(&v.found)
                );
            }
        }
        ConnectionsCmd::Refresh { client: args, name } => {
            let spinner = spinner(&args, format!("Rediscovering the schema of {name:?}…"));
            let v = args
                .client()?
                .post_as::<conexor_api::Refreshed>(
                    &format!("connections/{}/refresh", encode(&name)),
                    json!({}),
                )
                .await;
            if let Some(pb) = spinner {
                pb.finish_and_clear();
            }
            let v = v?;
            if args.json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!("Schema of {name:?} refreshed: {}.", found_words(&v.found));
            }
        }
        ConnectionsCmd::Remove { client: args, name } => {
            let v: conexor_api::Removed = args
                .client()?
                .delete_as(&format!("connections/{}", encode(&name)))
                .await?;
            if args.json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!("Connection {name:?} removed.");
            }
        }
    }
    Ok(())
}

/// What discovery found, in words: "12 tables and views discovered".
fn found_words(found: &conexor_api::Found) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    if let Some(topics) = found.topics {
        return format!("{} discovered", plural(topics, "topic", "topics"));
    }
    if let Some(ops) = found.operations {
        let (count, bytes) = found.tools.as_ref().map_or((0, 0), |t| (t.count, t.bytes));
        return format!(
            "{} enabled; {} in tools/list, {bytes} bytes",
            plural(ops, "read operation", "read operations"),
            plural(count, "tool", "tools")
        );
    }
    if found.buckets > 0 {
        return format!("{} discovered", plural(found.buckets, "bucket", "buckets"));
    }
    format!(
        "{} discovered",
        plural(found.tables, "table or view", "tables and views")
    )
}

/// The FOUND column of `connections list`: the count that fits the kind.
fn summary_found(c: &conexor_api::ConnectionSummary) -> String {
    [
        (c.topics, "topics"),
        (c.operations, "operations"),
        (c.buckets.filter(|n| *n > 0), "buckets"),
        (c.tables, "tables"),
    ]
    .into_iter()
    .find_map(|(n, what)| n.map(|n| format!("{n} {what}")))
    .unwrap_or_else(|| "-".into())
}

fn print_detail(v: &conexor_api::ConnectionDetail) {
    let c = &v.summary;
    let where_ = match (&c.agent, c.online) {
        (Some(agent), Some(true)) => format!("agent {agent}, online"),
        (Some(agent), _) => format!("agent {agent}, offline"),
        _ => format!("direct, secret version {}", c.secret_version.unwrap_or(1)),
    };
    println!("{} ({}, {where_})", c.name, c.kind);
    let Some(schema) = &v.schema else {
        println!(
            "  no schema discovered yet: `conexor connections refresh {}`",
            c.name
        );
        return;
    };
    for t in &schema.topics {
        println!("  topic {} ({} partitions)", t.name, t.partitions);
    }
    if let Some(api) = &schema.api {
        println!(
            "  API {} {}: {} read operations enabled of {}, {} write operations never callable",
            api.title,
            api.version,
            api.operations.len(),
            api.read_operations,
            api.write_operations,
        );
        for op in api.operations.iter().take(200) {
            println!(
                "  operation {} {} {}{}",
                op.tool,
                op.method.as_str(),
                op.path,
                if op.summary.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", op.summary)
                }
            );
        }
    }
    for b in &schema.buckets {
        println!(
            "  bucket {}{}: {}",
            b.name,
            if b.scope.is_empty() {
                String::new()
            } else {
                format!(" (only {})", b.scope)
            },
            if b.prefixes.is_empty() {
                "(no folders)".to_owned()
            } else {
                b.prefixes.join(", ")
            }
        );
    }
    for t in &schema.tables {
        let cols: Vec<String> = t
            .columns
            .iter()
            .map(|c| format!("{} {}", c.name, c.type_name))
            .collect();
        println!(
            "  {}.{} [{}]: {}",
            t.schema,
            t.name,
            t.kind,
            cols.join(", ")
        );
    }
}

pub(crate) use conexor_client::encode_component as encode;

#[derive(Args, Debug)]
pub struct QueryArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// A saved connection (runs through the server)
    #[arg(long, short = 'c', conflicts_with = "url")]
    pub connection: Option<String>,
    /// An inline connection URL: the query runs locally and nothing is sent to the server
    #[arg(long)]
    pub url: Option<String>,
    /// The SQL (one SELECT); `-` reads it from stdin
    pub sql: String,
    /// A value bound to the next placeholder ($1…/?); repeat for more. JSON values are parsed, anything else is a string
    #[arg(long = "param", short = 'p')]
    pub params: Vec<String>,
    /// Most rows returned
    #[arg(long)]
    pub limit: Option<u64>,
}

pub async fn query(args: QueryArgs) -> Result<()> {
    let sql = if args.sql == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text
    } else {
        args.sql.clone()
    };
    let params: Vec<Value> = args
        .params
        .iter()
        .map(|p| serde_json::from_str(p).unwrap_or_else(|_| Value::String(p.clone())))
        .collect();
    let result = match (&args.connection, &args.url) {
        (Some(name), None) => {
            args.client
                .client()?
                .query(name, &sql, params, args.limit)
                .await?
        }
        (None, Some(url)) => local_query(url, &sql, &params, args.limit).await?,
        _ => bail!("give --connection NAME (through the server) or --url URL (locally)"),
    };
    if args.client.json {
        println!("{result}");
        Ok(())
    } else {
        print_answer(&result)
    }
}

/// Runs a query on an inline connection, locally, with the same guard and limits.
pub(crate) async fn local_query(
    url: &str,
    sql: &str,
    params: &[Value],
    limit: Option<u64>,
) -> Result<Value> {
    let (kind, spec) = ConnectionSpec::from_url(url).map_err(|e| anyhow!("{e}"))?;
    let dialect =
        conexor_connectors::dialect_for(kind).ok_or_else(|| anyhow!("{kind} is not a database"))?;
    let checked = conexor_guard::check_with_params(dialect, sql, params.len())
        .map_err(|r| anyhow!("query refused: {}", r.reason))?;
    let source =
        conexor_connectors::Source::open(kind, &spec, &conexor_connectors::OpenOptions::default())
            .await
            .map_err(|e| anyhow!("{e}"))?;
    let limits = conexor_types::Limits {
        max_rows: limit.unwrap_or(200),
        ..Default::default()
    };
    let result = source
        .read(
            &checked,
            params,
            &limits,
            &tokio_util::sync::CancellationToken::new(),
        )
        .await
        .map_err(|e| anyhow!("{e}"));
    source.close().await;
    let mut answer = conexor_api::QueryAnswer::from_result(result?);
    if answer.truncated {
        answer.note = Some(format!(
            "result truncated at {} rows (limit {} rows, {} bytes); add WHERE filters, aggregate, or select fewer columns",
            answer.row_count, limits.max_rows, limits.max_bytes
        ));
    }
    Ok(answer.into_value())
}

/// A tool's answer on a terminal: rows as a table when it is a read of
/// rows ([`conexor_api::QueryAnswer`]), any other answer as indented JSON.
pub(crate) fn print_answer(result: &Value) -> Result<()> {
    match <conexor_api::QueryAnswer as serde::Deserialize>::deserialize(result) {
        Ok(answer) => print_table(&answer),
        Err(_) => println!("{}", serde_json::to_string_pretty(result)?),
    }
    Ok(())
}

fn print_table(result: &conexor_api::QueryAnswer) {
    let columns: Vec<String> = result.columns.iter().map(|c| c.name.clone()).collect();
    let cells: Vec<Vec<String>> = result
        .rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Null => "NULL".into(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in &cells {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count().min(60));
            }
        }
    }
    let line = |items: &[String]| {
        items
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let s: String = s.chars().take(60).collect();
                format!("{s:<w$}", w = widths.get(i).copied().unwrap_or(0))
            })
            .collect::<Vec<_>>()
            .join(" | ")
    };
    println!("{}", line(&columns));
    println!(
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-")
    );
    for row in &cells {
        println!("{}", line(row));
    }
    println!(
        "({} rows{})",
        cells.len(),
        if result.truncated { ", truncated" } else { "" }
    );
    for said in [&result.note, &result.hint].into_iter().flatten() {
        println!("{said}");
    }
}

pub(crate) fn prompt_secret(prompt: &str) -> Result<Zeroizing<String>> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "no terminal to prompt for a secret; pass it on stdin (--password-stdin / --url-stdin) or in the environment"
        );
    }
    Ok(Zeroizing::new(
        rpassword::prompt_password(prompt).context("reading the secret")?,
    ))
}

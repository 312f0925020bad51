//! `conexor`: the one binary. Server, demo, client commands and the stdio
//! MCP bridge. This file is only the command-line definition and glue; the
//! work is done by the library crates.

/// A command's output goes through [`out`]: `println!` and `print!` here shadow
/// std's, which panic when the reader has gone away (`conexor query … | head`,
/// `| grep -q`); a command then ends quietly instead, as other command-line
/// tools do.
macro_rules! println {
    () => {
        $crate::out::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}

macro_rules! print {
    ($($arg:tt)*) => {
        $crate::out::text(format_args!($($arg)*))
    };
}

mod out {
    use std::io::Write;

    /// One line of output.
    pub fn line(args: std::fmt::Arguments<'_>) {
        write(|out| writeln!(out, "{args}"));
    }

    /// Output without a line end.
    pub fn text(args: std::fmt::Arguments<'_>) {
        write(|out| write!(out, "{args}"));
    }

    fn write(put: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>) {
        let mut out = std::io::stdout().lock();
        match put(&mut out) {
            Ok(()) => {}
            // The reader is gone: nothing more can be said, and that is not a failure.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
            Err(e) => {
                eprintln!("conexor: could not write the output: {e}");
                std::process::exit(1);
            }
        }
    }
}

mod agent_cmds;
mod audit_cmds;
mod bridge;
mod client_cmds;
mod config_file;
mod openapi_cmds;
mod sample;
mod secrets_cmds;
mod server_cmd;
mod tools_cmds;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// mimalloc instead of glibc's malloc: a call allocates and frees many small
/// objects on several threads, and glibc's allocator (its arenas, consolidation
/// and locking) was about a third of a small call's instructions under
/// callgrind (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "conexor", version, about = "Read-only MCP gateway between AI assistants and your data", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process and matched at once: the size of the largest
// variant (the server's arguments) costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Start a server on an embedded store with a sample SQLite shop database connected
    Demo(server_cmd::DemoArgs),
    /// Run the server (MCP at /mcp, REST API at /api/v1)
    Server(server_cmd::ServerArgs),
    /// Create a workspace and its first API key (needs the server's admin token)
    Init(client_cmds::InitArgs),
    /// Manage API keys
    #[command(subcommand)]
    Keys(client_cmds::KeysCmd),
    /// Manage connections (credentials are encrypted here, before they leave)
    #[command(subcommand, alias = "connection")]
    Connections(client_cmds::ConnectionsCmd),
    /// Named secrets (passwords, keys, tokens), sealed here and referenced by connections
    #[command(subcommand, alias = "secret")]
    Secrets(secrets_cmds::SecretsCmd),
    /// Export, verify and pin the tamper-evident audit log
    #[command(subcommand)]
    Audit(audit_cmds::AuditCmd),
    /// Run one guarded query, through the server or locally with --url
    Query(client_cmds::QueryArgs),
    /// Bridge a stdio MCP client (Claude Desktop style) to the server
    Mcp(bridge::McpArgs),
    /// Manage on-premise agents (create prints a one-time enrolment token)
    #[command(subcommand)]
    Agents(agent_cmds::AgentsCmd),
    /// Run the on-premise agent: dials out to the server, serves guarded reads of local databases
    Agent(agent_cmds::AgentArgs),
    /// Named-query tools: add from a tools file, list, show, remove, try
    #[command(subcommand)]
    Tools(tools_cmds::ToolsCmd),
    /// Inspect a REST API's OpenAPI description: the read operations and the tools it would add
    #[command(subcommand)]
    Openapi(openapi_cmds::OpenapiCmd),
    /// Export a client config or snippet, or the tool definitions
    #[command(subcommand)]
    Export(tools_cmds::ExportCmd),
}

/// Where the server is and which key to present; shared by client commands.
#[derive(Args, Clone, Debug)]
pub struct ClientArgs {
    /// Server URL
    #[arg(
        long = "server",
        env = "CONEXOR_URL",
        default_value = "http://127.0.0.1:7400",
        global = true
    )]
    pub server: String,
    /// API key (cxk_…); prefer the environment variable to keep it out of shell history
    #[arg(
        long = "api-key",
        env = "CONEXOR_API_KEY",
        hide_env_values = true,
        global = true
    )]
    pub api_key: Option<String>,
    /// Allow plain http:// to a non-loopback host
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Trust this CA certificate (PEM) for the server's TLS certificate
    #[arg(long, env = "CONEXOR_CA_CERT", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Print machine-readable JSON
    #[arg(long, global = true)]
    pub json: bool,
}

impl ClientArgs {
    pub fn client(&self) -> Result<conexor_client::Client> {
        let key = match &self.api_key {
            Some(text) => Some(conexor_crypto::ApiKey::parse(text.trim()).map_err(|e| {
                anyhow::anyhow!(
                    "the API key is not valid ({e}); keys look like cxk_<12 chars>_<43 chars>"
                )
            })?),
            None => None,
        };
        let ca = match &self.ca_cert {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?,
            ),
            None => None,
        };
        conexor_client::Client::with_ca(&self.server, key, self.insecure, ca.as_deref())
    }
}

pub fn data_dir_default() -> PathBuf {
    std::env::var_os("CONEXOR_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("./conexor-data"))
}

fn main() {
    if let Err(err) = config_file::apply_from_args() {
        eprintln!("error: {err:#}");
        std::process::exit(2);
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => server_cmd::demo(args).await,
            Command::Server(args) => server_cmd::server(args).await,
            Command::Init(args) => client_cmds::init(args).await,
            Command::Keys(cmd) => client_cmds::keys(cmd).await,
            Command::Connections(cmd) => client_cmds::connections(cmd).await,
            Command::Secrets(cmd) => secrets_cmds::secrets(cmd).await,
            Command::Query(args) => client_cmds::query(args).await,
            Command::Audit(cmd) => audit_cmds::run(cmd).await,
            Command::Mcp(args) => bridge::run(args).await,
            Command::Agents(cmd) => agent_cmds::agents(cmd).await,
            Command::Agent(args) => agent_cmds::agent(args).await,
            Command::Tools(cmd) => tools_cmds::tools(cmd).await,
            Command::Export(cmd) => tools_cmds::export(cmd).await,
            Command::Openapi(cmd) => openapi_cmds::run(cmd),
        }
    });
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

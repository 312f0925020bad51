//! `conexor agents …` (server side: create, list, revoke) and `conexor agent`
//! (the on-premise agent itself).

use crate::ClientArgs;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum AgentsCmd {
    /// Create an agent and print its one-time enrolment token (shown once)
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// A name for the agent (letters, digits, _ - .)
        name: String,
        /// How long the token stays valid, e.g. 30m, 1h, 2d (at most 7d)
        #[arg(long, default_value = "1h")]
        expires_in: String,
    },
    /// List agents: state, last seen, version, address, connections offered
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Revoke an agent (by name or id): cut off at once, its connections removed
    Revoke {
        #[command(flatten)]
        client: ClientArgs,
        agent: String,
    },
}

fn parse_duration(text: &str) -> Result<u64> {
    let text = text.trim();
    let (num, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = num
        .parse()
        .with_context(|| format!("{text:?} is not a duration like 30m, 1h or 2d"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => anyhow::bail!("{text:?} is not a duration like 30m, 1h or 2d"),
    };
    Ok(n.saturating_mul(factor))
}

pub async fn agents(cmd: AgentsCmd) -> Result<()> {
    match cmd {
        AgentsCmd::Create {
            client: args,
            name,
            expires_in,
        } => {
            let client = args.client()?;
            let body = json!({"name": name, "expires_in_s": parse_duration(&expires_in)?});
            let v: conexor_api::AgentCreated = client.post_as("agents", body).await?;
            if args.json {
                println!("{}", serde_json::to_string(&v)?);
                return Ok(());
            }
            println!(
                "Agent {} ({}) created. Its enrolment token, shown once, valid until {}:\n\n    {}\n",
                v.name, v.agent_id, v.expires_at, v.token
            );
            println!(
                "On the agent's host (next to your databases), write agent.toml:\n\n\
                 server = \"{}\"\n\
                 token_env = \"CONEXOR_AGENT_TOKEN\"\n\
                 state_dir = \"/var/lib/conexor-agent\"\n\n\
                 [[connections]]\n\
                 name = \"warehouse\"\n\
                 url_env = \"WAREHOUSE_URL\"   # postgres://reader:…@db.internal/warehouse, read from the agent's environment\n\n\
                 then run:  CONEXOR_AGENT_TOKEN=… WAREHOUSE_URL=… conexor agent --config agent.toml\n\
                 The token is used once; afterwards the agent proves itself with its own key.",
                args.server
            );
        }
        AgentsCmd::List { client: args } => {
            let list: conexor_api::AgentList = args.client()?.get_as("agents").await?;
            if args.json {
                println!("{}", serde_json::to_string(&list)?);
                return Ok(());
            }
            if list.agents.is_empty() {
                println!(
                    "No agents yet: `conexor agents create NAME` makes one and prints its agent.toml."
                );
                return Ok(());
            }
            println!(
                "{:<20} {:<16} {:<10} {:<25} {:<9} {:<22} CONNECTIONS",
                "AGENT ID", "NAME", "STATE", "LAST SEEN", "VERSION", "ADDRESS"
            );
            for a in &list.agents {
                println!(
                    "{:<20} {:<16} {:<10} {:<25} {:<9} {:<22} {}",
                    a.agent_id,
                    a.name,
                    a.state,
                    a.last_seen_at.as_deref().unwrap_or("never"),
                    a.version.as_deref().unwrap_or("-"),
                    a.address.as_deref().unwrap_or("-"),
                    a.connections.join(",")
                );
            }
        }
        AgentsCmd::Revoke {
            client: args,
            agent,
        } => {
            let v: conexor_api::AgentRevoked = args
                .client()?
                .delete_as(&format!("agents/{}", crate::client_cmds::encode(&agent)))
                .await?;
            if args.json {
                println!("{}", serde_json::to_string(&v)?);
            } else if v.already {
                println!("Agent {} was already revoked.", v.name);
            } else {
                println!(
                    "Agent {} revoked: disconnected, its connections removed.",
                    v.name
                );
            }
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct AgentArgs {
    /// The agent's configuration file
    #[arg(
        long,
        short,
        env = "CONEXOR_AGENT_CONFIG",
        default_value = "agent.toml",
        global = true
    )]
    pub config: PathBuf,
    /// Log filter (tracing syntax), e.g. info or conexor_agent=debug; libraries are capped
    /// whatever it says (sqlx and rmcp off, others at warn)
    #[arg(long, env = "CONEXOR_LOG", default_value = "info", global = true)]
    pub log_level: String,
    /// Log as JSON lines
    #[arg(long, env = "CONEXOR_LOG_JSON", global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Option<AgentSub>,
}

#[derive(Subcommand)]
pub enum AgentSub {
    /// Print the key that verifies this agent's local audit log (pin it)
    AuditPubkey,
    /// Check agent.toml and the secrets it names, without connecting
    Check,
}

pub async fn agent(args: AgentArgs) -> Result<()> {
    crate::server_cmd::init_logging(&args.log_level, args.log_json);
    let settings = conexor_agent::Settings::load(&args.config)?;
    match args.command {
        Some(AgentSub::AuditPubkey) => {
            let key = conexor_agent::audit_signing_key(&settings.state_dir)?;
            println!("{}", key.public().to_text());
            Ok(())
        }
        Some(AgentSub::Check) => {
            println!("server: {}", settings.server);
            println!("state:  {}", settings.state_dir.display());
            for c in &settings.connections {
                println!("connection {:<20} {}", c.name, c.kind.as_str());
            }
            Ok(())
        }
        None => {
            let shutdown = tokio_util::sync::CancellationToken::new();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                crate::server_cmd::shutdown_signal().await;
                stop.cancel();
            });
            tracing::info!(server = %settings.server, connections = settings.connections.len(), "Agent starting.");
            conexor_agent::run(settings, shutdown).await?;
            tracing::info!("Agent stopped.");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::parse_duration("90").unwrap(), 90);
        assert_eq!(super::parse_duration("30m").unwrap(), 1800);
        assert_eq!(super::parse_duration("2d").unwrap(), 172800);
        assert!(super::parse_duration("1w").is_err());
        assert!(super::parse_duration("h").is_err());
    }
}

//! `conexor secrets`: named values (passwords, keys, tokens) sealed here,
//! before they leave, exactly like a connection spec, and referenced by name
//! from connections (`--password-secret NAME`, `--secret-access-key-secret NAME`). The server lists names and
//! metadata only.

use crate::ClientArgs;
use crate::client_cmds::prompt_secret;
use anyhow::{Result, bail};
use clap::Subcommand;
use serde_json::json;
use std::io::{IsTerminal, Read};
use zeroize::Zeroizing;

#[derive(Subcommand, Debug)]
pub enum SecretsCmd {
    /// Seal a value here and store it under NAME (the value is prompted for,
    /// or read from stdin; never an argument)
    Add {
        #[command(flatten)]
        client: ClientArgs,
        name: String,
        /// password, secret_access_key, token or generic
        #[arg(long, default_value = "generic")]
        kind: String,
        /// Read the value from stdin
        #[arg(long)]
        stdin: bool,
    },
    /// Names, kinds, versions and the connections that use each (never values)
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// One secret's metadata
    Show {
        #[command(flatten)]
        client: ClientArgs,
        name: String,
    },
    /// Replace a secret's value; every connection that uses it takes the new
    /// value from its next call
    Rotate {
        #[command(flatten)]
        client: ClientArgs,
        name: String,
        /// Read the new value from stdin
        #[arg(long)]
        stdin: bool,
    },
    /// Remove a secret (refused while a connection uses it)
    Remove {
        #[command(flatten)]
        client: ClientArgs,
        name: String,
    },
}

/// The value, from stdin or a hidden prompt (twice, to catch a typo).
fn read_value(stdin: bool) -> Result<Zeroizing<String>> {
    if stdin || !std::io::stdin().is_terminal() {
        let mut text = Zeroizing::new(String::new());
        std::io::stdin().read_to_string(&mut text)?;
        let value = Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_owned());
        if value.is_empty() {
            bail!("the value on stdin is empty");
        }
        return Ok(value);
    }
    let value = prompt_secret("Value: ")?;
    let again = prompt_secret("Again: ")?;
    if *value != *again {
        bail!("the two values differ; nothing was stored");
    }
    if value.is_empty() {
        bail!("the value is empty; nothing was stored");
    }
    Ok(value)
}

/// Reads the value and seals it here under a fresh id.
async fn read_and_seal(
    args: &ClientArgs,
    stdin: bool,
) -> Result<(conexor_client::Client, String, conexor_crypto::SealedSecret)> {
    let value = read_value(stdin)?;
    let client = args.client()?;
    let (secret_id, sealed) = client.sealed_secret_value(&value).await?;
    Ok((client, secret_id, sealed))
}

fn print_secret(s: &conexor_api::SecretSummary) {
    println!(
        "{:<24} {:<18} {:<5} {:<25} {}",
        s.name,
        s.kind,
        format!("v{}", s.version),
        s.updated_at,
        if s.used_by.is_empty() {
            "-".to_owned()
        } else {
            s.used_by.join(", ")
        }
    );
}

pub async fn secrets(cmd: SecretsCmd) -> Result<()> {
    match cmd {
        SecretsCmd::Add {
            client: args,
            name,
            kind,
            stdin,
        } => {
            let (client, secret_id, sealed) = read_and_seal(&args, stdin).await?;
            let v: conexor_api::SecretAdded = client
                .post_as(
                    "secrets",
                    json!({"name": name, "kind": kind, "secret_id": secret_id, "sealed": sealed}),
                )
                .await?;
            if args.json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!(
                    "Secret {name:?} ({kind}) sealed here and stored. Use it with --{}-secret {name}.",
                    if kind == "secret_access_key" {
                        "secret-access-key"
                    } else {
                        "password"
                    }
                );
            }
        }
        SecretsCmd::List { client: args } => {
            let list: conexor_api::SecretList = args.client()?.get_as("secrets").await?;
            if args.json {
                println!("{}", serde_json::to_string(&list)?);
            } else {
                let all = &list.secrets;
                if all.is_empty() {
                    println!("No secrets yet: `conexor secrets add NAME` seals one.");
                } else {
                    println!(
                        "{:<24} {:<18} {:<5} {:<25} USED BY",
                        "NAME", "KIND", "VER", "UPDATED"
                    );
                    for s in all {
                        print_secret(s);
                    }
                }
            }
        }
        SecretsCmd::Show { client: args, name } => {
            let v: conexor_api::SecretSummary = args
                .client()?
                .get_as(&format!("secrets/{}", crate::client_cmds::encode(&name)))
                .await?;
            if args.json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                print_secret(&v);
            }
        }
        SecretsCmd::Rotate {
            client: args,
            name,
            stdin,
        } => {
            let (client, secret_id, sealed) = read_and_seal(&args, stdin).await?;
            let v: conexor_api::SecretRotated = client
                .put_as(
                    &format!("secrets/{}", crate::client_cmds::encode(&name)),
                    json!({"secret_id": secret_id, "sealed": sealed}),
                )
                .await?;
            if args.json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                let reach = match v.connections.as_slice() {
                    [] => "no connection uses it yet".to_owned(),
                    [one] => format!("connection {one} takes the new value from its next call"),
                    many => format!(
                        "connections {} take the new value from their next call",
                        many.join(", ")
                    ),
                };
                println!("Secret {name:?} rotated (version {}); {reach}.", v.version);
            }
        }
        SecretsCmd::Remove { client: args, name } => {
            let v: conexor_api::Removed = args
                .client()?
                .delete_as(&format!("secrets/{}", crate::client_cmds::encode(&name)))
                .await?;
            if args.json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!("Secret {name:?} removed.");
            }
        }
    }
    Ok(())
}

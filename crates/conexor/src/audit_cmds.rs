//! `conexor audit`: export the chain from the server (streamed, with progress
//! on a terminal, or followed for a SIEM forwarder), verify an export offline,
//! and print the verifying key.

use crate::ClientArgs;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Stream the workspace's audit log (JSON Lines and CSV verify offline; OCSF is for SIEMs)
    Export {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "csv", "ocsf"])]
        format: String,
        /// Records at or after this time (RFC 3339)
        #[arg(long)]
        since: Option<String>,
        /// Records at or before this time (RFC 3339)
        #[arg(long)]
        until: Option<String>,
        /// Only this user (key label); a filtered export is for reading, not for verify
        #[arg(long)]
        user: Option<String>,
        /// Only this tool; a filtered export is for reading, not for verify
        #[arg(long)]
        tool: Option<String>,
        /// Only this outcome (ok, denied, error); a filtered export is for reading, not for verify
        #[arg(long)]
        outcome: Option<String>,
        /// Keep streaming new records as they are written (JSON lines for a SIEM forwarder)
        #[arg(long)]
        follow: bool,
        /// Write to this file instead of stdout
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
    /// Check an export offline: names the first bad line and the kind of damage
    Verify {
        /// The export (JSON Lines or CSV)
        file: PathBuf,
        /// The deployment's verifying key (`ed25519:…`, from `conexor audit pubkey`); required unless --self-consistency-only
        #[arg(long)]
        pubkey: Option<String>,
        /// Check without a pinned key, with the key the export names itself: proves nothing about who signed it
        #[arg(long, conflicts_with = "pubkey")]
        self_consistency_only: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print the key that verifies checkpoint signatures
    Pubkey {
        #[command(flatten)]
        client: ClientArgs,
        /// Read it from a server's data directory instead of asking the server
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

pub async fn run(cmd: AuditCmd) -> Result<()> {
    match cmd {
        AuditCmd::Export {
            client: args,
            format,
            since,
            until,
            user,
            tool,
            outcome,
            follow,
            output,
        } => {
            let mut query = vec![("format", format)];
            for (name, value) in [
                ("since", since),
                ("until", until),
                ("user", user),
                ("tool", tool),
                ("outcome", outcome),
            ] {
                if let Some(v) = value {
                    query.push((name, v));
                }
            }
            if follow {
                query.push(("follow", "true".into()));
            }
            let filtered = query
                .iter()
                .any(|(k, _)| matches!(*k, "user" | "tool" | "outcome"));
            if filtered {
                eprintln!(
                    "note: a filtered export leaves gaps in the chain; `conexor audit verify` checks whole exports"
                );
            }
            let encoded: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{k}={}", encode(v)))
                .collect();
            let client = args.client()?;
            let mut response = client
                .get_stream(&format!("audit/export?{}", encoded.join("&")))
                .await?;
            let mut sink: Box<dyn Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?,
                )),
                None => Box::new(std::io::stdout().lock()),
            };
            let progress = (output.is_some() && std::io::stderr().is_terminal()).then(|| {
                let pb = indicatif::ProgressBar::new_spinner();
                pb.enable_steady_tick(std::time::Duration::from_millis(200));
                pb
            });
            let (mut lines, mut bytes) = (0u64, 0u64);
            while let Some(chunk) = response.chunk().await.context("reading the export")? {
                if let Err(e) = sink.write_all(&chunk) {
                    // A closed pipe (`| head`) is the reader's choice, not an error.
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        return Ok(());
                    }
                    return Err(e).context("writing the export");
                }
                lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
                bytes += chunk.len() as u64;
                if follow {
                    sink.flush()?;
                }
                if let Some(pb) = &progress {
                    pb.set_message(format!("{lines} lines, {} KiB", bytes / 1024));
                }
            }
            sink.flush()?;
            if let Some(pb) = progress {
                pb.finish_with_message(format!("{lines} lines, {} KiB written", bytes / 1024));
            }
        }
        AuditCmd::Verify {
            file,
            pubkey,
            self_consistency_only,
            json,
        } => {
            if pubkey.is_none() && !self_consistency_only {
                anyhow::bail!(
                    "no --pubkey: pin the deployment's key (`conexor audit pubkey`), or pass --self-consistency-only to check the export against the key it names itself, which proves nothing about who signed it"
                );
            }
            let pinned = pubkey
                .map(|k| conexor_audit::PublicKey::parse(k.trim()))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--pubkey: {e}"))?;
            let reader = std::io::BufReader::new(
                std::fs::File::open(&file)
                    .with_context(|| format!("opening {}", file.display()))?,
            );
            match conexor_audit::verify(reader, pinned.as_ref()) {
                Ok(report) => {
                    let trust = match report.signatures {
                        conexor_audit::SignatureTrust::Pinned => {
                            "signatures verified with the pinned key"
                        }
                        conexor_audit::SignatureTrust::SelfConsistentOnly => {
                            "SELF-CONSISTENCY ONLY: checked with the key the export names itself, not a pinned key; this proves nothing about who signed it (anyone can re-sign an edited export with a key of their own)"
                        }
                    };
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"ok": true, "records": report.records, "checkpoints": report.checkpoints,
                                "first_seq": report.first_seq, "last_seq": report.last_seq, "workspace": report.workspace,
                                "key_id": report.key_id, "pinned": matches!(report.signatures, conexor_audit::SignatureTrust::Pinned)})
                        );
                    } else {
                        println!(
                            "OK: {} records (seq {}..{}), {} checkpoints, workspace {}; {trust}",
                            report.records,
                            report
                                .first_seq
                                .map(|s| s.to_string())
                                .unwrap_or_else(|| "-".into()),
                            report
                                .last_seq
                                .map(|s| s.to_string())
                                .unwrap_or_else(|| "-".into()),
                            report.checkpoints,
                            report.workspace
                        );
                    }
                }
                Err(problem) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"ok": false, "line": problem.line, "damage": problem.kind.to_string(), "detail": problem.detail})
                        );
                    }
                    bail!("{}: {problem}", file.display());
                }
            }
        }
        AuditCmd::Pubkey {
            client: args,
            data_dir,
        } => match data_dir {
            Some(dir) => {
                let key = conexor_server::audit::load_existing_signing_key(&dir)?;
                println!("{}", key.public().to_text());
            }
            None => {
                let v: conexor_api::AuditKey = args.client()?.get_as("audit/pubkey").await?;
                println!("{}", v.pubkey);
            }
        },
    }
    Ok(())
}

use conexor_client::encode_component as encode;

//! The agent's own audit log: every request the server sent, served or
//! refused, as one record of the same hash-chained format the server uses
//! (DESIGN §6), in `state_dir/audit.jsonl`. Each record is followed by a
//! checkpoint signed with the agent's local audit key, and both are fsynced
//! before the answer goes back, so the file verifies at any moment with
//! `conexor audit verify audit.jsonl --pubkey "$(conexor agent audit-pubkey)"`.
//!
//! This is the evidence a security team keeps on its side of the firewall:
//! a compromised server that sends writes is refused here, and the refusal is
//! recorded here, whatever the server's own log says.

use conexor_audit::{Chain, Draft, Interval, Record, SigningKey, export};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub const FILE: &str = "audit.jsonl";
pub const KEY_FILE: &str = "audit-signing.key";

/// A checkpoint after every record: the log is verifiable at any moment.
const INTERVAL: Interval = Interval {
    records: 1,
    seconds: 0,
};

pub struct LocalAudit {
    path: PathBuf,
    file: std::fs::File,
    chain: Chain,
    key: SigningKey,
}

/// Loads the local audit signing key, creating it (0600) on first use.
pub fn signing_key(state_dir: &Path) -> std::io::Result<SigningKey> {
    let path = state_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let mut seed = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(text.trim(), seed.as_mut()).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is damaged", path.display()),
                )
            })?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::state::create_private_dir(state_dir)?;
            let key = SigningKey::generate().map_err(|e| std::io::Error::other(e.to_string()))?;
            let text = Zeroizing::new(hex::encode(key.to_bytes().as_ref()));
            crate::state::write_private(&path, text.as_bytes())?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

impl LocalAudit {
    /// Opens (or starts) the log of `workspace` and appends a start record
    /// and a checkpoint. A log of another workspace, or one that does not
    /// parse, is moved aside (never deleted) and a new one started.
    pub fn open(state_dir: &Path, workspace: &str) -> std::io::Result<LocalAudit> {
        let key = signing_key(state_dir)?;
        let path = state_dir.join(FILE);
        let now = chrono::Utc::now();
        let resumed = match std::fs::File::open(&path) {
            Ok(f) => match scan(std::io::BufReader::new(f), workspace) {
                Some(found) => Some(found),
                None => {
                    let aside =
                        path.with_extension(format!("jsonl.{}.old", now.format("%Y%m%dT%H%M%S")));
                    tracing::warn!(log = %path.display(), moved_to = %aside.display(),
                        "Local audit log belongs to another workspace or is damaged; moved aside, starting a new one.");
                    std::fs::rename(&path, &aside)?;
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let mut out = String::new();
        let chain = match resumed {
            Some(Scan {
                seq,
                hash,
                valid_len,
                last_is_checkpoint,
            }) => {
                file.set_len(valid_len)?;
                let mut chain = Chain::resume(workspace, seq, hash).map_err(other)?;
                if !last_is_checkpoint {
                    push_checkpoint(&mut out, &mut chain, &key)?;
                }
                chain
            }
            None => {
                let header = export::Header::new(workspace, &key.public(), INTERVAL, now);
                out.push_str(&export::jsonl_header(&header).map_err(other)?);
                Chain::genesis(workspace)
            }
        };
        let mut log = LocalAudit {
            path,
            file,
            chain,
            key,
        };
        let start = log.chain.append_start(now).map_err(other)?;
        out.push_str(&export::jsonl_record(&start).map_err(other)?);
        push_checkpoint(&mut out, &mut log.chain, &log.key)?;
        log.write(&out)?;
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and its checkpoint, durably.
    pub fn append(&mut self, draft: Draft) -> std::io::Result<Record> {
        let now = chrono::Utc::now();
        let before = self.chain.clone();
        let result = (|| {
            let record = self.chain.append(draft, now).map_err(other)?;
            let mut out = export::jsonl_record(&record).map_err(other)?;
            push_checkpoint(&mut out, &mut self.chain, &self.key)?;
            self.write(&out)?;
            Ok(record)
        })();
        if result.is_err() {
            self.chain = before;
        }
        result
    }

    fn write(&mut self, text: &str) -> std::io::Result<()> {
        self.file.write_all(text.as_bytes())?;
        self.file.sync_data()
    }
}

fn push_checkpoint(out: &mut String, chain: &mut Chain, key: &SigningKey) -> std::io::Result<()> {
    let cp = chain.checkpoint(chrono::Utc::now());
    let sig = key.sign(&cp).map_err(other)?;
    out.push_str(&export::jsonl_checkpoint(&cp, &sig).map_err(other)?);
    Ok(())
}

struct Scan {
    seq: u64,
    hash: String,
    /// Bytes up to the end of the last complete line.
    valid_len: u64,
    last_is_checkpoint: bool,
}

/// Finds the last record of an existing log; `None` when it is not a log of
/// `workspace` or a complete line does not parse.
fn scan(mut reader: impl BufRead, workspace: &str) -> Option<Scan> {
    let mut found = Scan {
        seq: 0,
        hash: conexor_audit::ZERO_HASH.to_owned(),
        valid_len: 0,
        last_is_checkpoint: true,
    };
    let mut line = String::new();
    let mut first = true;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).ok()?;
        if n == 0 || !line.ends_with('\n') {
            // End, or a torn last line from a crash: dropped.
            break;
        }
        let value: serde_json::Value = serde_json::from_str(&line).ok()?;
        if first {
            if value.pointer("/header/workspace")?.as_str()? != workspace {
                return None;
            }
            first = false;
        } else if let Some(r) = value.get("record") {
            found.seq = r.get("seq")?.as_u64()?;
            found.hash = r.get("hash")?.as_str()?.to_owned();
            found.last_is_checkpoint = false;
        } else if value.get("checkpoint").is_some() {
            found.last_is_checkpoint = true;
        } else {
            return None;
        }
        found.valid_len += n as u64;
    }
    if first { None } else { Some(found) }
}

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use conexor_audit::{Outcome, verify};

    #[test]
    fn verifies_after_every_append_and_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let ws = "ws_AAAAAAAAAAAAAAAA";
        let mut log = LocalAudit::open(dir.path(), ws).unwrap();
        let mut d = Draft::new("agent.query", Outcome::Denied);
        d.error = Some("guard.denied_statement: refused by the SELECT-only guard".into());
        log.append(d).unwrap();
        drop(log);
        // A torn line from a crash is dropped on the next start.
        let path = dir.path().join(FILE);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"record\":{\"se")
            .unwrap();
        let mut log = LocalAudit::open(dir.path(), ws).unwrap();
        log.append(Draft::new("agent.query", Outcome::Ok)).unwrap();
        let key = signing_key(dir.path()).unwrap().public();
        let text = std::fs::read(&path).unwrap();
        let report = verify(&text[..], Some(&key)).expect("the local log verifies");
        assert_eq!(report.records, 4);
        // Another workspace's log is moved aside, not appended to.
        drop(log);
        LocalAudit::open(dir.path(), "ws_BBBBBBBBBBBBBBBB").unwrap();
        let aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".old")
            })
            .count();
        assert_eq!(aside, 1);
    }
}

//! What the agent keeps on its own disk, in `state_dir` (mode 0700):
//! `identity.json` (its Ed25519 identity seed, and once enrolled its agent
//! and workspace ids; mode 0600), `audit-signing.key` (the key that signs
//! its local audit checkpoints; 0600) and `audit.jsonl` (the local audit log).

use conexor_protocol::AgentKey;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

#[derive(Serialize, Deserialize)]
struct IdentityFile {
    seed: String,
    agent_id: Option<String>,
    workspace_id: Option<String>,
}

/// The agent's identity as kept on disk.
#[derive(Clone, Debug)]
pub struct Identity {
    pub key: AgentKey,
    /// Set once the server has accepted the enrolment.
    pub enrolled: Option<Enrolled>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrolled {
    pub agent_id: String,
    pub workspace_id: String,
}

pub fn identity_path(state_dir: &Path) -> PathBuf {
    state_dir.join("identity.json")
}

/// Loads the identity, creating a fresh key (not yet enrolled) when none exists.
pub fn load_or_create_identity(state_dir: &Path) -> std::io::Result<Identity> {
    create_private_dir(state_dir)?;
    let path = identity_path(state_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let file: IdentityFile = serde_json::from_str(&text).map_err(|_| {
                invalid(format!(
                    "{} is damaged; remove it and enrol again with a new token",
                    path.display()
                ))
            })?;
            let seed = Zeroizing::new(file.seed);
            let key = AgentKey::from_seed_text(&seed)
                .map_err(|_| invalid(format!("{} holds no valid key", path.display())))?;
            let enrolled = match (file.agent_id, file.workspace_id) {
                (Some(agent_id), Some(workspace_id)) => Some(Enrolled {
                    agent_id,
                    workspace_id,
                }),
                _ => None,
            };
            Ok(Identity { key, enrolled })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = AgentKey::generate().map_err(|e| invalid(e.to_string()))?;
            let identity = Identity {
                key,
                enrolled: None,
            };
            save_identity(state_dir, &identity)?;
            Ok(identity)
        }
        Err(e) => Err(e),
    }
}

/// Writes the identity atomically (temp file, fsync, rename), mode 0600.
pub fn save_identity(state_dir: &Path, identity: &Identity) -> std::io::Result<()> {
    let file = IdentityFile {
        seed: identity.key.seed_text().to_string(),
        agent_id: identity.enrolled.as_ref().map(|e| e.agent_id.clone()),
        workspace_id: identity.enrolled.as_ref().map(|e| e.workspace_id.clone()),
    };
    let text =
        Zeroizing::new(serde_json::to_string_pretty(&file).map_err(|e| invalid(e.to_string()))?);
    let mut file = file;
    zeroize::Zeroize::zeroize(&mut file.seed);
    write_private(&identity_path(state_dir), text.as_bytes())
}

/// Writes `bytes` to `path` atomically with mode 0600.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

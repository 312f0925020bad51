//! The agent's identity: an Ed25519 key pair the agent generates itself at
//! enrolment and keeps locally. The server stores only the public key.
//!
//! Every connection starts with a fresh random nonce from the server; the
//! agent signs `challenge_message(nonce, subject)`, where the subject names
//! what is being proved (`enrol`, or `hello:<agent_id>:<workspace_id>`). An
//! answer is therefore good for one nonce, one agent and one workspace only:
//! replaying it on another connection fails, because that connection has
//! another nonce.

use crate::Error;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;
use rand::TryRng as _;
use rand::rngs::SysRng;
use zeroize::Zeroizing;

const DOMAIN: &[u8] = b"conexor/agent/v1/challenge\n";

/// The bytes an agent signs to answer a challenge.
pub fn challenge_message(nonce: &str, subject: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + nonce.len() + subject.len() + 1);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(nonce.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(subject.as_bytes());
    m
}

/// A fresh challenge nonce: 32 random bytes, base64url without padding.
pub fn new_nonce() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|_| Error::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Checks an answer to a challenge with the agent's public key
/// (base64url of 32 bytes). Strict verification (no small-order points,
/// canonical signatures).
pub fn verify_challenge(
    public_key: &str,
    nonce: &str,
    subject: &str,
    signature: &str,
) -> Result<bool, Error> {
    let key_bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(Error::PublicKey)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key_bytes).map_err(|_| Error::PublicKey)?;
    let sig_bytes: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(Error::Signature)?;
    let sig = ed25519_dalek::Signature::from_bytes(&sig_bytes);
    Ok(key
        .verify_strict(&challenge_message(nonce, subject), &sig)
        .is_ok())
}

/// The agent's private identity key. `Debug` shows only the public half;
/// the seed is zeroized on drop.
#[derive(Clone)]
pub struct AgentKey(ed25519_dalek::SigningKey);

impl AgentKey {
    pub fn generate() -> Result<AgentKey, Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        SysRng
            .try_fill_bytes(seed.as_mut())
            .map_err(|_| Error::Random)?;
        Ok(AgentKey::from_seed(&seed))
    }

    pub fn from_seed(seed: &[u8; 32]) -> AgentKey {
        AgentKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The seed as base64url, for the agent's identity file only.
    pub fn seed_text(&self) -> Zeroizing<String> {
        Zeroizing::new(URL_SAFE_NO_PAD.encode(self.0.to_bytes()))
    }

    pub fn from_seed_text(text: &str) -> Result<AgentKey, Error> {
        let bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(text.trim())
                .map_err(|_| Error::PublicKey)?,
        );
        let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| Error::PublicKey)?;
        let seed = Zeroizing::new(seed);
        Ok(AgentKey::from_seed(&seed))
    }

    /// The public key as the server stores it: base64url of 32 bytes.
    pub fn public_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.verifying_key().to_bytes())
    }

    /// Signs the answer to `nonce` for `subject`.
    pub fn answer(&self, nonce: &str, subject: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.0.sign(&challenge_message(nonce, subject)).to_bytes())
    }
}

impl std::fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AgentKey({})", self.public_text())
    }
}

/// The subject an enrolling agent signs.
pub const ENROL_SUBJECT: &str = "enrol";

/// The subject an enrolled agent signs on every later connection.
pub fn hello_subject(agent_id: &str, workspace_id: &str) -> String {
    format!("hello:{agent_id}:{workspace_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_verify_only_for_their_nonce_and_subject() {
        let key = AgentKey::generate().unwrap();
        let n1 = new_nonce().unwrap();
        let n2 = new_nonce().unwrap();
        let sig = key.answer(&n1, "hello:agt_1:ws_1");
        let public = key.public_text();
        assert!(verify_challenge(&public, &n1, "hello:agt_1:ws_1", &sig).unwrap());
        assert!(!verify_challenge(&public, &n2, "hello:agt_1:ws_1", &sig).unwrap());
        assert!(!verify_challenge(&public, &n1, "hello:agt_1:ws_2", &sig).unwrap());
        let other = AgentKey::generate().unwrap().public_text();
        assert!(!verify_challenge(&other, &n1, "hello:agt_1:ws_1", &sig).unwrap());
        assert_eq!(
            verify_challenge("not a key", &n1, "x", &sig),
            Err(Error::PublicKey)
        );
        assert_eq!(
            verify_challenge(&public, &n1, "x", "AAAA"),
            Err(Error::Signature)
        );
    }

    #[test]
    fn seed_round_trips() {
        let key = AgentKey::generate().unwrap();
        let again = AgentKey::from_seed_text(&key.seed_text()).unwrap();
        assert_eq!(key.public_text(), again.public_text());
        assert!(AgentKey::from_seed_text("short").is_err());
    }
}

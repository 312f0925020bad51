//! Checkpoints and their Ed25519 signatures.
//!
//! What it does: defines [`Checkpoint`] (`{workspace, seq, hash, ts}`), the
//! signed message (`JCS` of exactly those four members), the deployment's
//! [`SigningKey`] and the [`PublicKey`] a reviewer pins
//! (`ed25519:<base64url>`). Signatures are the 64 Ed25519 bytes in base64url
//! without padding; verification is strict (RFC 8032 with no small-order
//! points and canonical `S`).
//!
//! What it does not do: it does not store the signing key (the server keeps
//! it outside the store's rows) and offers no key rotation.

use crate::{Error, format_ts};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::Signer as _;
use rand::TryRng as _;
use rand::rngs::SysRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

/// What the server signs every N records and every T seconds: the head of a
/// workspace's chain at a time.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The workspace id.
    pub workspace: String,
    /// The seq of the last record covered (0 for an empty chain).
    pub seq: u64,
    /// That record's hash ([`crate::ZERO_HASH`] for an empty chain).
    pub hash: String,
    /// When it was signed, UTC RFC 3339 with milliseconds.
    pub ts: String,
}

impl Checkpoint {
    /// A checkpoint of `seq`/`hash` at `ts`.
    pub fn new(
        workspace: impl Into<String>,
        seq: u64,
        hash: impl Into<String>,
        ts: DateTime<Utc>,
    ) -> Checkpoint {
        Checkpoint {
            workspace: workspace.into(),
            seq,
            hash: hash.into(),
            ts: format_ts(ts),
        }
    }

    /// The signed message: `JCS({workspace, seq, hash, ts})`.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, Error> {
        serde_jcs::to_vec(self).map_err(Error::from)
    }
}

/// The deployment's checkpoint signing key. `Debug` shows only the public
/// key; the secret is zeroized on drop.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<SigningKey, Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        SysRng
            .try_fill_bytes(seed.as_mut())
            .map_err(|_| Error::Random)?;
        Ok(SigningKey::from_bytes(&seed))
    }

    /// The key with this 32-byte Ed25519 seed (RFC 8032 private key).
    pub fn from_bytes(seed: &[u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed, for the caller to keep outside the store.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The verifying key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `JCS({workspace, seq, hash, ts})`; returns the 64-byte
    /// signature in base64url without padding (86 characters).
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<String, Error> {
        let message = checkpoint.signed_bytes()?;
        let sig = self.0.sign(&message);
        Ok(URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public().to_text())
            .finish_non_exhaustive()
    }
}

/// The public half of the signing key, as pinned by a reviewer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

const PUBLIC_PREFIX: &str = "ed25519:";

impl PublicKey {
    /// Parses `ed25519:<base64url of the 32 key bytes, no padding>`; the
    /// point must decode and must not be of small order.
    pub fn parse(text: &str) -> Result<PublicKey, Error> {
        let b64 = text
            .trim()
            .strip_prefix(PUBLIC_PREFIX)
            .ok_or(Error::InvalidPublicKey("expected the prefix ed25519:"))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| Error::InvalidPublicKey("not base64url without padding"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::InvalidPublicKey("expected 32 bytes"))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| Error::InvalidPublicKey("not a curve point"))?;
        if key.is_weak() {
            return Err(Error::InvalidPublicKey("weak key"));
        }
        Ok(PublicKey(key))
    }

    /// `ed25519:<base64url>`.
    pub fn to_text(&self) -> String {
        format!(
            "{PUBLIC_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.0.as_bytes())
        )
    }

    /// The key id shown in export headers: the first 16 hex characters of
    /// SHA-256 over the 32 key bytes.
    pub fn key_id(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        let mut id = hex::encode(digest);
        id.truncate(16);
        id
    }

    /// True when `sig` (base64url, 64 bytes) is a valid strict Ed25519
    /// signature of `checkpoint` under this key. Never panics.
    pub fn verify(&self, checkpoint: &Checkpoint, sig: &str) -> bool {
        let Ok(message) = checkpoint.signed_bytes() else {
            return false;
        };
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&bytes);
        self.0.verify_strict(&message, &sig).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_text())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cp() -> Checkpoint {
        let ts = Utc
            .timestamp_millis_opt(1_800_000_000_123)
            .single()
            .unwrap_or_default();
        Checkpoint::new("ws_A", 7, crate::ZERO_HASH, ts)
    }

    #[test]
    fn signed_message_is_jcs_of_the_four_members() {
        let bytes = cp().signed_bytes().ok().map(String::from_utf8);
        assert_eq!(
            bytes.and_then(Result::ok).as_deref(),
            Some(
                "{\"hash\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"seq\":7,\"ts\":\"2027-01-15T08:00:00.123Z\",\"workspace\":\"ws_A\"}"
            )
        );
    }

    #[test]
    fn sign_verify_and_reject() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let public = key.public();
        let sig = key.sign(&cp()).unwrap_or_default();
        assert_eq!(sig.len(), 86);
        assert!(public.verify(&cp(), &sig));
        let mut other = cp();
        other.seq = 8;
        assert!(!public.verify(&other, &sig));
        assert!(!public.verify(&cp(), "not base64!"));
        assert!(!public.verify(&cp(), ""));
        let stranger = SigningKey::from_bytes(&[8u8; 32]).public();
        assert!(!stranger.verify(&cp(), &sig));
    }

    #[test]
    fn public_key_text_round_trips_and_rejects_garbage() {
        let public = SigningKey::from_bytes(&[7u8; 32]).public();
        let text = public.to_text();
        assert!(text.starts_with("ed25519:"));
        assert_eq!(PublicKey::parse(&text).ok(), Some(public));
        assert_eq!(public.key_id().len(), 16);
        for bad in ["", "ed25519:", "ed25519:AAAA", "rsa:abc", &text[1..]] {
            assert!(PublicKey::parse(bad).is_err(), "{bad}");
        }
        // The identity point is of small order: refused.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = format!("ed25519:{}", URL_SAFE_NO_PAD.encode(identity));
        assert!(PublicKey::parse(&weak).is_err());
    }

    #[test]
    fn debug_redacts_the_secret() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let shown = format!("{key:?}");
        assert!(shown.contains("ed25519:"));
        assert!(!shown.contains("[7, 7"));
        let fresh = SigningKey::generate();
        assert!(fresh.is_ok());
    }
}

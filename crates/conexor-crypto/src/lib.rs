//! Client-side cryptography of Conexor, format v1 (DESIGN §4,
//! `docs/format-v1.md`).
//!
//! What it does: parses and generates API keys (`cxk_<key_id>_<secret>`),
//! computes the server's one-way `auth_hash` and checks it in constant time,
//! derives the key-encryption key (KEK) with PBKDF2-HMAC-SHA256, wraps and
//! unwraps the workspace master key (WMK), makes and checks the WMK check
//! value, and seals, opens and re-wraps connection secrets under per-secret
//! data keys (DEKs). Every ciphertext is an AES-256-GCM [`Envelope`] bound
//! by its AAD to the key, workspace and secret it belongs to.
//!
//! What it does not do: no I/O, no storage, no KEK cache, no policy about
//! who may call what. Fresh nonces, keys and salts always come from the
//! operating system's random source; the only way to choose them is the
//! `#[doc(hidden)]` [`fixed`] module, which exists for the test vectors.
//! Key material lives in zeroizing buffers, but copies made by callers (a
//! decrypted connection spec handed to a database driver, for example) are
//! out of this crate's reach.

#![forbid(unsafe_code)]

mod b64;
mod envelope;
#[doc(hidden)]
pub mod fixed;
mod kdf;
mod key;
mod random;
mod wmk;

pub use envelope::Envelope;
pub use kdf::{Kek, MAX_KDF_ITERATIONS, MIN_KDF_ITERATIONS, derive_kek};
pub use key::{ApiKey, auth_hash, verify_auth};
pub use random::{new_secret_id, new_workspace_id, random_base62, random_salt};
pub use wmk::{
    SealedSecret, Wmk, open_secret, rewrap_dek, seal_secret, unwrap_wmk, verify_wmk_check,
    wmk_check, wrap_wmk,
};

/// Everything that can go wrong. Messages are safe to show to a user: they
/// never contain key material.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The text is not a well-formed `cxk_` API key.
    #[error("malformed api key: {0}")]
    MalformedKey(&'static str),
    /// A KDF iteration count below [`MIN_KDF_ITERATIONS`].
    #[error("kdf iterations {iterations} below the minimum of 600000")]
    WeakKdf { iterations: u32 },
    /// A KDF iteration count above [`MAX_KDF_ITERATIONS`], refused to bound
    /// the cost a stored record can impose.
    #[error("kdf iterations {iterations} above the maximum of 10000000")]
    ExcessiveKdf { iterations: u32 },
    /// The envelope is not a well-formed v1 envelope, or its plaintext does
    /// not have the shape its role requires.
    #[error("malformed envelope: {0}")]
    Envelope(&'static str),
    /// Authentication of the ciphertext failed.
    #[error("decryption failed: wrong key, wrong record or damaged data")]
    Decrypt,
    /// The plaintext exceeds what AES-GCM can encrypt under one nonce.
    #[error("plaintext too large for aes-256-gcm")]
    TooLarge,
}

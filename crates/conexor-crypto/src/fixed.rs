//! Deterministic entry points for the format-v1 test vectors: the same code
//! paths as the public API, with keys, DEKs and nonces chosen by the caller.
//!
//! Hidden from the docs and not for production use: reusing a nonce under a
//! key breaks AES-GCM. Nothing outside `tests/` should call these.

use conexor_types::{KeyId, SecretId, WorkspaceId};
use zeroize::Zeroizing;

use crate::{ApiKey, Envelope, Error, Kek, SealedSecret, Wmk, envelope, wmk};

/// An API key from a known key id and secret.
pub fn api_key(key_id: KeyId, secret: [u8; 32]) -> ApiKey {
    ApiKey::from_parts(key_id, secret)
}

/// A KEK from raw bytes.
pub fn kek(bytes: [u8; 32]) -> Kek {
    Kek(Zeroizing::new(bytes))
}

/// The raw bytes of a KEK.
pub fn kek_bytes(kek: &Kek) -> &[u8; 32] {
    &kek.0
}

/// A WMK from raw bytes.
pub fn wmk(bytes: [u8; 32]) -> Wmk {
    Wmk(Zeroizing::new(bytes))
}

/// The raw bytes of a WMK.
pub fn wmk_bytes(wmk: &Wmk) -> &[u8; 32] {
    &wmk.0
}

/// `conexor/wrap/v1/<key_id>`.
pub fn wrap_aad(key_id: &KeyId) -> String {
    wmk::wrap_aad(key_id)
}

/// `conexor/secret/v1/<workspace_id>/<secret_id>`.
pub fn secret_aad(ws: &WorkspaceId, sec: &SecretId) -> String {
    wmk::secret_aad(ws, sec)
}

/// `conexor/dek/v1/<workspace_id>/<secret_id>`.
pub fn dek_aad(ws: &WorkspaceId, sec: &SecretId) -> String {
    wmk::dek_aad(ws, sec)
}

/// [`crate::wrap_wmk`] with a chosen nonce.
pub fn wrap_wmk(kek: &Kek, wmk: &Wmk, key_id: &KeyId, nonce: &[u8; 12]) -> Envelope {
    wmk::wrap_wmk_with_nonce(kek, wmk, key_id, nonce)
}

/// [`crate::wmk_check`] with a chosen nonce.
pub fn wmk_check(wmk: &Wmk, nonce: &[u8; 12]) -> Envelope {
    wmk::wmk_check_with_nonce(wmk, nonce)
}

/// [`crate::seal_secret`] with a chosen DEK and nonces.
pub fn seal_secret(
    wmk: &Wmk,
    ws: &WorkspaceId,
    sec: &SecretId,
    plaintext_json: &[u8],
    dek: &[u8; 32],
    value_nonce: &[u8; 12],
    dek_nonce: &[u8; 12],
) -> Result<SealedSecret, Error> {
    wmk::seal_secret_with(wmk, ws, sec, plaintext_json, dek, value_nonce, dek_nonce)
}

/// [`crate::rewrap_dek`] with a chosen nonce.
pub fn rewrap_dek(
    old: &Wmk,
    new: &Wmk,
    ws: &WorkspaceId,
    sec: &SecretId,
    dek_envelope: &Envelope,
    nonce: &[u8; 12],
) -> Result<Envelope, Error> {
    wmk::rewrap_dek_with_nonce(old, new, ws, sec, dek_envelope, nonce)
}

/// One AES-256-GCM envelope with a chosen key, nonce and AAD.
pub fn seal_with(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Envelope, Error> {
    envelope::seal_with_nonce(key, nonce, aad, plaintext)
}

/// Opens one envelope under a key and AAD, with the public API's checks.
pub fn open_with(key: &[u8; 32], aad: &[u8], env: &Envelope) -> Result<Zeroizing<Vec<u8>>, Error> {
    envelope::open(key, aad, env)
}

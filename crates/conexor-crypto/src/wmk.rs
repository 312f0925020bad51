//! The workspace master key (WMK) and what it protects: the WMK wrapped
//! under each API key's KEK, the WMK check value, and connection secrets
//! sealed under per-secret data keys (DEKs) that the WMK wraps.
//!
//! Every AAD names the record it belongs to, so a ciphertext copied to
//! another key, workspace or secret id fails to open. This module does not
//! decide which keys are live or when to rotate; `keys rotate-master` is a
//! client flow built from [`Wmk::generate`], [`rewrap_dek`] and [`wrap_wmk`].

use std::fmt;

use conexor_types::{KeyId, SecretId, WorkspaceId};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::envelope::{self, Envelope, NONCE_LEN};
use crate::{Error, Kek, random};

/// Plaintext of the WMK check value.
pub(crate) const CHECK_PLAINTEXT: &[u8] = b"conexor/check/v1";

/// AAD of the WMK wrapped for one API key: `conexor/wrap/v1/<key_id>`.
pub(crate) fn wrap_aad(key_id: &KeyId) -> String {
    format!("conexor/wrap/v1/{}", key_id.as_str())
}

/// AAD of a secret's value: `conexor/secret/v1/<workspace_id>/<secret_id>`.
pub(crate) fn secret_aad(ws: &WorkspaceId, sec: &SecretId) -> String {
    format!("conexor/secret/v1/{}/{}", ws.as_str(), sec.as_str())
}

/// AAD of a secret's wrapped DEK: `conexor/dek/v1/<workspace_id>/<secret_id>`.
pub(crate) fn dek_aad(ws: &WorkspaceId, sec: &SecretId) -> String {
    format!("conexor/dek/v1/{}/{}", ws.as_str(), sec.as_str())
}

/// A workspace master key. `Debug` never shows the bytes.
#[derive(Clone)]
pub struct Wmk(pub(crate) Zeroizing<[u8; 32]>);

impl Wmk {
    /// A fresh random WMK.
    pub fn generate() -> Wmk {
        let mut k = Zeroizing::new([0u8; 32]);
        random::fill(&mut k[..]);
        Wmk(k)
    }
}

impl fmt::Debug for Wmk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Wmk([redacted])")
    }
}

/// A sealed connection secret: the value under its DEK, and the DEK under
/// the WMK.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct SealedSecret {
    /// AES-256-GCM(DEK, nonce, JSON, AAD = `conexor/secret/v1/<ws>/<sec>`).
    pub value: Envelope,
    /// AES-256-GCM(WMK, nonce, DEK, AAD = `conexor/dek/v1/<ws>/<sec>`).
    pub dek: Envelope,
}

/// Wraps the WMK for one API key: AES-256-GCM(KEK, fresh nonce, WMK,
/// AAD = `conexor/wrap/v1/<key_id>`).
pub fn wrap_wmk(kek: &Kek, wmk: &Wmk, key_id: &KeyId) -> Envelope {
    wrap_wmk_with_nonce(kek, wmk, key_id, &random::bytes())
}

pub(crate) fn wrap_wmk_with_nonce(
    kek: &Kek,
    wmk: &Wmk,
    key_id: &KeyId,
    nonce: &[u8; NONCE_LEN],
) -> Envelope {
    envelope::seal_with_nonce(&kek.0, nonce, wrap_aad(key_id).as_bytes(), &wmk.0[..])
        .expect("aes-gcm encrypts 32 bytes; only inputs over 64 GiB fail")
}

/// Unwraps the WMK wrapped for `key_id`.
pub fn unwrap_wmk(kek: &Kek, wrapped: &Envelope, key_id: &KeyId) -> Result<Wmk, Error> {
    envelope::open_key(&kek.0, wrap_aad(key_id).as_bytes(), wrapped).map(Wmk)
}

/// The WMK check value: AES-256-GCM(WMK, fresh nonce, `conexor/check/v1`,
/// no AAD). Lets a client confirm an unwrapped WMK is the workspace's.
pub fn wmk_check(wmk: &Wmk) -> Envelope {
    wmk_check_with_nonce(wmk, &random::bytes())
}

pub(crate) fn wmk_check_with_nonce(wmk: &Wmk, nonce: &[u8; NONCE_LEN]) -> Envelope {
    envelope::seal_with_nonce(&wmk.0, nonce, b"", CHECK_PLAINTEXT)
        .expect("aes-gcm encrypts 16 bytes; only inputs over 64 GiB fail")
}

/// Whether `check` opens under `wmk` to `conexor/check/v1`.
pub fn verify_wmk_check(wmk: &Wmk, check: &Envelope) -> bool {
    match envelope::open(&wmk.0, b"", check) {
        Ok(plain) => bool::from(plain[..].ct_eq(CHECK_PLAINTEXT)),
        Err(_) => false,
    }
}

/// Seals one connection secret (the JSON spec) under a fresh DEK and fresh
/// nonces, and wraps the DEK under the WMK. Fails only for plaintexts
/// beyond AES-GCM's limit (64 GiB).
pub fn seal_secret(
    wmk: &Wmk,
    ws: &WorkspaceId,
    sec: &SecretId,
    plaintext_json: &[u8],
) -> Result<SealedSecret, Error> {
    let mut dek = Zeroizing::new([0u8; 32]);
    random::fill(&mut dek[..]);
    seal_secret_with(
        wmk,
        ws,
        sec,
        plaintext_json,
        &dek,
        &random::bytes(),
        &random::bytes(),
    )
}

pub(crate) fn seal_secret_with(
    wmk: &Wmk,
    ws: &WorkspaceId,
    sec: &SecretId,
    plaintext_json: &[u8],
    dek: &[u8; 32],
    value_nonce: &[u8; NONCE_LEN],
    dek_nonce: &[u8; NONCE_LEN],
) -> Result<SealedSecret, Error> {
    let value = envelope::seal_with_nonce(
        dek,
        value_nonce,
        secret_aad(ws, sec).as_bytes(),
        plaintext_json,
    )?;
    let dek = envelope::seal_with_nonce(&wmk.0, dek_nonce, dek_aad(ws, sec).as_bytes(), dek)?;
    Ok(SealedSecret { value, dek })
}

/// Opens a sealed secret of secret `sec` in workspace `ws`.
pub fn open_secret(
    wmk: &Wmk,
    ws: &WorkspaceId,
    sec: &SecretId,
    sealed: &SealedSecret,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let dek = envelope::open_key(&wmk.0, dek_aad(ws, sec).as_bytes(), &sealed.dek)?;
    envelope::open(&dek, secret_aad(ws, sec).as_bytes(), &sealed.value)
}

/// Re-wraps one secret's DEK from the `old` WMK to the `new` one under a
/// fresh nonce (for `keys rotate-master`); the value envelope is unchanged.
pub fn rewrap_dek(
    old: &Wmk,
    new: &Wmk,
    ws: &WorkspaceId,
    sec: &SecretId,
    dek_envelope: &Envelope,
) -> Result<Envelope, Error> {
    rewrap_dek_with_nonce(old, new, ws, sec, dek_envelope, &random::bytes())
}

pub(crate) fn rewrap_dek_with_nonce(
    old: &Wmk,
    new: &Wmk,
    ws: &WorkspaceId,
    sec: &SecretId,
    dek_envelope: &Envelope,
    nonce: &[u8; NONCE_LEN],
) -> Result<Envelope, Error> {
    let aad = dek_aad(ws, sec);
    let dek = envelope::open_key(&old.0, aad.as_bytes(), dek_envelope)?;
    envelope::seal_with_nonce(&new.0, nonce, aad.as_bytes(), &dek[..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (WorkspaceId, SecretId) {
        (
            WorkspaceId::parse("ws_AAAAAAAAAAAAAAAA").expect("id"),
            SecretId::parse("sec_BBBBBBBBBBBBBBBB").expect("id"),
        )
    }

    fn kek() -> Kek {
        Kek(Zeroizing::new([5u8; 32]))
    }

    #[test]
    fn wrap_unwrap_roundtrip() {
        let wmk = Wmk::generate();
        let kid = KeyId::parse("abcdefABCDEF").expect("id");
        let env = wrap_wmk(&kek(), &wmk, &kid);
        let back = unwrap_wmk(&kek(), &env, &kid).expect("opens");
        assert_eq!(*back.0, *wmk.0);
        let other = KeyId::parse("abcdefABCDEG").expect("id");
        assert_eq!(
            unwrap_wmk(&kek(), &env, &other).map(|_| ()),
            Err(Error::Decrypt)
        );
        let wrong = Kek(Zeroizing::new([6u8; 32]));
        assert_eq!(
            unwrap_wmk(&wrong, &env, &kid).map(|_| ()),
            Err(Error::Decrypt)
        );
    }

    #[test]
    fn check_value_verifies_only_its_wmk() {
        let wmk = Wmk::generate();
        let check = wmk_check(&wmk);
        assert!(verify_wmk_check(&wmk, &check));
        assert!(!verify_wmk_check(&Wmk::generate(), &check));
        // an envelope of another plaintext under the same WMK is not a check
        let other = envelope::seal(&wmk.0, b"", b"conexor/check/v2").expect("small");
        assert!(!verify_wmk_check(&wmk, &other));
    }

    #[test]
    fn seal_open_rewrap_roundtrip() {
        let (ws, sec) = ids();
        let wmk = Wmk::generate();
        let pt = br#"{"host":"db.internal","password":"pa_ss"}"#;
        let sealed = seal_secret(&wmk, &ws, &sec, pt).expect("small");
        assert_eq!(
            &open_secret(&wmk, &ws, &sec, &sealed).expect("opens")[..],
            pt
        );
        let again = seal_secret(&wmk, &ws, &sec, pt).expect("small");
        assert_ne!(
            again.value.ct, sealed.value.ct,
            "fresh DEK and nonce each time"
        );

        let new = Wmk::generate();
        let dek = rewrap_dek(&wmk, &new, &ws, &sec, &sealed.dek).expect("rewraps");
        let rotated = SealedSecret {
            value: sealed.value.clone(),
            dek,
        };
        assert_eq!(
            &open_secret(&new, &ws, &sec, &rotated).expect("opens")[..],
            pt
        );
        assert_eq!(open_secret(&wmk, &ws, &sec, &rotated), Err(Error::Decrypt));
        assert_eq!(
            rewrap_dek(&new, &wmk, &ws, &sec, &sealed.dek).map(|_| ()),
            Err(Error::Decrypt)
        );
    }

    #[test]
    fn moved_or_swapped_envelopes_fail() {
        let (ws, sec) = ids();
        let ws2 = WorkspaceId::parse("ws_AAAAAAAAAAAAAAAB").expect("id");
        let sec2 = SecretId::parse("sec_BBBBBBBBBBBBBBBC").expect("id");
        let wmk = Wmk::generate();
        let a = seal_secret(&wmk, &ws, &sec, b"{\"a\":1}").expect("small");
        let b = seal_secret(&wmk, &ws, &sec2, b"{\"b\":2}").expect("small");
        assert_eq!(open_secret(&wmk, &ws, &sec2, &a), Err(Error::Decrypt));
        assert_eq!(open_secret(&wmk, &ws2, &sec, &a), Err(Error::Decrypt));
        // value of one secret with the DEK of another
        let mixed = SealedSecret {
            value: a.value.clone(),
            dek: b.dek.clone(),
        };
        assert_eq!(open_secret(&wmk, &ws, &sec, &mixed), Err(Error::Decrypt));
        assert_eq!(open_secret(&wmk, &ws, &sec2, &mixed), Err(Error::Decrypt));
        // roles swapped
        let swapped = SealedSecret {
            value: a.dek.clone(),
            dek: a.value.clone(),
        };
        assert_eq!(open_secret(&wmk, &ws, &sec, &swapped), Err(Error::Decrypt));
        assert_eq!(
            open_secret(&Wmk::generate(), &ws, &sec, &a),
            Err(Error::Decrypt)
        );
    }

    #[test]
    fn every_flipped_byte_fails() {
        let (ws, sec) = ids();
        let wmk = Wmk::generate();
        let sealed = seal_secret(&wmk, &ws, &sec, b"{\"k\":\"v\"}").expect("small");
        let flip = |text: &str, i: usize| {
            let mut bytes = crate::b64::decode(text).expect("own output is canonical");
            bytes[i] ^= 0x01;
            crate::b64::encode(&bytes)
        };
        for which in ["value", "dek"] {
            for field in ["nonce", "ct"] {
                let pick = |s: &SealedSecret| -> Envelope {
                    if which == "value" {
                        s.value.clone()
                    } else {
                        s.dek.clone()
                    }
                };
                let env = pick(&sealed);
                let text = if field == "nonce" {
                    &env.nonce
                } else {
                    &env.ct
                };
                let n = crate::b64::decode(text).expect("canonical").len();
                for i in 0..n {
                    let mut bad = env.clone();
                    if field == "nonce" {
                        bad.nonce = flip(&env.nonce, i);
                    } else {
                        bad.ct = flip(&env.ct, i);
                    }
                    let mut s = sealed.clone();
                    if which == "value" {
                        s.value = bad
                    } else {
                        s.dek = bad
                    }
                    assert_eq!(
                        open_secret(&wmk, &ws, &sec, &s),
                        Err(Error::Decrypt),
                        "{which}.{field}[{i}]"
                    );
                }
            }
        }
        let kid = KeyId::parse("abcdefABCDEF").expect("id");
        let wrapped = wrap_wmk(&kek(), &wmk, &kid);
        for i in 0..48 {
            let mut bad = wrapped.clone();
            bad.ct = flip(&wrapped.ct, i);
            assert_eq!(
                unwrap_wmk(&kek(), &bad, &kid).map(|_| ()),
                Err(Error::Decrypt)
            );
        }
        for i in 0..12 {
            let mut bad = wrapped.clone();
            bad.nonce = flip(&wrapped.nonce, i);
            assert_eq!(
                unwrap_wmk(&kek(), &bad, &kid).map(|_| ()),
                Err(Error::Decrypt)
            );
        }
    }

    #[test]
    fn debug_is_redacted() {
        let wmk = Wmk(Zeroizing::new([0xab; 32]));
        assert_eq!(format!("{wmk:?}"), "Wmk([redacted])");
        assert_eq!(format!("{wmk:#?}"), "Wmk([redacted])");
    }
}

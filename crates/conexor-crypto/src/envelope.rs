//! The v1 envelope: `{"v":1,"alg":"A256GCM","nonce":"<b64u 12 B>","ct":"<b64u
//! ciphertext||16 B tag>"}`, and the one AES-256-GCM seal/open pair every
//! role (wrapped WMK, WMK check, wrapped DEK, secret value) goes through.
//!
//! Opening validates the envelope before any decryption and reports a
//! malformed envelope apart from a failed authentication. This module does
//! not choose keys or AADs; callers in `wmk` do.

use aes_gcm::aead::{Aead as _, KeyInit as _, Nonce, Payload};
use aes_gcm::{Aes256Gcm, Key};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{Error, b64};

/// Envelope format version.
pub(crate) const VERSION: u8 = 1;
/// The only algorithm of v1: AES-256-GCM, 96-bit nonce, 128-bit tag.
pub(crate) const ALG: &str = "A256GCM";
pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;

/// One AES-256-GCM ciphertext with its nonce, as stored and sent. Fields
/// serialize in the order of the spec; unknown fields are refused.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Format version, always 1.
    pub v: u8,
    /// Algorithm, always `"A256GCM"`.
    pub alg: String,
    /// Unpadded base64url of the 12-byte nonce.
    pub nonce: String,
    /// Unpadded base64url of the ciphertext followed by the 16-byte tag.
    pub ct: String,
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    let key: &Key<Aes256Gcm> = key.into();
    Aes256Gcm::new(key)
}

/// Encrypts `plaintext` under `key` with the given nonce and AAD. Only for
/// fresh nonces or fixed test vectors: a nonce must never repeat under a key.
pub(crate) fn seal_with_nonce(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Envelope, Error> {
    let ct = cipher(key)
        .encrypt(
            &Nonce::<Aes256Gcm>::from(*nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::TooLarge)?;
    Ok(Envelope {
        v: VERSION,
        alg: ALG.to_owned(),
        nonce: b64::encode(nonce),
        ct: b64::encode(&ct),
    })
}

/// Encrypts under a fresh random nonce.
#[cfg(test)]
pub(crate) fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Envelope, Error> {
    seal_with_nonce(key, &crate::random::bytes::<NONCE_LEN>(), aad, plaintext)
}

/// Checks the envelope's shape and decrypts it under `key` and `aad`.
pub(crate) fn open(
    key: &[u8; 32],
    aad: &[u8],
    env: &Envelope,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if env.v != VERSION {
        return Err(Error::Envelope("unsupported version, expected 1"));
    }
    if env.alg != ALG {
        return Err(Error::Envelope("unsupported algorithm, expected A256GCM"));
    }
    let mut nonce = [0u8; NONCE_LEN];
    if !b64::decode_exact(&env.nonce, &mut nonce) {
        return Err(Error::Envelope(
            "nonce must be canonical unpadded base64url of 12 bytes",
        ));
    }
    let ct =
        b64::decode(&env.ct).ok_or(Error::Envelope("ct must be canonical unpadded base64url"))?;
    if ct.len() < TAG_LEN {
        return Err(Error::Envelope("ct shorter than the 16-byte tag"));
    }
    cipher(key)
        .decrypt(&Nonce::<Aes256Gcm>::from(nonce), Payload { msg: &ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| Error::Decrypt)
}

/// Opens an envelope that must hold a 32-byte key.
pub(crate) fn open_key(
    key: &[u8; 32],
    aad: &[u8],
    env: &Envelope,
) -> Result<Zeroizing<[u8; 32]>, Error> {
    let plain = open(key, aad, env)?;
    let mut out = Zeroizing::new([0u8; 32]);
    if plain.len() != out.len() {
        return Err(Error::Envelope("wrapped key must be 32 bytes"));
    }
    out.copy_from_slice(&plain);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [0x42; 32];

    #[test]
    fn seal_open_roundtrip_and_json_shape() {
        let env = seal(&KEY, b"aad", b"hello").expect("small");
        assert_eq!(&*open(&KEY, b"aad", &env).expect("opens"), b"hello");
        let json = serde_json::to_string(&env).expect("serializes");
        assert_eq!(
            json,
            format!(
                r#"{{"v":1,"alg":"A256GCM","nonce":"{}","ct":"{}"}}"#,
                env.nonce, env.ct
            )
        );
        assert_eq!(env.nonce.len(), 16);
        // 5 bytes + 16 tag = 21 bytes = 28 chars
        assert_eq!(env.ct.len(), 28);
        assert_ne!(
            seal(&KEY, b"aad", b"hello").expect("small").nonce,
            env.nonce
        );
    }

    #[test]
    fn empty_plaintext_is_fine() {
        let env = seal(&KEY, b"", b"").expect("small");
        assert!(open(&KEY, b"", &env).expect("opens").is_empty());
    }

    #[test]
    fn shape_errors_are_reported_before_decryption() {
        let good = seal(&KEY, b"a", b"x").expect("small");
        let with = |f: &dyn Fn(&mut Envelope)| {
            let mut e = good.clone();
            f(&mut e);
            open(&KEY, b"a", &e)
        };
        let is_shape = |r: Result<Zeroizing<Vec<u8>>, Error>| matches!(r, Err(Error::Envelope(_)));
        assert!(is_shape(with(&|e| e.v = 2)));
        assert!(is_shape(with(&|e| e.v = 0)));
        assert!(is_shape(with(&|e| e.alg = "A128GCM".into())));
        assert!(is_shape(with(&|e| e.alg = "a256gcm".into())));
        assert!(is_shape(with(&|e| e.nonce = b64::encode(&[0u8; 11]))));
        assert!(is_shape(with(&|e| e.nonce = b64::encode(&[0u8; 13]))));
        assert!(is_shape(with(&|e| e.nonce.push('='))));
        assert!(is_shape(with(&|e| e.ct = b64::encode(&[0u8; 15]))));
        assert!(is_shape(with(&|e| e.ct.push_str("=="))));
        assert!(is_shape(with(
            &|e| e.ct = e.ct.replace('-', "+").replace('_', "/") + " "
        )));
        assert!(matches!(
            with(&|e| e.ct = b64::encode(&[0u8; 16])),
            Err(Error::Decrypt)
        ));
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_refused() {
        let good = serde_json::to_value(seal(&KEY, b"", b"x").expect("small")).expect("json");
        let mut extra = good.clone();
        extra["kid"] = "x".into();
        assert!(serde_json::from_value::<Envelope>(extra).is_err());
        let mut float_v = good.clone();
        float_v["v"] = serde_json::json!(1.0);
        assert!(serde_json::from_value::<Envelope>(float_v).is_err());
        let mut missing = good.clone();
        missing.as_object_mut().expect("object").remove("nonce");
        assert!(serde_json::from_value::<Envelope>(missing).is_err());
        assert!(serde_json::from_value::<Envelope>(good).is_ok());
    }

    #[test]
    fn wrapped_key_length_is_checked() {
        let env = seal(&KEY, b"a", &[1u8; 31]).expect("small");
        assert!(matches!(
            open_key(&KEY, b"a", &env),
            Err(Error::Envelope(_))
        ));
        let env = seal(&KEY, b"a", &[1u8; 32]).expect("small");
        assert_eq!(*open_key(&KEY, b"a", &env).expect("opens"), [1u8; 32]);
    }
}

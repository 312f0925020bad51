//! API keys (`cxk_<key_id>_<secret>`) and the server-side `auth_hash`.
//!
//! Parsing is by position and strict: nothing is trimmed, the secret is
//! canonical unpadded base64url of exactly 32 bytes. Derivations take the 32
//! raw secret bytes, never the text. This module does not derive the KEK
//! (see `kdf`) and does not look keys up.

use std::fmt;

use conexor_types::{KeyId, is_base62};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::{Error, b64, random};

const PREFIX: &str = "cxk_";
const KEY_ID_LEN: usize = 12;
/// Unpadded base64url length of 32 bytes.
const SECRET_TEXT_LEN: usize = 43;
/// `cxk_` + key_id + `_` + secret.
const TEXT_LEN: usize = PREFIX.len() + KEY_ID_LEN + 1 + SECRET_TEXT_LEN;

/// Domain separation prefix of `auth_hash`.
pub(crate) const AUTH_DOMAIN: &[u8] = b"conexor/auth/v1";

/// An API key: a public 12-character key id and 32 secret bytes.
///
/// `Debug` shows the key id only; there is no `Display`, so the secret is
/// written out only through [`ApiKey::to_text`].
#[derive(Clone)]
pub struct ApiKey {
    key_id: KeyId,
    secret: Zeroizing<[u8; 32]>,
}

impl ApiKey {
    /// A new key: random key id (12 base62) and 32 random secret bytes.
    pub fn generate() -> ApiKey {
        let key_id = KeyId::from_random(&random::random_base62(KEY_ID_LEN))
            .expect("random_base62 yields 12 base62 characters, a valid key id");
        let mut secret = Zeroizing::new([0u8; 32]);
        random::fill(&mut secret[..]);
        ApiKey { key_id, secret }
    }

    /// Builds a key from its parts (used by the test vectors).
    pub(crate) fn from_parts(key_id: KeyId, secret: [u8; 32]) -> ApiKey {
        ApiKey {
            key_id,
            secret: Zeroizing::new(secret),
        }
    }

    /// Parses `cxk_` + 12 base62 + `_` + 43 characters of canonical unpadded
    /// base64url encoding 32 bytes. Positions are fixed, so the secret may
    /// itself contain `_` and `-`. Nothing is trimmed.
    pub fn parse(text: &str) -> Result<ApiKey, Error> {
        let bytes = text.as_bytes();
        if !bytes.starts_with(PREFIX.as_bytes()) {
            return Err(Error::MalformedKey("missing \"cxk_\" prefix"));
        }
        if !text.is_ascii() {
            return Err(Error::MalformedKey("contains a non-ascii character"));
        }
        // ASCII from here on, so byte offsets are character boundaries.
        let after_prefix = &text[PREFIX.len()..];
        let id_end = after_prefix
            .find('_')
            .ok_or(Error::MalformedKey("missing \"_\" after the key id"))?;
        if id_end != KEY_ID_LEN {
            return Err(Error::MalformedKey("key id must be 12 base62 characters"));
        }
        let key_id_text = &after_prefix[..KEY_ID_LEN];
        if !is_base62(key_id_text) {
            return Err(Error::MalformedKey("key id must be 12 base62 characters"));
        }
        let key_id = KeyId::parse(key_id_text)
            .map_err(|_| Error::MalformedKey("key id must be 12 base62 characters"))?;
        let secret_text = &after_prefix[KEY_ID_LEN + 1..];
        if secret_text.contains('=') {
            return Err(Error::MalformedKey("secret must not be padded"));
        }
        if secret_text.len() != SECRET_TEXT_LEN {
            return Err(Error::MalformedKey(
                "secret must be 43 base64url characters encoding 32 bytes",
            ));
        }
        debug_assert_eq!(text.len(), TEXT_LEN);
        let mut secret = Zeroizing::new([0u8; 32]);
        if !b64::decode_exact(secret_text, &mut secret) {
            return Err(Error::MalformedKey(
                "secret is not canonical unpadded base64url",
            ));
        }
        Ok(ApiKey { key_id, secret })
    }

    /// The public key id, used to look the key up.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The 32 secret bytes, input of `auth_hash` and of the KEK derivation.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The `cxk_` text, to be shown to the user once.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut encoded = Zeroizing::new([0u8; SECRET_TEXT_LEN]);
        let written = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode_slice(&self.secret[..], &mut encoded[..])
                .expect("32 bytes encode to exactly 43 unpadded base64url characters")
        };
        let encoded_text =
            std::str::from_utf8(&encoded[..written]).expect("base64url output is ascii");
        let mut out = Zeroizing::new(String::with_capacity(TEXT_LEN));
        out.push_str(PREFIX);
        out.push_str(self.key_id.as_str());
        out.push('_');
        out.push_str(encoded_text);
        out
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("key_id", &self.key_id.as_str())
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// `SHA-256("conexor/auth/v1" || auth_salt || secret)`, what the server
/// stores to authenticate a key without being able to derive its KEK.
pub fn auth_hash(auth_salt: &[u8; 16], secret: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(AUTH_DOMAIN);
    h.update(auth_salt);
    h.update(secret);
    h.finalize().into()
}

/// Whether `secret` matches the stored `expected` hash, compared in
/// constant time. A stored value of the wrong length never matches.
pub fn verify_auth(auth_salt: &[u8; 16], secret: &[u8; 32], expected: &[u8]) -> bool {
    let actual = auth_hash(auth_salt, secret);
    bool::from(actual[..].ct_eq(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "cxk_abcdefABCDEF_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    #[test]
    fn generate_parse_roundtrip() {
        let key = ApiKey::generate();
        let text = key.to_text();
        assert_eq!(text.len(), TEXT_LEN);
        let back = ApiKey::parse(&text).expect("generated key parses");
        assert_eq!(back.key_id(), key.key_id());
        assert_eq!(back.secret(), key.secret());
        assert_ne!(ApiKey::generate().secret(), key.secret());
    }

    #[test]
    fn parses_a_known_key() {
        let key = ApiKey::parse(GOOD).expect("valid");
        assert_eq!(key.key_id().as_str(), "abcdefABCDEF");
        let want: Vec<u8> = (0u8..32).collect();
        assert_eq!(&key.secret()[..], &want[..]);
        assert_eq!(&*key.to_text(), GOOD);
    }

    #[test]
    fn secret_with_underscore_and_dash_parses_by_position() {
        let mut secret = [7u8; 32];
        secret[..6].copy_from_slice(&[0xfb, 0xef, 0xbe, 0xff, 0xff, 0xff]);
        let key = ApiKey::from_parts(KeyId::parse("abcdefABCDEF").expect("id"), secret);
        let text = key.to_text();
        assert!(text.starts_with("cxk_abcdefABCDEF_----____"), "{}", &*text);
        let back = ApiKey::parse(&text).expect("parses");
        assert_eq!(back.secret(), &secret);
        // a secret that *ends* in '_' characters too
        let key = ApiKey::from_parts(key.key_id().clone(), [0xff; 32]);
        let back = ApiKey::parse(&key.to_text()).expect("parses");
        assert_eq!(back.secret(), &[0xff; 32]);
    }

    fn rejects(text: &str, why: &str) {
        match ApiKey::parse(text) {
            Err(Error::MalformedKey(_)) => {}
            other => panic!("{why}: expected MalformedKey, got {other:?} for {text:?}"),
        }
    }

    #[test]
    fn parse_rejects_malformed_keys() {
        let secret = &GOOD[17..];
        rejects(&GOOD[4..], "missing prefix");
        rejects(&format!("CXK_{}", &GOOD[4..]), "upper-case prefix");
        rejects(&format!("cxk_abcdefABCDE_{secret}"), "11-char key id");
        rejects(&format!("cxk_abcdefABCDEFG_{secret}"), "13-char key id");
        rejects(&format!("cxk_abcdefABCDE-_{secret}"), "non-base62 key id");
        rejects(&format!("cxk_abcdéABCDEF_{secret}"), "non-ascii key id");
        rejects(&format!("cxk_abcdefABCDEF{secret}"), "no separator");
        rejects(&format!("{GOOD}="), "padded secret");
        // 31 and 33 bytes
        rejects(
            &format!("cxk_abcdefABCDEF_{}", b64::encode(&[1u8; 31])),
            "31-byte secret",
        );
        rejects(
            &format!("cxk_abcdefABCDEF_{}", b64::encode(&[1u8; 33])),
            "33-byte secret",
        );
        // the last character carries 4 data bits and 2 unused bits that must be
        // zero: '8' (111100) is canonical, '9' (111101) is not
        assert!(GOOD.ends_with("Hh8"));
        rejects(
            &format!("{}9", &GOOD[..GOOD.len() - 1]),
            "non-canonical last char",
        );
        rejects(
            &format!("{}+", &GOOD[..GOOD.len() - 1]),
            "standard alphabet",
        );
        rejects(&format!("{GOOD} "), "trailing space");
        rejects(&format!("{GOOD}\n"), "trailing newline");
        rejects(&format!(" {GOOD}"), "leading space");
        rejects(
            &format!("cxk_abcdefABCDEF_ {}", &secret[1..]),
            "inner space",
        );
        rejects("", "empty");
        rejects("cxk_", "prefix only");
    }

    #[test]
    fn auth_hash_matches_definition_and_verifies() {
        let salt = [9u8; 16];
        let secret = [3u8; 32];
        let mut input = b"conexor/auth/v1".to_vec();
        input.extend_from_slice(&salt);
        input.extend_from_slice(&secret);
        let want: [u8; 32] = Sha256::digest(&input).into();
        let got = auth_hash(&salt, &secret);
        assert_eq!(got, want);
        assert!(verify_auth(&salt, &secret, &got));
        assert!(!verify_auth(&salt, &[4u8; 32], &got));
        assert!(!verify_auth(&[8u8; 16], &secret, &got));
        assert!(!verify_auth(&salt, &secret, &got[..31]));
        assert!(!verify_auth(&salt, &secret, &[]));
    }

    #[test]
    fn debug_is_redacted() {
        let key = ApiKey::parse(GOOD).expect("valid");
        let shown = format!("{key:?} {key:#?}");
        assert!(shown.contains("abcdefABCDEF"));
        assert!(shown.contains("[redacted]"));
        assert!(!shown.contains(&GOOD[17..]));
        assert!(!shown.contains("31"), "no byte values: {shown}");
    }
}

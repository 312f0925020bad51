//! Format-v1 test vectors (`tests/data/format-v1-vectors.json` at the
//! workspace root): recomputes every positive vector with this crate and
//! checks that every negative one fails with the stated error.
//!
//! The file is written by the ignored test `regenerate_format_v1_vectors`,
//! never by a normal run:
//!
//! ```text
//! cargo test -p conexor-crypto --test vectors -- --ignored regenerate_format_v1_vectors
//! ```
//!
//! Regenerating changes the file only if the format or the fixed inputs
//! below changed, which must not happen within v1. The Python checker
//! `tests/python/check_format_v1.py` verifies the same file independently.

use std::collections::BTreeMap;
use std::path::PathBuf;

use conexor_crypto::{
    ApiKey, Envelope, Error, SealedSecret, auth_hash, derive_kek, fixed, open_secret, rewrap_dek,
    unwrap_wmk, verify_auth, verify_wmk_check,
};
use conexor_types::{KeyId, SecretId, WorkspaceId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------- file shape

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vectors {
    format: String,
    description: Vec<String>,
    api_keys: Vec<ApiKeyVector>,
    chain: Chain,
    negative: Negative,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyVector {
    name: String,
    key_id: String,
    secret_hex: String,
    text: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Chain {
    inputs: ChainInputs,
    expected: ChainExpected,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainInputs {
    key_id: String,
    secret_hex: String,
    auth_salt_hex: String,
    kdf_salt_hex: String,
    kdf_iterations: u32,
    wmk_hex: String,
    wrap_nonce_hex: String,
    check_nonce_hex: String,
    workspace_id: String,
    secret_id: String,
    plaintext: String,
    dek_hex: String,
    value_nonce_hex: String,
    dek_nonce_hex: String,
    new_wmk_hex: String,
    rewrap_nonce_hex: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainExpected {
    api_key_text: String,
    auth_input_hex: String,
    auth_hash_hex: String,
    kek_hex: String,
    wrap_aad: String,
    wrapped_wmk: Envelope,
    check_plaintext: String,
    wmk_check: Envelope,
    secret_aad: String,
    dek_aad: String,
    sealed_secret: SealedSecret,
    rewrapped_dek: Envelope,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Negative {
    api_keys: Vec<NegApiKey>,
    kdf: Vec<NegKdf>,
    unwrap_wmk: Vec<NegUnwrap>,
    verify_wmk_check: Vec<NegCheck>,
    open_secret: Vec<NegOpen>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NegApiKey {
    name: String,
    text: String,
    error: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NegKdf {
    name: String,
    secret_hex: String,
    kdf_salt_hex: String,
    kdf_iterations: u32,
    error: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NegUnwrap {
    name: String,
    kek_hex: String,
    key_id: String,
    envelope: RawEnvelope,
    error: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NegCheck {
    name: String,
    wmk_hex: String,
    envelope: RawEnvelope,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NegOpen {
    name: String,
    wmk_hex: String,
    workspace_id: String,
    secret_id: String,
    sealed: RawSealed,
    error: String,
}

/// An envelope as JSON that may be wrong in any way (types, extra fields),
/// kept in spec field order when written.
#[derive(Serialize, Deserialize, Clone)]
struct RawEnvelope {
    v: Value,
    alg: Value,
    nonce: Value,
    ct: Value,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawSealed {
    value: RawEnvelope,
    dek: RawEnvelope,
}

impl From<&Envelope> for RawEnvelope {
    fn from(e: &Envelope) -> Self {
        RawEnvelope {
            v: Value::from(e.v),
            alg: Value::from(e.alg.clone()),
            nonce: Value::from(e.nonce.clone()),
            ct: Value::from(e.ct.clone()),
            extra: BTreeMap::new(),
        }
    }
}

impl RawEnvelope {
    /// The typed envelope, or the error a client reading this JSON reports.
    fn parse(&self) -> Result<Envelope, Error> {
        let v = serde_json::to_value(self).map_err(|_| Error::Envelope("unserializable"))?;
        serde_json::from_value(v).map_err(|_| Error::Envelope("not a v1 envelope object"))
    }
}

// ------------------------------------------------------------------ helpers

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/format-v1-vectors.json")
}

fn unhex<const N: usize>(text: &str) -> [u8; N] {
    let bytes = hex::decode(text).unwrap_or_else(|e| panic!("bad hex {text:?}: {e}"));
    bytes
        .try_into()
        .unwrap_or_else(|b: Vec<u8>| panic!("expected {N} bytes, got {}", b.len()))
}

fn error_kind(e: &Error) -> &'static str {
    match e {
        Error::MalformedKey(_) => "malformed_key",
        Error::WeakKdf { .. } => "weak_kdf",
        Error::ExcessiveKdf { .. } => "excessive_kdf",
        Error::Envelope(_) => "envelope",
        Error::Decrypt => "decrypt",
        Error::TooLarge => "too_large",
        _ => "other",
    }
}

fn kid(s: &str) -> KeyId {
    KeyId::parse(s).expect("vector key id is valid")
}
fn wsid(s: &str) -> WorkspaceId {
    WorkspaceId::parse(s).expect("vector workspace id is valid")
}
fn secid(s: &str) -> SecretId {
    SecretId::parse(s).expect("vector secret id is valid")
}

fn load() -> Vectors {
    let path = vectors_path();
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

// ------------------------------------------------------------------- checks

#[test]
fn positive_api_key_vectors() {
    let v = load();
    assert!(v.api_keys.len() >= 3);
    for case in &v.api_keys {
        let key = ApiKey::parse(&case.text).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(key.key_id().as_str(), case.key_id, "{}", case.name);
        assert_eq!(hex::encode(key.secret()), case.secret_hex, "{}", case.name);
        let built = fixed::api_key(kid(&case.key_id), unhex(&case.secret_hex));
        assert_eq!(&*built.to_text(), &case.text, "{}", case.name);
    }
}

#[test]
fn positive_chain_vectors() {
    let v = load();
    let i = &v.chain.inputs;
    let x = &v.chain.expected;
    let key_id = kid(&i.key_id);
    let secret: [u8; 32] = unhex(&i.secret_hex);
    let auth_salt: [u8; 16] = unhex(&i.auth_salt_hex);
    let kdf_salt: [u8; 16] = unhex(&i.kdf_salt_hex);
    let ws = wsid(&i.workspace_id);
    let sec = secid(&i.secret_id);
    let wmk = fixed::wmk(unhex(&i.wmk_hex));

    // API key text
    let key = fixed::api_key(key_id.clone(), secret);
    assert_eq!(&*key.to_text(), &x.api_key_text);
    assert_eq!(
        ApiKey::parse(&x.api_key_text).expect("parses").secret(),
        &secret
    );

    // auth hash
    let mut auth_input = b"conexor/auth/v1".to_vec();
    auth_input.extend_from_slice(&auth_salt);
    auth_input.extend_from_slice(&secret);
    assert_eq!(hex::encode(&auth_input), x.auth_input_hex);
    assert_eq!(hex::encode(auth_hash(&auth_salt, &secret)), x.auth_hash_hex);
    let stored = hex::decode(&x.auth_hash_hex).expect("hex");
    assert!(verify_auth(&auth_salt, &secret, &stored));

    // KEK
    assert!(i.kdf_iterations >= conexor_crypto::MIN_KDF_ITERATIONS);
    let kek = derive_kek(&secret, &kdf_salt, i.kdf_iterations).expect("accepted count");
    assert_eq!(hex::encode(fixed::kek_bytes(&kek)), x.kek_hex);

    // wrapped WMK
    assert_eq!(fixed::wrap_aad(&key_id), x.wrap_aad);
    assert_eq!(x.wrap_aad, format!("conexor/wrap/v1/{}", i.key_id));
    let wrapped = fixed::wrap_wmk(&kek, &wmk, &key_id, &unhex(&i.wrap_nonce_hex));
    assert_eq!(wrapped, x.wrapped_wmk);
    let unwrapped = unwrap_wmk(&kek, &x.wrapped_wmk, &key_id).expect("unwraps");
    assert_eq!(hex::encode(fixed::wmk_bytes(&unwrapped)), i.wmk_hex);

    // WMK check
    assert_eq!(x.check_plaintext, "conexor/check/v1");
    let check = fixed::wmk_check(&wmk, &unhex(&i.check_nonce_hex));
    assert_eq!(check, x.wmk_check);
    assert!(verify_wmk_check(&wmk, &x.wmk_check));

    // sealed secret
    assert_eq!(fixed::secret_aad(&ws, &sec), x.secret_aad);
    assert_eq!(fixed::dek_aad(&ws, &sec), x.dek_aad);
    assert_eq!(
        x.secret_aad,
        format!("conexor/secret/v1/{}/{}", i.workspace_id, i.secret_id)
    );
    assert_eq!(
        x.dek_aad,
        format!("conexor/dek/v1/{}/{}", i.workspace_id, i.secret_id)
    );
    let sealed = fixed::seal_secret(
        &wmk,
        &ws,
        &sec,
        i.plaintext.as_bytes(),
        &unhex(&i.dek_hex),
        &unhex(&i.value_nonce_hex),
        &unhex(&i.dek_nonce_hex),
    )
    .expect("small");
    assert_eq!(sealed, x.sealed_secret);
    let opened = open_secret(&wmk, &ws, &sec, &x.sealed_secret).expect("opens");
    assert_eq!(&opened[..], i.plaintext.as_bytes());

    // rotate-master: the DEK re-wrapped under a new WMK
    let new_wmk = fixed::wmk(unhex(&i.new_wmk_hex));
    let rewrapped = fixed::rewrap_dek(
        &wmk,
        &new_wmk,
        &ws,
        &sec,
        &x.sealed_secret.dek,
        &unhex(&i.rewrap_nonce_hex),
    )
    .expect("rewraps");
    assert_eq!(rewrapped, x.rewrapped_dek);
    let rotated = SealedSecret {
        value: x.sealed_secret.value.clone(),
        dek: x.rewrapped_dek.clone(),
    };
    assert_eq!(
        &open_secret(&new_wmk, &ws, &sec, &rotated).expect("opens")[..],
        i.plaintext.as_bytes()
    );
    let fresh = rewrap_dek(&wmk, &new_wmk, &ws, &sec, &x.sealed_secret.dek).expect("rewraps");
    assert_ne!(
        fresh.nonce, x.rewrapped_dek.nonce,
        "public rewrap uses a fresh nonce"
    );

    // envelopes serialize in spec order
    let json = serde_json::to_string(&x.wrapped_wmk).expect("json");
    assert!(
        json.starts_with(r#"{"v":1,"alg":"A256GCM","nonce":""#),
        "{json}"
    );
}

#[test]
fn negative_vectors_fail_as_stated() {
    let v = load();
    let n = &v.negative;
    assert!(!n.api_keys.is_empty() && !n.kdf.is_empty() && !n.unwrap_wmk.is_empty());
    assert!(!n.verify_wmk_check.is_empty() && !n.open_secret.is_empty());

    for case in &n.api_keys {
        match ApiKey::parse(&case.text) {
            Ok(_) => panic!("{}: parsed", case.name),
            Err(e) => assert_eq!(error_kind(&e), case.error, "{}: {e}", case.name),
        }
    }
    for case in &n.kdf {
        match derive_kek(
            &unhex(&case.secret_hex),
            &unhex(&case.kdf_salt_hex),
            case.kdf_iterations,
        ) {
            Ok(_) => panic!("{}: derived", case.name),
            Err(e) => assert_eq!(error_kind(&e), case.error, "{}: {e}", case.name),
        }
    }
    for case in &n.unwrap_wmk {
        let kek = fixed::kek(unhex(&case.kek_hex));
        let result = case
            .envelope
            .parse()
            .and_then(|env| unwrap_wmk(&kek, &env, &kid(&case.key_id)));
        match result {
            Ok(_) => panic!("{}: unwrapped", case.name),
            Err(e) => assert_eq!(error_kind(&e), case.error, "{}: {e}", case.name),
        }
    }
    for case in &n.verify_wmk_check {
        let wmk = fixed::wmk(unhex(&case.wmk_hex));
        let ok = case
            .envelope
            .parse()
            .is_ok_and(|env| verify_wmk_check(&wmk, &env));
        assert!(!ok, "{}: verified", case.name);
    }
    for case in &n.open_secret {
        let wmk = fixed::wmk(unhex(&case.wmk_hex));
        let result = case.sealed.value.parse().and_then(|value| {
            let dek = case.sealed.dek.parse()?;
            open_secret(
                &wmk,
                &wsid(&case.workspace_id),
                &secid(&case.secret_id),
                &SealedSecret { value, dek },
            )
        });
        match result {
            Ok(_) => panic!("{}: opened", case.name),
            Err(e) => assert_eq!(error_kind(&e), case.error, "{}: {e}", case.name),
        }
    }
}

// --------------------------------------------------------------- generator

/// Fixed inputs of the vectors. Changing any of them changes the file.
mod inputs {
    pub const KEY_ID: &str = "Cx7Gm2Qp9ZaB";
    /// Starts with bytes that encode to `----____`, so the key text shows
    /// by-position parsing (the secret begins right after a `_`).
    pub const SECRET: &str = "fbefbeffffff000102030405060708090a0b0c0d0e0f10111213141516171819";
    pub const AUTH_SALT: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
    pub const KDF_SALT: &str = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
    pub const KDF_ITERATIONS: u32 = 600_000;
    pub const WMK: &str = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf";
    pub const WRAP_NONCE: &str = "101112131415161718191a1b";
    pub const CHECK_NONCE: &str = "202122232425262728292a2b";
    pub const WORKSPACE_ID: &str = "ws_TestWorkspace001";
    pub const SECRET_ID: &str = "sec_TestSecret000001";
    pub const PLAINTEXT: &str = r#"{"host":"db.internal","password":"pa_ss"}"#;
    pub const DEK: &str = "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    pub const VALUE_NONCE: &str = "303132333435363738393a3b";
    pub const DEK_NONCE: &str = "404142434445464748494a4b";
    pub const NEW_WMK: &str = "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f";
    pub const REWRAP_NONCE: &str = "505152535455565758595a5b";
    // only for negative vectors
    pub const OTHER_KEY_ID: &str = "Cx7Gm2Qp9ZaC";
    pub const OTHER_WORKSPACE_ID: &str = "ws_TestWorkspace002";
    pub const OTHER_SECRET_ID: &str = "sec_TestSecret000002";
    pub const OTHER_DEK: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    pub const OTHER_VALUE_NONCE: &str = "707172737475767778797a7b";
    pub const OTHER_DEK_NONCE: &str = "808182838485868788898a8b";
}

fn flip_b64(text: &str, index: usize) -> String {
    let mut bytes = b64u_decode(text);
    bytes[index] ^= 0x01;
    b64u(&bytes)
}

fn b64u(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn b64u_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("generator input is canonical")
}

/// Replaces the last base64url character by the next one in the alphabet,
/// which changes only unused trailing bits when the length is not a
/// multiple of 4 characters' worth of whole bytes.
fn bump_last_char(text: &str) -> String {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = text.chars().last().expect("non-empty");
    let pos = ALPHABET.find(last).expect("base64url char");
    let next = ALPHABET.as_bytes()[pos + 1];
    format!("{}{}", &text[..text.len() - 1], char::from(next))
}

fn raw(env: &Envelope) -> RawEnvelope {
    RawEnvelope::from(env)
}

fn raw_with(env: &Envelope, f: impl FnOnce(&mut RawEnvelope)) -> RawEnvelope {
    let mut r = raw(env);
    f(&mut r);
    r
}

fn generate() -> Vectors {
    use inputs::*;
    let key_id = kid(KEY_ID);
    let secret: [u8; 32] = unhex(SECRET);
    let auth_salt: [u8; 16] = unhex(AUTH_SALT);
    let kdf_salt: [u8; 16] = unhex(KDF_SALT);
    let wmk = fixed::wmk(unhex(WMK));
    let new_wmk = fixed::wmk(unhex(NEW_WMK));
    let ws = wsid(WORKSPACE_ID);
    let sec = secid(SECRET_ID);

    let key = fixed::api_key(key_id.clone(), secret);
    let kek = derive_kek(&secret, &kdf_salt, KDF_ITERATIONS).expect("accepted count");
    let wrapped = fixed::wrap_wmk(&kek, &wmk, &key_id, &unhex(WRAP_NONCE));
    let check = fixed::wmk_check(&wmk, &unhex(CHECK_NONCE));
    let sealed = fixed::seal_secret(
        &wmk,
        &ws,
        &sec,
        PLAINTEXT.as_bytes(),
        &unhex(DEK),
        &unhex(VALUE_NONCE),
        &unhex(DEK_NONCE),
    )
    .expect("small");
    let rewrapped = fixed::rewrap_dek(&wmk, &new_wmk, &ws, &sec, &sealed.dek, &unhex(REWRAP_NONCE))
        .expect("rewraps");
    let mut auth_input = b"conexor/auth/v1".to_vec();
    auth_input.extend_from_slice(&auth_salt);
    auth_input.extend_from_slice(&secret);

    let api_key_vector = |name: &str, id: &str, secret_hex: &str| ApiKeyVector {
        name: name.into(),
        key_id: id.into(),
        secret_hex: secret_hex.into(),
        text: fixed::api_key(kid(id), unhex(secret_hex))
            .to_text()
            .to_string(),
    };
    let api_keys = vec![
        api_key_vector("chain key (secret starts with '-' and '_')", KEY_ID, SECRET),
        api_key_vector(
            "sequential bytes",
            "abcdefABCDEF",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        ),
        api_key_vector("all zero", "000000000000", &"00".repeat(32)),
        api_key_vector(
            "all ones (secret of '_' and a final '8')",
            "zzzzzzzzzzzz",
            &"ff".repeat(32),
        ),
    ];

    // ---- negative API keys
    let text = key.to_text().to_string();
    let secret_text = &text[17..];
    let mk = |name: &str, text: String| NegApiKey {
        name: name.into(),
        text,
        error: "malformed_key".into(),
    };
    let neg_keys = vec![
        mk("missing prefix", text[4..].to_string()),
        mk("upper-case prefix", format!("CXK_{}", &text[4..])),
        mk(
            "key id of 11 characters",
            format!("cxk_{}_{secret_text}", &KEY_ID[..11]),
        ),
        mk(
            "key id of 13 characters",
            format!("cxk_{KEY_ID}x_{secret_text}"),
        ),
        mk(
            "key id not base62",
            format!("cxk_{}-_{secret_text}", &KEY_ID[..11]),
        ),
        mk("missing separator", format!("cxk_{KEY_ID}{secret_text}")),
        mk("padded secret", format!("{text}=")),
        mk(
            "secret of 31 bytes",
            format!("cxk_{KEY_ID}_{}", b64u(&secret[..31])),
        ),
        mk(
            "secret of 33 bytes",
            format!("cxk_{KEY_ID}_{}", b64u(&[&secret[..], &[0u8]].concat())),
        ),
        mk(
            "non-canonical last character (unused bits set)",
            bump_last_char(&text),
        ),
        mk(
            "standard base64 alphabet ('+' for '-')",
            text.replace('-', "+"),
        ),
        mk(
            "standard base64 alphabet ('/' for '_')",
            format!("cxk_{KEY_ID}_{}", secret_text.replace('_', "/")),
        ),
        mk("trailing newline", format!("{text}\n")),
        mk("trailing space", format!("{text} ")),
        mk("leading space", format!(" {text}")),
        mk(
            "non-ascii character",
            format!("cxk_{}\u{e9}_{secret_text}", &KEY_ID[..10]),
        ),
        mk("empty", String::new()),
    ];

    // ---- negative KDF parameters
    let neg_kdf = vec![
        NegKdf {
            name: "one below the minimum".into(),
            secret_hex: SECRET.into(),
            kdf_salt_hex: KDF_SALT.into(),
            kdf_iterations: 599_999,
            error: "weak_kdf".into(),
        },
        NegKdf {
            name: "zero".into(),
            secret_hex: SECRET.into(),
            kdf_salt_hex: KDF_SALT.into(),
            kdf_iterations: 0,
            error: "weak_kdf".into(),
        },
        NegKdf {
            name: "one above the maximum".into(),
            secret_hex: SECRET.into(),
            kdf_salt_hex: KDF_SALT.into(),
            kdf_iterations: 10_000_001,
            error: "excessive_kdf".into(),
        },
    ];

    // ---- negative unwraps
    let kek_hex = hex::encode(fixed::kek_bytes(&kek));
    let mut wrong_kek = *fixed::kek_bytes(&kek);
    wrong_kek[0] ^= 0x01;
    let unwrap =
        |name: &str, kek_hex: &str, key_id: &str, envelope: RawEnvelope, error: &str| NegUnwrap {
            name: name.into(),
            kek_hex: kek_hex.into(),
            key_id: key_id.into(),
            envelope,
            error: error.into(),
        };
    let short_wmk = fixed::seal_with(
        fixed::kek_bytes(&kek),
        &unhex(WRAP_NONCE),
        fixed::wrap_aad(&key_id).as_bytes(),
        &unhex::<32>(WMK)[..31],
    )
    .expect("small");
    let wct = b64u_decode(&wrapped.ct);
    let neg_unwrap = vec![
        unwrap(
            "first ct byte flipped",
            &kek_hex,
            KEY_ID,
            raw_with(&wrapped, |e| e.ct = flip_b64(&wrapped.ct, 0).into()),
            "decrypt",
        ),
        unwrap(
            "last tag byte flipped",
            &kek_hex,
            KEY_ID,
            raw_with(&wrapped, |e| e.ct = flip_b64(&wrapped.ct, 47).into()),
            "decrypt",
        ),
        unwrap(
            "nonce byte flipped",
            &kek_hex,
            KEY_ID,
            raw_with(&wrapped, |e| e.nonce = flip_b64(&wrapped.nonce, 5).into()),
            "decrypt",
        ),
        unwrap(
            "wrapped for another key id",
            &kek_hex,
            OTHER_KEY_ID,
            raw(&wrapped),
            "decrypt",
        ),
        unwrap(
            "wrong kek",
            &hex::encode(wrong_kek),
            KEY_ID,
            raw(&wrapped),
            "decrypt",
        ),
        unwrap(
            "tag truncated by one byte",
            &kek_hex,
            KEY_ID,
            raw_with(&wrapped, |e| e.ct = b64u(&wct[..47]).into()),
            "decrypt",
        ),
        unwrap(
            "wrapped key of 31 bytes",
            &kek_hex,
            KEY_ID,
            raw(&short_wmk),
            "envelope",
        ),
        unwrap(
            "ct shorter than a tag",
            &kek_hex,
            KEY_ID,
            raw_with(&wrapped, |e| e.ct = b64u(&wct[..15]).into()),
            "envelope",
        ),
        unwrap(
            "version 2",
            &kek_hex,
            KEY_ID,
            raw_with(&wrapped, |e| e.v = 2.into()),
            "envelope",
        ),
        unwrap(
            "version as a string",
            &kek_hex,
            KEY_ID,
            raw_with(&wrapped, |e| e.v = "1".into()),
            "envelope",
        ),
        unwrap(
            "alg A128GCM",
            &kek_hex,
            KEY_ID,
            raw_with(&wrapped, |e| e.alg = "A128GCM".into()),
            "envelope",
        ),
        unwrap(
            "nonce of 11 bytes",
            &kek_hex,
            KEY_ID,
            raw_with(&wrapped, |e| {
                e.nonce = b64u(&unhex::<12>(WRAP_NONCE)[..11]).into()
            }),
            "envelope",
        ),
        unwrap(
            "nonce with padding",
            &kek_hex,
            KEY_ID,
            raw_with(&wrapped, |e| {
                e.nonce = format!("{}==", wrapped.nonce).into()
            }),
            "envelope",
        ),
        unwrap(
            "ct in standard base64",
            &kek_hex,
            KEY_ID,
            raw_with(&wrapped, |e| {
                e.ct = wrapped.ct.replace('-', "+").replace('_', "/").into()
            }),
            "envelope",
        ),
        unwrap(
            "unknown field",
            &kek_hex,
            KEY_ID,
            raw_with(&wrapped, |e| {
                e.extra.insert("kid".into(), KEY_ID.into());
            }),
            "envelope",
        ),
    ];
    assert!(
        wrapped.ct.contains(['-', '_']),
        "the standard-alphabet vector must differ"
    );

    // ---- negative WMK checks (must not verify)
    let mut wrong_wmk = unhex::<32>(WMK);
    wrong_wmk[31] ^= 0x80;
    let check_nonce: [u8; 12] = unhex(CHECK_NONCE);
    let check_with_aad = fixed::seal_with(
        fixed::wmk_bytes(&wmk),
        &check_nonce,
        b"conexor",
        b"conexor/check/v1",
    )
    .expect("small");
    let check_other_text = fixed::seal_with(
        fixed::wmk_bytes(&wmk),
        &check_nonce,
        b"",
        b"conexor/check/v2",
    )
    .expect("small");
    let nc = |name: &str, wmk_hex: String, envelope: RawEnvelope| NegCheck {
        name: name.into(),
        wmk_hex,
        envelope,
    };
    assert_eq!(check.ct.len() % 4, 3, "check ct has unused trailing bits");
    let neg_check = vec![
        nc("wrong wmk", hex::encode(wrong_wmk), raw(&check)),
        nc(
            "ct byte flipped",
            WMK.into(),
            raw_with(&check, |e| e.ct = flip_b64(&check.ct, 3).into()),
        ),
        nc(
            "nonce byte flipped",
            WMK.into(),
            raw_with(&check, |e| e.nonce = flip_b64(&check.nonce, 11).into()),
        ),
        nc(
            "ct with non-canonical last character",
            WMK.into(),
            raw_with(&check, |e| e.ct = bump_last_char(&check.ct).into()),
        ),
        nc("sealed with an aad", WMK.into(), raw(&check_with_aad)),
        nc("other plaintext", WMK.into(), raw(&check_other_text)),
    ];

    // ---- negative secret openings
    let other = fixed::seal_secret(
        &wmk,
        &ws,
        &secid(OTHER_SECRET_ID),
        br#"{"token":"other"}"#,
        &unhex(OTHER_DEK),
        &unhex(OTHER_VALUE_NONCE),
        &unhex(OTHER_DEK_NONCE),
    )
    .expect("small");
    let rs = |value: RawEnvelope, dek: RawEnvelope| RawSealed { value, dek };
    let good = || rs(raw(&sealed.value), raw(&sealed.dek));
    let open =
        |name: &str, wmk_hex: &str, ws: &str, sec: &str, sealed: RawSealed, error: &str| NegOpen {
            name: name.into(),
            wmk_hex: wmk_hex.into(),
            workspace_id: ws.into(),
            secret_id: sec.into(),
            sealed,
            error: error.into(),
        };
    let v = &sealed.value;
    let d = &sealed.dek;
    let neg_open = vec![
        open(
            "moved to another secret id",
            WMK,
            WORKSPACE_ID,
            OTHER_SECRET_ID,
            good(),
            "decrypt",
        ),
        open(
            "moved to another workspace id",
            WMK,
            OTHER_WORKSPACE_ID,
            SECRET_ID,
            good(),
            "decrypt",
        ),
        open(
            "wrong wmk",
            &hex::encode(wrong_wmk),
            WORKSPACE_ID,
            SECRET_ID,
            good(),
            "decrypt",
        ),
        open(
            "new wmk before the dek is re-wrapped",
            NEW_WMK,
            WORKSPACE_ID,
            SECRET_ID,
            good(),
            "decrypt",
        ),
        open(
            "value ct byte flipped",
            WMK,
            WORKSPACE_ID,
            SECRET_ID,
            rs(raw_with(v, |e| e.ct = flip_b64(&v.ct, 0).into()), raw(d)),
            "decrypt",
        ),
        open(
            "value tag byte flipped",
            WMK,
            WORKSPACE_ID,
            SECRET_ID,
            rs(
                raw_with(v, |e| e.ct = flip_b64(&v.ct, PLAINTEXT.len() + 15).into()),
                raw(d),
            ),
            "decrypt",
        ),
        open(
            "value nonce byte flipped",
            WMK,
            WORKSPACE_ID,
            SECRET_ID,
            rs(
                raw_with(v, |e| e.nonce = flip_b64(&v.nonce, 0).into()),
                raw(d),
            ),
            "decrypt",
        ),
        open(
            "dek ct byte flipped",
            WMK,
            WORKSPACE_ID,
            SECRET_ID,
            rs(raw(v), raw_with(d, |e| e.ct = flip_b64(&d.ct, 31).into())),
            "decrypt",
        ),
        open(
            "dek nonce byte flipped",
            WMK,
            WORKSPACE_ID,
            SECRET_ID,
            rs(
                raw(v),
                raw_with(d, |e| e.nonce = flip_b64(&d.nonce, 11).into()),
            ),
            "decrypt",
        ),
        open(
            "dek of another secret",
            WMK,
            WORKSPACE_ID,
            SECRET_ID,
            rs(raw(v), raw(&other.dek)),
            "decrypt",
        ),
        open(
            "value of another secret",
            WMK,
            WORKSPACE_ID,
            SECRET_ID,
            rs(raw(&other.value), raw(d)),
            "decrypt",
        ),
        open(
            "value and dek swapped",
            WMK,
            WORKSPACE_ID,
            SECRET_ID,
            rs(raw(d), raw(v)),
            "decrypt",
        ),
        open(
            "value alg A128GCM",
            WMK,
            WORKSPACE_ID,
            SECRET_ID,
            rs(raw_with(v, |e| e.alg = "A128GCM".into()), raw(d)),
            "envelope",
        ),
        open(
            "dek version 0",
            WMK,
            WORKSPACE_ID,
            SECRET_ID,
            rs(raw(v), raw_with(d, |e| e.v = 0.into())),
            "envelope",
        ),
    ];

    Vectors {
        format: "conexor format v1 test vectors".into(),
        description: [
            "Generated by crates/conexor-crypto/tests/vectors.rs (ignored test regenerate_format_v1_vectors); see docs/format-v1.md.",
            "*_hex fields are lowercase hex of raw bytes; envelope nonce/ct are unpadded base64url; ids, AADs and plaintext are UTF-8 strings.",
            "api_keys: key_id + secret_hex <-> text, both directions.",
            "chain: one key's full path: text, auth_hash, KEK (PBKDF2-HMAC-SHA256), wrapped WMK, WMK check, sealed secret, DEK re-wrapped for rotate-master.",
            "negative: every case must fail; error is the kind a conforming reader reports (malformed_key, weak_kdf, excessive_kdf, envelope = malformed envelope or wrapped key not 32 bytes, decrypt = authentication failed). verify_wmk_check cases must return false.",
        ]
        .map(String::from)
        .to_vec(),
        api_keys,
        chain: Chain {
            inputs: ChainInputs {
                key_id: KEY_ID.into(),
                secret_hex: SECRET.into(),
                auth_salt_hex: AUTH_SALT.into(),
                kdf_salt_hex: KDF_SALT.into(),
                kdf_iterations: KDF_ITERATIONS,
                wmk_hex: WMK.into(),
                wrap_nonce_hex: WRAP_NONCE.into(),
                check_nonce_hex: CHECK_NONCE.into(),
                workspace_id: WORKSPACE_ID.into(),
                secret_id: SECRET_ID.into(),
                plaintext: PLAINTEXT.into(),
                dek_hex: DEK.into(),
                value_nonce_hex: VALUE_NONCE.into(),
                dek_nonce_hex: DEK_NONCE.into(),
                new_wmk_hex: NEW_WMK.into(),
                rewrap_nonce_hex: REWRAP_NONCE.into(),
            },
            expected: ChainExpected {
                api_key_text: text.clone(),
                auth_input_hex: hex::encode(&auth_input),
                auth_hash_hex: hex::encode(auth_hash(&auth_salt, &secret)),
                kek_hex,
                wrap_aad: fixed::wrap_aad(&key_id),
                wrapped_wmk: wrapped.clone(),
                check_plaintext: "conexor/check/v1".into(),
                wmk_check: check.clone(),
                secret_aad: fixed::secret_aad(&ws, &sec),
                dek_aad: fixed::dek_aad(&ws, &sec),
                sealed_secret: sealed.clone(),
                rewrapped_dek: rewrapped,
            },
        },
        negative: Negative {
            api_keys: neg_keys,
            kdf: neg_kdf,
            unwrap_wmk: neg_unwrap,
            verify_wmk_check: neg_check,
            open_secret: neg_open,
        },
    }
}

#[test]
#[ignore = "writes tests/data/format-v1-vectors.json; run by hand only"]
fn regenerate_format_v1_vectors() {
    let vectors = generate();
    let mut text = serde_json::to_string_pretty(&vectors).expect("serializes");
    text.push('\n');
    let path = vectors_path();
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    eprintln!("wrote {}", path.display());
}

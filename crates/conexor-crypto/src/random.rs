//! Randomness: every key, salt, nonce and client-generated id of format v1
//! comes from here, which reads the operating system's random source.
//!
//! It does not offer seeded or reproducible generation; test vectors pass
//! their fixed values through [`crate::fixed`] instead.

use conexor_types::{SecretId, WorkspaceId};
use rand::TryRng as _;
use rand::rngs::SysRng;

/// Fills `buf` from the operating system's random source.
///
/// # Panics
/// When the operating system cannot supply randomness. There is no safe way
/// to go on making keys without it.
pub(crate) fn fill(buf: &mut [u8]) {
    SysRng
        .try_fill_bytes(buf)
        .expect("the operating system's random source must be available to make keys");
}

/// Returns `N` fresh random bytes.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill(&mut out);
    out
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A string of `len` characters drawn uniformly from `[0-9A-Za-z]`.
///
/// Uniform by rejection sampling: random bytes of 248 or more (248 = 4 × 62)
/// are discarded, the rest are taken modulo 62.
pub fn random_base62(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut pool = [0u8; 64];
    while out.len() < len {
        fill(&mut pool);
        for &b in &pool {
            if out.len() == len {
                break;
            }
            if b < 248 {
                out.push(char::from(BASE62[usize::from(b % 62)]));
            }
        }
    }
    out
}

/// A fresh workspace id, `ws_` + 16 base62 characters.
pub fn new_workspace_id() -> WorkspaceId {
    WorkspaceId::from_random(&random_base62(WorkspaceId::RANDOM_LEN))
        .expect("random_base62 yields RANDOM_LEN base62 characters, a valid workspace id")
}

/// A fresh secret id, `sec_` + 16 base62 characters.
pub fn new_secret_id() -> SecretId {
    SecretId::from_random(&random_base62(SecretId::RANDOM_LEN))
        .expect("random_base62 yields RANDOM_LEN base62 characters, a valid secret id")
}

/// A fresh 16-byte salt (for `auth_salt` and `kdf_salt`).
pub fn random_salt() -> [u8; 16] {
    bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base62_has_the_asked_length_and_alphabet() {
        for len in [0, 1, 12, 16, 100] {
            let s = random_base62(len);
            assert_eq!(s.len(), len);
            assert!(conexor_types::is_base62(&s));
        }
    }

    #[test]
    fn base62_uses_every_character() {
        // 62 characters over 20 000 draws: each appears ~320 times, so a
        // missing one means a broken mapping, not bad luck.
        let s = random_base62(20_000);
        for c in BASE62 {
            assert!(s.as_bytes().contains(c), "never drew {}", char::from(*c));
        }
    }

    #[test]
    fn ids_and_salts_are_fresh() {
        assert!(new_workspace_id().as_str().starts_with("ws_"));
        assert!(new_secret_id().as_str().starts_with("sec_"));
        assert_ne!(new_workspace_id(), new_workspace_id());
        assert_ne!(new_secret_id(), new_secret_id());
        assert_ne!(random_salt(), random_salt());
    }
}

//! The key-encryption key (KEK): PBKDF2-HMAC-SHA256 over the API key's 32
//! secret bytes.
//!
//! The iteration count is checked here, for servers (refuse to store weak
//! parameters) and clients (refuse servers that offer them) alike. This
//! module does not cache KEKs; the server's cache holds [`Kek`] values.

use std::fmt;

use sha2::Sha256;
use zeroize::Zeroizing;

use crate::Error;

/// Lowest accepted PBKDF2 iteration count (OWASP 2023 for HMAC-SHA256).
pub const MIN_KDF_ITERATIONS: u32 = 600_000;

/// Highest accepted PBKDF2 iteration count, so that a stored record cannot
/// make a request cost more than about a second of CPU.
pub const MAX_KDF_ITERATIONS: u32 = 10_000_000;

/// A key-encryption key: wraps the workspace master key for one API key.
/// `Debug` never shows the bytes.
#[derive(Clone)]
pub struct Kek(pub(crate) Zeroizing<[u8; 32]>);

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek([redacted])")
    }
}

/// KEK = PBKDF2-HMAC-SHA256(password = secret, salt = kdf_salt,
/// iterations, 32 bytes). Refuses counts outside
/// [`MIN_KDF_ITERATIONS`]`..=`[`MAX_KDF_ITERATIONS`] before doing any work.
pub fn derive_kek(secret: &[u8; 32], kdf_salt: &[u8; 16], iterations: u32) -> Result<Kek, Error> {
    if iterations < MIN_KDF_ITERATIONS {
        return Err(Error::WeakKdf { iterations });
    }
    if iterations > MAX_KDF_ITERATIONS {
        return Err(Error::ExcessiveKdf { iterations });
    }
    let mut out = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(secret, kdf_salt, iterations, &mut out[..]);
    Ok(Kek(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_weak_and_excessive_counts() {
        let s = [1u8; 32];
        let salt = [2u8; 16];
        assert_eq!(
            derive_kek(&s, &salt, 599_999).map(|_| ()),
            Err(Error::WeakKdf {
                iterations: 599_999
            })
        );
        assert!(matches!(
            derive_kek(&s, &salt, 0),
            Err(Error::WeakKdf { .. })
        ));
        assert!(matches!(
            derive_kek(&s, &salt, 10_000_001),
            Err(Error::ExcessiveKdf { .. })
        ));
        assert!(matches!(
            derive_kek(&s, &salt, u32::MAX),
            Err(Error::ExcessiveKdf { .. })
        ));
    }

    #[test]
    fn derivation_depends_on_the_salt() {
        let s = [1u8; 32];
        let salt = [2u8; 16];
        // Fixed outputs are checked against the format-v1 vectors
        // (tests/vectors.rs); here only that the salt matters.
        let a = derive_kek(&s, &salt, MIN_KDF_ITERATIONS).expect("min is accepted");
        let c = derive_kek(&s, &[3u8; 16], MIN_KDF_ITERATIONS).expect("ok");
        assert_ne!(*a.0, *c.0);
        assert_eq!(format!("{a:?}"), "Kek([redacted])");
    }
}

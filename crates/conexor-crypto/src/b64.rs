//! Strict unpadded base64url (RFC 4648 §5), the only text encoding of bytes
//! in format v1.
//!
//! Decoding accepts exactly one spelling per byte string: alphabet
//! `A-Z a-z 0-9 - _`, no padding, no whitespace, unused trailing bits zero.
//! It does not accept standard base64 (`+`, `/`) or padded input.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encodes bytes as unpadded base64url.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes canonical unpadded base64url, or `None`.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    // The engine already rejects padding and non-zero trailing bits; the
    // round trip makes "one spelling per value" hold whatever it accepts.
    if URL_SAFE_NO_PAD.encode(&bytes) != text {
        return None;
    }
    Some(bytes)
}

/// Decodes canonical unpadded base64url of exactly `N` bytes into `out`
/// without leaving a heap copy behind. Returns false on any defect.
pub(crate) fn decode_exact<const N: usize>(text: &str, out: &mut [u8; N]) -> bool {
    use zeroize::Zeroize as _;
    match decode(text) {
        Some(mut bytes) => {
            let ok = bytes.len() == N;
            if ok {
                out.copy_from_slice(&bytes);
            }
            bytes.zeroize();
            ok
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_is_strict() {
        assert_eq!(decode("AAEC").as_deref(), Some(&[0u8, 1, 2][..]));
        assert_eq!(decode("").as_deref(), Some(&[][..]));
        assert_eq!(decode("-_8").as_deref(), Some(&[0xfb, 0xff][..]));
        // padding, trailing bits, wrong alphabet, whitespace, impossible length
        assert!(decode("AA==").is_none());
        assert!(decode("AB").is_none());
        assert!(decode("+/8").is_none());
        assert!(decode("AAEC ").is_none());
        assert!(decode(" AAEC").is_none());
        assert!(decode("AAECA").is_none());
    }
}

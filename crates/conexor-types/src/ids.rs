//! Identifiers that enter AAD strings or lookups. Each parses strictly, so a
//! value of one of these types is known to be well formed.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: expected {expected}")]
pub struct IdError {
    kind: &'static str,
    expected: &'static str,
}

/// True when every byte is `[0-9A-Za-z]`.
pub fn is_base62(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_alphanumeric())
}

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal, $len:literal, $kind:literal, $expected:literal) => {
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;
            pub const RANDOM_LEN: usize = $len;

            pub fn parse(text: &str) -> Result<Self, IdError> {
                let err = IdError {
                    kind: $kind,
                    expected: $expected,
                };
                let rest = text.strip_prefix($prefix).ok_or(err.clone())?;
                if rest.len() != $len || !is_base62(rest) {
                    return Err(err);
                }
                Ok($name(text.to_owned()))
            }

            /// Builds an id from random base62 characters chosen by the caller.
            pub fn from_random(random: &str) -> Result<Self, IdError> {
                Self::parse(&format!("{}{}", $prefix, random))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                $name::parse(s)
            }
        }
    };
}

prefixed_id!(
    WorkspaceId,
    "ws_",
    16,
    "workspace id",
    "\"ws_\" followed by 16 letters or digits"
);
prefixed_id!(
    SecretId,
    "sec_",
    16,
    "secret id",
    "\"sec_\" followed by 16 letters or digits"
);
// The first 12 characters after `cxk_` in an API key.
prefixed_id!(
    KeyId,
    "",
    12,
    "key id",
    "12 letters or digits (as `conexor keys list` shows them)"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_strictly() {
        assert!(WorkspaceId::parse("ws_0123456789abcdef").is_ok());
        assert!(WorkspaceId::parse("ws_0123456789abcde").is_err());
        assert!(WorkspaceId::parse("ws_0123456789abcde_").is_err());
        assert!(WorkspaceId::parse("sec_0123456789abcdef").is_err());
        assert!(SecretId::parse("sec_0123456789ABCDEF").is_ok());
        assert!(KeyId::parse("abcdefABCDEF").is_ok());
        assert!(KeyId::parse("abcdefABCDE-").is_err());
        assert!(KeyId::parse("abcdefABCDEFG").is_err());
    }
}

//! Timestamps as the store keeps them and the API shows them: an instant in
//! UTC, written RFC 3339 with milliseconds (`2026-12-03T08:05:37.123Z`).
//! Parsed once, when a record is read, so that a stored value that is not a
//! time is found there (the store reports it as corrupt) rather than by
//! whoever compares two of them later.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp(Utc::now())
    }

    /// Reads RFC 3339 with any offset (kept as the same instant in UTC).
    pub fn parse(text: &str) -> Option<Timestamp> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| Timestamp(t.with_timezone(&Utc)))
    }

    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text).ok_or_else(|| serde::de::Error::custom("not an RFC 3339 timestamp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_any_offset_and_write_utc_with_milliseconds() {
        let t = Timestamp::parse("2026-12-03T09:05:37.5+01:00").expect("parses");
        assert_eq!(t.to_string(), "2026-12-03T08:05:37.500Z");
        assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
        assert_eq!(
            serde_json::to_string(&t).ok().as_deref(),
            Some("\"2026-12-03T08:05:37.500Z\"")
        );
        for bad in ["", "yesterday", "2026-12-03", "2026-13-03T00:00:00Z"] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
            assert!(serde_json::from_str::<Timestamp>(&format!("{bad:?}")).is_err());
        }
        assert!(
            Timestamp::parse("2026-12-03T08:00:00Z") < Timestamp::parse("2026-12-03T08:00:00.001Z")
        );
    }
}

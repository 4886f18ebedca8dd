//! The seed's timestamp format: UTC, `2021-02-24T16:25:29+0000`.

use chrono::{DateTime, Datelike, SecondsFormat, TimeZone, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

const SEED_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%z";

/// The last instant whose Unix milliseconds fit the table keys' 13 digits (2286-11-20):
/// a later one would sort before every key, an earlier one than 1970 after.
pub const MAX_KEY_MILLIS: i64 = 9_999_999_999_999;

/// An instant, always written in the seed format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// Wraps a UTC instant.
    pub fn from_utc(at: DateTime<Utc>) -> Self {
        Self(at)
    }

    /// From Unix seconds (Chatwoot sends these in places).
    pub fn from_unix(seconds: i64) -> Option<Self> {
        Utc.timestamp_opt(seconds, 0).single().map(Self)
    }

    /// From Unix milliseconds (our own records).
    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        Utc.timestamp_millis_opt(millis).single().map(Self)
    }

    /// Parses the seed format, or RFC 3339 (what Chatwoot and most producers send).
    pub fn parse(text: &str) -> Option<Self> {
        DateTime::parse_from_str(text, SEED_FORMAT)
            .or_else(|_| DateTime::parse_from_rfc3339(text))
            .ok()
            .map(|t| Self(t.with_timezone(&Utc)))
    }

    /// The UTC instant.
    pub fn utc(&self) -> DateTime<Utc> {
        self.0
    }

    /// True when the instant sorts right in the table's keys (1970 to 2286).
    pub fn fits_keys(&self) -> bool {
        (0..=MAX_KEY_MILLIS).contains(&self.millis())
    }

    /// Milliseconds since the epoch, for sortable keys.
    pub fn millis(&self) -> i64 {
        self.0.timestamp_millis()
    }

    /// The UTC day (`YYYY-MM-DD`): what daily email caps count by.
    pub fn utc_day(&self) -> String {
        self.0.format("%Y-%m-%d").to_string()
    }

    /// RFC 3339 with milliseconds, for our own records (logs, activity).
    pub fn rfc3339(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        if !(0..=9999).contains(&t.year()) {
            // chrono writes such years with a sign; keep its exact form.
            return write!(f, "{}", t.format(SEED_FORMAT));
        }
        // Field by field: chrono's `format` parses its pattern on every call, and a
        // bundle writes two timestamps per message.
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+0000",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("An instant in UTC, as the seed writes it"))
            .examples(["2021-02-24T16:25:29+0000"])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid timestamp {text:?}: expected e.g. 2021-02-24T16:25:29+0000"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_utc_day_is_the_day_at_greenwich() {
        let late = Timestamp::parse("2026-03-01T23:30:00-02:00").unwrap();
        assert_eq!(late.utc_day(), "2026-03-02");
    }

    #[test]
    fn round_trips_the_seed_format() {
        let t = Timestamp::parse("2021-02-24T16:25:29+0000").unwrap();
        assert_eq!(t.to_string(), "2021-02-24T16:25:29+0000");
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2021-02-24T16:25:29+0000\""
        );
    }

    #[test]
    fn writes_what_the_chrono_pattern_writes() {
        for seconds in [
            0,
            1_614_183_929,
            253_402_300_799,
            253_402_300_800,
            -62_135_596_801,
        ] {
            let t = Timestamp::from_unix(seconds).unwrap();
            assert_eq!(t.to_string(), t.utc().format(SEED_FORMAT).to_string());
        }
    }

    #[test]
    fn normalizes_other_offsets_to_utc() {
        let t = Timestamp::parse("2021-02-24T18:25:29+0200").unwrap();
        assert_eq!(t.to_string(), "2021-02-24T16:25:29+0000");
        let t = Timestamp::parse("2026-01-21T04:04:56.544Z").unwrap();
        assert_eq!(t.to_string(), "2026-01-21T04:04:56+0000");
    }

    #[test]
    fn rejects_garbage_with_a_helpful_message() {
        let err = serde_json::from_str::<Timestamp>("\"yesterday\"").unwrap_err();
        assert!(err.to_string().contains("2021-02-24T16:25:29+0000"));
    }
}

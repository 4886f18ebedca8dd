//! How a workspace wants its messages grouped: one call each, or one per chat per window.

use serde::{Deserialize, Serialize};

/// The aggregation granularity of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Aggregation {
    /// One POST per message, as soon as it is ingested.
    #[default]
    #[serde(rename = "none")]
    None,
    /// One bundle per chat per UTC hour.
    #[serde(rename = "1h")]
    Hours1,
    /// One bundle per chat per 6-hour UTC window.
    #[serde(rename = "6h")]
    Hours6,
    /// One bundle per chat per 12-hour UTC window.
    #[serde(rename = "12h")]
    Hours12,
    /// One bundle per chat per UTC day.
    #[serde(rename = "24h")]
    Hours24,
}

impl Aggregation {
    /// The accepted spellings, for error messages.
    pub const ACCEPTED: &'static str = "none, 1h, 6h, 12h, 24h";

    /// Parses the API spelling.
    pub fn parse(value: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(value.to_string())).ok()
    }

    /// True when messages are delivered one by one as they arrive.
    pub fn is_immediate(self) -> bool {
        self == Aggregation::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_spelling() {
        assert_eq!(Aggregation::parse("none"), Some(Aggregation::None));
        assert_eq!(Aggregation::parse("1h"), Some(Aggregation::Hours1));
        assert_eq!(Aggregation::parse("6h"), Some(Aggregation::Hours6));
        assert_eq!(Aggregation::parse("12h"), Some(Aggregation::Hours12));
        assert_eq!(Aggregation::parse("24h"), Some(Aggregation::Hours24));
        assert_eq!(Aggregation::parse("2h"), None);
        assert_eq!(
            serde_json::to_string(&Aggregation::Hours6).unwrap(),
            "\"6h\""
        );
    }
}

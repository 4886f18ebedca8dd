//! How a workspace wants its messages grouped: one call each, or one per chat per window.
//! One spelling table serves `FromStr`, `Display` and serde.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The aggregation granularity of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Aggregation {
    /// One POST per message, as soon as it is ingested (`none`).
    #[default]
    None,
    /// One bundle per chat per UTC hour (`1h`).
    Hours1,
    /// One bundle per chat per 6-hour UTC window (`6h`).
    Hours6,
    /// One bundle per chat per 12-hour UTC window (`12h`).
    Hours12,
    /// One bundle per chat per UTC day (`24h`).
    Hours24,
}

/// Each granularity and its spelling in the API.
const SPELLINGS: [(Aggregation, &str); 5] = [
    (Aggregation::None, "none"),
    (Aggregation::Hours1, "1h"),
    (Aggregation::Hours6, "6h"),
    (Aggregation::Hours12, "12h"),
    (Aggregation::Hours24, "24h"),
];

/// A spelling that names no granularity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown aggregation {0:?}: must be one of none, 1h, 6h, 12h, 24h")]
pub struct UnknownAggregation(pub String);

impl Aggregation {
    /// The accepted spellings, for error messages.
    pub const ACCEPTED: &'static str = "none, 1h, 6h, 12h, 24h";

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        SPELLINGS
            .iter()
            .find(|(g, _)| *g == self)
            .map(|(_, s)| *s)
            .unwrap_or("none")
    }

    /// True when messages are delivered one by one as they arrive.
    pub fn is_immediate(self) -> bool {
        self == Aggregation::None
    }
}

impl FromStr for Aggregation {
    type Err = UnknownAggregation;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        SPELLINGS
            .iter()
            .find(|(_, s)| *s == text)
            .map(|(g, _)| *g)
            .ok_or_else(|| UnknownAggregation(text.to_string()))
    }
}

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl utoipa::PartialSchema for Aggregation {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(SPELLINGS.iter().map(|(_, s)| *s)))
            .description(Some(
                "One POST per message (none), or one bundle per chat per window",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Aggregation {}

impl Serialize for Aggregation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Aggregation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_parses_prints_and_serializes_the_same_way() {
        for (granularity, spelling) in SPELLINGS {
            assert_eq!(spelling.parse::<Aggregation>(), Ok(granularity));
            assert_eq!(granularity.to_string(), spelling);
            let json = serde_json::to_string(&granularity).unwrap();
            assert_eq!(json, format!("\"{spelling}\""));
            assert_eq!(
                serde_json::from_str::<Aggregation>(&json).unwrap(),
                granularity
            );
        }
        assert!("2h".parse::<Aggregation>().is_err());
        assert!(serde_json::from_str::<Aggregation>("\"2h\"")
            .unwrap_err()
            .to_string()
            .contains("none, 1h, 6h, 12h, 24h"));
    }
}

//! What an API key may do: its scopes. A key made before scopes existed, or made by
//! workspace creation, rotation of such a key or a reset, holds every scope; a key made
//! with `POST /v1/api-keys` holds the scopes it was given, which the key that made it
//! must hold itself (a key cannot grant more than it has).

use serde::{Deserialize, Serialize};
use std::fmt;

/// One permission of an API key.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Scope {
    /// Send events (`POST /v1/events`) and nothing else: what a chat system's key needs.
    #[serde(rename = "events:write")]
    EventsWrite,
    /// Read the webhook's settings (without its secret), activity, delivery counts and
    /// request log.
    #[serde(rename = "logs:read")]
    LogsRead,
    /// Change the webhook: its URL and settings, enable, read and rotate its secret,
    /// replay, resend and test events.
    #[serde(rename = "endpoints:manage")]
    EndpointsManage,
    /// Make and list API keys.
    #[serde(rename = "keys:manage")]
    KeysManage,
}

impl Scope {
    /// Every scope, in the order the API lists them.
    pub const ALL: [Scope; 4] = [
        Scope::EventsWrite,
        Scope::LogsRead,
        Scope::EndpointsManage,
        Scope::KeysManage,
    ];

    /// The scope's name on the wire (`events:write`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::EventsWrite => "events:write",
            Scope::LogsRead => "logs:read",
            Scope::EndpointsManage => "endpoints:manage",
            Scope::KeysManage => "keys:manage",
        }
    }

    /// The scope named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes a key holds: every one, or a chosen few.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Grant {
    /// Every scope, present and future (keys made before scopes, and full keys).
    #[default]
    Full,
    /// Only these (sorted, no repeats).
    Only(Vec<Scope>),
}

impl Grant {
    /// A grant of `scopes` (sorted, repeats dropped).
    pub fn only(mut scopes: Vec<Scope>) -> Self {
        scopes.sort();
        scopes.dedup();
        Grant::Only(scopes)
    }

    /// True when the key may act in `scope`.
    pub fn allows(&self, scope: Scope) -> bool {
        match self {
            Grant::Full => true,
            Grant::Only(scopes) => scopes.contains(&scope),
        }
    }

    /// True when every scope of `other` is in this grant (a key may only grant that).
    pub fn covers(&self, other: &Grant) -> bool {
        match other {
            Grant::Full => *self == Grant::Full,
            Grant::Only(scopes) => scopes.iter().all(|s| self.allows(*s)),
        }
    }

    /// The scopes, listed.
    pub fn scopes(&self) -> Vec<Scope> {
        match self {
            Grant::Full => Scope::ALL.to_vec(),
            Grant::Only(scopes) => scopes.clone(),
        }
    }
}

/// What the workspace keeps about one of its keys, besides its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key's first characters (`ofk.<workspace>.` and four of its secret), to tell
    /// keys apart; absent for keys made before it was kept.
    pub prefix: Option<String>,
    /// A name its maker gave it.
    pub name: Option<String>,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// What it may do.
    pub grant: Grant,
}

/// Characters of a key's secret its listed prefix shows (24 of its 256 bits).
pub const SHOWN_SECRET_CHARS: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_by_name() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            let json = serde_json::to_string(&scope).unwrap();
            assert_eq!(json, format!("\"{scope}\""));
        }
        assert_eq!(Scope::parse("events:read"), None);
    }

    #[test]
    fn a_grant_allows_its_scopes_and_covers_only_what_it_holds() {
        let ingest = Grant::only(vec![Scope::EventsWrite, Scope::EventsWrite]);
        assert_eq!(ingest, Grant::Only(vec![Scope::EventsWrite]));
        assert!(ingest.allows(Scope::EventsWrite));
        assert!(!ingest.allows(Scope::EndpointsManage));
        assert!(Grant::Full.allows(Scope::KeysManage));
        assert!(Grant::Full.covers(&ingest));
        assert!(!ingest.covers(&Grant::Full));
        let keys = Grant::only(vec![Scope::KeysManage, Scope::EventsWrite]);
        assert!(keys.covers(&ingest));
        assert!(!keys.covers(&Grant::only(vec![Scope::LogsRead])));
        assert_eq!(Grant::Full.scopes().len(), Scope::ALL.len());
    }
}

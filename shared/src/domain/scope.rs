//! What an API key may do: its scopes. A key made before scopes existed, or made by
//! workspace creation, rotation of such a key or a reset, holds every scope; a key made
//! with `POST /v1/api-keys` holds the scopes it was given, which the key that made it
//! must hold itself (a key cannot grant more than it has).

super::wire_enum::wire_enum! {
    /// One permission of an API key.
    pub enum Scope {
        /// Send events (`POST /v1/events`) and nothing else: what a chat system's key needs.
        EventsWrite = "events:write",
        /// Read the webhook's settings (without its secret), activity, delivery counts and
        /// request log.
        LogsRead = "logs:read",
        /// Change the webhook: its URL and settings, enable, read and rotate its secret,
        /// replay, resend and test events.
        EndpointsManage = "endpoints:manage",
        /// Make and list API keys.
        KeysManage = "keys:manage",
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
        for &scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            let json = serde_json::to_string(&scope).unwrap();
            assert_eq!(json, format!("\"{scope}\""));
        }
        assert_eq!(Scope::parse("events:read"), None);
    }

    #[test]
    fn a_grant_allows_its_scopes() {
        let ingest = Grant::only(vec![Scope::EventsWrite, Scope::EventsWrite]);
        assert_eq!(ingest, Grant::Only(vec![Scope::EventsWrite]));
        assert!(ingest.allows(Scope::EventsWrite));
        assert!(!ingest.allows(Scope::EndpointsManage));
        assert!(Grant::Full.allows(Scope::KeysManage));
        assert_eq!(Grant::Full.scopes().len(), Scope::ALL.len());
    }
}

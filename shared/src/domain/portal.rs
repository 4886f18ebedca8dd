//! The tenant portal's credential: a link the SaaS mints for one workspace
//! (`ofp.<workspace id>.<secret>`), carried in the portal URL's fragment so no server or
//! proxy logs it. Only its SHA-256 is stored; it expires, and a revoke ends every link
//! minted before it at once. It opens the webhook's settings, log and replay, nothing else
//! (no ingest, no API keys).

use super::ids::{bearer_secret, claimed_workspace};
use super::{Timestamp, WorkspaceId};
use sha2::{Digest, Sha256};
use std::fmt;

/// A link's lifetime when the SaaS names none: an hour.
pub const DEFAULT_LINK_SECS: u64 = 3_600;
/// The longest a link may live: 7 days (also what the owner's disable email carries).
pub const MAX_LINK_SECS: u64 = 7 * 86_400;

/// A portal token, as minted or as presented.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalToken(String);

impl PortalToken {
    /// A fresh token for a workspace, with 256 random bits.
    pub fn generate(workspace: &WorkspaceId) -> Self {
        Self(format!("ofp.{workspace}.{}", bearer_secret()))
    }

    /// Whether a bearer token is a portal token (rather than an API key).
    pub fn is_portal(value: &str) -> bool {
        value.starts_with("ofp.")
    }

    /// Wraps a presented token; it is checked against the stored hash later.
    pub fn presented(value: &str) -> Self {
        Self(value.to_string())
    }

    /// The workspace the token claims (verified by the hash lookup).
    pub fn workspace(&self) -> Option<WorkspaceId> {
        claimed_workspace(&self.0, "ofp", Some(43))
    }

    /// Hex SHA-256 of the whole token: what the store keeps.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// The token itself, given once in the link.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PortalToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PortalToken(<redacted>)")
    }
}

/// A stored link: when it was minted and when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalLink {
    /// When it was minted (ms); a revoke after this ends it.
    pub minted_ms: i64,
    /// When it ends (ms).
    pub expires_ms: i64,
}

/// Why a portal token does not open the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalRefusal {
    /// Not a token of any link (or of a workspace since deleted).
    Unknown,
    /// Its time is over.
    Expired,
    /// The workspace's links were revoked after it was minted.
    Revoked,
}

impl PortalLink {
    /// Whether the link opens the portal at `now`, given the workspace's last revoke.
    pub fn check(&self, now: Timestamp, revoked_ms: Option<i64>) -> Result<(), PortalRefusal> {
        if revoked_ms.is_some_and(|r| r >= self.minted_ms) {
            return Err(PortalRefusal::Revoked);
        }
        if now.millis() >= self.expires_ms {
            return Err(PortalRefusal::Expired);
        }
        Ok(())
    }
}

/// A requested lifetime in seconds, or what is wrong with it.
pub fn link_lifetime(expires_in: Option<u64>) -> Result<u64, String> {
    match expires_in.unwrap_or(DEFAULT_LINK_SECS) {
        0 => Err("must be at least 1 second".into()),
        secs if secs > MAX_LINK_SECS => {
            Err(format!("must be at most {MAX_LINK_SECS} seconds (7 days)"))
        }
        secs => Ok(secs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_workspace_and_hides_itself() {
        let ws = WorkspaceId::generate();
        let token = PortalToken::generate(&ws);
        assert!(PortalToken::is_portal(token.reveal()));
        assert_eq!(token.workspace(), Some(ws.clone()));
        assert_eq!(token.hash().len(), 64);
        assert!(!format!("{token:?}").contains(token.reveal()));
        // An API key is not a portal token, nor is a truncated one.
        assert_eq!(
            PortalToken::presented(&format!("ofk.{ws}.x")).workspace(),
            None
        );
        assert_eq!(
            PortalToken::presented(&format!("ofp.{ws}.short")).workspace(),
            None
        );
    }

    #[test]
    fn a_link_expires_and_a_revoke_ends_the_links_minted_before_it() {
        let link = PortalLink {
            minted_ms: 1_000,
            expires_ms: 5_000,
        };
        let at = |ms| Timestamp::from_unix_millis(ms).unwrap();
        assert_eq!(link.check(at(2_000), None), Ok(()));
        assert_eq!(link.check(at(5_000), None), Err(PortalRefusal::Expired));
        assert_eq!(
            link.check(at(2_000), Some(1_000)),
            Err(PortalRefusal::Revoked)
        );
        assert_eq!(
            link.check(at(2_000), Some(999)),
            Ok(()),
            "minted after the revoke"
        );
    }

    #[test]
    fn lifetimes_default_to_an_hour_and_stop_at_seven_days() {
        assert_eq!(link_lifetime(None), Ok(3_600));
        assert_eq!(link_lifetime(Some(604_800)), Ok(604_800));
        assert!(link_lifetime(Some(604_801)).unwrap_err().contains("7 days"));
        assert!(link_lifetime(Some(0)).is_err());
    }
}

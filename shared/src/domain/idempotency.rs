//! Idempotency keys: a client that retries a create after an error or a lost answer sends
//! the same `Idempotency-Key`, and gets what the first request made instead of a second one.

use super::{Timestamp, WorkspaceId};
use sha2::{Digest, Sha256};

/// How long a key stands for the request it first came with.
pub const IDEMPOTENCY_SECS: i64 = 24 * 3600;

/// How long after claiming its key a create that has not reached its listing counts as
/// cut off: the api function's timeout is 10 s, so its request ended long before.
pub const ABANDONED_AFTER_MS: i64 = 60_000;

/// Whether a create that claimed its key at `claimed` and never reached its listing was
/// cut off (the function killed) rather than still running, as of `now`.
pub fn abandoned(claimed: Timestamp, now: Timestamp) -> bool {
    now.millis() - claimed.millis() > ABANDONED_AFTER_MS
}

/// Longest key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;

/// A client's idempotency key: 1 to 255 visible ASCII characters (a UUID fits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key as sent, or why it is refused.
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        if value.is_empty() || value.len() > MAX_IDEMPOTENCY_KEY_BYTES {
            return Err("must be 1 to 255 characters");
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be visible ASCII characters (no spaces)");
        }
        Ok(Self(value.to_string()))
    }

    /// What the store keeps of it: a digest bound to the workspace, so the key itself is
    /// never stored and one tenant's key never names another's request.
    pub fn digest(&self, ws: &WorkspaceId) -> String {
        hex::encode(Sha256::digest(format!("{ws}\u{0}{}", self.0).as_bytes()))
    }
}

/// Who registers a workspace's default endpoint through a create, as its settings keep
/// it: a prefix of the create's key digest, or `-` without a key. A keyed retry finding
/// the default registered tells its own registration from another's by it.
pub fn registrant(ws: &WorkspaceId, key: Option<&IdempotencyKey>) -> String {
    key.map_or_else(|| "-".to_string(), |key| key.digest(ws)[..32].to_string())
}

/// The digest of a request body's meaning (its fields as parsed), to tell a retry from
/// another request reusing the key.
pub fn request_digest(request: &impl serde::Serialize) -> String {
    // A request body parsed from JSON always writes back as JSON.
    let json = serde_json::to_vec(request).expect("a parsed request serializes");
    hex::encode(Sha256::digest(&json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_a_bounded_length() {
        assert!(IdempotencyKey::parse("4f1c2a7e-9b3d-4c55-8e0a-1f2b3c4d5e6f").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in ["", "two words", "tab\there", "é", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_claim_is_abandoned_a_minute_after_it_was_made_never_sooner() {
        let at = |ms| Timestamp::from_unix_millis(ms).unwrap();
        let claimed = at(1_800_000_000_000);
        assert!(!abandoned(claimed, claimed));
        assert!(!abandoned(claimed, at(1_800_000_000_000 + 60_000)));
        assert!(abandoned(claimed, at(1_800_000_000_000 + 60_001)));
        // A clock behind the claim's (another container's) is not past it.
        assert!(!abandoned(claimed, at(1_799_999_000_000)));
    }

    #[test]
    fn a_registrant_tells_keys_apart_and_from_no_key() {
        let ws = WorkspaceId::generate();
        let (a, b) = (
            IdempotencyKey::parse("a").unwrap(),
            IdempotencyKey::parse("b").unwrap(),
        );
        assert_eq!(registrant(&ws, Some(&a)), registrant(&ws, Some(&a)));
        assert_ne!(registrant(&ws, Some(&a)), registrant(&ws, Some(&b)));
        assert_ne!(registrant(&ws, Some(&a)), registrant(&ws, None));
        assert_eq!(registrant(&ws, Some(&a)).len(), 32);
    }

    #[test]
    fn a_key_digest_is_the_workspaces_own() {
        let key = IdempotencyKey::parse("retry-1").unwrap();
        let (a, b) = (WorkspaceId::generate(), WorkspaceId::generate());
        assert_eq!(key.digest(&a), key.digest(&a));
        assert_ne!(key.digest(&a), key.digest(&b));
        assert_eq!(key.digest(&a).len(), 64);
    }
}

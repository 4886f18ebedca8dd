//! Key layout of the table (documented in docs/data-model.md).

use crate::domain::{ChatId, MessageId, WorkspaceId};

/// Partition key of everything a workspace owns.
pub fn workspace_pk(ws: &WorkspaceId) -> String {
    format!("WS#{ws}")
}

/// Sort key of the workspace itself.
pub const META: &str = "META";
/// Sort key of the webhook settings and health.
pub const WEBHOOK: &str = "WEBHOOK";
/// Sort-key prefix of held deliveries.
pub const HELD_PREFIX: &str = "HELD#";
/// Sort-key prefix of request-log entries.
pub const LOG_PREFIX: &str = "LOG#";
/// Sort-key prefix of activity entries.
pub const ACTIVITY_PREFIX: &str = "ACT#";

/// Sort key of an API key, by the key's SHA-256.
pub fn api_key(hash: &str) -> String {
    format!("APIKEY#{hash}")
}

/// Sort key of a message.
pub fn message(id: &MessageId) -> String {
    format!("MSG#{id}")
}

/// Sort key of a chat's state.
pub fn chat(id: &ChatId) -> String {
    format!("CHAT#{id}")
}

/// Sort key of a time-ordered entry: prefix, zero-padded millis, unique suffix.
pub fn timed(prefix: &str, millis: i64, unique: &str) -> String {
    format!("{prefix}{millis:013}#{unique}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_keys_sort_by_time() {
        assert!(timed(LOG_PREFIX, 999, "z") < timed(LOG_PREFIX, 1000, "a"));
        assert_eq!(timed(LOG_PREFIX, 5, "r"), "LOG#0000000000005#r");
    }
}

//! Key layout of the table (documented in docs/data-model.md).

use crate::domain::{ChatId, DeliveryId, MessageId, WorkspaceId};

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
/// Sort-key prefix of dead letters (deliveries that used up every attempt).
pub const DEAD_PREFIX: &str = "DEAD#";
/// Sort-key prefix of request-log entries.
pub const LOG_PREFIX: &str = "LOG#";
/// Sort-key prefix of activity entries.
pub const ACTIVITY_PREFIX: &str = "ACT#";

/// Sort key of a workspace's request counter for the window starting at `start_secs`.
pub fn rate_window(start_secs: i64) -> String {
    format!("RATE#{start_secs}")
}

/// Sort-key prefix of API keys.
pub const API_KEY_PREFIX: &str = "APIKEY#";

/// Sort key of an API key, by the key's SHA-256.
pub fn api_key(hash: &str) -> String {
    format!("{API_KEY_PREFIX}{hash}")
}

/// Sort key of a delivery's failed-attempt counter.
pub fn attempts(delivery: &DeliveryId) -> String {
    format!("TRY#{delivery}")
}

/// Sort key of a message.
pub fn message(id: &MessageId) -> String {
    format!("MSG#{id}")
}

/// Sort key of a chat's state.
pub fn chat(id: &ChatId) -> String {
    format!("CHAT#{id}")
}

/// Sort-key prefix of pending aggregation windows.
pub const WINDOW_PREFIX: &str = "WIN#";
/// Shards of the due index, so no single index partition takes every window.
pub const DUE_SHARDS: u32 = 8;

/// Sort key of a pending window: by end, then start (granularities ending together
/// differ), then chat.
pub fn window(end_millis: i64, start_millis: i64, chat: &ChatId) -> String {
    format!("{WINDOW_PREFIX}{end_millis:013}#{start_millis:013}#{chat}")
}

/// Window-index partition of one chat window's messages.
pub fn window_members(
    ws: &WorkspaceId,
    chat: &ChatId,
    start_millis: i64,
    end_millis: i64,
) -> String {
    format!("WS#{ws}#WIN#{start_millis:013}#{end_millis:013}#{chat}")
}

/// Due-index partition of a window: a stable shard of its workspace and chat.
pub fn due_shard(ws: &WorkspaceId, chat: &ChatId) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{ws}\u{0}{chat}").as_bytes());
    format!("DUE#{}", u32::from(digest[0]) % DUE_SHARDS)
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

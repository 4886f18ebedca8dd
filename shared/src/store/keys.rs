//! Key layout of the table (documented in docs/data-model.md).

use crate::domain::{ChatId, DeliveryId, MessageId, WorkspaceId};

/// Partition key of everything a workspace owns.
pub fn workspace_pk(ws: &WorkspaceId) -> String {
    format!("WS#{ws}")
}

/// Partitions a workspace's per-message items are spread over (messages, chat states,
/// attempt counters, request-log and activity entries): DynamoDB serves about 1,000 write
/// units a second per partition, and one workspace may ingest 5,000 events a second.
pub const ITEM_SHARDS: u32 = 32;

/// The partition of one of a workspace's per-message items, chosen by the item's own key
/// (`WS#<workspace>#<shard>`), so a reader that knows the key knows the partition.
pub fn spread_pk(ws: &WorkspaceId, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let shard = u32::from(Sha256::digest(key.as_bytes())[0]) % ITEM_SHARDS;
    format!("WS#{ws}#{shard:02}")
}

/// Every partition of a workspace's spread items, for reads across them.
pub fn spread_pks(ws: &WorkspaceId) -> impl Iterator<Item = String> + '_ {
    (0..ITEM_SHARDS).map(move |shard| format!("WS#{ws}#{shard:02}"))
}

/// The workspace partition (`WS#<workspace>`) of a partition key, spread or not.
pub fn home_pk(pk: &str) -> &str {
    match pk.match_indices('#').nth(1) {
        Some((second, _)) => &pk[..second],
        None => pk,
    }
}

/// Sort key of the workspace item: the workspace, its API key hashes, its webhook settings
/// and health, and its ingest rate window, so one request reads or updates them together.
pub const META: &str = "META";
/// Sort-key prefix of held deliveries.
pub const HELD_PREFIX: &str = "HELD#";
/// Sort-key prefix of dead letters (deliveries that used up every attempt).
pub const DEAD_PREFIX: &str = "DEAD#";
/// Sort-key prefix of request-log entries.
pub const LOG_PREFIX: &str = "LOG#";
/// Sort-key prefix of activity entries.
pub const ACTIVITY_PREFIX: &str = "ACT#";

/// Sort key of a delivery's failed-attempt counter.
pub fn attempts(delivery: &DeliveryId) -> String {
    format!("TRY#{delivery}")
}

/// Sort key of a message.
pub fn message(id: &MessageId) -> String {
    format!("MSG#{id}")
}

/// Where a message is stored: its spread partition and sort key.
pub fn message_key(ws: &WorkspaceId, id: &MessageId) -> (String, String) {
    (spread_pk(ws, id.as_str()), message(id))
}

/// Where a chat's state is stored.
pub fn chat_key(ws: &WorkspaceId, id: &ChatId) -> (String, String) {
    (spread_pk(ws, id.as_str()), chat(id))
}

/// Where a delivery's failed-attempt counter is stored.
pub fn attempts_key(ws: &WorkspaceId, delivery: &DeliveryId) -> (String, String) {
    (spread_pk(ws, delivery.as_str()), attempts(delivery))
}

/// Sort-key prefix of chats' states.
pub const CHAT_PREFIX: &str = "CHAT#";

/// Sort key of a chat's state.
pub fn chat(id: &ChatId) -> String {
    format!("{CHAT_PREFIX}{id}")
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

/// A stable digest of one workspace's chat: its shard, and a fixed-width stand-in for
/// the chat id in sort keys (chat ids may contain any character, `#` included).
fn chat_digest(ws: &WorkspaceId, chat: &ChatId) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(format!("{ws}\u{0}{chat}").as_bytes()).into()
}

/// The shard of a workspace's chat, in both aggregation indexes.
pub fn chat_shard(ws: &WorkspaceId, chat: &ChatId) -> u32 {
    u32::from(chat_digest(ws, chat)[0]) % DUE_SHARDS
}

/// Sixteen hex digits naming a workspace's chat, for sort keys that must sort by width.
pub fn chat_tag(ws: &WorkspaceId, chat: &ChatId) -> String {
    chat_digest(ws, chat)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Window-index partition: the messages of every window of one shard ending at
/// `end_millis`, so one Query reads the messages of many windows.
pub fn window_bucket(end_millis: i64, shard: u32) -> String {
    format!("WIN#{end_millis:013}#{shard}")
}

/// Window-index sort-key prefix of one chat window's messages inside its bucket (fixed
/// width, so a range between two prefixes holds exactly the windows that sort between).
pub fn window_member_prefix(start_millis: i64, ws: &WorkspaceId, chat: &ChatId) -> String {
    format!("{start_millis:013}#{}#", chat_tag(ws, chat))
}

/// Arrivals are indexed by the hour they fall in (the shortest window).
pub const ARRIVAL_HOUR_MS: i64 = 3_600_000;

/// Arrival-index partition: the messages of one shard of a workspace's chats (the tenant,
/// never an endpoint scope) that arrived in the hour starting `hour_start_ms` and joined
/// a window of an endpoint other than the default; one Query reads many such windows.
pub fn arrival_pk(tenant: &WorkspaceId, chat: &ChatId, hour_start_ms: i64) -> String {
    let shard = chat_shard(tenant, chat);
    format!("{}#ARR#{hour_start_ms:013}#{shard}", workspace_pk(tenant))
}

/// Arrival-index sort key: the chat (fixed width), then arrival (a window is a range of
/// arrivals), then the message's own timestamp and id.
pub fn arrival_sk(
    tenant: &WorkspaceId,
    chat: &ChatId,
    received_millis: i64,
    timestamp_millis: i64,
    id: &str,
) -> String {
    format!(
        "{}#{received_millis:013}#{timestamp_millis:013}#{id}",
        chat_tag(tenant, chat)
    )
}

/// Due-index partition of a window: a stable shard of its workspace and chat.
pub fn due_shard(ws: &WorkspaceId, chat: &ChatId) -> String {
    format!("DUE#{}", chat_shard(ws, chat))
}

/// Sort key of a time-ordered entry: prefix, zero-padded millis, unique suffix.
pub fn timed(prefix: &str, millis: i64, unique: &str) -> String {
    format!("{prefix}{millis:013}#{unique}")
}

/// The millis of a [`timed`] sort key under `prefix`.
pub fn timed_millis(prefix: &str, sk: &str) -> Option<i64> {
    sk.strip_prefix(prefix)?.get(..13)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timed_key_gives_its_millis_back() {
        let sk = timed(ACTIVITY_PREFIX, 1_800_000_000_013, "u");
        assert_eq!(timed_millis(ACTIVITY_PREFIX, &sk), Some(1_800_000_000_013));
        assert_eq!(timed_millis(LOG_PREFIX, &sk), None);
    }

    #[test]
    fn spread_items_land_on_every_partition_and_lead_home() {
        let ws = WorkspaceId::new_unchecked("ws_aaaaaaaaaaaaaaaaaaaa");
        let pks: std::collections::HashSet<String> = (0..1_000)
            .map(|i| spread_pk(&ws, &format!("m-{i}")))
            .collect();
        assert_eq!(pks.len(), ITEM_SHARDS as usize);
        assert_eq!(pks, spread_pks(&ws).collect());
        assert_eq!(spread_pk(&ws, "m-1"), spread_pk(&ws, "m-1"), "stable");
        for pk in &pks {
            assert_eq!(home_pk(pk), workspace_pk(&ws));
        }
        assert_eq!(home_pk("WS#ws_a"), "WS#ws_a");
    }

    #[test]
    fn timed_keys_sort_by_time() {
        assert!(timed(LOG_PREFIX, 999, "z") < timed(LOG_PREFIX, 1000, "a"));
        assert_eq!(timed(LOG_PREFIX, 5, "r"), "LOG#0000000000005#r");
    }

    #[test]
    fn member_prefixes_have_one_width_whatever_the_chat_id() {
        let ws = WorkspaceId::new_unchecked("ws_a");
        let short = window_member_prefix(7, &ws, &ChatId::new_unchecked("c"));
        let odd = window_member_prefix(7, &ws, &ChatId::new_unchecked("c#0000000000007#~"));
        assert_eq!(short.len(), odd.len());
        assert_ne!(short, odd);
        assert!(short.starts_with("0000000000007#"));
    }

    #[test]
    fn a_chat_has_one_shard_in_both_indexes() {
        let ws = WorkspaceId::new_unchecked("ws_a");
        let chat = ChatId::new_unchecked("chat-9");
        let shard = chat_shard(&ws, &chat);
        assert!(shard < DUE_SHARDS);
        assert_eq!(due_shard(&ws, &chat), format!("DUE#{shard}"));
        assert!(window_bucket(1000, shard).ends_with(&format!("#{shard}")));
    }
}

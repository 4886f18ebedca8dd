//! How a pending window is laid out as items: its key, its place in the due index, and
//! the window-index entries its messages carry (shared by `windows` and `messages`).

use super::batch::Key;
use super::{keys, s, Item, StoreResult};
use crate::domain::PendingWindow;

/// Its key in the table.
pub(super) fn window_key(w: &PendingWindow) -> Key {
    (
        keys::workspace_pk(&w.workspace_id),
        keys::window(w.end_ms, w.start_ms, &w.chat_id),
    )
}

/// The window-index partition holding its messages (with those of every window of its
/// shard that ends at the same time).
pub(super) fn bucket(w: &PendingWindow) -> String {
    keys::window_bucket(w.end_ms, keys::chat_shard(&w.workspace_id, &w.chat_id))
}

/// The window-index sort-key prefix of its messages inside the bucket.
pub(super) fn member_prefix(w: &PendingWindow) -> String {
    keys::window_member_prefix(w.start_ms, &w.workspace_id, &w.chat_id)
}

/// The attribute a message item carries to name its window: the window's sort key.
pub(super) fn member_of(w: &PendingWindow) -> String {
    window_key(w).1
}

/// True for a window of an endpoint other than the default: its messages are read from
/// the `arrival` index (they are the tenant's, stored once), not from the `window` index.
pub(super) fn of_other_endpoint(w: &PendingWindow) -> bool {
    w.workspace_id.is_endpoint_scope()
}

/// What a message item lists in `joined` for each window of another endpoint it joined
/// (endpoint, end, start): a message may join one window per endpoint.
pub(super) fn joined_entry(w: &PendingWindow) -> String {
    format!(
        "{}#{:013}#{:013}",
        w.workspace_id.endpoint(),
        w.end_ms,
        w.start_ms
    )
}

/// Where the messages of a window of another endpoint are: for each hour of arrivals it
/// spans, the arrival-index partition and the sort-key range (inclusive) of its chat.
pub(super) fn arrival_ranges(w: &PendingWindow) -> Vec<(String, String, String)> {
    let hour = keys::ARRIVAL_HOUR_MS;
    let tenant = w.workspace_id.tenant();
    let tag = keys::chat_tag(&tenant, &w.chat_id);
    let mut ranges = Vec::new();
    let mut at = w.start_ms.div_euclid(hour) * hour;
    while at < w.end_ms {
        let (from, to) = (w.start_ms.max(at), w.end_ms.min(at + hour) - 1);
        ranges.push((
            keys::arrival_pk(&tenant, &w.chat_id, at),
            format!("{tag}#{from:013}#"),
            format!("{tag}#{to:013}#~"),
        ));
        at += hour;
    }
    ranges
}

/// Its due-index shard: its tenant's chat's, which is also the shard of the chat's
/// `window` bucket (default) or `arrival` partition (other endpoints).
pub(super) fn due_pk(w: &PendingWindow) -> String {
    keys::due_shard(&w.workspace_id.tenant(), &w.chat_id)
}

/// Due time, then the same order as the messages' bucket (start, chat tag) — for another
/// endpoint's window, the tenant's chat tag, the order of the `arrival` partition: a page
/// of windows due together is one contiguous range of their bucket or partition. The start
/// orders two windows of one chat ending together (after a granularity change).
pub(super) fn due_sk(w: &PendingWindow, due_ms: i64) -> String {
    let tenant = w.workspace_id.tenant();
    let prefix = keys::window_member_prefix(w.start_ms, &tenant, &w.chat_id);
    format!("{due_ms:013}#{prefix}")
}

/// The item that opens a window, due at its end. Written only when a read found it
/// missing, so an open window, its claim or its parking is never overwritten.
pub(super) fn opening_item(w: &PendingWindow) -> StoreResult<Item> {
    let (pk, sk) = window_key(w);
    let mut item: Item = serde_dynamo::to_item(w)?;
    item.insert("pk".into(), s(pk));
    item.insert("sk".into(), s(sk));
    item.insert("due_pk".into(), s(due_pk(w)));
    item.insert("due_sk".into(), s(due_sk(w, w.end_ms)));
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Aggregation, ChatId, EndpointId, Timestamp, Window, WorkspaceId};

    #[test]
    fn another_endpoints_window_spans_exactly_its_arrivals_in_the_tenants_chat() {
        let ws = WorkspaceId::new_unchecked("ws_a");
        let scope = ws.endpoint_scope(&EndpointId::new_unchecked("ep_b"));
        let chat = ChatId::new_unchecked("c#1");
        let at = Timestamp::parse("2026-03-01T10:05:00Z").unwrap();
        let span = Window::containing(at, Aggregation::Hours1).unwrap();
        let w = PendingWindow::new(&scope, &chat, Aggregation::Hours1, span);
        assert!(of_other_endpoint(&w));
        let ranges = arrival_ranges(&w);
        assert_eq!(ranges.len(), 1, "an hour's window: one partition");
        let (pk, from, to) = ranges[0].clone();
        assert_eq!(pk, keys::arrival_pk(&ws, &chat, w.start_ms), "the tenant's");
        let arrival = |ms: i64| keys::arrival_sk(&ws, &chat, ms, 0, "m");
        let inside = |sk: String| sk >= from && sk <= to;
        assert!(inside(arrival(w.start_ms)));
        assert!(inside(arrival(w.end_ms - 1)));
        assert!(!inside(arrival(w.start_ms - 1)));
        assert!(!inside(arrival(w.end_ms)));
        let other_chat = keys::arrival_sk(&ws, &ChatId::new_unchecked("c2"), w.start_ms, 0, "m");
        assert!(!inside(other_chat), "another chat of the partition");
        // The window 06:00–12:00 starting at 10:20 (a switch back from `none`): two
        // partitions, the first from 10:20, the last to just before 12:00.
        let six = Window::containing(at, Aggregation::Hours6).unwrap();
        let mut w6 = PendingWindow::new(&scope, &chat, Aggregation::Hours6, six);
        w6.start_ms += 20 * 60_000 + 4 * 3_600_000;
        let ranges = arrival_ranges(&w6);
        assert_eq!(ranges.len(), 2, "{ranges:?}");
        assert!(ranges[0].1.ends_with(&format!("#{:013}#", w6.start_ms)));
        assert!(ranges[1].2.ends_with(&format!("#{:013}#~", w6.end_ms - 1)));
        // In the due index by the tenant's chat, as the default's window of that chat:
        // windows due together sort as the arrival partition does.
        let default = PendingWindow::new(&ws, &chat, Aggregation::Hours1, span);
        assert_eq!(due_pk(&w), due_pk(&default));
        assert_eq!(due_sk(&w, w.end_ms), due_sk(&default, w.end_ms));
        assert!(pk.ends_with(&format!("#{}", keys::chat_shard(&ws, &chat))));
        assert_eq!(
            joined_entry(&w),
            format!("ep_b#{:013}#{:013}", w.end_ms, w.start_ms)
        );
    }
}

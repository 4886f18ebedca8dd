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

/// Due time, then the same order as the messages' bucket (start, chat tag): a page of
/// windows due together is one contiguous range of their bucket. The start orders two
/// windows of one chat ending together (after a granularity change).
pub(super) fn due_sk(w: &PendingWindow, due_ms: i64) -> String {
    format!("{due_ms:013}#{}", member_prefix(w))
}

/// The item that opens a window, due at its end. Written only when a read found it
/// missing, so an open window, its claim or its parking is never overwritten.
pub(super) fn opening_item(w: &PendingWindow) -> StoreResult<Item> {
    let (pk, sk) = window_key(w);
    let mut item: Item = serde_dynamo::to_item(w)?;
    item.insert("pk".into(), s(pk));
    item.insert("sk".into(), s(sk));
    item.insert(
        "due_pk".into(),
        s(keys::due_shard(&w.workspace_id, &w.chat_id)),
    );
    item.insert("due_sk".into(), s(due_sk(w, w.end_ms)));
    Ok(item)
}

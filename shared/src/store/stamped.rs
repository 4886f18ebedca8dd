//! Time-ordered entries kept several to an item (a sender batch's requests or actions):
//! DynamoDB bills a write unit per started KB of each item, so one packed item for a batch
//! costs a fraction of one item per entry. An item's sort key carries its newest entry's
//! time, so any entry newer than an item's is in a newer item, and the newest `n` items
//! hold the newest `n` entries. Items written one entry each (before issue 18) still read.

use super::packed_json::packed;
use super::{json_attribute, keys, n, s, Item, StoreResult};
use crate::domain::{RequestId, WorkspaceId};

/// An entry with its time in milliseconds (entries show their time to the second), so
/// entries of interleaved batches sort as exactly as single items' sort keys did.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Stamped<T> {
    pub(super) ms: i64,
    pub(super) entry: T,
}

/// Where a stamped item goes and how long it lives.
pub(super) struct StampedItem<'a> {
    pub(super) ws: &'a WorkspaceId,
    /// Sort-key prefix (`LOG#`, `ACT#`).
    pub(super) prefix: &'a str,
    /// The item's own id: it picks the spread partition and ends the sort key.
    pub(super) id: &'a RequestId,
    /// Unix seconds after which DynamoDB's TTL removes it.
    pub(super) expires_at: i64,
}

/// The newest time among `entries`.
pub(super) fn newest<T>(entries: &[Stamped<T>]) -> i64 {
    entries.iter().map(|e| e.ms).max().unwrap_or_default()
}

/// The key of item `id` under `prefix` whose newest entry is at `newest` ms.
pub(super) fn key(ws: &WorkspaceId, prefix: &str, id: &RequestId, newest: i64) -> (String, String) {
    let id = id.as_str();
    (keys::spread_pk(ws, id), keys::timed(prefix, newest, id))
}

impl StampedItem<'_> {
    /// The entries (at least one) as an item, at the newest entry's time.
    pub(super) fn item<T: serde::Serialize>(&self, entries: &[Stamped<T>]) -> StoreResult<Item> {
        let (pk, sk) = key(self.ws, self.prefix, self.id, newest(entries));
        Ok(Item::from([
            ("pk".to_string(), s(pk)),
            ("sk".to_string(), s(sk)),
            ("entries".to_string(), packed(&entries)?),
            ("expires_at".to_string(), n(self.expires_at)),
        ]))
    }
}

/// The stamped entries of one item: packed (`entries`), or one entry written before
/// issue 18 (`entry`, plain or packed), timed by its sort key.
pub(super) fn entries_of<T: serde::de::DeserializeOwned>(
    item: &Item,
    prefix: &str,
) -> StoreResult<Vec<Stamped<T>>> {
    if item.contains_key("entries") {
        return json_attribute(item, "entries");
    }
    let sk = item.get("sk").and_then(|v| v.as_s().ok());
    let ms = sk
        .and_then(|sk| keys::timed_millis(prefix, sk))
        .unwrap_or_default();
    Ok(vec![Stamped {
        ms,
        entry: json_attribute(item, "entry")?,
    }])
}

/// The newest `limit` entries of items read newest first, newest first (stable: a batch's
/// entries keep their order among equal times).
pub(super) fn newest_entries<T: serde::de::DeserializeOwned>(
    items: &[Item],
    prefix: &str,
    limit: usize,
) -> StoreResult<Vec<T>> {
    let mut entries: Vec<Stamped<T>> = Vec::new();
    for item in items {
        entries.extend(entries_of(item, prefix)?);
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.ms));
    entries.truncate(limit);
    Ok(entries.into_iter().map(|e| e.entry).collect())
}

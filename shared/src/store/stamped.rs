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

/// The time of an item: its newest entry's, from its sort key.
fn item_millis(item: &Item, prefix: &str) -> i64 {
    let sk = item.get("sk").and_then(|v| v.as_s().ok());
    sk.and_then(|sk| keys::timed_millis(prefix, sk))
        .unwrap_or_default()
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
    Ok(vec![Stamped {
        ms: item_millis(item, prefix),
        entry: json_attribute(item, "entry")?,
    }])
}

/// How many of the newest entries to return: at most `limit`, and no more than fit
/// `max_bytes` by `bytes_of` (the first always).
pub(super) struct Newest<F> {
    pub(super) limit: usize,
    pub(super) max_bytes: usize,
    pub(super) bytes_of: F,
}

impl<F> Newest<F> {
    /// The newest entries of `items` (read newest first), newest first; stable, so a
    /// batch's entries keep their order among equal times. Items are unpacked only until
    /// the answer is settled: entries newer than the next item's time are final.
    pub(super) fn of<T>(&self, items: &[Item], prefix: &str) -> StoreResult<Vec<T>>
    where
        T: serde::de::DeserializeOwned,
        F: Fn(&T) -> usize,
    {
        let mut entries: Vec<(Stamped<T>, usize)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let unpacked = entries_of::<T>(item, prefix)?;
            entries.extend(unpacked.into_iter().map(|e| {
                let bytes = (self.bytes_of)(&e.entry);
                (e, bytes)
            }));
            entries.sort_by_key(|(e, _)| std::cmp::Reverse(e.ms));
            entries.truncate(self.limit);
            let Some(next) = items.get(i + 1).map(|next| item_millis(next, prefix)) else {
                break;
            };
            let (mut count, mut bytes) = (0, 0);
            for (_, size) in entries.iter().take_while(|(e, _)| e.ms > next) {
                count += 1;
                bytes += size;
            }
            if count == self.limit || bytes > self.max_bytes {
                break;
            }
        }
        let mut bytes = 0;
        let mut out = Vec::with_capacity(entries.len());
        for (entry, size) in entries {
            bytes += size;
            if bytes > self.max_bytes && !out.is_empty() {
                break;
            }
            out.push(entry.entry);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::WorkspaceId;

    fn item(newest_first: &[(i64, &str)]) -> Item {
        let stamped: Vec<Stamped<String>> = newest_first
            .iter()
            .map(|(ms, text)| Stamped {
                ms: *ms,
                entry: text.to_string(),
            })
            .collect();
        let ws = WorkspaceId::new_unchecked("ws_a");
        let id = RequestId::generate();
        StampedItem {
            ws: &ws,
            prefix: "LOG#",
            id: &id,
            expires_at: 0,
        }
        .item(&stamped)
        .unwrap()
    }

    fn newest(limit: usize, max_bytes: usize) -> Newest<fn(&String) -> usize> {
        Newest {
            limit,
            max_bytes,
            bytes_of: String::len,
        }
    }

    #[test]
    fn the_newest_entries_come_from_interleaved_items_whole() {
        // Items newest first by their newest entry: 9 (9, 5, 1), 8 (8, 7), 6 (6, 2).
        let items = [
            item(&[(9, "i"), (5, "e"), (1, "a")]),
            item(&[(8, "h"), (7, "g")]),
            item(&[(6, "f"), (2, "b")]),
        ];
        let four: Vec<String> = newest(4, usize::MAX).of(&items, "LOG#").unwrap();
        assert_eq!(four, ["i", "h", "g", "f"]);
        let all: Vec<String> = newest(100, usize::MAX).of(&items, "LOG#").unwrap();
        assert_eq!(all, ["i", "h", "g", "f", "e", "b", "a"]);
    }

    #[test]
    fn unpacking_stops_once_the_answer_is_settled() {
        // The third item cannot be read: were it unpacked, the call would fail.
        let broken = Item::from([
            ("sk".to_string(), s("LOG#0000000000003#x")),
            ("entries".to_string(), s("not packed JSON")),
        ]);
        let items = [item(&[(9, "i"), (8, "h")]), item(&[(7, "g")]), broken];
        let two: Vec<String> = newest(2, usize::MAX).of(&items, "LOG#").unwrap();
        assert_eq!(two, ["i", "h"]);
        // Past the byte budget: the newest that fit (always the first).
        let cut: Vec<String> = newest(100, 1).of(&items, "LOG#").unwrap();
        assert_eq!(cut, ["i"]);
        assert!(newest(100, usize::MAX)
            .of::<String>(&items, "LOG#")
            .is_err());
    }
}

//! The detailed log: the 100 most recent delivery attempts of a workspace. A sender
//! batch's attempts share an item (`stamped.rs`), and each attempt's id names its item and
//! its place in it, so one GetItem finds any of them.

use super::stamped::{entries_of, key, newest, Newest, Stamped, StampedItem};
use super::{keys, s, Item, Store, StoreError, StoreResult};
use crate::domain::{ActivityEntry, Attempt, RequestId, WorkspaceId, MAX_LOG_ENTRY_BYTES};

/// Entries shown in the log.
pub const LOG_LIMIT: usize = 100;
/// The log download's entries stop short of this many bytes (Lambda's answer limit is
/// 6 MB, and the JSON escapes add a little).
pub const LOG_DOWNLOAD_BYTES: usize = 4 * 1024 * 1024;
/// Older entries are removed by TTL after this many days.
pub const LOG_RETENTION_DAYS: i64 = 7;
/// Attempts packed into one item hold at most this much JSON between them (an entry is
/// capped at as much, and an item at 400 KB: the `{ms, entry}` wrapper and the longer id
/// add about 33 bytes an entry, deflate almost nothing even to incompressible bytes).
const LOG_ITEM_BYTES: usize = MAX_LOG_ENTRY_BYTES;
/// At most this many attempts share an item (entry numbers 0–99; ids allow three digits).
const LOG_ITEM_ENTRIES: usize = 100;

impl Store {
    /// The attempts as items of their workspace's log, each within the item limit; each
    /// attempt's id is set to the one that finds it (its item's, and its place there).
    fn log_items(&self, ws: &WorkspaceId, attempts: &mut [Attempt]) -> StoreResult<Vec<Item>> {
        let expires_at = self.expires_in_days(LOG_RETENTION_DAYS);
        let mut rest: Vec<Stamped<Attempt>> = attempts
            .iter()
            .map(|a| Stamped {
                ms: a.time.millis(),
                entry: a.clone().capped(MAX_LOG_ENTRY_BYTES),
            })
            .collect();
        let mut items = Vec::new();
        let mut placed = attempts.iter_mut();
        while !rest.is_empty() {
            let fits = fitting(&rest).min(LOG_ITEM_ENTRIES);
            let mut chunk: Vec<Stamped<Attempt>> = rest.drain(..fits).collect();
            let id = RequestId::at(newest(&chunk));
            for (n, (stored, attempt)) in chunk.iter_mut().zip(placed.by_ref()).enumerate() {
                stored.entry.request_id = id.entry(n);
                attempt.request_id = id.entry(n);
            }
            let item = StampedItem {
                ws,
                prefix: keys::LOG_PREFIX,
                id: &id,
                expires_at,
            };
            items.push(item.item(&chunk)?);
        }
        Ok(items)
    }

    /// Records a batch's attempts and activity entries (BatchWriteItem, 25 items at a
    /// time); each attempt's `request_id` becomes the id it is found by in the log.
    pub async fn record_attempts(
        &self,
        ws: &WorkspaceId,
        attempts: &mut [Attempt],
        activity: &[ActivityEntry],
    ) -> StoreResult<()> {
        let mut items = self.log_items(ws, attempts)?;
        // The batch's activity in one item: a write unit for the batch, not one per attempt.
        if !activity.is_empty() {
            items.push(self.activity_item(ws, activity)?);
        }
        self.batch_put(items).await
    }

    /// The most recent requests, newest first: 100, or as many as fit the answer (a
    /// Lambda answers at most 6 MB; log entries are capped at 350 KB each).
    pub async fn recent_requests(&self, ws: &WorkspaceId) -> StoreResult<Vec<Attempt>> {
        let items = self.newest_across(ws, keys::LOG_PREFIX, LOG_LIMIT).await?;
        let newest = Newest {
            limit: LOG_LIMIT,
            max_bytes: LOG_DOWNLOAD_BYTES,
            bytes_of: Attempt::json_bytes,
        };
        newest.of(&items, keys::LOG_PREFIX)
    }

    /// One logged request, found by its id (`None` when unknown or expired); `millis` is
    /// the instant the id carries.
    pub async fn logged_request(
        &self,
        ws: &WorkspaceId,
        id: &RequestId,
        millis: i64,
    ) -> StoreResult<Option<Attempt>> {
        let (pk, sk) = key(ws, keys::LOG_PREFIX, &id.item(), millis);
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let entries: Vec<Stamped<Attempt>> = entries_of(&item, keys::LOG_PREFIX)?;
        Ok(entries
            .into_iter()
            .map(|e| e.entry)
            .find(|a| a.request_id == *id))
    }

    /// The newest `limit` items under `prefix` over every spread partition. Each
    /// partition is read newest first, page by page (1 MB each), for as long as it may
    /// still hold one of the newest `limit` overall.
    pub(super) async fn newest_across(
        &self,
        ws: &WorkspaceId,
        prefix: &str,
        limit: usize,
    ) -> StoreResult<Vec<Item>> {
        let mut parts: Vec<Partition> = keys::spread_pks(ws).map(Partition::new).collect();
        let mut items: Vec<Item> = Vec::new();
        loop {
            let cutoff = (items.len() >= limit).then(|| sort_key(&items[limit - 1]));
            let wanted = parts
                .iter_mut()
                .filter(|p| p.may_hold_newer(cutoff.as_deref()));
            let pages = wanted.map(|p| async move {
                let page = self
                    .newest_page(&p.pk, prefix, limit, p.start.clone())
                    .await;
                (p, page)
            });
            let read = futures::future::join_all(pages).await;
            if read.is_empty() {
                return Ok(items);
            }
            for (part, page) in read {
                let (page, next) = page?;
                part.read(&page, next);
                items.extend(page);
            }
            items.sort_by_key(|item| std::cmp::Reverse(sort_key(item)));
            items.truncate(limit);
        }
    }

    /// One page of a partition's items under `prefix`, newest first.
    async fn newest_page(
        &self,
        pk: &str,
        prefix: &str,
        limit: usize,
        start: Option<Item>,
    ) -> StoreResult<(Vec<Item>, Option<Item>)> {
        let out = (self.partition_prefix_query(pk, prefix))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }
}

/// How many of `attempts` (at least one) go into one item: as many as fit its bytes.
fn fitting(attempts: &[Stamped<Attempt>]) -> usize {
    let mut bytes = 0;
    let fits = attempts.iter().take_while(|a| {
        bytes += a.entry.json_bytes();
        bytes <= LOG_ITEM_BYTES
    });
    fits.count().max(1)
}

/// Where the reading of one spread partition stands.
struct Partition {
    pk: String,
    /// Where its next page starts (`None`: the first page).
    start: Option<Item>,
    /// The oldest sort key read so far (`None`: nothing read yet).
    oldest: Option<String>,
    /// Read to its end.
    done: bool,
}

impl Partition {
    fn new(pk: String) -> Self {
        Self {
            pk,
            start: None,
            oldest: None,
            done: false,
        }
    }

    /// Whether a further page could hold an item newer than `cutoff` (the oldest of the
    /// newest found so far, when there are enough).
    fn may_hold_newer(&self, cutoff: Option<&str>) -> bool {
        let unread = self.oldest.is_none();
        !self.done && (unread || cutoff.is_none_or(|c| self.oldest.as_deref() > Some(c)))
    }

    fn read(&mut self, page: &[Item], next: Option<Item>) {
        if let Some(last) = page.last() {
            self.oldest = Some(sort_key(last));
        }
        self.done = next.is_none();
        self.start = next;
    }
}

fn sort_key(item: &Item) -> String {
    item.get("sk")
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(sk: &str) -> Item {
        Item::from([("sk".to_string(), s(sk))])
    }

    #[test]
    fn a_partition_is_read_further_only_while_it_may_hold_one_of_the_newest() {
        let mut p = Partition::new("WS#ws_a#03".into());
        assert!(p.may_hold_newer(Some("LOG#9")), "never read: read it");
        // A first page that stopped at its 1 MB limit, oldest item LOG#5.
        p.read(&[item("LOG#7"), item("LOG#5")], Some(item("LOG#5")));
        assert!(p.may_hold_newer(None), "too few found overall: read on");
        assert!(
            p.may_hold_newer(Some("LOG#4")),
            "its next page may be newer than the cutoff"
        );
        assert!(
            !p.may_hold_newer(Some("LOG#5")),
            "nothing after LOG#5 can be newer"
        );
        assert!(!p.may_hold_newer(Some("LOG#6")));
        // Its last page: done whatever the cutoff.
        p.read(&[item("LOG#3")], None);
        assert!(!p.may_hold_newer(None));
    }
}

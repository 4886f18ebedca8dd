//! The detailed log: the 100 most recent delivery attempts of a workspace, one item each.

use super::packed_json::{json_text, packed};
use super::{json_attribute, keys, n, s, Item, Store, StoreError, StoreResult};
use crate::domain::{ActivityEntry, Attempt, RequestId, WorkspaceId, MAX_LOG_ENTRY_BYTES};

/// Entries shown in the log.
pub const LOG_LIMIT: usize = 100;
/// The log download's entries stop short of this many bytes (Lambda's answer limit is
/// 6 MB, and the JSON escapes add a little).
pub const LOG_DOWNLOAD_BYTES: usize = 4 * 1024 * 1024;
/// Older entries are removed by TTL after this many days.
pub const LOG_RETENTION_DAYS: i64 = 7;

impl Store {
    /// The attempt as a table item in its workspace's partition, within the item limit.
    fn attempt_item(&self, ws: &WorkspaceId, attempt: &Attempt) -> StoreResult<Item> {
        let attempt = attempt.clone().capped(MAX_LOG_ENTRY_BYTES);
        Ok(Item::from([
            (
                "pk".to_string(),
                s(keys::spread_pk(ws, attempt.request_id.as_str())),
            ),
            (
                "sk".to_string(),
                s(keys::timed(
                    keys::LOG_PREFIX,
                    attempt.time.millis(),
                    attempt.request_id.as_str(),
                )),
            ),
            ("entry".to_string(), packed(&attempt)?),
            (
                "expires_at".to_string(),
                n(self.expires_in_days(LOG_RETENTION_DAYS)),
            ),
        ]))
    }

    /// Records a batch's attempts and activity entries (BatchWriteItem, 25 at a time).
    pub async fn record_attempts(
        &self,
        ws: &WorkspaceId,
        attempts: &[Attempt],
        activity: &[ActivityEntry],
    ) -> StoreResult<()> {
        let mut items = Vec::with_capacity(attempts.len() + activity.len());
        for attempt in attempts {
            items.push(self.attempt_item(ws, attempt)?);
        }
        // The batch's activity in one item: a write unit for the batch, not one per attempt.
        if !activity.is_empty() {
            items.push(self.activity_item(ws, activity)?);
        }
        self.batch_put(items).await
    }

    /// The most recent requests, newest first: 100, or as many as fit the answer (a
    /// Lambda answers at most 6 MB; log entries are capped at 350 KB each).
    pub async fn recent_requests(&self, ws: &WorkspaceId) -> StoreResult<Vec<Attempt>> {
        self.recent_json(ws, keys::LOG_PREFIX, (LOG_LIMIT, LOG_DOWNLOAD_BYTES))
            .await
    }

    /// One logged request, found by its id (`None` when unknown or expired).
    pub async fn logged_request(
        &self,
        ws: &WorkspaceId,
        id: &RequestId,
        millis: i64,
    ) -> StoreResult<Option<Attempt>> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::spread_pk(ws, id.as_str())))
            .key("sk", s(keys::timed(keys::LOG_PREFIX, millis, id.as_str())))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item
            .map(|item| json_attribute(&item, "entry"))
            .transpose()
    }

    /// Newest-first JSON documents stored under a time-ordered prefix across the
    /// workspace's spread partitions: the newest `limit`, as many as fit `max_bytes`.
    async fn recent_json<T: serde::de::DeserializeOwned>(
        &self,
        ws: &WorkspaceId,
        prefix: &str,
        (limit, max_bytes): (usize, usize),
    ) -> StoreResult<Vec<T>> {
        let items = self.newest_across(ws, prefix, limit).await?;
        let mut bytes = 0;
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            let text = json_text(item, "entry")?;
            bytes += text.len();
            if bytes > max_bytes && !out.is_empty() {
                break;
            }
            out.push(serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))?);
        }
        Ok(out)
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
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }
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

//! The detailed log: the 100 most recent delivery attempts of a workspace, one item each.

use super::{json_attribute, keys, n, s, Item, Store, StoreError, StoreResult};
use crate::domain::{ActivityEntry, Attempt, RequestId, WorkspaceId, MAX_LOG_ENTRY_BYTES};

/// Entries shown in the log.
pub const LOG_LIMIT: i32 = 100;
/// Older entries are removed by TTL after this many days.
pub const LOG_RETENTION_DAYS: i64 = 7;

impl Store {
    /// The attempt as a table item in its workspace's partition, within the item limit.
    fn attempt_item(&self, ws: &WorkspaceId, attempt: &Attempt) -> StoreResult<Item> {
        let attempt = attempt.clone().capped(MAX_LOG_ENTRY_BYTES);
        let json =
            serde_json::to_string(&attempt).map_err(|e| StoreError::Corrupt(e.to_string()))?;
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
            ("entry".to_string(), s(json)),
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
        for entry in activity {
            items.push(self.activity_item(ws, entry)?);
        }
        self.batch_put(items).await
    }

    /// The most recent requests, newest first.
    pub async fn recent_requests(&self, ws: &WorkspaceId) -> StoreResult<Vec<Attempt>> {
        self.recent_json(ws, keys::LOG_PREFIX, LOG_LIMIT).await
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

    /// Newest-first JSON documents stored under a time-ordered prefix, across the
    /// workspace's spread partitions: each partition's newest `limit`, merged.
    pub(super) async fn recent_json<T: serde::de::DeserializeOwned>(
        &self,
        ws: &WorkspaceId,
        prefix: &str,
        limit: i32,
    ) -> StoreResult<Vec<T>> {
        let queries = keys::spread_pks(ws).map(|pk| async move {
            self.db
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":prefix", s(prefix))
                .scan_index_forward(false)
                .limit(limit)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))
        });
        let mut items: Vec<Item> = Vec::new();
        for out in futures::future::join_all(queries).await {
            items.extend(out?.items.unwrap_or_default());
        }
        let sort_key = |item: &Item| item.get("sk").and_then(|v| v.as_s().ok()).cloned();
        items.sort_by_key(|item| std::cmp::Reverse(sort_key(item)));
        items.truncate(usize::try_from(limit).unwrap_or_default());
        items
            .iter()
            .map(|item| json_attribute(item, "entry"))
            .collect()
    }
}

//! Activity entries as items, newest read first, expiring after 30 days: one item holds an
//! action, or a sender batch's actions (packed, `stamped.rs`: one write unit for the batch
//! instead of one per attempt).

use super::stamped::{Newest, Stamped, StampedItem};
use super::{keys, Item, Store, StoreError, StoreResult};
use crate::domain::{ActivityEntry, RequestId, WorkspaceId, ACTIVITY_LIMIT};

const ACTIVITY_RETENTION_DAYS: i64 = 30;

impl Store {
    /// The entries (at least one) as a table item in its workspace's partition, at the
    /// newest entry's time.
    pub(super) fn activity_item(
        &self,
        ws: &WorkspaceId,
        entries: &[ActivityEntry],
    ) -> StoreResult<Item> {
        let stamped: Vec<Stamped<&ActivityEntry>> = entries
            .iter()
            .map(|entry| Stamped {
                ms: entry.time.millis(),
                entry,
            })
            .collect();
        let id = RequestId::generate();
        StampedItem {
            ws,
            prefix: keys::ACTIVITY_PREFIX,
            id: &id,
            expires_at: self.expires_in_days(ACTIVITY_RETENTION_DAYS),
        }
        .item(&stamped)
    }

    /// Records one action.
    pub async fn record_activity(
        &self,
        ws: &WorkspaceId,
        entry: &ActivityEntry,
    ) -> StoreResult<()> {
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.activity_item(ws, std::slice::from_ref(entry))?))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))?;
        Ok(())
    }

    /// The most recent actions, newest first.
    pub async fn recent_activity(&self, ws: &WorkspaceId) -> StoreResult<Vec<ActivityEntry>> {
        let items = self
            .newest_across(ws, keys::ACTIVITY_PREFIX, ACTIVITY_LIMIT)
            .await?;
        let newest = Newest {
            limit: ACTIVITY_LIMIT,
            max_bytes: usize::MAX,
            bytes_of: |_: &ActivityEntry| 0,
        };
        newest.of(&items, keys::ACTIVITY_PREFIX)
    }
}

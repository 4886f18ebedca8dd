//! Activity entries as items: one per action, newest read first, expiring after 30 days.

use super::{keys, n, s, Item, Store, StoreError, StoreResult};
use crate::domain::{ActivityEntry, RequestId, WorkspaceId, ACTIVITY_LIMIT};

const ACTIVITY_RETENTION_DAYS: i64 = 30;

impl Store {
    /// The entry as a table item in its workspace's partition.
    pub(super) fn activity_item(
        &self,
        ws: &WorkspaceId,
        entry: &ActivityEntry,
    ) -> StoreResult<Item> {
        let json = serde_json::to_string(entry).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let unique = RequestId::generate();
        Ok(Item::from([
            ("pk".to_string(), s(keys::spread_pk(ws, unique.as_str()))),
            (
                "sk".to_string(),
                s(keys::timed(
                    keys::ACTIVITY_PREFIX,
                    entry.time.millis(),
                    unique.as_str(),
                )),
            ),
            ("entry".to_string(), s(json)),
            (
                "expires_at".to_string(),
                n(self.expires_in_days(ACTIVITY_RETENTION_DAYS)),
            ),
        ]))
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
            .set_item(Some(self.activity_item(ws, entry)?))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))?;
        Ok(())
    }

    /// The most recent actions, newest first.
    pub async fn recent_activity(&self, ws: &WorkspaceId) -> StoreResult<Vec<ActivityEntry>> {
        self.recent_json(ws, keys::ACTIVITY_PREFIX, (ACTIVITY_LIMIT, usize::MAX))
            .await
    }
}

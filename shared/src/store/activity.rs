//! The activity log: the 10 most recent actions on a webhook, shown with its settings.

use super::{expires_in_days, keys, n, s, Item, Store, StoreError, StoreResult};
use crate::domain::{RequestId, Timestamp, WorkspaceId};
use serde::{Deserialize, Serialize};

/// Entries shown with the settings.
pub const ACTIVITY_LIMIT: i32 = 10;
const ACTIVITY_RETENTION_DAYS: i64 = 30;

/// One action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityEntry {
    /// When it happened.
    pub time: Timestamp,
    /// What happened: `delivered`, `delivery_failed`, `disabled`, `enabled`, `settings_updated`.
    pub action: String,
    /// A sentence for people.
    pub detail: String,
}

impl ActivityEntry {
    /// A new entry, now.
    pub fn now(action: &str, detail: impl Into<String>) -> Self {
        Self::at(Timestamp::now(), action, detail)
    }

    /// An entry for something that happened at `time`.
    pub fn at(time: Timestamp, action: &str, detail: impl Into<String>) -> Self {
        Self {
            time,
            action: action.into(),
            detail: detail.into(),
        }
    }

    /// The entry as a table item in its workspace's partition.
    pub fn to_item(&self, ws: &WorkspaceId) -> StoreResult<Item> {
        let json = serde_json::to_string(self).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let unique = RequestId::generate();
        Ok(Item::from([
            ("pk".to_string(), s(keys::workspace_pk(ws))),
            (
                "sk".to_string(),
                s(keys::timed(
                    keys::ACTIVITY_PREFIX,
                    self.time.millis(),
                    unique.as_str(),
                )),
            ),
            ("entry".to_string(), s(json)),
            (
                "expires_at".to_string(),
                n(expires_in_days(ACTIVITY_RETENTION_DAYS)),
            ),
        ]))
    }
}

impl Store {
    /// Records one action.
    pub async fn record_activity(
        &self,
        ws: &WorkspaceId,
        entry: &ActivityEntry,
    ) -> StoreResult<()> {
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(entry.to_item(ws)?))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))?;
        Ok(())
    }

    /// The most recent actions, newest first.
    pub async fn recent_activity(&self, ws: &WorkspaceId) -> StoreResult<Vec<ActivityEntry>> {
        self.recent_json(ws, keys::ACTIVITY_PREFIX, ACTIVITY_LIMIT)
            .await
    }
}

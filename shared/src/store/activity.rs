//! Activity entries as items, newest read first, expiring after 30 days: one item holds an
//! action, or a sender batch's actions (packed; one write unit for the batch instead of one
//! per attempt). Items written before hold one entry as a plain string, and still read.

use super::packed_json::packed;
use super::{json_attribute, keys, n, s, Item, Store, StoreError, StoreResult};
use crate::domain::{ActivityEntry, RequestId, WorkspaceId, ACTIVITY_LIMIT};

const ACTIVITY_RETENTION_DAYS: i64 = 30;

/// An entry with its time in milliseconds (the entry's own time is shown to the second),
/// so entries of interleaved batches sort as exactly as single items' sort keys did.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stamped {
    ms: i64,
    entry: ActivityEntry,
}

/// The time in milliseconds of an item written before issue 18, from its sort key.
fn sort_key_millis(item: &Item) -> i64 {
    let sk = item.get("sk").and_then(|v| v.as_s().ok());
    sk.and_then(|sk| keys::timed_millis(keys::ACTIVITY_PREFIX, sk))
        .unwrap_or_default()
}

impl Store {
    /// The entries (at least one) as a table item in its workspace's partition, at the
    /// newest entry's time: any entry newer than an item's is in a newer item.
    pub(super) fn activity_item(
        &self,
        ws: &WorkspaceId,
        entries: &[ActivityEntry],
    ) -> StoreResult<Item> {
        let stamped: Vec<Stamped> = entries
            .iter()
            .map(|entry| Stamped {
                ms: entry.time.millis(),
                entry: entry.clone(),
            })
            .collect();
        let newest = stamped.iter().map(|e| e.ms).max().unwrap_or_default();
        let unique = RequestId::generate();
        Ok(Item::from([
            ("pk".to_string(), s(keys::spread_pk(ws, unique.as_str()))),
            (
                "sk".to_string(),
                s(keys::timed(keys::ACTIVITY_PREFIX, newest, unique.as_str())),
            ),
            ("entries".to_string(), packed(&stamped)?),
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
            .set_item(Some(self.activity_item(ws, std::slice::from_ref(entry))?))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))?;
        Ok(())
    }

    /// The most recent actions, newest first: the newest items hold them (each holds at
    /// least one, none newer than its own time).
    pub async fn recent_activity(&self, ws: &WorkspaceId) -> StoreResult<Vec<ActivityEntry>> {
        let items = self
            .newest_across(ws, keys::ACTIVITY_PREFIX, ACTIVITY_LIMIT)
            .await?;
        let mut entries: Vec<Stamped> = Vec::new();
        for item in &items {
            if item.contains_key("entries") {
                entries.extend(json_attribute::<Vec<Stamped>>(item, "entries")?);
            } else {
                let entry = json_attribute(item, "entry")?;
                let ms = sort_key_millis(item);
                entries.push(Stamped { ms, entry });
            }
        }
        // Newest first; stable, so a batch's entries keep their order among equal times.
        entries.sort_by_key(|e| std::cmp::Reverse(e.ms));
        entries.truncate(ACTIVITY_LIMIT);
        Ok(entries.into_iter().map(|e| e.entry).collect())
    }
}

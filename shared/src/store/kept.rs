//! Kept deliveries as items: held while the webhook is off, dead letters that used up
//! every attempt (the workspace's own view of the shared DLQ, re-sent by replay). Sorted
//! by creation, then position in their request, so re-sending keeps the order.

use super::batch::Key;
use super::{json_attribute, keys, n, s, Item, Store, StoreError, StoreResult};
use crate::domain::{DeadLetter, DeliveryEnvelope, Kept, WorkspaceId, MAX_KEY_MILLIS};

/// Dead letters are kept as long as SQS keeps the DLQ's copy (14 days).
pub const DEAD_LETTER_RETENTION_DAYS: i64 = 14;

/// Where one kept delivery is stored, to forget it once it is back on the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptKey {
    ws: WorkspaceId,
    sort_key: String,
}

/// A kept delivery read back, with where it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptDelivery {
    /// Where it is stored.
    pub key: KeptKey,
    /// The delivery.
    pub envelope: DeliveryEnvelope,
}

fn prefix(kind: Kept) -> &'static str {
    match kind {
        Kept::Held => keys::HELD_PREFIX,
        Kept::DeadLetter => keys::DEAD_PREFIX,
    }
}

impl Store {
    /// Keeps deliveries for later (idempotent: the key is the delivery's own).
    pub async fn hold(&self, envelopes: &[DeliveryEnvelope]) -> StoreResult<()> {
        let items = envelopes
            .iter()
            .map(|env| kept_item(Kept::Held, env))
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_put(items).await
    }

    /// Records deliveries given up after their last attempt, with what happened.
    pub async fn keep_dead_letters(&self, letters: &[DeadLetter]) -> StoreResult<()> {
        let items = letters
            .iter()
            .map(|letter| {
                let mut item = kept_item(Kept::DeadLetter, &letter.envelope)?;
                item.insert("attempts".into(), n(letter.attempts));
                item.insert("last_error".into(), s(&letter.last_error));
                item.insert("dead_at".into(), s(letter.dead_at.to_string()));
                item.insert(
                    "expires_at".into(),
                    n(self.expires_in_days(DEAD_LETTER_RETENTION_DAYS)),
                );
                Ok(item)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_put(items).await
    }

    /// A Query of the kept deliveries of `kind` created at or after `since_ms`, oldest
    /// first. Strongly consistent: a release's last pass must see a hold written just
    /// before it (the holder counts on it after reading the release as draining). The
    /// instant goes as far as the keys' 13 digits: a later one (past the year 2286) would
    /// have 14 and sort before every key, so a range from it would take them all.
    fn kept_since(
        &self,
        ws: &WorkspaceId,
        kind: Kept,
        since_ms: i64,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let since = since_ms.clamp(0, MAX_KEY_MILLIS);
        let (from, to) = (
            keys::timed(prefix(kind), since, ""),
            format!("{}~", prefix(kind)),
        );
        self.range_query(ws, &from, &to).consistent_read(true)
    }

    /// Up to `limit` kept deliveries created at or after `since_ms`, oldest first.
    pub async fn kept(
        &self,
        ws: &WorkspaceId,
        kind: Kept,
        since_ms: i64,
        limit: i32,
    ) -> StoreResult<Vec<KeptDelivery>> {
        let out = self
            .kept_since(ws, kind, since_ms)
            .limit(limit)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let sort_key = item
                    .get("sk")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .ok_or_else(|| StoreError::Corrupt("kept delivery without sk".into()))?;
                Ok(KeptDelivery {
                    key: KeptKey {
                        ws: ws.clone(),
                        sort_key,
                    },
                    envelope: json_attribute(&item, "envelope")?,
                })
            })
            .collect()
    }

    /// How many kept deliveries of `kind` were created at or after `since_ms`, reading at
    /// most `max_pages` pages (1 MB each); with whether that is all of them.
    pub async fn count_kept(
        &self,
        ws: &WorkspaceId,
        kind: Kept,
        since_ms: i64,
        max_pages: usize,
    ) -> StoreResult<(usize, bool)> {
        let (mut count, mut start) = (0, None);
        for _ in 0..max_pages {
            let out = self
                .kept_since(ws, kind, since_ms)
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            count += usize::try_from(out.count).unwrap_or_default();
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok((count, true));
            }
        }
        Ok((count, false))
    }

    /// Forgets kept deliveries once they are back on the queue.
    pub async fn forget_kept(&self, kept: &[KeptKey]) -> StoreResult<()> {
        let keys: Vec<Key> = kept
            .iter()
            .map(|k| (keys::workspace_pk(&k.ws), k.sort_key.clone()))
            .collect();
        Ok(self.batch_delete(&keys).await?)
    }
}

fn kept_item(kind: Kept, env: &DeliveryEnvelope) -> StoreResult<Item> {
    let json = serde_json::to_string(env).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Item::from([
        ("pk".to_string(), s(keys::workspace_pk(&env.workspace_id))),
        (
            "sk".to_string(),
            s(keys::timed(
                prefix(kind),
                env.created_at.millis(),
                &format!("{:05}#{}", env.sequence, env.delivery_id),
            )),
        ),
        ("envelope".to_string(), s(json)),
    ]))
}

//! Deliveries kept in the table instead of the queue: held while the webhook is disabled
//! or unset (released on enable), and dead letters that used up every attempt (the
//! workspace's own view of the shared DLQ, re-sent by replay).

use super::batch::Key;
use super::{expires_in_days, json_attribute, keys, n, s, Item, Store, StoreError, StoreResult};
use crate::domain::{Timestamp, WorkspaceId};
use crate::queue::DeliveryEnvelope;

/// Why a delivery is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// The webhook was disabled or unset when it came to be sent.
    Held,
    /// Every attempt of the retry schedule failed.
    DeadLetter,
}

/// Dead letters are kept as long as SQS keeps the DLQ's copy (14 days).
pub const DEAD_LETTER_RETENTION_DAYS: i64 = 14;

impl Kept {
    fn prefix(self) -> &'static str {
        match self {
            Kept::Held => keys::HELD_PREFIX,
            Kept::DeadLetter => keys::DEAD_PREFIX,
        }
    }
}

/// What a dead letter records about its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterHistory {
    /// Attempts made, all failed.
    pub attempts: u32,
    /// The last failure.
    pub last_error: String,
    /// When it was given up.
    pub dead_at: Timestamp,
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
    pub async fn keep_dead_letters(
        &self,
        letters: &[(DeliveryEnvelope, DeadLetterHistory)],
    ) -> StoreResult<()> {
        let items = letters
            .iter()
            .map(|(env, history)| {
                let mut item = kept_item(Kept::DeadLetter, env)?;
                item.insert("attempts".into(), n(history.attempts));
                item.insert("last_error".into(), s(&history.last_error));
                item.insert("dead_at".into(), s(history.dead_at.to_string()));
                item.insert(
                    "expires_at".into(),
                    n(expires_in_days(DEAD_LETTER_RETENTION_DAYS)),
                );
                Ok(item)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_put(items).await
    }

    /// Up to `limit` kept deliveries created at or after `since_ms`, oldest first, with
    /// their sort keys.
    pub async fn kept(
        &self,
        ws: &WorkspaceId,
        kind: Kept,
        since_ms: i64,
        limit: i32,
    ) -> StoreResult<Vec<(String, DeliveryEnvelope)>> {
        let out = self
            .range_query(
                ws,
                &keys::timed(kind.prefix(), since_ms.max(0), ""),
                &format!("{}~", kind.prefix()),
            )
            .limit(limit)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let sk = item
                    .get("sk")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                Ok((sk, json_attribute(&item, "envelope")?))
            })
            .collect()
    }

    /// Forgets kept deliveries once they are back on the queue.
    pub async fn forget_kept(&self, ws: &WorkspaceId, sort_keys: Vec<String>) -> StoreResult<()> {
        let pk = keys::workspace_pk(ws);
        let keys: Vec<Key> = sort_keys.into_iter().map(|sk| (pk.clone(), sk)).collect();
        self.batch_delete(&keys).await
    }
}

/// Sorted by creation, then position in its request, so re-sending keeps the order.
fn kept_item(kind: Kept, env: &DeliveryEnvelope) -> StoreResult<Item> {
    let json = serde_json::to_string(env).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Item::from([
        ("pk".to_string(), s(keys::workspace_pk(&env.workspace_id))),
        (
            "sk".to_string(),
            s(keys::timed(
                kind.prefix(),
                env.created_at.millis(),
                &format!("{:05}#{}", env.sequence, env.delivery_id),
            )),
        ),
        ("envelope".to_string(), s(json)),
    ]))
}

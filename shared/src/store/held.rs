//! Deliveries held while the webhook is disabled or unset: kept, released on enable.

use super::{keys, s, Item, Store, StoreError, StoreResult};
use crate::domain::WorkspaceId;
use crate::queue::DeliveryEnvelope;

impl Store {
    /// Keeps deliveries for later (idempotent: the key is the delivery's own).
    pub async fn hold(&self, envelopes: &[DeliveryEnvelope]) -> StoreResult<()> {
        let items = envelopes
            .iter()
            .map(|env| {
                let json =
                    serde_json::to_string(env).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(Item::from([
                    ("pk".to_string(), s(keys::workspace_pk(&env.workspace_id))),
                    (
                        "sk".to_string(),
                        s(keys::timed(
                            keys::HELD_PREFIX,
                            env.created_at.millis(),
                            &format!("{:05}#{}", env.sequence, env.delivery_id),
                        )),
                    ),
                    ("envelope".to_string(), s(json)),
                ]))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_put(items).await
    }

    /// Up to `limit` held deliveries, oldest first, with their sort keys.
    pub async fn held(
        &self,
        ws: &WorkspaceId,
        limit: i32,
    ) -> StoreResult<Vec<(String, DeliveryEnvelope)>> {
        let out = self
            .prefix_query(ws, keys::HELD_PREFIX)
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
                let env = item
                    .get("envelope")
                    .and_then(|v| v.as_s().ok())
                    .ok_or_else(|| StoreError::Corrupt("held item without envelope".into()))?;
                let env =
                    serde_json::from_str(env).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok((sk, env))
            })
            .collect()
    }

    /// Forgets held deliveries once they are back on the queue.
    pub async fn release_held(&self, ws: &WorkspaceId, sort_keys: Vec<String>) -> StoreResult<()> {
        let pk = keys::workspace_pk(ws);
        let keys = sort_keys
            .into_iter()
            .map(|sk| Item::from([("pk".to_string(), s(&pk)), ("sk".to_string(), s(sk))]))
            .collect();
        self.batch_delete(keys).await
    }
}

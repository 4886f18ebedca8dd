//! Failed attempts per delivery. SQS's receive count is not an attempt count on a FIFO
//! queue: a delivery waiting behind its chat's failed one is received (and counted) without
//! being tried. So the sender counts real failures here, with an atomic `ADD`.

use super::batch::Key;
use super::{keys, n, s, Store, StoreError, StoreResult};
use crate::domain::{DeliveryEnvelope, DeliveryId, WorkspaceId};
use aws_sdk_dynamodb::types::ReturnValue;

/// Counters outlive the whole retry schedule (≈ 28 h) with a margin.
const ATTEMPTS_TTL_DAYS: i64 = 3;

impl Store {
    /// Records one more failed attempt of `delivery`; returns how many have failed so far.
    pub async fn count_failed_attempt(
        &self,
        ws: &WorkspaceId,
        delivery: &DeliveryId,
    ) -> StoreResult<u32> {
        let (pk, sk) = keys::attempts_key(ws, delivery);
        let out = self
            .update(s(pk), s(sk))
            .update_expression("ADD failures :one SET expires_at = :expires")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires", n(self.expires_in_days(ATTEMPTS_TTL_DAYS)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        out.attributes
            .and_then(|a| a.get("failures").and_then(|v| v.as_n().ok()?.parse().ok()))
            .ok_or_else(|| StoreError::Corrupt("attempt counter without failures".into()))
    }

    /// Forgets the failed attempts of deliveries the tenant puts back on the queue after
    /// they ran out of them (a replay of dead letters, a resend): each starts its retry
    /// schedule again, rather than going back to the dead letters at its first failure.
    pub async fn forget_attempts(&self, deliveries: &[DeliveryEnvelope]) -> StoreResult<()> {
        let counters: Vec<Key> = deliveries
            .iter()
            .map(|e| keys::attempts_key(&e.workspace_id, &e.delivery_id))
            .collect();
        Ok(self.batch_delete(&counters).await?)
    }
}

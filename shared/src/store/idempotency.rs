//! Idempotency records: one item per key a workspace used in the last 24 hours
//! (`IDEM#<digest of workspace and key>`), naming the endpoint its request creates and the
//! digest of that request; gone by TTL.

use super::batch::Key;
use super::schema::TTL_ATTRIBUTE;
use super::{applied, keys, n, s, Store, StoreError, StoreResult};
use crate::domain::{EndpointId, IdempotencyKey, Timestamp, WorkspaceId, IDEMPOTENCY_SECS};

/// Sort-key prefix of idempotency records.
const IDEMPOTENCY_PREFIX: &str = "IDEM#";

/// The key of `key`'s record in `ws`.
fn record_key(ws: &WorkspaceId, key: &IdempotencyKey) -> Key {
    let sk = format!("{IDEMPOTENCY_PREFIX}{}", key.digest(ws));
    (keys::workspace_pk(ws), sk)
}

/// What a key was first used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstUse {
    /// The endpoint its request creates.
    pub endpoint: EndpointId,
    /// The digest of that request (`domain::request_digest`).
    pub request: String,
}

impl Store {
    /// Records that `key` creates `first.endpoint`, unless the workspace used the key in
    /// the last 24 hours: then what it was used for (one conditional write, and a
    /// consistent read when it was used).
    pub async fn claim_idempotency(
        &self,
        ws: &WorkspaceId,
        key: &IdempotencyKey,
        first: &FirstUse,
        now: Timestamp,
    ) -> StoreResult<Option<FirstUse>> {
        let record = record_key(ws, key);
        // A record that ends between the write and the read frees the key: claim again.
        for _ in 0..2 {
            if self.put_first_use(&record, first, now).await? {
                return Ok(None);
            }
            if let Some(used) = self.first_use(&record).await? {
                return Ok(Some(used));
            }
        }
        Err(StoreError::Corrupt(format!(
            "{} neither written nor read",
            record.1
        )))
    }

    /// Writes the record unless one stands; false when one does.
    async fn put_first_use(
        &self,
        (pk, sk): &Key,
        first: &FirstUse,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let now_secs = now.millis() / 1_000;
        let result = self
            .db
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("sk", s(sk))
            .item("endpoint", s(first.endpoint.as_str()))
            .item("request", s(&first.request))
            .item(TTL_ATTRIBUTE, n(now_secs + IDEMPOTENCY_SECS))
            // TTL removes items up to days late: an ended record is claimed again.
            .condition_expression("attribute_not_exists(pk) OR #ends <= :now")
            .expression_attribute_names("#ends", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", n(now_secs))
            .send()
            .await;
        Ok(applied("PutItem", result)?.is_some())
    }

    /// The record's use (consistent), if one is there.
    async fn first_use(&self, record: &Key) -> StoreResult<Option<FirstUse>> {
        let out = self
            .consistent_get(record.clone())
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
        let endpoint = text("endpoint").and_then(|id| EndpointId::parse(id));
        match (endpoint, text("request")) {
            (Some(endpoint), Some(request)) => Ok(Some(FirstUse {
                endpoint,
                request: request.clone(),
            })),
            _ => Err(StoreError::Corrupt(format!(
                "{} lacks its endpoint or request",
                record.1
            ))),
        }
    }

    /// Drops the record of `key` if it names `endpoint`: its request made nothing, so a
    /// retry starts afresh. A record naming another endpoint (the key claimed again since,
    /// by a retry) stays.
    pub async fn forget_idempotency(
        &self,
        ws: &WorkspaceId,
        key: &IdempotencyKey,
        endpoint: &EndpointId,
    ) -> StoreResult<()> {
        let condition = "endpoint = :value";
        let value = s(endpoint.as_str());
        self.delete_if(record_key(ws, key), condition, value)
            .await?;
        Ok(())
    }
}

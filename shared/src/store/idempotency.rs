//! Idempotency records: one item per key a workspace used in the last 24 hours
//! (`IDEM#<digest of workspace and key>`), naming the endpoint its request creates, the
//! digest of that request, when it was claimed and whether its request reached its
//! listing; gone by TTL.

use super::batch::Key;
use super::schema::TTL_ATTRIBUTE;
use super::{applied, keys, n, number_attribute, s, Store, StoreError, StoreResult};
use crate::domain::{EndpointId, IdempotencyKey, Timestamp, WorkspaceId, IDEMPOTENCY_SECS};
use aws_sdk_dynamodb::types::AttributeValue;

/// Sort-key prefix of idempotency records.
const IDEMPOTENCY_PREFIX: &str = "IDEM#";

/// When the record's request claimed it (Unix milliseconds).
const CLAIMED: &str = "claimed";

/// Set once its request is about to list its endpoint: from then on, a repeat finding
/// the endpoint unlisted cannot tell a cut-off listing from a deleted endpoint.
const LISTING: &str = "listing";

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

/// A key's record as a repeat of its request finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse {
    /// What the key was first used for.
    pub first: FirstUse,
    /// When its request claimed the key (absent in records made before it was kept).
    pub claimed: Option<Timestamp>,
    /// Whether its request reached its listing.
    pub listing: bool,
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
    ) -> StoreResult<Option<KeyUse>> {
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
            .item(CLAIMED, n(now.millis()))
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
    async fn first_use(&self, record: &Key) -> StoreResult<Option<KeyUse>> {
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
        let claimed = number_attribute(&item, CLAIMED).and_then(Timestamp::from_unix_millis);
        let listing = item.get(LISTING).and_then(|v| v.as_bool().ok()) == Some(&true);
        match (endpoint, text("request")) {
            (Some(endpoint), Some(request)) => Ok(Some(KeyUse {
                first: FirstUse {
                    endpoint,
                    request: request.clone(),
                },
                claimed,
                listing,
            })),
            _ => Err(StoreError::Corrupt(format!(
                "{} lacks its endpoint or request",
                record.1
            ))),
        }
    }

    /// Marks that the request of `key` is about to list `endpoint`, if the record still
    /// names it; false when a repeat took the key over (its request was cut off).
    pub async fn mark_listing(
        &self,
        ws: &WorkspaceId,
        key: &IdempotencyKey,
        endpoint: &EndpointId,
    ) -> StoreResult<bool> {
        let (pk, sk) = record_key(ws, key);
        let result = self
            .update(s(pk), s(sk))
            .update_expression("SET #listing = :listing")
            .condition_expression("endpoint = :endpoint")
            .expression_attribute_names("#listing", LISTING)
            .expression_attribute_values(":listing", AttributeValue::Bool(true))
            .expression_attribute_values(":endpoint", s(endpoint.as_str()))
            .send()
            .await;
        Ok(applied("UpdateItem", result)?.is_some())
    }

    /// Takes over the key of a request cut off before its listing: the record names
    /// `to` from `now` on, if it still names `from` and its request never reached its
    /// listing (false otherwise: another repeat took it over first, or it was listing).
    /// Naming `to` already (`to` is new: only this call writes it) is taken over too: the
    /// SDK's retry of a takeover whose answer was lost.
    pub async fn take_over_idempotency(
        &self,
        ws: &WorkspaceId,
        key: &IdempotencyKey,
        (from, to): (&EndpointId, &EndpointId),
        now: Timestamp,
    ) -> StoreResult<bool> {
        let (pk, sk) = record_key(ws, key);
        let result = self
            .update(s(pk), s(sk))
            .update_expression("SET endpoint = :to, #claimed = :now")
            .condition_expression(
                "(endpoint = :from AND attribute_not_exists(#listing)) OR endpoint = :to",
            )
            .expression_attribute_names("#claimed", CLAIMED)
            .expression_attribute_names("#listing", LISTING)
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":now", n(now.millis()))
            .send()
            .await;
        Ok(applied("UpdateItem", result)?.is_some())
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

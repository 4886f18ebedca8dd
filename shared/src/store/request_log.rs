//! The detailed log: the 100 most recent delivery requests of a workspace.

use super::{expires_in_days, json_attribute, keys, n, s, Item, Store, StoreError, StoreResult};
use crate::domain::{ChatId, DeliveryId, RequestId, Timestamp, WorkspaceId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Entries shown in the log.
pub const LOG_LIMIT: i32 = 100;
/// Older entries are removed by TTL after this many days.
pub const LOG_RETENTION_DAYS: i64 = 7;

/// What the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: BTreeMap<String, String>,
    /// Response body, cut at `delivery::RESPONSE_BODY_LIMIT` bytes.
    pub body: String,
    /// True when the body was cut.
    pub body_truncated: bool,
}

/// One request, as shown in the downloadable log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLogEntry {
    /// This request's id.
    pub request_id: RequestId,
    /// The delivery it carried (`webhook-id`).
    pub delivery_id: DeliveryId,
    /// The chat the delivery belongs to (keeps a resend in the chat's order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<ChatId>,
    /// When it was sent.
    pub time: Timestamp,
    /// "success" or "failure".
    pub outcome: String,
    /// Where it went.
    pub url: String,
    /// Headers sent (signatures, never the secret).
    pub request_headers: BTreeMap<String, String>,
    /// Body sent.
    pub request_body: String,
    /// What came back, if anything did.
    pub response: Option<RecordedResponse>,
    /// Milliseconds from send to the end of the response (or the failure).
    pub latency_ms: u64,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

impl RequestLogEntry {
    /// The entry as a table item in its workspace's partition.
    pub fn to_item(&self, ws: &WorkspaceId) -> StoreResult<Item> {
        let json = serde_json::to_string(self).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Item::from([
            ("pk".to_string(), s(keys::workspace_pk(ws))),
            (
                "sk".to_string(),
                s(keys::timed(
                    keys::LOG_PREFIX,
                    self.time.millis(),
                    self.request_id.as_str(),
                )),
            ),
            ("entry".to_string(), s(json)),
            (
                "expires_at".to_string(),
                n(expires_in_days(LOG_RETENTION_DAYS)),
            ),
        ]))
    }
}

impl Store {
    /// The most recent requests, newest first.
    pub async fn recent_requests(&self, ws: &WorkspaceId) -> StoreResult<Vec<RequestLogEntry>> {
        self.recent_json(ws, keys::LOG_PREFIX, LOG_LIMIT).await
    }

    /// One logged request, found by its id (`None` when unknown or expired).
    pub async fn logged_request(
        &self,
        ws: &WorkspaceId,
        id: &RequestId,
        millis: i64,
    ) -> StoreResult<Option<RequestLogEntry>> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::workspace_pk(ws)))
            .key("sk", s(keys::timed(keys::LOG_PREFIX, millis, id.as_str())))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item
            .map(|item| json_attribute(&item, "entry"))
            .transpose()
    }

    /// Newest-first JSON documents stored under a time-ordered prefix.
    pub(crate) async fn recent_json<T: serde::de::DeserializeOwned>(
        &self,
        ws: &WorkspaceId,
        prefix: &str,
        limit: i32,
    ) -> StoreResult<Vec<T>> {
        let out = self
            .prefix_query(ws, prefix)
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| json_attribute(&item, "entry"))
            .collect()
    }
}

//! The delivery queue: one SQS message per delivery, sent in batches of 10.

use crate::domain::{DeliveryId, Timestamp, WorkspaceId};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};

/// One delivery: the exact body to POST, so every retry signs the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryEnvelope {
    /// The tenant.
    pub workspace_id: WorkspaceId,
    /// The `webhook-id`, stable across retries.
    pub delivery_id: DeliveryId,
    /// When the delivery was created (orders held deliveries).
    pub created_at: Timestamp,
    /// Position among deliveries created in the same request (orders equal instants).
    #[serde(default)]
    pub sequence: u32,
    /// The JSON body to POST.
    pub body: String,
}

/// Sending to the queue failed.
#[derive(Debug, thiserror::Error)]
#[error("sqs {op} failed: {detail}")]
pub struct QueueError {
    op: &'static str,
    detail: String,
}

/// SQS allows 10 entries per SendMessageBatch.
const BATCH: usize = 10;

/// The delivery queue.
#[derive(Clone, Debug)]
pub struct DeliveryQueue {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl DeliveryQueue {
    /// The queue at `url`.
    pub fn new(sqs: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            sqs,
            url: url.into(),
        }
    }

    /// Enqueues every envelope; fails if any entry was not accepted.
    pub async fn send(&self, envelopes: &[DeliveryEnvelope]) -> Result<(), QueueError> {
        for chunk in envelopes.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, env)| {
                    let body = serde_json::to_string(env).map_err(|e| QueueError {
                        op: "encode",
                        detail: e.to_string(),
                    })?;
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|e| QueueError {
                            op: "SendMessageBatch",
                            detail: e.to_string(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError {
                    op: "SendMessageBatch",
                    detail: DisplayErrorContext(&e).to_string(),
                })?;
            if !out.failed.is_empty() {
                let reasons: Vec<String> = out
                    .failed
                    .iter()
                    .map(|f| format!("{}: {}", f.code, f.message.clone().unwrap_or_default()))
                    .collect();
                return Err(QueueError {
                    op: "SendMessageBatch",
                    detail: reasons.join("; "),
                });
            }
        }
        Ok(())
    }
}

/// Queue settings, identical in template.yaml (checked by a test) and the local stack.
pub mod spec {
    /// Visibility timeout of the delivery queue: six times the sender's 30 s timeout, as
    /// AWS recommends for SQS event sources.
    pub const VISIBILITY_TIMEOUT_SECS: u32 = 180;
    /// Receives before a delivery moves to the dead-letter queue.
    pub const MAX_RECEIVE_COUNT: u32 = 5;
    /// How long the DLQ keeps deliveries for replay (14 days, the SQS maximum).
    pub const DLQ_RETENTION_SECS: u32 = 1_209_600;
}

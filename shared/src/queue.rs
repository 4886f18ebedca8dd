//! The delivery queue: one SQS message per delivery, sent in batches of 10.

use crate::domain::{DeliveryId, Timestamp, WorkspaceId};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, SendMessageBatchRequestEntry};
use serde::{Deserialize, Serialize};
use std::time::Duration;

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
    /// What it carries, for the activity log (e.g. "bundle of chat 89: 12 messages, ...").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// Sending to the queue failed.
#[derive(Debug, thiserror::Error)]
#[error("sqs {op} failed: {detail}")]
pub struct QueueError {
    op: &'static str,
    detail: String,
}

/// SQS allows 10 entries per SendMessageBatch...
const BATCH: usize = 10;
/// ...and 1 MiB for the whole batch (kept a little under for the request's own framing).
const BATCH_BYTES: usize = 1024 * 1024 - 8 * 1024;

impl DeliveryQueue {
    /// Hides received deliveries until their next attempt (one request per 10).
    pub async fn retry_later(&self, deliveries: &[(String, Duration)]) -> Result<(), QueueError> {
        for chunk in deliveries.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, (receipt, delay))| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .visibility_timeout(delay.as_secs().min(43_200) as i32)
                        .build()
                        .map_err(|e| QueueError {
                            op: "ChangeMessageVisibilityBatch",
                            detail: e.to_string(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .sqs
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError {
                    op: "ChangeMessageVisibilityBatch",
                    detail: DisplayErrorContext(&e).to_string(),
                })?;
            if !out.failed.is_empty() {
                return Err(QueueError {
                    op: "ChangeMessageVisibilityBatch",
                    detail: format!("{} entries failed", out.failed.len()),
                });
            }
        }
        Ok(())
    }
}

/// Groups bodies into batches within both SQS limits, keeping their order.
fn batches(bodies: &[String]) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    let mut size = 0;
    for body in bodies {
        let full = out
            .last()
            .is_none_or(|b| b.len() == BATCH || size + body.len() > BATCH_BYTES);
        if full {
            out.push(Vec::new());
            size = 0;
        }
        size += body.len();
        out.last_mut().expect("just pushed").push(body);
    }
    out
}

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
        let bodies = envelopes
            .iter()
            .map(|env| {
                serde_json::to_string(env).map_err(|e| QueueError {
                    op: "encode",
                    detail: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for chunk in batches(&bodies) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(*body)
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
    /// Receives before a delivery moves to the dead-letter queue: one per attempt of the
    /// retry schedule (`delivery::retry::STANDARD_SCHEDULE`).
    pub const MAX_RECEIVE_COUNT: u32 = 8;
    /// How long the DLQ keeps deliveries for replay (14 days, the SQS maximum).
    pub const DLQ_RETENTION_SECS: u32 = 1_209_600;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_the_entry_and_byte_limits() {
        let small: Vec<String> = (0..25).map(|i| i.to_string()).collect();
        let sizes: Vec<usize> = batches(&small).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);
        let big: Vec<String> = (0..10).map(|_| "x".repeat(240 * 1024)).collect();
        let grouped = batches(&big);
        assert!(grouped
            .iter()
            .all(|b| b.iter().map(|s| s.len()).sum::<usize>() <= BATCH_BYTES));
        assert_eq!(grouped.iter().map(Vec::len).sum::<usize>(), 10);
        assert_eq!(grouped[0].len(), 4);
    }
}

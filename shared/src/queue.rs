//! The delivery queue: maps delivery envelopes to SQS messages (one each, in the chat's
//! message group), sent in batches of 10.

use crate::domain::{DeadLetter, DeliveryEnvelope, ReleaseOrder};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, MessageAttributeValue, SendMessageBatchRequestEntry,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;

/// The FIFO deduplication id of one enqueue: stable across the SDK's own retries of the
/// request (so a retried SendMessageBatch does not duplicate); `send` gives each call a
/// fresh nonce, so a deliberate re-send (release, replay, resend) is never swallowed by
/// SQS's five-minute deduplication window, while `send_first` uses none.
fn deduplication_id(envelope: &DeliveryEnvelope, nonce: u64) -> String {
    let mut hash = Sha256::new();
    hash.update(envelope.delivery_id.as_str());
    hash.update(nonce.to_be_bytes());
    hex::encode(hash.finalize())
}

/// What a message of the delivery queue carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queued {
    /// A step of a release (`{"release": {...}}`).
    Release(ReleaseOrder),
    /// A delivery (the envelope itself, as every message before releases were queued).
    Delivery(DeliveryEnvelope),
}

impl Queued {
    /// Reads a message body.
    pub fn decode(body: &str) -> Result<Self, serde_json::Error> {
        #[derive(serde::Deserialize)]
        struct Release {
            release: ReleaseOrder,
        }
        if body.starts_with(r#"{"release":"#) {
            return serde_json::from_str::<Release>(body).map(|r| Queued::Release(r.release));
        }
        serde_json::from_str(body).map(Queued::Delivery)
    }
}

/// Sending to the queue failed.
#[derive(Debug, thiserror::Error)]
#[error("sqs {op} failed: {detail}")]
pub struct QueueError {
    op: &'static str,
    detail: String,
}

/// SQS allows 10 entries per SendMessageBatch...
pub const BATCH: usize = 10;
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
                        .visibility_timeout(visibility_secs(*delay))
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

/// How long a received delivery can be hidden until its next attempt. SQS hides a message
/// for at most 12 hours counted from its receive, and refuses a longer visibility outright
/// (the message then came back after the queue's 3 minutes); the sender asks some seconds
/// after the receive, so five minutes are left as margin.
pub const MAX_HIDDEN: Duration = Duration::from_secs(12 * 3_600 - 300);

/// The visibility timeout that hides a delivery until its next attempt, within what SQS
/// accepts after a receive.
fn visibility_secs(delay: Duration) -> i32 {
    let hidden = delay.min(MAX_HIDDEN);
    i32::try_from(hidden.as_secs()).unwrap_or(i32::MAX)
}

/// One batch entry: the envelope's body in its chat's message group.
fn entry(
    i: usize,
    body: &str,
    envelope: &DeliveryEnvelope,
    nonce: u64,
    attributes: Option<Attributes>,
) -> Result<SendMessageBatchRequestEntry, QueueError> {
    SendMessageBatchRequestEntry::builder()
        .id(i.to_string())
        .message_body(body)
        .message_group_id(envelope.message_group())
        .message_deduplication_id(deduplication_id(envelope, nonce))
        .set_message_attributes(attributes)
        .build()
        .map_err(|e| QueueError {
            op: "SendMessageBatch",
            detail: e.to_string(),
        })
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
    dead_letter_url: Option<String>,
}

/// SQS message attributes of one entry.
type Attributes = HashMap<String, MessageAttributeValue>;

impl DeliveryQueue {
    /// The queue at `url`.
    pub fn new(sqs: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            sqs,
            url: url.into(),
            dead_letter_url: None,
        }
    }

    /// The same queue, able to dead-letter into `url` (the sender's).
    pub fn with_dead_letters(mut self, url: impl Into<String>) -> Self {
        self.dead_letter_url = Some(url.into());
        self
    }

    /// Enqueues every envelope; fails if any entry was not accepted.
    pub async fn send(&self, envelopes: &[DeliveryEnvelope]) -> Result<(), QueueError> {
        self.send_to(&self.url, envelopes, rand::random(), |_| None)
            .await
    }

    /// Enqueues kept deliveries put back by one release (enable, replay): the
    /// deduplication id is the delivery's with the release's nonce, so a delivery kept
    /// twice goes out once per release, and a later release is never swallowed.
    pub async fn send_release(
        &self,
        envelopes: &[DeliveryEnvelope],
        release: u64,
    ) -> Result<(), QueueError> {
        // Marked as the release's own: the sender never holds these behind it.
        let released: Vec<DeliveryEnvelope> = envelopes
            .iter()
            .map(|e| DeliveryEnvelope {
                released_by: Some(release),
                ..e.clone()
            })
            .collect();
        self.send_to(&self.url, &released, release, |_| None).await
    }

    /// Enqueues one step of a release in the workspace's own release group (a step at a
    /// time); the deduplication id is the release's and the step's, so a retried send of
    /// a step does not carry it out twice.
    pub async fn send_release_order(&self, order: &ReleaseOrder) -> Result<(), QueueError> {
        let body =
            serde_json::to_string(&serde_json::json!({ "release": order })).map_err(|e| {
                QueueError {
                    op: "SendMessage",
                    detail: e.to_string(),
                }
            })?;
        let mut hash = Sha256::new();
        hash.update(b"release");
        hash.update(order.nonce.to_be_bytes());
        hash.update(order.step.to_be_bytes());
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .message_group_id(format!("release#{}", order.workspace_id))
            .message_deduplication_id(hex::encode(hash.finalize()))
            .send()
            .await
            .map_err(|e| QueueError {
                op: "SendMessage",
                detail: DisplayErrorContext(&e).to_string(),
            })?;
        Ok(())
    }

    /// Enqueues deliveries made for the first time (a new message, a new bundle): their
    /// deduplication id is the delivery's own, so SQS drops a second enqueue of the same
    /// delivery within five minutes (two requests racing with one message, a retried
    /// request whose first enqueue half succeeded).
    pub async fn send_first(&self, envelopes: &[DeliveryEnvelope]) -> Result<(), QueueError> {
        self.send_to(&self.url, envelopes, 0, |_| None).await
    }

    /// Moves deliveries that used up their attempts to the dead-letter queue, with their
    /// history as message attributes; the body stays the envelope, so a DLQ redrive puts
    /// back exactly what was queued.
    pub async fn dead_letter(&self, letters: &[DeadLetter]) -> Result<(), QueueError> {
        let url = self.dead_letter_url.as_deref().ok_or(QueueError {
            op: "dead_letter",
            detail: "no dead-letter queue configured".into(),
        })?;
        let envelopes: Vec<DeliveryEnvelope> = letters.iter().map(|l| l.envelope.clone()).collect();
        self.send_to(url, &envelopes, rand::random(), |i| {
            let history = &letters[i];
            let text = |v: String| {
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(v)
                    .build()
                    .ok()
            };
            let mut attributes = Attributes::new();
            for (name, value) in [
                ("attempts", history.attempts.to_string()),
                ("last_error", history.last_error.clone()),
                ("dead_at", history.dead_at.to_string()),
                ("workspace_id", history.envelope.workspace_id.to_string()),
            ] {
                // SQS refuses empty attribute values.
                if let Some(v) = text(if value.is_empty() { "-".into() } else { value }) {
                    attributes.insert(name.into(), v);
                }
            }
            Some(attributes)
        })
        .await
    }

    async fn send_to(
        &self,
        url: &str,
        envelopes: &[DeliveryEnvelope],
        nonce: u64,
        attributes: impl Fn(usize) -> Option<Attributes>,
    ) -> Result<(), QueueError> {
        let bodies = envelopes
            .iter()
            .map(|env| {
                serde_json::to_string(env).map_err(|e| QueueError {
                    op: "encode",
                    detail: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut next = 0;
        for chunk in batches(&bodies) {
            let first = next;
            next += chunk.len();
            let entries = chunk
                .iter()
                .zip(&envelopes[first..next])
                .enumerate()
                .map(|(i, (body, envelope))| entry(i, body, envelope, nonce, attributes(first + i)))
                .collect::<Result<Vec<_>, _>>()?;
            self.send_batch(url, entries).await?;
        }
        Ok(())
    }

    /// One SendMessageBatch; fails if any entry was not accepted.
    async fn send_batch(
        &self,
        url: &str,
        entries: Vec<SendMessageBatchRequestEntry>,
    ) -> Result<(), QueueError> {
        let out = self
            .sqs
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| QueueError {
                op: "SendMessageBatch",
                detail: DisplayErrorContext(&e).to_string(),
            })?;
        if out.failed.is_empty() {
            return Ok(());
        }
        let reasons: Vec<String> = out
            .failed
            .iter()
            .map(|f| format!("{}: {}", f.code, f.message.clone().unwrap_or_default()))
            .collect();
        Err(QueueError {
            op: "SendMessageBatch",
            detail: reasons.join("; "),
        })
    }
}

/// Queue settings, identical in template.yaml (checked by a test) and the local stack.
pub mod spec {
    /// Both queues are FIFO: order per message group (workspace + chat).
    pub const FIFO: bool = true;
    /// Deduplicate within a message group, which lets SQS scale FIFO throughput per group.
    pub const DEDUPLICATION_SCOPE: &str = "messageGroup";
    /// High-throughput FIFO: the limit applies per message group, not per queue.
    pub const FIFO_THROUGHPUT_LIMIT: &str = "perMessageGroupId";
    /// Visibility timeout of the delivery queue: six times the sender's 30 s timeout, as
    /// AWS recommends for SQS event sources.
    pub const VISIBILITY_TIMEOUT_SECS: u32 = 180;
    /// Receives before SQS itself moves a message to the dead-letter queue: only a safety
    /// net for messages the sender cannot handle (undecodable, or bookkeeping failing
    /// again and again). The sender dead-letters deliveries itself after their last
    /// attempt, counted in the table; a delivery waiting behind its chat's failing one is
    /// received (not tried) once per attempt of that one, so the ceiling leaves room for
    /// every failing delivery a waiting one can be behind within the retention
    /// (`retry::tests` checks the arithmetic), and for the hand-backs of a slow
    /// workspace's records over its share of the sender (`share::tests`).
    pub const MAX_RECEIVE_COUNT: u32 = 600;
    /// The largest message SQS takes (256 KiB).
    pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
    /// How long the delivery queue keeps a delivery (14 days, the SQS maximum; the default
    /// 4 days would expire deliveries waiting behind a failing one).
    pub const RETENTION_SECS: u32 = 1_209_600;
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

    fn envelope(chat: Option<&str>, delivery: &str) -> DeliveryEnvelope {
        use crate::domain::{ChatId, DeliveryId, Timestamp, WorkspaceId};
        DeliveryEnvelope {
            workspace_id: WorkspaceId::new_unchecked("ws_aaaaaaaaaaaaaaaaaaaa"),
            delivery_id: DeliveryId::new_unchecked(delivery),
            created_at: Timestamp::from_unix(0).unwrap(),
            sequence: 0,
            chat_id: chat.map(ChatId::new_unchecked),
            body: "{}".into(),
            summary: None,
            event_type: None,
            released_by: None,
        }
    }

    #[test]
    fn a_retry_is_hidden_for_less_than_sqs_allows_after_a_receive() {
        // A `Retry-After` of a day: SQS refused 43,200 s asked seconds after the receive.
        assert_eq!(visibility_secs(Duration::from_secs(86_400)), 42_900);
        assert_eq!(visibility_secs(Duration::from_secs(120)), 120);
    }

    #[test]
    fn deduplication_ids_differ_per_send_call_not_per_retry() {
        let e = envelope(Some("chat-1"), "d1");
        assert_eq!(deduplication_id(&e, 7), deduplication_id(&e, 7));
        assert_ne!(deduplication_id(&e, 7), deduplication_id(&e, 8));
        assert_ne!(
            deduplication_id(&e, 7),
            deduplication_id(&envelope(Some("chat-1"), "d2"), 7)
        );
    }

    #[test]
    fn a_message_is_a_delivery_or_a_release_step() {
        let e = envelope(Some("chat-1"), "d1");
        let body = serde_json::to_string(&e).unwrap();
        assert_eq!(Queued::decode(&body).unwrap(), Queued::Delivery(e.clone()));
        let order = ReleaseOrder::enable(&e.workspace_id, 42).next_step();
        let body = serde_json::to_string(&serde_json::json!({ "release": order })).unwrap();
        assert_eq!(Queued::decode(&body).unwrap(), Queued::Release(order));
        assert!(Queued::decode(r#"{"release": 1}"#).is_err());
    }
}

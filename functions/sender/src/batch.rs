//! One SQS batch: settings read once per workspace, deliveries sent concurrently, health
//! updated per outcome, log and activity written in one batch write.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use outflow::delivery::retry::parse_retry_after;
use outflow::delivery::{attempt, Attempt, DeliveryClient, Destination, HealthKeeper, RetryPolicy};
use outflow::domain::{Timestamp, WorkspaceId};
use outflow::queue::{DeliveryEnvelope, DeliveryQueue};
use outflow::store::{
    ActivityEntry, DeadLetterHistory, Item, RequestLogEntry, Store, StoreError, WebhookRecord,
};
use outflow::telemetry::metrics;
use outflow::url_policy::UrlPolicy;
use std::collections::BTreeMap;
use std::time::Duration;

/// The sender, built once per container.
#[derive(Clone, Debug)]
pub struct Sender {
    store: Store,
    queue: DeliveryQueue,
    health: HealthKeeper,
    client: DeliveryClient,
    policy: UrlPolicy,
    retry: RetryPolicy,
}

struct Record {
    message_id: String,
    receipt_handle: Option<String>,
    envelope: DeliveryEnvelope,
}

impl Sender {
    /// A sender over the store, with the delivery client and health keeper.
    pub fn new(
        store: Store,
        queue: DeliveryQueue,
        health: HealthKeeper,
        client: DeliveryClient,
        policy: UrlPolicy,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            store,
            queue,
            health,
            client,
            policy,
            retry,
        }
    }

    /// Handles one SQS batch; the response lists the records to retry.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut failures = Vec::new();
        let mut by_workspace: BTreeMap<WorkspaceId, Vec<Record>> = BTreeMap::new();
        for message in event.records {
            match decode(&message) {
                Ok(record) => by_workspace
                    .entry(record.envelope.workspace_id.clone())
                    .or_default()
                    .push(record),
                Err(why) => {
                    // Retried, then dead-lettered: a poison message is kept, not dropped.
                    tracing::error!(sqs_message_id = ?message.message_id, error = %why, "undecodable delivery");
                    failures.extend(message.message_id);
                }
            }
        }
        for (ws, records) in by_workspace {
            match self.deliver_workspace(&ws, &records).await {
                Ok(failed) => failures.extend(failed),
                Err(e) => {
                    tracing::error!(workspace_id = %ws, error = %e, "batch bookkeeping failed; retrying");
                    failures.extend(records.into_iter().map(|r| r.message_id));
                }
            }
        }
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures
            .into_iter()
            .map(|id| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failure
            })
            .collect();
        response
    }

    /// Delivers one workspace's records; returns the SQS ids to retry.
    async fn deliver_workspace(
        &self,
        ws: &WorkspaceId,
        records: &[Record],
    ) -> Result<Vec<String>, StoreError> {
        let webhook = self.store.webhook(ws).await?;
        let Some(webhook) = webhook.filter(|w| w.enabled) else {
            let envelopes: Vec<_> = records.iter().map(|r| r.envelope.clone()).collect();
            self.store.hold(&envelopes).await?;
            tracing::info!(workspace_id = %ws, held = envelopes.len(), "webhook off: deliveries held");
            return Ok(Vec::new());
        };
        let groups = in_message_groups(records);
        let destination = Destination::check(&self.policy, &webhook.url);
        let outcomes = join_all(
            groups
                .iter()
                .map(|group| self.send_in_order(&webhook, &destination, group)),
        )
        .await;
        let mut retry = Vec::new();
        let mut later = Vec::new();
        let mut items: Vec<Item> = Vec::with_capacity(records.len() * 2);
        // A reset costs a write even when its condition fails, so reset only when the count
        // read at the start of this batch, or a failure in it, may have made it non-zero.
        let mut count_may_be_positive = webhook.consecutive_failures > 0;
        let attempted = groups
            .iter()
            .zip(&outcomes)
            .flat_map(|(group, attempts)| group.iter().zip(attempts));
        // Exhausted deliveries, and what the DLQ and the dead-letter records keep of them.
        let mut dead: Vec<&Record> = Vec::new();
        let mut letters = Vec::new();
        let mut retry_in = |record: &Record, delay: Duration| {
            retry.push(record.message_id.clone());
            if let Some(receipt) = &record.receipt_handle {
                later.push((receipt.clone(), delay));
            }
        };
        for (record, attempt) in attempted {
            let Some(attempt) = attempt else {
                // Not tried: it waits behind its chat's failed delivery. Visible again at
                // once, yet FIFO hands it out only after that one (still hidden until its
                // retry) is done, so it comes back behind it, in order.
                retry_in(record, Duration::ZERO);
                continue;
            };
            let entry = &attempt.entry;
            let what = match &record.envelope.summary {
                Some(summary) => format!("{summary} ({})", entry.delivery_id),
                None => entry.delivery_id.to_string(),
            };
            let activity = if attempt.success {
                if count_may_be_positive {
                    self.health.success(ws).await?;
                    count_may_be_positive = false;
                }
                ActivityEntry::at(
                    entry.time,
                    "delivered",
                    format!("Delivered {what} in {} ms", entry.latency_ms),
                )
            } else {
                let error = entry.error.clone().unwrap_or_default();
                if entry.response.as_ref().is_some_and(|r| r.status == 410) {
                    self.health.gone(ws, &webhook.url).await?;
                } else {
                    self.health.failure(ws, &webhook.url, &error).await?;
                }
                count_may_be_positive = true;
                let failures = self
                    .store
                    .count_failed_attempt(ws, &record.envelope.delivery_id)
                    .await?;
                match self.retry.next_delay_jittered(failures, retry_after(entry)) {
                    Some(delay) => retry_in(record, delay),
                    // No attempt left: dead-lettered below, then deleted from the queue.
                    None => {
                        dead.push(record);
                        letters.push(dead_letter(record, failures, &error));
                    }
                }
                ActivityEntry::at(
                    entry.time,
                    "delivery_failed",
                    format!("Delivery of {what} failed: {error}"),
                )
            };
            metrics::delivery_attempted(attempt.success, entry.latency_ms);
            tracing::info!(
                workspace_id = %ws,
                delivery_id = %entry.delivery_id,
                success = attempt.success,
                latency_ms = entry.latency_ms,
                "delivery attempted"
            );
            items.push(entry.to_item(ws)?);
            items.push(activity.to_item(ws)?);
        }
        self.store.batch_put(items).await?;
        if !letters.is_empty() {
            tracing::warn!(workspace_id = %ws, dead_letters = letters.len(), "deliveries out of attempts");
            metrics::dead_lettered(letters.len());
            // Recorded for replay first; leaves the queue only once the DLQ has it.
            self.store.keep_dead_letters(&letters).await?;
            if let Err(e) = self.queue.dead_letter(&letters).await {
                tracing::error!(workspace_id = %ws, error = %e, "could not dead-letter; retrying");
                for record in dead {
                    retry_in(record, Duration::ZERO);
                }
            }
        }
        if let Err(e) = self.queue.retry_later(&later).await {
            // The queue's own visibility timeout still brings them back.
            tracing::error!(workspace_id = %ws, error = %e, "could not schedule retries");
        }
        Ok(retry)
    }

    /// Sends one message group's deliveries one after another; after a failure the rest
    /// are not tried (`None`), so the receiver never sees a chat's messages out of order.
    async fn send_in_order(
        &self,
        webhook: &WebhookRecord,
        destination: &Destination,
        group: &[&Record],
    ) -> Vec<Option<Attempt>> {
        let mut out = Vec::with_capacity(group.len());
        let mut failed = false;
        for record in group {
            if failed {
                out.push(None);
                continue;
            }
            let attempt = self.send(webhook, destination, &record.envelope).await;
            failed = !attempt.success;
            out.push(Some(attempt));
        }
        out
    }

    async fn send(
        &self,
        webhook: &WebhookRecord,
        destination: &Destination,
        envelope: &DeliveryEnvelope,
    ) -> Attempt {
        let secrets = webhook.signing_secrets(chrono::Utc::now().timestamp_millis());
        attempt(&self.client, destination, &secrets, envelope).await
    }
}

fn dead_letter(
    record: &Record,
    attempts: u32,
    last_error: &str,
) -> (DeliveryEnvelope, DeadLetterHistory) {
    let history = DeadLetterHistory {
        attempts,
        last_error: last_error.to_string(),
        dead_at: Timestamp::now(),
    };
    (record.envelope.clone(), history)
}

/// Splits a workspace's records by message group (chat), each kept in queue order.
fn in_message_groups(records: &[Record]) -> Vec<Vec<&Record>> {
    let mut groups: Vec<(String, Vec<&Record>)> = Vec::new();
    for record in records {
        let key = record.envelope.message_group();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(record),
            None => groups.push((key, vec![record])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// A `Retry-After` on 429 or 503, which the receiver may use to ask for a pause.
fn retry_after(entry: &RequestLogEntry) -> Option<Duration> {
    let response = entry
        .response
        .as_ref()
        .filter(|r| matches!(r.status, 429 | 503))?;
    response
        .headers
        .get("retry-after")
        .and_then(|v| parse_retry_after(v))
}

fn decode(message: &SqsMessage) -> Result<Record, String> {
    let message_id = message
        .message_id
        .clone()
        .ok_or("record without messageId")?;
    let body = message.body.as_deref().ok_or("record without body")?;
    let envelope = serde_json::from_str(body).map_err(|e| format!("bad envelope: {e}"))?;
    Ok(Record {
        message_id,
        receipt_handle: message.receipt_handle.clone(),
        envelope,
    })
}

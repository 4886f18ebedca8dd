//! One SQS batch: settings read once per workspace, deliveries sent concurrently, health
//! updated per outcome, log and activity written in one batch write.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use outflow::delivery::{attempt, Attempt, DeliveryClient, HealthKeeper};
use outflow::domain::WorkspaceId;
use outflow::queue::DeliveryEnvelope;
use outflow::store::{ActivityEntry, Item, Store, StoreError, WebhookRecord};
use outflow::url_policy::UrlPolicy;
use std::collections::BTreeMap;

/// The sender, built once per container.
#[derive(Clone, Debug)]
pub struct Sender {
    store: Store,
    health: HealthKeeper,
    client: DeliveryClient,
    policy: UrlPolicy,
}

struct Record {
    message_id: String,
    envelope: DeliveryEnvelope,
}

impl Sender {
    /// A sender over the store, with the delivery client and health keeper.
    pub fn new(
        store: Store,
        health: HealthKeeper,
        client: DeliveryClient,
        policy: UrlPolicy,
    ) -> Self {
        Self {
            store,
            health,
            client,
            policy,
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
        let attempts = join_all(records.iter().map(|r| self.send(&webhook, &r.envelope))).await;
        let mut retry = Vec::new();
        let mut items: Vec<Item> = Vec::with_capacity(attempts.len() * 2);
        // A reset costs a write even when its condition fails, so reset only when the count
        // read at the start of this batch, or a failure in it, may have made it non-zero.
        let mut count_may_be_positive = webhook.consecutive_failures > 0;
        for (record, attempt) in records.iter().zip(&attempts) {
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
                retry.push(record.message_id.clone());
                ActivityEntry::at(
                    entry.time,
                    "delivery_failed",
                    format!("Delivery of {what} failed: {error}"),
                )
            };
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
        Ok(retry)
    }

    async fn send(&self, webhook: &WebhookRecord, envelope: &DeliveryEnvelope) -> Attempt {
        let secrets = webhook.signing_secrets(chrono::Utc::now().timestamp_millis());
        attempt(&self.client, &self.policy, &webhook.url, &secrets, envelope).await
    }
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
        envelope,
    })
}

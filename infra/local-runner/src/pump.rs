//! The local stand-in for Lambda's SQS event source mapping: receive a batch, invoke the
//! sender with the same JSON event Lambda would, delete what succeeded.

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use outflow_sender::Sender;
use serde_json::{json, Map, Value};

/// One poll's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PumpStats {
    /// Records handed to the sender.
    pub received: usize,
    /// Records the sender asked to retry.
    pub failed: usize,
}

/// The SQS event source's settings.
#[derive(Debug, Clone)]
pub struct Pump {
    /// The AWS SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// Delivery queue URL.
    pub queue_url: String,
    /// Queue ARN written into events (`eventSourceARN`).
    pub queue_arn: String,
    /// Region written into events.
    pub region: String,
}

impl Pump {
    /// The event source of `stack`'s delivery queue.
    pub fn of(
        aws: &outflow::clients::AwsClients,
        stack: &crate::stack::Stack,
        region: &str,
    ) -> Self {
        Self {
            sqs: aws.sqs.clone(),
            queue_url: stack.queue_url.clone(),
            queue_arn: stack.queue_arn.clone(),
            region: region.to_string(),
        }
    }

    /// Receives one batch (long-polling up to `wait_secs`) and runs the sender on it.
    pub async fn once(&self, sender: &Sender, wait_secs: i32) -> Result<PumpStats, String> {
        let messages = self.receive(wait_secs).await?;
        if messages.is_empty() {
            return Ok(PumpStats::default());
        }
        let event: SqsEvent = serde_json::from_value(self.event_json(&messages))
            .map_err(|e| format!("building the SQS event: {e}"))?;
        // In-process, without a Lambda timeout: no deadline.
        let response = sender.handle(event, None).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        self.delete_except(&messages, &failed).await?;
        Ok(PumpStats {
            received: messages.len(),
            failed: failed.len(),
        })
    }

    /// Receives up to 10 messages, long-polling up to `wait_secs`.
    pub async fn receive(&self, wait_secs: i32) -> Result<Vec<Message>, String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())?;
        Ok(out.messages.unwrap_or_default())
    }

    /// Deletes what the sender handled, all of `messages` but the `failed` ids.
    pub async fn delete_except(&self, messages: &[Message], failed: &[&str]) -> Result<(), String> {
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| !failed.contains(&m.message_id().unwrap_or_default()))
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle()?)
                    .build()
                    .ok()
            })
            .collect();
        if !entries.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())?;
        }
        Ok(())
    }

    /// The event exactly as Lambda's SQS integration shapes it.
    pub fn event_json(&self, messages: &[Message]) -> Value {
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attributes: Map<String, Value> = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_string(), Value::String(v.clone())))
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": self.region,
                })
            })
            .collect();
        json!({ "Records": records })
    }

    /// Runs batches until the queue is empty right now; for tests and demos.
    pub async fn drain(&self, sender: &Sender) -> Result<PumpStats, String> {
        let mut total = PumpStats::default();
        loop {
            let stats = self.once(sender, 0).await?;
            if stats.received == 0 {
                return Ok(total);
            }
            total.received += stats.received;
            total.failed += stats.failed;
        }
    }
}

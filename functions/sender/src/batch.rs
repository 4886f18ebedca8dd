//! One SQS batch: decoded, then each workspace's records delivered; the response names
//! the records to retry (partial batch response).

use crate::records::decode_all;
use crate::Sender;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

impl Sender {
    /// Handles one SQS batch; the response lists the records to retry.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let decoded = decode_all(event.records);
        let mut failures = decoded.undecodable;
        for (ws, records) in decoded.by_workspace {
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
}

//! One SQS batch: decoded, then each workspace's records delivered, workspaces at the
//! same time; the response names the records to retry (partial batch response).

use crate::records::decode_all;
use crate::Sender;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::future::join_all;
use std::time::Instant;

impl Sender {
    /// Handles one SQS batch; the response lists the records to retry. No request starts
    /// that could not end before `deadline` (the invocation's, less the time the
    /// bookkeeping needs): records left untried go back to the queue uncounted.
    pub async fn handle(&self, event: SqsEvent, deadline: Option<Instant>) -> SqsBatchResponse {
        let decoded = decode_all(event.records);
        let mut failures = decoded.undecodable;
        let delivered = join_all(decoded.by_workspace.into_iter().map(|(ws, records)| async move {
            match self.deliver_workspace(&ws, &records, deadline).await {
                Ok(failed) => failed,
                Err(e) => {
                    tracing::error!(workspace_id = %ws, error = %e, "batch bookkeeping failed; retrying");
                    records.into_iter().map(|r| r.message_id).collect()
                }
            }
        }))
        .await;
        failures.extend(delivered.into_iter().flatten());
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

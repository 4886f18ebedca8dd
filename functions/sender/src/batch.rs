//! One SQS batch: decoded, then each workspace's records delivered, workspaces at the
//! same time; the response names the records to retry (partial batch response).

use crate::records::decode_all;
use crate::Sender;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::future::join_all;
use outflow::delivery::release::carry_out_step;
use outflow::delivery::Budget;
use outflow::domain::ReleaseOrder;
use std::time::Instant;

impl Sender {
    /// Handles one SQS batch; the response lists the records to retry. No request starts
    /// that could not end before `deadline` (the invocation's, less the time the
    /// bookkeeping needs): records left untried go back to the queue uncounted.
    pub async fn handle(&self, event: SqsEvent, deadline: Option<Instant>) -> SqsBatchResponse {
        let decoded = decode_all(event.records);
        let mut failures = decoded.undecodable;
        let releases = join_all(
            decoded
                .releases
                .into_iter()
                .map(|(id, order)| self.release_step(id, order, deadline)),
        );
        let delivered = join_all(decoded.by_workspace.into_iter().map(|(ws, records)| async move {
            match self.deliver_workspace(&ws, &records, deadline).await {
                Ok(failed) => failed,
                Err(e) => {
                    tracing::error!(workspace_id = %ws, error = %e, "batch bookkeeping failed; retrying");
                    records.into_iter().map(|r| r.message_id).collect()
                }
            }
        }));
        let (released, delivered) = futures::join!(releases, delivered);
        failures.extend(released.into_iter().flatten());
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

    /// Carries out one step of a release; the SQS id back when it must be retried (what
    /// it did stays done: the retry goes on from the oldest delivery still kept).
    async fn release_step(
        &self,
        message_id: String,
        order: ReleaseOrder,
        deadline: Option<Instant>,
    ) -> Option<String> {
        let budget = Budget::for_step(self.release_pages, deadline);
        let ws = &order.workspace_id;
        let next = match carry_out_step(&self.store, &self.queue, &order, budget, self.clock.now())
            .await
        {
            Ok(next) => next,
            Err(e) => {
                tracing::error!(workspace_id = %ws, error = %e, step = order.step, "release step failed; retrying");
                return Some(message_id);
            }
        };
        let Some(next) = next else {
            tracing::info!(workspace_id = %ws, step = order.step, "release done");
            return None;
        };
        match self.queue.send_release_order(&next).await {
            Ok(()) => None,
            Err(e) => {
                tracing::error!(workspace_id = %ws, error = %e, "could not queue the next release step; retrying this one");
                Some(message_id)
            }
        }
    }
}

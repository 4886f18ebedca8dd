//! The whole pipeline in one process, each function's state built by that function's own
//! `from_config` (as its Lambda's `main` does), and the routers merged.

use crate::pump::Pump;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use outflow::clients::AwsClients;
use outflow::clock::Clock;
use outflow::config::{Config, MissingVar};
use outflow::http::{ApiError, JsonBody};
use outflow_aggregator::{Aggregator, RunReport};
use outflow_api::ApiState;
use outflow_ingest::IngestState;
use outflow_sender::Sender;
use serde::Deserialize;

/// The functions, wired as in AWS.
#[derive(Clone, Debug)]
pub struct LocalApp {
    /// Ingest function state.
    pub ingest: IngestState,
    /// API function state.
    pub api: ApiState,
    /// The sender.
    pub sender: Sender,
    /// The aggregator.
    pub aggregator: Aggregator,
    /// Arrival time for ingest and settings saves, and "now" for scheduled aggregation.
    pub clock: Clock,
}

impl LocalApp {
    /// Builds every function's state from one config. `clock` is the time messages arrive
    /// by and the schedule's (settable in tests: a message's window is its arrival's);
    /// deliveries, logs and activity go by the system clock, as receivers check signature
    /// times against theirs. In AWS both are the system clock.
    pub fn new(aws: &AwsClients, config: &Config, clock: Clock) -> Result<Self, MissingVar> {
        Self::with_clients([aws, aws, aws, aws], config, clock)
    }

    /// The same, each function with clients of its own (ingest, api, sender, aggregator),
    /// as each Lambda has its own role: tests count what each one asks of AWS.
    pub fn with_clients(
        [ingest, api, sender, aggregator]: [&AwsClients; 4],
        config: &Config,
        clock: Clock,
    ) -> Result<Self, MissingVar> {
        Ok(Self {
            ingest: IngestState::from_config(ingest, config, clock.clone()),
            api: ApiState::from_config(api, config, Clock::system(), clock.clone())?,
            sender: Sender::from_config(sender, config, Clock::system())?,
            aggregator: Aggregator::from_config(aggregator, config, clock.clone()),
            clock,
        })
    }

    /// The HTTP API: ingest and api routers merged (API Gateway does this in AWS), plus
    /// the local-only `POST /local/aggregate`.
    pub fn router(&self) -> Router {
        let local = Router::new()
            .route("/local/aggregate", post(aggregate_now))
            .with_state(self.aggregator.clone());
        outflow_api::router(self.api.clone())
            .merge(outflow_ingest::router(self.ingest.clone()))
            .merge(local)
    }

    /// Runs the aggregator on an interval, as the EventBridge schedule does in AWS.
    pub async fn run_aggregator(&self, every: std::time::Duration) {
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = self.aggregator.run(self.clock.now().utc(), None).await {
                tracing::error!(error = %e, "scheduled aggregation failed");
            }
        }
    }

    /// Polls the queue forever, as the SQS event source mapping does.
    pub async fn run_sender(&self, pump: Pump) {
        loop {
            match pump.once(&self.sender, 5).await {
                Ok(stats) if stats.received > 0 => {
                    tracing::info!(
                        received = stats.received,
                        failed = stats.failed,
                        "sender batch"
                    )
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "polling the delivery queue failed");
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct AggregateRequest {
    now: DateTime<Utc>,
}

/// `POST /local/aggregate {"now": "<RFC 3339>"}`: one aggregation as of that instant
/// (local runner only; in AWS the schedule's event time plays this part).
async fn aggregate_now(
    State(aggregator): State<Aggregator>,
    JsonBody(request): JsonBody<AggregateRequest>,
) -> Result<Json<RunReport>, ApiError> {
    aggregator
        .run(request.now, None)
        .await
        .map(Json)
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}

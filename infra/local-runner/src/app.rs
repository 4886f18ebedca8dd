//! The whole pipeline in one process, built from the same handlers the Lambdas run.

use crate::pump::Pump;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use outflow::clients::AwsClients;
use outflow::clock::Clock;
use outflow::config::Config;
use outflow::delivery::{build_client, HealthKeeper};
use outflow::formats::inbound::ParseContext;
use outflow::http::{ApiError, LimitedBody};
use outflow::notify::OwnerNotifier;
use outflow::queue::DeliveryQueue;
use outflow::store::{RateWindows, Store};
use outflow_aggregator::{Aggregator, RunReport};
use outflow_api::ApiState;
use outflow_ingest::open_windows::OpenWindows;
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
    /// Arrival time for ingest and "now" for scheduled aggregation.
    pub clock: Clock,
}

impl LocalApp {
    /// Builds every function's state from one config, as each Lambda's main does.
    pub fn new(aws: &AwsClients, config: &Config, admin_token: &str, clock: Clock) -> Self {
        let store = Store::new(aws.dynamo.clone(), &config.table_name);
        let queue = DeliveryQueue::new(aws.sqs.clone(), &config.queue_url);
        let health = HealthKeeper::new(
            store.clone(),
            OwnerNotifier::new(aws.ses.clone(), &config.sender_email)
                .with_api_base(config.public_base_url.as_deref()),
        );
        let client = build_client(config.url_policy, config.delivery_timeout);
        Self {
            ingest: IngestState {
                store: store.clone(),
                queue: queue.clone(),
                parse: ParseContext {
                    chat_url_base: config.chat_url_base.clone(),
                },
                clock: clock.clone(),
                rate: config.ingest_rate,
                rate_windows: RateWindows::default(),
                open_windows: OpenWindows::default(),
            },
            api: ApiState {
                store: store.clone(),
                queue: queue.clone(),
                admin_token: admin_token.into(),
                url_policy: config.url_policy,
                clock: clock.clone(),
            },
            sender: Sender::new(
                store.clone(),
                match &config.dead_letter_queue_url {
                    Some(url) => queue.clone().with_dead_letters(url),
                    None => queue.clone(),
                },
                health,
                client,
                config.url_policy,
                config.retry.clone(),
            ),
            aggregator: Aggregator::new(store, queue, &config.permalink_base),
            clock,
        }
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
    body: LimitedBody,
) -> Result<Json<RunReport>, ApiError> {
    let request: AggregateRequest = body.json()?;
    aggregator
        .run(request.now, None)
        .await
        .map(Json)
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}

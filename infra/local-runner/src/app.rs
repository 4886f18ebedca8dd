//! The whole pipeline in one process, built from the same handlers the Lambdas run.

use crate::pump::Pump;
use axum::Router;
use outflow::clients::AwsClients;
use outflow::config::Config;
use outflow::delivery::{build_client, HealthKeeper};
use outflow::formats::inbound::ParseContext;
use outflow::notify::OwnerNotifier;
use outflow::queue::DeliveryQueue;
use outflow::store::Store;
use outflow_api::ApiState;
use outflow_ingest::IngestState;
use outflow_sender::Sender;

/// The functions, wired as in AWS.
#[derive(Clone, Debug)]
pub struct LocalApp {
    /// Ingest function state.
    pub ingest: IngestState,
    /// API function state.
    pub api: ApiState,
    /// The sender.
    pub sender: Sender,
}

impl LocalApp {
    /// Builds every function's state from one config, as each Lambda's main does.
    pub fn new(aws: &AwsClients, config: &Config, admin_token: &str) -> Self {
        let store = Store::new(aws.dynamo.clone(), &config.table_name);
        let queue = DeliveryQueue::new(aws.sqs.clone(), &config.queue_url);
        let health = HealthKeeper::new(
            store.clone(),
            OwnerNotifier::new(aws.ses.clone(), &config.sender_email),
        );
        let client = build_client(config.url_policy, config.delivery_timeout);
        Self {
            ingest: IngestState {
                store: store.clone(),
                queue: queue.clone(),
                parse: ParseContext {
                    chat_url_base: config.chat_url_base.clone(),
                },
            },
            api: ApiState {
                store: store.clone(),
                queue,
                admin_token: admin_token.into(),
                url_policy: config.url_policy,
            },
            sender: Sender::new(store, health, client, config.url_policy),
        }
    }

    /// The HTTP API: ingest and api routers merged (API Gateway does this in AWS).
    pub fn router(&self) -> Router {
        outflow_api::router(self.api.clone()).merge(outflow_ingest::router(self.ingest.clone()))
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

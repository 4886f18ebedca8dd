//! Lambda entry point: build clients once, run one aggregation per scheduled event.

use lambda_runtime::{service_fn, LambdaEvent};
use metrics_cloudwatch_embedded::lambda::service::run;
use outflow::clients::AwsClients;
use outflow::config::Config;
use outflow::queue::DeliveryQueue;
use outflow::store::Store;
use outflow::telemetry;
use outflow_aggregator::{Aggregator, ScheduledTick};
use std::time::{Duration, Instant, SystemTime};

// One thread: at the template's 256 MB a Lambda has a fraction of one vCPU, so worker
// threads would only add start-up time and switching (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let metrics = telemetry::install("aggregator")?;
    let config = Config::from_env()?;
    let aws = AwsClients::from_env().await;
    let aggregator = Aggregator::new(
        Store::new(aws.dynamo, &config.table_name),
        DeliveryQueue::new(aws.sqs, &config.queue_url),
        &config.permalink_base,
    );
    let aggregator = &aggregator;
    // lambda_runtime::run, flushing the EMF metrics after each invocation.
    run(
        metrics,
        service_fn(move |event: LambdaEvent<ScheduledTick>| async move {
            // Stop claiming windows 20 s before the invocation's deadline; the next run continues.
            let left = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            let deadline = Instant::now() + left.saturating_sub(Duration::from_secs(20));
            let report = aggregator.run(event.payload.now(), Some(deadline)).await?;
            Ok::<_, lambda_runtime::Error>(report)
        }),
    )
    .await
}

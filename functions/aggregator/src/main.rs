//! Lambda entry point: build the aggregator once per container, run one aggregation per
//! scheduled event.

use lambda_runtime::{service_fn, LambdaEvent};
use metrics_cloudwatch_embedded::lambda::service::run;
use outflow::clients::AwsClients;
use outflow::clock::Clock;
use outflow::config::Config;
use outflow::telemetry;
use outflow_aggregator::{Aggregator, ScheduledTick};
use std::time::Duration;

/// Claiming stops this long before the invocation's deadline; the next run continues.
const DEADLINE_MARGIN: Duration = Duration::from_secs(20);

// One thread: at the template's 256 MB a Lambda has a fraction of one vCPU, so worker
// threads would only add start-up time and switching (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_logs();
    let metrics = telemetry::install("aggregator")?;
    let config = Config::from_env()?;
    let aggregator =
        Aggregator::from_config(&AwsClients::from_env().await, &config, Clock::system());
    let aggregator = &aggregator;
    // lambda_runtime::run, flushing the EMF metrics after each invocation.
    run(
        metrics,
        service_fn(move |event: LambdaEvent<ScheduledTick>| async move {
            let deadline = Clock::deadline_before(event.context.deadline(), DEADLINE_MARGIN);
            let now = event.payload.now(aggregator.clock());
            let report = aggregator.run(now, Some(deadline)).await?;
            Ok::<_, lambda_runtime::Error>(report)
        }),
    )
    .await
}

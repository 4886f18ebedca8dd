//! Lambda entry point: build the sender once per container, handle SQS batches.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use metrics_cloudwatch_embedded::lambda::service::run;
use outflow::clients::AwsClients;
use outflow::clock::Clock;
use outflow::config::Config;
use outflow::telemetry;
use outflow_sender::Sender;
use std::time::Duration;

/// Time kept after the last request for the batch's bookkeeping (log, health, retries).
const BOOKKEEPING_MARGIN: Duration = Duration::from_secs(2);

// One thread: at the template's 256 MB a Lambda has a fraction of one vCPU, so worker
// threads would only add start-up time and switching (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_logs();
    let metrics = telemetry::install("sender")?;
    let config = Config::from_env()?;
    let sender = Sender::from_config(&AwsClients::from_env().await, &config, Clock::system())?;
    let sender = &sender;
    // lambda_runtime::run, flushing the EMF metrics after each invocation.
    run(
        metrics,
        service_fn(move |event: LambdaEvent<SqsEvent>| async move {
            let deadline = Clock::deadline_before(event.context.deadline(), BOOKKEEPING_MARGIN);
            Ok::<_, lambda_runtime::Error>(sender.handle(event.payload, Some(deadline)).await)
        }),
    )
    .await
}

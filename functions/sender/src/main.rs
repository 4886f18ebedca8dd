//! Lambda entry point: build the sender once per container, handle SQS batches.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use metrics_cloudwatch_embedded::lambda::service::run;
use outflow::clients::AwsClients;
use outflow::clock::Clock;
use outflow::config::Config;
use outflow::telemetry;
use outflow_sender::Sender;

// One thread: at the template's 256 MB a Lambda has a fraction of one vCPU, so worker
// threads would only add start-up time and switching (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let metrics = telemetry::install("sender")?;
    let config = Config::from_env()?;
    let sender = Sender::from_config(&AwsClients::from_env().await, &config, Clock::system())?;
    let sender = &sender;
    // lambda_runtime::run, flushing the EMF metrics after each invocation.
    run(
        metrics,
        service_fn(move |event: LambdaEvent<SqsEvent>| async move {
            Ok::<_, lambda_runtime::Error>(sender.handle(event.payload).await)
        }),
    )
    .await
}

//! Lambda entry point: build clients once, handle SQS batches.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use metrics_cloudwatch_embedded::lambda::service::run;
use outflow::clients::AwsClients;
use outflow::config::{Config, MissingVar};
use outflow::delivery::{build_client, HealthKeeper};
use outflow::notify::OwnerNotifier;
use outflow::queue::DeliveryQueue;
use outflow::store::Store;
use outflow::telemetry;
use outflow_sender::Sender;

// One thread: at the template's 256 MB a Lambda has a fraction of one vCPU, so worker
// threads would only add start-up time and switching (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let metrics = telemetry::install("sender")?;
    let config = Config::from_env()?;
    let aws = AwsClients::from_env().await;
    let store = Store::new(aws.dynamo, &config.table_name);
    let health = HealthKeeper::new(
        store.clone(),
        OwnerNotifier::new(aws.ses, &config.sender_email)
            .with_api_base(config.public_base_url.as_deref()),
    );
    let client = build_client(config.url_policy, config.delivery_timeout);
    let dead_letters = config
        .dead_letter_queue_url
        .clone()
        .ok_or(MissingVar("OUTFLOW_DEAD_LETTER_QUEUE_URL"))?;
    let queue = DeliveryQueue::new(aws.sqs, &config.queue_url).with_dead_letters(dead_letters);
    let sender = Sender::new(
        store,
        queue,
        health,
        client,
        config.url_policy,
        config.retry,
    );
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

//! Faults inside AWS, through the fault-injecting proxy between the functions and moto:
//! throttling, 5xx and broken connections where they hurt most. What was accepted is
//! delivered (or dead-lettered where the tenant can replay it), and a client's retry after
//! a 5xx is never told `duplicate` for a message that was never queued.

use axum::http::StatusCode;
use outflow_e2e::{Fault, Options, Receiver, Rule, TestStack};

const SEED: &str = include_str!("../../../shared/fixtures/timelines_message_example.json");

async fn stack() -> TestStack {
    TestStack::with(Options {
        faults: true,
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn a_request_stopped_between_queue_and_table_is_delivered_by_its_retry() {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@faults.test").await;
    stack.register(&key, &receiver.url()).await;
    let proxy = stack.faults.as_ref().unwrap();
    // The queue fails (every try of the SDK), and so would any clean-up of what was
    // written before it.
    proxy.inject(Rule::always(
        "SQS.SendMessageBatch",
        Fault::ServerError(500),
    ));
    proxy.inject(
        Rule::always("DynamoDB.BatchWriteItem", Fault::ServerError(500))
            .when_body_contains("DeleteRequest"),
    );
    let failed = stack.ingest(&key, SEED).await;
    assert_eq!(
        failed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        failed.body
    );
    assert!(proxy.injected() > 0);
    proxy.clear();

    let retry = stack.ingest(&key, SEED).await;
    assert_eq!(retry.status, StatusCode::ACCEPTED);
    assert_eq!(
        (
            retry.body["accepted"].as_u64(),
            retry.body["duplicates"].as_u64()
        ),
        (Some(1), Some(0)),
        "the retry is not told duplicate: {}",
        retry.body
    );
    stack.drain().await;
    assert_eq!(receiver.received().len(), 1, "delivered once");
}

#[tokio::test]
async fn throttling_and_broken_answers_that_the_sdk_retries_lose_nothing() {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@throttled.test").await;
    stack.register(&key, &receiver.url()).await;
    let proxy = stack.faults.as_ref().unwrap();
    // One fault on each hop the SDK retries by itself: admission, the duplicate check,
    // the write, the queue, and the sender's settings read and log write.
    for (operation, fault) in [
        ("DynamoDB.UpdateItem", Fault::Throttle),
        ("DynamoDB.BatchGetItem", Fault::ServerError(503)),
        ("DynamoDB.BatchWriteItem", Fault::Reset),
        ("SQS.SendMessageBatch", Fault::Throttle),
        ("DynamoDB.GetItem", Fault::ServerError(500)),
    ] {
        let mut rule = Rule::always(operation, fault);
        rule.remaining = Some(1);
        proxy.inject(rule);
    }
    let r = stack.ingest(&key, SEED).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    stack.drain().await;
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(proxy.injected(), 5, "every fault was met and retried past");
}

//! Lambda as it is: the real function binaries under the local runtime API emulator,
//! handed their invocation's deadline and killed when they pass it. What was tried is
//! recorded, what was not goes back to the queue uncounted, and nothing is lost.

use outflow_e2e::{Receiver, TestStack};
use outflow_local::runtime_api::{sibling_binary, start_function, TEMPLATE_MEMORY_MIB};
use serde_json::{json, Value};
use std::time::Duration;

fn message(chat: &str, id: &str) -> Value {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../../shared/fixtures/timelines_message_example.json"
    ))
    .unwrap();
    v["message"]["message_id"] = id.into();
    v["chat"]["chat_id"] = chat.into();
    v
}

#[tokio::test]
async fn a_sender_near_its_deadline_starts_no_request_it_cannot_finish() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    // Slow but healthy: every answer takes 1.5 s, each under the 2 s delivery timeout.
    receiver.delay(Duration::from_millis(1_500));
    let (_, key) = stack.workspace(&stack.unique_email("deadline")).await;
    stack.register(&key, &receiver.url()).await;
    let events: Vec<Value> = (0..10)
        .map(|n| message("one-chat", &format!("m-{n}")))
        .collect();
    assert_eq!(
        stack
            .ingest(&key, json!({ "events": events }).to_string())
            .await
            .status,
        202
    );

    let mut env = stack.function_env("deadline-test");
    env.push(("OUTFLOW_DELIVERY_TIMEOUT_SECS".into(), "2".into()));
    let (api, mut sender) = start_function(
        &sibling_binary("outflow-sender"),
        "deadline-sender",
        &env,
        TEMPLATE_MEMORY_MIB,
    )
    .await
    .unwrap();
    let mut messages = Vec::new();
    while messages.len() < 10 {
        messages.extend(stack.pump.receive(1).await.unwrap());
    }
    // 10 deliveries of one chat need 15 s; the invocation has 8.
    let event = stack.pump.event_json(&messages);
    let answer = sender
        .invoke_or_kill(&api, &event, Duration::from_secs(8))
        .await
        .unwrap()
        .expect("answered before its deadline, not killed");
    sender.stop().await;
    let tried = receiver.received().len();
    let handed_back = answer["batchItemFailures"].as_array().unwrap().len();
    assert!((1..10).contains(&tried), "{tried} tried");
    assert_eq!(
        tried + handed_back,
        10,
        "every untried record is handed back"
    );
    let log = stack
        .call(
            axum::http::Method::GET,
            "/v1/webhooks/outbound/log",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        log.body["requests"].as_array().unwrap().len(),
        tried,
        "every attempt recorded"
    );
    assert_eq!(
        stack.items_with_prefix("TRY#").await,
        0,
        "untried ones are not counted"
    );
    // As the event source does: what succeeded leaves the queue, the rest stays.
    let failed: Vec<&str> = answer["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    stack.pump.delete_except(&messages, &failed).await.unwrap();

    // The rest follows, in order, each once.
    receiver.delay(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(200)).await;
    stack.drain().await;
    let ids: Vec<String> = receiver.received().iter().map(|r| r.message_id()).collect();
    let expected: Vec<String> = (0..10).map(|n| format!("m-{n}")).collect();
    assert_eq!(ids, expected);
}

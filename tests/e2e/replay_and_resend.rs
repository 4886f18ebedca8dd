//! Replay of what ran out of attempts (or is held) since an instant, and resend of one
//! logged request: the same `webhook-id` goes out again.

use axum::http::{Method, StatusCode};
use outflow_e2e::{Options, Receiver, TestStack};
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

async fn replay(stack: &TestStack, key: &str, since: &str) -> outflow_e2e::Response {
    let body = json!({ "since": since }).to_string().into_bytes();
    stack
        .call(
            Method::POST,
            "/v1/webhooks/outbound/replay",
            Some(key),
            Some(body),
        )
        .await
}

/// A stack retrying after 1 s, a receiver answering 503, and the key of a workspace whose
/// one delivery ran out of attempts.
async fn one_dead_letter(name: &str) -> (TestStack, Receiver, String) {
    let stack = TestStack::with(Options {
        retry_delay_secs: 1,
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.respond_with(503);
    let (_, key) = stack.workspace(&stack.unique_email(name)).await;
    stack.register(&key, &receiver.url()).await;
    // One delivery: eight failures stay under the eleven that would disable the webhook.
    let events = json!({ "events": [message("c1", "m1")] });
    stack.ingest(&key, events.to_string()).await;
    for _ in 0..60 {
        stack.drain().await;
        if stack.dead_letters().await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(stack.dead_letters().await, 1, "it ran out of attempts");
    (stack, receiver, key)
}

/// The receiver fails the next request once, then answers 200; drains until it got two
/// more requests (a retry after the failure), which it must. Returns how many it had.
async fn fails_once_then_takes_it(
    stack: &TestStack,
    receiver: &Receiver,
    queued: impl std::future::Future<Output = ()>,
) -> usize {
    let before = receiver.received().len();
    receiver.script(move |_, n| (if n == before { 503 } else { 200 }, Duration::ZERO));
    queued.await;
    for _ in 0..30 {
        stack.drain().await;
        if receiver.received().len() == before + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let got = receiver.received().len();
    assert_eq!(got, before + 2, "retried after its failure");
    before
}

#[tokio::test]
async fn replay_re_sends_the_dead_letters_since_an_instant_with_their_webhook_ids() {
    let (stack, receiver, key) = one_dead_letter("replay").await;
    let first_ids: std::collections::BTreeSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    assert_eq!(first_ids.len(), 1);

    let bad = replay(&stack, &key, "yesterday").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["field"], "since");
    let future = replay(&stack, &key, "2999-01-01T00:00:00Z").await;
    assert_eq!(future.status, StatusCode::ACCEPTED);
    assert_eq!(future.body["replayed"], 0, "nothing created after `since`");
    // Past the keys' 13 digits of milliseconds (before: every dead letter).
    let far = replay(&stack, &key, "2300-01-01T00:00:00Z").await;
    assert_eq!(far.body["replayed"], 0, "{}", far.body);

    // The replayed delivery fails once more, then succeeds: a replay starts its retry
    // schedule again (before, its eight failures still counted: dead at once).
    let replayed = async {
        let r = replay(&stack, &key, "2020-01-01T00:00:00Z").await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        assert_eq!(r.body["dead_letters"], 1);
    };
    let before = fails_once_then_takes_it(&stack, &receiver, replayed).await;
    assert_eq!(
        stack.items_with_prefix("DEAD#").await,
        0,
        "delivered, not dead again"
    );
    let again: std::collections::BTreeSet<String> = receiver.received()[before..]
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    assert_eq!(again, first_ids, "replayed with the same webhook-ids");
    let twice = replay(&stack, &key, "2020-01-01T00:00:00Z").await;
    assert_eq!(
        twice.body["replayed"], 0,
        "a replayed delivery is not kept twice"
    );

    let activity = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await
        .body["activity"]
        .to_string();
    assert!(activity.contains("replayed"), "{activity}");
}

#[tokio::test]
async fn replay_and_resend_refuse_while_the_webhook_is_disabled() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@replay-off.test").await;
    let body = json!({ "url": receiver.url(), "enabled": false }).to_string();
    stack
        .call(
            Method::PUT,
            "/v1/webhooks/outbound",
            Some(&key),
            Some(body.into_bytes()),
        )
        .await;
    let r = replay(&stack, &key, "2020-01-01T00:00:00Z").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("enable"));
}

#[tokio::test]
async fn a_logged_request_is_re_sent_with_the_same_webhook_id_and_body() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@resend.test").await;
    let (_, other_key) = stack.workspace("owner@resend-other.test").await;
    stack.register(&key, &receiver.url()).await;
    stack.register(&other_key, &receiver.url()).await;
    stack
        .ingest(&key, json!({ "events": [message("c1", "m1")] }).to_string())
        .await;
    stack.drain().await;
    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    let request_id = log.body["requests"][0]["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/webhooks/outbound/log/{request_id}/resend");

    let foreign = stack
        .call(Method::POST, &path, Some(&other_key), None)
        .await;
    assert_eq!(
        foreign.status,
        StatusCode::NOT_FOUND,
        "another tenant's log is not reachable"
    );
    let unknown = stack
        .call(
            Method::POST,
            "/v1/webhooks/outbound/log/req_0000000000001_aaaaaaaaaaaa/resend",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let r = stack.call(Method::POST, &path, Some(&key), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    stack.drain().await;
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    assert_eq!(got[0].body, got[1].body);
    assert_eq!(r.body["delivery_id"], got[0].header("webhook-id"));
}

#[tokio::test]
async fn a_resent_request_gets_the_retry_schedule_again() {
    let (stack, receiver, key) = one_dead_letter("resend-retries").await;
    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    let request_id = log.body["requests"][0]["request_id"].as_str().unwrap();
    let path = format!("/v1/webhooks/outbound/log/{request_id}/resend");
    let resent = async {
        let r = stack.call(Method::POST, &path, Some(&key), None).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    };
    fails_once_then_takes_it(&stack, &receiver, resent).await;
    // Before: its eight failures still counted, so one more made it a dead letter at once.
    assert_eq!(
        stack.items_with_prefix("DEAD#").await,
        1,
        "only the first dead letter"
    );
}

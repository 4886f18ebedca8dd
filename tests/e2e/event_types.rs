//! Event types (issue 17, first part): every delivery names its type in
//! `webhook-event-type`; a webhook receives the types it subscribes to (`event_types`),
//! and one that never chose keeps receiving both message types, as before.

use axum::http::{Method, StatusCode};
use outflow_e2e::{Receiver, TestStack};
use serde_json::{json, Value};

/// A native message event of chat `chat`, in `direction`.
fn message(id: &str, chat: &str, direction: &str) -> Value {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../../shared/fixtures/timelines_message_example.json"
    ))
    .unwrap();
    v["message"]["message_id"] = id.into();
    v["message"]["direction"] = direction.into();
    v["chat"]["chat_id"] = chat.into();
    v
}

fn batch(events: Vec<Value>) -> String {
    json!({ "events": events }).to_string()
}

async fn save(stack: &TestStack, key: &str, body: Value) -> (StatusCode, Value) {
    let r = stack.save_settings(key, &body).await;
    (r.status, r.body)
}

/// (message id, `webhook-event-type`) of each request the receiver got, in order.
fn received(receiver: &Receiver) -> Vec<(String, String)> {
    receiver
        .received()
        .iter()
        .map(|r| (r.message_id(), r.header("webhook-event-type").to_string()))
        .collect()
}

#[tokio::test]
async fn a_webhook_that_never_chose_gets_both_message_types_each_named_in_a_header() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@types-default.test").await;
    let registered = stack.register(&key, &receiver.url()).await;
    assert_eq!(
        registered["event_types"],
        json!(["message:received:new", "message:sent:new"])
    );
    let events = vec![
        message("in-1", "c1", "received"),
        message("out-1", "c2", "sent"),
    ];
    let r = stack.ingest(&key, batch(events)).await;
    assert_eq!(r.body["accepted"], 2, "{}", r.body);
    stack.drain().await;
    let mut got = received(&receiver);
    got.sort();
    assert_eq!(
        got,
        [
            ("in-1".to_string(), "message:received:new".to_string()),
            ("out-1".to_string(), "message:sent:new".to_string()),
        ]
    );
    // The log shows the header; a resend of a logged request sends it again.
    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    let entry = &log.body["requests"][0];
    let kind = entry["request_headers"]["webhook-event-type"].clone();
    assert!(kind.as_str().unwrap().starts_with("message:"), "{entry}");
    let path = format!(
        "/v1/webhooks/outbound/log/{}/resend",
        entry["request_id"].as_str().unwrap()
    );
    let resent = stack.call(Method::POST, &path, Some(&key), None).await;
    assert_eq!(resent.status, StatusCode::ACCEPTED, "{}", resent.body);
    stack.drain().await;
    let last = receiver.received().pop().unwrap();
    assert_eq!(last.header("webhook-event-type"), kind.as_str().unwrap());
}

#[tokio::test]
async fn a_webhook_gets_only_the_types_it_subscribes_to() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@types-chosen.test").await;
    let (status, saved) = save(
        &stack,
        &key,
        json!({"url": receiver.url(), "event_types": ["message:received:new"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["event_types"], json!(["message:received:new"]));

    let events = vec![
        message("in-2", "c1", "received"),
        message("out-2", "c2", "sent"),
    ];
    let r = stack.ingest(&key, batch(events)).await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);
    assert_eq!(r.body["skipped"], 1);
    assert_eq!(
        r.body["events"][1]["reason"],
        "the webhook does not subscribe to message:sent:new"
    );
    stack.drain().await;
    assert_eq!(
        received(&receiver),
        [("in-2".to_string(), "message:received:new".to_string())]
    );

    // An empty list takes every type; leaving it out goes back to the message types.
    let (_, all) = save(
        &stack,
        &key,
        json!({"url": receiver.url(), "event_types": []}),
    )
    .await;
    assert_eq!(
        all["event_types"],
        json!([
            "message:received:new",
            "message:sent:new",
            "message:updated",
            "chat:created",
            "chat:closed",
            "chat:assigned"
        ])
    );
    let r = stack
        .ingest(&key, batch(vec![message("out-3", "c3", "sent")]))
        .await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);

    // What no webhook can subscribe to is refused, naming the entry; nothing is saved.
    for (types, field) in [
        (
            json!(["message:received:new", "message:bundle"]),
            "event_types[1]",
        ),
        (json!(["chat:teleported"]), "event_types[0]"),
    ] {
        let (status, body) = save(
            &stack,
            &key,
            json!({"url": "http://127.0.0.1:9/other", "event_types": types}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let shown = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await;
    assert_eq!(shown.body["url"], receiver.url());
}

#[tokio::test]
async fn a_bundle_is_named_message_bundle_and_holds_only_the_subscribed_types() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@types-bundle.test").await;
    stack.set_time("2026-03-01T10:00:00Z");
    let body = json!({"url": receiver.url(), "aggregation": "1h",
                      "event_types": ["message:sent:new"]});
    assert_eq!(save(&stack, &key, body).await.0, StatusCode::OK);
    stack.set_time("2026-03-01T10:05:00Z");
    let events = vec![
        message("b-in", "chat-b", "received"),
        message("b-out", "chat-b", "sent"),
    ];
    let r = stack.ingest(&key, batch(events)).await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);
    stack.aggregate("2026-03-01T11:01:30Z").await;
    stack.drain().await;
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("webhook-event-type"), "message:bundle");
    assert_eq!(got[0].bundled_ids(), ["b-out"]);
}

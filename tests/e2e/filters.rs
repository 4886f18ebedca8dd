//! Filters (issue 17): a webhook takes only the chats, accounts, directions and chat kinds
//! its filter names; what it does not take is skipped (messages, with the reason) or not
//! told (chat events), and the rest arrives as before.

use axum::http::{Method, StatusCode};
use outflow_e2e::{Receiver, TestStack};
use serde_json::{json, Value};

const SEED: &str = include_str!("../../../shared/fixtures/timelines_message_example.json");
const NATIVE_CREATED: &str = include_str!("../fixtures/native_chat_created.json");
const CONVERSATION: &str =
    include_str!("../../../shared/fixtures/livedesk_conversation_created.json");

fn message(id: &str, chat: &str, direction: &str) -> Value {
    let mut v: Value = serde_json::from_str(SEED).unwrap();
    v["message"]["message_id"] = id.into();
    v["message"]["direction"] = direction.into();
    v["chat"]["chat_id"] = chat.into();
    v
}

fn chat_created(chat: &str) -> Value {
    let mut v: Value = serde_json::from_str(NATIVE_CREATED).unwrap();
    v["chat"]["chat_id"] = chat.into();
    v
}

/// The chat of each delivery the receiver got, in order.
fn chats_received(receiver: &Receiver) -> Vec<Value> {
    let received = receiver.received();
    received
        .iter()
        .map(|r| r.json()["chat"]["chat_id"].clone())
        .collect()
}

async fn save(stack: &TestStack, key: &str, body: Value) -> (StatusCode, Value) {
    let r = stack.save_settings(key, &body).await;
    (r.status, r.body)
}

#[tokio::test]
async fn a_webhook_takes_only_what_its_filter_names() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@filters.test").await;
    let filter = json!({"chat_ids": ["f-1", "f-2"], "directions": ["received"]});
    let body = json!({"url": receiver.url(), "event_types": [], "filter": filter});
    let (status, saved) = save(&stack, &key, body).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["filter"], filter);

    let events = json!({"events": [
        message("in-f1", "f-1", "received"),
        message("out-f1", "f-1", "sent"),
        message("in-f3", "f-3", "received"),
        chat_created("f-2"),
        chat_created("f-3"),
    ]});
    let r = stack.ingest(&key, events.to_string()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let reasons: Vec<&str> = r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        reasons,
        [
            "",
            "the webhook's filter does not take sent messages",
            "the webhook's filter does not take chat f-3",
            "",
            "",
        ]
    );
    stack.drain().await;
    let got: Vec<(String, String)> = receiver
        .received()
        .iter()
        .map(|r| {
            let body = r.json();
            (
                r.header("webhook-event-type").to_string(),
                body["chat"]["chat_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut got = got;
    got.sort();
    assert_eq!(
        got,
        [
            ("chat:created".to_string(), "f-2".to_string()),
            ("message:received:new".to_string(), "f-1".to_string()),
        ]
    );

    // A save without a filter takes every chat again.
    let (_, saved) = save(&stack, &key, json!({"url": receiver.url()})).await;
    assert!(saved.get("filter").is_none(), "{saved}");
}

#[tokio::test]
async fn a_chatwoot_inbox_and_a_chat_kind_are_filtered_too() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@filter-inbox.test").await;
    let filter = json!({"accounts": ["Inbox 523"], "chats": "direct"});
    let body = json!({"url": receiver.url(), "event_types": ["chat:created"], "filter": filter});
    assert_eq!(save(&stack, &key, body).await.0, StatusCode::OK);
    let mut other_inbox: Value = serde_json::from_str(CONVERSATION).unwrap();
    other_inbox["inbox_id"] = 524.into();
    other_inbox["id"] = 90.into();
    let mut group: Value = serde_json::from_str(CONVERSATION).unwrap();
    group["chat_mode"] = "group_chat".into();
    group["id"] = 91.into();
    let events = json!({"events": [serde_json::from_str::<Value>(CONVERSATION).unwrap(), other_inbox, group]});
    let r = stack.ingest(&key, events.to_string()).await;
    assert_eq!(r.body["accepted"], 3, "{}", r.body);
    stack.drain().await;
    let chats = chats_received(&receiver);
    assert_eq!(chats, [json!("89")]);
}

#[tokio::test]
async fn a_filter_over_its_limits_is_refused_naming_the_field() {
    let stack = TestStack::new().await;
    let (_, key) = stack.workspace("owner@filter-limits.test").await;
    let many: Vec<String> = (0..101).map(|i| format!("c{i}")).collect();
    for (filter, field) in [
        (json!({"chat_ids": many}), "filter.chat_ids"),
        (json!({"chat_ids": ["ok", ""]}), "filter.chat_ids[1]"),
        (json!({"accounts": ["x".repeat(513)]}), "filter.accounts[0]"),
        (json!({"chats": "channel"}), "filter.chats"),
    ] {
        let body = json!({"url": "http://127.0.0.1:9/x", "filter": filter});
        let (status, answer) = save(&stack, &key, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let shown = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await;
    assert_eq!(shown.status, StatusCode::NOT_FOUND, "nothing was saved");
}

#[tokio::test]
async fn a_misspelt_criterion_or_setting_is_refused_not_dropped() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@filter-typos.test").await;
    let filter = json!({"chat_ids": ["t-1"]});
    let body = json!({"url": receiver.url(), "filter": filter});
    let (status, saved) = save(&stack, &key, body).await;
    assert_eq!(status, StatusCode::OK, "{saved}");

    // Dropped, each would widen the filter to every chat or leave the webhook on.
    let url = receiver.url();
    let typos = [
        (
            Method::PATCH,
            "/v1/endpoints/default",
            json!({"filter": {"chat_id": ["t-1", "t-2"]}}),
            "filter.chat_id",
        ),
        (
            Method::PUT,
            "/v1/webhooks/outbound",
            json!({"url": url, "filter": {"chat_id": ["t-1"]}}),
            "filter.chat_id",
        ),
        (
            Method::PUT,
            "/v1/webhooks/outbound",
            json!({"url": url, "filters": filter}),
            "filters",
        ),
        (
            Method::PUT,
            "/v1/webhooks/outbound",
            json!({"url": url, "filter": filter, "enable": false}),
            "enable",
        ),
        (
            Method::POST,
            "/v1/endpoints",
            json!({"url": url, "filter": {"chat": ["t-1"]}}),
            "filter.chat",
        ),
    ];
    for (method, path, body, field) in typos {
        let r = stack
            .call(method, path, Some(&key), Some(body.to_string().into()))
            .await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{path} {body}: {}",
            r.body
        );
        assert_eq!(r.body["error"]["field"], field, "{}", r.body);
    }
    let shown = stack
        .call(Method::GET, "/v1/endpoints", Some(&key), None)
        .await;
    let endpoints = shown.body["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1, "no endpoint added: {}", shown.body);
    assert_eq!(endpoints[0]["filter"], filter, "the filter kept");
    assert_eq!(endpoints[0]["enabled"], true);

    let events = json!({"events": [message("typo-1", "t-1", "received"), message("typo-2", "t-2", "received")]});
    let r = stack.ingest(&key, events.to_string()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    stack.drain().await;
    let chats = chats_received(&receiver);
    assert_eq!(chats, [json!("t-1")], "only the filtered chat");
}

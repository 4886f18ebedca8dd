//! Several endpoints per workspace (issue 17): each gets exactly what its types and filter
//! take, with its own `webhook-id`s, secret, health and log; a failing one never harms
//! another; the limit, delete, and `/v1/webhooks/outbound` addressing the default.

use axum::http::{Method, StatusCode};
use outflow_e2e::{Fault, Received, Receiver, Rule, TestStack};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const NATIVE_CREATED: &str = include_str!("../fixtures/native_chat_created.json");

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

/// A native `chat:created` of chat `chat`.
fn chat_created(chat: &str) -> Value {
    let mut v: Value = serde_json::from_str(NATIVE_CREATED).unwrap();
    v["chat"]["chat_id"] = chat.into();
    v
}

fn batch(events: Vec<Value>) -> String {
    json!({ "events": events }).to_string()
}

/// `POST /v1/endpoints`.
async fn create(stack: &TestStack, key: &str, body: Value) -> (StatusCode, Value) {
    let body = body.to_string().into_bytes();
    let r = stack
        .call(Method::POST, "/v1/endpoints", Some(key), Some(body))
        .await;
    (r.status, r.body)
}

/// What a receiver got: (`webhook-event-type`, message or chat id, `webhook-id`).
fn got(receiver: &Receiver) -> Vec<(String, String, String)> {
    let mut got: Vec<_> = receiver
        .received()
        .iter()
        .map(|r: &Received| {
            let body = r.json();
            let id = body["message"]["message_id"]
                .as_str()
                .or(body["chat"]["chat_id"].as_str())
                .unwrap_or_default()
                .to_string();
            let kind = r.header("webhook-event-type").to_string();
            (kind, id, r.header("webhook-id").to_string())
        })
        .collect();
    got.sort();
    got
}

fn kinds_and_ids(got: &[(String, String, String)]) -> Vec<(&str, &str)> {
    got.iter()
        .map(|(k, i, _)| (k.as_str(), i.as_str()))
        .collect()
}

#[tokio::test]
async fn two_endpoints_each_get_exactly_what_their_types_filters_and_granularity_take() {
    let stack = TestStack::new().await;
    let (crm, zapier) = (Receiver::start().await, Receiver::start().await);
    let (_, key) = stack.workspace("owner@endpoints-two.test").await;
    stack.set_time("2026-03-01T10:00:00Z");
    // The first endpoint is the default: hourly bundles of received messages.
    let (status, default) = create(
        &stack,
        &key,
        json!({"url": crm.url(), "description": "CRM", "aggregation": "1h",
               "event_types": ["message:received:new"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{default}");
    assert_eq!(default["endpoint_id"], "default");
    // The second: at once, new chats and sent messages, of chat c1 only.
    let (status, second) = create(
        &stack,
        &key,
        json!({"url": zapier.url(), "description": "Zapier",
               "event_types": ["chat:created", "message:sent:new"],
               "filter": {"chat_ids": ["c1"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let id = second["endpoint_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ep_"), "{second}");
    assert_ne!(
        second["secret"], default["secret"],
        "each has its own secret"
    );
    // The one webhook route still addresses the default.
    let outbound = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await;
    assert_eq!(outbound.body["url"], crm.url());

    stack.set_time("2026-03-01T10:05:00Z");
    let events = vec![
        chat_created("c1"),
        chat_created("c2"),
        message("c1-in", "c1", "received"),
        message("c1-out", "c1", "sent"),
        message("c2-in", "c2", "received"),
        message("c2-out", "c2", "sent"),
    ];
    let r = stack.ingest(&key, batch(events)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    // c2-out: sent (not the default's type) in c2 (not the second's chat).
    assert_eq!(r.body["accepted"], 5, "{}", r.body);
    assert_eq!(r.body["skipped"], 1, "{}", r.body);
    stack.drain().await;
    // The immediate endpoint has its share at once; the default waits for its window.
    assert!(crm.received().is_empty());
    assert_eq!(
        kinds_and_ids(&got(&zapier)),
        [("chat:created", "c1"), ("message:sent:new", "c1-out")]
    );
    stack.aggregate("2026-03-01T11:01:30Z").await;
    stack.drain().await;
    let bundles = crm.received();
    let mut bundled: Vec<Vec<String>> = bundles.iter().map(|b| b.bundled_ids()).collect();
    bundled.sort();
    assert_eq!(
        bundled,
        [vec!["c1-in".to_string()], vec!["c2-in".to_string()]]
    );
    assert_eq!(zapier.received().len(), 2, "nothing more for the second");

    // Each endpoint's log holds its own requests only.
    let log = stack
        .call(
            Method::GET,
            &format!("/v1/endpoints/{id}/log"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    assert_eq!(log.body["requests"].as_array().unwrap().len(), 2);
    let default_log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    assert_eq!(default_log.body["requests"].as_array().unwrap().len(), 2);

    // The list shows both, the default first.
    let list = stack
        .call(Method::GET, "/v1/endpoints", Some(&key), None)
        .await;
    let listed: Vec<(&str, &str)> = list.body["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["endpoint_id"].as_str().unwrap(),
                e["description"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [("default", "CRM"), (id.as_str(), "Zapier")]);
    assert_eq!(list.body["limit"], 10);
}

#[tokio::test]
async fn one_message_to_two_endpoints_is_two_deliveries_each_with_its_own_id_and_signature() {
    let stack = TestStack::new().await;
    let (a, b) = (Receiver::start().await, Receiver::start().await);
    let (_, key) = stack.workspace("owner@endpoints-ids.test").await;
    stack.register(&key, &a.url()).await;
    let (status, second) = create(&stack, &key, json!({"url": b.url()})).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let r = stack
        .ingest(&key, batch(vec![message("m-1", "c1", "received")]))
        .await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);
    // Stored once, whatever the number of endpoints.
    assert_eq!(stack.items_with_prefix("MSG#").await, 1);
    stack.drain().await;
    let (got_a, got_b) = (a.received(), b.received());
    assert_eq!((got_a.len(), got_b.len()), (1, 1));
    assert_eq!(got_a[0].body, got_b[0].body, "the same payload");
    assert_ne!(got_a[0].header("webhook-id"), got_b[0].header("webhook-id"));
    assert_ne!(
        got_a[0].header("webhook-signature"),
        got_b[0].header("webhook-signature")
    );
    // A retried request repeats neither (the same ids, dropped as duplicates).
    let again = stack
        .ingest(&key, batch(vec![message("m-1", "c1", "received")]))
        .await;
    assert_eq!(again.body["duplicates"], 1, "{}", again.body);
    stack.drain().await;
    assert_eq!((a.received().len(), b.received().len()), (1, 1));
}

#[tokio::test]
async fn two_first_creates_at_once_make_the_default_and_one_more_never_one_over_the_other() {
    let stack = TestStack::behind_faults().await;
    let (a, b) = (Receiver::start().await, Receiver::start().await);
    let (_, key) = stack.workspace("owner@endpoints-race.test").await;
    // A fresh workspace: both creates find no webhook; A's settings write waits while B
    // makes the default.
    let proxy = stack.faults.as_ref().unwrap();
    // A's filter is large enough to be kept in an item of its own, written before.
    let chats: Vec<String> = (0..20).map(|i| format!("c{i}-a-long-chat-id")).collect();
    let chats = [vec!["c1".to_string()], chats].concat();
    let filtered = json!({"url": a.url(), "filter": {"chat_ids": chats}});
    let first = create(&stack, &key, filtered);
    let meanwhile = create(&stack, &key, json!({"url": b.url()}));
    let held = ("DynamoDB.UpdateItem", a.url());
    let ((status_a, made_a), (status_b, made_b)) =
        proxy.while_held((held.0, &held.1), first, meanwhile).await;
    assert_eq!(status_b, StatusCode::CREATED, "{made_b}");
    assert_eq!(made_b["endpoint_id"], "default");
    // Before: A's write replaced B's URL, and both were told they made the default.
    assert_eq!(status_a, StatusCode::CREATED, "{made_a}");
    assert_ne!(made_a["endpoint_id"], "default", "{made_a}");
    assert_eq!(made_a["url"], a.url().as_str());

    let list = stack
        .call(Method::GET, "/v1/endpoints", Some(&key), None)
        .await;
    let urls: Vec<(&str, &str)> = (list.body["endpoints"].as_array().unwrap().iter())
        .map(|e| {
            (
                e["endpoint_id"].as_str().unwrap(),
                e["url"].as_str().unwrap(),
            )
        })
        .collect();
    let id_a = made_a["endpoint_id"].as_str().unwrap();
    let (url_a, url_b) = (a.url(), b.url());
    assert_eq!(urls, [("default", url_b.as_str()), (id_a, url_a.as_str())]);
    assert_eq!(made_a["filter"]["chat_ids"][0], "c1");

    // Each gets the message, signed with the secret its create answered.
    let r = stack
        .ingest(&key, batch(vec![message("m-1", "c1", "received")]))
        .await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);
    stack.drain().await;
    for (receiver, made) in [(&a, &made_a), (&b, &made_b)] {
        let got = receiver.received();
        assert_eq!(got.len(), 1);
        let secret = made["secret"].as_str().unwrap();
        assert!(got[0].signed_with(secret));
    }
}

#[tokio::test]
async fn a_first_create_whose_write_answer_is_lost_makes_the_default_and_nothing_more() {
    let stack = TestStack::behind_faults().await;
    let receiver = Receiver::start().await;
    let proxy = stack.faults.as_ref().unwrap();
    let body = json!({"url": receiver.url()}).to_string().into_bytes();
    for (n, idempotency_key) in [None, Some("k-1")].into_iter().enumerate() {
        let (_, key) = stack
            .workspace(&format!("owner-{n}@endpoints-lost.test"))
            .await;
        // The settings write is made, its answer lost: the SDK's retry finds the default
        // registered, by this very request.
        let lost = Rule::always("DynamoDB.UpdateItem", Fault::LostAnswer);
        proxy.inject(lost.when_body_contains(&receiver.url()).times(1));
        let headers: Vec<_> = idempotency_key
            .map(|k| ("idempotency-key", k))
            .into_iter()
            .collect();
        let (path, body) = ("/v1/endpoints", Some(body.clone()));
        let r = (stack.call_with(Method::POST, path, Some(&key), body, &headers)).await;
        assert_eq!(proxy.injected(), n as u64 + 1, "the answer was lost");
        let made = r.body;
        assert_eq!(r.status, StatusCode::CREATED, "{made}");
        assert_eq!(made["endpoint_id"], "default", "{made}");
        let replayed = r.headers.get("idempotent-replayed");
        assert!(replayed.is_none(), "made by this request");
        let list = stack
            .call(Method::GET, "/v1/endpoints", Some(&key), None)
            .await;
        assert_eq!(
            list.body["endpoints"].as_array().unwrap().len(),
            1,
            "{}",
            list.body
        );
        let saved = made["activity"].as_array().unwrap();
        assert_eq!(saved.len(), 1, "{saved:?}");

        // One delivery, signed with the secret the create answered.
        let event = message(&format!("m-{n}"), &format!("c{n}"), "received");
        let r = stack.ingest(&key, batch(vec![event])).await;
        assert_eq!(r.body["accepted"], 1, "{}", r.body);
        stack.drain().await;
        let got = receiver.received();
        assert_eq!(got.len(), n + 1, "not a copy to a second endpoint");
        let got = &got[n];
        assert!(got.signed_with(made["secret"].as_str().unwrap()));
    }
}

#[tokio::test]
async fn a_failing_endpoint_is_disabled_alone_and_deleting_it_drops_what_it_held() {
    let stack = TestStack::new().await;
    let (good, bad) = (Receiver::start().await, Receiver::start().await);
    bad.respond_with(500);
    let owner = stack.unique_email("endpoints-fail");
    let (_, key) = stack.workspace(&owner).await;
    stack.register(&key, &good.url()).await;
    let (_, second) = create(&stack, &key, json!({"url": bad.url()})).await;
    let id = second["endpoint_id"].as_str().unwrap().to_string();

    // One chat per message: a chat's deliveries wait behind its failed one.
    let events: Vec<Value> = (0..12)
        .map(|i| message(&format!("f-{i}"), &format!("chat-{i}"), "received"))
        .collect();
    stack.ingest(&key, batch(events)).await;
    stack.drain().await;
    assert_eq!(good.received().len(), 12, "the default has every message");
    let shown = stack
        .call(
            Method::GET,
            &format!("/v1/endpoints/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(shown.body["enabled"], false, "{}", shown.body);
    assert!(
        shown.body["status"]["consecutive_failures"]
            .as_u64()
            .unwrap()
            >= 11
    );
    // Its owner is emailed, about that endpoint: its URL, its own enable route (the first
    // email told it was added).
    let emails = stack.emails_to(&owner).await;
    assert_eq!(emails.len(), 2, "{emails:?}");
    assert!(emails[0].to_string().contains("was added"), "{emails:?}");
    let text = emails[1].to_string();
    assert!(text.contains(&format!("URL: {}", bad.url())), "{text}");
    assert!(
        text.contains(&format!("/v1/endpoints/{id}/enable")),
        "{text}"
    );
    let default = stack
        .call(Method::GET, "/v1/endpoints/default", Some(&key), None)
        .await;
    assert_eq!(default.body["enabled"], true);
    assert_eq!(default.body["status"]["consecutive_failures"], 0);

    // While it is off, its deliveries are held; the default's go on.
    stack
        .ingest(&key, batch(vec![message("g-1", "chat-x", "received")]))
        .await;
    stack.drain().await;
    assert_eq!(good.received().len(), 13);
    let before = bad.received().len();

    // Deleted: what it held is dropped, nothing more reaches it, its routes are gone.
    let deleted = stack
        .call(
            Method::DELETE,
            &format!("/v1/endpoints/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert!(
        deleted.body["dropped"].as_u64().unwrap() >= 1,
        "{}",
        deleted.body
    );
    assert_eq!(deleted.body["complete"], true);
    stack
        .ingest(&key, batch(vec![message("g-2", "chat-y", "received")]))
        .await;
    stack.drain().await;
    assert_eq!(good.received().len(), 14);
    assert_eq!(bad.received().len(), before);
    for (method, path) in [
        (Method::GET, format!("/v1/endpoints/{id}")),
        (Method::POST, format!("/v1/endpoints/{id}/enable")),
        (Method::DELETE, format!("/v1/endpoints/{id}")),
    ] {
        let r = stack.call(method, &path, Some(&key), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    let ws = key.split('.').nth(1).unwrap();
    assert_eq!(held_items(&stack, &format!("{ws}.{id}")).await, 0);
}

/// Held deliveries and dead letters kept under a delivery scope.
async fn held_items(stack: &TestStack, scope: &str) -> usize {
    let pk = format!("WS#{scope}");
    stack
        .items()
        .await
        .iter()
        .filter(|item| item["pk"].as_s().unwrap() == &pk)
        .filter(|item| {
            let sk = item["sk"].as_s().unwrap();
            sk.starts_with("HELD#") || sk.starts_with("DEAD#")
        })
        .count()
}

#[tokio::test]
async fn the_limit_says_itself_and_the_default_stays() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@endpoints-limit.test").await;
    stack.register(&key, &receiver.url()).await;
    let mut ids = Vec::new();
    for i in 0..9 {
        let (status, made) = create(
            &stack,
            &key,
            json!({"url": receiver.url(), "description": format!("n{i}")}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        ids.push(made["endpoint_id"].as_str().unwrap().to_string());
    }
    let (status, refused) = create(&stack, &key, json!({"url": receiver.url()})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(
        refused["error"]["message"],
        "conflict: a workspace has at most 10 endpoints"
    );
    let list = stack
        .call(Method::GET, "/v1/endpoints", Some(&key), None)
        .await;
    assert_eq!(list.body["endpoints"].as_array().unwrap().len(), 10);
    // The default cannot be deleted.
    let r = stack
        .call(Method::DELETE, "/v1/endpoints/default", Some(&key), None)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let r = stack
        .call(
            Method::DELETE,
            &format!("/v1/endpoints/{}", ids[0]),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (status, body) = create(
        &stack,
        &key,
        json!({"url": receiver.url(), "aggregation": "6h"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "room again after a delete: {body}"
    );
    // A changed endpoint keeps what the change leaves out.
    let id = body["endpoint_id"].as_str().unwrap();
    let change = json!({"description": "renamed", "event_types": ["chat:closed"]});
    let r = stack
        .call(
            Method::PATCH,
            &format!("/v1/endpoints/{id}"),
            Some(&key),
            Some(change.to_string().into_bytes()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["description"], "renamed");
    assert_eq!(r.body["url"], receiver.url());
    assert_eq!(r.body["aggregation"], "6h");
    assert_eq!(r.body["event_types"], json!(["chat:closed"]));
    // Unknown ids and malformed ones are simply not there.
    for path in [
        "/v1/endpoints/ep_aaaaaaaaaaaaaaaaaaaaaa",
        "/v1/endpoints/..%2Fdefault",
    ] {
        let r = stack.call(Method::GET, path, Some(&key), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
}

#[tokio::test]
async fn endpoint_routes_need_their_scopes_and_reach_only_the_keys_workspace() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let owner = stack.unique_email("endpoints-scopes");
    let (_, key) = stack.workspace(&owner).await;
    let (_, other_key) = stack.workspace("owner@endpoints-other.test").await;
    stack.register(&key, &receiver.url()).await;
    let (_, second) = create(&stack, &key, json!({"url": receiver.url()})).await;
    let id = second["endpoint_id"].as_str().unwrap().to_string();
    let make = json!({"scopes": ["events:write"], "name": "chat system"}).to_string();
    let made = stack
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&key),
            Some(make.into_bytes()),
        )
        .await;
    let events_only = made.body["api_key"].as_str().unwrap().to_string();
    let cases = [
        (Method::GET, "/v1/endpoints".to_string(), "logs:read"),
        (
            Method::POST,
            "/v1/endpoints".to_string(),
            "endpoints:manage",
        ),
        (Method::GET, format!("/v1/endpoints/{id}"), "logs:read"),
        (
            Method::POST,
            format!("/v1/endpoints/{id}/rotate-secret"),
            "endpoints:manage",
        ),
        (
            Method::DELETE,
            format!("/v1/endpoints/{id}"),
            "endpoints:manage",
        ),
    ];
    for (method, path, scope) in cases {
        let body = json!({"url": "http://127.0.0.1:9/x"})
            .to_string()
            .into_bytes();
        let r = stack
            .call(method, &path, Some(&events_only), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
        assert!(
            r.body["error"]["message"].as_str().unwrap().contains(scope),
            "{path}: {}",
            r.body
        );
    }
    // Another workspace's key does not find this endpoint.
    let r = stack
        .call(
            Method::GET,
            &format!("/v1/endpoints/{id}"),
            Some(&other_key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // The endpoint's own test event reaches its URL and its log.
    let r = stack
        .call(
            Method::POST,
            &format!("/v1/endpoints/{id}/test"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let log = stack
        .call(
            Method::GET,
            &format!("/v1/endpoints/{id}/log"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(log.body["requests"].as_array().unwrap().len(), 1);
    assert_eq!(
        log.body["requests"][0]["request_id"], r.body["request_id"],
        "the test event's answer names the request as its log does"
    );
    let default_log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    assert!(default_log.body["requests"].as_array().unwrap().is_empty());
    // Its secret rotated: the workspace's owner is told; the default's secret stays.
    let before = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await;
    let path = format!("/v1/endpoints/{id}/rotate-secret");
    let rotated = stack.call(Method::POST, &path, Some(&key), None).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_ne!(rotated.body["secret"], second["secret"]);
    let after = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await;
    assert_eq!(after.body["secret"], before.body["secret"]);
    // (The first emails told of the events-only key and of the endpoint added.)
    let emails = stack.emails_to(&owner).await;
    assert_eq!(emails.len(), 3, "{emails:?}");
    assert!(
        emails[2].to_string().contains("signing secret"),
        "{:?}",
        emails[2]
    );
}

/// A Chatwoot `message_created` of conversation 89: `outgoing` or `incoming`, id `id`.
fn chatwoot(id: u64, message_type: &str) -> Value {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../../shared/fixtures/livedesk_message_created.json"
    ))
    .unwrap();
    v["id"] = id.into();
    v["message_type"] = message_type.into();
    v
}

/// What a receiver got: (message id, `is_new_chat`), by message id.
fn new_chat_by_message(receiver: &Receiver) -> Vec<(String, bool)> {
    let mut got: Vec<(String, bool)> = receiver
        .received()
        .iter()
        .map(|r| {
            let new = r.json()["chat"]["is_new_chat"].as_bool();
            (r.message_id(), new.expect("is_new_chat"))
        })
        .collect();
    got.sort();
    got
}

/// The chat states kept under `scope` (`CHAT#` items in its spread partitions).
async fn chat_states(stack: &TestStack, scope: &str) -> usize {
    let partition = format!("WS#{scope}#");
    let text = |item: &std::collections::HashMap<String, _>, name: &str| {
        let value: Option<&aws_sdk_dynamodb::types::AttributeValue> = item.get(name);
        value
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let items = stack.items().await;
    let chats = items.iter().filter(|item| {
        text(item, "pk").starts_with(&partition) && text(item, "sk").starts_with("CHAT#")
    });
    chats.count()
}

#[tokio::test]
async fn deleting_an_endpoint_drops_its_chat_states_and_the_defaults_stay() {
    let stack = TestStack::new().await;
    let (crm, zapier) = (Receiver::start().await, Receiver::start().await);
    let (ws, key) = stack.workspace("owner@endpoints-chat-states.test").await;
    stack.register(&key, &crm.url()).await;
    let (status, made) = create(&stack, &key, json!({"url": zapier.url()})).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["endpoint_id"].as_str().unwrap();
    let (status, sibling) = create(&stack, &key, json!({"url": zapier.url()})).await;
    assert_eq!(status, StatusCode::CREATED, "{sibling}");
    let sibling = format!("{ws}.{}", sibling["endpoint_id"].as_str().unwrap());
    for n in 1..=3 {
        let mut event = chatwoot(n, "incoming");
        event["conversation"]["id"] = (100 + n).into();
        let r = stack.ingest(&key, event.to_string()).await;
        assert_eq!(r.body["accepted"], 1, "{}", r.body);
    }
    stack.drain().await;
    let scope = format!("{ws}.{id}");
    for scope in [&scope, &sibling, &ws] {
        assert_eq!(chat_states(&stack, scope).await, 3, "one per chat");
    }

    let path = format!("/v1/endpoints/{id}");
    let deleted = stack.call(Method::DELETE, &path, Some(&key), None).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    // Before: kept for ever (no TTL), read by nothing.
    assert_eq!(chat_states(&stack, &scope).await, 0);
    assert_eq!(chat_states(&stack, &ws).await, 3, "the default's stay");
    assert_eq!(
        chat_states(&stack, &sibling).await,
        3,
        "and the other endpoint's"
    );
    // The store never purges a workspace's own (its default's) chat states.
    let own = outflow::domain::WorkspaceId::parse(&ws).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let refused = stack.app.api.store.purge_chat_states(&own, deadline).await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(chat_states(&stack, &ws).await, 3);
}

#[tokio::test]
async fn a_message_only_another_endpoint_takes_never_uses_up_the_defaults_new_chat() {
    let stack = TestStack::new().await;
    let (crm, zapier) = (Receiver::start().await, Receiver::start().await);
    let (_, key) = stack.workspace("owner@endpoints-new-chat.test").await;
    let body = json!({"url": crm.url(), "event_types": ["message:received:new"]});
    assert_eq!(
        stack.save_settings(&key, &body).await.status,
        StatusCode::OK
    );
    let (status, _) = create(
        &stack,
        &key,
        json!({"url": zapier.url(), "event_types": ["message:sent:new"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // The agent writes first (only the second endpoint takes it), then the contact.
    for event in [
        chatwoot(1, "outgoing"),
        chatwoot(2, "incoming"),
        chatwoot(3, "outgoing"),
    ] {
        let r = stack.ingest(&key, event.to_string()).await;
        assert_eq!(r.body["accepted"], 1, "{}", r.body);
    }
    stack.drain().await;
    let new_chat = |receiver: &Receiver| -> Vec<bool> {
        let got = new_chat_by_message(receiver);
        got.into_iter().map(|(_, new)| new).collect()
    };
    // Each endpoint's first message of the conversation is its new chat.
    assert_eq!(new_chat(&crm), [true]);
    assert_eq!(new_chat(&zapier), [true, false]);
}

#[tokio::test]
async fn an_endpoint_added_mid_conversation_gets_its_next_message_as_new_and_the_others_do_not() {
    let stack = TestStack::new().await;
    let receivers = [
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    ];
    let (_, key) = stack.workspace("owner@mid-conversation.test").await;
    stack.register(&key, &receivers[0].url()).await;
    stack.add_endpoint(&key, &receivers[1].url()).await;
    let first = stack
        .ingest(&key, chatwoot(1, "incoming").to_string())
        .await;
    assert_eq!(first.body["accepted"], 1, "{}", first.body);
    stack.add_endpoint(&key, &receivers[2].url()).await;
    // The three chat states are read together: two announced, one not.
    let second = stack
        .ingest(&key, chatwoot(2, "incoming").to_string())
        .await;
    assert_eq!(second.body["accepted"], 1, "{}", second.body);
    stack.drain().await;
    let both = vec![("1".to_string(), true), ("2".to_string(), false)];
    assert_eq!(new_chat_by_message(&receivers[0]), both);
    assert_eq!(new_chat_by_message(&receivers[1]), both);
    assert_eq!(
        new_chat_by_message(&receivers[2]),
        [("2".to_string(), true)]
    );
}

/// The heaviest request the limits allow for `is_new_chat`: 100 Chatwoot messages, each
/// opening a conversation, to ten immediate endpoints (the most a workspace may have by
/// default), so each message reads and records its chat's state once per endpoint. A
/// message's states are read in one request, not one each (one after another, 2,000
/// round trips at DynamoDB's few milliseconds passed ingest's deadline, and so did every
/// retry), and each endpoint gets each conversation's first message once, as new. (Its
/// time is a measurement, printed, in docs/performance.md §6.)
#[tokio::test]
async fn the_heaviest_request_to_ten_endpoints_tells_each_endpoint_each_new_chat_once() {
    let mut stack = TestStack::new().await;
    let mut receivers = Vec::new();
    for _ in 0..10 {
        receivers.push(Receiver::start().await);
    }
    let (_, key) = stack.workspace("owner@heaviest.test").await;
    stack.register(&key, &receivers[0].url()).await;
    for receiver in &receivers[1..] {
        stack.add_endpoint(&key, &receiver.url()).await;
    }
    let events = (0..100)
        .map(|n| {
            let mut event = chatwoot(50_000 + n, "incoming");
            event["conversation"]["id"] = (90_000 + n).into();
            event
        })
        .collect();
    let counts = stack.count_requests().await;
    let started = Instant::now();
    let answer = stack.ingest(&key, batch(events)).await;
    let took = started.elapsed();
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let requests = counts.ingest.take();
    println!("the heaviest request: {took:?}, {requests:?}");
    let count = |op: &str| requests.get(op).copied().unwrap_or(0);
    assert_eq!(count("DynamoDB.GetItem"), 0, "{requests:?}");
    // One per message, and the request's own (stored messages, open windows); a few
    // more if the SDK retried one.
    assert!(count("DynamoDB.BatchGetItem") <= 105, "{requests:?}");
    stack.drain().await;
    for receiver in &receivers {
        let got = new_chat_by_message(receiver);
        assert_eq!(got.len(), 100, "each message once");
        assert!(got.iter().all(|(_, new)| *new), "{got:?}");
    }
}

#[tokio::test]
async fn a_new_name_alone_keeps_an_endpoints_health_and_only_the_default_continues_chats() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@endpoints-rename.test").await;
    stack.register(&key, &receiver.url()).await;
    let (_, made) = create(&stack, &key, json!({"url": "http://127.0.0.1:9/refused"})).await;
    let id = made["endpoint_id"].as_str().unwrap().to_string();
    // Two failures counted on it.
    for i in 0..2 {
        stack
            .ingest(
                &key,
                batch(vec![message(
                    &format!("r-{i}"),
                    &format!("rc-{i}"),
                    "received",
                )]),
            )
            .await;
    }
    stack.drain().await;
    let path = format!("/v1/endpoints/{id}");
    let before = stack.call(Method::GET, &path, Some(&key), None).await;
    assert_eq!(
        before.body["status"]["consecutive_failures"], 2,
        "{}",
        before.body
    );
    let rename = json!({"description": "renamed"}).to_string().into_bytes();
    let r = stack
        .call(Method::PATCH, &path, Some(&key), Some(rename))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["description"], "renamed");
    assert_eq!(r.body["status"]["consecutive_failures"], 2, "health kept");
    let too_long = json!({"description": "x".repeat(257)})
        .to_string()
        .into_bytes();
    let r = stack
        .call(Method::PATCH, &path, Some(&key), Some(too_long))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["error"]["field"], "description");
    let continuous = json!({"continuous_conversation": true})
        .to_string()
        .into_bytes();
    let r = stack
        .call(Method::PATCH, &path, Some(&key), Some(continuous))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["error"]["field"], "continuous_conversation");
}

const NATIVE_UPDATED: &str = include_str!("../fixtures/native_message_updated.json");

/// A native `message:updated` of message `id` in chat `chat`.
fn updated(id: &str, chat: &str, text: &str) -> Value {
    let mut v: Value = serde_json::from_str(NATIVE_UPDATED).unwrap();
    v["message"]["message_id"] = id.into();
    v["message"]["text"] = text.into();
    v["chat"]["chat_id"] = chat.into();
    v
}

/// Each bundle a receiver got: (chat id, message ids, `webhook-id`), sorted.
fn bundles(receiver: &Receiver) -> Vec<(String, Vec<String>, String)> {
    let mut got: Vec<_> = receiver
        .received()
        .iter()
        .map(|r| {
            let chat = r.json()["chat"]["chat_id"].as_str().unwrap().to_string();
            (chat, r.bundled_ids(), r.header("webhook-id").to_string())
        })
        .collect();
    got.sort();
    got
}

#[tokio::test]
async fn endpoints_with_different_granularities_each_get_their_own_windows_and_bundles() {
    let stack = TestStack::new().await;
    let hourly = Receiver::start().await;
    let six_hourly = Receiver::start().await;
    let at_once = Receiver::start().await;
    let (_, key) = stack.workspace("owner@endpoints-windows.test").await;
    stack.set_time("2026-03-01T10:00:00Z");
    // The default: hourly bundles of every message.
    let (status, body) = create(
        &stack,
        &key,
        json!({"url": hourly.url(), "aggregation": "1h"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Another: 6-hour bundles of received messages, and their updates.
    let (status, body) = create(
        &stack,
        &key,
        json!({"url": six_hourly.url(), "aggregation": "6h",
               "event_types": ["message:received:new", "message:updated"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["aggregation"], "6h");
    // A third: every message at once.
    let (status, body) = create(&stack, &key, json!({"url": at_once.url()})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    stack.set_time("2026-03-01T10:05:00Z");
    let first = vec![
        message("m1", "c1", "received"),
        message("m2", "c1", "sent"),
        message("m3", "c2", "received"),
    ];
    let r = stack.ingest(&key, batch(first)).await;
    assert_eq!(r.body["accepted"], 3, "{}", r.body);
    // Stored once, whatever the number of endpoints and windows.
    assert_eq!(stack.items_with_prefix("MSG#").await, 3);
    stack.drain().await;
    assert_eq!(at_once.received().len(), 3, "the immediate one at once");
    assert!(hourly.received().is_empty() && six_hourly.received().is_empty());

    // The hour ends: the default's windows go, the 6-hour ones wait.
    stack.aggregate("2026-03-01T11:01:30Z").await;
    stack.drain().await;
    let ids = |got: Vec<(String, Vec<String>, String)>| -> Vec<(String, Vec<String>)> {
        got.into_iter().map(|(c, m, _)| (c, m)).collect()
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        ids(bundles(&hourly)),
        [("c1".into(), s(&["m1", "m2"])), ("c2".into(), s(&["m3"]))]
    );
    assert!(six_hourly.received().is_empty(), "its window has not ended");

    // m1 is corrected while it waits in the 6-hour window: that bundle carries the new
    // text, so no update goes out ahead of it; m4 joins both endpoints' windows.
    stack.set_time("2026-03-01T11:10:00Z");
    let later = vec![
        updated("m1", "c1", "corrected"),
        message("m4", "c1", "received"),
    ];
    let r = stack.ingest(&key, batch(later)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    stack.drain().await;
    assert!(
        six_hourly.received().is_empty(),
        "no update before its bundle"
    );

    stack.aggregate("2026-03-01T12:01:30Z").await;
    stack.drain().await;
    let hourly_bundles = bundles(&hourly);
    assert_eq!(hourly_bundles.len(), 3);
    assert!(hourly_bundles
        .iter()
        .any(|(c, m, _)| c == "c1" && m == &s(&["m4"])));
    let six = bundles(&six_hourly);
    assert_eq!(
        ids(six.clone()),
        [("c1".into(), s(&["m1", "m4"])), ("c2".into(), s(&["m3"]))],
        "received messages only, from 06:00 to 12:00"
    );
    let c1 = six_hourly
        .received()
        .into_iter()
        .find(|r| r.json()["chat"]["chat_id"] == "c1")
        .unwrap();
    assert_eq!(c1.json()["messages"][0]["text"], "corrected");
    assert_eq!(c1.header("webhook-event-type"), "message:bundle");
    // Each endpoint's bundles are its own: no webhook-id is shared.
    for (_, _, id) in &six {
        assert!(hourly_bundles.iter().all(|(_, _, other)| other != id));
    }
    // Nothing more later, and every window is gone.
    stack.aggregate("2026-03-02T00:01:30Z").await;
    stack.drain().await;
    assert_eq!(six_hourly.received().len(), 2);
    assert_eq!(stack.items_with_prefix("WIN#").await, 0);
}

/// A workspace at 2026-03-01T10:00Z with a default endpoint of `default_aggregation` to
/// one receiver and another endpoint of `aggregation` to a second; with its key and the
/// other endpoint's id.
async fn two_receivers(
    owner: &str,
    default_aggregation: &str,
    aggregation: &str,
) -> (TestStack, Receiver, Receiver, String, String) {
    let stack = TestStack::new().await;
    let (a, b) = (Receiver::start().await, Receiver::start().await);
    let (_, key) = stack.workspace(owner).await;
    stack.set_time("2026-03-01T10:00:00Z");
    stack
        .register_with(&key, &a.url(), default_aggregation)
        .await;
    let body = json!({"url": b.url(), "aggregation": aggregation});
    let (status, body) = create(&stack, &key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["endpoint_id"].as_str().unwrap().to_string();
    (stack, a, b, key, id)
}

#[tokio::test]
async fn deleting_an_aggregating_endpoint_drops_its_windows_and_the_default_keeps_its_own() {
    let (stack, a, b, key, id) =
        two_receivers("owner@endpoints-windows-delete.test", "1h", "1h").await;
    stack.set_time("2026-03-01T10:05:00Z");
    let r = stack
        .ingest(&key, batch(vec![message("m1", "c1", "received")]))
        .await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);
    assert_eq!(stack.items_with_prefix("WIN#").await, 2, "one window each");
    let r = stack
        .call(
            Method::DELETE,
            &format!("/v1/endpoints/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        stack.items_with_prefix("WIN#").await,
        1,
        "the default's stays"
    );
    stack.aggregate("2026-03-01T11:01:30Z").await;
    stack.drain().await;
    assert_eq!(a.received().len(), 1);
    assert_eq!(a.received()[0].bundled_ids(), ["m1"]);
    assert!(
        b.received().is_empty(),
        "nothing reaches a deleted endpoint"
    );
}

/// Every message id a receiver got, bundled or not, in the order received.
fn delivered_ids(receiver: &Receiver) -> Vec<String> {
    receiver
        .received()
        .iter()
        .flat_map(|r| {
            let body = r.json();
            match body.get("messages") {
                Some(_) => r.bundled_ids(),
                None => vec![body["message"]["message_id"].as_str().unwrap().to_string()],
            }
        })
        .collect()
}

#[tokio::test]
async fn another_endpoints_big_window_over_two_hours_goes_out_in_parts_each_message_once() {
    let (stack, a, b, key, _) =
        two_receivers("owner@endpoints-big-window.test", "none", "6h").await;
    // 2 × 60 messages of ≈ 3 KB, an hour apart: past what a flush holds (128 KiB), and
    // past one delivery (240 KiB), in two hours of the arrival index.
    let mut sent = Vec::new();
    for (hour, at) in [(0, "2026-03-01T10:05:00Z"), (1, "2026-03-01T11:05:00Z")] {
        stack.set_time(at);
        let events: Vec<Value> = (0..60)
            .map(|i| {
                let id = format!("big-{hour}-{i:02}");
                sent.push(id.clone());
                let mut m = message(&id, "c1", "received");
                m["message"]["text"] = format!("{i} {}", "lorem ipsum ".repeat(250)).into();
                m
            })
            .collect();
        let r = stack.ingest(&key, batch(events)).await;
        assert_eq!(r.body["accepted"], 60, "{}", r.body);
    }
    stack.drain().await;
    assert_eq!(a.received().len(), 120, "the default at once");
    let run = stack.aggregate("2026-03-01T12:01:30Z").await;
    assert_eq!(run["messages_bundled"], 120, "{run}");
    assert!(run["parts_enqueued"].as_u64().unwrap() > 1, "{run}");
    stack.drain().await;
    let mut got = delivered_ids(&b);
    got.sort();
    assert_eq!(got, sent, "every message once, in parts");
    assert_eq!(stack.items_with_prefix("WIN#").await, 0);
}

#[tokio::test]
async fn another_endpoint_changing_granularity_or_switching_to_none_and_back_repeats_nothing() {
    let (stack, a, b, key, id) = two_receivers("owner@endpoints-switch.test", "none", "1h").await;
    let path = format!("/v1/endpoints/{id}");
    let patch = |aggregation: &'static str| {
        let (stack, key, path) = (&stack, &key, &path);
        async move {
            let change = json!({ "aggregation": aggregation })
                .to_string()
                .into_bytes();
            let r = stack
                .call(Method::PATCH, path, Some(key), Some(change))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
    };
    let send = |id: &'static str, at: &'static str| {
        let (stack, key) = (&stack, &key);
        async move {
            stack.set_time(at);
            let r = stack
                .ingest(key, batch(vec![message(id, "c1", "received")]))
                .await;
            assert_eq!(r.body["accepted"], 1, "{}", r.body);
        }
    };
    send("g1", "2026-03-01T10:05:00Z").await;
    // 1h → 6h: the pending 1h window flushes as collected; g2 joins the 6h one.
    stack.set_time("2026-03-01T10:10:00Z");
    patch("6h").await;
    send("g2", "2026-03-01T10:15:00Z").await;
    // → none: the 6h window goes out at the next run; g3 at once.
    stack.set_time("2026-03-01T10:20:00Z");
    patch("none").await;
    send("g3", "2026-03-01T10:25:00Z").await;
    stack.aggregate("2026-03-01T10:26:00Z").await;
    // → 1h again inside the same hour: g4 opens a window of its own.
    stack.set_time("2026-03-01T10:30:00Z");
    patch("1h").await;
    send("g4", "2026-03-01T10:35:00Z").await;
    stack.aggregate("2026-03-01T11:01:30Z").await;
    stack.aggregate("2026-03-01T16:01:30Z").await;
    stack.drain().await;
    let mut got = delivered_ids(&b);
    got.sort();
    assert_eq!(got, ["g1", "g2", "g3", "g4"], "each message once");
    assert_eq!(delivered_ids(&a).len(), 4);
    assert_eq!(stack.items_with_prefix("WIN#").await, 0);
}

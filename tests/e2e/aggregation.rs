//! Aggregated delivery end to end: ingest into windows → aggregator (through the local
//! runner's `POST /local/aggregate`) → SQS → sender → a real receiver.

use axum::http::{Method, StatusCode};
use outflow_e2e::{Options, Receiver, TestStack};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const SEED_BUNDLE: &str = include_str!("../../../shared/fixtures/timelines_bundle_example.json");
const LIVEDESK: &str = include_str!("../../../shared/fixtures/livedesk_message_created.json");
const CONVERSATION: &str =
    include_str!("../../../shared/fixtures/livedesk_conversation_created.json");

/// A native message event of `chat` with the seed's account and chat fields.
fn native(chat: &str, id: &str, timestamp: &str, sender: &str, text: &str) -> Value {
    json!({
        "whatsapp_account": {"full_name": "Amnon Haha", "email": "Amnon@acme.com", "phone": "+972500000000"},
        "chat": {"full_name": format!("Chat {chat}"), "responsible_name": "Amnon", "responsible_email": "Amnon@acme.com",
                 "chat_url": format!("https://app.timelines.ai/chat/{chat}/messages/"), "chat_id": chat,
                 "is_new_chat": false, "is_group": false, "phone": "+97254000000"},
        "message": {"direction": "received", "timestamp": timestamp, "message_id": id,
                    "sender": {"full_name": sender, "phone": "+972540000000"},
                    "recipient": {"full_name": "Amnon", "phone": "+972500000000"}, "text": text}
    })
}

fn batch(events: Vec<Value>) -> String {
    json!({ "events": events }).to_string()
}

fn by_chat(receiver: &Receiver) -> BTreeMap<String, Vec<Value>> {
    let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in receiver.received() {
        let body = r.json();
        map.entry(body["chat"]["chat_id"].as_str().unwrap().to_string())
            .or_default()
            .push(body);
    }
    map
}

fn message_ids(bundle: &Value) -> Vec<String> {
    bundle["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_string())
        .collect()
}

async fn setup(aggregation: &str) -> (TestStack, Receiver, String, String) {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace(&stack.unique_email("agg")).await;
    stack.set_time("2026-03-01T10:00:00Z");
    let secret = stack
        .register_with(&key, &receiver.url(), aggregation)
        .await["secret"]
        .as_str()
        .unwrap()
        .to_string();
    (stack, receiver, key, secret)
}

#[tokio::test]
async fn three_interleaved_chats_make_one_exact_bundle_each() {
    let (stack, receiver, key, secret) = setup("1h").await;
    stack.set_time("2026-03-01T10:05:00Z");
    stack
        .ingest(
            &key,
            batch(vec![
                native(
                    "A",
                    "a2",
                    "2026-03-01T10:03:00+0000",
                    "Ann",
                    "second from A",
                ),
                native(
                    "B",
                    "b1",
                    "2026-03-01T10:01:00+0000",
                    "Bob",
                    "hello from <b>B</b> & co",
                ),
                native("A", "a1", "2026-03-01T10:02:00+0000", "Ann", "first from A"),
            ]),
        )
        .await;
    stack.set_time("2026-03-01T10:40:00Z");
    stack
        .ingest(
            &key,
            batch(vec![
                native(
                    "C",
                    "c1",
                    "2026-03-01T10:39:00+0000",
                    "Cy",
                    "<script>alert(1)</script>",
                ),
                native("B", "b2", "2026-03-01T10:38:30+0000", "Bob", "again"),
                native("A", "a3", "2026-03-01T10:39:59+0000", "Ann", "third from A"),
            ]),
        )
        .await;

    let early = stack.aggregate("2026-03-01T10:59:59Z").await;
    assert_eq!(early["bundles_enqueued"], 0, "the window has not ended");
    assert_eq!(stack.drain().await.received, 0);
    let run = stack.aggregate("2026-03-01T11:02:00Z").await;
    assert_eq!(
        (
            run["bundles_enqueued"].as_u64(),
            run["messages_bundled"].as_u64()
        ),
        (Some(3), Some(6))
    );
    stack.drain().await;
    assert_eq!(
        stack.aggregate("2026-03-01T11:03:00Z").await["bundles_enqueued"],
        0,
        "flushed once"
    );

    let chats = by_chat(&receiver);
    assert_eq!(chats.len(), 3);
    assert!(
        chats.values().all(|bundles| bundles.len() == 1),
        "one bundle per chat"
    );
    let seed: Value = serde_json::from_str(SEED_BUNDLE).unwrap();
    let seed_keys: BTreeSet<&String> = seed.as_object().unwrap().keys().collect();
    for bundle in chats.values().map(|b| &b[0]) {
        assert_eq!(
            bundle.as_object().unwrap().keys().collect::<BTreeSet<_>>(),
            seed_keys,
            "seed fields exactly"
        );
        let chat_keys: BTreeSet<&String> = bundle["chat"].as_object().unwrap().keys().collect();
        assert_eq!(
            chat_keys,
            seed["chat"].as_object().unwrap().keys().collect()
        );
        assert_eq!(bundle["chat"]["is_new_chat"], true);
    }
    let a = &chats["A"][0];
    assert_eq!(
        message_ids(a),
        ["a1", "a2", "a3"],
        "ordered by message timestamp"
    );
    assert_eq!(a["first_message_timestamp"], "2026-03-01T10:02:00+0000");
    assert_eq!(a["last_message_timestamp"], "2026-03-01T10:39:59+0000");
    assert_eq!(
        a["aggregation"],
        "from Ann on 2026-03-01 10:02: first from A<br/>from Ann on 2026-03-01 10:03: second from A<br/>\
         from Ann on 2026-03-01 10:39: third from A<br/>\
         Click <a href='https://app.livedesk.example/permalink/a1/'>here</a> to open the conversation"
    );
    assert_eq!(a["whatsapp_account"], seed["whatsapp_account"]);
    assert_eq!(
        a["chat"]["chat_url"],
        "https://app.timelines.ai/chat/A/messages/"
    );
    let b = &chats["B"][0];
    assert_eq!(message_ids(b), ["b1", "b2"]);
    assert_eq!(
        b["messages"][0]["text"], "hello from <b>B</b> & co",
        "messages[].text is never escaped"
    );
    assert!(b["aggregation"].as_str().unwrap().starts_with(
        "from Bob on 2026-03-01 10:01: hello from &lt;b&gt;B&lt;/b&gt; &amp; co<br/>"
    ));
    let c = &chats["C"][0];
    assert!(c["aggregation"]
        .as_str()
        .unwrap()
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!c["aggregation"].as_str().unwrap().contains("<script>"));

    for r in receiver.received() {
        assert!(r.signed_with(&secret));
    }
    let settings = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await;
    let activity = settings.body["activity"].to_string();
    assert!(
        activity.contains(
            "bundle of chat A: 3 messages, window 2026-03-01 10:00 to 2026-03-01 11:00 UTC"
        ),
        "{activity}"
    );
}

#[tokio::test]
async fn windows_split_at_6h_12h_and_24h_boundaries() {
    for (granularity, boundary, first_end_plus) in [
        ("6h", "2026-03-01T12:00:00Z", "2026-03-01T12:01:01Z"),
        ("12h", "2026-03-02T00:00:00Z", "2026-03-02T00:01:01Z"),
        ("24h", "2026-03-02T00:00:00Z", "2026-03-02T00:01:01Z"),
    ] {
        let (stack, receiver, key, _) = setup(granularity).await;
        let boundary_time: chrono::DateTime<chrono::Utc> = boundary.parse().unwrap();
        let before = (boundary_time - chrono::Duration::seconds(1)).to_rfc3339();
        stack.set_time(&before);
        stack
            .ingest(
                &key,
                native(
                    "X",
                    "before",
                    "2026-03-01T09:00:00+0000",
                    "Xi",
                    "just before",
                )
                .to_string(),
            )
            .await;
        stack.set_time(boundary);
        stack
            .ingest(
                &key,
                native("X", "after", "2026-03-01T09:00:01+0000", "Xi", "just after").to_string(),
            )
            .await;

        let first = stack.aggregate(first_end_plus).await;
        assert_eq!(
            first["bundles_enqueued"], 1,
            "{granularity}: only the window that ended"
        );
        stack.drain().await;
        let later =
            (boundary_time + chrono::Duration::days(1) + chrono::Duration::minutes(2)).to_rfc3339();
        assert_eq!(
            stack.aggregate(&later).await["bundles_enqueued"],
            1,
            "{granularity}"
        );
        stack.drain().await;
        let got: Vec<Vec<String>> = receiver
            .received()
            .iter()
            .map(|r| message_ids(&r.json()))
            .collect();
        assert_eq!(
            got,
            vec![vec!["before".to_string()], vec!["after".to_string()]],
            "{granularity}"
        );
    }
}

#[tokio::test]
async fn concurrent_runs_for_the_same_instant_make_one_bundle_per_window() {
    let (stack, receiver, key, _) = setup("1h").await;
    stack.set_time("2026-03-01T10:30:00Z");
    let events = (0..6)
        .map(|i| {
            native(
                &format!("K{}", i % 3),
                &format!("k{i}"),
                "2026-03-01T10:29:00+0000",
                "K",
                "hi",
            )
        })
        .collect();
    stack.ingest(&key, batch(events)).await;
    let now: chrono::DateTime<chrono::Utc> = "2026-03-01T11:05:00Z".parse().unwrap();
    let aggregator = &stack.app.aggregator;
    let (a, b, c) = tokio::join!(
        aggregator.run(now, None),
        aggregator.run(now, None),
        aggregator.run(now, None)
    );
    let total: usize = [a, b, c]
        .into_iter()
        .map(|r| r.unwrap().bundles_enqueued)
        .sum();
    assert_eq!(
        total, 3,
        "three chats, three bundles, however many runs raced"
    );
    stack.drain().await;
    let chats = by_chat(&receiver);
    assert_eq!(chats.len(), 3);
    assert!(chats
        .values()
        .all(|b| b.len() == 1 && b[0]["messages"].as_array().unwrap().len() == 2));
}

#[tokio::test]
async fn five_thousand_messages_in_one_window_are_all_delivered_once() {
    let (stack, receiver, key, _) = setup("1h").await;
    stack.set_time("2026-03-01T10:10:00Z");
    for chunk in 0..50 {
        let events = (0..100)
            .map(|i| {
                let n = chunk * 100 + i;
                let ts = format!("2026-03-01T10:{:02}:{:02}+0000", n / 100, n % 60);
                native(
                    "BIG",
                    &format!("m{n:04}"),
                    &ts,
                    "Big Talker",
                    &format!("message {n} {}", "lorem ipsum ".repeat(20)),
                )
            })
            .collect();
        let r = stack.ingest(&key, batch(events)).await;
        assert_eq!(r.body["accepted"], 100);
    }
    let run = stack.aggregate("2026-03-01T11:05:00Z").await;
    assert_eq!(run["bundles_enqueued"], 1);
    assert_eq!(run["messages_bundled"], 5000);
    let parts = run["parts_enqueued"].as_u64().unwrap();
    assert!(parts > 1, "a 5,000-message bundle is split into parts");
    stack.drain().await;

    let got = receiver.received();
    assert_eq!(got.len() as u64, parts);
    let mut seen = BTreeSet::new();
    let mut ids_per_part = BTreeSet::new();
    for r in &got {
        let body = r.json();
        assert_eq!(body["parts"].as_u64(), Some(parts));
        ids_per_part.insert(r.header("webhook-id").to_string());
        for id in message_ids(&body) {
            assert!(seen.insert(id.clone()), "{id} delivered twice");
        }
    }
    assert_eq!(seen.len(), 5000, "every message delivered");
    assert_eq!(
        ids_per_part.len() as u64,
        parts,
        "each part has its own webhook-id"
    );
}

#[tokio::test]
async fn a_disabled_webhook_keeps_windows_until_enabled() {
    let (stack, receiver, key, _) = setup("1h").await;
    let off = json!({"url": receiver.url(), "enabled": false, "aggregation": "1h"}).to_string();
    assert_eq!(
        stack
            .call(
                Method::PUT,
                "/v1/webhooks/outbound",
                Some(&key),
                Some(off.into())
            )
            .await
            .status,
        StatusCode::OK
    );
    stack.set_time("2026-03-01T10:10:00Z");
    stack
        .ingest(
            &key,
            native("D", "d1", "2026-03-01T10:09:00+0000", "Di", "one").to_string(),
        )
        .await;
    let parked = stack.aggregate("2026-03-01T11:05:00Z").await;
    assert_eq!(
        (
            parked["bundles_enqueued"].as_u64(),
            parked["windows_parked"].as_u64()
        ),
        (Some(0), Some(1))
    );
    stack.set_time("2026-03-01T11:10:00Z");
    stack
        .ingest(
            &key,
            native("D", "d2", "2026-03-01T11:09:00+0000", "Di", "two").to_string(),
        )
        .await;
    stack
        .ingest(
            &key,
            native("E", "e1", "2026-03-01T11:09:30+0000", "Ed", "three").to_string(),
        )
        .await;
    stack.aggregate("2026-03-01T12:05:00Z").await;
    assert_eq!(
        stack.aggregate("2026-03-01T12:06:00Z").await["windows_due"],
        0,
        "parked windows leave the due index"
    );
    stack.drain().await;
    assert!(receiver.received().is_empty());

    let enabled = stack
        .call(
            Method::POST,
            "/v1/webhooks/outbound/enable",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(enabled.body["windows_scheduled"], 3);
    let run = stack.aggregate("2026-03-01T12:10:00Z").await;
    assert_eq!(
        (
            run["bundles_enqueued"].as_u64(),
            run["messages_bundled"].as_u64()
        ),
        (Some(3), Some(3))
    );
    stack.drain().await;
    let mut ids: Vec<String> = receiver
        .received()
        .iter()
        .flat_map(|r| message_ids(&r.json()))
        .collect();
    ids.sort();
    assert_eq!(ids, ["d1", "d2", "e1"]);
}

#[tokio::test]
async fn changing_granularity_loses_and_duplicates_nothing() {
    let (stack, receiver, key, _) = setup("1h").await;
    stack.set_time("2026-03-01T10:05:00Z");
    stack
        .ingest(
            &key,
            native("G", "g1", "2026-03-01T10:04:00+0000", "Gi", "under 1h").to_string(),
        )
        .await;
    stack.set_time("2026-03-01T10:10:00Z");
    stack.register_with(&key, &receiver.url(), "6h").await;
    stack
        .ingest(
            &key,
            native("G", "g2", "2026-03-01T10:09:00+0000", "Gi", "under 6h").to_string(),
        )
        .await;
    // The pending 1h window flushes under the setting it was collected with.
    assert_eq!(
        stack.aggregate("2026-03-01T11:05:00Z").await["messages_bundled"],
        1
    );
    assert_eq!(
        stack.aggregate("2026-03-01T12:05:00Z").await["messages_bundled"],
        1
    );
    stack.drain().await;
    let got: Vec<Vec<String>> = receiver
        .received()
        .iter()
        .map(|r| message_ids(&r.json()))
        .collect();
    assert_eq!(got, vec![vec!["g1".to_string()], vec!["g2".to_string()]]);

    // Switching to none: what is pending goes out at the next run, new messages at once.
    stack.set_time("2026-03-01T13:00:00Z");
    stack
        .ingest(
            &key,
            native("G", "g3", "2026-03-01T12:59:00+0000", "Gi", "pending").to_string(),
        )
        .await;
    stack.set_time("2026-03-01T13:01:00Z");
    stack.register_with(&key, &receiver.url(), "none").await;
    stack
        .ingest(
            &key,
            native("G", "g4", "2026-03-01T13:00:30+0000", "Gi", "immediate").to_string(),
        )
        .await;
    assert_eq!(
        stack.aggregate("2026-03-01T13:02:00Z").await["messages_bundled"],
        1
    );
    stack.drain().await;
    let mut all: Vec<String> = receiver
        .received()
        .iter()
        .flat_map(|r| {
            let body = r.json();
            match body.get("messages") {
                Some(_) => message_ids(&body),
                None => vec![body["message"]["message_id"].as_str().unwrap().to_string()],
            }
        })
        .collect();
    all.sort();
    assert_eq!(all, ["g1", "g2", "g3", "g4"], "every message exactly once");
}

/// Every delivered message id, bundled or not, with each delivery's webhook-id.
fn delivered(receiver: &Receiver) -> Vec<(String, String)> {
    receiver
        .received()
        .iter()
        .flat_map(|r| {
            let body = r.json();
            let id = r.header("webhook-id").to_string();
            let ids = match body.get("messages") {
                Some(_) => message_ids(&body),
                None => vec![body["message"]["message_id"].as_str().unwrap().to_string()],
            };
            ids.into_iter().map(move |m| (m, id.clone()))
        })
        .collect()
}

#[tokio::test]
async fn switching_to_none_and_back_within_one_window_loses_and_repeats_nothing() {
    let (stack, receiver, key, _) = setup("1h").await;
    stack.set_time("2026-03-01T10:05:00Z");
    let first = native(
        "S",
        "s1",
        "2026-03-01T10:04:00+0000",
        "Si",
        "before the switch",
    );
    assert_eq!(
        stack.ingest(&key, first.to_string()).await.body["accepted"],
        1
    );
    // To none: the pending 10:00–11:00 window goes out at the next run, early.
    stack.set_time("2026-03-01T10:10:00Z");
    stack.register_with(&key, &receiver.url(), "none").await;
    assert_eq!(
        stack.aggregate("2026-03-01T10:11:00Z").await["messages_bundled"],
        1
    );
    stack.drain().await;
    // Back to 1h inside the same hour: the next message opens that hour's window again.
    stack.set_time("2026-03-01T10:20:00Z");
    stack.register_with(&key, &receiver.url(), "1h").await;
    let second = native(
        "S",
        "s2",
        "2026-03-01T10:19:00+0000",
        "Si",
        "after the switch",
    );
    assert_eq!(
        stack.ingest(&key, second.to_string()).await.body["accepted"],
        1
    );
    let third = native("S", "s3", "2026-03-01T10:21:00+0000", "Si", "and another");
    stack.set_time("2026-03-01T10:22:00Z");
    assert_eq!(
        stack.ingest(&key, third.to_string()).await.body["accepted"],
        1
    );
    assert_eq!(
        stack.aggregate("2026-03-01T11:05:00Z").await["messages_bundled"],
        2
    );
    stack.drain().await;
    let got = delivered(&receiver);
    let ids: Vec<&str> = got.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(ids, ["s1", "s2", "s3"], "each message once, in order");
    assert_ne!(
        got[0].1, got[1].1,
        "the second bundle of the hour has its own webhook-id"
    );
}

#[tokio::test]
async fn failing_bundles_and_their_retries_count_toward_the_automatic_disable() {
    let stack = TestStack::with(Options {
        retry_delay_secs: 1,
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    let owner = stack.unique_email("aggfail");
    let (_, key) = stack.workspace(&owner).await;
    stack.set_time("2026-03-01T10:00:00Z");
    stack.register_with(&key, &receiver.url(), "1h").await;
    receiver.respond_with(500);
    stack.set_time("2026-03-01T10:05:00Z");
    let events = (0..3)
        .map(|i| {
            native(
                &format!("F{i}"),
                &format!("f{i}"),
                "2026-03-01T10:04:00+0000",
                "F",
                "x",
            )
        })
        .collect();
    stack.ingest(&key, batch(events)).await;
    assert_eq!(
        stack.aggregate("2026-03-01T11:05:00Z").await["bundles_enqueued"],
        3
    );

    // Three bundles cannot fail 11 times without their retries counting too.
    let mut enabled = true;
    for _ in 0..40 {
        stack.drain().await;
        let settings = stack
            .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
            .await;
        enabled = settings.body["enabled"].as_bool().unwrap();
        if !enabled {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert!(
        !enabled,
        "the 11th consecutive failure disabled the webhook"
    );
    let attempts = receiver.received();
    assert!(attempts.len() >= 11);
    let mut per_bundle: BTreeMap<String, usize> = BTreeMap::new();
    for a in &attempts {
        *per_bundle
            .entry(a.header("webhook-id").to_string())
            .or_default() += 1;
    }
    assert_eq!(per_bundle.len(), 3, "retries keep each bundle's webhook-id");
    assert!(per_bundle.values().all(|n| *n >= 3), "{per_bundle:?}");
    assert_eq!(stack.emails_to(&owner).await.len(), 1);
    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    let failures = log.body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "failure")
        .count();
    assert_eq!(failures, attempts.len());
}

#[tokio::test]
async fn is_new_chat_is_true_on_the_first_bundle_of_each_conversation() {
    let (stack, receiver, key, _) = setup("1h").await;
    let message = |id: u64, hour: u32| {
        let mut v: Value = serde_json::from_str(LIVEDESK).unwrap();
        v["id"] = id.into();
        v["created_at"] = format!("2026-03-01T{hour:02}:01:00Z").into();
        v
    };
    stack.set_time("2026-03-01T10:00:30Z");
    stack.ingest(&key, CONVERSATION).await;
    stack.set_time("2026-03-01T10:01:00Z");
    stack.ingest(&key, message(1, 10).to_string()).await;
    stack.set_time("2026-03-01T11:01:00Z");
    stack.ingest(&key, message(2, 11).to_string()).await;
    stack.aggregate("2026-03-01T12:05:00Z").await;
    stack.drain().await;
    let mut resolved: Value = serde_json::from_str(CONVERSATION).unwrap();
    resolved["event"] = "conversation_status_changed".into();
    resolved["status"] = "resolved".into();
    stack.set_time("2026-03-01T12:10:00Z");
    stack.ingest(&key, resolved.to_string()).await;
    stack.set_time("2026-03-01T12:20:00Z");
    stack.ingest(&key, message(3, 12).to_string()).await;
    stack.aggregate("2026-03-01T13:05:00Z").await;
    stack.drain().await;

    let mut flags: Vec<(String, bool)> = receiver
        .received()
        .iter()
        .map(|r| {
            let b = r.json();
            (
                message_ids(&b).join(","),
                b["chat"]["is_new_chat"].as_bool().unwrap(),
            )
        })
        .collect();
    flags.sort();
    assert_eq!(
        flags,
        [
            ("1".to_string(), true),
            ("2".to_string(), false),
            ("3".to_string(), true)
        ]
    );
}

#[tokio::test]
async fn pending_edits_and_new_assignees_reach_the_bundle() {
    let (stack, receiver, key, _) = setup("1h").await;
    stack.set_time("2026-03-01T10:01:00Z");
    stack.ingest(&key, LIVEDESK).await;
    let mut updated: Value = serde_json::from_str(LIVEDESK).unwrap();
    updated["event"] = "message_updated".into();
    updated["content"] = "edited <text>".into();
    stack.set_time("2026-03-01T10:02:00Z");
    assert_eq!(
        stack.ingest(&key, updated.to_string()).await.body["accepted"],
        1
    );
    let mut reassigned: Value = serde_json::from_str(CONVERSATION).unwrap();
    reassigned["event"] = "conversation_updated".into();
    reassigned["meta"]["assignee"] = json!({"id": 9, "name": "Dana", "email": "dana@acme.inc"});
    stack.set_time("2026-03-01T10:03:00Z");
    assert_eq!(
        stack.ingest(&key, reassigned.to_string()).await.body["accepted"],
        1
    );
    stack.aggregate("2026-03-01T11:05:00Z").await;
    stack.drain().await;

    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let bundle = got[0].json();
    assert_eq!(bundle["messages"][0]["text"], "edited <text>");
    assert!(bundle["aggregation"]
        .as_str()
        .unwrap()
        .contains(": edited &lt;text&gt;<br/>"));
    assert_eq!(bundle["chat"]["responsible_name"], "Dana");
    assert_eq!(bundle["chat"]["responsible_email"], "dana@acme.inc");
}

#[tokio::test]
async fn rescheduling_never_recreates_a_window_a_run_just_flushed() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (ws, key) = stack.workspace(&stack.unique_email("stub")).await;
    let (_, other) = stack.workspace(&stack.unique_email("stub-other")).await;
    stack.set_time("2026-03-01T10:00:00Z");
    stack.register_with(&key, &receiver.url(), "1h").await;
    stack.register_with(&other, &receiver.url(), "1h").await;
    stack.set_time("2026-03-01T10:05:00Z");
    let m = native("c1", "m1", "2026-03-01T10:05:00+0000", "Ann", "hi");
    assert_eq!(
        stack.ingest(&key, batch(vec![m])).await.status,
        StatusCode::ACCEPTED
    );

    // A settings save (or enable) reads the workspace's pending windows...
    let store = &stack.app.api.store;
    let ws = outflow::domain::WorkspaceId::parse(&ws).unwrap();
    let read = store.pending_windows(&ws).await.unwrap();
    assert_eq!(read.len(), 1);
    // ...a run flushes the window meanwhile...
    let run = stack.aggregate("2026-03-01T11:05:00Z").await;
    assert_eq!(run["bundles_enqueued"], 1);
    // ...and the save puts back what it read: the flushed window must stay gone.
    for w in &read {
        assert!(!store.reschedule_window(w, w.end_ms, false).await.unwrap());
    }
    assert_eq!(
        stack.items_with_prefix("WIN#").await,
        0,
        "no stub of the window"
    );

    // Every later run works, for this tenant and the others.
    stack.set_time("2026-03-01T11:10:00Z");
    let m = native("c2", "m2", "2026-03-01T11:10:00+0000", "Bob", "later");
    assert_eq!(
        stack.ingest(&other, batch(vec![m])).await.status,
        StatusCode::ACCEPTED
    );
    let run = stack.aggregate("2026-03-01T12:05:00Z").await;
    assert_eq!(run["bundles_enqueued"], 1);
    stack.drain().await;
    assert_eq!(receiver.received().len(), 2);
}

/// A message whose attachments fill most of one delivery, then an edit within the text
/// limit that would take it over what one delivery holds: refused, not recorded, with
/// `aggregation` ("1h", or "none" for immediate delivery).
async fn an_oversized_edit_is_skipped(aggregation: &str) -> (TestStack, Receiver) {
    let (stack, receiver, key, _) = setup(aggregation).await;
    stack.set_time("2026-03-01T10:01:00Z");
    let mut m = native("c1", "m1", "2026-03-01T10:01:00+0000", "Ann", "hi");
    // A quote is escaped twice on its way (in the bundle's JSON, then the bundle in the
    // queue message), 4 bytes each.
    m["message"]["attachments"] = (0..20)
        .map(|i| json!({"file_type": "image", "url": format!("https://files.test/{i}/{}", "\"".repeat(2_000))}))
        .collect();
    let stored = stack.ingest(&key, batch(vec![m])).await;
    assert_eq!(stored.body["accepted"], 1, "{}", stored.body);
    // A text within the text limit (64 KiB as JSON), but the message with it would be
    // over what one delivery holds.
    let edit = json!({"event_type": "message:updated", "chat": {"chat_id": "c1"},
                      "message": {"message_id": "m1", "text": "\"".repeat(32_000)}});
    stack.set_time("2026-03-01T10:02:00Z");
    let answer = stack.ingest(&key, batch(vec![edit])).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(answer.body["skipped"], 1, "{}", answer.body);
    let reason = answer.body["events"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("not recorded") && reason.contains("240 KiB"),
        "{reason}"
    );
    let edited = stack.items().await.into_iter().any(|i| {
        i["sk"].as_s().is_ok_and(|sk| sk.starts_with("MSG#")) && i.contains_key("edited_text")
    });
    assert!(!edited, "the message keeps its text");
    (stack, receiver)
}

#[tokio::test]
async fn an_edit_that_would_make_its_message_undeliverable_is_not_recorded() {
    let (stack, receiver) = Box::pin(an_oversized_edit_is_skipped("1h")).await;
    // The window's bundle goes out, with the text the message has (before, the edit was
    // recorded and the bundle could never be queued: the window was set aside).
    one_bundle_none_set_aside(&stack).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["messages"][0]["text"], "hi");
}

#[tokio::test]
async fn an_oversized_edit_of_a_message_delivered_at_once_is_not_recorded_either() {
    let (stack, receiver) = Box::pin(an_oversized_edit_is_skipped("none")).await;
    stack.drain().await;
    let got = receiver.received();
    assert_eq!(got.len(), 1, "the message, and no update");
    assert_eq!(got[0].json()["message"]["text"], "hi");
}

#[tokio::test]
async fn a_message_near_the_limit_goes_out_when_a_later_one_has_the_widest_heading() {
    let (stack, receiver, key, _) = setup("1h").await;
    stack.set_time("2026-03-01T10:01:00Z");
    // Within every limit: its attachments and text make a delivery of about 232 KB as
    // queued, its own account and chat short (a quote travels as 4 bytes).
    let mut big = native(
        "c1",
        "m1",
        "2026-03-01T10:01:00+0000",
        "Ann",
        &"\"".repeat(18_000),
    );
    big["message"]["attachments"] = (0..20)
        .map(|i| json!({"file_type": "image", "url": format!("https://files.test/{i}/{}", "\"".repeat(2_000))}))
        .collect();
    // The window's latest message: every account and chat field at its limit, of
    // control characters (7 bytes each as queued): about 39 KB of heading, which the
    // bundle carries.
    let wide = "\u{1}".repeat(512);
    let mut late = native("c1", "m2", "2026-03-01T10:03:00+0000", &wide, "later");
    for field in ["full_name", "email", "phone"] {
        late["whatsapp_account"][field] = wide.clone().into();
    }
    for field in [
        "full_name",
        "responsible_name",
        "responsible_email",
        "phone",
    ] {
        late["chat"][field] = wide.clone().into();
    }
    late["chat"]["chat_url"] = "\u{1}".repeat(2_048).into();
    for (at, event) in [
        ("2026-03-01T10:01:00Z", big),
        ("2026-03-01T10:03:00Z", late),
    ] {
        stack.set_time(at);
        let stored = stack.ingest(&key, batch(vec![event])).await;
        assert_eq!(stored.body["accepted"], 1, "{}", stored.body);
    }
    // The window (about 150 KB stored) is past what a run loads, so it is streamed: the
    // loaded path is unit-tested (`plan::tests`). Before: the big message's part with the
    // latest heading was over the queue's limit and the window was set aside. Now that
    // part carries the chat as it was when the message arrived, and both go out.
    one_bundle_none_set_aside(&stack).await;
    let got: Vec<Value> = receiver.received().iter().map(|r| r.json()).collect();
    assert_eq!(got.len(), 2, "one bundle in two parts");
    assert_eq!(message_ids(&got[0]), ["m1"]);
    assert_eq!(message_ids(&got[1]), ["m2"]);
    assert_eq!(got[0]["chat"]["full_name"], "Chat c1", "its own heading");
    assert_eq!(got[0]["whatsapp_account"]["full_name"], "Amnon Haha");
    assert_eq!(
        got[1]["chat"]["full_name"],
        wide.as_str(),
        "the latest heading"
    );
    assert_eq!((&got[0]["part"], &got[0]["parts"]), (&1.into(), &2.into()));
    assert_eq!(
        got[0]["messages"][0]["attachments"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
}

/// Runs the aggregator at 11:05 and drains the queue: the one window went out as one
/// bundle and was not set aside.
async fn one_bundle_none_set_aside(stack: &TestStack) {
    let run = stack.aggregate("2026-03-01T11:05:00Z").await;
    assert_eq!(
        (&run["bundles_enqueued"], &run["windows_set_aside"]),
        (&1.into(), &0.into()),
        "{run}"
    );
    stack.drain().await;
}

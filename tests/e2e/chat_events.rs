//! Chat events and message updates (issue 17): `chat:created`, `chat:closed`,
//! `chat:assigned` and `message:updated`, from Chatwoot and native input, delivered at once
//! (aggregated or not) to a webhook that subscribes, each named in `webhook-event-type`;
//! a webhook that never chose a subscription receives none of them, as before.

use axum::http::StatusCode;
use outflow_e2e::{Receiver, TestStack};
use serde_json::{json, Value};

const CONVERSATION: &str =
    include_str!("../../../shared/fixtures/livedesk_conversation_created.json");
const LIVEDESK_MESSAGE: &str =
    include_str!("../../../shared/fixtures/livedesk_message_created.json");
const SEED: &str = include_str!("../../../shared/fixtures/timelines_message_example.json");
const NATIVE_CREATED: &str = include_str!("../fixtures/native_chat_created.json");
const NATIVE_ASSIGNED: &str = include_str!("../fixtures/native_chat_assigned.json");
const NATIVE_CLOSED: &str = include_str!("../fixtures/native_chat_closed.json");
const NATIVE_UPDATED: &str = include_str!("../fixtures/native_message_updated.json");

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The conversation fixture as another Chatwoot event, edited.
fn conversation(event: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut v = json(CONVERSATION);
    v["event"] = event.into();
    edit(&mut v);
    v
}

async fn subscribed(aggregation: &str, types: Value) -> (TestStack, Receiver, String) {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace(&stack.unique_email("chat-events")).await;
    stack.set_time("2026-03-01T10:00:00Z");
    let body = json!({"url": receiver.url(), "aggregation": aggregation, "event_types": types});
    let r = stack.save_settings(&key, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (stack, receiver, key)
}

async fn send(stack: &TestStack, key: &str, events: Vec<Value>) -> Value {
    let r = stack
        .ingest(key, json!({ "events": events }).to_string())
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    stack.drain().await;
    r.body
}

/// (`webhook-event-type`, body) of each request received, in order.
fn got(receiver: &Receiver) -> Vec<(String, Value)> {
    receiver
        .received()
        .iter()
        .map(|r| (r.header("webhook-event-type").to_string(), r.json()))
        .collect()
}

#[tokio::test]
async fn chatwoot_conversation_events_and_edits_are_delivered_to_a_subscriber() {
    let (stack, receiver, key) = subscribed("none", json!([])).await;
    let assigned = |name: &str| {
        let name = name.to_string();
        conversation("conversation_updated", move |v| {
            v["meta"]["assignee"] = json!({"name": name, "email": "dana@acme.inc"});
            v["updated_at"] = json!(1768967400);
        })
    };
    let mut edited = json!({"event": "message_updated", "id": 2187685,
                            "content": "fixed text", "conversation": {"id": 89}});
    send(
        &stack,
        &key,
        vec![json(CONVERSATION), json(LIVEDESK_MESSAGE)],
    )
    .await;
    send(
        &stack,
        &key,
        vec![assigned("Dana"), assigned("Dana"), edited.clone()],
    )
    .await;
    let resolved = conversation("conversation_status_changed", |v| {
        v["status"] = "resolved".into();
        v["updated_at"] = json!(1768968000);
    });
    send(&stack, &key, vec![resolved.clone()]).await;
    // The same events again (a retried request): the same webhook-ids, so SQS keeps one
    // within its five minutes, and a receiver dedupes any that gets through.
    send(&stack, &key, vec![resolved]).await;
    edited["content"] = "fixed text".into();
    send(&stack, &key, vec![edited]).await;

    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    // Five, not seven: SQS (and the local moto, patched to its rule) keeps a FIFO
    // deduplication id for five minutes even once its message was deleted.
    let got = got(&receiver);
    assert_eq!(got.len(), 5, "{got:?}");
    let types: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "chat:created",
            "message:sent:new",
            "chat:assigned",
            "message:updated",
            "chat:closed"
        ],
        "the same teammate twice is one change"
    );
    assert_eq!(
        ids.iter().collect::<std::collections::HashSet<_>>().len(),
        5
    );
    let created = &got[0].1;
    assert_eq!(created["event_type"], "chat:created");
    assert_eq!(created["whatsapp_account"]["full_name"], "Inbox 523");
    assert_eq!(created["chat"]["chat_id"], "89");
    assert_eq!(created["chat"]["full_name"], "Test");
    assert_eq!(got[2].1["chat"]["responsible_name"], "Dana");
    assert_eq!(got[3].1["message"]["text"], "fixed text");
    assert_eq!(got[3].1["message"]["message_id"], "2187685");
    assert_eq!(got[4].1["event_type"], "chat:closed");
}

#[tokio::test]
async fn native_chat_events_and_updates_reach_an_aggregated_webhook_at_once() {
    let (stack, receiver, key) = subscribed(
        "1h",
        json!([
            "chat:created",
            "chat:assigned",
            "chat:closed",
            "message:updated"
        ]),
    )
    .await;
    let mut message = json(SEED);
    message["message"]["message_id"] = "n-msg-1".into();
    message["chat"]["chat_id"] = "n-1".into();
    let report = send(
        &stack,
        &key,
        vec![json(NATIVE_CREATED), message, json(NATIVE_ASSIGNED)],
    )
    .await;
    assert_eq!(
        report["skipped"], 1,
        "messages are not subscribed: {report}"
    );
    assert_eq!(
        report["events"][1]["reason"],
        "the webhook does not subscribe to message:sent:new"
    );
    // Not stored, so its update is skipped; a chat event needs no aggregation run.
    let report = send(
        &stack,
        &key,
        vec![json(NATIVE_UPDATED), json(NATIVE_CLOSED)],
    )
    .await;
    assert_eq!(report["events"][0]["status"], "skipped", "{report}");
    let got = got(&receiver);
    let types: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["chat:created", "chat:assigned", "chat:closed"]);
    assert_eq!(got[0].1, {
        let mut expected = json(NATIVE_CREATED);
        expected.as_object_mut().unwrap().remove("timestamp");
        expected
    });
    assert_eq!(got[1].1["chat"]["responsible_email"], "Amnon@acme.com");
}

#[tokio::test]
async fn a_native_update_of_a_delivered_message_is_delivered_with_the_new_text() {
    let (stack, receiver, key) = subscribed("none", json!([])).await;
    let mut message = json(SEED);
    message["message"]["message_id"] = "n-msg-1".into();
    message["chat"]["chat_id"] = "n-1".into();
    send(&stack, &key, vec![message.clone()]).await;
    send(&stack, &key, vec![json(NATIVE_UPDATED)]).await;
    let got = got(&receiver);
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].0, "message:updated");
    let mut expected = message;
    expected["message"]["text"] = "lorem ipsum, corrected".into();
    expected["chat"]["is_new_chat"] = false.into();
    assert_eq!(got[1].1, expected, "the seed's payload with the new text");
    assert_eq!(got[1].1["chat"]["is_new_chat"], false);

    // The same update again (a retried request) repeats its webhook-id; back to the first
    // text is a third change, with an id of its own.
    send(&stack, &key, vec![json(NATIVE_UPDATED)]).await;
    let mut back = json(NATIVE_UPDATED);
    back["message"]["text"] = json(SEED)["message"]["text"].clone();
    send(&stack, &key, vec![back]).await;
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    assert_ne!(ids[0], ids[1], "an update is a delivery of its own");
    let last = ids.last().unwrap();
    assert!(ids.len() == 3 || ids.len() == 4, "{ids:?}");
    if ids.len() == 4 {
        assert_eq!(ids[2], ids[1], "a repeated update keeps its webhook-id");
    }
    assert_ne!(
        last, &ids[1],
        "back to the first text is a change of its own"
    );
    let texts: Vec<Value> = receiver
        .received()
        .iter()
        .map(|r| r.json()["message"]["text"].clone())
        .collect();
    assert_eq!(texts.last().unwrap(), "lorem ipsum");
    // The corrected text once more: the third edit, not a repeat of the first.
    send(&stack, &key, vec![json(NATIVE_UPDATED)]).await;
    let again = receiver.received().last().unwrap().clone();
    assert_eq!(again.json()["message"]["text"], "lorem ipsum, corrected");
    let again = again.header("webhook-id").to_string();
    assert!(
        !ids.contains(&again),
        "B, A, B again: three edits, three webhook-ids ({again} in {ids:?})"
    );
}

#[tokio::test]
async fn an_update_is_not_told_before_its_bundle_nor_for_a_status_only_change() {
    let (stack, receiver, key) = subscribed("1h", json!([])).await;
    stack.set_time("2026-03-01T10:05:00Z");
    let mut message = json(SEED);
    message["message"]["message_id"] = "n-msg-1".into();
    message["chat"]["chat_id"] = "n-1".into();
    send(&stack, &key, vec![message.clone()]).await;
    // A status-only update: the text it has. Recorded, not an edit, not told.
    let mut same = json(NATIVE_UPDATED);
    same["message"]["text"] = message["message"]["text"].clone();
    send(&stack, &key, vec![same]).await;
    // An edit while its window is open: the bundle carries it; no update before it.
    send(&stack, &key, vec![json(NATIVE_UPDATED)]).await;
    assert!(receiver.received().is_empty());
    stack.aggregate("2026-03-01T11:01:30Z").await;
    stack.drain().await;
    let got = got(&receiver);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "message:bundle");
    assert!(got[0].1.to_string().contains("lorem ipsum, corrected"));
}

#[tokio::test]
async fn a_webhook_that_never_chose_gets_no_chat_events() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@legacy-events.test").await;
    stack.register(&key, &receiver.url()).await;
    let report = send(
        &stack,
        &key,
        vec![
            json(CONVERSATION),
            json(LIVEDESK_MESSAGE),
            json(NATIVE_CREATED),
        ],
    )
    .await;
    assert_eq!(report["accepted"], 3, "{report}");
    let types: Vec<String> = got(&receiver).into_iter().map(|(t, _)| t).collect();
    assert_eq!(types, ["message:sent:new"]);
}

#[tokio::test]
async fn a_chat_created_with_a_teammate_is_not_assigned_again_by_its_next_update() {
    let (stack, receiver, key) = subscribed("none", json!(["chat:created", "chat:assigned"])).await;
    let dana = json!({"name": "Dana", "email": "dana@acme.inc"});
    let created = conversation("conversation_created", |v| {
        v["meta"]["assignee"] = dana.clone();
    });
    let labelled = conversation("conversation_updated", |v| {
        v["meta"]["assignee"] = dana.clone();
        v["labels"] = json!(["vip"]);
        v["updated_at"] = json!(1768967500);
    });
    send(&stack, &key, vec![created, labelled]).await;
    let types: Vec<String> = got(&receiver).into_iter().map(|(t, _)| t).collect();
    assert_eq!(types, ["chat:created"], "the same teammate is no change");
}

//! Releasing what a disabled webhook held: enable answers at once, the sender drains the
//! held deliveries in steps (a continuation message per step), and new messages of a chat
//! wait behind the held ones instead of overtaking them.

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use outflow_e2e::{Fault, Options, Receiver, Rule, TestStack};
use serde_json::{json, Value};
use std::time::Duration;

const SEED: &str = include_str!("../../../shared/fixtures/timelines_message_example.json");

fn events(chat: &str, ids: impl Iterator<Item = String>) -> String {
    let events: Vec<Value> = ids
        .map(|id| {
            let mut event: Value = serde_json::from_str(SEED).unwrap();
            event["message"]["message_id"] = id.into();
            event["chat"]["chat_id"] = chat.into();
            event
        })
        .collect();
    json!({ "events": events }).to_string()
}

/// A stack whose sender releases one page (100) per step, so 250 held take three steps.
async fn stack() -> TestStack {
    TestStack::with(Options {
        faults: true,
        release_pages_per_step: Some(1),
        ..Options::default()
    })
    .await
}

/// A stack whose workspace (its key) saved its webhook to a receiver switched off, and
/// the stack's time then.
async fn switched_off(owner: &str) -> (TestStack, Receiver, String, DateTime<Utc>) {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace(owner).await;
    let body = json!({"url": receiver.url(), "enabled": false}).to_string();
    let saved = stack
        .call(
            Method::PUT,
            "/v1/webhooks/outbound",
            Some(&key),
            Some(body.into()),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let start = stack.app.clock.now().utc();
    (stack, receiver, key, start)
}

#[tokio::test]
async fn enable_answers_at_once_and_new_messages_wait_behind_the_held_ones() {
    let (stack, receiver, key, start) = switched_off("owner@release.test").await;
    for (n, range) in [(0, 0..100), (1, 100..200), (2, 200..250)] {
        stack.set_time(&(start + chrono::Duration::seconds(n)).to_rfc3339());
        let body = events("c1", range.map(|i| format!("held-{i:03}")));
        assert_eq!(stack.ingest(&key, body).await.status, StatusCode::ACCEPTED);
    }
    assert_eq!(stack.items_with_prefix("HELD#").await, 250);
    stack.set_time(&(start + chrono::Duration::seconds(10)).to_rfc3339());

    // Every queue request is slow, as under load: re-queueing inside the enable call took
    // 25 of them, and a message ingested meanwhile went out ahead of the held ones.
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(Rule::always(
        "SQS.SendMessageBatch",
        Fault::Latency(Duration::from_millis(150)),
    ));
    let enable = stack.enable(&key);
    let newer = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        stack.set_time(&(start + chrono::Duration::seconds(11)).to_rfc3339());
        stack
            .ingest(&key, events("c1", std::iter::once("new-1".to_string())))
            .await
    };
    let (enabled, newer) = tokio::join!(enable, newer);
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    assert_eq!(enabled.body["released"], 250);
    assert_eq!(newer.status, StatusCode::ACCEPTED);
    assert!(
        stack.queue_depth().await <= 1,
        "enable queues the release order, not the 250 deliveries"
    );
    proxy.clear();

    stack.drain().await;
    let ids: Vec<String> = receiver.received().iter().map(|r| r.message_id()).collect();
    let mut expected: Vec<String> = (0..250).map(|i| format!("held-{i:03}")).collect();
    expected.push("new-1".into());
    assert_eq!(ids.len(), 251, "{ids:?}");
    assert_eq!(ids, expected, "the new message waited behind the held ones");
    assert_eq!(stack.items_with_prefix("HELD#").await, 0);

    // Once released, new messages go straight to the queue again.
    let later = stack
        .ingest(&key, events("c1", std::iter::once("new-2".to_string())))
        .await;
    assert_eq!(later.status, StatusCode::ACCEPTED);
    assert_eq!(stack.items_with_prefix("HELD#").await, 0);
    stack.drain().await;
    assert_eq!(receiver.received().last().unwrap().message_id(), "new-2");
}

#[tokio::test]
async fn a_release_whose_order_was_lost_is_queued_again_by_the_next_holder() {
    let (stack, receiver, key, start) = switched_off("owner@release-lost.test").await;
    let body = events("c1", (0..3).map(|i| format!("held-{i}")));
    assert_eq!(stack.ingest(&key, body).await.status, StatusCode::ACCEPTED);
    // The webhook is switched on, then the order cannot be queued, nor the release ended:
    // as if the API call were cut between the two.
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(Rule::always("SQS.SendMessage", Fault::Refuse));
    proxy.inject(
        Rule::always("DynamoDB.UpdateItem", Fault::Refuse)
            .when_body_contains("SET release_ended_ms"),
    );
    stack.set_time(&(start + chrono::Duration::seconds(10)).to_rfc3339());
    let enabled = stack.enable(&key).await;
    assert_eq!(
        enabled.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        enabled.body
    );
    proxy.clear();
    // New messages wait behind the release; ten minutes on, the next one finds it stalled
    // and queues its order again.
    let newer = events("c1", std::iter::once("new-1".to_string()));
    assert_eq!(stack.ingest(&key, newer).await.status, StatusCode::ACCEPTED);
    stack.drain().await;
    assert!(receiver.received().is_empty(), "held behind the release");
    stack.set_time(&(start + chrono::Duration::minutes(11)).to_rfc3339());
    let later = events("c1", std::iter::once("new-2".to_string()));
    assert_eq!(stack.ingest(&key, later).await.status, StatusCode::ACCEPTED);
    stack.drain().await;
    let ids: Vec<String> = receiver.received().iter().map(|r| r.message_id()).collect();
    assert_eq!(ids, ["held-0", "held-1", "held-2", "new-1", "new-2"]);
    assert_eq!(stack.items_with_prefix("HELD#").await, 0);
}

#[tokio::test]
async fn an_aggregator_run_restarts_a_stalled_release_its_windows_wait_behind() {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@release-hourly.test").await;
    stack.set_time("2026-03-01T10:00:00Z");
    stack.register_with(&key, &receiver.url(), "1h").await;
    let bundle_of = |chat: &str, id: &str| {
        let mut event: Value = serde_json::from_str(SEED).unwrap();
        event["chat"]["chat_id"] = chat.into();
        event["message"]["message_id"] = id.into();
        event.to_string()
    };
    // A bundle is queued, then the webhook switched off: the sender holds it.
    stack.set_time("2026-03-01T10:05:00Z");
    assert_eq!(
        stack.ingest(&key, bundle_of("c1", "first")).await.status,
        StatusCode::ACCEPTED
    );
    stack.aggregate("2026-03-01T11:05:00Z").await;
    let off = json!({"url": receiver.url(), "enabled": false, "aggregation": "1h"}).to_string();
    let saved = stack
        .call(
            Method::PUT,
            "/v1/webhooks/outbound",
            Some(&key),
            Some(off.into()),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK);
    stack.drain().await;
    assert_eq!(stack.items_with_prefix("HELD#").await, 1);
    // A later message's window fills meanwhile.
    stack.set_time("2026-03-01T11:10:00Z");
    assert_eq!(
        stack.ingest(&key, bundle_of("c1", "second")).await.status,
        StatusCode::ACCEPTED
    );
    // Switched on, but the release's order is lost (and its end too).
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(Rule::always("SQS.SendMessage", Fault::Refuse));
    proxy.inject(
        Rule::always("DynamoDB.UpdateItem", Fault::Refuse)
            .when_body_contains("SET release_ended_ms"),
    );
    stack.set_time("2026-03-01T11:58:00Z");
    assert_eq!(
        stack.enable(&key).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    proxy.clear();
    // In aggregated mode nothing new is held, so no holder notices: the aggregator does.
    let waiting = stack.aggregate("2026-03-01T12:05:00Z").await;
    assert_eq!(waiting["windows_behind_release"], 1, "{waiting}");
    stack.drain().await;
    assert!(receiver.received().is_empty());
    // Ten minutes without progress: the run queues the release again.
    let restarted = stack.aggregate("2026-03-01T12:10:00Z").await;
    assert_eq!(restarted["windows_behind_release"], 1, "{restarted}");
    stack.drain().await;
    stack.aggregate("2026-03-01T12:15:00Z").await;
    stack.drain().await;
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .flat_map(|r| r.bundled_ids())
        .collect();
    assert_eq!(
        ids,
        ["first", "second"],
        "the held bundle first, then the next"
    );
}

#[tokio::test]
async fn what_a_holder_leaves_held_after_a_release_goes_out_too() {
    let (stack, receiver, key, start) = switched_off("owner@release-rest.test").await;
    let at = |s: i64| (start + chrono::Duration::seconds(s)).to_rfc3339();
    let first: Vec<String> = (0..150).map(|i| format!("held-{i:03}")).collect();
    for (n, page) in first.chunks(100).enumerate() {
        stack.set_time(&at(n as i64));
        let body = events("c1", page.iter().cloned());
        assert_eq!(stack.ingest(&key, body).await.status, StatusCode::ACCEPTED);
    }
    // Released in two steps (one page each): the order's step 1 went through SQS.
    stack.set_time(&at(10));
    assert_eq!(stack.enable(&key).await.status, StatusCode::OK);
    stack.drain().await;
    assert_eq!(receiver.received().len(), 150);

    // In the minute after the end, requests hold their deliveries and put them back
    // themselves; while SQS refuses, 600 stay held.
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(Rule::always("SQS.SendMessageBatch", Fault::Refuse));
    let settling: Vec<String> = (0..600).map(|i| format!("settling-{i:03}")).collect();
    for (n, page) in settling.chunks(100).enumerate() {
        stack.set_time(&at(20 + n as i64));
        let body = events("c1", page.iter().cloned());
        assert_eq!(
            stack.ingest(&key, body).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    proxy.clear();
    assert_eq!(stack.items_with_prefix("HELD#").await, 600);
    // The next holder puts back five pages and queues an order for the rest: an order of
    // its own, not a repeat of the release's step 1 (SQS would drop it for five minutes,
    // even now that step 1 is done, and 101 deliveries would wait for the next release).
    stack.set_time(&at(30));
    let last = events("c1", std::iter::once("last".to_string()));
    assert_eq!(stack.ingest(&key, last).await.status, StatusCode::ACCEPTED);
    stack.drain().await;
    assert_eq!(stack.items_with_prefix("HELD#").await, 0);
    let ids: Vec<String> = receiver.received().iter().map(|r| r.message_id()).collect();
    let mut expected = first;
    expected.extend(settling);
    expected.push("last".into());
    assert_eq!(ids.len(), expected.len());
    assert_eq!(ids, expected, "every held delivery once, in order");
}

#[tokio::test]
async fn a_message_edited_while_held_goes_out_with_its_new_text() {
    // The webhook takes only the two message types (no `message:updated`).
    let (stack, receiver, key, _) = switched_off("owner@held-edit.test").await;
    let r = stack
        .ingest(
            &key,
            events("c1", ["held-a", "held-b"].map(String::from).into_iter()),
        )
        .await;
    assert_eq!(r.body["accepted"], 2, "{}", r.body);
    let edit = json!({"events": [{"event_type": "message:updated", "chat": {"chat_id": "c1"},
        "message": {"message_id": "held-a", "text": "the new text"}}]});
    let r = stack.ingest(&key, edit.to_string()).await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);

    let enabled = stack.enable(&key).await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    stack.drain().await;
    let got: Vec<(String, String)> = receiver
        .received()
        .iter()
        .map(|r| {
            let m = &r.json()["message"];
            (
                m["message_id"].as_str().unwrap().into(),
                m["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    let seed: Value = serde_json::from_str(SEED).unwrap();
    let unedited = seed["message"]["text"].as_str().unwrap().to_string();
    // Before: "held-a" went out with the text it had when held, and the edit never.
    assert_eq!(
        got,
        [
            ("held-a".to_string(), "the new text".to_string()),
            ("held-b".to_string(), unedited)
        ]
    );
}

#[tokio::test]
async fn a_retry_older_than_what_was_held_goes_out_before_it() {
    let stack = TestStack::with(Options {
        retry_delay_secs: 1,
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    // The first request fails: r-1 waits for its retry, its chat's group behind it.
    receiver.script(|_, n| (if n == 0 { 503 } else { 200 }, Duration::ZERO));
    let (ws, key) = stack.workspace("owner@retry-before-held.test").await;
    stack.register(&key, &receiver.url()).await;
    // As if a sender had held c1 from the queue in an earlier switch-off: that mark must
    // not hold back what comes after this one's.
    let long_ago = 1_000;
    let c1 = outflow::domain::ChatId::new_unchecked("c1");
    let scope = outflow::domain::WorkspaceId::parse(&ws).unwrap();
    let store = &stack.app.api.store;
    store
        .mark_held_chats(&scope, &[&c1], long_ago)
        .await
        .unwrap();
    let r = stack
        .ingest(&key, events("c1", ["r-1".to_string()].into_iter()))
        .await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);
    stack.drain().await;
    assert_eq!(receiver.received().len(), 1, "tried once, failed");

    // Switched off and on meanwhile: r-2 and r-3 held by ingest, then released.
    let off = json!({"url": receiver.url(), "enabled": false});
    assert_eq!(stack.save_settings(&key, &off).await.status, StatusCode::OK);
    let ids = ["r-2", "r-3"].map(String::from);
    let r = stack.ingest(&key, events("c1", ids.into_iter())).await;
    assert_eq!(r.body["accepted"], 2, "{}", r.body);
    assert_eq!(
        stack.items_with_prefix("HELD#").await,
        2,
        "held, not queued"
    );
    assert_eq!(stack.enable(&key).await.status, StatusCode::OK);
    stack.drain().await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for _ in 0..10 {
        stack.drain().await;
        if receiver.received().len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let got: Vec<String> = receiver.received().iter().map(|r| r.message_id()).collect();
    // The retry of the oldest goes first (a sender holding it behind the release's
    // copies, as tried on 2026-12-05 and reverted, sent it last; so would counting the
    // mark of an earlier switch-off).
    assert_eq!(got, ["r-1", "r-1", "r-2", "r-3"]);
}

/// A workspace (its key) whose chat c1 had fifteen deliveries queued when its webhook was
/// switched off, the first ten then held by a sender batch; their ids, in order.
async fn fifteen_queued_ten_held(owner: &str) -> (TestStack, Receiver, String, Vec<String>) {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace(owner).await;
    stack.register(&key, &receiver.url()).await;
    let ids: Vec<String> = (1..=15).map(|i| format!("q-{i:02}")).collect();
    let r = stack.ingest(&key, events("c1", ids.iter().cloned())).await;
    assert_eq!(r.body["accepted"], 15, "{}", r.body);
    let off = json!({"url": receiver.url(), "enabled": false});
    let saved = stack.save_settings(&key, &off).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let batch = stack.pump.once(&stack.app.sender, 0).await.unwrap();
    assert_eq!(batch.received, 10, "the first ten held");
    assert!(receiver.received().is_empty());
    (stack, receiver, key, ids)
}

#[tokio::test]
async fn deliveries_queued_before_a_disable_do_not_overtake_the_ones_it_held() {
    let (stack, receiver, key, ids) = fifteen_queued_ten_held("owner@queued-behind.test").await;
    assert_eq!(stack.items_with_prefix("HELDCHAT#").await, 1, "c1 marked");

    let enabled = stack.enable(&key).await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    stack.drain().await;
    let got: Vec<String> = receiver.received().iter().map(|r| r.message_id()).collect();
    // Before: q-11 to q-15, still queued, went out first, then the ten released.
    assert_eq!(got, ids);
}

#[tokio::test]
async fn switched_off_again_before_its_release_ran_what_was_queued_still_waits_for_the_held() {
    let (stack, receiver, key, ids) = fifteen_queued_ten_held("owner@off-again.test").await;
    let start = stack.app.clock.now().utc();
    let off = json!({"url": receiver.url(), "enabled": false});
    // On, then off and on again a minute later, before the first release ran.
    assert_eq!(stack.enable(&key).await.status, StatusCode::OK);
    stack.set_time(&(start + chrono::Duration::minutes(1)).to_rfc3339());
    assert_eq!(stack.save_settings(&key, &off).await.status, StatusCode::OK);
    assert_eq!(stack.enable(&key).await.status, StatusCode::OK);
    stack.drain().await;
    let got: Vec<String> = receiver.received().iter().map(|r| r.message_id()).collect();
    // Before: the second switch-off counted as the start, the first one's mark did not
    // count, and q-11 to q-15 went out first.
    assert_eq!(got, ids);
}

#[tokio::test]
async fn a_release_ending_after_the_webhook_went_off_again_keeps_that_switch_off_dated() {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let (ws, key) = stack.workspace("owner@end-while-off.test").await;
    let scope = outflow::domain::WorkspaceId::parse(&ws).unwrap();
    let store = &stack.app.api.store;
    let off = json!({"url": receiver.url(), "enabled": false});
    assert_eq!(stack.save_settings(&key, &off).await.status, StatusCode::OK);
    let webhook = || async { store.webhook_as_stored(&scope).await.unwrap().unwrap() };
    let switched_off = webhook().await.off_since_ms;
    assert!(switched_off.is_some());
    let r = stack
        .ingest(&key, events("c1", ["held".to_string()].into_iter()))
        .await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);
    // On (a release starts, with one held to put back), then off again before that
    // release's step ends it.
    assert_eq!(stack.enable(&key).await.status, StatusCode::OK);
    let release = webhook().await.release_nonce.unwrap();
    assert_eq!(stack.save_settings(&key, &off).await.status, StatusCode::OK);
    let now = stack.app.clock.now();
    assert!(store.end_release(&scope, release, now).await.unwrap());
    // Before: the end removed it while the webhook was off, and the marks of this
    // switch-off stopped counting at the next enable.
    assert_eq!(webhook().await.off_since_ms, switched_off);

    // On again: that release's end closes the switch-off.
    assert_eq!(stack.enable(&key).await.status, StatusCode::OK);
    let on = webhook().await;
    assert_eq!(on.release_off_since_ms, switched_off);
    let release = on.release_nonce.unwrap();
    assert!(store.end_release(&scope, release, now).await.unwrap());
    assert_eq!(webhook().await.off_since_ms, None);
}

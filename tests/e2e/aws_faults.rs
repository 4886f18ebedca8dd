//! Faults inside AWS, through the fault-injecting proxy between the functions and moto:
//! throttling, 5xx and broken connections where they hurt most. What was accepted is
//! delivered (or dead-lettered where the tenant can replay it), and a client's retry after
//! a 5xx is never told `duplicate` for a message that was never queued.

use axum::http::{Method, StatusCode};
use outflow_e2e::{Fault, Receiver, Rule, TestStack};

const SEED: &str = include_str!("../../../shared/fixtures/timelines_message_example.json");

async fn stack() -> TestStack {
    TestStack::behind_faults().await
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
        proxy.inject(Rule::always(operation, fault).times(1));
    }
    let r = stack.ingest(&key, SEED).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    stack.drain().await;
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(proxy.injected(), 5, "every fault was met and retried past");
}

/// An hourly webhook of a new workspace, and a message of each chat in the 10:00 window.
async fn hourly(stack: &TestStack, receiver: &Receiver, chats: &[&str]) -> (String, String) {
    let (ws, key) = stack.workspace(&stack.unique_email("poison")).await;
    stack.set_time("2026-03-01T10:00:00Z");
    stack.register_with(&key, &receiver.url(), "1h").await;
    stack.set_time("2026-03-01T10:05:00Z");
    for chat in chats {
        let mut event: serde_json::Value = serde_json::from_str(SEED).unwrap();
        event["chat"]["chat_id"] = (*chat).into();
        event["message"]["message_id"] = format!("m-{chat}").into();
        assert_eq!(
            stack.ingest(&key, event.to_string()).await.status,
            StatusCode::ACCEPTED
        );
    }
    (ws, key)
}

#[tokio::test]
async fn one_window_the_queue_refuses_neither_stops_nor_repeats_the_others() {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    hourly(&stack, &receiver, &["poison-chat", "c1", "c2"]).await;
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(
        Rule::always("SQS.SendMessageBatch", Fault::Refuse).when_body_contains("poison-chat"),
    );
    // Each run 16 minutes after the last: the failed window's claim has gone stale.
    let runs = ["11:05", "11:21", "11:37", "11:53", "12:09", "12:25"];
    let mut reports = Vec::new();
    for at in runs {
        reports.push(stack.aggregate(&format!("2026-03-01T{at}:00Z")).await);
    }
    assert_eq!(reports[0]["bundles_enqueued"], 2, "{}", reports[0]);
    assert_eq!(reports[0]["windows_failed"], 1);
    let set_aside: u64 = reports
        .iter()
        .map(|r| r["windows_set_aside"].as_u64().unwrap())
        .sum();
    assert_eq!(
        set_aside, 1,
        "the failing window is set aside after 5 failures"
    );
    assert_eq!(reports[5]["windows_due"], 0, "and no run reads it again");
    stack.drain().await;
    let chats: std::collections::BTreeSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.json()["chat"]["chat_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(chats, ["c1".to_string(), "c2".to_string()].into());
    assert_eq!(receiver.received().len(), 2, "the others went out once");
}

#[tokio::test]
async fn an_unreadable_window_item_is_set_aside_and_the_run_goes_on() {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let (ws, key) = hourly(&stack, &receiver, &["c1"]).await;
    // A due-index item that is no window (no fields but its keys).
    stack
        .aws
        .dynamo
        .put_item()
        .table_name(&stack.stack.table)
        .item("pk", A::S(format!("WS#{ws}")))
        .item("sk", A::S("WIN#0000000000001#0000000000000#junk".into()))
        .item("due_pk", A::S("DUE#0".into()))
        .item("due_sk", A::S("0000000000001#junk".into()))
        .send()
        .await
        .unwrap();
    let report = stack.aggregate("2026-03-01T11:05:00Z").await;
    assert_eq!(report["bundles_enqueued"], 1, "{report}");
    assert_eq!(report["windows_set_aside"], 1);
    let again = stack.aggregate("2026-03-01T11:20:00Z").await;
    assert_eq!(
        again["windows_set_aside"], 0,
        "read once, then out of the index"
    );
    stack.drain().await;
    assert_eq!(receiver.received().len(), 1);
    // The workspace's settings can still be saved: the junk keeps no window from its turn.
    let enabled = stack.enable(&key).await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
}

#[tokio::test]
async fn a_delivery_held_twice_by_a_retried_request_goes_out_once() {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@held-twice.test").await;
    let body = serde_json::json!({"url": receiver.url(), "enabled": false}).to_string();
    let saved = stack
        .call(
            axum::http::Method::PUT,
            "/v1/webhooks/outbound",
            Some(&key),
            Some(body.into()),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK);
    let proxy = stack.faults.as_ref().unwrap();
    // The delivery is held, then writing the message fails: the client retries.
    proxy.inject(
        Rule::always("DynamoDB.BatchWriteItem", Fault::ServerError(500)).when_body_contains("MSG#"),
    );
    assert_eq!(
        stack.ingest(&key, SEED).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    proxy.clear();
    // A hundred other deliveries held in between, so the two copies are released in
    // different pages (different SendMessageBatch calls).
    let start = stack.app.clock.now().utc();
    stack.set_time(&(start + chrono::Duration::seconds(30)).to_rfc3339());
    let others: Vec<serde_json::Value> = (0..100)
        .map(|n| {
            let mut event: serde_json::Value = serde_json::from_str(SEED).unwrap();
            event["message"]["message_id"] = format!("other-{n}").into();
            event["chat"]["chat_id"] = format!("chat-{n}").into();
            event
        })
        .collect();
    let others = serde_json::json!({ "events": others }).to_string();
    assert_eq!(
        stack.ingest(&key, others).await.status,
        StatusCode::ACCEPTED
    );
    stack.set_time(&(start + chrono::Duration::seconds(60)).to_rfc3339());
    assert_eq!(stack.ingest(&key, SEED).await.status, StatusCode::ACCEPTED);
    assert_eq!(
        stack.items_with_prefix("HELD#").await,
        102,
        "held by both tries"
    );
    let enabled = stack.enable(&key).await;
    assert_eq!(enabled.status, StatusCode::OK);
    stack.drain().await;
    let seed = receiver
        .received()
        .iter()
        .filter(|r| r.message_id() == "ddfskhsd76dsfs6dsd5skjsdhf")
        .count();
    assert_eq!(seed, 1, "released once");
    assert_eq!(receiver.received().len(), 101);
}

#[tokio::test]
async fn an_ingest_request_near_its_deadline_answers_503_and_its_retry_delivers_each_once() {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@ingest-deadline.test").await;
    stack.register(&key, &receiver.url()).await;
    let events: Vec<serde_json::Value> = (0..30)
        .map(|n| {
            let mut event: serde_json::Value = serde_json::from_str(SEED).unwrap();
            event["message"]["message_id"] = format!("d-{n}").into();
            event["chat"]["chat_id"] = format!("chat-{}", n % 3).into();
            event
        })
        .collect();
    let body = serde_json::json!({ "events": events }).to_string();
    // DynamoDB slows down: writing the messages would outlast the invocation, which
    // Lambda would kill (the client seeing a bare 502/504 from the gateway).
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(Rule::always(
        "DynamoDB.BatchWriteItem",
        Fault::Latency(std::time::Duration::from_secs(3)),
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let cut = stack.ingest_by(&key, body.clone(), deadline).await;
    assert_eq!(cut.status, StatusCode::SERVICE_UNAVAILABLE, "{}", cut.body);
    let message = cut.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("retry"), "{message}");
    proxy.clear();
    let retry = stack.ingest(&key, body).await;
    assert_eq!(retry.status, StatusCode::ACCEPTED, "{}", retry.body);
    assert_eq!(
        retry.body["accepted"].as_u64().unwrap() + retry.body["duplicates"].as_u64().unwrap(),
        30
    );
    stack.drain().await;
    let mut ids: Vec<String> = receiver.received().iter().map(|r| r.message_id()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30, "every message delivered");
    assert_eq!(receiver.received().len(), 30, "each once");
}

#[tokio::test]
async fn a_message_whose_window_was_not_written_is_bundled_after_the_retry() {
    let (stack, receiver, key) = by_the_hour("owner@unprocessed.test").await;
    let mut event: serde_json::Value = serde_json::from_str(SEED).unwrap();
    event["chat"]["chat_id"] = "late-chat".into();
    event["message"]["message_id"] = "m-late".into();
    // DynamoDB keeps handing the window's item back unprocessed (under load it may leave
    // any item of a BatchWriteItem so) while it writes the message beside it.
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(
        Rule::always(
            "DynamoDB.BatchWriteItem",
            Fault::Unprocessed("due_pk".into()),
        )
        .when_body_contains("due_pk"),
    );
    stack.set_time("2026-03-01T10:59:30Z");
    let first = stack.ingest(&key, event.to_string()).await;
    assert_eq!(
        first.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        first.body
    );
    proxy.clear();
    // The client retries in the next hour.
    stack.set_time("2026-03-01T11:00:30Z");
    let retry = stack.ingest(&key, event.to_string()).await;
    assert_eq!(retry.status, StatusCode::ACCEPTED, "{}", retry.body);
    stack.aggregate("2026-03-01T11:05:00Z").await;
    stack.aggregate("2026-03-01T12:05:00Z").await;
    stack.drain().await;
    let bundled: Vec<String> = receiver
        .received()
        .iter()
        .flat_map(|r| r.bundled_ids())
        .collect();
    assert_eq!(bundled, ["m-late"], "bundled once, not lost");
}

/// A stack with a fault proxy and a workspace owned by `owner` whose webhook bundles by
/// the hour (registered at 10:00); its receiver and key.
async fn by_the_hour(owner: &str) -> (TestStack, Receiver, String) {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace(owner).await;
    stack.set_time("2026-03-01T10:00:00Z");
    stack.register_with(&key, &receiver.url(), "1h").await;
    (stack, receiver, key)
}

/// DynamoDB refuses the next request of `operation` whose body holds `text`, once.
fn refuse_once(proxy: &outflow_e2e::FaultProxy, operation: &str, text: &str) {
    let refused = Rule::always(operation, Fault::Refuse).when_body_contains(text);
    proxy.inject(refused.times(1));
}

/// The seed's message as message `id` of `chat`.
fn seed_in(chat: &str, id: &str) -> String {
    let mut event: serde_json::Value = serde_json::from_str(SEED).unwrap();
    event["chat"]["chat_id"] = chat.into();
    event["message"]["message_id"] = id.into();
    event.to_string()
}

/// Delivers what is queued; each bundle's message ids and `is_new_chat`, as received.
async fn bundles_sent(stack: &TestStack, receiver: &Receiver) -> Vec<(Vec<String>, bool)> {
    stack.drain().await;
    receiver
        .received()
        .iter()
        .map(|r| (r.bundled_ids(), r.json()["chat"]["is_new_chat"] == true))
        .collect()
}

/// Message m-10 in `chat`'s 10:00 window and m-11 in its 11:00 window.
async fn two_windows_of(stack: &TestStack, key: &str, chat: &str) {
    for (at, id) in [("10:05", "m-10"), ("11:05", "m-11")] {
        stack.set_time(&format!("2026-03-01T{at}:00Z"));
        let answer = stack.ingest(key, seed_in(chat, id)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
}

/// Nothing of `two_windows_of` was delivered yet; a run at `at` sends both windows, in
/// order, the first opening the conversation.
async fn sent_in_order_by_a_run_at(stack: &TestStack, receiver: &Receiver, at: &str) {
    stack.drain().await;
    assert!(
        receiver.received().is_empty(),
        "the second window waits for the first"
    );
    stack.aggregate(at).await;
    let sent = bundles_sent(stack, receiver).await;
    assert_eq!(
        sent,
        [
            (vec!["m-10".to_string()], true),
            (vec!["m-11".into()], false)
        ]
    );
}

#[tokio::test]
async fn a_window_whose_claim_fails_goes_out_first_and_opens_its_conversation() {
    let (stack, receiver, key) = by_the_hour("owner@claim-fails.test").await;
    two_windows_of(&stack, &key, "claimed-chat").await;
    // DynamoDB fails the transaction of claims, then, asked window by window, the claim
    // of the chat's first window (10:00 to 11:00: its sort key begins with its end); the
    // chat's second window is claimed in the same run.
    let proxy = stack.faults.as_ref().unwrap();
    refuse_once(proxy, "DynamoDB.TransactWriteItems", "claimed_by");
    refuse_once(proxy, "DynamoDB.UpdateItem", "WIN#1772362800000#");
    let report = stack.aggregate("2026-03-01T12:02:00Z").await;
    assert_eq!(proxy.injected(), 2);
    // Counted as left due (the table failed), not as another run's.
    assert_eq!(
        (&report["windows_left_due"], &report["windows_skipped"]),
        (&1.into(), &0.into()),
        "{report}"
    );
    // The first bundle opens the conversation, as if the claim had never failed.
    sent_in_order_by_a_run_at(&stack, &receiver, "2026-03-01T12:03:00Z").await;
}

#[tokio::test]
async fn a_window_the_queue_refuses_alone_is_not_overtaken_by_its_chats_next() {
    let (stack, receiver, key) = by_the_hour("owner@queue-order.test").await;
    two_windows_of(&stack, &key, "queued-chat").await;
    // The queue refuses the group holding both windows' bundles, then the first bundle
    // sent alone; it would take the second.
    let proxy = stack.faults.as_ref().unwrap();
    let refused = Rule::always("SQS.*", Fault::Refuse).when_body_contains("m-10");
    proxy.inject(refused.times(2));
    let first = stack.aggregate("2026-03-01T12:02:00Z").await;
    assert_eq!(proxy.injected(), 2);
    assert_eq!(
        (&first["windows_failed"], &first["bundles_enqueued"]),
        (&1.into(), &0.into()),
        "{first}"
    );
    // Both claims are stale by then: the chat's windows go out in order.
    sent_in_order_by_a_run_at(&stack, &receiver, "2026-03-01T12:20:00Z").await;
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_the_runs_own_when_retried() {
    let (stack, receiver, key) = by_the_hour("owner@claim-lost.test").await;
    stack.set_time("2026-03-01T10:05:00Z");
    let answer = stack.ingest(&key, SEED).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    // DynamoDB writes the claims, and the answer is lost; the SDK sends them again (with
    // the same idempotency token, which AWS would honour; moto runs them again).
    let proxy = stack.faults.as_ref().unwrap();
    let lost = Rule::always("DynamoDB.TransactWriteItems", Fault::LostAnswer);
    proxy.inject(lost.when_body_contains("claimed_by").times(1));
    let report = stack.aggregate("2026-03-01T11:02:00Z").await;
    assert_eq!(proxy.injected(), 1);
    // Not held by "another run" for the 15 minutes a stale claim takes: sent now.
    assert_eq!(report["bundles_enqueued"], 1, "{report}");
    stack.drain().await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_chat_whose_state_cannot_be_recorded_fails_its_window_alone() {
    let (stack, receiver, key) = by_the_hour("owner@chat-state.test").await;
    stack.set_time("2026-03-01T10:05:00Z");
    for chat in ["state-a", "state-b"] {
        let answer = stack
            .ingest(&key, seed_in(chat, &format!("m-{chat}")))
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    // DynamoDB fails the transaction recording which bundles open their conversations,
    // then, asked chat by chat, chat a's.
    let proxy = stack.faults.as_ref().unwrap();
    refuse_once(proxy, "DynamoDB.TransactWriteItems", "first_delivery");
    refuse_once(proxy, "DynamoDB.UpdateItem", "CHAT#state-a");
    let report = stack.aggregate("2026-03-01T11:02:00Z").await;
    assert_eq!(proxy.injected(), 2);
    assert_eq!(
        (&report["windows_failed"], &report["bundles_enqueued"]),
        (&1.into(), &1.into()),
        "{report}"
    );
    // Its window is tried again once its claim is stale.
    stack.aggregate("2026-03-01T11:20:00Z").await;
    let mut sent = bundles_sent(&stack, &receiver).await;
    sent.sort();
    assert_eq!(
        sent,
        [
            (vec!["m-state-a".to_string()], true),
            (vec!["m-state-b".into()], true)
        ]
    );
}

#[tokio::test]
async fn a_workspace_whose_settings_cannot_be_read_stops_no_other_workspaces_windows() {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    stack.set_time("2026-03-01T10:00:00Z");
    let (damaged, damaged_key) = stack.workspace("owner@damaged.test").await;
    let (_, key) = stack.workspace("owner@neighbour.test").await;
    for (key, chat) in [(&damaged_key, "damaged-chat"), (&key, "neighbour-chat")] {
        stack.register_with(key, &receiver.url(), "1h").await;
        stack.set_time("2026-03-01T10:05:00Z");
        let answer = stack.ingest(key, seed_in(chat, &format!("m-{chat}"))).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    // One workspace's item no longer reads as settings (its secret is not text).
    stack
        .update_workspace_item(
            &damaged,
            "SET secret = :n",
            &[],
            &[(":n", aws_sdk_dynamodb::types::AttributeValue::N("1".into()))],
        )
        .await;
    let report = stack.aggregate("2026-03-01T11:02:00Z").await;
    assert_eq!(
        (&report["windows_failed"], &report["bundles_enqueued"]),
        (&1.into(), &1.into()),
        "{report}"
    );
    stack.drain().await;
    let sent: Vec<Vec<String>> = receiver
        .received()
        .iter()
        .map(|r| r.bundled_ids())
        .collect();
    assert_eq!(sent, [vec!["m-neighbour-chat".to_string()]]);
}

#[tokio::test]
async fn a_second_run_at_the_same_instant_leaves_the_first_runs_claim_alone() {
    let (stack, _receiver, key) = by_the_hour("owner@same-instant.test").await;
    stack.set_time("2026-03-01T10:05:00Z");
    let answer = stack.ingest(&key, SEED).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    // The first run claims the window and the queue refuses its bundle: it keeps its claim.
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(Rule::always("SQS.*", Fault::Refuse));
    let first = stack.aggregate("2026-03-01T11:02:00Z").await;
    assert_eq!(first["windows_failed"], 1, "{first}");
    proxy.clear();
    // Another run of the same instant, in the same process, is another run: it may take
    // its own claims again, never the first run's before they are stale.
    let second = stack.aggregate("2026-03-01T11:02:00Z").await;
    assert_eq!(
        (
            &second["windows_skipped"],
            &second["windows_left_due"],
            &second["bundles_enqueued"]
        ),
        (&1.into(), &0.into(), &0.into()),
        "{second}"
    );
}

#[tokio::test]
async fn a_window_whose_settings_read_fails_is_left_due_and_sent_by_the_next_run() {
    let (stack, receiver, key) = by_the_hour("owner@settings-read.test").await;
    stack.set_time("2026-03-01T10:05:00Z");
    let answer = stack.ingest(&key, SEED).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    // DynamoDB refuses the run's one read of the workspace's settings (a refusal the SDK
    // does not retry; the run does not read them again).
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(Rule::always("DynamoDB.GetItem", Fault::Refuse).when_body_contains("META"));
    let first = stack.aggregate("2026-03-01T11:02:00Z").await;
    assert_eq!(proxy.injected(), 1);
    proxy.clear();
    assert_eq!(
        (
            &first["windows_left_due"],
            &first["windows_failed"],
            &first["bundles_enqueued"]
        ),
        (&1.into(), &0.into(), &0.into()),
        "{first}"
    );
    // Not claimed, not counted against the window: the next run sends it at once.
    let second = stack.aggregate("2026-03-01T11:03:00Z").await;
    assert_eq!(second["bundles_enqueued"], 1, "{second}");
    assert_eq!(bundles_sent(&stack, &receiver).await.len(), 1);
}

#[tokio::test]
async fn a_window_whose_parking_fails_is_left_due_and_parked_by_the_next_run() {
    let (stack, receiver, key) = by_the_hour("owner@parking.test").await;
    let off = serde_json::json!({"url": receiver.url(), "enabled": false, "aggregation": "1h"});
    let answer = stack
        .call(
            Method::PUT,
            "/v1/webhooks/outbound",
            Some(&key),
            Some(off.to_string().into()),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    stack.set_time("2026-03-01T10:05:00Z");
    let answer = stack.ingest(&key, SEED).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    // DynamoDB refuses the update that takes the window out of the due index.
    let proxy = stack.faults.as_ref().unwrap();
    refuse_once(
        proxy,
        "DynamoDB.UpdateItem",
        "due_sk, claimed_at, claimed_by\"",
    );
    let first = stack.aggregate("2026-03-01T11:02:00Z").await;
    assert_eq!(proxy.injected(), 1);
    assert_eq!(
        (&first["windows_left_due"], &first["windows_parked"]),
        (&1.into(), &0.into()),
        "{first}"
    );
    let second = stack.aggregate("2026-03-01T11:03:00Z").await;
    assert_eq!(
        (&second["windows_left_due"], &second["windows_parked"]),
        (&0.into(), &1.into()),
        "{second}"
    );
    stack.drain().await;
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn a_sent_window_whose_finish_fails_is_counted_left_due_and_sent_again_alike() {
    let (stack, receiver, key) = by_the_hour("owner@finish.test").await;
    stack.set_time("2026-03-01T10:05:00Z");
    for chat in ["finish-a", "finish-b"] {
        let answer = stack
            .ingest(&key, seed_in(chat, &format!("m-{chat}")))
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    // The call that takes the two sent windows out of the table deletes chat b's and
    // hands chat a's back unprocessed, every time: one window is left, not both.
    let proxy = stack.faults.as_ref().unwrap();
    let unprocessed = Fault::Unprocessed("finish-a".into());
    let rule = Rule::always("DynamoDB.BatchWriteItem", unprocessed);
    proxy.inject(rule.when_body_contains("DeleteRequest"));
    let first = stack.aggregate("2026-03-01T11:02:00Z").await;
    proxy.clear();
    assert_eq!(
        (&first["bundles_enqueued"], &first["windows_left_due"]),
        (&2.into(), &1.into()),
        "{first}"
    );
    stack.drain().await;
    // Still due: once its claim is stale a later run sends it again, under the same
    // webhook-id, and finishes it.
    let again = stack.aggregate("2026-03-01T11:20:00Z").await;
    assert_eq!(
        (&again["bundles_enqueued"], &again["windows_left_due"]),
        (&1.into(), &0.into()),
        "{again}"
    );
    stack.drain().await;
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    // The queue's deduplication (5 minutes, here real seconds) drops the repeats; later,
    // the receiver would see the same webhook-ids again.
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), distinct.len()), (2, 2), "{ids:?}");
    assert_eq!(
        stack.aggregate("2026-03-01T11:40:00Z").await["windows_due"],
        0
    );
}

/// Chats `huge` and `c1` in one hour; `damage` rewrites `huge`'s stored message as no
/// ingest would store it. The first run must set `huge`'s window aside, alone and once,
/// and send `c1`'s; the tenant is told once, with the chat and the reason.
async fn set_aside_at_once(damage: impl FnOnce(&mut serde_json::Value)) {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let (_, key) = hourly(&stack, &receiver, &["huge", "c1"]).await;
    rewrite_message(&stack, "MSG#m-huge", damage).await;
    let report = stack.aggregate("2026-03-01T11:05:00Z").await;
    assert_eq!(report["bundles_enqueued"], 1, "{report}");
    assert_eq!(report["windows_set_aside"], 1, "{report}");
    assert_eq!(
        report["windows_failed"], 0,
        "set aside, not also counted as a failed flush: {report}"
    );
    let again = stack.aggregate("2026-03-01T11:20:00Z").await;
    assert_eq!(again["windows_due"], 0, "out of the due index: {again}");
    stack.drain().await;
    let chats: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.json()["chat"]["chat_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(chats, ["c1"]);
    let settings = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await;
    let set_aside: Vec<&serde_json::Value> = settings.body["activity"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "bundle_set_aside")
        .collect();
    assert_eq!(set_aside.len(), 1, "{:?}", settings.body["activity"]);
    let detail = set_aside[0].to_string();
    assert!(
        detail.contains("chat huge") && detail.contains("over the queue's message limit"),
        "{detail}"
    );
}

#[tokio::test]
async fn a_bundle_the_queue_can_never_take_is_set_aside_once_and_the_others_go_out() {
    // A sender's name of 60,000 `&` (ingest stops names at 512 bytes): the message is
    // small enough to be loaded, but the digest line naming its sender, `&amp;` each,
    // puts the bundle's one part past the queue's limit (a long text's digest line is
    // cut; a name is not).
    set_aside_at_once(|e| e["message"]["sender"]["full_name"] = "&".repeat(60_000).into()).await;
}

#[tokio::test]
async fn a_streamed_window_with_a_message_no_part_can_hold_is_set_aside_at_once() {
    // A text of 300,000 characters (ingest stops texts at 64 KiB): past what a flush
    // loads, so the window is streamed, and its message alone is over the queue's limit.
    // Planning again cannot help; before, each run planned it three times and counted a
    // failure, and only the fifth run set it aside.
    set_aside_at_once(|e| e["message"]["text"] = "x".repeat(300_000).into()).await;
}

/// Rewrites the stored message `sk` (`MSG#<id>`) of the test's table with `change`, as no
/// ingest would store it (damage) or as an operator repairs it.
async fn rewrite_message(stack: &TestStack, sk: &str, change: impl FnOnce(&mut serde_json::Value)) {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let item = stack
        .items()
        .await
        .into_iter()
        .find(|i| i["sk"] == A::S(sk.into()))
        .expect("the message item");
    let mut event: serde_json::Value = serde_json::from_str(item["event"].as_s().unwrap()).unwrap();
    change(&mut event);
    stack
        .aws
        .dynamo
        .update_item()
        .table_name(&stack.stack.table)
        .key("pk", item["pk"].clone())
        .key("sk", item["sk"].clone())
        .update_expression("SET #e = :e")
        .expression_attribute_names("#e", "event")
        .expression_attribute_values(":e", A::S(event.to_string()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_streamed_window_stopped_midway_by_an_unsendable_message_keeps_its_queued_part() {
    let (stack, receiver, key) = by_the_hour("owner@midway.test").await;
    // Three messages of 50,000 characters in one chat's hour: past the 128 KiB a run
    // loads, so the window is streamed, one message a part.
    for n in 1..=3 {
        let at = format!("2026-03-01T10:0{n}:00");
        stack.set_time(&format!("{at}Z"));
        let mut event: serde_json::Value = serde_json::from_str(SEED).unwrap();
        event["chat"]["chat_id"] = "huge".into();
        event["message"]["message_id"] = format!("m{n}").into();
        event["message"]["timestamp"] = format!("{at}+0000").into();
        event["message"]["text"] = "x".repeat(50_000).into();
        let r = stack.ingest(&key, event.to_string()).await;
        assert_eq!(r.body["accepted"], 1, "{}", r.body);
    }
    // The middle message damaged past the queue's limit (ingest stops texts at 64 KiB).
    rewrite_message(&stack, "MSG#m2", |e| {
        e["message"]["text"] = "y".repeat(300_000).into()
    })
    .await;
    let report = stack.aggregate("2026-03-01T11:05:00Z").await;
    assert_eq!(
        (&report["parts_enqueued"], &report["windows_set_aside"]),
        (&1.into(), &1.into()),
        "the part before the damaged message is queued, then the window set aside: {report}"
    );
    assert_eq!(report["windows_failed"], 0, "{report}");
    stack.drain().await;
    let parts = |from: usize| -> Vec<(String, u64, u64)> {
        receiver.received()[from..]
            .iter()
            .map(|r| {
                let b = r.json();
                let id = b["messages"][0]["message_id"].as_str().unwrap().to_string();
                (
                    id,
                    b["part"].as_u64().unwrap(),
                    b["parts"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        parts(0),
        [("m1".to_string(), 1, 3)],
        "the queued part stays delivered"
    );
    assert_eq!(
        stack.aggregate("2026-03-01T11:20:00Z").await["windows_due"],
        0,
        "the rest waits out of the due index"
    );

    // An operator repairs the item and the tenant saves the settings: the window goes on
    // from its saved progress, and the part already delivered is not sent again.
    rewrite_message(&stack, "MSG#m2", |e| {
        e["message"]["text"] = "repaired".into()
    })
    .await;
    stack.register_with(&key, &receiver.url(), "1h").await;
    let again = stack.aggregate("2026-03-01T11:35:00Z").await;
    stack.drain().await;
    assert_eq!(
        (&again["parts_enqueued"], &again["windows_set_aside"]),
        (&2.into(), &0.into()),
        "{again} {:?}",
        parts(1)
    );
    assert_eq!(
        parts(1),
        [("m2".to_string(), 2, 3), ("m3".to_string(), 3, 3)],
        "the rest, numbered on from the first part"
    );
    assert_eq!(
        receiver.received()[1].json()["messages"][0]["text"],
        "repaired"
    );
}

/// Three messages in chat `c1`'s window of hour `hour`: texts of 21,000 quotes, about
/// 128 KB stored (under what a run loads), far more as queued (a quote travels as 4
/// bytes, and again in the digest line): a part each (`m1`, `m2`, `third-msg`).
async fn three_parts(stack: &TestStack, key: &str, hour: &str) {
    for (n, id) in ["m1", "m2", "third-msg"].iter().enumerate() {
        let at = format!("2026-03-01T{hour}:0{}:00", n + 1);
        stack.set_time(&format!("{at}Z"));
        let mut event: serde_json::Value = serde_json::from_str(SEED).unwrap();
        event["chat"]["chat_id"] = "c1".into();
        event["message"]["message_id"] = (*id).into();
        event["message"]["timestamp"] = format!("{at}+0000").into();
        event["message"]["text"] = "\"".repeat(21_000).into();
        let r = stack.ingest(key, event.to_string()).await;
        assert_eq!(r.body["accepted"], 1, "{}", r.body);
    }
}

/// A run at 11:05 whose queue takes the 10:00 window's first two parts and fails the
/// third (SQS answers a batch entry by entry): the window fails with two parts queued.
async fn fail_third_part(stack: &TestStack) {
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(Rule::always(
        "SQS.SendMessageBatch",
        Fault::Unprocessed("third-msg".into()),
    ));
    let first = stack.aggregate("2026-03-01T11:05:00Z").await;
    assert_eq!(first["windows_failed"], 1, "{first}");
    proxy.clear();
}

/// A workspace whose webhook takes sent messages and their updates, by the hour.
async fn hourly_with_updates(stack: &TestStack, receiver: &Receiver, name: &str) -> String {
    let (_, key) = stack.workspace(&stack.unique_email(name)).await;
    stack.set_time("2026-03-01T10:00:00Z");
    save_hourly_with_updates(stack, receiver, &key).await;
    key
}

/// Saves `hourly_with_updates`' settings (again).
async fn save_hourly_with_updates(stack: &TestStack, receiver: &Receiver, key: &str) {
    let settings = serde_json::json!({"url": receiver.url(), "enabled": true,
        "aggregation": "1h", "event_types": ["message:sent:new", "message:updated"]});
    let saved = stack.save_settings(key, &settings).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
}

/// Edits chat `c1`'s messages (id, new text) at 11:10, every edit accepted.
async fn edit_at_ten_past_eleven(stack: &TestStack, key: &str, edits: &[(&str, &str)]) {
    stack.set_time("2026-03-01T11:10:00Z");
    let events: Vec<serde_json::Value> = edits
        .iter()
        .map(|(id, text)| {
            serde_json::json!({"event_type": "message:updated", "chat": {"chat_id": "c1"},
                               "message": {"message_id": id, "text": text}})
        })
        .collect();
    let body = serde_json::json!({ "events": events }).to_string();
    let r = stack.ingest(key, body).await;
    assert_eq!(r.body["accepted"], edits.len(), "{}", r.body);
}

/// What a receiver got, in order: each delivery's type, and a bundle's first message id
/// or an update's message id and text.
fn kinds(receiver: &Receiver) -> Vec<(String, String)> {
    receiver
        .received()
        .iter()
        .map(|r| {
            let b = r.json();
            let id = match b["messages"].as_array() {
                Some(list) => list[0]["message_id"].as_str().unwrap().to_string(),
                None => format!("{} {}", b["message"]["message_id"], b["message"]["text"]),
            };
            (r.header("webhook-event-type").to_string(), id)
        })
        .collect()
}

#[tokio::test]
async fn a_chats_window_to_stream_waits_behind_its_earlier_window_that_failed() {
    let (stack, receiver, key) = by_the_hour("owner@behind.test").await;
    stack.set_time("2026-03-01T10:05:00Z");
    let mut first: serde_json::Value = serde_json::from_str(SEED).unwrap();
    first["chat"]["chat_id"] = "c1".into();
    first["message"]["message_id"] = "w0-msg".into();
    let r = stack.ingest(&key, first.to_string()).await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);
    // The next hour's window of the same chat takes three parts, so it is streamed.
    three_parts(&stack, &key, "11").await;
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(Rule::always("SQS.SendMessageBatch", Fault::Refuse).when_body_contains("w0-msg"));
    let run = stack.aggregate("2026-03-01T12:05:00Z").await;
    assert_eq!(run["windows_failed"], 1, "{run}");
    // Before: the later window was kept for the end of the run in the same batch as the
    // earlier one, and streamed after that one failed: out of order.
    assert_eq!(run["parts_enqueued"], 0, "{run}");
    proxy.clear();
    // Both claims go stale after 15 minutes; the next run sends them in order.
    let again = stack.aggregate("2026-03-01T12:21:00Z").await;
    assert_eq!(again["windows_failed"], 0, "{again}");
    stack.drain().await;
    let got: Vec<String> = receiver
        .received()
        .iter()
        .flat_map(|r| {
            let b = r.json();
            let ids: Vec<String> = b["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["message_id"].as_str().unwrap().to_string())
                .collect();
            ids
        })
        .collect();
    assert_eq!(got, ["w0-msg", "m1", "m2", "third-msg"]);
}

#[tokio::test]
async fn an_edit_of_a_message_in_a_part_already_queued_goes_out_as_an_update() {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let key = hourly_with_updates(&stack, &receiver, "queued-edit").await;
    three_parts(&stack, &key, "10").await;
    fail_third_part(&stack).await;
    // A save takes the failed run's claim away: the part marks decide.
    stack.set_time("2026-03-01T11:08:00Z");
    save_hourly_with_updates(&stack, &receiver, &key).await;
    // m1 went out in part 1; third-msg has not gone out yet (its part was tried).
    edit_at_ten_past_eleven(
        &stack,
        &key,
        &[("m1", "m1 edited"), ("third-msg", "third edited")],
    )
    .await;
    let again = stack.aggregate("2026-03-01T11:21:00Z").await;
    assert_eq!(again["windows_failed"], 0, "{again}");
    stack.drain().await;
    let got: Vec<(String, Vec<(String, String)>)> = receiver
        .received()
        .iter()
        .map(|r| {
            let b = r.json();
            let texts = match b["messages"].as_array() {
                Some(list) => list
                    .iter()
                    .map(|m| {
                        (
                            m["message_id"].as_str().unwrap().to_string(),
                            m["text"].as_str().unwrap().chars().take(12).collect(),
                        )
                    })
                    .collect(),
                None => vec![(
                    b["message"]["message_id"].as_str().unwrap().to_string(),
                    b["message"]["text"].as_str().unwrap().to_string(),
                )],
            };
            (r.header("webhook-event-type").to_string(), texts)
        })
        .collect();
    let quotes = "\"".repeat(12);
    let bundle = "message:bundle".to_string();
    assert_eq!(
        got,
        [
            (bundle.clone(), vec![("m1".to_string(), quotes.clone())]),
            (bundle.clone(), vec![("m2".to_string(), quotes)]),
            // Before: nothing; the window still waited, so the edit was taken to be in
            // its bundle, and part 1 had gone out before it.
            (
                "message:updated".to_string(),
                vec![("m1".to_string(), "m1 edited".to_string())]
            ),
            // Part 3 was marked as being queued when the queue failed it: its edit is
            // told too, and the part carries the new text (the same text twice, never
            // none).
            (
                "message:updated".to_string(),
                vec![("third-msg".to_string(), "third edited".to_string())]
            ),
            (
                bundle,
                vec![("third-msg".to_string(), "third edited".to_string())]
            ),
        ]
    );
}

#[tokio::test]
async fn another_endpoints_edit_of_a_message_in_a_queued_part_goes_out_as_an_update() {
    let stack = stack().await;
    let (a, b) = (Receiver::start().await, Receiver::start().await);
    let (_, key) = stack.workspace(&stack.unique_email("endpoint-edit")).await;
    stack.set_time("2026-03-01T10:00:00Z");
    stack.register(&key, &a.url()).await;
    // Another endpoint, by the hour: its windows read the `arrival` index.
    let body = serde_json::json!({"url": b.url(), "aggregation": "1h",
        "event_types": ["message:sent:new", "message:updated"]});
    let created = stack
        .call(
            Method::POST,
            "/v1/endpoints",
            Some(&key),
            Some(body.to_string().into_bytes()),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    three_parts(&stack, &key, "10").await;
    fail_third_part(&stack).await;
    edit_at_ten_past_eleven(&stack, &key, &[("m1", "m1 edited")]).await;
    let again = stack.aggregate("2026-03-01T11:21:00Z").await;
    assert_eq!(again["windows_failed"], 0, "{again}");
    stack.drain().await;
    let got = kinds(&b);
    let bundle = |id: &str| ("message:bundle".to_string(), id.to_string());
    let update = |id: &str, text: &str| {
        (
            "message:updated".to_string(),
            format!("\"{id}\" \"{text}\""),
        )
    };
    assert_eq!(
        got,
        [
            bundle("m1"),
            bundle("m2"),
            // Before: nothing; m1 was taken to wait in the endpoint's window.
            update("m1", "m1 edited"),
            bundle("third-msg"),
        ]
    );
    // The default endpoint (the message types) had each message at once.
    let ids: Vec<String> = a.received().iter().map(|r| r.message_id()).collect();
    assert_eq!(ids, ["m1", "m2", "third-msg"]);
}

#[tokio::test]
async fn an_edit_while_a_parts_record_failed_goes_out_as_an_update() {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let key = hourly_with_updates(&stack, &receiver, "unrecorded-edit").await;
    three_parts(&stack, &key, "10").await;
    // Part 1 is queued; DynamoDB refuses the record of it: the window fails.
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(
        Rule::always("DynamoDB.UpdateItem", Fault::ServerError(500))
            .when_body_contains("sent_through = "),
    );
    let first = stack.aggregate("2026-03-01T11:05:00Z").await;
    assert_eq!(first["windows_failed"], 1, "{first}");
    proxy.clear();
    // A save puts the window back due and takes its claim away (the failed run's claim
    // alone would have every edit told): only the mark of part 1 says what went out.
    stack.set_time("2026-03-01T11:08:00Z");
    save_hourly_with_updates(&stack, &receiver, &key).await;
    edit_at_ten_past_eleven(&stack, &key, &[("m1", "m1 edited"), ("m2", "m2 edited")]).await;
    stack.drain().await;
    // The next run queues part 1 again under its webhook-id: a receiver drops it (here
    // the queue does, within its 5 minutes), so only the update carries m1's new text.
    let again = stack.aggregate("2026-03-01T11:21:00Z").await;
    assert_eq!(again["windows_failed"], 0, "{again}");
    stack.drain().await;
    let got = kinds(&receiver);
    let bundle = |id: &str| ("message:bundle".to_string(), id.to_string());
    assert_eq!(
        got,
        [
            bundle("m1"),
            // Before: nothing; the window had no record of part 1, so m1 was taken to
            // wait in it.
            (
                "message:updated".to_string(),
                "\"m1\" \"m1 edited\"".to_string()
            ),
            // m2's part was never marked: its edit waits for it, untold.
            bundle("m2"),
            bundle("third-msg"),
        ]
    );
    let m2 = receiver.received()[2].json();
    assert_eq!(m2["messages"][0]["text"], "m2 edited", "{m2}");
}

/// A webhook taking updates by the hour, with message m1 (the seed's short text) in chat
/// `c1`'s 10:00 window.
async fn one_message_by_the_hour(name: &str) -> (TestStack, Receiver, String) {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let key = hourly_with_updates(&stack, &receiver, name).await;
    stack.set_time("2026-03-01T10:01:00Z");
    let r = stack.ingest(&key, seed_in("c1", "m1")).await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);
    (stack, receiver, key)
}

/// A run at 11:05 queues the 10:00 window's bundle whole, and DynamoDB refuses the write
/// that takes the window out: the window stays, with the run's claim. Then delivers it.
async fn sent_whole_with_its_finish_refused(stack: &TestStack) {
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(
        Rule::always("DynamoDB.BatchWriteItem", Fault::ServerError(500))
            .when_body_contains("DeleteRequest"),
    );
    let first = stack.aggregate("2026-03-01T11:05:00Z").await;
    proxy.clear();
    assert_eq!(
        (&first["bundles_enqueued"], &first["windows_left_due"]),
        (&1.into(), &1.into()),
        "{first}"
    );
    stack.drain().await;
}

#[tokio::test]
async fn an_edit_after_its_windows_finish_failed_goes_out_as_an_update() {
    let (stack, receiver, key) = one_message_by_the_hour("unfinished-edit").await;
    sent_whole_with_its_finish_refused(&stack).await;
    // A save puts the window back due and takes the run's claim away.
    stack.set_time("2026-03-01T11:08:00Z");
    save_hourly_with_updates(&stack, &receiver, &key).await;
    edit_at_ten_past_eleven(&stack, &key, &[("m1", "m1 edited")]).await;
    stack.drain().await;
    // A later run queues the bundle again under its webhook-id: a receiver drops it
    // (here the queue does, within its 5 minutes).
    let again = stack.aggregate("2026-03-01T11:21:00Z").await;
    assert_eq!(again["windows_left_due"], 0, "{again}");
    stack.drain().await;
    assert_eq!(
        kinds(&receiver),
        [
            ("message:bundle".to_string(), "m1".to_string()),
            // Before: nothing; the window was still there, so m1 was taken to wait in it
            // (with the run's claim as the only sign of a bundle sent, until the save).
            (
                "message:updated".to_string(),
                "\"m1\" \"m1 edited\"".to_string()
            ),
        ]
    );
}

#[tokio::test]
async fn an_edit_after_a_whole_bundle_whose_window_a_later_run_cut_goes_out_as_an_update() {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let key = hourly_with_updates(&stack, &receiver, "cut-later").await;
    // A short message and two long ones: one bundle, sent whole.
    for (n, (id, long)) in [("m1", 1_000), ("m2", 55_000), ("m3", 55_000)]
        .iter()
        .enumerate()
    {
        let at = format!("2026-03-01T10:0{}:00", n + 1);
        stack.set_time(&format!("{at}Z"));
        let mut event: serde_json::Value = serde_json::from_str(SEED).unwrap();
        event["chat"]["chat_id"] = "c1".into();
        event["message"]["message_id"] = (*id).into();
        event["message"]["timestamp"] = format!("{at}+0000").into();
        event["message"]["text"] = "a".repeat(*long).into();
        let r = stack.ingest(&key, event.to_string()).await;
        assert_eq!(r.body["accepted"], 1, "{}", r.body);
    }
    sent_whole_with_its_finish_refused(&stack).await;
    let proxy = stack.faults.as_ref().unwrap();
    // m1 edited long: the window must now be cut into parts. The next run saves its plan,
    // then DynamoDB refuses part 1's mark, and a save takes the failed run's claim away:
    // a plan, no mark.
    edit_at_ten_past_eleven(&stack, &key, &[("m1", &"b".repeat(60_000))]).await;
    proxy.inject(
        Rule::always("DynamoDB.UpdateItem", Fault::ServerError(500))
            .when_body_contains("SET sending_through"),
    );
    let second = stack.aggregate("2026-03-01T11:21:00Z").await;
    proxy.clear();
    assert_eq!(second["windows_failed"], 1, "{second}");
    stack.set_time("2026-03-01T11:22:00Z");
    save_hourly_with_updates(&stack, &receiver, &key).await;
    let again = "c".repeat(60_000);
    stack.set_time("2026-03-01T11:23:00Z");
    let body = serde_json::json!({"events": [{"event_type": "message:updated",
        "chat": {"chat_id": "c1"}, "message": {"message_id": "m1", "text": again}}]});
    let r = stack.ingest(&key, body.to_string()).await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);
    stack.drain().await;
    // Part 1 goes under the webhook-id the whole bundle had: a receiver drops it (here
    // the queue does, within its 5 minutes).
    let third = stack.aggregate("2026-03-01T11:25:00Z").await;
    assert_eq!(third["windows_failed"], 0, "{third}");
    stack.drain().await;
    let got: Vec<(String, String, usize)> = receiver
        .received()
        .iter()
        .map(|r| {
            let b = r.json();
            let m = b["messages"].get(0).unwrap_or(&b["message"]);
            let text = m["text"].as_str().unwrap();
            let id = m["message_id"].as_str().unwrap().to_string();
            let last = text.chars().last().map(String::from).unwrap_or_default();
            (
                r.header("webhook-event-type").to_string(),
                id + " " + &last,
                text.len(),
            )
        })
        .collect();
    let bundle = "message:bundle".to_string();
    let update = "message:updated".to_string();
    assert_eq!(
        got,
        [
            (bundle.clone(), "m1 a".to_string(), 1_000),
            (update.clone(), "m1 b".to_string(), 60_000),
            // Before: nothing; the later run's plan was taken for a window cut from the
            // start, and no mark covered m1.
            (update, "m1 c".to_string(), 60_000),
            (bundle, "m3 a".to_string(), 55_000),
        ]
    );
}

/// A run at 11:05 held at its first SendMessageBatch (what it read is read) while chat
/// `c1`'s `edits` are made; its report once it is let go on.
async fn run_held_at_its_first_send_while(
    stack: &TestStack,
    key: &str,
    edits: &[(&str, &str)],
) -> serde_json::Value {
    let proxy = stack.faults.as_ref().unwrap();
    let run = stack.aggregate("2026-03-01T11:05:00Z");
    let edits = edit_at_ten_past_eleven(stack, key, edits);
    let held = ("SQS.SendMessageBatch", "");
    let (report, ()) = proxy.while_held(held, run, edits).await;
    report
}

#[tokio::test]
async fn an_edit_while_a_part_before_its_own_is_being_queued_goes_out_as_an_update() {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let key = hourly_with_updates(&stack, &receiver, "racing-part").await;
    three_parts(&stack, &key, "10").await;
    // The run has read the window's page and is queueing part 1 when m2 (part 2) is
    // edited: no mark covers m2 yet, only the run's claim says it may have been read.
    let report = run_held_at_its_first_send_while(&stack, &key, &[("m2", "m2 edited")]).await;
    assert_eq!(report["windows_failed"], 0, "{report}");
    stack.drain().await;
    let bundle = |id: &str| ("message:bundle".to_string(), id.to_string());
    assert_eq!(
        kinds(&receiver),
        [
            // Before: nothing; m2 was taken to wait for part 2, read before the edit.
            (
                "message:updated".to_string(),
                "\"m2\" \"m2 edited\"".to_string()
            ),
            bundle("m1"),
            bundle("m2"),
            bundle("third-msg"),
        ]
    );
    let part_2 = receiver.received()[2].json();
    assert_ne!(
        part_2["messages"][0]["text"], "m2 edited",
        "read before the edit"
    );
}

#[tokio::test]
async fn an_edit_while_its_window_is_being_queued_goes_out_as_an_update() {
    let (stack, receiver, key) = one_message_by_the_hour("racing-edit").await;
    // The run has read m1 and is queueing its bundle when the edit comes.
    let report = run_held_at_its_first_send_while(&stack, &key, &[("m1", "m1 edited")]).await;
    assert_eq!(report["bundles_enqueued"], 1, "{report}");
    stack.drain().await;
    let got = receiver.received();
    let texts: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            let b = r.json();
            let m = b["messages"].get(0).unwrap_or(&b["message"]);
            let text = m["text"].as_str().unwrap().to_string();
            (r.header("webhook-event-type").to_string(), text)
        })
        .collect();
    let seeded: serde_json::Value = serde_json::from_str(SEED).unwrap();
    let old = seeded["message"]["text"].as_str().unwrap().to_string();
    // Before: only the bundle, with the text it read before the edit; the edit was taken
    // to wait in it. The update is queued while the bundle is, so it comes first.
    assert_eq!(
        texts,
        [
            ("message:updated".to_string(), "m1 edited".to_string()),
            ("message:bundle".to_string(), old),
        ]
    );
}

#[tokio::test]
async fn a_bundle_cut_again_after_some_parts_were_queued_loses_no_message() {
    let (stack, receiver, key) = by_the_hour("owner@recut.test").await;
    three_parts(&stack, &key, "10").await;
    let stored: usize = stack
        .items()
        .await
        .iter()
        .filter(|i| i["sk"].as_s().is_ok_and(|sk| sk.starts_with("MSG#")))
        .map(|i| i["event"].as_s().unwrap().len())
        .sum();
    assert!(
        stored < outflow::store::LOADED_WINDOW_BYTES,
        "a window a run loads whole: {stored} bytes"
    );
    fail_third_part(&stack).await;
    stack.drain().await;
    let delivered = |r: &outflow_e2e::Received| -> Vec<String> {
        let b = r.json();
        b["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["message_id"].as_str().unwrap().to_string())
            .collect()
    };
    let got = receiver.received();
    let first_parts: Vec<Vec<String>> = got.iter().map(delivered).collect();
    assert_eq!(first_parts, [["m1"], ["m2"]], "the parts the queue took");

    // m1 edited short before the window is tried again: m1 and m2 now fit one part.
    edit_at_ten_past_eleven(&stack, &key, &[("m1", "short")]).await;
    // The failed window's claim is stale after 15 minutes.
    let again = stack.aggregate("2026-03-01T11:21:00Z").await;
    assert_eq!(again["windows_failed"], 0, "{again}");
    stack.drain().await;
    let got = receiver.received();
    // Before: cut again as [m1, m2], [third-msg] under the webhook-ids of parts 1 and 2
    // already delivered; the queue dropped both as repeats (so would a receiver
    // deduplicating by webhook-id, later), and third-msg was lost.
    let all: Vec<String> = got.iter().flat_map(delivered).collect();
    assert_eq!(all, ["m1", "m2", "third-msg"], "every message once");
    let ids: std::collections::BTreeSet<&str> =
        got.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), got.len(), "no webhook-id twice");
    assert_eq!(
        stack.aggregate("2026-03-01T11:40:00Z").await["windows_due"],
        0
    );
}

#[tokio::test]
async fn a_due_index_the_table_will_not_read_counts_as_windows_left_due() {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    hourly(&stack, &receiver, &["c1"]).await;
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(Rule::always("DynamoDB.Query", Fault::Refuse).when_body_contains("DUE#"));
    let report = stack.aggregate("2026-03-01T11:05:00Z").await;
    // Nothing found, nothing sent: without the count, a table refusing every read would
    // leave the left-due metric (and its alarm) at nothing.
    assert_eq!(report["windows_due"], 0, "{report}");
    // One for each of the due index's eight shards (their windows unknown).
    assert_eq!(report["windows_left_due"], 8, "{report}");
    assert_eq!(report["complete"], false, "{report}");
    proxy.clear();
    let again = stack.aggregate("2026-03-01T11:06:00Z").await;
    assert_eq!(again["bundles_enqueued"], 1, "{again}");
    assert_eq!(again["windows_left_due"], 0, "{again}");
}

#[tokio::test]
async fn a_message_written_into_its_window_as_the_tenant_switches_to_immediate_is_delivered() {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let key = hourly_with_updates(&stack, &receiver, "switch-race").await;
    stack.set_time("2026-03-01T10:05:00Z");
    let r = stack.ingest(&key, seed_in("c1", "first-of-ten")).await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);

    // A request admitted under 1h finds the 10:00 window open; its message write is held
    // while the tenant switches to immediate delivery and an aggregator run comes.
    let proxy = stack.faults.as_ref().unwrap();
    stack.set_time("2026-03-01T10:06:00Z");
    let request = stack.ingest(&key, seed_in("c1", "late-in-the-switch"));
    let meanwhile = async {
        let settings = serde_json::json!({"url": receiver.url(), "aggregation": "none",
            "event_types": ["message:sent:new", "message:updated"]});
        let saved = stack.save_settings(&key, &settings).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        // Before: due at once, this run sent the window without the held message, which
        // then joined a window no run would meet again.
        let run = stack.aggregate("2026-03-01T10:06:30Z").await;
        assert_eq!(
            run["windows_due"], 0,
            "within the grace of the switch: {run}"
        );
    };
    let held = ("DynamoDB.BatchWriteItem", "late-in-the-switch");
    let (r, ()) = proxy.while_held(held, request, meanwhile).await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);

    let run = stack.aggregate("2026-03-01T10:07:30Z").await;
    assert_eq!(run["bundles_enqueued"], 1, "{run}");
    let sent = bundles_sent(&stack, &receiver).await;
    let ids: Vec<Vec<String>> = sent.into_iter().map(|(ids, _)| ids).collect();
    assert_eq!(
        ids,
        [vec![
            "first-of-ten".to_string(),
            "late-in-the-switch".to_string()
        ]]
    );
}

#[tokio::test]
async fn saves_after_a_switch_to_immediate_do_not_push_its_windows_back() {
    let stack = stack().await;
    let receiver = Receiver::start().await;
    let key = hourly_with_updates(&stack, &receiver, "switch-saves").await;
    stack.set_time("2026-03-01T10:05:00Z");
    let r = stack.ingest(&key, seed_in("c1", "before-the-switch")).await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);
    let immediate = serde_json::json!({"url": receiver.url(), "aggregation": "none",
        "event_types": ["message:sent:new", "message:updated"]});
    for at in ["2026-03-01T10:06:00Z", "2026-03-01T10:06:50Z"] {
        stack.set_time(at);
        let saved = stack.save_settings(&key, &immediate).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    }
    // Due at the switch (10:06), a minute's grace: this run sends it. Before, the second
    // save made it due at 10:06:50, and saves a minute apart put it off to its end.
    let run = stack.aggregate("2026-03-01T10:07:10Z").await;
    assert_eq!(run["bundles_enqueued"], 1, "{run}");
    let sent = bundles_sent(&stack, &receiver).await;
    assert_eq!(sent.len(), 1);
}

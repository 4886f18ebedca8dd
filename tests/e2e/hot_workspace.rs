//! One busy workspace is not one hot partition: its per-message items (messages, chat
//! states, attempt counters, request-log and activity entries) are spread over 32
//! partition keys, while what must be read in order (settings, held deliveries, windows)
//! stays on its home partition — and the log and activity still read newest first.

use axum::http::{Method, StatusCode};
use outflow_e2e::{Receiver, TestStack};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const SEED: &str = include_str!("../../../shared/fixtures/timelines_message_example.json");

/// `n` events of `prefix`, one per chat.
fn events(prefix: &str, n: usize) -> String {
    events_with_text(prefix, n, None)
}

/// `n` events of `prefix`, one per chat, with `text` when given.
fn events_with_text(prefix: &str, n: usize, text: Option<&str>) -> String {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let mut event: Value = serde_json::from_str(SEED).unwrap();
            event["message"]["message_id"] = format!("{prefix}-{i}").into();
            event["chat"]["chat_id"] = format!("chat-{i}").into();
            if let Some(text) = text {
                event["message"]["text"] = text.into();
            }
            event
        })
        .collect();
    json!({ "events": events }).to_string()
}

#[tokio::test]
async fn a_busy_workspace_writes_to_thirty_two_partitions_and_reads_newest_first() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (ws, key) = stack.workspace(&stack.unique_email("hot")).await;
    stack.register(&key, &receiver.url()).await;
    let start = stack.app.clock.now().utc();
    for round in 0..5 {
        stack.set_time(&(start + chrono::Duration::seconds(round)).to_rfc3339());
        let body = events(&format!("hot-{round}"), 100);
        assert_eq!(stack.ingest(&key, body).await.status, StatusCode::ACCEPTED);
    }
    stack.drain().await;
    // Then the receiver fails: attempt counters and activity entries, and, once it is
    // disabled, held deliveries.
    receiver.respond_with(500);
    stack.set_time(&(start + chrono::Duration::seconds(5)).to_rfc3339());
    let body = events("failing", 20);
    assert_eq!(stack.ingest(&key, body).await.status, StatusCode::ACCEPTED);
    stack.drain().await;
    let mut held: Value = serde_json::from_str(SEED).unwrap();
    held["message"]["message_id"] = "while-disabled".into();
    assert_eq!(
        stack.ingest(&key, held.to_string()).await.status,
        StatusCode::ACCEPTED
    );

    let mut partitions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for item in stack.items().await {
        let text = |name: &str| item[name].as_s().unwrap().clone();
        let (pk, sk) = (text("pk"), text("sk"));
        if !pk.starts_with(&format!("WS#{ws}")) {
            continue;
        }
        let kind = sk.split('#').next().unwrap().to_string();
        partitions.entry(kind).or_default().insert(pk);
    }
    let home = format!("WS#{ws}");
    let n = partitions.get("MSG").map_or(0, BTreeSet::len);
    assert_eq!(n, 32, "MSG items on {n} partitions: {partitions:?}");
    // Log and activity items hold a sender batch each, spread by the item's own id.
    for kind in ["TRY", "ACT", "LOG"] {
        let pks = &partitions[kind];
        assert!(pks.len() > 1 && !pks.contains(&home), "{kind}: {pks:?}");
    }
    for kind in ["META", "HELD"] {
        let at_home: BTreeSet<String> = [home.clone()].into();
        assert_eq!(partitions.get(kind), Some(&at_home), "{kind} stays home");
    }

    // Read back across the partitions: the 100 most recent requests, newest first, and
    // the 10 most recent actions.
    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    let requests = log.body["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 100);
    let times: Vec<&str> = requests
        .iter()
        .map(|r| r["time"].as_str().unwrap())
        .collect();
    let mut newest_first = times.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, newest_first);
    let resend = format!(
        "/v1/webhooks/outbound/log/{}/resend",
        requests[42]["request_id"].as_str().unwrap()
    );
    let found = stack.call(Method::POST, &resend, Some(&key), None).await;
    assert_ne!(
        found.status,
        StatusCode::NOT_FOUND,
        "a request is found by its id"
    );
    let shown = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await;
    assert_eq!(shown.body["activity"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn the_log_download_of_large_requests_is_the_newest_that_fit_one_answer() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace(&stack.unique_email("big-log")).await;
    stack.register(&key, &receiver.url()).await;
    let start = stack.app.clock.now().utc();
    // 105 messages of 65,000 characters (within the 64 KiB text limit): 7 MB of log
    // entries, more than one Lambda answer (6 MB) can carry.
    for round in 0..7 {
        stack.set_time(&(start + chrono::Duration::seconds(round)).to_rfc3339());
        let text = "x".repeat(65_000);
        let body = events_with_text(&format!("big-{round}"), 15, Some(&text));
        assert_eq!(stack.ingest(&key, body).await.status, StatusCode::ACCEPTED);
    }
    stack.drain().await;
    assert_eq!(receiver.received().len(), 105);
    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    assert_eq!(log.status, StatusCode::OK);
    let size = log.body.to_string().len();
    assert!(
        size < 6 * 1024 * 1024,
        "{size} bytes: over Lambda's answer limit"
    );
    let requests = log.body["requests"].as_array().unwrap();
    assert!(requests.len() >= 50, "{} entries", requests.len());
    let times: Vec<&str> = requests
        .iter()
        .map(|r| r["time"].as_str().unwrap())
        .collect();
    let mut newest_first = times.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, newest_first);
    // The newest round is all there: nothing newer was left out for an older one.
    let last_round = requests
        .iter()
        .filter(|r| r["request_body"].as_str().unwrap().contains("\"big-6-"))
        .count();
    assert_eq!(last_round, 15);
}

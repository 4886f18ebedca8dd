//! Per-chat ordering: a chat's deliveries reach the receiver in message order, also when
//! one of them fails and is retried; other chats are not held up.

use outflow_e2e::{Options, Receiver, TestStack};
use serde_json::{json, Value};
use std::collections::BTreeMap;
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

/// Message ids the receiver answered with 2xx, per chat, in the order it answered them.
fn delivered(receiver: &Receiver) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (r, status) in receiver.answered() {
        if (200..300).contains(&status) {
            let body = r.json();
            out.entry(body["chat"]["chat_id"].as_str().unwrap().to_string())
                .or_default()
                .push(body["message"]["message_id"].as_str().unwrap().to_string());
        }
    }
    out
}

#[tokio::test]
async fn each_chats_messages_arrive_in_order_despite_uneven_receiver_latency() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    // Uneven answers reorder anything sent concurrently.
    receiver.script(|_, _| (200, Duration::from_millis(rand::random::<u64>() % 25)));
    let (_, key) = stack.workspace("owner@order.test").await;
    stack.register(&key, &receiver.url()).await;
    let chats = ["chat-a", "chat-b", "chat-c"];
    for request in 0..3 {
        let events: Vec<Value> = (0..6)
            .flat_map(|i| {
                let n = request * 6 + i;
                chats.map(|c| message(c, &format!("{c}-{n:02}")))
            })
            .collect();
        let r = stack
            .ingest(&key, json!({ "events": events }).to_string())
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
    }
    stack.drain().await;
    let got = delivered(&receiver);
    for c in chats {
        let expected: Vec<String> = (0..18).map(|n| format!("{c}-{n:02}")).collect();
        assert_eq!(got[c], expected, "deliveries of {c} out of order");
    }
}

#[tokio::test]
async fn a_failed_delivery_holds_back_its_chat_only_and_order_survives_the_retry() {
    let stack = TestStack::with(Options {
        retry_delay_secs: 1,
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    // The first attempt of a-1 fails; everything else succeeds.
    let failed_once = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = failed_once.clone();
    receiver.script(move |r, _| {
        let id = r.json()["message"]["message_id"]
            .as_str()
            .unwrap()
            .to_string();
        if id == "a-1" && !flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
            (500, Duration::ZERO)
        } else {
            (200, Duration::ZERO)
        }
    });
    let (_, key) = stack.workspace("owner@order-retry.test").await;
    stack.register(&key, &receiver.url()).await;
    let events: Vec<Value> = (0..5)
        .flat_map(|i| {
            [
                message("a", &format!("a-{i}")),
                message("b", &format!("b-{i}")),
            ]
        })
        .collect();
    stack
        .ingest(&key, json!({ "events": events }).to_string())
        .await;

    stack.drain().await;
    let first = delivered(&receiver);
    // Chat b is not held up; chat a stops at its failure: a-2.. are not even tried.
    assert_eq!(first["b"], ["b-0", "b-1", "b-2", "b-3", "b-4"]);
    assert_eq!(first["a"], ["a-0"]);
    let tried: Vec<Value> = receiver
        .received()
        .iter()
        .map(|r| r.json()["message"]["message_id"].clone())
        .collect();
    assert!(
        !tried.contains(&"a-2".into()),
        "a-2 was tried before a-1 got through: {tried:?}"
    );

    tokio::time::sleep(Duration::from_millis(1_500)).await;
    stack.drain().await;
    let after = delivered(&receiver);
    assert_eq!(after["a"], ["a-0", "a-1", "a-2", "a-3", "a-4"]);
    assert_eq!(after["b"].len(), 5, "chat b delivered once each");
}

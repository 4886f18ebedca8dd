//! A window too big for the aggregator's memory as it was: one chat's day of messages at
//! the text limit. The real aggregator binary flushes it under the local runtime API
//! emulator at 128 MB (the emulator kills it past that, as Lambda does):
//! the small windows of the same run go out first, an invocation stopped by its deadline
//! midway lets the window go for the next, and the receiver gets every message once, in
//! order, in numbered parts. A second test makes a streamed window fail midway and change
//! before the next run, which goes on from its saved progress.

use outflow_e2e::{Fault, Receiver, Rule, TestStack};
use outflow_local::runtime_api::{sibling_binary, start_function, FunctionProcess, RuntimeApi};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Messages in the big window, and the characters of each text (near the 64 KiB limit):
/// about 48 MB stored, three eighths of the function's memory; ingested 16 to a request
/// (the 1 MiB body limit).
const MESSAGES: usize = 800;
const TEXT_CHARS: usize = 60_000;
const PER_REQUEST: usize = 16;
/// Small chats flushed in the same runs, some in the big window's bucket.
const SMALL_CHATS: usize = 12;
/// The function's memory size: Lambda's smallest (the template gives 256 MB; a window
/// flushed in bounded memory fits either, and the smaller one keeps the test short).
const MEMORY_MB: u64 = 128;

fn message(chat: &str, n: usize, text: String) -> Value {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../../shared/fixtures/timelines_message_example.json"
    ))
    .unwrap();
    v["chat"]["chat_id"] = chat.into();
    v["chat"]["is_group"] = true.into();
    v["message"]["message_id"] = format!("{chat}-{n:05}").into();
    // One message a second from 01:00, all inside one UTC day.
    let at = chrono::DateTime::parse_from_rfc3339("2026-03-01T01:00:00Z").unwrap()
        + chrono::Duration::seconds(n as i64);
    v["message"]["timestamp"] = at.format("%Y-%m-%dT%H:%M:%S%z").to_string().into();
    v["message"]["text"] = text.into();
    v
}

async fn ingest(stack: &TestStack, key: &str, events: Vec<Value>) {
    let r = stack
        .ingest(key, json!({ "events": events }).to_string())
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
}

/// One aggregator invocation as of the day's end plus grace, with `timeout`.
async fn aggregate(process: &mut FunctionProcess, api: &RuntimeApi, timeout: Duration) -> Value {
    let started = Instant::now();
    let report = process
        .invoke_or_kill(api, &json!({ "time": "2026-03-02T00:05:00Z" }), timeout)
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {:?}", process.lines()))
        .expect("answered before its deadline");
    println!(
        "run of {timeout:?}: {:?}, peak RSS {:?} KiB: {report}",
        started.elapsed(),
        process.peak_rss_kib()
    );
    report
}

#[tokio::test]
async fn a_window_far_bigger_than_the_aggregators_memory_flushes_in_parts() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace(&stack.unique_email("big-window")).await;
    stack.set_time("2026-03-01T00:30:00Z");
    stack.register_with(&key, &receiver.url(), "24h").await;
    stack.set_time("2026-03-01T23:00:00Z");
    let started = Instant::now();
    for batch in (0..MESSAGES).collect::<Vec<_>>().chunks(PER_REQUEST) {
        let text = |n: usize| format!("{n:05} {}", "x".repeat(TEXT_CHARS));
        let events = batch.iter().map(|&n| message("busy", n, text(n))).collect();
        ingest(&stack, &key, events).await;
    }
    let small = (0..SMALL_CHATS)
        .flat_map(|c| (0..2).map(move |n| message(&format!("small{c:02}"), n, "hi".into())))
        .collect();
    ingest(&stack, &key, small).await;
    println!("ingested {MESSAGES} messages in {:?}", started.elapsed());

    let (api, mut aggregator) = start_function(
        &sibling_binary("outflow-aggregator"),
        "big-window-aggregator",
        &stack.function_env("big-window"),
        MEMORY_MB,
    )
    .await
    .unwrap();
    // A first invocation of 25 s (5 s of work before the aggregator's 20 s margin) sends
    // the small windows and stops in the big one; the next, of the template's 300 s,
    // goes on and ends complete.
    let runs = [
        aggregate(&mut aggregator, &api, Duration::from_secs(25)).await,
        aggregate(&mut aggregator, &api, Duration::from_secs(300)).await,
    ];
    aggregator.stop().await;
    assert_eq!(
        runs[0]["complete"], false,
        "stopped by its deadline: {}",
        runs[0]
    );
    assert_eq!(
        runs[0]["bundles_enqueued"], SMALL_CHATS,
        "the small windows do not wait behind the big one: {}",
        runs[0]
    );
    assert_eq!(runs[1]["complete"], true, "{}", runs[1]);
    assert_eq!(
        runs[1]["windows_skipped"], 0,
        "what a run stops is let go at once: {}",
        runs[1]
    );
    let total = |field: &str| -> u64 { runs.iter().map(|r| r[field].as_u64().unwrap()).sum() };
    assert_eq!(total("bundles_enqueued"), 1 + SMALL_CHATS as u64);
    assert_eq!(
        total("messages_bundled"),
        (MESSAGES + 2 * SMALL_CHATS) as u64
    );

    let started = Instant::now();
    stack.drain().await;
    println!("delivered in {:?}", started.elapsed());
    let mut by_chat: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in receiver.received() {
        let body = r.json();
        let chat = body["chat"]["chat_id"].as_str().unwrap().to_string();
        assert!(
            r.body.len() <= 256 * 1024,
            "a part of {} bytes",
            r.body.len()
        );
        by_chat.entry(chat).or_default().push(body);
    }
    let busy = by_chat.remove("busy").unwrap();
    let parts = busy.len();
    assert_eq!(
        total("parts_enqueued") as usize,
        parts + SMALL_CHATS,
        "no part queued twice"
    );
    let mut ids = Vec::new();
    for (i, body) in busy.iter().enumerate() {
        assert_eq!(body["part"], i + 1);
        assert_eq!(body["parts"], parts);
        ids.extend(
            body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["message_id"].clone()),
        );
    }
    let expected: Vec<Value> = (0..MESSAGES)
        .map(|n| format!("busy-{n:05}").into())
        .collect();
    assert_eq!(ids, expected, "every message once, in order");
    assert_eq!(by_chat.len(), SMALL_CHATS, "every small chat's bundle");
    for (chat, bundles) in by_chat {
        assert_eq!(bundles.len(), 1, "{chat}");
        assert_eq!(
            bundles[0]["messages"].as_array().unwrap().len(),
            2,
            "{chat}"
        );
    }
}

#[tokio::test]
async fn a_streamed_window_whose_messages_change_midway_is_planned_again_and_loses_nothing() {
    let stack = TestStack::behind_faults().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace(&stack.unique_email("replan")).await;
    stack.set_time("2026-03-01T00:30:00Z");
    stack.register_with(&key, &receiver.url(), "24h").await;
    stack.set_time("2026-03-01T10:00:00Z");
    // Six messages of 60,000 characters: over the 128 KiB a run holds, so streamed.
    let text = |n: usize| format!("{n:05} {}", "x".repeat(TEXT_CHARS));
    let events = (0..6).map(|n| message("talk", n, text(n))).collect();
    ingest(&stack, &key, events).await;

    // The queue refuses the second part: the first is queued and recorded, the run fails
    // the window (it keeps its claim).
    let proxy = stack.faults.clone().unwrap();
    proxy.inject(Rule::always("SQS.*", Fault::Refuse).when_body_contains("(part 2 of"));
    let first = stack.aggregate("2026-03-02T00:02:00Z").await;
    assert_eq!(first["windows_failed"], 1, "{first}");
    assert_eq!(first["parts_enqueued"], 1, "{first}");
    proxy.clear();
    // A message lands in the window after its plan was made.
    stack.set_time("2026-03-01T23:59:00Z");
    ingest(&stack, &key, vec![message("talk", 6, text(6))]).await;

    // Once the claim is stale, the next run goes on from part 2 and plans the rest again.
    let second = stack.aggregate("2026-03-02T00:20:00Z").await;
    assert_eq!(second["bundles_enqueued"], 1, "{second}");
    assert_eq!(second["messages_bundled"], 7, "{second}");
    stack.drain().await;
    let received = receiver.received();
    let bodies: Vec<Value> = received.iter().map(|r| r.json()).collect();
    let numbers: Vec<u64> = bodies.iter().map(|b| b["part"].as_u64().unwrap()).collect();
    let expected_numbers: Vec<u64> = (1..=bodies.len() as u64).collect();
    assert_eq!(numbers, expected_numbers, "each part once, in order");
    let ids: Vec<String> = received.iter().flat_map(|r| r.bundled_ids()).collect();
    let expected: Vec<String> = (0..7).map(|n| format!("talk-{n:05}")).collect();
    assert_eq!(
        ids, expected,
        "every message once, in order, the late one too"
    );
    let last = bodies.last().unwrap();
    assert_eq!(
        last["parts"],
        bodies.len(),
        "the later parts carry the new count"
    );
}

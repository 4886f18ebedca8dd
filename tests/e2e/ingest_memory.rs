//! Ingest's memory against the largest and the most hostile bodies the limits let through,
//! run as Lambda runs it at its smallest memory size (128 MB; the template gives 256): the
//! emulator kills the process once its resident memory passes the size, as Lambda does.

use outflow::formats::limits::MAX_BODY_BYTES;
use outflow::formats::tree_budget::{MAX_JSON_CONTAINERS, MAX_JSON_VALUES};
use outflow_e2e::{Receiver, TestStack};
use outflow_local::runtime_api::{
    function_url_request_event, sibling_binary, start_function, FunctionProcess, RuntimeApi,
};
use serde_json::{json, Value};
use std::time::Duration;

/// Lambda's smallest memory size (MB).
const SMALLEST_MIB: u64 = 128;

/// A stack with a workspace delivering immediately to a receiver; its key.
async fn registered(owner: &str) -> (TestStack, Receiver, String) {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace(owner).await;
    stack.register(&key, &receiver.url()).await;
    (stack, receiver, key)
}

/// The ingest binary under its own runtime API emulator at 128 MB, ready for events.
async fn start_ingest(stack: &TestStack) -> (RuntimeApi, FunctionProcess) {
    start_function(
        &sibling_binary("outflow-ingest"),
        "outflow-memory-ingest",
        &stack.function_env("outflow-memory"),
        SMALLEST_MIB,
    )
    .await
    .unwrap()
}

/// 100 events of Outflow's own format (the limit per request), names at the 512-byte
/// limit and texts as long as 1 MiB of body leaves them.
fn largest_request() -> String {
    let event = |n: usize, text: &str| {
        let mut v: Value = serde_json::from_str(include_str!(
            "../../../shared/fixtures/timelines_message_example.json"
        ))
        .unwrap();
        v["message"]["message_id"] = format!("largest-{n:03}").into();
        v["message"]["text"] = text.into();
        v["message"]["sender"]["full_name"] = "é".repeat(256).into();
        v["chat"]["chat_id"] = format!("largest-{}", n % 10).into();
        v
    };
    let body = |text: &str| {
        json!({ "events": (0..100).map(|n| event(n, text)).collect::<Vec<_>>() }).to_string()
    };
    let room = (MAX_BODY_BYTES - body("").len()) / 100;
    let largest = body(&"x".repeat(room));
    assert!(largest.len() <= MAX_BODY_BYTES && largest.len() > MAX_BODY_BYTES - 100);
    largest
}

/// Runs the largest request through ingest at 128 MB: answered `202`, not killed; its
/// peak RSS (KiB).
async fn ingest_largest(stack: &TestStack, key: &str) -> u64 {
    let (api, mut ingest) = start_ingest(stack).await;
    let event = function_url_request_event(key, &largest_request());
    let answer = ingest
        .invoke_or_kill(&api, &event, Duration::from_secs(30))
        .await
        .expect("not killed for its memory")
        .expect("answered in time");
    assert_eq!(answer["statusCode"], 202, "{answer}");
    let peak = ingest.peak_rss_kib().unwrap();
    ingest.stop().await;
    peak
}

/// Every event delivered whole to `receiver`.
fn delivered_whole(receiver: &Receiver) {
    let delivered = receiver.received();
    assert_eq!(delivered.len(), 100, "every event delivered");
    assert!(delivered
        .iter()
        .all(|r| r.json()["message"]["text"].as_str().unwrap().len() > 9_000));
}

#[tokio::test]
async fn ingest_takes_the_largest_request_the_limits_allow_in_lambdas_smallest_memory() {
    let (stack, receiver, key) = registered("largest@memory.test").await;
    let peak = ingest_largest(&stack, &key).await;
    println!(
        "ingest's peak RSS with a 1 MiB request of 100 events: {peak} KiB of {SMALLEST_MIB} MB"
    );
    stack.drain().await;
    delivered_whole(&receiver);
}

/// Ten endpoints (the default limit): 1,000 deliveries of about 10 KB, the nine others'
/// queued side by side.
#[tokio::test]
async fn the_largest_request_to_ten_endpoints_fits_lambdas_smallest_memory() {
    let (stack, receiver, key) = registered("ten-endpoints@memory.test").await;
    let mut others = Vec::new();
    for _ in 0..9 {
        let other = Receiver::start().await;
        stack.add_endpoint(&key, &other.url()).await;
        others.push(other);
    }
    let peak = ingest_largest(&stack, &key).await;
    println!(
        "ingest's peak RSS with a 1 MiB request of 100 events to ten endpoints: {peak} KiB of \
         {SMALLEST_MIB} MB"
    );
    stack.drain().await;
    for receiver in others.iter().chain([&receiver]) {
        delivered_whole(receiver);
    }
}

#[tokio::test]
async fn a_body_built_to_balloon_the_json_tree_is_refused_not_run_out_of_memory() {
    let (stack, _receiver, key) = registered("balloon@memory.test").await;
    let (api, mut ingest) = start_ingest(&stack).await;
    let body = |items: Vec<&str>| format!(r#"{{"events":[{}]}}"#, items.join(","));
    // 1 MiB of one-key objects, 7 bytes each: about 100 MB as a JSON tree.
    let balloon = body(vec![r#"{"":0}"#; (MAX_BODY_BYTES - 20) / 7]);
    // Just within the budget (objects, then plain values): built, then refused for its count.
    let mut within = vec![r#"{"":0}"#; MAX_JSON_CONTAINERS - 10];
    within.extend(vec!["0"; MAX_JSON_VALUES - 3 * MAX_JSON_CONTAINERS]);
    let within = body(within);
    for (body, key, status, says) in [
        (&balloon, key.as_str(), 400, "objects and arrays"),
        (&balloon, "of_wrong_key", 401, ""),
        (&within, key.as_str(), 400, "at most 100 per request"),
    ] {
        let event = function_url_request_event(key, body);
        let answer = ingest
            .invoke_or_kill(&api, &event, Duration::from_secs(30))
            .await
            .expect("not killed for its memory")
            .expect("answered in time");
        assert_eq!(answer["statusCode"], status, "{answer}");
        assert!(answer["body"].as_str().unwrap().contains(says), "{answer}");
    }
    println!(
        "ingest's peak RSS over the balloon and the body within the budget: {} KiB of {} MB",
        ingest.peak_rss_kib().unwrap(),
        ingest.memory_mib()
    );
    ingest.stop().await;
}

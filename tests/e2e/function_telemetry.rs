//! The real function binaries, run against a local Lambda runtime API as Lambda runs
//! `bootstrap`: their stdout carries CloudWatch EMF documents (namespace `Outflow`) with the
//! expected metric names and values, and JSON log lines that never show keys, secrets or
//! message text.

use aws_lambda_events::event::sqs::SqsEvent;
use outflow::telemetry::metrics;
use outflow_e2e::{Receiver, TestStack};
use outflow_local::runtime_api::{
    ingest_request_event, sibling_binary, start_function, FunctionProcess, RuntimeApi,
    TEMPLATE_MEMORY_MIB,
};
use serde_json::{json, Value};
use std::time::Duration;

const STACK_NAME: &str = "telemetry-test";
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);
const MESSAGE_TEXT: &str = "a secret-ish customer sentence";

fn message(chat: &str, id: &str) -> Value {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../../shared/fixtures/timelines_message_example.json"
    ))
    .unwrap();
    v["message"]["message_id"] = id.into();
    v["message"]["text"] = MESSAGE_TEXT.into();
    v["chat"]["chat_id"] = chat.into();
    v
}

fn events(messages: Vec<Value>) -> String {
    json!({ "events": messages }).to_string()
}

/// A function binary of this workspace, started against its own runtime API emulator.
async fn start(stack: &TestStack, binary: &str, role: &str) -> (RuntimeApi, FunctionProcess) {
    start_function(
        &sibling_binary(binary),
        &format!("{STACK_NAME}-{role}"),
        &stack.function_env(STACK_NAME),
        TEMPLATE_MEMORY_MIB,
    )
    .await
    .expect("function started")
}

/// Every EMF document the process printed, each checked against the format: the
/// namespace, the low-cardinality dimension set with its values, a value per metric.
fn emf_documents(process: &FunctionProcess, role: &str) -> Vec<Value> {
    let docs: Vec<Value> = process
        .lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    for doc in &docs {
        assert!(doc["_aws"]["Timestamp"].as_u64().is_some(), "{doc}");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Outflow", "{doc}");
        // Low cardinality: the stack and the function, and for failures their kind (one
        // of a few words), never a workspace.
        let by_kind = directive["Metrics"][0]["Name"] == metrics::DELIVERY_FAILURES_BY_KIND;
        let dimensions = if by_kind {
            let kind = doc[metrics::FAILURE_KIND].as_str().unwrap_or_default();
            assert!(
                outflow::domain::FailureKind::ALL
                    .iter()
                    .any(|k| k.as_str() == kind),
                "{doc}"
            );
            json!([["Stack", "Function", "FailureKind"]])
        } else {
            json!([["Stack", "Function"]])
        };
        assert_eq!(directive["Dimensions"], dimensions, "{doc}");
        assert_eq!(doc["Stack"], STACK_NAME);
        assert_eq!(doc["Function"], role);
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(!doc[name].is_null(), "{name} has no value in {doc}");
        }
    }
    docs
}

/// The sum of a metric over all documents (a histogram's values counted one by one).
fn total(docs: &[Value], name: &str) -> f64 {
    docs.iter()
        .map(|d| match &d[name] {
            Value::Number(n) => n.as_f64().unwrap(),
            Value::Array(values) => values.iter().map(|v| v.as_f64().unwrap()).sum(),
            _ => 0.0,
        })
        .sum()
}

fn unit(docs: &[Value], name: &str) -> Option<String> {
    docs.iter()
        .flat_map(|d| {
            d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .cloned()
        })
        .flatten()
        .find(|m| m["Name"] == name)
        .and_then(|m| m["Unit"].as_str().map(str::to_string))
}

/// Waits until `name` reaches `expected` (the flush follows the answer by a moment), then
/// returns the documents; a value over `expected` fails the caller's assertions.
async fn documents_with(
    process: &FunctionProcess,
    role: &str,
    name: &str,
    expected: f64,
) -> Vec<Value> {
    for _ in 0..500 {
        let docs = emf_documents(process, role);
        if total(&docs, name) >= expected {
            return docs;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{name} never reached {expected}; output: {:#?}",
        process.lines()
    );
}

/// No output line carries a credential or message text.
fn assert_nothing_secret(process: &FunctionProcess, secrets: &[&str]) {
    for line in process.lines() {
        for secret in secrets.iter().chain([&MESSAGE_TEXT]) {
            assert!(!line.contains(secret), "{secret:?} printed: {line}");
        }
    }
}

async fn received_batch(stack: &TestStack, n: usize) -> (Vec<aws_sdk_sqs::types::Message>, Value) {
    let mut messages = Vec::new();
    for _ in 0..20 {
        messages.extend(stack.pump.receive(1).await.unwrap());
        if messages.len() >= n {
            break;
        }
    }
    assert_eq!(messages.len(), n, "queued deliveries");
    let event = stack.pump.event_json(&messages);
    serde_json::from_value::<SqsEvent>(event.clone()).expect("an SQS event");
    (messages, event)
}

#[tokio::test]
async fn ingest_and_sender_binaries_print_their_metrics_and_safe_logs() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (ws, key) = stack.workspace(&stack.unique_email("emf")).await;
    let secret = stack.register(&key, &receiver.url()).await["secret"]
        .as_str()
        .unwrap()
        .to_string();

    let (api, ingest) = start(&stack, "outflow-ingest", "ingest").await;
    let stored = events(vec![message("c-1", "m-1"), message("c-2", "m-2")]);
    let answer = api
        .invoke(&ingest_request_event(&key, &stored), INVOKE_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 202, "{answer}");
    let again = events(vec![message("c-1", "m-1")]);
    let answer = api
        .invoke(&ingest_request_event(&key, &again), INVOKE_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 202, "{answer}");
    let answer = api
        .invoke(
            &ingest_request_event(&key, "{\"events\": ["),
            INVOKE_TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 400, "{answer}");

    let docs = documents_with(&ingest, "ingest", metrics::EVENTS_REJECTED, 1.0).await;
    assert_eq!(total(&docs, metrics::EVENTS_INGESTED), 2.0);
    assert_eq!(total(&docs, metrics::DUPLICATES_DROPPED), 1.0);
    assert_eq!(total(&docs, metrics::EVENTS_REJECTED), 1.0);
    assert_eq!(total(&docs, metrics::COLD_START), 1.0);
    assert_eq!(
        unit(&docs, metrics::EVENTS_INGESTED).as_deref(),
        Some("Count")
    );
    // One document per invocation that changed something, each tagged with its request.
    assert!(docs.iter().all(|d| d["RequestId"].is_string()));
    // One line per request: what it did rides on its metric document as a log line's
    // `level` and `fields` (CloudWatch Logs bills every byte and 26 more per line).
    let records: Vec<Value> = ingest
        .lines()
        .iter()
        .filter(|l| l.contains("events ingested"))
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(records.len(), 2, "{records:?}");
    for (record, (accepted, duplicates)) in records.iter().zip([(2, 0), (0, 1)]) {
        assert!(
            record.get("_aws").is_some(),
            "one line with the metrics: {record}"
        );
        assert_eq!(record["level"], "INFO", "{record}");
        assert_eq!(record["fields"]["message"], "events ingested", "{record}");
        assert_eq!(record["fields"]["workspace_id"], ws.as_str(), "{record}");
        assert_eq!(record["fields"]["accepted"], accepted, "{record}");
        assert_eq!(record["fields"]["duplicates"], duplicates, "{record}");
        assert!(record["RequestId"].is_string(), "{record}");
    }
    // The refused request's document carries no stale record of the one before.
    let refused = docs
        .iter()
        .find(|d| d.get(metrics::EVENTS_REJECTED).is_some())
        .expect("the refused request's document");
    assert!(refused.get("fields").is_none(), "{refused}");
    // A request that counts nothing still leaves its line, as a plain log line.
    let mut note: Value = serde_json::from_str(include_str!(
        "../../../shared/fixtures/livedesk_message_created.json"
    ))
    .unwrap();
    note["private"] = true.into();
    let answer = api
        .invoke(
            &ingest_request_event(&key, &note.to_string()),
            INVOKE_TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 202, "{answer}");
    let skipped = ingest
        .wait_for_line(Duration::from_secs(5), |l| l.contains("\"skipped\":1"))
        .await
        .expect("the skipped request's line");
    let skipped: Value = serde_json::from_str(&skipped).expect("a JSON log line");
    assert_eq!(skipped["level"], "INFO", "{skipped}");
    assert_eq!(skipped["fields"]["message"], "events ingested", "{skipped}");
    assert!(skipped.get("_aws").is_none(), "{skipped}");
    assert!(skipped["span"]["requestId"].is_string(), "{skipped}");
    assert!(skipped.get("spans").is_none(), "{skipped}");
    assert_nothing_secret(&ingest, &[&key, &secret]);
    ingest.stop().await;

    let (api, sender) = start(&stack, "outflow-sender", "sender").await;
    let (messages, event) = received_batch(&stack, 2).await;
    let answer = api.invoke(&event, INVOKE_TIMEOUT).await.unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    stack.pump.delete_except(&messages, &[]).await.unwrap();
    assert_eq!(receiver.received().len(), 2);

    let docs = documents_with(&sender, "sender", metrics::DELIVERIES_SUCCEEDED, 2.0).await;
    assert_eq!(total(&docs, metrics::DELIVERIES_SUCCEEDED), 2.0);
    assert_eq!(total(&docs, metrics::DELIVERIES_FAILED), 0.0);
    let latencies: Vec<&Value> = docs
        .iter()
        .filter_map(|d| d[metrics::DELIVERY_LATENCY].as_array())
        .flatten()
        .collect();
    assert_eq!(latencies.len(), 2, "one latency per attempt");
    assert!(latencies.iter().all(|v| v.as_f64().unwrap() >= 0.0));
    assert_eq!(
        unit(&docs, metrics::DELIVERY_LATENCY).as_deref(),
        Some("Milliseconds")
    );
    let delivery_line = sender
        .wait_for_line(Duration::from_secs(5), |l| {
            l.contains("deliveries attempted")
        })
        .await
        .expect("a delivery log line");
    assert!(delivery_line.contains(&ws) && delivery_line.contains("delivery_ids"));
    // One line for the batch's two attempts, not one each (CloudWatch bills the bytes).
    let lines = sender.lines();
    let per_attempt = lines.iter().filter(|l| l.contains("deliveries attempted"));
    assert_eq!(per_attempt.count(), 1, "{lines:?}");
    assert_nothing_secret(&sender, &[&key, &secret]);
    sender.stop().await;
}

#[tokio::test]
async fn the_sender_binary_counts_failures_and_the_disable() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace(&stack.unique_email("emf-fail")).await;
    stack.register(&key, &receiver.url()).await;
    receiver.respond_with(500);
    // One chat each: a chat's later deliveries wait behind its failed one.
    let batch: Vec<Value> = (0..11)
        .map(|i| message(&format!("c-{i}"), &format!("f-{i}")))
        .collect();
    assert_eq!(stack.ingest(&key, events(batch)).await.status, 202);

    let (api, sender) = start(&stack, "outflow-sender", "sender").await;
    let (_, event) = received_batch(&stack, 11).await;
    let answer = api.invoke(&event, INVOKE_TIMEOUT).await.unwrap();
    assert_eq!(answer["batchItemFailures"].as_array().unwrap().len(), 11);

    let docs = documents_with(&sender, "sender", metrics::WEBHOOKS_DISABLED, 1.0).await;
    assert_eq!(total(&docs, metrics::DELIVERIES_FAILED), 11.0);
    assert_eq!(total(&docs, metrics::DELIVERY_FAILURES_BY_KIND), 11.0);
    assert!(docs
        .iter()
        .filter(|d| !d[metrics::DELIVERY_FAILURES_BY_KIND].is_null())
        .all(|d| d[metrics::FAILURE_KIND] == "http_status"));
    assert_eq!(total(&docs, metrics::DELIVERIES_SUCCEEDED), 0.0);
    assert_eq!(total(&docs, metrics::WEBHOOKS_DISABLED), 1.0);
    sender.stop().await;
}

#[tokio::test]
async fn the_aggregator_binary_counts_bundles_and_their_messages() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace(&stack.unique_email("emf-agg")).await;
    stack.set_time("2026-03-01T10:00:00Z");
    stack.register_with(&key, &receiver.url(), "1h").await;
    stack.set_time("2026-03-01T10:05:00Z");
    let chat_a = vec![
        message("a", "a-1"),
        message("a", "a-2"),
        message("a", "a-3"),
    ];
    assert_eq!(stack.ingest(&key, events(chat_a)).await.status, 202);
    assert_eq!(
        stack
            .ingest(&key, events(vec![message("b", "b-1")]))
            .await
            .status,
        202
    );

    let (api, aggregator) = start(&stack, "outflow-aggregator", "aggregator").await;
    let answer = api
        .invoke(&json!({"time": "2026-03-01T12:00:00Z"}), INVOKE_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(answer["bundles_enqueued"], 2, "{answer}");

    let docs = documents_with(&aggregator, "aggregator", metrics::MESSAGES_BUNDLED, 4.0).await;
    assert_eq!(total(&docs, metrics::BUNDLES_BUILT), 2.0);
    assert_eq!(total(&docs, metrics::MESSAGES_BUNDLED), 4.0);
    let bundle_line = aggregator
        .wait_for_line(Duration::from_secs(5), |l| l.contains("bundle enqueued"))
        .await
        .expect("a bundle log line");
    assert!(bundle_line.contains("bundle_id"), "{bundle_line}");
    assert_nothing_secret(&aggregator, &[&key]);
    aggregator.stop().await;
}

#[tokio::test]
async fn the_aggregator_binary_counts_windows_a_table_fault_left_due() {
    let stack = TestStack::behind_faults().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace(&stack.unique_email("emf-left-due")).await;
    stack.set_time("2026-03-01T10:00:00Z");
    stack.register_with(&key, &receiver.url(), "1h").await;
    stack.set_time("2026-03-01T10:05:00Z");
    let body = events(vec![message("a", "a-1")]);
    assert_eq!(stack.ingest(&key, body).await.status, 202);

    // The binary reaches DynamoDB through the fault proxy, which refuses the run's read
    // of the workspace's settings.
    let proxy = stack.faults.clone().unwrap();
    let rule = outflow_e2e::Rule::always("DynamoDB.GetItem", outflow_e2e::Fault::Refuse);
    proxy.inject(rule.when_body_contains("META"));
    let mut env = stack.function_env(STACK_NAME);
    env.push(("AWS_ENDPOINT_URL".into(), proxy.url()));
    let (api, aggregator) = start_function(
        &sibling_binary("outflow-aggregator"),
        &format!("{STACK_NAME}-aggregator"),
        &env,
        TEMPLATE_MEMORY_MIB,
    )
    .await
    .expect("function started");
    let answer = api
        .invoke(&json!({"time": "2026-03-01T12:00:00Z"}), INVOKE_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(answer["windows_left_due"], 1, "{answer}");
    assert_eq!(proxy.injected(), 1);

    let docs = documents_with(&aggregator, "aggregator", metrics::WINDOWS_LEFT_DUE, 1.0).await;
    assert_eq!(total(&docs, metrics::WINDOWS_LEFT_DUE), 1.0);
    assert_eq!(
        unit(&docs, metrics::WINDOWS_LEFT_DUE).as_deref(),
        Some("Count")
    );
    assert_eq!(total(&docs, metrics::BUNDLES_BUILT), 0.0);
    aggregator.stop().await;
}

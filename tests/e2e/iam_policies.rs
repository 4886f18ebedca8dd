//! Every AWS operation each function makes is one its role in template.yaml allows. Moto
//! checks no permissions, so a missing action would show only in AWS, as `AccessDenied`
//! (GET /v1/endpoints once needed `dynamodb:BatchGetItem` the api lacked; release steps
//! `dynamodb:Query` and `sqs:SendMessage` the sender lacked). The scenario walks every
//! path the tests know of: endpoints, immediate and aggregated delivery, holding and a
//! release, a disable with its email, replay, resend, a test event, notices, a delete.

use axum::http::{Method, StatusCode};
use outflow_e2e::{refusing_url, FunctionRequests, Receiver, TestStack, ADMIN_TOKEN};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const SEED: &str = include_str!("../../../shared/fixtures/timelines_message_example.json");

/// Native messages, one chat each.
fn batch(prefix: &str, n: usize) -> String {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let mut v: Value = serde_json::from_str(SEED).unwrap();
            v["message"]["message_id"] = format!("{prefix}-{i}").into();
            v["chat"]["chat_id"] = format!("{prefix}-chat-{i}").into();
            v
        })
        .collect();
    json!({ "events": events }).to_string()
}

/// The IAM action an SDK operation needs (`SQS.SendMessageBatch` → `sqs:SendMessage`).
fn action(operation: &str) -> String {
    // IAM has no action for a transaction: the writes inside it are checked, and ours
    // are updates (the aggregator's claims and announcements).
    if operation == "DynamoDB.TransactWriteItems" {
        return "dynamodb:UpdateItem".into();
    }
    let (service, name) = operation.split_once('.').unwrap();
    let service = match service {
        "DynamoDB" => "dynamodb",
        "SQS" => "sqs",
        s if s.starts_with("SES") => "ses",
        other => panic!("a service the template knows nothing of: {other}"),
    };
    format!("{service}:{}", name.strip_suffix("Batch").unwrap_or(name))
}

/// The actions a function's policies in the template allow.
fn allowed(function: &str) -> BTreeSet<String> {
    let template = crate::template_matches_local_stack::template();
    let policies = template["Resources"][function]["Properties"]["Policies"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{function} has policies"));
    let mut actions = BTreeSet::new();
    for policy in policies {
        for statement in policy["Statement"].as_sequence().into_iter().flatten() {
            match &statement["Action"] {
                serde_norway::Value::String(a) => {
                    actions.insert(a.clone());
                }
                serde_norway::Value::Sequence(list) => {
                    actions.extend(list.iter().filter_map(|a| a.as_str().map(String::from)));
                }
                _ => {}
            }
        }
    }
    actions
}

async fn call(stack: &TestStack, method: Method, path: &str, key: &str, body: Value) -> Value {
    let r = stack
        .call(method, path, Some(key), Some(body.to_string().into_bytes()))
        .await;
    assert!(r.status.is_success(), "{path}: {} {}", r.status, r.body);
    r.body
}

/// Walks every path: what each function asked of AWS.
async fn every_path(stack: &mut TestStack) -> FunctionRequests {
    let counters = stack.count_requests().await;
    let receiver = Receiver::start().await;
    let owner = stack.unique_email("iam");
    let (ws, key) = stack.workspace(&owner).await;
    call(
        stack,
        Method::POST,
        "/v1/api-keys",
        &key,
        json!({"scopes": ["events:write"], "name": "chat"}),
    )
    .await;
    stack.register(&key, &receiver.url()).await;
    let failing = refusing_url().await;
    let made = call(
        stack,
        Method::POST,
        "/v1/endpoints",
        &key,
        json!({"url": failing}),
    )
    .await;
    let id = made["endpoint_id"].as_str().unwrap().to_string();
    call(stack, Method::GET, "/v1/endpoints", &key, json!({})).await;
    // Immediate delivery, and an endpoint that fails until it is disabled (owner emailed).
    stack.ingest(&key, batch("a", 12)).await;
    stack.drain().await;
    // Held while off, released on enable by a release step.
    let off = json!({"url": receiver.url(), "enabled": false});
    assert_eq!(stack.save_settings(&key, &off).await.status, StatusCode::OK);
    stack.ingest(&key, batch("held", 3)).await;
    stack.drain().await;
    assert_eq!(stack.enable(&key).await.status, StatusCode::OK);
    stack.drain().await;
    stack.drain().await;
    // Aggregated.
    stack.set_time("2026-03-01T10:05:00Z");
    stack.register_with(&key, &receiver.url(), "1h").await;
    stack.ingest(&key, batch("b", 3)).await;
    stack.aggregate("2026-03-01T11:01:30Z").await;
    stack.drain().await;
    // The rest of the routes.
    let since = json!({"since": "2020-01-01T00:00:00Z"});
    call(
        stack,
        Method::POST,
        "/v1/webhooks/outbound/replay",
        &key,
        since,
    )
    .await;
    stack.drain().await;
    let log = call(
        stack,
        Method::GET,
        "/v1/webhooks/outbound/log",
        &key,
        json!({}),
    )
    .await;
    let request = log["requests"][0]["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let resend = format!("/v1/webhooks/outbound/log/{request}/resend");
    call(stack, Method::POST, &resend, &key, json!({})).await;
    call(
        stack,
        Method::POST,
        "/v1/webhooks/outbound/test",
        &key,
        json!({}),
    )
    .await;
    call(
        stack,
        Method::POST,
        "/v1/webhooks/outbound/rotate-secret",
        &key,
        json!({}),
    )
    .await;
    call(
        stack,
        Method::GET,
        "/v1/webhooks/outbound/deliveries",
        &key,
        json!({}),
    )
    .await;
    call(stack, Method::GET, "/v1/webhooks/outbound", &key, json!({})).await;
    let link = format!("/v1/workspaces/{ws}/portal-links");
    call(stack, Method::POST, &link, ADMIN_TOKEN, json!({})).await;
    call(
        stack,
        Method::DELETE,
        &format!("/v1/endpoints/{id}"),
        &key,
        json!({}),
    )
    .await;
    call(stack, Method::POST, "/v1/api-keys/rotate", &key, json!({})).await;
    assert!(
        !stack.emails_to(&owner).await.is_empty(),
        "the paths that email ran"
    );
    counters
}

#[tokio::test]
async fn every_aws_operation_of_each_function_is_allowed_by_its_role() {
    let mut stack = TestStack::new().await;
    let counters = every_path(&mut stack).await;
    // The sender's SQS event source gives its role what polling needs (SAM adds
    // AWSLambdaSQSQueueExecutionRole): receive, delete, change visibility.
    let poller = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
    ];
    for (function, counter, implicit) in [
        ("IngestFunction", &counters.ingest, &[][..]),
        ("ApiFunction", &counters.api, &[][..]),
        ("SenderFunction", &counters.sender, &poller[..]),
        ("AggregatorFunction", &counters.aggregator, &[][..]),
    ] {
        let made = counter.take();
        assert!(
            !made.is_empty(),
            "{function} made no request: the scenario is broken"
        );
        let mut allowed = allowed(function);
        allowed.extend(implicit.iter().map(|a| a.to_string()));
        let missing: Vec<String> = made
            .keys()
            .map(|op| action(op))
            .filter(|a| !allowed.contains(a))
            .collect();
        assert!(
            missing.is_empty(),
            "{function} needs {missing:?}; made {made:?}"
        );
    }
}

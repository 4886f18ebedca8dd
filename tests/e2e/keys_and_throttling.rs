//! Key revocation and reset take effect at once; ingest is throttled per workspace with
//! 429 + Retry-After, writing nothing for the refused request.

use axum::http::{Method, StatusCode};
use outflow_e2e::{Options, TestStack};
use serde_json::Value;

fn event(id: &str) -> String {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../../shared/fixtures/timelines_message_example.json"
    ))
    .unwrap();
    v["message"]["message_id"] = id.into();
    v.to_string()
}

async fn settings(stack: &TestStack, key: &str) -> StatusCode {
    stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(key), None)
        .await
        .status
}

#[tokio::test]
async fn a_revoked_key_stops_working_at_once() {
    let stack = TestStack::new().await;
    let (_, key) = stack.workspace("owner@revoke.test").await;
    stack.register(&key, "http://127.0.0.1:9/x").await;
    assert_eq!(settings(&stack, &key).await, StatusCode::OK);
    let r = stack
        .call(Method::POST, "/v1/api-keys/revoke", Some(&key), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(settings(&stack, &key).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        stack.ingest(&key, event("after-revoke")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = stack
        .call(Method::POST, "/v1/api-keys/revoke", Some(&key), None)
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(stack.items_with_prefix("MSG#").await, 0);
}

#[tokio::test]
async fn an_admin_reset_replaces_every_key_of_the_workspace() {
    let stack = TestStack::new().await;
    let (ws, first) = stack.workspace("owner@reset-keys.test").await;
    let rotated = stack
        .call(Method::POST, "/v1/api-keys/rotate", Some(&first), None)
        .await
        .body["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/workspaces/{ws}/api-keys/reset");
    let refused = stack.call(Method::POST, &path, Some(&rotated), None).await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "tenant keys cannot reset"
    );
    let r = stack
        .call(
            Method::POST,
            &path,
            Some(outflow_e2e::stack::ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["revoked"], 1);
    let new = r.body["api_key"].as_str().unwrap();
    stack.register(new, "http://127.0.0.1:9/x").await;
    assert_eq!(settings(&stack, &rotated).await, StatusCode::UNAUTHORIZED);
    assert_eq!(settings(&stack, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(settings(&stack, new).await, StatusCode::OK);
    let unknown = stack
        .call(
            Method::POST,
            "/v1/workspaces/ws_aaaaaaaaaaaaaaaaaaaa/api-keys/reset",
            Some(outflow_e2e::stack::ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn ingest_over_the_workspace_rate_gets_429_with_retry_after_and_writes_nothing() {
    let stack = TestStack::with(Options {
        ingest_requests_per_second: 3,
        ..Options::default()
    })
    .await;
    stack.set_time("2026-03-01T10:00:00.200Z");
    let (_, key) = stack.workspace("owner@throttle.test").await;
    let (_, other) = stack.workspace("owner@throttle-other.test").await;
    stack.register(&key, "http://127.0.0.1:9/x").await;
    stack.register(&other, "http://127.0.0.1:9/y").await;
    for i in 0..3 {
        let r = stack.ingest(&key, event(&format!("ok-{i}"))).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    }
    let over = stack.ingest(&key, event("over")).await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(over.headers["retry-after"], "1");
    assert_eq!(over.body["error"]["code"], "throttled");
    assert_eq!(
        stack.items_with_prefix("MSG#").await,
        3,
        "the refused event is not stored"
    );
    assert_eq!(
        stack.ingest(&other, event("other-0")).await.status,
        StatusCode::ACCEPTED,
        "another workspace has its own budget"
    );
    stack.set_time("2026-03-01T10:00:01.100Z");
    assert_eq!(
        stack.ingest(&key, event("next-second")).await.status,
        StatusCode::ACCEPTED,
        "the next window admits again"
    );
}

//! Scoped API keys (issue 17): a key made with chosen scopes does what they allow and is
//! refused with 403, naming the missing scope, everywhere else; existing keys keep every
//! scope; a key cannot grant more than it holds; rotation keeps a key's scopes.

use axum::http::{Method, StatusCode};
use outflow_e2e::TestStack;
use serde_json::{json, Value};

fn event(id: &str) -> String {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../../shared/fixtures/timelines_message_example.json"
    ))
    .unwrap();
    v["message"]["message_id"] = id.into();
    v.to_string()
}

async fn make_key(stack: &TestStack, by: &str, name: &str, scopes: Value) -> (StatusCode, Value) {
    let r = stack.make_key(by, name, scopes).await;
    (r.status, r.body)
}

/// The status of each route for `key`, and the scope a 403 names.
async fn refused_scope(stack: &TestStack, method: Method, path: &str, key: &str) -> String {
    let body = (method == Method::PUT).then(|| {
        json!({"url": "http://127.0.0.1:9/elsewhere"})
            .to_string()
            .into_bytes()
    });
    let r = stack.call(method.clone(), path, Some(key), body).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "{method} {path}: {}",
        r.body
    );
    assert_eq!(r.body["error"]["code"], "forbidden");
    let message = r.body["error"]["message"].as_str().unwrap().to_string();
    message.rsplit(' ').next().unwrap().to_string()
}

#[tokio::test]
async fn an_events_key_sends_events_and_nothing_else() {
    let stack = TestStack::new().await;
    let (ws, full) = stack.workspace("owner@scopes.test").await;
    stack.register(&full, "http://127.0.0.1:9/x").await;
    let (status, made) = make_key(&stack, &full, "Chatwoot", json!(["events:write"])).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let events = made["api_key"].as_str().unwrap().to_string();
    assert_eq!(made["scopes"], json!(["events:write"]));
    assert_eq!(made["name"], "Chatwoot");
    assert!(events.starts_with(made["prefix"].as_str().unwrap()));

    let sent = stack.ingest(&events, event("scoped-1")).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);

    // It cannot read the secret or the log, redirect the webhook, replay, or make keys.
    let manage = [
        (Method::PUT, "/v1/webhooks/outbound"),
        (Method::POST, "/v1/webhooks/outbound/rotate-secret"),
        (Method::POST, "/v1/webhooks/outbound/enable"),
        (Method::POST, "/v1/webhooks/outbound/replay"),
        (Method::POST, "/v1/webhooks/outbound/test"),
    ];
    for (method, path) in manage {
        assert_eq!(
            refused_scope(&stack, method, path, &events).await,
            "endpoints:manage"
        );
    }
    for path in [
        "/v1/webhooks/outbound",
        "/v1/webhooks/outbound/log",
        "/v1/webhooks/outbound/deliveries",
    ] {
        assert_eq!(
            refused_scope(&stack, Method::GET, path, &events).await,
            "logs:read"
        );
    }
    for method in [Method::GET, Method::POST] {
        let scope = refused_scope(&stack, method, "/v1/api-keys", &events).await;
        assert_eq!(scope, "keys:manage");
    }
    // Nothing it was refused changed the webhook.
    let webhook = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&full), None)
        .await;
    assert_eq!(webhook.body["url"], "http://127.0.0.1:9/x");

    // Rotating itself keeps its scopes; the old one stops working.
    let rotated = stack
        .call(Method::POST, "/v1/api-keys/rotate", Some(&events), None)
        .await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.body);
    let rotated = rotated.body["api_key"].as_str().unwrap().to_string();
    assert_eq!(
        stack.ingest(&events, event("scoped-2")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        stack.ingest(&rotated, event("scoped-3")).await.status,
        StatusCode::ACCEPTED
    );
    let scope = refused_scope(&stack, Method::GET, "/v1/webhooks/outbound/log", &rotated).await;
    assert_eq!(scope, "logs:read");

    // The full key lists both keys, with prefixes, names and scopes, and no key.
    let listed = stack
        .call(Method::GET, "/v1/api-keys", Some(&full), None)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let keys = listed.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{}", listed.body);
    assert_eq!(
        keys[0]["scopes"],
        json!([
            "events:write",
            "logs:read",
            "endpoints:manage",
            "keys:manage"
        ])
    );
    assert_eq!(keys[1]["scopes"], json!(["events:write"]));
    assert_eq!(keys[1]["name"], "Chatwoot");
    let text = listed.body.to_string();
    assert!(!text.contains(&rotated) && !text.contains(&full));
    assert!(rotated.starts_with(keys[1]["prefix"].as_str().unwrap()));
    let hashes = stack.api_key_hashes(&ws).await;
    assert_eq!(hashes.len(), 2);
}

#[tokio::test]
async fn a_read_key_sees_the_log_but_not_the_secret_and_cannot_send() {
    let stack = TestStack::new().await;
    let (_, full) = stack.workspace("owner@read-scope.test").await;
    stack.register(&full, "http://127.0.0.1:9/x").await;
    let (_, made) = make_key(&stack, &full, "dashboard", json!(["logs:read"])).await;
    let read = made["api_key"].as_str().unwrap().to_string();

    let shown = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&read), None)
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(shown.body["url"], "http://127.0.0.1:9/x");
    assert!(shown.body.get("secret").is_none(), "{}", shown.body);
    let full_view = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&full), None)
        .await;
    assert!(full_view.body["secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&read), None)
        .await;
    assert_eq!(log.status, StatusCode::OK);

    // Sending is refused, well-formed or not, and writes nothing.
    let refused = stack.ingest(&read, event("read-1")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("events:write"));
    let malformed = stack.ingest(&read, "{").await;
    assert_eq!(malformed.status, StatusCode::FORBIDDEN);
    assert_eq!(stack.items_with_prefix("MSG#").await, 0);
}

#[tokio::test]
async fn a_key_grants_only_what_it_holds_and_a_workspace_holds_at_most_twenty() {
    let stack = TestStack::new().await;
    let (_, full) = stack.workspace("owner@grant.test").await;
    let (_, made) = make_key(&stack, &full, "keys", json!(["keys:manage", "logs:read"])).await;
    let keys_key = made["api_key"].as_str().unwrap().to_string();

    let (status, body) = make_key(&stack, &keys_key, "more", json!(["events:write"])).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .ends_with("events:write"));
    let (status, _) = make_key(&stack, &keys_key, "reader", json!(["logs:read"])).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, body) = make_key(&stack, &full, "odd", json!(["events:delete"])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "scopes[0]");
    let (status, body) = make_key(&stack, &full, "none", json!([])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "scopes");

    // 3 keys now; 17 more fill the workspace, the 21st is refused.
    for i in 0..17 {
        let (status, body) = make_key(&stack, &full, &format!("k{i}"), json!(["logs:read"])).await;
        assert_eq!(status, StatusCode::CREATED, "{i}: {body}");
    }
    let (status, body) = make_key(&stack, &full, "one too many", json!(["logs:read"])).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("20"));
}

#[tokio::test]
async fn a_key_stored_before_scopes_keeps_every_scope() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = TestStack::new().await;
    let (ws, key) = stack.workspace("owner@legacy-key.test").await;
    stack.register(&key, "http://127.0.0.1:9/x").await;
    // As a workspace made before scopes holds it: the key's entry is its creation time.
    let hash = outflow::domain::ApiKey::presented(&key).hash();
    let created = AttributeValue::S("2026-01-01T00:00:00Z".into());
    stack
        .update_workspace_item(
            &ws,
            "SET api_keys.#key = :t",
            &[("#key", &hash)],
            &[(":t", created)],
        )
        .await;

    assert_eq!(
        stack.ingest(&key, event("legacy-1")).await.status,
        StatusCode::ACCEPTED
    );
    let shown = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await;
    assert!(shown.body["secret"].as_str().unwrap().starts_with("whsec_"));
    let (status, _) = make_key(&stack, &key, "events", json!(["events:write"])).await;
    assert_eq!(status, StatusCode::CREATED);
    let listed = stack
        .call(Method::GET, "/v1/api-keys", Some(&key), None)
        .await;
    let keys = listed.body["keys"].as_array().unwrap();
    assert_eq!(keys[0]["created_at"], "2026-01-01T00:00:00Z");
    assert_eq!(keys[0]["prefix"], Value::Null);
    assert_eq!(keys[0]["scopes"].as_array().unwrap().len(), 4);
    // Rotated, it becomes a full key with a prefix.
    let rotated = stack
        .call(Method::POST, "/v1/api-keys/rotate", Some(&key), None)
        .await;
    let rotated = rotated.body["api_key"].as_str().unwrap().to_string();
    assert_eq!(
        stack.ingest(&rotated, event("legacy-2")).await.status,
        StatusCode::ACCEPTED
    );
}

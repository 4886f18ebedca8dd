//! Warnings before a disable and security notices (issue 17): a webhook failing for an
//! hour with no success warns its owner once per failure incident, with what fails, since
//! when, how many failures are left and a portal link; changes to the URL, the signing
//! secret and the API keys are told to the owner, at most 10 emails a workspace a day.
//! Emails are read back from moto's SES.

use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::{Method, StatusCode};
use outflow_e2e::receiver::Receiver;
use outflow_e2e::TestStack;
use serde_json::{json, Value};

fn event(id: &str) -> String {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../../shared/fixtures/timelines_message_example.json"
    ))
    .unwrap();
    v["message"]["message_id"] = id.into();
    // A chat each: a failed delivery waiting for its retry holds its chat's later ones.
    v["chat"]["chat_id"] = format!("chat-{id}").into();
    v.to_string()
}

/// Moves the start of the current failure incident `minutes` into the past.
async fn failing_since_minutes_ago(stack: &TestStack, ws: &str, minutes: i64) {
    let since = chrono::Utc::now().timestamp_millis() - minutes * 60_000;
    let since = AttributeValue::N(since.to_string());
    stack
        .update_workspace_item(
            ws,
            "SET failing_since_ms = :since",
            &[],
            &[(":since", since)],
        )
        .await;
}

async fn deliver(stack: &TestStack, key: &str, id: &str) {
    let r = stack.ingest(key, event(id)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    stack.drain().await;
}

#[tokio::test]
async fn an_hour_of_failing_warns_the_owner_once_per_incident_before_the_disable() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let owner = stack.unique_email("warned");
    let (ws, key) = stack.workspace(&owner).await;
    stack.register(&key, &receiver.url()).await;
    receiver.respond_with(503);

    deliver(&stack, &key, "w-1").await;
    deliver(&stack, &key, "w-2").await;
    assert!(stack
        .workspace_attribute(&ws, "failing_since_ms")
        .await
        .is_some());
    assert!(
        stack.emails_to(&owner).await.is_empty(),
        "failing for seconds: no warning yet"
    );

    // The incident began 61 minutes ago: the next failure warns.
    failing_since_minutes_ago(&stack, &ws, 61).await;
    deliver(&stack, &key, "w-3").await;
    let emails = stack.emails_to(&owner).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    let text = emails[0].to_string();
    for part in [
        "is failing",
        &format!("URL: {}", receiver.url()),
        "Failing since: ",
        "Failed deliveries in a row: 3",
        "HTTP 503",
        "After 8 more failures in a row it will be disabled",
        "https://hooks.outflow.test/portal#token=ofp.",
    ] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    let settings = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await;
    assert_eq!(settings.body["enabled"], true);
    let activity = settings.body["activity"].to_string();
    assert!(
        activity.contains("warned: 3 failed deliveries in a row"),
        "{activity}"
    );

    // Once per incident: more failures, no second warning.
    deliver(&stack, &key, "w-4").await;
    assert_eq!(stack.emails_to(&owner).await.len(), 1);

    // A success ends the incident; the next one, an hour long, is warned again.
    receiver.respond_with(200);
    deliver(&stack, &key, "w-5").await;
    assert!(stack.workspace_attribute(&ws, "warned_ms").await.is_none());
    assert!(stack
        .workspace_attribute(&ws, "failing_since_ms")
        .await
        .is_none());
    receiver.respond_with(500);
    deliver(&stack, &key, "w-6").await;
    failing_since_minutes_ago(&stack, &ws, 90).await;
    deliver(&stack, &key, "w-7").await;
    let emails = stack.emails_to(&owner).await;
    assert_eq!(emails.len(), 2, "{emails:?}");
    assert!(emails[1]
        .to_string()
        .contains("Failed deliveries in a row: 2"));
}

#[tokio::test]
async fn changes_to_the_url_the_secret_and_the_keys_are_told_to_the_owner_within_a_daily_cap() {
    let stack = TestStack::new().await;
    let owner = stack.unique_email("notices");
    let (ws, key) = stack.workspace(&owner).await;
    stack.register(&key, "http://127.0.0.1:9/first").await;
    assert!(
        stack.emails_to(&owner).await.is_empty(),
        "registering is no change"
    );
    stack.register(&key, "http://127.0.0.1:9/first").await;
    assert!(
        stack.emails_to(&owner).await.is_empty(),
        "the same URL is no change"
    );

    stack.register(&key, "http://127.0.0.1:9/second").await;
    let r = stack
        .call(
            Method::POST,
            "/v1/webhooks/outbound/rotate-secret",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let made = stack
        .make_key(&key, "Chatwoot", json!(["events:write"]))
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let events_key = made.body["api_key"].as_str().unwrap().to_string();
    let r = stack.rotate_key(&events_key).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let reset = format!("/v1/workspaces/{ws}/api-keys/reset");
    let r = stack
        .call(
            Method::POST,
            &reset,
            Some(outflow_e2e::stack::ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let key = r.body["api_key"].as_str().unwrap().to_string();

    let emails: Vec<String> = stack
        .emails_to(&owner)
        .await
        .iter()
        .map(Value::to_string)
        .collect();
    assert_eq!(emails.len(), 5, "{emails:?}");
    let expected = [
        "Before: http://127.0.0.1:9/first\\nNow: http://127.0.0.1:9/second",
        "signing secret of workspace",
        "new API key \\\"Chatwoot\\\" was made",
        "(\\\"Chatwoot\\\") was rotated",
        "2 keys stopped working",
    ];
    for (email, part) in emails.iter().zip(expected) {
        assert!(email.contains(part), "{part:?} in {email}");
    }

    // Ten a day: five more rotations fill the day, the sixth is not emailed but logged.
    for _ in 0..6 {
        let r = stack
            .call(
                Method::POST,
                "/v1/webhooks/outbound/rotate-secret",
                Some(&key),
                None,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "the change is made whatever the email"
        );
    }
    let emails = stack.emails_to(&owner).await;
    assert_eq!(emails.len(), 10, "the daily cap");
    assert!(emails[9]
        .to_string()
        .contains("This is the last of today's 10 emails"));
    assert!(!emails[8].to_string().contains("This is the last"));
    let settings = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await;
    let activity = settings.body["activity"].to_string();
    assert!(
        activity.contains("at most 10 such emails a day"),
        "{activity}"
    );
}

#[tokio::test]
async fn a_save_ends_the_failure_incident_so_no_stale_warning_follows() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let owner = stack.unique_email("saved");
    let (ws, key) = stack.workspace(&owner).await;
    stack.register(&key, &receiver.url()).await;
    receiver.respond_with(503);
    deliver(&stack, &key, "s-1").await;
    failing_since_minutes_ago(&stack, &ws, 120).await;
    // Saved (enabled): the count and the incident start over.
    stack.register(&key, &receiver.url()).await;
    assert!(stack
        .workspace_attribute(&ws, "failing_since_ms")
        .await
        .is_none());
    deliver(&stack, &key, "s-2").await;
    assert!(
        stack.emails_to(&owner).await.is_empty(),
        "one failure after a save is no hour of failing"
    );
}

#[tokio::test]
async fn an_endpoint_added_or_deleted_is_told_to_the_owner() {
    let stack = TestStack::new().await;
    let owner = stack.unique_email("endpoint-notices");
    let (_, key) = stack.workspace(&owner).await;
    stack.register(&key, "http://127.0.0.1:9/first").await;
    // Before: a key with `endpoints:manage` could send a copy of every delivery elsewhere,
    // and the owner heard nothing (changing the default's URL was told).
    let added = stack.add_endpoint(&key, "http://127.0.0.1:9/copy").await;
    let id = added["endpoint_id"].as_str().unwrap().to_string();
    let emails = stack.emails_to(&owner).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    let told = emails[0].to_string();
    assert!(told.contains(&format!("({id}) was added")), "{told}");
    assert!(told.contains("URL: http://127.0.0.1:9/copy"), "{told}");

    let path = format!("/v1/endpoints/{id}");
    let r = stack.call(Method::DELETE, &path, Some(&key), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let again = stack.call(Method::DELETE, &path, Some(&key), None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.body);
    let emails = stack.emails_to(&owner).await;
    assert_eq!(emails.len(), 2, "told once: {emails:?}");
    let told = emails[1].to_string();
    assert!(told.contains(&format!("{id} of workspace")), "{told}");
    assert!(told.contains("was deleted"), "{told}");
    let activity = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await
        .body["activity"]
        .to_string();
    assert!(
        activity.contains("told an endpoint was deleted"),
        "{activity}"
    );
}

//! Tenant isolation, and the SSRF guard at registration and at send time.

use axum::http::{Method, StatusCode};
use outflow::domain::{Aggregation, ApiKey, WebhookSettings, WorkspaceId};
use outflow::url_policy::UrlPolicy;
use outflow_e2e::{Options, Receiver, TestStack};
use serde_json::json;

const SEED: &str = include_str!("../../../shared/fixtures/timelines_message_example.json");

#[tokio::test]
async fn one_workspace_key_never_reads_or_changes_another() {
    let stack = TestStack::new().await;
    let receiver_a = Receiver::start().await;
    let receiver_b = Receiver::start().await;
    let (ws_a, key_a) = stack.workspace("a@tenancy.test").await;
    let (_, key_b) = stack.workspace("b@tenancy.test").await;
    let a_settings = stack.register(&key_a, &receiver_a.url()).await;
    stack.ingest(&key_a, SEED).await;
    stack.drain().await;

    // B sees no webhook and an empty log: A's data is invisible to B's key.
    let b_get = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key_b), None)
        .await;
    assert_eq!(b_get.status, StatusCode::NOT_FOUND);
    let b_log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key_b), None)
        .await;
    assert_eq!(b_log.body["requests"], json!([]));
    assert_eq!(
        stack
            .call(
                Method::POST,
                "/v1/webhooks/outbound/enable",
                Some(&key_b),
                None
            )
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // B's changes land on B only.
    stack.register(&key_b, &receiver_b.url()).await;
    let a_after = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key_a), None)
        .await;
    assert_eq!(a_after.body["url"], a_settings["url"]);
    assert_eq!(a_after.body["secret"], a_settings["secret"]);

    // The same message id in B is B's own message, delivered to B.
    assert_eq!(stack.ingest(&key_b, SEED).await.body["accepted"], 1);
    stack.drain().await;
    assert_eq!(
        (receiver_a.received().len(), receiver_b.received().len()),
        (1, 1)
    );

    // A key naming A's workspace with B's secret is refused.
    let secret_b = key_b.rsplit('.').next().unwrap();
    let forged = format!("ofk.{ws_a}.{secret_b}");
    let r = stack
        .call(
            Method::GET,
            "/v1/webhooks/outbound/log",
            Some(&forged),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// A stack that refuses loopback destinations, as deployed.
async fn strict_stack() -> TestStack {
    TestStack::with(Options {
        url_policy: UrlPolicy {
            allow_loopback: false,
        },
        ..Options::default()
    })
    .await
}

/// Stores `url` as the webhook of `ws` directly, bypassing the registration check.
async fn store_unchecked(stack: &TestStack, ws: &str, url: &str, enabled: bool) {
    let settings = WebhookSettings {
        url: url.into(),
        enabled,
        aggregation: Aggregation::None,
        continuous_conversation: false,
        new_secret: outflow::signing::generate_secret(),
        saved_at: stack.app.clock.now(),
        release_nonce: 1,
        registers: None,
    };
    let ws = WorkspaceId::parse(ws).unwrap();
    stack
        .app
        .api
        .store
        .put_webhook(&ws, &settings)
        .await
        .unwrap()
        .expect("a save that does not register is written");
}

#[tokio::test]
async fn internal_destinations_are_refused_at_registration() {
    let stack = strict_stack().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@ssrf.test").await;
    let localhost = receiver.url().replace("127.0.0.1", "localhost");
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]/",
        localhost.as_str(),
        receiver.url().as_str(),
        "ftp://files.example.com/",
        "http://evil@127.0.0.1/",
        "http://2130706433/",
    ] {
        let body = json!({"url": url, "enabled": true, "aggregation": "none"}).to_string();
        let r = stack
            .call(
                Method::PUT,
                "/v1/webhooks/outbound",
                Some(&key),
                Some(body.into()),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {:?}",
            r.body
        );
        assert_eq!(r.body["error"]["field"], "url");
    }
    assert_eq!(
        stack.items_with_attribute("secret").await,
        0,
        "nothing was written"
    );
}

#[tokio::test]
async fn a_host_that_resolves_inside_is_refused_again_at_send_time() {
    let stack = strict_stack().await;
    let receiver = Receiver::start().await;
    let (ws, key) = stack.workspace("owner@rebind.test").await;
    // As if the name resolved publicly at registration and was re-pointed afterwards (DNS
    // rebinding).
    let url = receiver.url().replace("127.0.0.1", "localhost");
    store_unchecked(&stack, &ws, &url, false).await;
    assert_eq!(stack.enable(&key).await.status, StatusCode::OK);
    stack.ingest(&key, SEED).await;
    assert_eq!(stack.drain().await.failed, 1);
    assert!(
        receiver.received().is_empty(),
        "no request reached the internal address"
    );
    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    let error = log.body["requests"][0]["error"].as_str().unwrap();
    assert!(error.contains("internal address"), "{error}");
}

#[tokio::test]
async fn a_webhook_whose_url_went_bad_can_still_be_switched_off_and_its_url_replaced() {
    let stack = strict_stack().await;
    let receiver = Receiver::start().await;
    let (ws, key) = stack.workspace("owner@lapsed.test").await;
    // As if the domain lapsed and now points inside (or nowhere) after registration.
    let bad = receiver.url().replace("127.0.0.1", "localhost");
    store_unchecked(&stack, &ws, &bad, true).await;
    let store = stack.app.api.store.clone();
    let ws = WorkspaceId::parse(&ws).unwrap();

    // Switching it off keeps the URL it has: nothing new is called, so nothing is refused.
    let off = json!({"url": bad, "enabled": false, "aggregation": "none"});
    let r = stack.save_settings(&key, &off).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["enabled"], false);
    let patch = json!({"enabled": false, "aggregation": "1h"}).to_string();
    let r = stack
        .call(
            Method::PATCH,
            "/v1/endpoints/default",
            Some(&key),
            Some(patch.into()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["aggregation"], "1h");
    let stored = store.webhook(&ws).await.unwrap().unwrap();
    assert!(!stored.enabled, "the webhook is off");

    // A new internal URL is still refused, and leaves the stored one as it was.
    let elsewhere = json!({"url": "http://10.0.0.1/", "enabled": false, "aggregation": "none"});
    let r = stack.save_settings(&key, &elsewhere).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(store.webhook(&ws).await.unwrap().unwrap().url, bad);

    // Switched back on with the same URL, the send-time guard still refuses its address.
    let on = json!({"url": bad, "enabled": true, "aggregation": "none"});
    assert_eq!(stack.save_settings(&key, &on).await.status, StatusCode::OK);
    stack.ingest(&key, SEED).await;
    assert_eq!(stack.drain().await.failed, 1);
    assert!(receiver.received().is_empty(), "nothing reached it");
}

#[tokio::test]
async fn a_rotated_api_key_stops_working_at_once() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (ws, old) = stack.workspace("owner@keys.test").await;
    stack.register(&old, &receiver.url()).await;
    let rotated = stack
        .call(Method::POST, "/v1/api-keys/rotate", Some(&old), None)
        .await;
    assert_eq!(rotated.status, StatusCode::CREATED);
    assert_eq!(rotated.body["workspace_id"], ws.as_str());
    let new = rotated.body["api_key"].as_str().unwrap().to_string();
    assert_ne!(new, old);

    let with_old = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&old), None)
        .await;
    assert_eq!(with_old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        stack.ingest(&old, SEED).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = stack
        .call(Method::POST, "/v1/api-keys/rotate", Some(&old), None)
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);

    let with_new = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&new), None)
        .await;
    assert_eq!(
        with_new.status,
        StatusCode::OK,
        "settings survive the rotation"
    );
    assert_eq!(stack.ingest(&new, SEED).await.body["accepted"], 1);
    assert_eq!(
        stack.api_key_hashes(&ws).await,
        vec![ApiKey::presented(&new).hash()],
        "only the new key's hash is stored"
    );
    assert!(
        !stack
            .items()
            .await
            .iter()
            .any(|i| format!("{i:?}").contains(&new)),
        "keys are stored hashed"
    );
}

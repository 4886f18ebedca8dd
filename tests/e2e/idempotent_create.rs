//! `POST /v1/endpoints` with an `Idempotency-Key`: a client retrying a create after a 5xx
//! or a lost answer gets the endpoint the first request made, never a second one copying
//! every delivery; a key reused for another request is refused, a refused request frees
//! its key, and only the request that claimed a key ever writes its endpoint.

use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::{Method, StatusCode};
use outflow::domain::{EndpointId, IdempotencyKey, Timestamp, WorkspaceId};
use outflow::store::FirstUse;
use outflow_e2e::{Fault, Receiver, Response, Rule, TestStack};
use outflow_local::runtime_api::{
    http_api_request_event, sibling_binary, start_function, TEMPLATE_MEMORY_MIB,
};
use serde_json::{json, Value};
use std::time::Duration;

const SEED: &str = include_str!("../../../shared/fixtures/timelines_message_example.json");

/// `POST /v1/endpoints` with `key` as its `Idempotency-Key`.
async fn create(stack: &TestStack, api_key: &str, key: &str, body: &Value) -> Response {
    let body = body.to_string().into_bytes();
    let headers = [("idempotency-key", key)];
    let path = "/v1/endpoints";
    (stack.call_with(Method::POST, path, Some(api_key), Some(body), &headers)).await
}

/// The ids `GET /v1/endpoints` lists.
async fn listed(stack: &TestStack, api_key: &str) -> Vec<String> {
    let r = stack
        .call(Method::GET, "/v1/endpoints", Some(api_key), None)
        .await;
    let endpoints = r.body["endpoints"].as_array().unwrap();
    let ids = endpoints.iter().map(|e| e["endpoint_id"].as_str().unwrap());
    ids.map(str::to_string).collect()
}

fn replayed(r: &Response) -> bool {
    r.headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

#[tokio::test]
async fn a_create_repeated_with_its_key_makes_one_endpoint_and_one_delivery_each() {
    let stack = TestStack::new().await;
    let (first, second) = (Receiver::start().await, Receiver::start().await);
    let (_, api_key) = stack.workspace("owner@idempotent.test").await;
    let default = json!({"url": first.url()});
    let other = json!({"url": second.url(), "description": "CRM"});

    let made = create(&stack, &api_key, "key-default", &default).await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    assert!(!replayed(&made));
    let again = create(&stack, &api_key, "key-default", &default).await;
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
    assert!(
        replayed(&again),
        "the answer says an earlier request made it"
    );
    assert_eq!(again.body["endpoint_id"], "default");

    let made = create(&stack, &api_key, "key-crm", &other).await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let id = made.body["endpoint_id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        let again = create(&stack, &api_key, "key-crm", &other).await;
        assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
        assert_eq!(again.body["endpoint_id"], id.as_str());
        assert_eq!(again.body["secret"], made.body["secret"]);
        assert!(replayed(&again));
    }
    assert_eq!(listed(&stack, &api_key).await, vec!["default", id.as_str()]);

    // Each receiver gets the message once: no copy went to a second endpoint.
    stack.ingest(&api_key, SEED).await;
    stack.drain().await;
    assert_eq!((first.received().len(), second.received().len()), (1, 1));
    // The key came with another request: refused, and nothing made.
    let elsewhere = json!({"url": second.url(), "description": "ERP"});
    let r = create(&stack, &api_key, "key-crm", &elsewhere).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["error"]["field"], "Idempotency-Key");
    assert_eq!(listed(&stack, &api_key).await.len(), 2);
}

#[tokio::test]
async fn a_refused_create_frees_its_key_and_a_deleted_endpoints_key_makes_nothing_again() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (ws, api_key) = stack.workspace("owner@idempotent.test").await;
    stack.register(&api_key, &receiver.url()).await;
    for bad in ["", "two words", &"k".repeat(256)] {
        let r = create(&stack, &api_key, bad, &json!({"url": receiver.url()})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}: {:?}", r.body);
        assert_eq!(r.body["error"]["field"], "Idempotency-Key");
    }

    // Refused (only the default continues chats): the same key with the fixed body makes it.
    let wrong = json!({"url": receiver.url(), "continuous_conversation": true});
    let r = create(&stack, &api_key, "key-1", &wrong).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    let right = json!({"url": receiver.url()});
    let made = create(&stack, &api_key, "key-1", &right).await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    assert!(!replayed(&made));

    // Deleted, its key's repeat is refused rather than bringing it back.
    let id = made.body["endpoint_id"].as_str().unwrap();
    let path = format!("/v1/endpoints/{id}");
    let deleted = stack
        .call(Method::DELETE, &path, Some(&api_key), None)
        .await;
    assert!(deleted.status.is_success(), "{:?}", deleted.body);
    let r = create(&stack, &api_key, "key-1", &right).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    // Also once a cut-off create would be taken over: its request reached its listing.
    two_minutes_pass(&stack, &ws, "key-1").await;
    let r = create(&stack, &api_key, "key-1", &right).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(listed(&stack, &api_key).await, vec!["default"]);

    // Keys are the workspace's own: another workspace's same key makes its own endpoint.
    let (_, other_key) = stack.workspace("other@idempotent.test").await;
    let r = create(&stack, &other_key, "key-1", &right).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert!(!replayed(&r));
}

#[tokio::test]
async fn a_create_retried_after_a_5xx_finishes_or_answers_the_one_endpoint() {
    let stack = TestStack::behind_faults().await;
    let receiver = Receiver::start().await;
    let (_, api_key) = stack.workspace("owner@idempotent.test").await;
    stack.register(&api_key, &receiver.url()).await;
    let proxy = stack.faults.as_ref().unwrap();
    let body = json!({"url": receiver.url()});

    // Made and listed, then its answer fails (the activity read of the view).
    let activity = Rule::always("DynamoDB.Query", Fault::ServerError(500));
    proxy.inject(activity.when_body_contains("ACT#"));
    let r = create(&stack, &api_key, "after-listing", &body).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    proxy.clear();
    let r = create(&stack, &api_key, "after-listing", &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert!(replayed(&r), "the first request made it");
    assert_eq!(listed(&stack, &api_key).await.len(), 2, "one more, not two");

    // Its listing fails: nothing stays, the key is freed, and the retry makes it anew.
    let listing = Rule::always("DynamoDB.UpdateItem", Fault::ServerError(500));
    proxy.inject(listing.when_body_contains("ADD #endpoints"));
    let r = create(&stack, &api_key, "listing-fails", &body).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    proxy.clear();
    assert_eq!(listed(&stack, &api_key).await.len(), 2, "not listed");
    let r = create(&stack, &api_key, "listing-fails", &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert!(!replayed(&r), "made by this request");
    assert_eq!(listed(&stack, &api_key).await.len(), 3);
    assert_eq!(
        stack.items_with_attribute("endpoint_of").await,
        2,
        "no endpoint item was left unlisted"
    );
}

#[tokio::test]
async fn the_last_free_place_is_taken_once_by_two_identical_requests_or_a_lost_answer() {
    let stack = TestStack::behind_faults().await;
    let receiver = Receiver::start().await;
    let (_, api_key) = stack.workspace("owner@idempotent.test").await;
    stack.register(&api_key, &receiver.url()).await;
    for n in 0..7 {
        let r = create(
            &stack,
            &api_key,
            &format!("fill-{n}"),
            &json!({"url": receiver.url()}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    assert_eq!(listed(&stack, &api_key).await.len(), 8);

    // Two identical requests at once: one makes it, the other answers it or says wait.
    let body = json!({"url": receiver.url(), "description": "twice"});
    let (a, b) = tokio::join!(
        create(&stack, &api_key, "twice", &body),
        create(&stack, &api_key, "twice", &body)
    );
    let made: Vec<&Response> = [&a, &b]
        .into_iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .collect();
    assert!(!made.is_empty(), "{:?} {:?}", a.body, b.body);
    for r in [&a, &b] {
        assert!(
            matches!(r.status, StatusCode::CREATED | StatusCode::CONFLICT),
            "{:?}",
            r.body
        );
    }
    assert!(made
        .windows(2)
        .all(|w| w[0].body["endpoint_id"] == w[1].body["endpoint_id"]));
    assert_eq!(listed(&stack, &api_key).await.len(), 9, "one more");

    // The last place: the listing is made, its answer lost; the SDK's retry finds it listed.
    let proxy = stack.faults.as_ref().unwrap();
    let lost = Rule::always("DynamoDB.UpdateItem", Fault::LostAnswer);
    proxy.inject(lost.when_body_contains("ADD #endpoints").times(1));
    let r = create(&stack, &api_key, "last", &json!({"url": receiver.url()})).await;
    assert_eq!(proxy.injected(), 1, "the answer was lost");
    // Before: the retry met the limit, and the listed endpoint's item was deleted.
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let ids = listed(&stack, &api_key).await;
    assert_eq!(ids.len(), 10, "{ids:?}");
    assert!(ids.iter().any(|id| r.body["endpoint_id"] == id.as_str()));
}

#[tokio::test]
async fn a_first_create_failing_before_its_write_is_made_by_its_retry_or_beside_the_default_another_made(
) {
    let stack = TestStack::behind_faults().await;
    let (mine, theirs) = (Receiver::start().await, Receiver::start().await);
    let proxy = stack.faults.as_ref().unwrap();
    let body = json!({"url": mine.url()});
    let settings_write = || Rule::always("DynamoDB.UpdateItem", Fault::ServerError(500));
    for (owner, another_registers) in [("a@idempotent.test", false), ("b@idempotent.test", true)] {
        let (_, api_key) = stack.workspace(owner).await;
        proxy.inject(settings_write().when_body_contains("#url = :url"));
        let r = create(&stack, &api_key, "first", &body).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
        proxy.clear();
        if another_registers {
            stack.register(&api_key, &theirs.url()).await;
        }
        let r = create(&stack, &api_key, "first", &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert!(!replayed(&r), "made by the retry");
        if another_registers {
            // Not replayed as this request's (the default has another URL), nor refused:
            // made beside it, and the key now names it.
            let id = r.body["endpoint_id"].as_str().unwrap();
            assert_ne!(id, "default");
            assert_eq!(listed(&stack, &api_key).await, vec!["default", id]);
            let again = create(&stack, &api_key, "first", &body).await;
            assert!(replayed(&again), "{:?}", again.body);
            assert_eq!(again.body["endpoint_id"], id);
        } else {
            assert_eq!(r.body["endpoint_id"], "default");
            assert_eq!(listed(&stack, &api_key).await, vec!["default"]);
        }
    }
}

/// Holds the first UpdateItem holding `text` (a settings write naming its URL) until
/// `meanwhile` is done.
async fn while_held<T>(
    stack: &TestStack,
    text: &str,
    request: impl std::future::Future<Output = Response>,
    meanwhile: impl std::future::Future<Output = T>,
) -> (Response, T) {
    let proxy = stack.faults.as_ref().unwrap();
    proxy
        .while_held(("DynamoDB.UpdateItem", text), request, meanwhile)
        .await
}

#[tokio::test]
async fn a_first_keyed_create_overtaken_at_its_write_answers_its_repeat_or_makes_one_more() {
    let stack = TestStack::behind_faults().await;
    let (mine, theirs) = (Receiver::start().await, Receiver::start().await);
    let body = json!({"url": mine.url()});

    // Its repeat (the same key) makes the default while its write waits: answered with it.
    // The filter is large enough for an item of its own, which both write and one names.
    let chats: Vec<String> = (0..25).map(|i| format!("{i}-a-long-chat-id")).collect();
    let filtered = json!({"url": mine.url(), "filter": {"chat_ids": chats}});
    let (_, api_key) = stack.workspace("repeat@idempotent.test").await;
    let first = create(&stack, &api_key, "k", &filtered);
    let (first, repeat) = while_held(&stack, &mine.url(), first, async {
        create(&stack, &api_key, "k", &filtered).await
    })
    .await;
    assert_eq!(repeat.status, StatusCode::CREATED, "{:?}", repeat.body);
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert_eq!(first.body["endpoint_id"], "default");
    assert!(replayed(&first), "made by its repeat");
    assert_eq!(first.body["secret"], repeat.body["secret"]);
    assert_eq!(listed(&stack, &api_key).await, vec!["default"]);
    // Saved once: not written again over the repeat's.
    let saved = first.body["activity"].as_array().unwrap();
    assert_eq!(saved.len(), 1, "{saved:?}");
    // The filter's item is there for what reads it.
    let path = "/v1/webhooks/outbound";
    let shown = stack.call(Method::GET, path, Some(&api_key), None).await;
    assert_eq!(shown.status, StatusCode::OK, "{:?}", shown.body);
    assert_eq!(
        shown.body["filter"]["chat_ids"].as_array().unwrap().len(),
        25
    );

    // Another request makes the default with another URL: this one is made beside it.
    let (_, api_key) = stack.workspace("another@idempotent.test").await;
    let first = create(&stack, &api_key, "k", &body);
    let (first, ()) = while_held(&stack, &mine.url(), first, async {
        stack.register(&api_key, &theirs.url()).await;
    })
    .await;
    // Before: the held write replaced the other's URL, and answered as the default.
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let id = first.body["endpoint_id"].as_str().unwrap();
    assert_ne!(id, "default");
    assert_eq!(first.body["url"], mine.url().as_str());
    assert_eq!(listed(&stack, &api_key).await, vec!["default", id]);
    let again = create(&stack, &api_key, "k", &body).await;
    assert!(replayed(&again), "the key names the endpoint made");
    assert_eq!(again.body["endpoint_id"], id);
    stack.ingest(&api_key, SEED).await;
    stack.drain().await;
    assert_eq!((mine.received().len(), theirs.received().len()), (1, 1));
}

/// Claims `k` in a new workspace of `owner` for a new endpoint, as a create would: the
/// workspace, the key, the time and the claim.
async fn claimed_key(
    stack: &TestStack,
    owner: &str,
) -> (WorkspaceId, IdempotencyKey, Timestamp, FirstUse) {
    let (ws, _) = stack.workspace(&format!("{owner}@idempotent.test")).await;
    let ws = WorkspaceId::parse(&ws).unwrap();
    let key = IdempotencyKey::parse("k").unwrap();
    let now = stack.app.clock.now();
    let first = FirstUse {
        endpoint: EndpointId::generate(),
        request: "digest".into(),
    };
    let store = &stack.app.api.store;
    let claimed = store.claim_idempotency(&ws, &key, &first, now).await;
    assert_eq!(claimed.unwrap(), None, "a new key");
    (ws, key, now, first)
}

#[tokio::test]
async fn a_key_is_freed_only_while_it_names_the_endpoint_its_request_was_to_make() {
    let stack = TestStack::new().await;
    let (ws, key, now, first) = claimed_key(&stack, "forget").await;
    let store = &stack.app.api.store;
    // A request that was to make the default, its key claimed again since for another.
    let default = EndpointId::default_endpoint();
    store.forget_idempotency(&ws, &key, &default).await.unwrap();
    let again = store
        .claim_idempotency(&ws, &key, &first, now)
        .await
        .unwrap();
    let again = again.map(|used| used.first);
    assert_eq!(again, Some(first.clone()), "the record stays");
    store
        .forget_idempotency(&ws, &key, &first.endpoint)
        .await
        .unwrap();
    let again = store
        .claim_idempotency(&ws, &key, &first, now)
        .await
        .unwrap();
    assert_eq!(again, None, "freed: claimed afresh");
}

#[tokio::test]
async fn a_key_is_taken_over_only_from_its_endpoint_and_before_its_listing() {
    let stack = TestStack::new().await;
    let (ws, key, now, first) = claimed_key(&stack, "take-over").await;
    let store = &stack.app.api.store;
    let (left, a, b) = (
        &first.endpoint,
        EndpointId::generate(),
        EndpointId::generate(),
    );
    let take = |from, to| store.take_over_idempotency(&ws, &key, (from, to), now);
    assert!(!take(&b, &a).await.unwrap(), "not from another endpoint");
    assert!(take(left, &a).await.unwrap());
    assert!(
        take(left, &a).await.unwrap(),
        "its retry after a lost answer"
    );
    assert!(!take(left, &b).await.unwrap(), "taken over once");
    assert!(
        !store.mark_listing(&ws, &key, left).await.unwrap(),
        "not its"
    );
    assert!(store.mark_listing(&ws, &key, &a).await.unwrap());
    assert!(!take(&a, &b).await.unwrap(), "never once listing");
    let used = store.claim_idempotency(&ws, &key, &first, now).await;
    let used = used.unwrap().unwrap();
    assert_eq!((used.first.endpoint, used.listing), (a, true));
}

#[tokio::test]
async fn a_keyed_create_whose_claim_answer_is_lost_makes_its_endpoint() {
    let stack = TestStack::behind_faults().await;
    let (default, added) = (Receiver::start().await, Receiver::start().await);
    let (_, api_key) = stack.workspace("lost-claim@idempotent.test").await;
    stack.register(&api_key, &default.url()).await;
    let proxy = stack.faults.as_ref().unwrap();
    let claim = Rule::always("DynamoDB.PutItem", Fault::LostAnswer);
    proxy.inject(claim.when_body_contains("IDEM#").times(1));
    let body = json!({"url": added.url()});
    // Before: its retried claim read its own record as another request's (a 409).
    let made = create(&stack, &api_key, "lost", &body).await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    assert!(!replayed(&made));
    assert_eq!(proxy.injected(), 1);
    let id = made.body["endpoint_id"].as_str().unwrap();
    assert_eq!(listed(&stack, &api_key).await, vec!["default", id]);
    let again = create(&stack, &api_key, "lost", &body).await;
    assert!(replayed(&again), "{:?}", again.body);
    assert_eq!(again.body["endpoint_id"], id);
}

#[tokio::test]
async fn a_keys_default_is_its_own_by_its_mark_not_by_its_url() {
    let stack = TestStack::behind_faults().await;
    let (mine, moved) = (Receiver::start().await, Receiver::start().await);
    let body = json!({"url": mine.url()});

    // Made, its answer lost to the client; the owner moves the default; the retry comes.
    let (_, api_key) = stack.workspace("moved@idempotent.test").await;
    let made = create(&stack, &api_key, "k", &body).await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    stack.register(&api_key, &moved.url()).await;
    let again = create(&stack, &api_key, "k", &body).await;
    // Before: a second endpoint, to the URL the owner moved away from.
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
    assert!(replayed(&again), "{:?}", again.body);
    assert_eq!(again.body["endpoint_id"], "default");
    assert_eq!(again.body["url"], moved.url().as_str());
    assert_eq!(listed(&stack, &api_key).await, vec!["default"]);

    // Two keys, one URL, at once: the one overtaken at its write is made beside the
    // other, not told the other's is its own.
    let (_, api_key) = stack.workspace("two-keys@idempotent.test").await;
    let second = create(&stack, &api_key, "k-2", &body);
    let (second, first) = while_held(&stack, &mine.url(), second, async {
        create(&stack, &api_key, "k-1", &body).await
    })
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert_eq!(first.body["endpoint_id"], "default");
    assert_eq!(second.status, StatusCode::CREATED, "{:?}", second.body);
    assert!(!replayed(&second), "{:?}", second.body);
    let id = second.body["endpoint_id"].as_str().unwrap();
    assert_ne!(id, "default");
    assert_eq!(listed(&stack, &api_key).await, vec!["default", id]);
    for (key, id) in [("k-1", "default"), ("k-2", id)] {
        let again = create(&stack, &api_key, key, &body).await;
        assert!(replayed(&again), "{key}: {:?}", again.body);
        assert_eq!(again.body["endpoint_id"], id);
    }
}

/// Moves the claim of `key` in `ws` two minutes back, as if its request had claimed it
/// then: past the minute after which one not listing counts as cut off.
async fn two_minutes_pass(stack: &TestStack, ws: &str, key: &str) {
    let digest = IdempotencyKey::parse(key)
        .unwrap()
        .digest(&WorkspaceId::parse(ws).unwrap());
    let record = (format!("WS#{ws}"), format!("IDEM#{digest}"));
    let back = AttributeValue::N("120000".into());
    let update = "SET claimed = claimed - :back";
    stack
        .update_item(record, update, &[], &[(":back", back)])
        .await;
}

/// Sends `POST /v1/endpoints` with `key` to the api function's binary under the runtime
/// API emulator, its first `operation` call holding `text` held (never let through), so
/// that the function is killed at its deadline (3 s) in the middle of the create.
async fn killed_while_held(
    stack: &TestStack,
    api_key: &str,
    key: &str,
    body: &Value,
    (operation, text): (&str, &str),
) {
    let proxy = stack.faults.as_ref().unwrap();
    let gate = proxy.hold_once((operation, text));
    let mut env = stack.function_env("killed-create");
    env.push(("AWS_ENDPOINT_URL".into(), proxy.url()));
    let binary = sibling_binary("outflow-api");
    let (api, mut function) = start_function(&binary, "api", &env, TEMPLATE_MEMORY_MIB)
        .await
        .unwrap();
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", key),
    ];
    let request = ("POST", "/v1/endpoints");
    let event = http_api_request_event(request, api_key, &headers, &body.to_string());
    let answer = function.invoke_or_kill(&api, &event, Duration::from_secs(3));
    let answer = answer.await.unwrap();
    assert!(answer.is_none(), "killed, not answered: {answer:?}");
    gate.until_held(&format!("{operation} holding {text:?} was held"))
        .await;
    function.stop().await;
}

#[tokio::test]
async fn a_create_killed_before_its_listing_is_made_by_its_repeat_a_minute_on() {
    let stack = TestStack::behind_faults().await;
    let (default, added) = (Receiver::start().await, Receiver::start().await);
    let (ws, api_key) = stack.workspace("killed@idempotent.test").await;
    stack.register(&api_key, &default.url()).await;
    let body = json!({"url": added.url(), "description": "CRM"});

    // Killed at its settings' write: its item is made, unlisted.
    let settings = ("DynamoDB.UpdateItem", added.url());
    killed_while_held(&stack, &api_key, "cut", &body, (settings.0, &settings.1)).await;
    assert_eq!(stack.items_with_attribute("endpoint_of").await, 1);
    // Within a minute, it may still be running.
    let r = create(&stack, &api_key, "cut", &body).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    // Before: a 409 for the key's 24 hours, and the item left for ever. The takeover's
    // answer is lost: the SDK's retry takes it over all the same.
    two_minutes_pass(&stack, &ws, "cut").await;
    let proxy = stack.faults.as_ref().unwrap();
    let takeover = Rule::always("DynamoDB.UpdateItem", Fault::LostAnswer);
    proxy.inject(takeover.when_body_contains("#claimed = :now").times(1));
    let injected = proxy.injected();
    let made = create(&stack, &api_key, "cut", &body).await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    assert!(!replayed(&made), "made by this request");
    assert_eq!(
        proxy.injected(),
        injected + 1,
        "the takeover's answer was lost"
    );
    let id = made.body["endpoint_id"].as_str().unwrap();
    assert_eq!(listed(&stack, &api_key).await, vec!["default", id]);
    let again = create(&stack, &api_key, "cut", &body).await;
    assert!(replayed(&again), "{:?}", again.body);
    assert_eq!(again.body["endpoint_id"], id);
    assert_eq!(
        stack.items_with_attribute("endpoint_of").await,
        1,
        "the cut-off create's item is gone"
    );
    stack.ingest(&api_key, SEED).await;
    stack.drain().await;
    assert_eq!((default.received().len(), added.received().len()), (1, 1));

    // Killed at its listing, which may be done: never taken over, as a deleted one.
    let other = json!({"url": added.url(), "description": "Second"});
    let listing = ("DynamoDB.UpdateItem", "ADD #endpoints");
    killed_while_held(&stack, &api_key, "cut-listing", &other, listing).await;
    two_minutes_pass(&stack, &ws, "cut-listing").await;
    let r = create(&stack, &api_key, "cut-listing", &other).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(listed(&stack, &api_key).await, vec!["default", id]);
}

#[tokio::test]
async fn a_create_still_running_when_its_key_is_taken_over_lists_nothing() {
    let stack = TestStack::behind_faults().await;
    let (default, added) = (Receiver::start().await, Receiver::start().await);
    let (ws, api_key) = stack.workspace("outlived@idempotent.test").await;
    stack.register(&api_key, &default.url()).await;
    let body = json!({"url": added.url()});
    let url = added.url();

    // Held past its minute, at its settings' write or at its listing's mark, while a
    // repeat takes its key over: it lists nothing and leaves nothing.
    let mut ids = vec!["default".to_string()];
    for (key, held) in [("at-settings", url.as_str()), ("at-mark", "SET #listing")] {
        let first = create(&stack, &api_key, key, &body);
        let repeat = Box::pin(async {
            two_minutes_pass(&stack, &ws, key).await;
            create(&stack, &api_key, key, &body).await
        });
        let (first, repeat) = while_held(&stack, held, first, repeat).await;
        assert_eq!(repeat.status, StatusCode::CREATED, "{:?}", repeat.body);
        let status = first.status;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{key}: {:?}",
            first.body
        );
        let id = repeat.body["endpoint_id"].as_str().unwrap().to_string();
        ids.push(id.clone());
        ids.sort(); // listed in id order; "default" sorts before "ep_…"
        assert_eq!(listed(&stack, &api_key).await, ids);
        assert_eq!(stack.items_with_attribute("secret").await, ids.len());
        let again = create(&stack, &api_key, key, &body).await;
        assert!(replayed(&again), "{:?}", again.body);
        assert_eq!(again.body["endpoint_id"], id.as_str());
    }
}

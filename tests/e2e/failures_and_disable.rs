//! Failure counting, automatic disable with one owner email, holding and enable.

use axum::http::{Method, StatusCode};
use outflow_e2e::{refusing_url, Fault, Options, Received, Receiver, Rule, TestStack};
use serde_json::{json, Value};
use std::time::Duration;

/// A message in a chat of its own: a chat's deliveries wait behind its failed one, so
/// counting failures needs one delivery per chat.
fn message(id: &str) -> Value {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../../shared/fixtures/timelines_message_example.json"
    ))
    .unwrap();
    v["message"]["message_id"] = id.into();
    v["chat"]["chat_id"] = format!("chat-{id}").into();
    v
}

fn batch(prefix: &str, n: usize) -> String {
    let events: Vec<Value> = (0..n).map(|i| message(&format!("{prefix}-{i}"))).collect();
    json!({ "events": events }).to_string()
}

async fn status(stack: &TestStack, key: &str) -> Value {
    let r = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(key), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    r.body
}

#[tokio::test]
async fn the_eleventh_failure_disables_once_emails_once_and_enable_resumes() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let owner = stack.unique_email("disable");
    let (ws, key) = stack.workspace(&owner).await;
    stack.register(&key, &receiver.url()).await;
    receiver.respond_with(500);

    // 12 deliveries, up to 10 failing concurrently in one sender batch: exactly one disable.
    // A delivery reaching the sender after the disable is held instead of attempted.
    stack.ingest(&key, batch("a", 12)).await;
    let stats = stack.drain().await;
    assert_eq!(stats.received, 12);
    let attempted = receiver.received().len();
    assert!(attempted == 11 || attempted == 12, "{attempted} attempts");
    assert_eq!(stats.failed, attempted);
    let held_early = 12 - attempted;

    let s = status(&stack, &key).await;
    assert_eq!(s["enabled"], false);
    assert!(s["status"]["consecutive_failures"].as_u64().unwrap() >= 11);
    assert!(s["status"]["disabled_at"].is_string());
    assert!(s["status"]["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("HTTP 500"));
    let actions: Vec<&str> = s["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.len(),
        10,
        "the activity log shows the 10 most recent actions"
    );
    assert!(actions.contains(&"disabled"), "{actions:?}");
    assert_eq!(actions.iter().filter(|a| **a == "disabled").count(), 1);
    let emails = stack.emails_to(&owner).await;
    assert_eq!(emails.len(), 1, "exactly one email: {emails:?}");
    assert!(emails[0].to_string().contains("disabled"));
    assert!(
        emails[0]
            .to_string()
            .contains("POST https://hooks.outflow.test/v1/webhooks/outbound/enable"),
        "the email links the public API: {}",
        emails[0]
    );
    // And the portal, for 7 days: its link's token opens the webhook's settings.
    let text = emails[0].to_string();
    let (_, after) = text
        .split_once("https://hooks.outflow.test/portal#token=")
        .expect("a portal link");
    let token: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
        .collect();
    let settings = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&token), None)
        .await;
    assert_eq!(settings.status, StatusCode::OK, "{:?}", settings.body);
    assert_eq!(settings.body["enabled"], false);
    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    let requests = log.body["requests"].as_array().unwrap();
    assert_eq!(requests.len(), attempted);
    assert!(requests
        .iter()
        .all(|r| r["outcome"] == "failure" && r["response"]["status"] == 500));

    // While disabled, new messages are kept, not delivered and not lost.
    receiver.respond_with(200);
    stack.ingest(&key, batch("b", 3)).await;
    assert_eq!(
        stack.drain().await.received,
        0,
        "nothing is queued while disabled"
    );
    assert_eq!(stack.items_with_prefix("HELD#").await, 3 + held_early);
    assert_eq!(receiver.received().len(), attempted);

    let store = &stack.app.api.store;
    let held: Vec<String> = store
        .kept(
            &outflow::domain::WorkspaceId::parse(&ws).unwrap(),
            outflow::domain::Kept::Held,
            0,
            100,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|kept| {
            serde_json::from_str::<Value>(&kept.envelope.body).unwrap()["message"]["message_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        held[held_early..],
        ["b-0", "b-1", "b-2"],
        "held deliveries are released oldest first"
    );

    let enabled = stack.enable(&key).await;
    assert_eq!(enabled.status, StatusCode::OK);
    assert_eq!(enabled.body["enabled"], true);
    assert_eq!(enabled.body["released"], 3 + held_early);
    assert_eq!(enabled.body["status"]["consecutive_failures"], 0);
    assert_eq!(enabled.body["status"]["disabled_at"], Value::Null);
    stack.drain().await;
    let mut ids: Vec<String> = receiver.received()[attempted..]
        .iter()
        .map(Received::message_id)
        .collect();
    ids.sort();
    let attempted_ids: Vec<String> = receiver.received()[..attempted]
        .iter()
        .map(Received::message_id)
        .collect();
    let mut expected: Vec<String> = (0..12)
        .map(|i| format!("a-{i}"))
        .filter(|id| !attempted_ids.contains(id))
        .collect();
    expected.extend(["b-0", "b-1", "b-2"].map(String::from));
    expected.sort();
    assert_eq!(ids, expected, "every held delivery arrives after enable");
    assert_eq!(stack.items_with_prefix("HELD#").await, 0);
    assert_eq!(stack.emails_to(&owner).await.len(), 1);
}

#[tokio::test]
async fn a_success_then_a_failure_in_one_batch_counts_one_and_repeats_nothing() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@mixed.test").await;
    stack.register(&key, &receiver.url()).await;
    // Failures answer late, so in a batch the success ends first.
    receiver.script(|r, _| {
        if r.message_id().starts_with("fail") {
            (500, Duration::from_millis(150))
        } else {
            (200, Duration::ZERO)
        }
    });
    let events = |ids: &[&str]| {
        let events: Vec<Value> = ids.iter().map(|id| message(id)).collect();
        json!({ "events": events }).to_string()
    };
    stack.ingest(&key, events(&["fail-0"])).await;
    assert_eq!(stack.drain().await.failed, 1);
    assert_eq!(
        status(&stack, &key).await["status"]["consecutive_failures"],
        1
    );

    // A success, then one failure: the count starts over at 1 — the value it had.
    stack.ingest(&key, events(&["ok-1", "fail-2"])).await;
    let stats = stack.drain().await;
    assert_eq!(stats.failed, 1, "only the failed delivery is handed back");
    assert_eq!(
        status(&stack, &key).await["status"]["consecutive_failures"],
        1
    );
    let delivered = receiver
        .received()
        .iter()
        .filter(|r| r.message_id() == "ok-1")
        .count();
    assert_eq!(delivered, 1, "the delivered one is not sent again");
}

#[tokio::test]
async fn a_success_in_between_resets_the_count() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@reset.test").await;
    stack.register(&key, &receiver.url()).await;

    receiver.respond_with(500);
    stack.ingest(&key, batch("a", 10)).await;
    stack.drain().await;
    assert_eq!(
        status(&stack, &key).await["status"]["consecutive_failures"],
        10
    );

    receiver.respond_with(200);
    stack.ingest(&key, batch("b", 1)).await;
    stack.drain().await;
    assert_eq!(
        status(&stack, &key).await["status"]["consecutive_failures"],
        0
    );

    receiver.respond_with(500);
    stack.ingest(&key, batch("c", 10)).await;
    stack.drain().await;
    let s = status(&stack, &key).await;
    assert_eq!(
        (
            s["enabled"].as_bool(),
            s["status"]["consecutive_failures"].as_u64()
        ),
        (Some(true), Some(10))
    );

    stack.ingest(&key, batch("d", 1)).await;
    stack.drain().await;
    let s = status(&stack, &key).await;
    assert_eq!(
        (
            s["enabled"].as_bool(),
            s["status"]["consecutive_failures"].as_u64()
        ),
        (Some(false), Some(11))
    );
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_failures_not_crashes() {
    let stack = TestStack::with(Options {
        delivery_timeout: Duration::from_millis(500),
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.delay(Duration::from_secs(3));
    let (_, key) = stack.workspace("owner@timeout.test").await;
    stack.register(&key, &receiver.url()).await;
    stack.ingest(&key, batch("slow", 1)).await;
    assert_eq!(stack.drain().await.failed, 1);

    stack.register(&key, &refusing_url().await).await;
    stack.ingest(&key, batch("refused", 1)).await;
    assert_eq!(stack.drain().await.failed, 1);

    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    let errors: Vec<&str> = log.body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["error"].as_str().unwrap())
        .collect();
    assert!(errors[0].starts_with("connection failed"), "{errors:?}");
    assert!(errors[1].starts_with("timeout"), "{errors:?}");
    // Re-registering with enabled=true resets the count, so only the refused one counts.
    assert_eq!(
        status(&stack, &key).await["status"]["consecutive_failures"],
        1
    );
    let actions = status(&stack, &key).await["activity"].to_string();
    assert!(actions.contains("delivery_failed"));
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_is_not_followed() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    receiver.respond_with(302);
    let (_, key) = stack.workspace("owner@redirect.test").await;
    stack.register(&key, &receiver.url()).await;
    stack.ingest(&key, batch("r", 1)).await;
    assert_eq!(stack.drain().await.failed, 1);
    assert_eq!(receiver.received().len(), 1);
    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    assert!(log.body["requests"][0]["error"]
        .as_str()
        .unwrap()
        .contains("redirects are not followed"));
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_moves_to_the_dead_letter_queue() {
    let stack = TestStack::with(Options {
        retry_delay_secs: 1,
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.respond_with(503);
    let (_, key) = stack.workspace(&stack.unique_email("dlq")).await;
    stack.register(&key, &receiver.url()).await;
    stack.ingest(&key, batch("dead", 1)).await;

    let max = outflow::delivery::RetryPolicy::standard().attempts() as usize;
    for _ in 0..40 {
        stack.drain().await;
        if stack.dead_letters().await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        stack.dead_letters().await,
        1,
        "the exhausted delivery is kept in the DLQ"
    );
    let got = receiver.received();
    assert_eq!(
        got.len(),
        max,
        "the schedule's attempts, then the sender dead-letters it"
    );
    let letters = stack.dead_letter_messages().await;
    let attributes = letters[0].message_attributes().unwrap();
    let attribute = |name: &str| attributes[name].string_value().unwrap().to_string();
    assert_eq!(attribute("attempts"), max.to_string());
    assert!(
        attribute("last_error").contains("503"),
        "{}",
        attribute("last_error")
    );
    let envelope: serde_json::Value = serde_json::from_str(letters[0].body().unwrap()).unwrap();
    assert_eq!(
        envelope["delivery_id"],
        got[0].header("webhook-id"),
        "the DLQ keeps the envelope"
    );
    assert!(got
        .iter()
        .all(|r| r.header("webhook-id") == got[0].header("webhook-id")));
    let s = status(&stack, &key).await;
    assert_eq!(
        s["status"]["consecutive_failures"].as_u64(),
        Some(max as u64)
    );
    assert_eq!(s["enabled"], true, "five failures do not disable");
}

#[tokio::test]
async fn a_410_gone_disables_the_webhook_at_once() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    receiver.respond_with(410);
    let owner = stack.unique_email("gone");
    let (_, key) = stack.workspace(&owner).await;
    stack.register(&key, &receiver.url()).await;
    stack.ingest(&key, batch("gone", 1)).await;
    assert_eq!(stack.drain().await.failed, 1);
    let s = status(&stack, &key).await;
    assert_eq!(s["enabled"], false);
    assert_eq!(s["status"]["consecutive_failures"], 1);
    assert!(s["status"]["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("410 Gone"));
    assert_eq!(stack.emails_to(&owner).await.len(), 1);
    // Later deliveries are held, not sent.
    stack.ingest(&key, batch("after", 1)).await;
    stack.drain().await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn retry_after_on_503_brings_the_delivery_back_when_the_receiver_asked() {
    // The schedule would wait 120 s; the receiver asks for 1 s.
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    receiver.respond_with_headers(503, &[("retry-after", "1")]);
    let (_, key) = stack.workspace(&stack.unique_email("retryafter")).await;
    stack.register(&key, &receiver.url()).await;
    stack.ingest(&key, batch("later", 1)).await;
    assert_eq!(stack.drain().await.failed, 1);
    receiver.respond_with_headers(200, &[]);
    let mut delivered = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if stack.drain().await.received == 1 {
            delivered = true;
            break;
        }
    }
    assert!(
        delivered,
        "the delivery came back after Retry-After, not after the schedule's 120 s"
    );
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
}

#[tokio::test]
async fn an_answer_with_huge_headers_is_recorded_once_and_not_sent_again() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@headers.test").await;
    stack.register(&key, &receiver.url()).await;
    // 90 headers of 3,400 backslashes: 300 KB sent, twice that once escaped in the log.
    let value = "\\".repeat(3_400);
    let names: Vec<String> = (0..90).map(|i| format!("x-big-{i:02}")).collect();
    let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), value.as_str())).collect();
    receiver.respond_with_headers(200, &headers);
    stack.ingest(&key, batch("h", 1)).await;
    let stats = stack.drain().await;
    assert_eq!(
        (stats.received, stats.failed),
        (1, 0),
        "delivered and recorded"
    );
    stack.drain().await;
    assert_eq!(receiver.received().len(), 1, "sent once");
    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    let requests = log.body["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1);
    let response = &requests[0]["response"];
    assert_eq!(response["status"], 200);
    assert_eq!(response["headers_truncated"], true);
    let kept = response["headers"].as_object().unwrap();
    assert!(
        !kept.is_empty() && kept.len() < 10,
        "{} headers kept",
        kept.len()
    );
}

/// Failing deliveries until the webhook is disabled (11 in a row).
async fn fail_until_disabled(stack: &TestStack, key: &str, prefix: &str) {
    stack.ingest(key, batch(prefix, 11)).await;
    stack.drain().await;
    assert_eq!(status(stack, key).await["enabled"], false);
}

#[tokio::test]
async fn the_owner_email_survives_an_ses_outage_and_is_capped_per_day() {
    let stack = TestStack::behind_faults().await;
    let receiver = Receiver::start().await;
    receiver.respond_with(500);
    let owner = stack.unique_email("outbox");
    let (_, key) = stack.workspace(&owner).await;
    stack.register(&key, &receiver.url()).await;
    let proxy = stack.faults.as_ref().unwrap();

    // SES is down when the webhook is disabled: the email stays owed...
    proxy.inject(Rule::always(
        "SES./v2/email/outbound-emails",
        Fault::ServerError(500),
    ));
    fail_until_disabled(&stack, &key, "a").await;
    assert!(stack.emails_to(&owner).await.is_empty());
    let activity = status(&stack, &key).await["activity"].to_string();
    assert!(
        activity.contains("Owner email failed (sent again later)"),
        "{activity}"
    );
    // ...and the workspace's next request sends it, once, when the failed try's one-minute
    // lease has run out.
    proxy.clear();
    let later = outflow::clock::Clock::system().now().utc() + chrono::Duration::minutes(5);
    stack.set_time(&later.to_rfc3339());
    stack.ingest(&key, batch("b", 1)).await;
    stack.drain().await;
    stack.ingest(&key, batch("c", 1)).await;
    stack.drain().await;
    assert_eq!(stack.emails_to(&owner).await.len(), 1);

    // Enabled again and again onto a dead receiver: at most 3 emails a day.
    for round in 0..3 {
        let enabled = stack.enable(&key).await;
        assert_eq!(enabled.status, StatusCode::OK);
        fail_until_disabled(&stack, &key, &format!("r{round}")).await;
    }
    assert_eq!(stack.emails_to(&owner).await.len(), 3, "the cap, not 4");
    let activity = status(&stack, &key).await["activity"].to_string();
    assert!(activity.contains("at most 3 emails a day"), "{activity}");
}

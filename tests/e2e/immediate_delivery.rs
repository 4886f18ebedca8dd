//! Immediate mode end to end: ingest → DynamoDB → SQS → sender → a real receiver.

use axum::http::{Method, StatusCode};
use outflow_e2e::{Options, Received, Receiver, TestStack};
use serde_json::{json, Value};
use std::time::Duration;

const SEED: &str = include_str!("../../../shared/fixtures/timelines_message_example.json");
const LIVEDESK: &str = include_str!("../../../shared/fixtures/livedesk_message_created.json");
const CONVERSATION: &str =
    include_str!("../../../shared/fixtures/livedesk_conversation_created.json");

fn livedesk(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_str(LIVEDESK).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn assert_signed(delivery: &Received, secret: &str) {
    assert!(
        delivery.signed_with(secret),
        "signature does not verify: {:?}",
        delivery.headers
    );
}

#[tokio::test]
async fn the_seed_message_reaches_the_receiver_field_for_field_and_signed() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@seed.test").await;
    let settings = stack.register(&key, &receiver.url()).await;
    let secret = settings["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));

    let r = stack.ingest(&key, SEED).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.body["accepted"], 1);
    let stats = stack.drain().await;
    assert_eq!((stats.received, stats.failed), (1, 0));

    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let seed: Value = serde_json::from_str(SEED).unwrap();
    assert_eq!(
        got[0].json(),
        seed,
        "payload must equal the seed example field for field"
    );
    assert_eq!(got[0].header("content-type"), "application/json");
    assert!(got[0].header("webhook-id").starts_with("msg_"));
    let ts: i64 = got[0].header("webhook-timestamp").parse().unwrap();
    assert!((outflow::clock::Clock::system().now().utc().timestamp() - ts).abs() < 60);
    assert_signed(&got[0], secret);
    assert!(!got[0].signed_with("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"));

    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    assert_eq!(log.status, StatusCode::OK);
    assert!(log.headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let entry = &log.body["requests"][0];
    assert_eq!(entry["outcome"], "success");
    assert_eq!(entry["response"]["status"], 200);
    assert_eq!(entry["url"], receiver.url());
    assert_eq!(entry["request_body"], got[0].body);
    assert!(!entry["request_headers"].to_string().contains(secret));
}

#[tokio::test]
async fn livedesk_messages_are_mapped_and_notes_and_activity_skipped() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@livedesk.test").await;
    let secret = stack.register(&key, &receiver.url()).await["secret"]
        .as_str()
        .unwrap()
        .to_string();

    assert_eq!(
        stack.ingest(&key, CONVERSATION).await.status,
        StatusCode::ACCEPTED
    );
    let body = json!({"events": [
        serde_json::from_str::<Value>(LIVEDESK).unwrap(),
        serde_json::from_slice::<Value>(&livedesk(|v| { v["id"] = 1.into(); v["private"] = true.into(); })).unwrap(),
        serde_json::from_slice::<Value>(&livedesk(|v| { v["id"] = 2.into(); v["message_type"] = "activity".into(); })).unwrap(),
    ]});
    let r = stack.ingest(&key, body.to_string()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        (r.body["accepted"].as_u64(), r.body["skipped"].as_u64()),
        (Some(1), Some(2))
    );
    assert!(r.body["events"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("private note"));
    assert!(r.body["events"][2]["reason"]
        .as_str()
        .unwrap()
        .contains("activity"));
    stack.drain().await;

    let got = receiver.received();
    assert_eq!(got.len(), 1, "only the customer message is delivered");
    let p = got[0].json();
    assert_eq!(p["message"]["direction"], "sent");
    assert_eq!(p["message"]["text"], "สวัสดีคุณต้องการความช่วยเหลืออะไร");
    assert_eq!(p["message"]["message_id"], "2187685");
    assert_eq!(p["message"]["timestamp"], "2026-01-21T04:04:56+0000");
    assert_eq!(
        p["message"]["sender"],
        json!({"full_name": "support", "phone": ""})
    );
    assert_eq!(
        p["message"]["recipient"],
        json!({"full_name": "Test", "phone": "+123456789"})
    );
    assert_eq!(p["chat"]["chat_id"], "89");
    assert_eq!(p["chat"]["full_name"], "Test");
    assert_eq!(p["chat"]["phone"], "+123456789");
    assert_eq!(p["chat"]["is_new_chat"], true);
    assert_eq!(p["chat"]["is_group"], false);
    assert_eq!(
        p["chat"]["chat_url"],
        "https://app.livedesk.example/app/accounts/17629000001207/conversations/89"
    );
    assert_eq!(p["whatsapp_account"]["full_name"], "Test01");
    assert_signed(&got[0], &secret);
}

#[tokio::test]
async fn is_new_chat_follows_the_conversation_lifecycle() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@lifecycle.test").await;
    stack.register(&key, &receiver.url()).await;

    let incoming = |id: u64| {
        livedesk(|v| {
            v["id"] = id.into();
            v["message_type"] = "incoming".into();
        })
    };
    stack.ingest(&key, incoming(10)).await;
    stack.drain().await;
    stack.ingest(&key, incoming(11)).await;
    stack.drain().await;
    let mut resolved: Value = serde_json::from_str(CONVERSATION).unwrap();
    resolved["event"] = "conversation_status_changed".into();
    resolved["status"] = "resolved".into();
    assert_eq!(
        stack.ingest(&key, resolved.to_string()).await.body["accepted"],
        1
    );
    stack.ingest(&key, incoming(12)).await;
    stack.drain().await;

    let flags: Vec<(String, bool)> = receiver
        .received()
        .iter()
        .map(|r| {
            let p = r.json();
            (
                p["message"]["message_id"].as_str().unwrap().to_string(),
                p["chat"]["is_new_chat"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        vec![
            ("10".into(), true),
            ("11".into(), false),
            ("12".into(), true)
        ]
    );
    assert_eq!(
        receiver.received()[0].json()["message"]["direction"],
        "received"
    );
    assert_eq!(
        receiver.received()[0].json()["message"]["sender"]["full_name"],
        "Test"
    );
}

#[tokio::test]
async fn the_same_message_id_is_stored_and_delivered_once() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@dupes.test").await;
    stack.register(&key, &receiver.url()).await;

    assert_eq!(stack.ingest(&key, SEED).await.body["accepted"], 1);
    let again = stack.ingest(&key, SEED).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(
        (
            again.body["accepted"].as_u64(),
            again.body["duplicates"].as_u64()
        ),
        (Some(0), Some(1))
    );
    let batch = stack
        .ingest(&key, format!("{{\"events\": [{SEED}, {SEED}]}}"))
        .await;
    assert_eq!(batch.body["duplicates"], 2);
    stack.drain().await;

    assert_eq!(receiver.received().len(), 1);
    assert_eq!(stack.items_with_prefix("MSG#").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_racing_with_the_same_messages_deliver_each_once() {
    // Ingest checks duplicates with one read for the whole request and writes in batches,
    // so racing requests can both find a message new; the queue drops the second enqueue.
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@race.test").await;
    stack.register(&key, &receiver.url()).await;
    let events: Vec<Value> = (0..20)
        .map(|i| {
            let mut v: Value = serde_json::from_str(SEED).unwrap();
            v["message"]["message_id"] = json!(format!("race-{i}"));
            v
        })
        .collect();
    let body = serde_json::to_vec(&json!({ "events": events })).unwrap();
    let responses =
        futures::future::join_all((0..4).map(|_| stack.ingest(&key, body.clone()))).await;
    assert!(responses.iter().all(|r| r.status == StatusCode::ACCEPTED));
    stack.drain().await;

    let mut ids: Vec<String> = receiver
        .received()
        .iter()
        .map(Received::message_id)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(receiver.received().len(), 20, "each message delivered once");
    assert_eq!(ids.len(), 20);
    assert_eq!(stack.items_with_prefix("MSG#").await, 20);
}

#[tokio::test]
async fn a_message_edited_while_its_delivery_waits_for_a_retry_goes_out_with_the_new_text() {
    let stack = TestStack::with(Options {
        retry_delay_secs: 1,
        // 100 ms stands for the 30 s: the second message waits for the retry's 1 s.
        edits_after_wait: Some(Duration::from_millis(100)),
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@retry-edit.test").await;
    // The webhook takes only the two message types: no `message:updated` tells the edit.
    stack.register(&key, &receiver.url()).await;
    receiver.respond_with(503);
    stack.ingest(&key, SEED).await;
    assert_eq!(stack.drain().await.failed, 1);
    // A second message of the chat, queued behind the failing one: it waits without ever
    // being handed out (first received with the retry).
    let mut second: Value = serde_json::from_str(SEED).unwrap();
    second["message"]["message_id"] = "second-message".into();
    assert_eq!(
        stack.ingest(&key, second.to_string()).await.body["accepted"],
        1
    );
    let edit = |id: &str, text: &str| {
        json!({"event_type": "message:updated", "chat": {"chat_id": "10010001"},
            "message": {"message_id": id, "text": text}})
    };
    let edits = json!({"events": [edit("ddfskhsd76dsfs6dsd5skjsdhf", "the new text"),
        edit("second-message", "its new text")]});
    let r = stack.ingest(&key, edits.to_string()).await;
    assert_eq!(r.body["accepted"], 2, "{}", r.body);

    receiver.respond_with(200);
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stack.drain().await;
        if receiver.received().len() == 3 {
            break;
        }
    }
    let got = receiver.received();
    let texts: Vec<Value> = got
        .iter()
        .map(|g| g.json()["message"]["text"].clone())
        .collect();
    // Before: the retry signed the first try's body again, the second went out as queued,
    // and neither edit went out.
    let edited = [
        json!("lorem ipsum"),
        json!("the new text"),
        json!("its new text"),
    ];
    assert_eq!(texts, edited);
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
}

#[tokio::test]
async fn a_retried_delivery_keeps_its_webhook_id_and_the_log_shows_both_requests() {
    let stack = TestStack::with(Options {
        retry_delay_secs: 1,
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@retry.test").await;
    let secret = stack.register(&key, &receiver.url()).await["secret"]
        .as_str()
        .unwrap()
        .to_string();
    receiver.respond_with(503);
    stack.ingest(&key, SEED).await;
    assert_eq!(stack.drain().await.failed, 1);

    receiver.respond_with(200);
    let mut delivered = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if stack.drain().await.received > 0 {
            delivered = true;
            break;
        }
    }
    assert!(
        delivered,
        "the failed delivery came back after the visibility timeout"
    );
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    assert_eq!(got[0].body, got[1].body);
    got.iter().for_each(|g| assert_signed(g, &secret));

    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    let outcomes: Vec<&str> = log.body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["success", "failure"], "newest first");
    assert_eq!(
        log.body["requests"][1]["error"],
        "HTTP 503 Service Unavailable"
    );
    let settings = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await;
    assert_eq!(
        settings.body["status"]["consecutive_failures"], 0,
        "the success reset the count"
    );
}

#[tokio::test]
async fn after_a_secret_rotation_both_signatures_are_sent_for_a_day() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@rotate.test").await;
    let old = stack.register(&key, &receiver.url()).await["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let rotated = stack
        .call(
            Method::POST,
            "/v1/webhooks/outbound/rotate-secret",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    let new = rotated.body["secret"].as_str().unwrap().to_string();
    assert!(new.starts_with("whsec_") && new != old);
    assert!(rotated.body["previous_secret_expires_at"].is_string());
    assert!(
        !rotated.body.to_string().contains(&old),
        "the old secret is never shown again"
    );

    stack.ingest(&key, SEED).await;
    stack.drain().await;
    let got = &receiver.received()[0];
    assert_eq!(got.header("webhook-signature").split(' ').count(), 2);
    assert_signed(got, &new);
    assert_signed(got, &old);
    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    let logged = log.body["requests"][0].to_string();
    assert!(
        !logged.contains(&new) && !logged.contains(&old),
        "the log holds signatures, never secrets"
    );
}

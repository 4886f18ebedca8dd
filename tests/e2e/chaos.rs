//! Chaos: a receiver that fails 30 % of requests at random (503, connection resets,
//! stalls past the timeout), 2,000 messages over 20 chats, and the sender killed mid-batch
//! and restarted twice, in immediate and 1h modes. At the end every message was delivered
//! at least once, the distinct `webhook-id`s are exactly the expected ones, anything in the
//! DLQ really used up its attempts (and was replayed), and the flaky but healthy endpoint
//! was never disabled. Time is scaled down: a 200 ms delivery timeout stands for the 10 s
//! one, 400 ms stalls for 11 s ones, 1 s for every retry delay (and the visibility timeout).

use axum::http::{Method, StatusCode};
use outflow::domain::{BundleId, ChatId, DeliveryId, MessageId, WorkspaceId};
use outflow_e2e::chaos::{ChaosReceiver, Hit, Outcome};
use outflow_e2e::{Options, TestStack};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const CHATS: usize = 20;
const MESSAGES: usize = 2_000;
const FAILURE_RATE: f64 = 0.3;
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
fn failure_rate() -> f64 {
    std::env::var("CHAOS_FAILURE_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(FAILURE_RATE)
}

fn message(chat: usize, n: usize) -> Value {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../../shared/fixtures/timelines_message_example.json"
    ))
    .unwrap();
    v["message"]["message_id"] = message_id(chat, n).into();
    v["chat"]["chat_id"] = chat_id(chat).into();
    v
}

fn chat_id(chat: usize) -> String {
    format!("chat-{chat:02}")
}

fn message_id(chat: usize, n: usize) -> String {
    format!("c{chat:02}-m{n:04}")
}

fn seed() -> u64 {
    std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random)
}

async fn stack() -> TestStack {
    TestStack::with(Options {
        delivery_timeout: Duration::from_millis(200),
        retry_delay_secs: 1,
        ..Options::default()
    })
    .await
}

/// One sender batch, dropped mid-flight once the receiver has seen `kill_at` requests:
/// the in-flight deliveries are abandoned, nothing is acknowledged, as when a Lambda
/// is killed. Returns the batch's size, or `None` when it was killed.
async fn sender_batch(
    stack: &TestStack,
    receiver: &ChaosReceiver,
    kill_at: usize,
) -> Option<usize> {
    let once = stack.pump.once(&stack.app.sender, 0);
    tokio::pin!(once);
    loop {
        tokio::select! {
            stats = &mut once => return Some(stats.map(|s| s.received).unwrap_or(0)),
            _ = tokio::time::sleep(Duration::from_millis(2)) => {
                if receiver.count() >= kill_at {
                    return None;
                }
            }
        }
    }
}

/// Message ids a delivery body carries (one message, or a bundle's).
fn carried(body: &Value) -> Vec<String> {
    match body["messages"].as_array() {
        Some(list) => list
            .iter()
            .map(|m| m["message_id"].as_str().unwrap_or_default().to_string())
            .collect(),
        None => vec![body["message"]["message_id"]
            .as_str()
            .unwrap_or_default()
            .to_string()],
    }
}

struct Run<'a> {
    name: &'a str,
    stack: &'a TestStack,
    receiver: &'a ChaosReceiver,
    key: &'a str,
    expected: BTreeSet<String>,
    messages: BTreeSet<String>,
    kill_at: [usize; 2],
    started: Instant,
    seed: u64,
}

impl Run<'_> {
    /// Ingests `requests` one by one while the sender works through the queue (one
    /// sender at a time: moto's SQS is not safe for concurrent consumers of a FIFO queue),
    /// kills the sender twice, and runs until every expected delivery got a 2xx.
    async fn run(self, requests: Vec<String>) {
        let mut requests = requests.into_iter();
        let mut kills = 0;
        let mut replays = 0;
        let mut idle = true;
        let deadline = Instant::now() + Duration::from_secs(400);
        loop {
            // The next request comes in whenever the sender has caught up, which keeps the
            // queue short (moto's FIFO send is linear in the queue's length).
            if let Some(body) = idle.then(|| requests.next()).flatten() {
                let r = self.stack.ingest(self.key, body).await;
                assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
            }
            let kill_at = self.kill_at.get(kills).copied().unwrap_or(usize::MAX);
            let Some(received) = sender_batch(self.stack, self.receiver, kill_at).await else {
                kills += 1;
                idle = false;
                // The restarted sender finds the abandoned batch hidden until its
                // visibility timeout ends.
                tokio::time::sleep(Duration::from_millis(300)).await;
                continue;
            };
            idle = received == 0;
            if received > 0 || requests.len() > 0 {
                continue;
            }
            let hits = self.receiver.hits();
            let delivered: BTreeSet<&str> = hits
                .iter()
                .filter(|h| h.outcome == Outcome::Ok)
                .map(|h| h.webhook_id.as_str())
                .collect();
            if self
                .expected
                .iter()
                .all(|id| delivered.contains(id.as_str()))
            {
                assert_eq!(kills, 2, "{}: the run ended before both kills", self.name);
                break;
            }
            if self.stack.queue_depth().await == 0 {
                // Nothing left to send, yet something is missing: it ran out of attempts.
                let body = json!({ "since": "2020-01-01T00:00:00Z" }).to_string();
                let r = self
                    .stack
                    .call(
                        Method::POST,
                        "/v1/webhooks/outbound/replay",
                        Some(self.key),
                        Some(body.into_bytes()),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::ACCEPTED, "replay: {}", r.body);
                replays += r.body["replayed"].as_u64().unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "{}: not everything delivered in time (seed {}): {} of {} delivered",
                self.name,
                self.seed,
                delivered.len(),
                self.expected.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.check(self.receiver.hits(), replays).await;
    }

    async fn check(&self, hits: Vec<Hit>, replays: u64) {
        let name = self.name;
        let ids: BTreeSet<String> = hits.iter().map(|h| h.webhook_id.clone()).collect();
        assert_eq!(
            ids, self.expected,
            "{name}: the distinct webhook-ids are the expected ones"
        );
        let mut body_of: BTreeMap<&str, &Value> = BTreeMap::new();
        for h in &hits {
            let first = body_of.entry(&h.webhook_id).or_insert(&h.body);
            assert_eq!(*first, &h.body, "{name}: one webhook-id, one body");
        }
        let delivered_messages: BTreeSet<String> = hits
            .iter()
            .filter(|h| h.outcome == Outcome::Ok)
            .flat_map(|h| carried(&h.body))
            .collect();
        assert_eq!(
            delivered_messages, self.messages,
            "{name}: every message delivered"
        );

        // Whatever reached the DLQ had really failed every attempt.
        let mut dead = 0;
        for letter in self.stack.dead_letter_messages().await {
            let envelope: Value = serde_json::from_str(letter.body().unwrap()).unwrap();
            let id = envelope["delivery_id"].as_str().unwrap();
            let failures = hits
                .iter()
                .filter(|h| h.webhook_id == id && h.outcome != Outcome::Ok)
                .count();
            assert!(
                failures >= 8,
                "{name}: {id} dead-lettered after {failures} failures"
            );
            dead += 1;
        }

        let settings = self
            .stack
            .call(Method::GET, "/v1/webhooks/outbound", Some(self.key), None)
            .await;
        let mut run = 0;
        let mut longest = 0;
        for h in &hits {
            run = if h.outcome == Outcome::Ok { 0 } else { run + 1 };
            longest = longest.max(run);
        }
        assert!(
            settings.body["enabled"] == true || longest >= 11,
            "{name}: disabled without 11 failures in a row: {}",
            settings.body
        );

        let ok = hits.iter().filter(|h| h.outcome == Outcome::Ok).count();
        // A killed batch may repeat what it delivered before it died (10 records at most,
        // twice); a sender that repeats deliveries that succeeded shows up here.
        let duplicates = ok
            - hits
                .iter()
                .filter(|h| h.outcome == Outcome::Ok)
                .map(|h| &h.webhook_id)
                .collect::<BTreeSet<_>>()
                .len();
        assert!(
            duplicates <= 2 * 10 + 10,
            "{name}: {duplicates} deliveries answered 2xx more than once (seed {})",
            self.seed
        );
        let count = |o: Outcome| hits.iter().filter(|h| h.outcome == o).count();
        let first_ok: BTreeMap<&str, Instant> = hits
            .iter()
            .filter(|h| h.outcome == Outcome::Ok)
            .fold(BTreeMap::new(), |mut m, h| {
                m.entry(h.webhook_id.as_str()).or_insert(h.at);
                m
            });
        let max_delay = first_ok
            .values()
            .map(|at| at.duration_since(self.started))
            .max()
            .unwrap_or_default();
        println!(
            "chaos {name} (seed {}): {} messages in {} deliveries; {} requests \
             ({} answered 2xx, {} 503, {} resets, {} stalls); {} duplicate 2xx deliveries; \
             2 sender kills; {} dead-lettered and replayed ({replays} re-queued); \
             longest failure run {longest}; max delay to first 2xx {:.1} s; endpoint enabled: {}",
            self.seed,
            self.messages.len(),
            self.expected.len(),
            hits.len(),
            ok,
            count(Outcome::ServerError),
            count(Outcome::Reset),
            count(Outcome::Stall),
            ok - first_ok.len(),
            dead,
            max_delay.as_secs_f64(),
            settings.body["enabled"],
        );
    }
}

/// The 2,000 messages as ingest request bodies, chats interleaved.
fn requests(per_request: usize) -> Vec<String> {
    let all: Vec<Value> = (0..MESSAGES / CHATS)
        .flat_map(|n| (0..CHATS).map(move |c| message(c, n)))
        .collect();
    all.chunks(per_request)
        .map(|chunk| json!({ "events": chunk }).to_string())
        .collect()
}

fn all_messages() -> BTreeSet<String> {
    (0..CHATS)
        .flat_map(|c| (0..MESSAGES / CHATS).map(move |n| message_id(c, n)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn immediate_mode_survives_a_flaky_receiver_and_sender_crashes() {
    let stack = stack().await;
    let seed = seed();
    let receiver = ChaosReceiver::start(seed, failure_rate(), Duration::from_millis(400)).await;
    let (ws, key) = stack.workspace(&stack.unique_email("chaos")).await;
    stack.register(&key, &receiver.url()).await;
    let ws = WorkspaceId::parse(&ws).unwrap();
    // One chaos run at a time: they share the one moto server.
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let expected = all_messages()
        .iter()
        .map(|m| DeliveryId::for_message(&ws, &MessageId::new_unchecked(m)).to_string())
        .collect();
    Run {
        name: "immediate",
        stack: &stack,
        receiver: &receiver,
        key: &key,
        expected,
        messages: all_messages(),
        kill_at: [500, 1_300],
        started,
        seed,
    }
    .run(requests(CHATS))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hourly_bundles_survive_a_flaky_receiver_and_sender_crashes() {
    let stack = stack().await;
    let seed = seed();
    let receiver = ChaosReceiver::start(seed, failure_rate(), Duration::from_millis(400)).await;
    let (ws, key) = stack.workspace(&stack.unique_email("chaos-1h")).await;
    stack.register_with(&key, &receiver.url(), "1h").await;
    let ws = WorkspaceId::parse(&ws).unwrap();
    // Five hourly windows: 400 messages each, 20 per chat.
    let hours = 5;
    let all: Vec<Value> = (0..MESSAGES / CHATS)
        .flat_map(|n| (0..CHATS).map(move |c| message(c, n)))
        .collect();
    let mut expected = BTreeSet::new();
    for (h, chunk) in all.chunks(MESSAGES / hours).enumerate() {
        stack.set_time(&format!("2026-03-01T{:02}:10:00Z", 10 + h));
        for request in chunk.chunks(100) {
            let r = stack
                .ingest(&key, json!({ "events": request }).to_string())
                .await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        }
        let start =
            chrono::DateTime::parse_from_rfc3339(&format!("2026-03-01T{:02}:00:00Z", 10 + h))
                .unwrap()
                .timestamp_millis();
        for c in 0..CHATS {
            let bundle = BundleId::for_window(
                &ws,
                &ChatId::new_unchecked(chat_id(c)),
                start,
                start + 3_600_000,
            );
            expected.insert(bundle.delivery(1).to_string());
        }
    }
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let run = stack.aggregate("2026-03-01T15:02:00Z").await;
    assert_eq!(run["bundles_enqueued"], (CHATS * hours) as u64, "{run}");
    Run {
        name: "1h",
        stack: &stack,
        receiver: &receiver,
        key: &key,
        expected,
        messages: all_messages(),
        kill_at: [25, 60],
        started,
        seed,
    }
    .run(Vec::new())
    .await;
}

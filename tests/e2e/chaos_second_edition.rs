//! Chaos, second edition: 20 tenants (10 immediate, 10 hourly; 3,000 messages), every
//! AWS operation of the functions failing 10 % of the time (throttling, 500, 503, cut
//! answers, latency: the fault proxy), 5 % of invocations (ingest, sender, aggregator)
//! killed at a random point, receivers failing 20 %, and one hostile tenant: names and
//! texts at the limits, edits, a 2,000-message window (streamed part by part), a receiver
//! answering close to the timeout and one answering with 300 KB of headers. Run once
//! with the hostile tenant and once without, it prints what was accepted, delivered,
//! dead-lettered (and replayed), lost (must be 0) and repeated, and the other tenants'
//! worst delay in both runs, and checks what the first edition checked of its one tenant
//! (which it replaces). Time is scaled down: a 200 ms delivery timeout stands for 10 s,
//! 150 ms answers for 7.5 s ones, 400 ms stalls for 11 s ones, 1 s for every retry delay,
//! 10 ms for the AWS SDK's first retry backoff.

use axum::http::{Method, StatusCode};
use outflow::domain::{BundleId, ChatId, DeliveryId, MessageId, WorkspaceId};
use outflow_e2e::chaos::{Behaviour, ChaosReceiver, Hit, Outcome};
use outflow_e2e::{Fault, Options, Rule, TestStack};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const TENANTS: usize = 20;
const CHATS: usize = 5;
const PER_CHAT: usize = 30;
const AWS_FAULT_RATE: f64 = 0.10;
const KILL_RATE: f64 = 0.05;
const RECEIVER_FAILURE_RATE: f64 = 0.20;
const HOSTILE_WINDOW: usize = 2_000;
const TIMEOUT: Duration = Duration::from_millis(200);
/// The hour every message arrives in, and the aggregator's first tick after it.
const ARRIVAL: &str = "2026-03-01T10:10:00Z";
const HOUR_START: &str = "2026-03-01T10:00:00Z";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Immediate,
    Hourly,
}

/// One workspace of the run: its receiver, what it should get, and when each message was
/// accepted.
struct Tenant {
    name: String,
    key: String,
    ws: WorkspaceId,
    mode: Mode,
    receiver: ChaosReceiver,
    hostile: bool,
    requests: Vec<String>,
    messages: BTreeSet<String>,
    /// Webhook-ids every one of which must get a 2xx (not known for a streamed window).
    expected: BTreeSet<String>,
}

fn native(chat: &str, id: &str, text: String, sender: &str) -> Value {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../../shared/fixtures/timelines_message_example.json"
    ))
    .unwrap();
    v["message"]["message_id"] = id.into();
    v["message"]["text"] = text.into();
    v["message"]["sender"]["full_name"] = sender.into();
    v["message"]["timestamp"] = "2026-03-01T10:09:00+0000".into();
    v["chat"]["chat_id"] = chat.into();
    v
}

fn bodies(events: Vec<Value>, per_request: usize) -> Vec<String> {
    events
        .chunks(per_request)
        .map(|c| json!({ "events": c }).to_string())
        .collect()
}

fn millis(at: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(at)
        .unwrap()
        .timestamp_millis()
}

/// A name at the 512-byte limit, in two-byte characters.
fn long_name() -> String {
    "é".repeat(256)
}

struct Chaos {
    stack: TestStack,
    rng: StdRng,
    kills: usize,
    started: Instant,
}

impl Chaos {
    async fn new(seed: u64) -> Self {
        let stack = TestStack::with(Options {
            delivery_timeout: TIMEOUT,
            retry_delay_secs: 1,
            faults: true,
            ..Options::default()
        })
        .await;
        Self {
            stack,
            rng: StdRng::seed_from_u64(seed),
            kills: 0,
            started: Instant::now(),
        }
    }

    /// True for an invocation to kill, with the moment to kill it.
    fn kill(&mut self, within_ms: u64) -> Option<Duration> {
        self.rng
            .gen_bool(KILL_RATE)
            .then(|| Duration::from_millis(self.rng.gen_range(0..within_ms)))
    }

    async fn tenant(&mut self, name: &str, mode: Mode, behaviour: Behaviour) -> Tenant {
        let receiver = ChaosReceiver::behaving(self.rng.gen(), behaviour).await;
        let owner = self.stack.unique_email(name);
        let (ws, key) = self.stack.workspace(&owner).await;
        let aggregation = match mode {
            Mode::Immediate => "none",
            Mode::Hourly => "1h",
        };
        self.stack
            .register_with(&key, &receiver.url(), aggregation)
            .await;
        Tenant {
            name: name.into(),
            key,
            ws: WorkspaceId::parse(&ws).unwrap(),
            mode,
            receiver,
            hostile: false,
            requests: Vec::new(),
            messages: BTreeSet::new(),
            expected: BTreeSet::new(),
        }
    }

    async fn normal_tenant(&mut self, i: usize) -> Tenant {
        let mode = if i.is_multiple_of(2) {
            Mode::Immediate
        } else {
            Mode::Hourly
        };
        let behaviour = Behaviour {
            failure_rate: RECEIVER_FAILURE_RATE,
            stall: Duration::from_millis(400),
            ..Behaviour::default()
        };
        let mut t = self.tenant(&format!("tenant{i:02}"), mode, behaviour).await;
        let mut events = Vec::new();
        for n in 0..PER_CHAT {
            for c in 0..CHATS {
                let chat = format!("chat-{c}");
                let id = format!("t{i:02}-c{c}-m{n:02}");
                events.push(native(&chat, &id, format!("hello {n}"), "Ann"));
                t.messages.insert(id.clone());
                if mode == Mode::Immediate {
                    let d = DeliveryId::for_message(&t.ws, &MessageId::new_unchecked(&id));
                    t.expected.insert(d.to_string());
                }
            }
        }
        if mode == Mode::Hourly {
            let start = millis(HOUR_START);
            for c in 0..CHATS {
                let chat = ChatId::new_unchecked(format!("chat-{c}"));
                let bundle = BundleId::for_window(&t.ws, &chat, start, start + 3_600_000);
                t.expected.insert(bundle.delivery(1).to_string());
            }
        }
        t.requests = bodies(events, 50);
        t
    }

    /// The hostile tenant's two workspaces: a flood window behind a receiver answering
    /// just under the timeout, and texts at the limit behind 300 KB of headers.
    async fn hostile_tenant(&mut self) -> Vec<Tenant> {
        let slow = Behaviour {
            answer_after: Duration::from_millis(150),
            ..Behaviour::default()
        };
        let mut flood = self.tenant("hostile-flood", Mode::Hourly, slow).await;
        flood.hostile = true;
        let events: Vec<Value> = (0..HOSTILE_WINDOW)
            .map(|n| {
                let id = format!("flood-{n:05}");
                flood.messages.insert(id.clone());
                native("flood", &id, "x".repeat(1_500), &long_name())
            })
            .collect();
        flood.requests = bodies(events, 100);
        flood.requests.extend(edits());

        let headers = Behaviour {
            header_bytes: 300 * 1024,
            ..Behaviour::default()
        };
        let mut wide = self.tenant("hostile-wide", Mode::Immediate, headers).await;
        wide.hostile = true;
        // Control characters escape to six bytes each: 10,000 of them travel as 60 KB.
        let events: Vec<Value> = (0..100)
            .map(|n| {
                let id = format!("wide-{n:03}");
                wide.messages.insert(id.clone());
                let d = DeliveryId::for_message(&wide.ws, &MessageId::new_unchecked(&id));
                wide.expected.insert(d.to_string());
                native(
                    &format!("wide-{}", n % 10),
                    &id,
                    "\u{1}".repeat(10_000),
                    &long_name(),
                )
            })
            .collect();
        wide.requests = bodies(events, 10);
        vec![flood, wide]
    }

    /// An ingest request as a client sends it: again after a 5xx or 429, or when the
    /// invocation was killed, until it is answered 202 (every message of it accepted).
    async fn ingest(&mut self, t: &Tenant, body: &str) {
        loop {
            let kill = self.kill(40);
            let answer = killable(kill, self.stack.ingest(&t.key, body.to_string())).await;
            match answer {
                Some(r) if r.status == StatusCode::ACCEPTED => return,
                Some(r) if r.status.is_server_error() || r.status.as_u16() == 429 => {}
                Some(r) => panic!("{}: refused {}: {}", t.name, r.status, r.body),
                None => self.kills += 1,
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One sender batch, killed at a random point now and then.
    async fn sender_batch(&mut self) -> usize {
        let kill = self.kill(300);
        let once = self.stack.pump.once(&self.stack.app.sender, 0);
        match killable(kill, once).await {
            Some(stats) => stats.map(|s| s.received).unwrap_or(0),
            None => {
                self.kills += 1;
                // The batch comes back when its visibility timeout ends.
                1
            }
        }
    }

    /// One scheduled aggregator run as of `now`, killed at a random point now and then
    /// (a failed or killed run is the next one's to make up for).
    async fn aggregate(&mut self, now: &str) {
        let body = json!({ "now": now }).to_string().into_bytes();
        let kill = self.kill(2_000);
        let call = self
            .stack
            .call(Method::POST, "/local/aggregate", None, Some(body));
        if killable(kill, call).await.is_none() {
            self.kills += 1;
        }
    }
}

/// Runs `call`, dropped mid-flight `kill` from now when given (as a killed Lambda stops);
/// `None` when it was.
async fn killable<T>(
    kill: Option<Duration>,
    call: impl std::future::Future<Output = T>,
) -> Option<T> {
    match kill {
        Some(after) => tokio::select! {
            out = call => Some(out),
            _ = tokio::time::sleep(after) => None,
        },
        None => Some(call.await),
    }
}

/// The hostile tenant's edits and names at the limits, as Chatwoot sends them.
fn edits() -> Vec<String> {
    let fixture = include_str!("../../../shared/fixtures/livedesk_message_created.json");
    let conversation = include_str!("../../../shared/fixtures/livedesk_conversation_created.json");
    let mut created: Value = serde_json::from_str(fixture).unwrap();
    created["content"] = "é".repeat(30_000).into();
    let mut updated = created.clone();
    updated["event"] = "message_updated".into();
    updated["content"] = "\u{1}".repeat(10_000).into();
    let mut reassigned: Value = serde_json::from_str(conversation).unwrap();
    reassigned["event"] = "conversation_updated".into();
    reassigned["meta"]["assignee"] =
        json!({"id": 9, "name": long_name(), "email": format!("{}@acme.inc", "a".repeat(400))});
    vec![
        created.to_string(),
        updated.to_string(),
        reassigned.to_string(),
    ]
}

/// Message ids a delivery body carries (one message, or a bundle's).
fn carried(body: &Value) -> Vec<String> {
    match body["messages"].as_array() {
        Some(list) => list
            .iter()
            .filter_map(|m| m["message_id"].as_str().map(str::to_string))
            .collect(),
        None => body["message"]["message_id"]
            .as_str()
            .map(|id| vec![id.to_string()])
            .unwrap_or_default(),
    }
}

/// The figures of one run.
#[derive(Debug, Default)]
struct Figures {
    accepted: usize,
    delivered: usize,
    /// Deliveries the tenants' replays re-queued (dead letters and held ones).
    requeued: u64,
    lost: usize,
    duplicates: usize,
    worst_delay: Duration,
    kills: usize,
    aws_faults: u64,
}

fn delivered_messages(hits: &[Hit]) -> BTreeSet<String> {
    hits.iter()
        .filter(|h| h.outcome == Outcome::Ok)
        .flat_map(|h| carried(&h.body))
        .collect()
}

fn done(t: &Tenant) -> bool {
    let hits = t.receiver.hits();
    let ok: BTreeSet<&str> = hits
        .iter()
        .filter(|h| h.outcome == Outcome::Ok)
        .map(|h| h.webhook_id.as_str())
        .collect();
    t.expected.iter().all(|id| ok.contains(id.as_str()))
        && delivered_messages(&hits).is_superset(&t.messages)
}

async fn run(seed: u64, hostile: bool) -> Figures {
    let mut chaos = Chaos::new(seed).await;
    let mut tenants = Vec::new();
    for i in 0..TENANTS {
        tenants.push(chaos.normal_tenant(i).await);
    }
    if hostile {
        tenants.extend(chaos.hostile_tenant().await);
    }
    chaos.stack.set_time(ARRIVAL);
    let proxy = chaos.stack.faults.clone().unwrap();
    for fault in [
        Fault::Throttle,
        Fault::ServerError(500),
        Fault::ServerError(503),
        Fault::Reset,
        Fault::Latency(Duration::from_millis(50)),
    ] {
        proxy.inject(Rule {
            rate: AWS_FAULT_RATE / 5.0,
            ..Rule::always("*", fault)
        });
    }
    chaos.started = Instant::now();

    // Requests round robin over the tenants, the sender working between them.
    let mut queue: Vec<(usize, String)> = Vec::new();
    let longest = tenants.iter().map(|t| t.requests.len()).max().unwrap_or(0);
    for r in 0..longest {
        for (i, t) in tenants.iter().enumerate() {
            if let Some(body) = t.requests.get(r) {
                queue.push((i, body.clone()));
            }
        }
    }
    let mut accepted_at: BTreeMap<String, Instant> = BTreeMap::new();
    for (i, body) in queue {
        chaos.ingest(&tenants[i], &body).await;
        let events: Value = serde_json::from_str(&body).unwrap();
        for e in events["events"].as_array().into_iter().flatten() {
            if let Some(id) = e["message"]["message_id"].as_str() {
                accepted_at
                    .entry(id.to_string())
                    .or_insert_with(Instant::now);
            }
        }
        chaos.sender_batch().await;
    }

    // The schedule: an aggregator run every 5 minutes of the stack's time.
    let mut tick = 0;
    let mut aggregated_at = None;
    let mut replays = 0;
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let mut received = 0;
        for _ in 0..20 {
            received += chaos.sender_batch().await;
        }
        let now = chrono::DateTime::parse_from_rfc3339("2026-03-01T11:02:00Z").unwrap()
            + chrono::Duration::minutes(5 * tick);
        if aggregated_at.is_none() || received == 0 {
            aggregated_at.get_or_insert_with(Instant::now);
            chaos.aggregate(&now.to_rfc3339()).await;
            tick += 1;
        }
        if tenants.iter().all(done) {
            break;
        }
        if received == 0 && chaos.stack.queue_depth().await == 0 {
            // Nothing left to send, yet something is missing: it ran out of attempts.
            for t in tenants.iter().filter(|t| !done(t)) {
                let body = json!({ "since": "2020-01-01T00:00:00Z" }).to_string();
                let r = chaos
                    .stack
                    .call(
                        Method::POST,
                        "/v1/webhooks/outbound/replay",
                        Some(&t.key),
                        Some(body.into_bytes()),
                    )
                    .await;
                replays += r.body["replayed"].as_u64().unwrap_or(0);
            }
        }
        if Instant::now() > deadline {
            break;
        }
    }
    proxy.clear();
    check(&chaos, &tenants).await;
    figures(&chaos, &tenants, &accepted_at, aggregated_at, replays)
}

/// What the first edition checked, now of every tenant: one webhook-id is one body; what
/// reached the queue's DLQ had failed every attempt; no endpoint was disabled without 11
/// failures in a row.
async fn check(chaos: &Chaos, tenants: &[Tenant]) {
    let mut hits_of: BTreeMap<String, Vec<Hit>> = BTreeMap::new();
    for t in tenants {
        let hits = t.receiver.hits();
        let mut body_of: BTreeMap<&str, &Value> = BTreeMap::new();
        for h in &hits {
            let first = body_of.entry(&h.webhook_id).or_insert(&h.body);
            assert_eq!(*first, &h.body, "{}: one webhook-id, one body", t.name);
        }
        let (mut run, mut longest) = (0, 0);
        for h in &hits {
            run = if h.outcome == Outcome::Ok { 0 } else { run + 1 };
            longest = longest.max(run);
        }
        let settings = chaos
            .stack
            .call(Method::GET, "/v1/webhooks/outbound", Some(&t.key), None)
            .await;
        assert!(
            settings.body["enabled"] == true || longest >= 11,
            "{}: disabled without 11 failures in a row: {}",
            t.name,
            settings.body
        );
        for h in hits {
            hits_of.entry(h.webhook_id.clone()).or_default().push(h);
        }
    }
    for letter in chaos.stack.dead_letter_messages().await {
        let envelope: Value = serde_json::from_str(letter.body().unwrap()).unwrap();
        let id = envelope["delivery_id"].as_str().unwrap();
        let failures = hits_of.get(id).map_or(0, |hits| {
            hits.iter().filter(|h| h.outcome != Outcome::Ok).count()
        });
        assert!(
            failures >= 8,
            "{id} dead-lettered after {failures} failures"
        );
    }
}

fn figures(
    chaos: &Chaos,
    tenants: &[Tenant],
    accepted_at: &BTreeMap<String, Instant>,
    aggregated_at: Option<Instant>,
    replays: u64,
) -> Figures {
    let mut f = Figures {
        requeued: replays,
        kills: chaos.kills,
        aws_faults: chaos.stack.faults.as_ref().map_or(0, |p| p.injected()),
        ..Figures::default()
    };
    for t in tenants {
        let hits = t.receiver.hits();
        let delivered = delivered_messages(&hits);
        f.accepted += t.messages.len();
        f.delivered += t.messages.intersection(&delivered).count();
        f.lost += t.messages.difference(&delivered).count();
        let mut first_ok: BTreeMap<&str, &Hit> = BTreeMap::new();
        let mut ok = 0;
        for h in hits.iter().filter(|h| h.outcome == Outcome::Ok) {
            ok += 1;
            first_ok.entry(&h.webhook_id).or_insert(h);
        }
        f.duplicates += ok - first_ok.len();
        if t.hostile {
            continue;
        }
        for h in first_ok.values() {
            let since = match t.mode {
                Mode::Immediate => carried(&h.body)
                    .first()
                    .and_then(|id| accepted_at.get(id))
                    .copied(),
                Mode::Hourly => aggregated_at,
            };
            if let Some(since) = since {
                f.worst_delay = f.worst_delay.max(h.at.saturating_duration_since(since));
            }
        }
    }
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_second_edition_with_aws_faults_kills_and_a_hostile_tenant() {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let mut printed = Vec::new();
    for hostile in [false, true] {
        let started = Instant::now();
        let f = run(seed, hostile).await;
        let name = if hostile { "with" } else { "without" };
        println!(
            "chaos second edition, {name} the hostile tenant (seed {seed}, {:.0} s): \
             {} messages accepted, {} delivered, {} re-queued by replays, {} lost, \
             {} duplicate 2xx deliveries; {} invocations killed, {} AWS faults injected; \
             the other tenants' worst delay {:.1} s",
            started.elapsed().as_secs_f64(),
            f.accepted,
            f.delivered,
            f.requeued,
            f.lost,
            f.duplicates,
            f.kills,
            f.aws_faults,
            f.worst_delay.as_secs_f64(),
        );
        printed.push(f);
    }
    for f in &printed {
        assert_eq!(f.lost, 0, "lost messages (seed {seed}): {f:?}");
        assert_eq!(f.accepted, f.delivered, "seed {seed}: {f:?}");
        assert!(f.kills > 0 && f.aws_faults > 0, "chaos happened: {f:?}");
    }
}

//! `outflow-measure`: AWS requests per 1,000 messages (immediate and 1h-aggregated), the
//! peak RSS of the ingest and sender binaries, and the aggregator at scale (requests and
//! items read per window, its time) against the local emulator. Run through `make bench`
//! and `make measure`; the figures go into docs/performance.md.
//!
//!   outflow-measure [PENDING_CHATS ...] [--not-due N] [--cost-chats N] [--cost-only]

use axum::routing::post;
use axum::Router;
use outflow::clock::Clock;
use outflow_local::app::LocalApp;
use outflow_local::bench::write_result;
use outflow_local::billed_units::{metered_clients, UnitMeter};
use outflow_local::pump::Pump;
use outflow_local::request_count::RequestCounter;
use outflow_local::runtime_api::ingest_request_event;
use outflow_local::stack::{self, StackNames};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::time::Instant;
use tower::ServiceExt;

mod cost;

type Counts = BTreeMap<String, u64>;

struct Bench {
    app: LocalApp,
    aws: outflow::clients::AwsClients,
    table: String,
    pump: Pump,
    counter: RequestCounter,
    meter: UnitMeter,
    key: String,
    /// The `OUTFLOW_*` settings a function binary needs to reach this stack.
    function_env: Vec<(String, String)>,
}

fn message(chat: usize, n: usize) -> Value {
    json!({
        "whatsapp_account": {"full_name": "Acme", "email": "ops@acme.test", "phone": "+100"},
        "chat": {"full_name": format!("Contact {chat}"), "responsible_name": "Agent", "responsible_email": "a@acme.test",
                 "chat_url": "", "chat_id": format!("chat-{chat}"), "is_new_chat": false, "is_group": false, "phone": "+200"},
        "message": {"direction": "received", "timestamp": "2026-03-01T10:01:00+0000", "message_id": format!("m-{chat}-{n}"),
                    "sender": {"full_name": format!("Contact {chat}"), "phone": "+200"},
                    "recipient": {"full_name": "Agent", "phone": "+100"}, "text": format!("message {n} of chat {chat}")}
    })
}

async fn call(app: &LocalApp, method: &str, path: &str, token: Option<&str>, body: Value) -> Value {
    let mut req = axum::http::Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = app
        .router()
        .oneshot(
            req.body(axum::body::Body::from(body.to_string()))
                .expect("a request"),
        )
        .await
        .expect("the router answers");
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("a body");
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

async fn bench(aggregation: &str, receiver: &str) -> Bench {
    let shared = aws_config::load_from_env().await;
    let counter = RequestCounter::default();
    let meter = UnitMeter::new(aws_sdk_dynamodb::Client::new(&shared));
    let aws = metered_clients(&shared, &counter, &meter);
    let id = format!("{}-{}", std::process::id(), unique_suffix());
    let names = StackNames {
        table: format!("outflow-measure-{id}"),
        queue: format!("outflow-measure-{id}"),
        dead_letter_queue: format!("outflow-measure-{id}-dlq"),
        sender_email: "outflow@example.com".into(),
        visibility_timeout_secs: 120,
    };
    let stack = stack::ensure(&aws, &names).await.expect("stack");
    let mut config = stack.config(&names.sender_email, "measure-admin");
    config.chat_url_base = String::new();
    config.permalink_base = "https://app.example/permalink".into();
    // A fixed clock puts every request in one window; the counter is still counted.
    config.ingest_rate.requests = 1_000_000;
    let clock = Clock::fixed("2026-03-01T10:05:00Z".parse().expect("an instant"));
    let app = LocalApp::new(&aws, &config, clock).expect("a complete config");
    let ws = call(
        &app,
        "POST",
        "/v1/workspaces",
        Some("measure-admin"),
        json!({"name": "m", "owner_email": "m@x.test"}),
    )
    .await;
    let key = ws["api_key"].as_str().expect("workspace").to_string();
    call(
        &app,
        "PUT",
        "/v1/webhooks/outbound",
        Some(&key),
        json!({"url": receiver, "aggregation": aggregation}),
    )
    .await;
    let function_env = stack.function_env("measure", "measure-admin-token-of-32-characters");
    let pump = Pump::of(&aws, &stack, "us-east-1");
    counter.take();
    meter.take();
    Bench {
        app,
        aws: aws.clone(),
        table: stack.table.clone(),
        pump,
        counter,
        meter,
        key,
        function_env,
    }
}

fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) * 1_000_000 + u64::from(rand_suffix())
}

/// A random part, so stacks of two runs never share names.
fn rand_suffix() -> u32 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u32
        % 1_000_000
}

async fn ingest(b: &Bench, chats: usize, per_chat: usize) {
    let all: Vec<Value> = (0..per_chat)
        .flat_map(|n| (0..chats).map(move |c| message(c, n)))
        .collect();
    post_events(b, &all).await;
}

/// Posts `events`, 100 per request; every one must be accepted.
async fn post_events(b: &Bench, all: &[Value]) {
    for chunk in all.chunks(100) {
        let r = call(
            &b.app,
            "POST",
            "/v1/events",
            Some(&b.key),
            json!({ "events": chunk }),
        )
        .await;
        assert_eq!(r["accepted"].as_u64(), Some(chunk.len() as u64), "{r}");
    }
}

async fn drain(b: &Bench) {
    b.pump.drain(&b.app.sender).await.expect("drain");
}

/// Prints one scenario's table; returns its figures for the bench report.
fn print_counts(title: &str, phases: &[(&str, Counts)], messages: u64) -> Value {
    println!("\n### {title}\n\n| phase | operation | requests | per 1,000 messages |\n|---|---|---:|---:|");
    let mut total = 0;
    for (phase, counts) in phases {
        for (op, n) in counts {
            total += n;
            println!(
                "| {phase} | {op} | {n} | {:.1} |",
                *n as f64 * 1000.0 / messages as f64
            );
        }
    }
    let per_1000 = total as f64 * 1000.0 / messages as f64;
    println!("| **total** | | **{total}** | **{per_1000:.1}** |");
    let operations: Vec<Value> = phases
        .iter()
        .flat_map(|(phase, counts)| {
            counts
                .iter()
                .map(move |(op, n)| json!({ "phase": phase, "operation": op, "requests": n }))
        })
        .collect();
    json!({ "messages": messages, "requests": total, "per_1000": per_1000, "operations": operations })
}

/// Starts a function's Lambda binary against a runtime API emulator, hands it one event,
/// and returns its peak RSS (KiB) after handling it, with the function's answer.
async fn peak_rss(b: &Bench, name: &str, event: &Value) -> (u64, Value) {
    let function = cost::Function::start(name, b).await;
    let answer = function.invoke(event).await;
    let rss = function
        .process
        .peak_rss_kib()
        .expect("VmHWM of the function");
    function.process.stop().await;
    (rss, answer)
}

/// Peak RSS of the ingest binary taking a 10-event request and of the sender binary
/// delivering the resulting 10-message SQS batch.
async fn batch_rss(receiver: &str) -> Value {
    let b = bench("none", receiver).await;
    let events: Vec<Value> = (0..10).map(|chat| message(chat, 0)).collect();
    let body = json!({ "events": events }).to_string();
    let (ingest_kib, answer) =
        peak_rss(&b, "outflow-ingest", &ingest_request_event(&b.key, &body)).await;
    assert_eq!(answer["statusCode"], 202, "{answer}");
    let mut messages = Vec::new();
    for _ in 0..20 {
        messages.extend(b.pump.receive(1).await.expect("receive"));
        if messages.len() >= 10 {
            break;
        }
    }
    assert_eq!(messages.len(), 10, "the request's 10 deliveries are queued");
    let (sender_kib, answer) = peak_rss(&b, "outflow-sender", &b.pump.event_json(&messages)).await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    b.pump.delete_except(&messages, &[]).await.expect("delete");
    println!(
        "\n### Peak RSS handling a batch of 10 (release Lambda binaries)\n\n\
         | function | batch | peak RSS KiB |\n|---|---|---:|\n\
         | outflow-ingest | one request of 10 events | {ingest_kib} |\n\
         | outflow-sender | one SQS event of 10 deliveries | {sender_kib} |"
    );
    json!({ "outflow-ingest": ingest_kib, "outflow-sender": sender_kib })
}

/// A receiver on 127.0.0.1 answering every POST with 200.
async fn receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let receiver = format!(
        "http://{}/hook",
        listener.local_addr().expect("its address")
    );
    tokio::spawn(async move {
        axum::serve(
            listener,
            Router::new().route("/hook", post(|| async { "ok" })),
        )
        .await
    });
    receiver
}

/// Requests per 1,000 messages over 100 chats (10 per chat window), ingested 100 events
/// per request, in immediate mode and with 1h aggregation.
async fn request_counts(receiver: &str) -> Value {
    let b = bench("none", receiver).await;
    ingest(&b, 100, 10).await;
    let ingest_counts = b.counter.take();
    drain(&b).await;
    let send_counts = b.counter.take();
    let immediate = print_counts(
        "Immediate mode, 1,000 messages",
        &[("ingest", ingest_counts), ("sender", send_counts)],
        1000,
    );
    let b = bench("1h", receiver).await;
    let aggregated = aggregated_counts(
        &b,
        "1h aggregation, 1,000 messages, 10 per chat window",
        1000,
    )
    .await;
    let three = Box::pin(three_endpoints(receiver, &["1h", "none"])).await;
    let two_immediate = Box::pin(three_endpoints(receiver, &["none", "none"])).await;
    json!({
        "immediate": immediate,
        "aggregated": aggregated,
        "three_endpoints": three,
        "three_endpoints_two_immediate": two_immediate,
    })
}

/// Adds one endpoint to `receiver` for each aggregation of `others`.
async fn add_endpoints(b: &Bench, receiver: &str, others: &[&str]) {
    for aggregation in others {
        let made = call(
            &b.app,
            "POST",
            "/v1/endpoints",
            Some(&b.key),
            json!({"url": receiver, "aggregation": aggregation}),
        )
        .await;
        assert!(made["endpoint_id"].is_string(), "{made}");
    }
}

/// The same 1,000 messages to three endpoints: the default aggregating by the hour and
/// two more with the aggregations `others`.
async fn three_endpoints(receiver: &str, others: &[&str; 2]) -> Value {
    let b = bench("1h", receiver).await;
    add_endpoints(&b, receiver, others).await;
    b.counter.take();
    let name = |a: &str| -> String {
        match a {
            "none" => "immediate".into(),
            other => other.into(),
        }
    };
    let title = format!(
        "Three endpoints (default 1h, {}, {}), 1,000 messages, 10 per chat window",
        name(others[0]),
        name(others[1])
    );
    let aggregating = 1 + others.iter().filter(|a| **a != "none").count();
    aggregated_counts(&b, &title, 1000 * aggregating).await
}

/// Requests to ingest 1,000 messages into 1h windows, bundle them (`bundled`: once per
/// aggregating endpoint) and deliver, by phase.
async fn aggregated_counts(b: &Bench, title: &str, bundled: usize) -> Value {
    ingest(b, 100, 10).await;
    let ingest_counts = b.counter.take();
    let due: chrono::DateTime<chrono::Utc> = "2026-03-01T11:05:00Z".parse().expect("an instant");
    let run = b
        .app
        .aggregator
        .run(due, None)
        .await
        .expect("the aggregator runs");
    assert_eq!(run.messages_bundled, bundled);
    let aggregate_counts = b.counter.take();
    drain(b).await;
    let send_counts = b.counter.take();
    print_counts(
        title,
        &[
            ("ingest", ingest_counts),
            ("aggregator", aggregate_counts),
            ("sender", send_counts),
        ],
        1000,
    )
}

/// One aggregator run per size of `scale`, as a table.
async fn scale_runs(receiver: &str, scale: &Scale) -> Vec<Value> {
    println!(
        "\n### Aggregator run at scale (one message per pending chat; moto with infra/moto_scale.py)\n\n\
         | pending chats | not-due chats | table items | bundles | requests | requests per window | items read | items read per window | aggregator s | ingest s |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut rows = Vec::new();
    for &pending in &scale.sizes {
        let row = scale_run(receiver, pending, scale.not_due).await;
        let number = |name: &str| row[name].as_f64().unwrap_or_default();
        println!(
            "| {pending} | {} | {} | {} | {} | {:.3} | {} | {:.2} | {:.1} | {:.1} |",
            scale.not_due,
            row["table_items"],
            row["bundles"],
            row["requests"],
            number("requests_per_window"),
            row["items_read"],
            number("items_read_per_window"),
            number("aggregator_seconds"),
            number("ingest_seconds"),
        );
        // Its requests by operation, so a change in the count can be traced to its call.
        eprintln!(
            "requests by operation at {pending} pending chats: {}",
            row["by_operation"]
        );
        rows.push(row);
    }
    rows
}

#[tokio::main]
async fn main() {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        eprintln!("AWS_ENDPOINT_URL must point at moto (run `make measure`)");
        std::process::exit(2);
    }
    let scale = scale_args();
    let receiver = receiver().await;
    write_result(
        "cost",
        &Box::pin(cost::cost_per_million(&receiver, scale.cost_chats)).await,
    )
    .expect("results written");
    if std::env::args().any(|a| a == "--cost-only") {
        return;
    }
    let requests = Box::pin(request_counts(&receiver)).await;
    write_result("rss", &batch_rss(&receiver).await).expect("results written");
    write_result("requests", &requests).expect("results written");
    if !scale.sizes.is_empty() {
        write_result("scale", &json!(scale_runs(&receiver, &scale).await))
            .expect("results written");
    }
}

/// What to measure at scale: pending-chat counts, and not-due chats to add to the table;
/// and the cost run's chats.
struct Scale {
    sizes: Vec<usize>,
    not_due: usize,
    cost_chats: usize,
}

/// `[N ...] [--not-due M] [--cost-chats C]`: an aggregator run for each N pending chats (0:
/// none), each in a table that also holds M chats whose windows are not due yet; the cost
/// run over C chats (100 unless said: `make bench-smoke` runs 10, only to see it work).
fn scale_args() -> Scale {
    let mut scale = Scale {
        sizes: Vec::new(),
        not_due: 0,
        cost_chats: cost::CHATS,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || args.next().and_then(|n| n.parse().ok());
        if arg == "--not-due" {
            scale.not_due = number().unwrap_or(0);
        } else if arg == "--cost-chats" {
            scale.cost_chats = number().filter(|&n| n > 0).unwrap_or(cost::CHATS);
        } else if let Ok(n) = arg.parse::<usize>() {
            scale.sizes.extend(Some(n).filter(|&n| n > 0));
        }
    }
    scale
}

/// Items in the table (a paged Scan, for the report only: the functions never scan).
async fn table_items(b: &Bench) -> u64 {
    let (mut total, mut start) = (0, None);
    loop {
        let out = b
            .aws
            .dynamo
            .scan()
            .table_name(&b.table)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        total += out.count.max(0) as u64;
        match out.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return total,
        }
    }
}

/// One aggregator run over `pending` chats with one message each in a due 1h window, in a
/// table that also holds `not_due` chats whose windows end an hour later (they share the
/// due index's partitions, so a run that read them would show it).
async fn scale_run(receiver: &str, pending: usize, not_due: usize) -> Value {
    let b = bench("1h", receiver).await;
    let started = Instant::now();
    if not_due > 0 {
        b.app
            .clock
            .set("2026-03-01T11:03:00Z".parse().expect("an instant"));
        ingest_chats(&b, "later", not_due).await;
        b.app
            .clock
            .set("2026-03-01T10:05:00Z".parse().expect("an instant"));
    }
    ingest_chats(&b, "chat", pending).await;
    let ingest_seconds = started.elapsed().as_secs_f64();
    let table_items = table_items(&b).await;
    b.counter.take();
    b.counter.take_items_read();
    let started = Instant::now();
    let run = b
        .app
        .aggregator
        .run("2026-03-01T11:05:00Z".parse().expect("an instant"), None)
        .await
        .expect("the aggregator runs");
    let aggregator_seconds = started.elapsed().as_secs_f64();
    assert_eq!(run.bundles_enqueued, pending);
    let by_operation = b.counter.take();
    let requests: u64 = by_operation.values().sum();
    let items_read = b.counter.take_items_read();
    json!({
        "pending_chats": pending,
        "not_due_chats": not_due,
        "table_items": table_items,
        "bundles": run.bundles_enqueued,
        "requests": requests,
        "by_operation": by_operation,
        "requests_per_window": requests as f64 / pending as f64,
        "items_read": items_read,
        "items_read_per_window": items_read as f64 / pending as f64,
        "aggregator_seconds": aggregator_seconds,
        "ingest_seconds": ingest_seconds,
    })
}

/// One message for each of `count` chats named `<prefix>-<n>`, 100 events per request.
async fn ingest_chats(b: &Bench, prefix: &str, count: usize) {
    let all: Vec<Value> = (0..count)
        .map(|c| {
            let mut m = message(c, 0);
            let chat = format!("{prefix}-{c}");
            m["chat"]["chat_id"] = json!(chat);
            m["message"]["message_id"] = json!(format!("{prefix}-m-{c}"));
            m
        })
        .collect();
    post_events(b, &all).await;
}

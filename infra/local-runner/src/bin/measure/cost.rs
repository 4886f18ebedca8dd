//! The cost run: 1,000 realistic Chatwoot `message_created` events over 100 chats (`make
//! bench-smoke`: 100 over 10, to check it runs), one per HTTP request as Chatwoot sends
//! them, to a receiver answering a small 200 — immediate, 1h with 10 per window, and three
//! endpoints (immediate, 1h, 1h). Twice per scenario: in process with every AWS request
//! metered in billed units, then through the real function binaries under the runtime API
//! emulator for Lambda's invocations, billed duration and log bytes.

use super::{add_endpoints, bench, drain, Bench};
use outflow::clock::Clock;
use outflow_local::bench::lambda_artifacts;
use outflow_local::billed_units::Units;
use outflow_local::cost::{self, LambdaUsage, Prices, Usage, TEMPLATE_PLATFORM_LOG_LEVEL};
use outflow_local::runtime_api::{
    function_url_request_event, start_function, FunctionProcess, RuntimeApi, TEMPLATE_MEMORY_MIB,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const CHATWOOT: &str =
    include_str!("../../../../../../shared/fixtures/livedesk_message_created.json");
/// Chats of the workload when `--cost-chats` does not say.
pub const CHATS: usize = 100;
/// Messages per chat: one 1h window of 10 each.
const PER_CHAT: usize = 10;

/// One scenario: the default endpoint's aggregation and the further endpoints'.
struct Scenario {
    name: &'static str,
    aggregation: &'static str,
    others: &'static [&'static str],
}

const SCENARIOS: [Scenario; 3] = [
    Scenario {
        name: "immediate",
        aggregation: "none",
        others: &[],
    },
    Scenario {
        name: "1h aggregation",
        aggregation: "1h",
        others: &[],
    },
    Scenario {
        name: "three endpoints (1h, 1h, immediate)",
        aggregation: "1h",
        others: &["1h", "none"],
    },
];

/// Chatwoot's `message_created` for message `n` of chat `chat`: the fixture with its ids changed.
fn chatwoot(chat: usize, n: usize) -> String {
    let mut event: Value = serde_json::from_str(CHATWOOT).expect("the fixture is JSON");
    event["id"] = json!(5_000_000 + chat * 1_000 + n);
    event["conversation"]["id"] = json!(10_000 + chat);
    event.to_string()
}

/// Every event of `chats` chats in the order they are sent: round after round over the chats.
fn events(chats: usize) -> impl Iterator<Item = String> {
    (0..PER_CHAT).flat_map(move |n| (0..chats).map(move |chat| chatwoot(chat, n)))
}

async fn scenario_bench(scenario: &Scenario, receiver: &str) -> Bench {
    let b = bench(scenario.aggregation, receiver).await;
    add_endpoints(&b, receiver, scenario.others).await;
    b.counter.take();
    b.meter.take();
    b
}

/// The billed units of one scenario, in process, by phase; and the write units by item kind.
async fn metered(
    scenario: &Scenario,
    receiver: &str,
    chats: usize,
) -> (Vec<(&'static str, Units)>, BTreeMap<String, f64>) {
    let b = scenario_bench(scenario, receiver).await;
    for body in events(chats) {
        let answer = call_raw(&b, body).await;
        assert_eq!(answer["accepted"], 1, "{answer}");
    }
    let mut phases = vec![("ingest", b.meter.take())];
    if scenario.aggregation != "none" {
        let due = "2026-03-01T11:05:00Z".parse().expect("an instant");
        b.app
            .aggregator
            .run(due, None)
            .await
            .expect("the aggregator runs");
        phases.push(("aggregator", b.meter.take()));
    }
    drain(&b).await;
    phases.push(("sender", b.meter.take()));
    (phases, b.meter.take_kinds())
}

async fn call_raw(b: &Bench, body: String) -> Value {
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/events")
        .header("authorization", format!("Bearer {}", b.key))
        .body(axum::body::Body::from(body))
        .expect("a request");
    let res = b
        .app
        .router()
        .oneshot(req)
        .await
        .expect("the router answers");
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("a body");
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// A function binary under its own runtime API emulator.
pub(super) struct Function {
    pub(super) api: RuntimeApi,
    pub(super) process: FunctionProcess,
    /// CPU time its init took (not an invocation's).
    init_cpu: Duration,
}

impl Function {
    /// Starts function `name`'s binary against its own emulator, ready for events.
    pub(super) async fn start(name: &str, b: &Bench) -> Function {
        let (binary, _) = lambda_artifacts(name);
        let (api, process) = start_function(&binary, name, &b.function_env, TEMPLATE_MEMORY_MIB)
            .await
            .expect("function binary started");
        process.take_lines();
        let init_cpu = process.cpu_time().expect("the function's CPU time (/proc)");
        Function {
            api,
            process,
            init_cpu,
        }
    }

    pub(super) async fn invoke(&self, event: &Value) -> Value {
        self.api
            .invoke(event, Duration::from_secs(60))
            .await
            .expect("invocation")
    }

    /// Its usage so far, and stops it.
    async fn usage(self) -> LambdaUsage {
        let cpu = self
            .process
            .cpu_time()
            .expect("the function's CPU time (/proc)");
        let usage = LambdaUsage::measured(
            &self.api.take_durations(),
            cpu.saturating_sub(self.init_cpu),
            &self.process.take_lines(),
            self.process.memory_mib(),
            TEMPLATE_PLATFORM_LOG_LEVEL,
        );
        self.process.stop().await;
        usage
    }
}

/// Lambda usage of one scenario through the binaries, by function.
async fn through_binaries(
    scenario: &Scenario,
    receiver: &str,
    chats: usize,
) -> Vec<(&'static str, LambdaUsage)> {
    let b = scenario_bench(scenario, receiver).await;
    let ingest = Function::start("outflow-ingest", &b).await;
    for body in events(chats) {
        let answer = ingest
            .invoke(&function_url_request_event(&b.key, &body))
            .await;
        assert_eq!(answer["statusCode"], 202, "{answer}");
    }
    let mut usage = vec![("ingest", ingest.usage().await)];
    if scenario.aggregation != "none" {
        let aggregator = Function::start("outflow-aggregator", &b).await;
        // Two hours on: every window the run opened is due.
        let due = Clock::system().now().utc() + chrono::Duration::hours(2);
        aggregator.invoke(&json!({ "time": due })).await;
        usage.push(("aggregator", aggregator.usage().await));
    }
    let sender = Function::start("outflow-sender", &b).await;
    loop {
        let messages = b.pump.receive(0).await.expect("receive");
        if messages.is_empty() {
            break;
        }
        let answer = sender.invoke(&b.pump.event_json(&messages)).await;
        assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
        b.pump.delete_except(&messages, &[]).await.expect("delete");
    }
    usage.push(("sender", sender.usage().await));
    usage
}

/// Runs every scenario over `chats` chats, prints its bill, and returns the figures for the
/// bench report.
pub async fn cost_per_million(receiver: &str, chats: usize) -> Value {
    let prices = Prices::load().expect("infra/prices.json");
    let mut rows = Vec::new();
    for scenario in &SCENARIOS {
        let (units, kinds) = Box::pin(metered(scenario, receiver, chats)).await;
        let lambda = Box::pin(through_binaries(scenario, receiver, chats)).await;
        let mut row = report(scenario, chats, &units, &lambda, &prices);
        println!("write units by item kind: {}", json!(kinds));
        row["write_units_by_item_kind"] = json!(kinds);
        rows.push(row);
    }
    let (binary, _) = lambda_artifacts("outflow-ingest");
    let quick = binary.components().any(|c| c.as_os_str() == "debug");
    json!({ "prices": prices, "scenarios": rows, "quick_build": quick, "messages": chats * PER_CHAT })
}

fn report(
    scenario: &Scenario,
    chats: usize,
    units: &[(&'static str, Units)],
    lambda: &[(&'static str, LambdaUsage)],
    prices: &Prices,
) -> Value {
    let usage = Usage {
        messages: (chats * PER_CHAT) as u64,
        units: units
            .iter()
            .fold(Units::default(), |sum, (_, u)| sum.plus(*u)),
        lambda: lambda
            .iter()
            .fold(LambdaUsage::default(), |sum, (_, l)| sum.plus(l)),
        // Chat systems post to the ingest function's URL (the template's IngestUrl): no
        // HTTP API request; through POST <ApiUrl>/v1/events, add its price per event.
        http_api_requests: 0,
    };
    let components = cost::per_million(&usage, prices);
    let total = cost::total_per_million(&usage, prices);
    println!(
        "\n### AWS cost per million messages, {} (Chatwoot events, one per request; {chats} chats)\n\n| component | $ per million messages |\n|---|---:|",
        scenario.name
    );
    for (name, dollars) in &components {
        println!("| {name} | {dollars:.3} |");
    }
    println!("| **total** | **{total:.2}** |");
    println!(
        "\nunits by phase: {}",
        json!(units
            .iter()
            .map(|(p, u)| json!({"phase": p, "units": u}))
            .collect::<Vec<_>>())
    );
    println!(
        "lambda by function: {}",
        json!(lambda
            .iter()
            .map(|(f, l)| json!({"function": f, "usage": l}))
            .collect::<Vec<_>>())
    );
    let memory_sizes = print_memory_sizes(lambda, usage.messages, prices);
    json!({
        "scenario": scenario.name,
        "memory_sizes": memory_sizes,
        "total": total,
        "components": components.iter().map(|(n, d)| json!({"component": n, "dollars": d})).collect::<Vec<_>>(),
        "units": units.iter().map(|(p, u)| json!({"phase": p, "units": u})).collect::<Vec<_>>(),
        "lambda": lambda.iter().map(|(f, l)| json!({"function": f, "usage": l})).collect::<Vec<_>>(),
    })
}

/// Memory sizes the functions could have: Lambda duration in dollars per million messages
/// and the mean billed milliseconds of an invocation at each, from the time and CPU measured.
fn print_memory_sizes(
    lambda: &[(&'static str, LambdaUsage)],
    messages: u64,
    prices: &Prices,
) -> Value {
    println!("\n| function: duration at | 128 MB | 256 MB | 512 MB | 1024 MB |\n|---|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for (function, usage) in lambda {
        let sizes: Vec<(u64, f64, f64)> = MEMORY_SIZES
            .iter()
            .map(|&mib| {
                let (gb_seconds, ms) = usage.at_memory(mib);
                let dollars = gb_seconds * prices.lambda_arm64_gb_second * 1e6 / messages as f64;
                (mib, dollars, ms)
            })
            .collect();
        let cells: Vec<String> = sizes
            .iter()
            .map(|(_, dollars, ms)| format!("${dollars:.3} ({ms:.1} ms)"))
            .collect();
        println!(
            "| {function} ({} invocations, {} ms CPU) | {} |",
            usage.invocations,
            usage.cpu_ms,
            cells.join(" | ")
        );
        rows.push(json!({
            "function": function,
            "sizes": sizes.iter().map(|(mib, dollars, ms)| json!({"memory_mib": mib, "dollars": dollars, "mean_ms": ms})).collect::<Vec<_>>(),
        }));
    }
    json!(rows)
}

/// The memory sizes compared.
const MEMORY_SIZES: [u64; 4] = [128, 256, 512, 1024];

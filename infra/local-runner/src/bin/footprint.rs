//! Each function's footprint as Lambda would see it: binary and zip size, and init time
//! (process start to its first poll of a local Lambda runtime API), over repeated starts.
//!
//!   outflow-footprint [RUNS]      (RUNS defaults to 20)
//!
//! Zips are read from target/lambda/<name>/bootstrap.zip and binaries from
//! target/x86_64-unknown-linux-gnu/release (`make lambda-zips`) or .../smoke-zips
//! (`make smoke-zips`), whichever is newer, else target/release, else target/debug (CI).

use outflow_local::bench::{lambda_artifacts, percentile_ms, write_result};
use outflow_local::runtime_api::{FunctionProcess, RuntimeApi};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

const FUNCTIONS: [&str; 4] = [
    "outflow-ingest",
    "outflow-api",
    "outflow-sender",
    "outflow-aggregator",
];

/// The settings the template gives every function; init reads them, nothing is called.
fn env() -> Vec<(String, String)> {
    [
        ("OUTFLOW_TABLE", "outflow"),
        (
            "OUTFLOW_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/0/outflow.fifo",
        ),
        (
            "OUTFLOW_DEAD_LETTER_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/0/outflow-dlq.fifo",
        ),
        ("OUTFLOW_SENDER_EMAIL", "outflow@example.com"),
        (
            "OUTFLOW_ADMIN_TOKEN",
            "footprint-admin-token-of-32-characters",
        ),
        ("OUTFLOW_STACK", "footprint"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn kib(path: &Path) -> Option<f64> {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.len() as f64 / 1024.0).round())
}

fn cell(value: Option<f64>) -> String {
    value
        .map(|v| format!("{v:.0}"))
        .unwrap_or_else(|| "-".into())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|r| r.parse())
        .transpose()?
        .unwrap_or(20);
    println!("| function | binary KiB | zip KiB | init p50 ms | init p90 ms | init max ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut figures = Vec::new();
    for name in FUNCTIONS {
        let (binary, zip) = lambda_artifacts(name);
        let mut inits = Vec::with_capacity(runs);
        for _ in 0..runs {
            // A fresh emulator per start: its first poll marks this process's init.
            let api = RuntimeApi::start().await?;
            let process = FunctionProcess::spawn(&binary, name, &api, &env())?;
            inits.push(process.ready(&api, Duration::from_secs(30)).await?);
            process.stop().await;
        }
        inits.sort();
        let (binary_kib, zip_kib) = (kib(&binary), zip.as_deref().and_then(kib));
        let (p50, p90, max) = (
            percentile_ms(&inits, 0.5),
            percentile_ms(&inits, 0.9),
            percentile_ms(&inits, 1.0),
        );
        println!(
            "| {name} | {} | {} | {p50:.1} | {p90:.1} | {max:.1} |",
            cell(binary_kib),
            cell(zip_kib),
        );
        // Which build was measured: release, or a quicker one (the smoke-zips profile, or
        // CI's debug build of the workspace), whose figures are shown but not judged.
        let smoke = binary
            .components()
            .any(|c| c.as_os_str() == "smoke-zips" || c.as_os_str() == "debug");
        figures.push(json!({
            "function": name,
            "smoke_build": smoke,
            "binary_kib": binary_kib,
            "zip_kib": zip_kib,
            "init_p50_ms": p50,
            "init_p90_ms": p90,
            "init_max_ms": max,
            "runs": runs,
        }));
    }
    write_result("footprint", &json!({ "functions": figures }))?;
    Ok(())
}

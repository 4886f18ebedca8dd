//! Each function's footprint as Lambda would see it: binary and zip size, and init time
//! (process start to its first poll of a local Lambda runtime API), over repeated starts.
//!
//!   outflow-footprint [RUNS]      (RUNS defaults to 20)
//!
//! Zips are read from target/lambda/<name>/bootstrap.zip and binaries from
//! target/x86_64-unknown-linux-gnu/release (`make lambda-zips`), else target/release.

use outflow_local::runtime_api::{FunctionProcess, RuntimeApi};
use std::path::{Path, PathBuf};
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

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// The deployable binary and its zip, if built: cargo-lambda's zip holds the binary
/// it built for the target triple.
fn artifacts(name: &str) -> (PathBuf, Option<PathBuf>) {
    let zip = target_dir().join("lambda").join(name).join("bootstrap.zip");
    let candidates = ["x86_64-unknown-linux-gnu/release", "release"]
        .map(|dir| target_dir().join(dir).join(name));
    // Neither built: the first, which the "not built" error then names.
    let binary = candidates
        .iter()
        .find(|p| p.is_file())
        .unwrap_or(&candidates[0])
        .clone();
    (binary, zip.is_file().then_some(zip))
}

fn kib(path: &Path) -> String {
    std::fs::metadata(path)
        .map(|m| format!("{:.0}", m.len() as f64 / 1024.0))
        .unwrap_or_else(|_| "-".into())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
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
    for name in FUNCTIONS {
        let (binary, zip) = artifacts(name);
        let mut inits = Vec::with_capacity(runs);
        for _ in 0..runs {
            // A fresh emulator per start: its first poll marks this process's init.
            let api = RuntimeApi::start().await?;
            let process = FunctionProcess::spawn(&binary, name, &api, &env())?;
            inits.push(process.ready(&api, Duration::from_secs(30)).await?);
            process.stop().await;
        }
        inits.sort();
        println!(
            "| {name} | {} | {} | {:.1} | {:.1} | {:.1} |",
            kib(&binary),
            zip.as_deref().map(kib).unwrap_or_else(|| "-".into()),
            percentile(&inits, 0.5),
            percentile(&inits, 0.9),
            percentile(&inits, 1.0),
        );
    }
    Ok(())
}

//! Delivery engine throughput (issue #6): deliveries per second from one sender process
//! (sign, POST, capture the response, classify) to a fast receiver on 127.0.0.1, next to
//! the raw POST rate `wrk` reaches against the same receiver in the same run.
//!
//!   outflow-throughput [SECONDS] [CONNECTIONS] [ROUNDS]   (defaults: 10 s, 10, 3 rounds)
//!
//! The receiver runs in a child process (this binary with `receive`), so the engine and
//! wrk each get the same machine and the same peer.

use outflow::clock::Clock;
use outflow::delivery::attempt::{attempt, Destination};
use outflow::delivery::http_client::build_client;
use outflow::domain::{DeliveryEnvelope, DeliveryId, MessageId, WorkspaceId};
use outflow::signing::generate_secret;
use outflow::url_policy::UrlPolicy;
use outflow_local::bench::{percentile_ms, results_dir, write_result};
use serde_json::json;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BODY: &str = include_str!("../../../../../shared/fixtures/timelines_message_example.json");

/// The receiver: answers every POST with 200 and a short body, as fast as it can.
async fn receive() -> std::io::Result<()> {
    let app = axum::Router::new().fallback(|| async { "ok" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?.port());
    axum::serve(listener, app).await
}

async fn start_receiver() -> Result<(Child, u16), Box<dyn std::error::Error>> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("receive")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("receiver has no stdout")?;
    let line = BufReader::new(stdout)
        .lines()
        .next_line()
        .await?
        .ok_or("receiver exited before naming its port")?;
    Ok((child, line.trim().parse()?))
}

/// What the engine did: deliveries, failures, and each attempt's latency.
struct EngineRun {
    delivered: usize,
    failed: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// `count` deliveries of the body, each with its own id.
fn envelopes(count: usize) -> Vec<DeliveryEnvelope> {
    let ws = WorkspaceId::generate();
    let now = Clock::system().now();
    (0..count)
        .map(|n| {
            let id = MessageId::new_unchecked(format!("bench-{n}"));
            DeliveryEnvelope {
                workspace_id: ws.clone(),
                delivery_id: DeliveryId::for_message(&ws, &id),
                created_at: now,
                sequence: 0,
                chat_id: None,
                body: BODY.to_string(),
                summary: None,
                event_type: None,
                released_by: None,
            }
        })
        .collect()
}

async fn engine(url: &str, seconds: u64, connections: usize) -> EngineRun {
    let policy = UrlPolicy {
        allow_loopback: true,
    };
    let client = build_client(policy, Duration::from_secs(10));
    let secret = generate_secret();
    // What the sender has in hand when it sends: decoded envelopes (SQS), and the
    // webhook's URL checked once per batch.
    let envelopes = Arc::new(envelopes(1024));
    let destination = Arc::new(Destination::check(&policy, url));
    let stop = Arc::new(AtomicBool::new(false));
    let clock = Clock::system();
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|worker| {
            let (client, destination, secret, envelopes, stop, clock) = (
                client.clone(),
                destination.clone(),
                secret.clone(),
                envelopes.clone(),
                stop.clone(),
                clock.clone(),
            );
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failed = 0;
                let mut n = worker;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let envelope = &envelopes[n % envelopes.len()];
                    let begun = Instant::now();
                    let result =
                        attempt(&client, &destination, &[&secret], envelope, clock.now()).await;
                    latencies.push(begun.elapsed());
                    failed += usize::from(!result.succeeded());
                }
                (latencies, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut run = EngineRun {
        delivered: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for worker in workers {
        let (latencies, failed) = worker.await.expect("worker finished");
        run.latencies.extend(latencies);
        run.failed += failed;
    }
    run.elapsed = started.elapsed();
    run.delivered = run.latencies.len() - run.failed;
    run.latencies.sort();
    run
}

/// wrk's figures: requests per second and latency percentiles (ms).
struct WrkRun {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn wrk_ms(value: &str) -> Option<f64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => return None,
    })
}

fn parse_wrk(output: &str) -> Option<WrkRun> {
    let field = |prefix: &str| {
        output
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|rest| rest.trim().to_string())
    };
    Some(WrkRun {
        rate: field("Requests/sec:")?.parse().ok()?,
        p50_ms: wrk_ms(&field("50%")?)?,
        p99_ms: wrk_ms(&field("99%")?)?,
    })
}

async fn wrk(
    url: &str,
    seconds: u64,
    connections: usize,
) -> Result<WrkRun, Box<dyn std::error::Error>> {
    // The same body and content type the engine sends.
    let script = results_dir().join("wrk-post.lua");
    std::fs::create_dir_all(results_dir())?;
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = {}\n",
            serde_json::to_string(BODY)?
        ),
    )?;
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(url)
        .output()
        .await
        .map_err(|e| format!("wrk could not run ({e}); install Debian's wrk package"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_wrk(&text).ok_or_else(|| format!("unreadable wrk output:\n{text}").into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("receive") {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        return Ok(rt.block_on(receive())?);
    }
    // The engine on one thread, as the sender Lambda runs it (its `main`).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(bench(args))
}

/// The median of some figures (the middle one; the mean of the two middle ones).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// The engine's figures over all rounds.
#[derive(Clone, Copy)]
struct Figures {
    rate: f64,
    p50: f64,
    p99: f64,
    failed: usize,
}

/// Prints the comparison and writes it for the bench report.
fn report(
    raw: &[WrkRun],
    engine: &Figures,
    (rounds, seconds, connections): (usize, u64, usize),
) -> Result<(), Box<dyn std::error::Error>> {
    let wrk_rate = median(raw.iter().map(|r| r.rate).collect());
    let wrk_p50 = median(raw.iter().map(|r| r.p50_ms).collect());
    let wrk_p99 = median(raw.iter().map(|r| r.p99_ms).collect());
    let Figures {
        rate,
        p50,
        p99,
        failed,
    } = *engine;
    let share = 100.0 * rate / wrk_rate;
    println!(
        "| {rounds} × {seconds} s each, {connections} connections, {} B body | per second (median round) | p50 ms | p99 ms |",
        BODY.len()
    );
    println!("|---|---:|---:|---:|");
    for (i, r) in raw.iter().enumerate() {
        println!("| wrk round {} | {:.0} | | |", i + 1, r.rate);
    }
    println!("| wrk, raw POST | {wrk_rate:.0} | {wrk_p50:.3} | {wrk_p99:.3} |");
    println!("| Outflow delivery engine | {rate:.0} | {p50:.3} | {p99:.3} |");
    println!(
        "engine: {share:.0} % of wrk's rate, {:.3} ms added at p50, {:.3} ms at p99; {failed} failed",
        p50 - wrk_p50,
        p99 - wrk_p99,
    );
    write_result(
        "throughput",
        &json!({
            "seconds": seconds,
            "rounds": rounds,
            "connections": connections,
            "wrk_per_second": wrk_rate,
            "wrk_p50_ms": wrk_p50,
            "wrk_p99_ms": wrk_p99,
            "engine_per_second": rate,
            "engine_p50_ms": p50,
            "engine_p99_ms": p99,
            "engine_failed": failed,
            "share_of_wrk_percent": share,
        }),
    )?;
    Ok(())
}

async fn bench(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(10);
    let connections: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(10);
    let rounds: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let (_receiver, port) = start_receiver().await?;
    let url = format!("http://127.0.0.1:{port}/hook");

    // wrk and the engine take turns, so a slow spell of the shared machine (2 cores, the
    // receiver on them too) falls on both; each side's median round is compared.
    let mut raw = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..rounds.max(1) {
        raw.push(wrk(&url, seconds, connections).await?);
        runs.push(engine(&url, seconds, connections).await);
    }
    let rate = median(
        runs.iter()
            .map(|r| r.delivered as f64 / r.elapsed.as_secs_f64())
            .collect(),
    );
    let failed: usize = runs.iter().map(|r| r.failed).sum();
    let mut latencies: Vec<Duration> = runs.into_iter().flat_map(|r| r.latencies).collect();
    latencies.sort();
    let engine = Figures {
        rate,
        p50: percentile_ms(&latencies, 0.5),
        p99: percentile_ms(&latencies, 0.99),
        failed,
    };
    report(&raw, &engine, (rounds, seconds, connections))?;
    if failed > 0 {
        return Err(
            format!("{failed} deliveries failed against a receiver that answers 200").into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let out = "Running 1s test @ http://127.0.0.1:1/\n  Latency Distribution\n     50%  151.00us\n     75%  2.10ms\n     90%  1.00s\n     99%    3.50ms\n  1000 requests in 1.00s, 10KB read\nRequests/sec:  99504.33\nTransfer/sec:     10.00MB\n";
        let run = parse_wrk(out).unwrap();
        assert_eq!(run.rate, 99504.33);
        assert!((run.p50_ms - 0.151).abs() < 1e-9);
        assert_eq!(run.p99_ms, 3.5);
        assert_eq!(wrk_ms("2m"), Some(120_000.0));
        assert!(parse_wrk("garbage").is_none());
    }

    #[test]
    fn the_median_is_the_middle_round() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}

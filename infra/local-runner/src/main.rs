//! `outflow-local`: the whole pipeline on this machine, against moto server.

use outflow::clients::AwsClients;
use outflow::clock::Clock;
use outflow::config::Config;
use outflow::queue::spec;
use outflow::url_policy::UrlPolicy;
use outflow_local::app::LocalApp;
use outflow_local::pump::Pump;
use outflow_local::stack::{self, StackNames};
use std::net::SocketAddr;
use std::time::Duration;

fn var(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        return Err("AWS_ENDPOINT_URL is not set: the local runner only talks to a local emulator (run `make run`)".into());
    }
    let addr: SocketAddr = var("OUTFLOW_HTTP_ADDR", "127.0.0.1:8080").parse()?;
    if !addr.ip().is_loopback() {
        return Err(format!("OUTFLOW_HTTP_ADDR {addr} is not a loopback address").into());
    }
    let admin_token = var("OUTFLOW_ADMIN_TOKEN", "local-admin-token");
    let names = StackNames {
        table: var("OUTFLOW_TABLE", "outflow-local"),
        queue: var("OUTFLOW_QUEUE_NAME", "outflow-deliveries"),
        dead_letter_queue: var("OUTFLOW_DLQ_NAME", "outflow-deliveries-dlq"),
        sender_email: var("OUTFLOW_SENDER_EMAIL", "outflow@example.com"),
        visibility_timeout_secs: var(
            "OUTFLOW_VISIBILITY_TIMEOUT",
            &spec::VISIBILITY_TIMEOUT_SECS.to_string(),
        )
        .parse()?,
    };
    let aws = AwsClients::from_env().await;
    let stack = stack::ensure(&aws, &names).await?;
    let config = Config {
        table_name: stack.table.clone(),
        queue_url: stack.queue_url.clone(),
        dead_letter_queue_url: Some(stack.dead_letter_queue_url.clone()),
        sender_email: names.sender_email.clone(),
        url_policy: UrlPolicy {
            allow_loopback: var("OUTFLOW_ALLOW_LOOPBACK_TARGETS", "0") == "1",
        },
        delivery_timeout: Duration::from_secs(10),
        chat_url_base: var("OUTFLOW_CHAT_URL_BASE", "https://app.chatwoot.com"),
        permalink_base: var(
            "OUTFLOW_PERMALINK_BASE",
            "https://app.chatwoot.com/permalink",
        ),
        ingest_rate: outflow::store::RateLimit {
            requests: var("OUTFLOW_INGEST_REQUESTS_PER_SECOND", "50").parse()?,
            window_secs: 1,
        },
        retry: outflow::delivery::RetryPolicy::standard(),
        public_base_url: Some(format!("http://{addr}")),
    };
    let app = LocalApp::new(&aws, &config, &admin_token, Clock::system());
    let aggregate_every = Duration::from_secs(var("OUTFLOW_AGGREGATE_EVERY", "30").parse()?);
    let pump = Pump {
        sqs: aws.sqs.clone(),
        queue_url: stack.queue_url.clone(),
        queue_arn: stack.queue_arn.clone(),
        region: var("AWS_REGION", "us-east-1"),
    };
    let sender_app = app.clone();
    tokio::spawn(async move { sender_app.run_sender(pump).await });
    let aggregator_app = app.clone();
    tokio::spawn(async move { aggregator_app.run_aggregator(aggregate_every).await });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "Outflow is running on http://{addr}  (table {}, queue {})",
        stack.table, stack.queue_url
    );
    println!("  admin token: {admin_token}");
    println!("  create a workspace:");
    println!("    curl -s -X POST http://{addr}/v1/workspaces -H 'Authorization: Bearer {admin_token}' \\");
    println!("      -H 'Content-Type: application/json' -d '{{\"name\": \"Acme\", \"owner_email\": \"owner@acme.test\"}}'");
    println!("  aggregation runs every {}s; POST /local/aggregate {{\"now\": \"<RFC 3339>\"}} runs it as of any instant", aggregate_every.as_secs());
    println!("  then follow the walkthrough in README.md");
    axum::serve(listener, app.router()).await?;
    Ok(())
}

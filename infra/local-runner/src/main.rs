//! `outflow-local`: the whole pipeline on this machine, against moto server.

use outflow::clients::AwsClients;
use outflow::clock::Clock;
use outflow::domain::portal::MAX_LINK_SECS;
use outflow::domain::{ApiKey, Workspace, WorkspaceId};
use outflow::queue::spec;
use outflow_local::app::LocalApp;
use outflow_local::pump::Pump;
use outflow_local::stack::{self, Stack, StackNames};
use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

fn var(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn names() -> Result<StackNames, Box<dyn Error>> {
    let default_timeout = spec::VISIBILITY_TIMEOUT_SECS.to_string();
    Ok(StackNames {
        table: var("OUTFLOW_TABLE", "outflow-local"),
        queue: var("OUTFLOW_QUEUE_NAME", "outflow-deliveries"),
        dead_letter_queue: var("OUTFLOW_DLQ_NAME", "outflow-deliveries-dlq"),
        sender_email: var("OUTFLOW_SENDER_EMAIL", "outflow@example.com"),
        visibility_timeout_secs: var("OUTFLOW_VISIBILITY_TIMEOUT", &default_timeout).parse()?,
    })
}

/// The functions over `stack`, configured from the environment as `make run` sets it.
fn app(aws: &AwsClients, stack: &Stack, addr: SocketAddr) -> Result<LocalApp, Box<dyn Error>> {
    let names = names()?;
    let mut config = stack.config(
        &names.sender_email,
        &var("OUTFLOW_ADMIN_TOKEN", "local-admin-token"),
    );
    config.url_policy.allow_loopback = var("OUTFLOW_ALLOW_LOOPBACK_TARGETS", "0") == "1";
    config.chat_url_base = var("OUTFLOW_CHAT_URL_BASE", &config.chat_url_base);
    config.permalink_base = var("OUTFLOW_PERMALINK_BASE", &config.permalink_base);
    config.ingest_rate.requests = var("OUTFLOW_INGEST_REQUESTS_PER_SECOND", "50").parse()?;
    config.public_base_url = Some(format!("http://{addr}"));
    Ok(LocalApp::new(aws, &config, Clock::system())?)
}

fn greet(addr: SocketAddr, stack: &Stack, admin_token: &str, every: Duration) {
    println!(
        "Outflow is running on http://{addr}  (table {}, queue {})",
        stack.table, stack.queue_url
    );
    println!("  admin token: {admin_token}");
    println!("  create a workspace:");
    println!("    curl -s -X POST http://{addr}/v1/workspaces -H 'Authorization: Bearer {admin_token}' \\");
    println!("      -H 'Content-Type: application/json' -d '{{\"name\": \"Acme\", \"owner_email\": \"owner@acme.test\"}}'");
    println!("  aggregation runs every {}s; POST /local/aggregate {{\"now\": \"<RFC 3339>\"}} runs it as of any instant", every.as_secs());
    println!("  the API is described at http://{addr}/v1/openapi.json");
    println!("  then follow the walkthrough in README.md");
}

/// A demo workspace and a link to its portal, so a newcomer can open the settings page at
/// once (a new workspace each start: moto keeps nothing between runs).
async fn demo_portal(app: &LocalApp) -> Result<(), Box<dyn Error>> {
    let workspace = Workspace {
        workspace_id: WorkspaceId::generate(),
        name: "Demo".into(),
        owner_email: "owner@demo.test".into(),
        created_at: app.api.clock.now(),
    };
    let key = ApiKey::generate(&workspace.workspace_id);
    app.api.store.create_workspace(&workspace, &key).await?;
    let link = app
        .api
        .mint_portal_link(&workspace.workspace_id, MAX_LINK_SECS, None)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the demo workspace vanished")?;
    println!(
        "  a demo workspace ({}), API key {}",
        workspace.workspace_id,
        key.reveal()
    );
    println!("  its portal, for 7 days (open in a browser):");
    println!("    {}", link.url);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
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
    let aws = AwsClients::from_env().await;
    let stack = stack::ensure(&aws, &names()?).await?;
    let app = app(&aws, &stack, addr)?;
    let every = Duration::from_secs(var("OUTFLOW_AGGREGATE_EVERY", "30").parse()?);
    let pump = Pump::of(&aws, &stack, &var("AWS_REGION", "us-east-1"));
    let (sender, aggregator) = (app.clone(), app.clone());
    tokio::spawn(async move { sender.run_sender(pump).await });
    tokio::spawn(async move { aggregator.run_aggregator(every).await });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    greet(addr, &stack, &app.api.admin_token.0, every);
    demo_portal(&app).await?;
    axum::serve(listener, app.router()).await?;
    Ok(())
}

//! Lambda entry point: build the state once per container, serve the router through API
//! Gateway.

use metrics_cloudwatch_embedded::lambda::service::run_http;
use outflow::clients::AwsClients;
use outflow::clock::Clock;
use outflow::config::Config;
use outflow::telemetry;
use outflow_ingest::{lambda_deadline, router, IngestState};

// One thread: at the template's 256 MB a Lambda has a fraction of one vCPU, so worker
// threads would only add start-up time and switching (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init_logs();
    let metrics = telemetry::install("ingest")?;
    let config = Config::from_env()?;
    let state = IngestState::from_config(&AwsClients::from_env().await, &config, Clock::system());
    // Runs the router like lambda_http::run, flushing the EMF metrics after each request.
    let app = router(state).layer(axum::middleware::from_fn(lambda_deadline));
    run_http(metrics, app).await
}

//! Installs the EMF collector: namespace `Outflow`, dimensions kept low-cardinality
//! (the stack and the function's role, never a workspace).

use metrics_cloudwatch_embedded::{Builder, Collector};

/// The CloudWatch namespace of every Outflow metric.
pub const NAMESPACE: &str = "Outflow";

/// The collector could not be installed (a second install in one process).
#[derive(Debug, thiserror::Error)]
#[error("cannot install the metrics collector: {0}")]
pub struct TelemetryError(String);

/// Installs the process-wide collector for `function` (ingest, api, sender, aggregator)
/// of the stack named by `OUTFLOW_STACK` (the template sets it; "local" otherwise).
/// The Lambda layer flushes it after each invocation.
pub fn install(function: &'static str) -> Result<&'static Collector, TelemetryError> {
    let stack = std::env::var("OUTFLOW_STACK").unwrap_or_else(|_| "local".to_string());
    let collector = Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension("Stack", stack)
        .with_dimension("Function", function)
        .lambda_cold_start_metric(super::metrics::COLD_START)
        .with_lambda_request_id("RequestId")
        .init()
        .map_err(|e| TelemetryError(e.to_string()))?;
    super::metrics::describe();
    super::record::remember(collector);
    Ok(collector)
}

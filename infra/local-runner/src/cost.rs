//! Dollars per million messages: measured usage (billed units, Lambda invocations and
//! their billed duration, log bytes, HTTP API requests) times the list prices kept in
//! `infra/prices.json`.

use crate::billed_units::Units;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// The list prices, with their source and the date they were checked.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Prices {
    /// Where the prices come from.
    pub source: String,
    /// When they were checked.
    pub checked: String,
    /// DynamoDB on-demand, per million write request units.
    pub dynamodb_write_request_units_per_million: f64,
    /// DynamoDB on-demand, per million read request units.
    pub dynamodb_read_request_units_per_million: f64,
    /// SQS FIFO, per million requests (64 KiB chunks).
    pub sqs_fifo_requests_per_million: f64,
    /// Lambda, per million invocations.
    pub lambda_requests_per_million: f64,
    /// Lambda arm64, per GB-second.
    pub lambda_arm64_gb_second: f64,
    /// CloudWatch Logs, per GB ingested.
    pub cloudwatch_logs_ingested_per_gb: f64,
    /// API Gateway HTTP API, per million requests.
    pub http_api_requests_per_million: f64,
    /// SES, per thousand emails.
    pub ses_emails_per_thousand: f64,
    /// EventBridge PutEvents plus API destination invocations, per million (the comparison).
    pub eventbridge_api_destinations_reference_per_million: f64,
}

impl Prices {
    /// Reads `infra/prices.json`.
    pub fn load() -> Result<Self, String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../prices.json");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// CloudWatch Logs counts this much metadata per log event on top of its message.
pub const LOG_EVENT_OVERHEAD_BYTES: u64 = 26;

/// One function's measured Lambda usage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LambdaUsage {
    /// Invocations.
    pub invocations: u64,
    /// Billed duration, summed (each invocation rounded up to the millisecond).
    pub billed_ms: u64,
    /// The function's memory size (MB).
    pub memory_mib: u64,
    /// Log events sent to CloudWatch (the process's lines and the platform's).
    pub log_events: u64,
    /// Their bytes, with the per-event metadata.
    pub log_bytes: u64,
}

impl LambdaUsage {
    /// Usage from the durations of the invocations and the lines the process printed;
    /// adds the platform's start, runtime-done and report records of each invocation.
    pub fn measured(durations: &[Duration], lines: &[String], memory_mib: u64) -> Self {
        let billed_ms: u64 = durations
            .iter()
            .map(|d| d.as_micros().div_ceil(1000) as u64)
            .sum();
        let platform = durations
            .iter()
            .enumerate()
            .flat_map(|(n, d)| platform_records(n, *d, memory_mib));
        let (log_events, log_bytes) =
            lines
                .iter()
                .cloned()
                .chain(platform)
                .fold((0, 0), |(events, bytes), line| {
                    (
                        events + 1,
                        bytes + line.len() as u64 + LOG_EVENT_OVERHEAD_BYTES,
                    )
                });
        Self {
            invocations: durations.len() as u64,
            billed_ms,
            memory_mib,
            log_events,
            log_bytes,
        }
    }

    /// `self + other` (same memory size).
    pub fn plus(&self, other: &LambdaUsage) -> LambdaUsage {
        LambdaUsage {
            invocations: self.invocations + other.invocations,
            billed_ms: self.billed_ms + other.billed_ms,
            memory_mib: self.memory_mib.max(other.memory_mib),
            log_events: self.log_events + other.log_events,
            log_bytes: self.log_bytes + other.log_bytes,
        }
    }

    fn gb_seconds(&self) -> f64 {
        self.billed_ms as f64 / 1000.0 * self.memory_mib as f64 / 1024.0
    }
}

/// The platform records Lambda writes to the log group per invocation in the JSON log
/// format (start, runtime done, report), as they look with this invocation's figures.
fn platform_records(n: usize, took: Duration, memory_mib: u64) -> [String; 3] {
    let id = format!("00000000-0000-4000-8000-{n:012}");
    let time = "2026-12-02T10:00:00.000Z";
    let ms = took.as_secs_f64() * 1000.0;
    let billed = took.as_micros().div_ceil(1000);
    [
        format!(
            r#"{{"time":"{time}","type":"platform.start","record":{{"requestId":"{id}","version":"$LATEST"}}}}"#
        ),
        format!(
            r#"{{"time":"{time}","type":"platform.runtimeDone","record":{{"requestId":"{id}","status":"success","metrics":{{"durationMs":{ms:.3},"producedBytes":0}}}}}}"#
        ),
        format!(
            r#"{{"time":"{time}","type":"platform.report","record":{{"requestId":"{id}","metrics":{{"durationMs":{ms:.3},"billedDurationMs":{billed},"memorySizeMB":{memory_mib},"maxMemoryUsedMB":24}},"status":"success"}}}}"#
        ),
    ]
}

/// Everything one scenario used, for its messages.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Messages the scenario ingested.
    pub messages: u64,
    /// Billed AWS units (DynamoDB, SQS, SES).
    pub units: Units,
    /// Lambda usage of all functions.
    pub lambda: LambdaUsage,
    /// Requests through the HTTP API.
    pub http_api_requests: u64,
}

/// The components of the bill, in dollars per million messages, in a fixed order.
pub fn per_million(usage: &Usage, prices: &Prices) -> Vec<(&'static str, f64)> {
    let per_message = 1.0 / usage.messages.max(1) as f64;
    let u = &usage.units;
    let l = &usage.lambda;
    let lines = [
        (
            "DynamoDB writes, items",
            u.dynamo_table_writes * prices.dynamodb_write_request_units_per_million,
        ),
        (
            "DynamoDB writes, index copies",
            u.dynamo_index_writes * prices.dynamodb_write_request_units_per_million,
        ),
        (
            "DynamoDB reads",
            u.dynamo_reads * prices.dynamodb_read_request_units_per_million,
        ),
        (
            "SQS requests",
            u.sqs_requests as f64 * prices.sqs_fifo_requests_per_million,
        ),
        (
            "SES emails",
            u.ses_messages as f64 * prices.ses_emails_per_thousand * 1000.0,
        ),
        (
            "Lambda requests",
            l.invocations as f64 * prices.lambda_requests_per_million,
        ),
        (
            "Lambda duration",
            l.gb_seconds() * prices.lambda_arm64_gb_second * 1e6,
        ),
        (
            "CloudWatch Logs",
            l.log_bytes as f64 / 1e9 * prices.cloudwatch_logs_ingested_per_gb * 1e6,
        ),
        (
            "HTTP API requests",
            usage.http_api_requests as f64 * prices.http_api_requests_per_million,
        ),
    ];
    lines
        .map(|(name, dollars)| (name, dollars * per_message))
        .to_vec()
}

/// The total of [`per_million`].
pub fn total_per_million(usage: &Usage, prices: &Prices) -> f64 {
    per_million(usage, prices).iter().map(|(_, d)| d).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices() -> Prices {
        Prices::load().expect("infra/prices.json")
    }

    #[test]
    fn a_million_single_writes_cost_the_write_unit_price() {
        let usage = Usage {
            messages: 1000,
            units: Units {
                dynamo_table_writes: 1000.0,
                ..Units::default()
            },
            ..Usage::default()
        };
        let p = prices();
        assert_eq!(
            total_per_million(&usage, &p),
            p.dynamodb_write_request_units_per_million
        );
    }

    #[test]
    fn lambda_duration_is_billed_per_started_millisecond_at_the_memory_size() {
        let usage = LambdaUsage::measured(
            &[Duration::from_micros(1_200), Duration::from_micros(800)],
            &[],
            1024,
        );
        assert_eq!((usage.invocations, usage.billed_ms), (2, 3));
        assert_eq!(usage.log_events, 6, "three platform records per invocation");
        assert!((usage.gb_seconds() - 0.003).abs() < 1e-12);
    }
}

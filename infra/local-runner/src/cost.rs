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

/// The template's `PlatformLogLevel` default (Lambda's `SystemLogLevel`): at `WARN` Lambda
/// writes none of its per-invocation records, at `INFO` its start and report records.
pub const TEMPLATE_PLATFORM_LOG_LEVEL: &str = "WARN";

/// The memory size at which Lambda gives a function one vCPU; below it, a share of one
/// in proportion to the memory (AWS Lambda developer guide, "Configure memory").
pub const FULL_VCPU_MIB: u64 = 1769;

/// One function's measured Lambda usage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LambdaUsage {
    /// Invocations.
    pub invocations: u64,
    /// Duration here, on a whole core, summed (each invocation rounded up to the millisecond).
    pub billed_ms: u64,
    /// CPU time the invocations used here (user and system, every thread).
    pub cpu_ms: u64,
    /// The function's memory size (MB); of several functions, the largest.
    pub memory_mib: u64,
    /// Duration Lambda would bill at `memory_mib`: `billed_ms` with the CPU time stretched
    /// to the memory size's share of a vCPU.
    pub lambda_billed_ms: u64,
    /// GB-seconds at that duration, each function at its own memory size.
    pub gb_seconds: f64,
    /// Log events sent to CloudWatch (the process's lines and the platform's).
    pub log_events: u64,
    /// Their bytes, with the per-event metadata.
    pub log_bytes: u64,
}

impl LambdaUsage {
    /// Usage from the durations of the invocations, the CPU time they used and the lines
    /// the process printed; adds the records Lambda writes itself at `platform_level` (see
    /// [`TEMPLATE_PLATFORM_LOG_LEVEL`]).
    pub fn measured(
        durations: &[Duration],
        cpu: Duration,
        lines: &[String],
        memory_mib: u64,
        platform_level: &str,
    ) -> Self {
        let billed_ms: u64 = durations
            .iter()
            .map(|d| d.as_micros().div_ceil(1000) as u64)
            .sum();
        let platform = durations
            .iter()
            .enumerate()
            .flat_map(|(n, d)| platform_records(n, *d, memory_mib, platform_level));
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
        let mut usage = Self {
            invocations: durations.len() as u64,
            billed_ms,
            cpu_ms: cpu.as_millis() as u64,
            memory_mib,
            log_events,
            log_bytes,
            ..Self::default()
        };
        usage.lambda_billed_ms = usage.billed_ms_at(memory_mib).round() as u64;
        usage.gb_seconds = gb_seconds(usage.lambda_billed_ms as f64, memory_mib);
        usage
    }

    /// The duration Lambda would bill at `memory_mib`: the time measured here on a whole
    /// core, plus the CPU time again for every further core's worth it would wait for at that
    /// memory's share (waiting on DynamoDB, SQS or a receiver takes as long at any size).
    pub fn billed_ms_at(&self, memory_mib: u64) -> f64 {
        let share = (memory_mib as f64 / FULL_VCPU_MIB as f64).min(1.0);
        self.billed_ms as f64 + self.cpu_ms as f64 * (1.0 / share - 1.0)
    }

    /// The GB-seconds these invocations (one function's, not a [`Self::plus`] of several)
    /// would bill at `memory_mib`, and their mean billed milliseconds there.
    pub fn at_memory(&self, memory_mib: u64) -> (f64, f64) {
        let ms = self.billed_ms_at(memory_mib);
        (
            gb_seconds(ms, memory_mib),
            ms / self.invocations.max(1) as f64,
        )
    }

    /// `self + other`, each function's duration billed at its own memory size.
    pub fn plus(&self, other: &LambdaUsage) -> LambdaUsage {
        LambdaUsage {
            invocations: self.invocations + other.invocations,
            billed_ms: self.billed_ms + other.billed_ms,
            cpu_ms: self.cpu_ms + other.cpu_ms,
            memory_mib: self.memory_mib.max(other.memory_mib),
            lambda_billed_ms: self.lambda_billed_ms + other.lambda_billed_ms,
            gb_seconds: self.gb_seconds + other.gb_seconds,
            log_events: self.log_events + other.log_events,
            log_bytes: self.log_bytes + other.log_bytes,
        }
    }
}

fn gb_seconds(billed_ms: f64, memory_mib: u64) -> f64 {
    billed_ms / 1000.0 * memory_mib as f64 / 1024.0
}

/// The records Lambda writes to the log group per invocation in the JSON log format, as
/// they look with this invocation's figures: at `INFO`, start and report (runtime-done is
/// `DEBUG`); at `WARN`, none.
fn platform_records(n: usize, took: Duration, memory_mib: u64, level: &str) -> Vec<String> {
    if level == "WARN" {
        return Vec::new();
    }
    let id = format!("00000000-0000-4000-8000-{n:012}");
    let time = "2026-12-02T10:00:00.000Z";
    let ms = took.as_secs_f64() * 1000.0;
    let billed = took.as_micros().div_ceil(1000);
    vec![
        format!(
            r#"{{"time":"{time}","type":"platform.start","record":{{"requestId":"{id}","version":"$LATEST"}}}}"#
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
            l.gb_seconds * prices.lambda_arm64_gb_second * 1e6,
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
    fn the_platform_log_level_is_the_templates() {
        let template = include_str!("../../../template.yaml");
        let parameter = template
            .split("\n  PlatformLogLevel:\n")
            .nth(1)
            .expect("the template's PlatformLogLevel parameter");
        let default = parameter
            .lines()
            .find_map(|l| l.trim().strip_prefix("Default: "));
        assert_eq!(default, Some(TEMPLATE_PLATFORM_LOG_LEVEL));
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
        let took = [Duration::from_micros(1_200), Duration::from_micros(800)];
        let usage = LambdaUsage::measured(&took, Duration::ZERO, &[], 1024, "INFO");
        assert_eq!((usage.invocations, usage.billed_ms), (2, 3));
        assert_eq!(usage.log_events, 4, "start and report per invocation");
        let quiet =
            LambdaUsage::measured(&took, Duration::ZERO, &["one line".into()], 1024, "WARN");
        assert_eq!(
            (quiet.log_events, quiet.log_bytes),
            (1, 8 + LOG_EVENT_OVERHEAD_BYTES)
        );
        assert!((usage.gb_seconds - 0.003).abs() < 1e-12);
    }

    #[test]
    fn cpu_time_stretches_to_the_memory_sizes_share_of_a_vcpu() {
        let took = [Duration::from_millis(30); 10];
        let cpu = Duration::from_millis(20);
        let at_a_vcpu = LambdaUsage::measured(&took, cpu, &[], FULL_VCPU_MIB, "WARN");
        assert_eq!(at_a_vcpu.lambda_billed_ms, 300, "a whole vCPU: as measured");
        let half = LambdaUsage::measured(&took, cpu, &[], FULL_VCPU_MIB / 2, "WARN");
        // Half a vCPU: the 20 ms of CPU take about 40.
        assert!((319..=321).contains(&half.lambda_billed_ms), "{half:?}");
        // Waiting is the same at any size, CPU is not: halving the memory from 256 to
        // 128 MB saves less than half.
        let (at_256, ms_256) = half.at_memory(256);
        let (at_128, ms_128) = half.at_memory(128);
        assert!(
            at_128 > at_256 / 2.0 && at_128 < at_256,
            "{at_128} {at_256}"
        );
        assert!(ms_128 > ms_256);
        let both = half.plus(&at_a_vcpu);
        assert!((both.gb_seconds - half.gb_seconds - at_a_vcpu.gb_seconds).abs() < 1e-12);
    }
}

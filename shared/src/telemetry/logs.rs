//! The functions' log lines: as `lambda_runtime`'s default subscriber writes them (JSON
//! under the template's `LogFormat: JSON`, level from `AWS_LAMBDA_LOG_LEVEL` or
//! `RUST_LOG`), less the span list, which only repeated the invocation's span (its
//! request id and trace id) a second time: CloudWatch Logs bills every byte ingested, and
//! the list was about 160 of a line's 440.

use tracing_subscriber::filter::{EnvFilter, LevelFilter};

/// Installs the process-wide log subscriber (once, first thing in `main`).
pub fn init_logs() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(
            EnvFilter::builder()
                .with_default_directive(level.into())
                .from_env_lossy(),
        )
        .with_writer(std::io::stdout);
    if json_logs() {
        builder.json().with_span_list(false).init();
    } else {
        builder.init();
    }
}

/// Whether log lines are JSON (the template's `LogFormat: JSON`).
pub(super) fn json_logs() -> bool {
    std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"))
}

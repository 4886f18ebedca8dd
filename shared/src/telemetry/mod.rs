//! Telemetry: the CloudWatch metrics every function emits (Embedded Metric Format on
//! stdout, where the Lambda log stream carries them to CloudWatch) and their set-up.

mod emf;
mod logs;
pub mod metrics;
mod record;

pub use emf::{install, TelemetryError, NAMESPACE};
pub use logs::init_logs;
pub use record::info_with_metrics;

//! A workspace's outbound webhook: where to deliver, how, and its health.

use super::Timestamp;
use serde::{Deserialize, Serialize};

/// Consecutive failures tolerated; the next one disables the webhook (seed: "more than 10").
pub const MAX_CONSECUTIVE_FAILURES: u32 = 10;

/// The webhook's health.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookStatus {
    /// Failed requests since the last success.
    pub consecutive_failures: u32,
    /// When it was disabled automatically, if it was.
    pub disabled_at: Option<Timestamp>,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
}

impl WebhookStatus {
    /// True once the failure count passes the limit.
    pub fn over_limit(failures: u32) -> bool {
        failures > MAX_CONSECUTIVE_FAILURES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleventh_failure_is_over_the_limit() {
        assert!(!WebhookStatus::over_limit(10));
        assert!(WebhookStatus::over_limit(11));
    }
}

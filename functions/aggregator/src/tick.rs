//! The scheduled event: "now" comes from its `time`, so tests and replays can run the
//! aggregator for any instant.

use chrono::{DateTime, Utc};
use outflow::clock::Clock;
use serde::Deserialize;

/// An EventBridge rule event or an EventBridge Scheduler input (`{"time": "<aws.scheduler.scheduled-time>"}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ScheduledTick {
    /// The scheduled instant.
    #[serde(default)]
    pub time: Option<DateTime<Utc>>,
}

impl ScheduledTick {
    /// The instant to aggregate as of: the scheduled time, or the clock's now when the
    /// event has none (an invocation by hand).
    pub fn now(&self, clock: &Clock) -> DateTime<Utc> {
        self.time.unwrap_or_else(|| clock.now().utc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_time_of_scheduler_and_rule_events() {
        let clock = Clock::fixed("2030-01-01T00:00:00Z".parse().unwrap());
        let tick: ScheduledTick =
            serde_json::from_str(r#"{"time": "2026-01-21T05:00:00Z"}"#).unwrap();
        assert_eq!(tick.now(&clock).to_rfc3339(), "2026-01-21T05:00:00+00:00");
        let rule: ScheduledTick = serde_json::from_str(
            r#"{"version":"0","id":"1","detail-type":"Scheduled Event","source":"aws.events","time":"2026-01-21T06:00:00Z","detail":{}}"#,
        )
        .unwrap();
        assert_eq!(rule.now(&clock).to_rfc3339(), "2026-01-21T06:00:00+00:00");
        let by_hand: ScheduledTick = serde_json::from_str("{}").unwrap();
        assert_eq!(
            by_hand.now(&clock).to_rfc3339(),
            "2030-01-01T00:00:00+00:00"
        );
    }
}

//! When a failed delivery is tried again: Svix's schedule with jitter, carried out by
//! SQS visibility timeouts (never by sleeping in a Lambda).

use std::time::Duration;

/// The longest delay: as long as the queue can hide a delivery after receiving it.
pub const MAX_DELAY: Duration = crate::queue::MAX_HIDDEN;

/// Delays before each attempt: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
pub const STANDARD_SCHEDULE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3_600),
    Duration::from_secs(5 * 3_600),
    Duration::from_secs(10 * 3_600),
    Duration::from_secs(10 * 3_600),
];

/// The most receives a delivery spends waiting behind its chat's failing deliveries
/// within the queue's retention (`tests` derive it from the schedule).
pub const WORST_WAITING_RECEIVES: u32 = 112;

/// A retry schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before attempt n+1 (index n); its length is the number of attempts.
    schedule: Vec<Duration>,
    /// Relative jitter, e.g. 0.1 for ±10 %, so retries of many deliveries spread out.
    jitter: f64,
}

impl RetryPolicy {
    /// The production schedule with ±10 % jitter.
    pub fn standard() -> Self {
        Self {
            schedule: STANDARD_SCHEDULE.to_vec(),
            jitter: 0.1,
        }
    }

    /// A custom schedule (tests and local demos use seconds instead of hours).
    pub fn new(schedule: Vec<Duration>, jitter: f64) -> Self {
        Self { schedule, jitter }
    }

    /// How many attempts a delivery gets before the DLQ (the queue's maxReceiveCount).
    pub fn attempts(&self) -> u32 {
        self.schedule.len() as u32
    }

    /// The delay before the next attempt after attempt `attempt` (1-based) failed, or `None`
    /// when that was the last one. A `Retry-After` (429/503) wins, bounded by
    /// `MAX_DELAY` (11 h 55 min).
    /// `unit` is a uniform sample in [-1, 1] for the jitter.
    pub fn next_delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        unit: f64,
    ) -> Option<Duration> {
        let planned = *self.schedule.get(attempt as usize)?;
        if let Some(asked) = retry_after {
            return Some(asked.min(MAX_DELAY));
        }
        let factor = 1.0 + self.jitter * unit.clamp(-1.0, 1.0);
        Some(planned.mul_f64(factor).min(MAX_DELAY))
    }
}

impl RetryPolicy {
    /// `next_delay` with a fresh jitter sample.
    pub fn next_delay_jittered(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let unit = rand::random::<f64>() * 2.0 - 1.0;
        self.next_delay(attempt, retry_after, unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_waiting_behind_failing_ones_is_never_moved_untried() {
        use crate::queue::spec::{MAX_RECEIVE_COUNT, RETENTION_SECS};
        let p = RetryPolicy::standard();
        // Every attempt of a failing delivery, at the longest jitter: how long it holds
        // its chat before it is dead-lettered and the next one's turn comes.
        let schedule: Duration = (1..=p.attempts())
            .filter_map(|a| p.next_delay(a, None, -1.0))
            .sum();
        let retention = Duration::from_secs(RETENTION_SECS.into());
        // How many failing deliveries a waiting one can be behind before the queue's
        // retention runs out, and the receives (one per attempt of each) it takes.
        let behind = retention.as_secs().div_ceil(schedule.as_secs()) as u32;
        let receives = behind * p.attempts();
        assert!(behind >= 12, "{behind}");
        assert!(receives <= WORST_WAITING_RECEIVES, "{receives}");
        assert!(
            receives < MAX_RECEIVE_COUNT,
            "{receives} receives waiting, ceiling {MAX_RECEIVE_COUNT}"
        );
    }

    #[test]
    fn follows_the_schedule_then_gives_up() {
        let p = RetryPolicy::standard();
        assert_eq!(p.attempts(), 8);
        let delays: Vec<Option<Duration>> = (1..=8).map(|a| p.next_delay(a, None, 0.0)).collect();
        assert_eq!(
            delays,
            [
                Some(Duration::from_secs(5)),
                Some(Duration::from_secs(300)),
                Some(Duration::from_secs(1_800)),
                Some(Duration::from_secs(7_200)),
                Some(Duration::from_secs(18_000)),
                Some(Duration::from_secs(36_000)),
                Some(Duration::from_secs(36_000)),
                None,
            ]
        );
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let p = RetryPolicy::standard();
        assert_eq!(p.next_delay(2, None, 1.0), Some(Duration::from_secs(330)));
        assert_eq!(p.next_delay(2, None, -1.0), Some(Duration::from_secs(270)));
        assert_eq!(
            p.next_delay(2, None, 7.0),
            Some(Duration::from_secs(330)),
            "samples are clamped"
        );
    }

    #[test]
    fn retry_after_is_honoured_but_bounded() {
        let p = RetryPolicy::standard();
        assert_eq!(
            p.next_delay(1, Some(Duration::from_secs(120)), 0.5),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            p.next_delay(1, Some(Duration::from_secs(999_999)), 0.0),
            Some(MAX_DELAY)
        );
        assert_eq!(
            p.next_delay(8, Some(Duration::from_secs(1)), 0.0),
            None,
            "no attempts left"
        );
    }
}

//! The one source of "now": the system clock in AWS, a settable one in tests and local
//! demos (a message's window is the window of its arrival). Nothing else reads the system
//! time; `tests/e2e/architecture.rs` checks it.

use crate::domain::Timestamp;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Where "now" comes from.
#[derive(Clone, Debug, Default)]
pub struct Clock(Option<Arc<Mutex<DateTime<Utc>>>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that stays at `at` until set again.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Self(Some(Arc::new(Mutex::new(at))))
    }

    /// Moves a fixed clock (no effect on the system clock).
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(cell) = &self.0 {
            *cell.lock().expect("clock lock") = at;
        }
    }

    /// The current instant.
    pub fn now(&self) -> Timestamp {
        match &self.0 {
            Some(cell) => Timestamp::from_utc(*cell.lock().expect("clock lock")),
            None => Timestamp::from_utc(Utc::now()),
        }
    }

    /// Unix seconds `days` days from now: a TTL attribute's value.
    pub fn days_from_now(&self, days: i64) -> i64 {
        self.now().utc().timestamp() + days * 86_400
    }

    /// The monotonic instant `margin` before a wall-clock deadline (a Lambda invocation's),
    /// measured on the system clock whatever this clock says: deadlines are real time.
    pub fn deadline_before(wall: SystemTime, margin: Duration) -> Instant {
        let left = wall.duration_since(SystemTime::now()).unwrap_or_default();
        Instant::now() + left.saturating_sub(margin)
    }

    /// The wall-clock instant `after` from now on the system clock, for deadlines handed
    /// to others (the local runtime API's `Lambda-Runtime-Deadline-Ms`).
    pub fn system_deadline(after: Duration) -> SystemTime {
        SystemTime::now() + after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_moves_only_when_set() {
        let at: DateTime<Utc> = "2026-03-01T10:00:00Z".parse().unwrap();
        let clock = Clock::fixed(at);
        assert_eq!(clock.now().utc(), at);
        let later: DateTime<Utc> = "2026-03-01T11:00:00Z".parse().unwrap();
        clock.set(later);
        assert_eq!(clock.now().utc(), later);
        assert_eq!(clock.days_from_now(1), later.timestamp() + 86_400);
    }

    #[test]
    fn deadlines_leave_the_margin() {
        let wall = Clock::system_deadline(Duration::from_secs(30));
        let deadline = Clock::deadline_before(wall, Duration::from_secs(20));
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(left <= Duration::from_secs(10) && left > Duration::from_secs(8));
        let past = Clock::deadline_before(SystemTime::UNIX_EPOCH, Duration::ZERO);
        assert!(past <= Instant::now());
    }
}

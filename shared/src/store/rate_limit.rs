//! Per-workspace request rate: fixed windows (one second by default) with an exact count
//! shared by every Lambda; `admission` keeps it on the workspace item.

use crate::domain::Timestamp;

/// How many requests a workspace may make per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// Window length in seconds.
    pub window_secs: u32,
}

/// The request was over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverLimit {
    /// Seconds until the next window opens.
    pub retry_after_secs: u32,
}

impl RateLimit {
    /// The window `now` falls in: its start in Unix seconds and the seconds left in it.
    pub fn window(&self, now: &Timestamp) -> (i64, u32) {
        let secs = now.utc().timestamp();
        let len = i64::from(self.window_secs.max(1));
        let start = secs - secs.rem_euclid(len);
        (start, (start + len - secs) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_and_report_the_time_left() {
        let limit = RateLimit {
            requests: 10,
            window_secs: 10,
        };
        let at = Timestamp::parse("2026-01-21T05:00:03Z").unwrap();
        let (start, left) = limit.window(&at);
        assert_eq!(start % 10, 0);
        assert_eq!(left, 7);
        let one = RateLimit {
            requests: 1,
            window_secs: 1,
        };
        assert_eq!(one.window(&at).1, 1);
    }
}

//! Per-workspace request rate: fixed windows (one second by default) with an exact count
//! shared by every Lambda.

use super::Timestamp;

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

/// The rate window a request falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    /// Its start, in Unix seconds (names the window).
    pub start: i64,
    /// Seconds left in it.
    pub left_secs: u32,
}

impl RateLimit {
    /// The window `now` falls in.
    pub fn window(&self, now: &Timestamp) -> RateWindow {
        let secs = now.utc().timestamp();
        let len = i64::from(self.window_secs.max(1));
        let start = secs - secs.rem_euclid(len);
        RateWindow {
            start,
            left_secs: (start + len - secs) as u32,
        }
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
        let window = limit.window(&at);
        assert_eq!(window.start % 10, 0);
        assert_eq!(window.left_secs, 7);
        let one = RateLimit {
            requests: 1,
            window_secs: 1,
        };
        assert_eq!(one.window(&at).left_secs, 1);
    }
}

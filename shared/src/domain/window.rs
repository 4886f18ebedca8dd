//! Aggregation windows: UTC-aligned multiples of the granularity.

use super::{Aggregation, Timestamp};
use chrono::{TimeZone, Utc};

/// One window of one granularity: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    /// First instant inside.
    pub start: Timestamp,
    /// First instant after.
    pub end: Timestamp,
}

impl Aggregation {
    /// The window length in seconds; `None` for immediate delivery.
    pub fn window_seconds(self) -> Option<i64> {
        match self {
            Aggregation::None => None,
            Aggregation::Hours1 => Some(3_600),
            Aggregation::Hours6 => Some(6 * 3_600),
            Aggregation::Hours12 => Some(12 * 3_600),
            Aggregation::Hours24 => Some(24 * 3_600),
        }
    }
}

impl Window {
    /// The window of `granularity` containing `at`; `None` in immediate mode.
    pub fn containing(at: Timestamp, granularity: Aggregation) -> Option<Self> {
        let length = granularity.window_seconds()?;
        let start = at.utc().timestamp().div_euclid(length) * length;
        let instant =
            |s: i64| Timestamp::from_utc(Utc.timestamp_opt(s, 0).single().expect("in range"));
        Some(Self {
            start: instant(start),
            end: instant(start + length),
        })
    }

    /// The window starting no earlier than `not_before`: after a switch to immediate
    /// delivery flushed the aligned window early, a later switch back collects into a
    /// window of its own (its own key, bundle id and messages), never into the flushed one.
    pub fn starting_no_earlier(self, not_before: Option<Timestamp>) -> Self {
        match not_before {
            Some(t) if t > self.start && t < self.end => Self {
                start: t,
                end: self.end,
            },
            _ => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn window(at: &str, g: Aggregation) -> (String, String) {
        let w = Window::containing(t(at), g).unwrap();
        (w.start.to_string(), w.end.to_string())
    }

    #[test]
    fn windows_align_to_utc_multiples() {
        assert_eq!(
            window("2021-02-24T16:25:29+0000", Aggregation::Hours1),
            (
                "2021-02-24T16:00:00+0000".into(),
                "2021-02-24T17:00:00+0000".into()
            )
        );
        assert_eq!(
            window("2021-02-24T05:59:59+0000", Aggregation::Hours6),
            (
                "2021-02-24T00:00:00+0000".into(),
                "2021-02-24T06:00:00+0000".into()
            )
        );
        assert_eq!(
            window("2021-02-24T06:00:00+0000", Aggregation::Hours6),
            (
                "2021-02-24T06:00:00+0000".into(),
                "2021-02-24T12:00:00+0000".into()
            )
        );
        assert_eq!(
            window("2021-02-24T11:59:59+0000", Aggregation::Hours12),
            (
                "2021-02-24T00:00:00+0000".into(),
                "2021-02-24T12:00:00+0000".into()
            )
        );
        assert_eq!(
            window("2021-02-24T12:00:00+0000", Aggregation::Hours12),
            (
                "2021-02-24T12:00:00+0000".into(),
                "2021-02-25T00:00:00+0000".into()
            )
        );
        assert_eq!(
            window("2021-02-24T23:59:59+0000", Aggregation::Hours24),
            (
                "2021-02-24T00:00:00+0000".into(),
                "2021-02-25T00:00:00+0000".into()
            )
        );
        // Local offsets do not move windows: they are UTC.
        assert_eq!(
            window("2021-02-25T01:30:00+0200", Aggregation::Hours24),
            (
                "2021-02-24T00:00:00+0000".into(),
                "2021-02-25T00:00:00+0000".into()
            )
        );
    }

    #[test]
    fn a_window_after_an_early_flush_starts_at_the_flush() {
        let w = Window::containing(t("2021-02-24T16:25:29+0000"), Aggregation::Hours1).unwrap();
        let flush = t("2021-02-24T16:10:00+0000");
        let later = w.starting_no_earlier(Some(flush));
        assert_eq!(later.start, flush);
        assert_eq!(later.end, w.end);
        assert_eq!(w.starting_no_earlier(None), w);
        // A flush outside the window changes nothing.
        assert_eq!(
            w.starting_no_earlier(Some(t("2021-02-24T15:59:00+0000"))),
            w
        );
        assert_eq!(w.starting_no_earlier(Some(w.end)), w);
    }

    #[test]
    fn immediate_mode_has_no_window() {
        assert_eq!(
            Window::containing(t("2021-02-24T16:25:29+0000"), Aggregation::None),
            None
        );
    }
}

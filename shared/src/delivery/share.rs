//! A workspace's share of the sender. While its receiver is slow (an attempt took at least
//! `slow_after`), at most `invocations` sender invocations deliver for it at once; any
//! other invocation hands its records back untried, after a delay that grows with the
//! record's receives up to 10 minutes (so an old record waits at most that much longer
//! than a new one). A record held back for `GIVE_UP_RECEIVES` receives (about three days)
//! is dead-lettered where the tenant sees and replays it, before the queue's receive
//! ceiling could move it untried.

use std::time::Duration;

/// Sender invocations one slow workspace may hold at once (of the event source's 50).
pub const DEFAULT_INVOCATIONS: u32 = 10;
/// An attempt at least this long marks the receiver slow.
pub const DEFAULT_SLOW_AFTER: Duration = Duration::from_secs(2);
/// How long a receiver stays marked slow after its last slow attempt.
pub const SLOW_FOR: Duration = Duration::from_secs(600);
/// How long a slot stays taken when its invocation dies without giving it back: the
/// sender's 30 s timeout and a margin.
pub const SLOT_LEASE: Duration = Duration::from_secs(40);
/// The first hand-back's delay; each receive after it waits 25 % longer.
pub const FIRST_REFUSAL: Duration = Duration::from_secs(5);
/// The longest hand-back delay.
const LONGEST_REFUSAL: Duration = Duration::from_secs(600);
/// Receives after which a record still held back is dead-lettered (replayable) instead:
/// below the queue's ceiling, with room for the receives of a batch in flight.
pub const GIVE_UP_RECEIVES: u32 = 450;
// A record given up at its last refusal may still, had it got a slot instead, spend the
// receives of waiting behind its chat's failing deliveries and of its own attempts.
const _: () = assert!(
    GIVE_UP_RECEIVES
        + crate::delivery::retry::WORST_WAITING_RECEIVES
        + crate::delivery::retry::STANDARD_SCHEDULE.len() as u32
        + 10
        < crate::queue::spec::MAX_RECEIVE_COUNT
);

/// How the sender shares itself between workspaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderShare {
    /// Invocations one slow workspace may hold at once.
    pub invocations: u32,
    /// An attempt this long marks the receiver slow.
    pub slow_after: Duration,
    /// The first hand-back's delay (`FIRST_REFUSAL`; tests shorten it).
    pub first_refusal: Duration,
}

impl Default for SenderShare {
    fn default() -> Self {
        Self {
            invocations: DEFAULT_INVOCATIONS,
            slow_after: DEFAULT_SLOW_AFTER,
            first_refusal: FIRST_REFUSAL,
        }
    }
}

impl SenderShare {
    /// Whether a record received `receives` times is given up (dead-lettered) rather than
    /// handed back again.
    pub fn gives_up(&self, receives: u32) -> bool {
        receives >= GIVE_UP_RECEIVES
    }

    /// Whether an attempt that took `latency_ms` makes its receiver slow.
    pub fn is_slow(&self, latency_ms: u64) -> bool {
        u128::from(latency_ms) >= self.slow_after.as_millis()
    }

    /// The delay before a record refused for want of a slot comes back, after
    /// `receives` receives (1 at the first): the first refusal's delay × 1.25^(receives −
    /// 1), at most 10 minutes.
    pub fn refused_delay(&self, receives: u32) -> Duration {
        let factor = 1.25_f64.powi(receives.saturating_sub(1).min(64) as i32);
        self.first_refusal.mul_f64(factor).min(LONGEST_REFUSAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::spec::RETENTION_SECS;

    #[test]
    fn refusals_grow_then_wait_ten_minutes() {
        let refused_delay = |r| SenderShare::default().refused_delay(r);
        assert_eq!(refused_delay(1), Duration::from_secs(5));
        assert_eq!(refused_delay(2), Duration::from_millis(6250));
        assert!(refused_delay(10) > Duration::from_secs(30));
        assert_eq!(refused_delay(30), LONGEST_REFUSAL);
        assert_eq!(refused_delay(u32::MAX), LONGEST_REFUSAL);
    }

    #[test]
    fn a_held_back_delivery_is_dead_lettered_after_days_never_moved_untried() {
        // Its receives spent waiting behind its chat's failing deliveries and on its own
        // attempts, at most; the rest go to refusals, at their shortest delays.
        let spent = crate::delivery::retry::WORST_WAITING_RECEIVES
            + crate::delivery::RetryPolicy::standard().attempts();
        let share = SenderShare::default();
        let held: Duration = (1..GIVE_UP_RECEIVES - spent)
            .map(|r| share.refused_delay(r))
            .sum();
        assert!(held > Duration::from_secs(2 * 86_400), "{held:?}");
        // Without waiting, about three days.
        let alone: Duration = (1..GIVE_UP_RECEIVES).map(|r| share.refused_delay(r)).sum();
        assert!(alone > Duration::from_secs(5 * 86_400 / 2), "{alone:?}");
        assert!(alone < Duration::from_secs(RETENTION_SECS.into()));
    }

    #[test]
    fn slow_means_at_least_the_threshold() {
        let share = SenderShare::default();
        assert!(!share.is_slow(1_999));
        assert!(share.is_slow(2_000));
    }
}

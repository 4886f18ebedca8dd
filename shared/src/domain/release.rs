//! Releasing kept deliveries: enable (or a save with the webhook on) and replay put them
//! back on the queue in steps the sender carries out, each step a message of its own, so
//! the API answers at once whatever the number. While an enable's release drains, new
//! deliveries of the workspace are held behind it, so none overtakes an older one of its
//! chat.

use super::{Kept, Timestamp, Webhook, WorkspaceId};
use serde::{Deserialize, Serialize};

/// After a release ends, deliveries are still held (and released at once by whoever held
/// them) this long, so one held by a request that read the webhook just before the end
/// is not overtaken by the next message of its chat.
pub const RELEASE_SETTLE_MS: i64 = 60_000;

/// A draining release that has shown no progress for this long is taken to have lost its
/// order (an API call cut between switching on and queueing it, a step that keeps
/// failing): the next holder or aggregator run queues it again. A step that re-queues
/// something shows progress; one that fails does not (it comes back after the queue's
/// visibility timeout, 3 minutes, and may stall the release).
pub const RELEASE_STALL_MS: i64 = 10 * 60 * 1_000;

/// SQS's deduplication window: restarts of one release within it are one.
const RESTART_PERIOD_MS: i64 = 5 * 60 * 1_000;

/// A holder's rest starts its steps from here up to twice this (a release's chain counts
/// from 0, a restart from 1,000,000 plus a five-minute period: about 7,000,000 in 2026).
const HOLDERS_REST_STEPS: u32 = 1 << 30;

/// An order to put a workspace's kept deliveries back on the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseOrder {
    /// Whose deliveries.
    pub workspace_id: WorkspaceId,
    /// The release's nonce: part of the deduplication id of what it queues (one release
    /// queues a delivery once) and which release the webhook waits for.
    pub nonce: u64,
    /// What to put back, in this order.
    pub kinds: Vec<Kept>,
    /// Only deliveries created at or after this instant (ms since the epoch).
    pub since_ms: i64,
    /// New deliveries wait behind this release until it ends (an enable's).
    pub holds_new: bool,
    /// Steps carried out before this one.
    #[serde(default)]
    pub step: u32,
}

impl ReleaseOrder {
    /// The order of an enable: everything held, new deliveries waiting behind it.
    pub fn enable(ws: &WorkspaceId, nonce: u64) -> Self {
        Self {
            workspace_id: ws.clone(),
            nonce,
            kinds: vec![Kept::Held],
            since_ms: 0,
            holds_new: true,
            step: 0,
        }
    }

    /// The order of a replay: dead letters, then held deliveries, created since `since`.
    pub fn replay(ws: &WorkspaceId, nonce: u64, since: Timestamp) -> Self {
        Self {
            workspace_id: ws.clone(),
            nonce,
            kinds: vec![Kept::DeadLetter, Kept::Held],
            since_ms: since.millis(),
            holds_new: false,
            step: 0,
        }
    }

    /// The same order, one step on (what is done is gone from the store, so the next
    /// step starts again from the oldest left).
    pub fn next_step(&self) -> Self {
        Self {
            step: self.step + 1,
            ..self.clone()
        }
    }

    /// The order of an enable's release queued again after it stalled at `now`: a step
    /// number of its own per five minutes (SQS's deduplication window), so the holders
    /// noticing the stall in those minutes queue it once and a later restart is not
    /// swallowed.
    pub fn restart(ws: &WorkspaceId, nonce: u64, now: Timestamp) -> Self {
        Self {
            step: 1_000_000 + (now.millis() / RESTART_PERIOD_MS) as u32,
            ..Self::enable(ws, nonce)
        }
    }

    /// What a holder left held under release `nonce` (more than it puts back itself): a
    /// step number of its own, random and above any a release's chain or restart takes,
    /// because the step is part of the order's SQS deduplication id, and a repeat of the
    /// release's own step 1 within five minutes would be dropped, leaving the deliveries
    /// held until the next release. Two holders' rests are two orders: they put back the
    /// same deliveries under the same nonce, so SQS still queues each once.
    pub fn holders_rest(ws: &WorkspaceId, nonce: u64) -> Self {
        Self {
            holds_new: false,
            step: HOLDERS_REST_STEPS + rand::random::<u32>() % HOLDERS_REST_STEPS,
            ..Self::enable(ws, nonce)
        }
    }

    /// After an enable's release ended: the deliveries held behind it in the meantime.
    pub fn stragglers(&self) -> Self {
        Self {
            kinds: vec![Kept::Held],
            since_ms: 0,
            holds_new: false,
            ..self.next_step()
        }
    }
}

/// Where a webhook's latest release stands, for a new delivery of its workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleasePhase {
    /// No release is near: deliveries go to the queue.
    Idle,
    /// A release drains: new deliveries are held behind it.
    Draining(u64),
    /// A release just ended: new deliveries are held and released at once with its nonce.
    Settling(u64),
}

impl Webhook {
    /// The release to queue again, when one drains without progress since `RELEASE_STALL_MS`.
    pub fn stalled_release(&self, now: Timestamp) -> Option<u64> {
        let ReleasePhase::Draining(nonce) = self.release_phase(now) else {
            return None;
        };
        let progress = self.release_progress_ms.unwrap_or_default();
        (now.millis() - progress >= RELEASE_STALL_MS).then_some(nonce)
    }

    /// The phase of the latest release at `now`.
    pub fn release_phase(&self, now: Timestamp) -> ReleasePhase {
        match (self.release_nonce, self.release_ended_ms) {
            (None, _) => ReleasePhase::Idle,
            (Some(nonce), None) => ReleasePhase::Draining(nonce),
            (Some(nonce), Some(ended)) if now.millis() < ended + RELEASE_SETTLE_MS => {
                ReleasePhase::Settling(nonce)
            }
            (Some(_), Some(_)) => ReleasePhase::Idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Aggregation;

    fn webhook(nonce: Option<u64>, ended: Option<i64>) -> Webhook {
        let mut w: Webhook = serde_json::from_value(serde_json::json!({
            "url": "https://r.example/h", "enabled": true, "aggregation": Aggregation::None,
            "secret": "whsec_x",
        }))
        .unwrap();
        w.release_nonce = nonce;
        w.release_ended_ms = ended;
        w
    }

    #[test]
    fn a_release_drains_then_settles_for_a_minute() {
        let now = Timestamp::from_unix_millis(1_000_000).unwrap();
        let cases = [
            (None, None, ReleasePhase::Idle),
            (Some(7), None, ReleasePhase::Draining(7)),
            (Some(7), Some(1_000_000 - 59_999), ReleasePhase::Settling(7)),
            (Some(7), Some(1_000_000 - 60_000), ReleasePhase::Idle),
        ];
        for (nonce, ended, phase) in cases {
            assert_eq!(webhook(nonce, ended).release_phase(now), phase, "{ended:?}");
        }
    }

    #[test]
    fn a_release_without_progress_for_ten_minutes_is_stalled() {
        let now = Timestamp::from_unix_millis(10_000_000).unwrap();
        let mut w = webhook(Some(7), None);
        w.release_progress_ms = Some(10_000_000 - RELEASE_STALL_MS + 1);
        assert_eq!(w.stalled_release(now), None);
        w.release_progress_ms = Some(10_000_000 - RELEASE_STALL_MS);
        assert_eq!(w.stalled_release(now), Some(7));
        w.release_ended_ms = Some(1);
        assert_eq!(
            w.stalled_release(now),
            None,
            "an ended release never stalls"
        );
        let ws = WorkspaceId::generate();
        let (a, b) = (
            ReleaseOrder::restart(&ws, 7, now),
            ReleaseOrder::restart(&ws, 7, now),
        );
        assert_eq!(a, b, "one restart per stall period");
        assert!(a.holds_new);
    }

    #[test]
    fn a_holders_rest_is_never_a_step_of_its_release_nor_another_holders() {
        // The step is part of the order's SQS deduplication id: a repeat within five
        // minutes is dropped even after the first was carried out, and the held
        // deliveries would wait for the next release.
        let ws = WorkspaceId::generate();
        let mut chain = vec![ReleaseOrder::enable(&ws, 9)];
        for _ in 0..1_000 {
            let last = chain.last().unwrap().clone();
            chain.push(last.stragglers());
            chain.push(last.next_step());
        }
        let now = Timestamp::from_unix_millis(1_796_000_000_000).unwrap();
        chain.push(ReleaseOrder::restart(&ws, 9, now));
        let steps: std::collections::BTreeSet<u32> = chain.iter().map(|o| o.step).collect();
        let (a, b) = (
            ReleaseOrder::holders_rest(&ws, 9),
            ReleaseOrder::holders_rest(&ws, 9),
        );
        assert!(
            !steps.contains(&a.step),
            "step {} repeats the release's",
            a.step
        );
        assert_ne!(a.step, b.step, "two holders' rests are two orders");
        assert_eq!(
            (a.nonce, a.kinds, a.since_ms, a.holds_new),
            (9, vec![Kept::Held], 0, false)
        );
        assert!(
            a.step.checked_add(1_000_000).is_some(),
            "room for its own steps"
        );
    }

    #[test]
    fn a_step_keeps_the_order_and_stragglers_take_only_the_held() {
        let ws = WorkspaceId::generate();
        let order = ReleaseOrder::enable(&ws, 9);
        assert_eq!(order.next_step().step, 1);
        assert_eq!(order.next_step().nonce, 9);
        let replay = ReleaseOrder::replay(&ws, 9, Timestamp::from_unix_millis(5).unwrap());
        let late = replay.stragglers();
        assert_eq!(
            (late.kinds, late.since_ms, late.holds_new),
            (vec![Kept::Held], 0, false)
        );
        assert_eq!(late.step, 1);
    }
}

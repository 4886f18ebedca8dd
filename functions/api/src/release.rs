//! Resuming delivery when a webhook is switched on (or its settings saved while on): the
//! held deliveries are counted and a release order queued for the sender, which puts them
//! back on the queue in steps while new deliveries wait behind them; parked windows go
//! back into the due index.

use outflow::domain::{Aggregation, Kept, ReleaseOrder, Timestamp, WorkspaceId};
use outflow::http::ApiError;
use outflow::queue::DeliveryQueue;
use outflow::store::Store;

/// Pages (1 MB each) read to count kept deliveries before answering; beyond them the
/// count is a lower bound (everything is released all the same).
pub const COUNT_PAGES: usize = 20;

/// What resuming put back in motion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resumed {
    /// Held deliveries being re-queued.
    pub deliveries: usize,
    /// Whether `deliveries` counts them all (else it is a lower bound).
    pub counted_all: bool,
    /// Pending aggregation windows scheduled again.
    pub windows: usize,
}

/// Starts the release `release` the webhook was just switched on with, and reschedules
/// pending windows: at their own end, or due now when the webhook delivers immediately
/// (flushed by the first aggregator run after the grace, under the granularity they were
/// collected with).
pub async fn resume(
    store: &Store,
    queue: &DeliveryQueue,
    release: (&WorkspaceId, u64),
    aggregation: Aggregation,
    now: Timestamp,
) -> Result<Resumed, ApiError> {
    let (deliveries, counted_all) =
        outflow::delivery::release::start(store, queue, release, COUNT_PAGES, now).await?;
    let windows = store
        .reschedule_windows(
            release.0,
            Some(now.millis()).filter(|_| aggregation.is_immediate()),
        )
        .await?;
    Ok(Resumed {
        deliveries,
        counted_all,
        windows,
    })
}

/// Counts the kept deliveries a replay since `since` puts back, then queues its order:
/// dead letters, then held deliveries (unless an enable's release drains them already).
pub async fn replay(
    store: &Store,
    queue: &DeliveryQueue,
    ws: &WorkspaceId,
    since: Timestamp,
    enable_draining: bool,
) -> Result<(usize, usize), ApiError> {
    let since_ms = since.millis();
    let (dead, _) = store
        .count_kept(ws, Kept::DeadLetter, since_ms, COUNT_PAGES)
        .await?;
    let (held, _) = match enable_draining {
        true => (0, true),
        false => {
            store
                .count_kept(ws, Kept::Held, since_ms, COUNT_PAGES)
                .await?
        }
    };
    if dead + held > 0 {
        let mut order = ReleaseOrder::replay(ws, rand::random(), since);
        if enable_draining {
            order.kinds.retain(|k| *k == Kept::DeadLetter);
        }
        queue.send_release_order(&order).await?;
    }
    Ok((dead, held))
}

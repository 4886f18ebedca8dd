//! Resuming delivery when a webhook is switched on (or its settings saved while on):
//! held deliveries go back on the queue and parked windows back into the due index.

use outflow::domain::{Aggregation, WorkspaceId};
use outflow::http::ApiError;
use outflow::queue::DeliveryQueue;
use outflow::store::Store;

const PAGE: i32 = 100;

/// What resuming put back in motion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resumed {
    /// Held deliveries re-queued.
    pub deliveries: usize,
    /// Pending aggregation windows scheduled again.
    pub windows: usize,
}

/// Re-enqueues every held delivery, oldest first, and reschedules pending windows: at their
/// own end, or at the next aggregator run when the webhook now delivers immediately
/// (pending windows flush under the granularity they were collected with).
pub async fn resume(
    store: &Store,
    queue: &DeliveryQueue,
    ws: &WorkspaceId,
    aggregation: Aggregation,
) -> Result<Resumed, ApiError> {
    let deliveries = release_held(store, queue, ws).await?;
    let windows = store
        .reschedule_windows(ws, aggregation.is_immediate())
        .await?;
    Ok(Resumed {
        deliveries,
        windows,
    })
}

/// A held delivery is forgotten only after SQS accepted it: a crash re-sends, never loses.
async fn release_held(
    store: &Store,
    queue: &DeliveryQueue,
    ws: &WorkspaceId,
) -> Result<usize, ApiError> {
    let mut released = 0;
    loop {
        let page = store.held(ws, PAGE).await?;
        if page.is_empty() {
            return Ok(released);
        }
        let (keys, envelopes): (Vec<_>, Vec<_>) = page.into_iter().unzip();
        queue.send(&envelopes).await?;
        released += envelopes.len();
        store.forget_kept(ws, keys).await?;
    }
}

//! Resuming delivery when a webhook is switched on (or its settings saved while on):
//! held deliveries go back on the queue and parked windows back into the due index.

use outflow::domain::{Aggregation, Kept, WorkspaceId};
use outflow::http::ApiError;
use outflow::queue::DeliveryQueue;
use outflow::store::{KeptDelivery, Store};

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
    let deliveries = requeue_kept(store, queue, ws, Kept::Held, 0, rand::random()).await?;
    let windows = store
        .reschedule_windows(ws, aggregation.is_immediate())
        .await?;
    Ok(Resumed {
        deliveries,
        windows,
    })
}

/// Re-enqueues every kept delivery of `kind` created at or after `since_ms`, oldest first.
/// Each page is forgotten only after SQS accepted it: a crash re-sends, never loses. One
/// release (`release`: its nonce) queues each delivery once, even kept twice (a client's
/// retry of a request that held it).
pub async fn requeue_kept(
    store: &Store,
    queue: &DeliveryQueue,
    ws: &WorkspaceId,
    kind: Kept,
    since_ms: i64,
    release: u64,
) -> Result<usize, ApiError> {
    let mut count = 0;
    loop {
        let page = store.kept(ws, kind, since_ms, PAGE).await?;
        if page.is_empty() {
            return Ok(count);
        }
        let (keys, envelopes): (Vec<_>, Vec<_>) = page
            .into_iter()
            .map(|KeptDelivery { key, envelope }| (key, envelope))
            .unzip();
        queue.send_release(&envelopes, release).await?;
        count += envelopes.len();
        store.forget_kept(&keys).await?;
    }
}

//! Putting held deliveries back on the queue when a webhook is switched on again.

use outflow::domain::WorkspaceId;
use outflow::http::ApiError;
use outflow::queue::DeliveryQueue;
use outflow::store::Store;

const PAGE: i32 = 100;

/// Re-enqueues every held delivery, oldest first; returns how many. A delivery is
/// forgotten only after SQS accepted it, so a crash here re-sends rather than loses.
pub async fn release_held(
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
        store.release_held(ws, keys).await?;
    }
}

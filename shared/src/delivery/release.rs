//! Carrying out releases: kept deliveries back on the queue page by page (each page
//! forgotten only once SQS took it), a step of a release order within its budget, and the
//! check a holder makes after holding behind a release.

use crate::delivery::edits::with_edits;
use crate::domain::{Kept, ReleaseOrder, ReleasePhase, Timestamp, WorkspaceId, RELEASE_SETTLE_MS};
use crate::queue::{DeliveryQueue, QueueError};
use crate::store::{KeptDelivery, Read, Store, StoreError};
use std::time::{Duration, Instant};

/// Kept deliveries read and queued per page.
pub const PAGE: i32 = 100;

/// A step needs this much time left to start another page (a query, ten queue batches,
/// four deletes, with the SDK's retries).
const PAGE_TIME: Duration = Duration::from_secs(3);

/// A holder releases at most this many pages itself; more are left to a release step.
const HOLDER_PAGES: u32 = 5;

/// A release could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// A release step works this long at most: it shares its sender invocation with other
/// workspaces' deliveries, whose batch is not acknowledged before the step ends.
const STEP_TIME: Duration = Duration::from_secs(5);

/// How much one step may do.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Pages left.
    pub pages: u32,
    /// No page starts that could not end before this.
    pub deadline: Option<Instant>,
}

impl Budget {
    /// A step's budget: `pages`, and no longer than `STEP_TIME` or `deadline`.
    pub fn for_step(pages: u32, deadline: Option<Instant>) -> Self {
        let own = Instant::now() + STEP_TIME;
        Self {
            pages,
            deadline: Some(deadline.map_or(own, |d| d.min(own))),
        }
    }

    fn allows_a_page(&self) -> bool {
        self.pages > 0
            && self
                .deadline
                .is_none_or(|d| Instant::now() + PAGE_TIME <= d)
    }
}

/// Re-queues the kept deliveries of `kind` created at or after `since_ms`, oldest first,
/// under release `nonce`, while the budget lasts; returns how many and whether all.
pub async fn requeue_kept(
    store: &Store,
    queue: &DeliveryQueue,
    ws: &WorkspaceId,
    (kind, since_ms): (Kept, i64),
    nonce: u64,
    budget: &mut Budget,
) -> Result<(usize, bool), ReleaseError> {
    let mut count = 0;
    while budget.allows_a_page() {
        budget.pages -= 1;
        let page = store.kept(ws, kind, since_ms, PAGE).await?;
        if page.is_empty() {
            return Ok((count, true));
        }
        let (keys, envelopes): (Vec<_>, Vec<_>) = page
            .into_iter()
            .map(|KeptDelivery { key, envelope }| (key, envelope))
            .unzip();
        // Consistent: an edit acknowledged just before the release is not missed.
        let envelopes = with_edits(store, ws, envelopes, Read::Consistent).await?;
        if kind == Kept::DeadLetter {
            store.forget_attempts(&envelopes).await?;
        }
        queue.send_release(&envelopes, nonce).await?;
        count += envelopes.len();
        store.forget_kept(&keys).await?;
    }
    Ok((count, false))
}

/// Carries out one step of `order`; returns the order of the next step when the budget
/// ran out first. An enable's release that is done ends (new deliveries stop waiting),
/// then takes along what was held behind it meanwhile. A release replaced by a newer
/// one, or whose webhook is off again, stops: what is left stays kept for the next.
pub async fn carry_out_step(
    store: &Store,
    queue: &DeliveryQueue,
    order: &ReleaseOrder,
    mut budget: Budget,
    now: Timestamp,
) -> Result<Option<ReleaseOrder>, ReleaseError> {
    let ws = &order.workspace_id;
    let Some(webhook) = store.webhook_as_stored(ws).await?.filter(|w| w.enabled) else {
        return Ok(None);
    };
    if order.holds_new && webhook.release_nonce != Some(order.nonce) {
        return Ok(None);
    }
    for kind in &order.kinds {
        let range = (*kind, order.since_ms);
        let (moved, all) = requeue_kept(store, queue, ws, range, order.nonce, &mut budget).await?;
        if order.holds_new && moved > 0 {
            // Only work done counts: a step failing again and again lets the release stall.
            store.release_moved_on(ws, order.nonce, now).await?;
        }
        if !all {
            return Ok(Some(order.next_step()));
        }
    }
    if !order.holds_new || !store.end_release(ws, order.nonce, now).await? {
        return Ok(None);
    }
    // Holders check the release after holding: one that read it before this end finds
    // its delivery taken here (or takes it itself, with the same nonce).
    let late = order.stragglers();
    let (_, all) = requeue_kept(store, queue, ws, (Kept::Held, 0), late.nonce, &mut budget).await?;
    Ok((!all).then_some(late))
}

/// After holding deliveries (webhook off, or behind a release): when the webhook is on
/// and its release no longer drains, nobody else will put them back, so the holder does;
/// a release stalled without progress is queued again; what was held for an endpoint
/// deleted meanwhile is dropped.
pub async fn after_hold(
    store: &Store,
    queue: &DeliveryQueue,
    ws: &WorkspaceId,
    now: Timestamp,
) -> Result<(), ReleaseError> {
    let webhook = store.webhook_as_stored(ws).await?;
    if ws.is_endpoint_scope() && webhook.as_ref().is_none_or(|w| w.deleted_ms.is_some()) {
        // Held for an endpoint deleted since it was read: dropped, as its delete promised
        // (the delete's own purge may have ended before this hold).
        store.purge_kept(ws, Instant::now() + PAGE_TIME).await?;
        return Ok(());
    }
    let Some(webhook) = webhook.filter(|w| w.enabled) else {
        return Ok(()); // Off: kept for the next enable.
    };
    if let Some(nonce) = webhook.stalled_release(now) {
        return Ok(restart_stalled(queue, ws, nonce, now).await?);
    }
    let nonce = match webhook.release_phase(now) {
        ReleasePhase::Draining(_) => return Ok(()), // That release takes them along.
        ReleasePhase::Settling(nonce) => nonce,
        ReleasePhase::Idle => webhook.release_nonce.unwrap_or_else(rand::random),
    };
    release_held_now(store, queue, ws, nonce).await
}

/// Queues again the order of release `nonce`, stalled at `now` (holders and the
/// aggregator notice stalls; restarts within five minutes are one).
pub async fn restart_stalled(
    queue: &DeliveryQueue,
    ws: &WorkspaceId,
    nonce: u64,
    now: Timestamp,
) -> Result<(), QueueError> {
    queue
        .send_release_order(&ReleaseOrder::restart(ws, nonce, now))
        .await?;
    tracing::warn!(workspace_id = %ws, "release stalled; queued again");
    Ok(())
}

/// Starts the release `nonce` the webhook was just switched on with: with held
/// deliveries, queues its order for the sender; with none, ends it at once and takes
/// along what a request holding at this very moment added. Returns how many are held,
/// and whether that counts them all (reading at most `count_pages` pages).
pub async fn start(
    store: &Store,
    queue: &DeliveryQueue,
    (ws, nonce): (&WorkspaceId, u64),
    count_pages: usize,
    now: Timestamp,
) -> Result<(usize, bool), ReleaseError> {
    let (held, counted_all) = store.count_kept(ws, Kept::Held, 0, count_pages).await?;
    if held == 0 {
        // Ended a minute ago: no settling (a holder reading the release between the
        // enable and this end takes its delivery along itself, or this pass does).
        let settled = Timestamp::from_unix_millis(now.millis() - RELEASE_SETTLE_MS).unwrap_or(now);
        store.end_release(ws, nonce, settled).await?;
        release_held_now(store, queue, ws, nonce).await?;
        return Ok((0, true));
    }
    if let Err(e) = queue
        .send_release_order(&ReleaseOrder::enable(ws, nonce))
        .await
    {
        // Nobody would carry it out: new deliveries must not wait behind it.
        if let Err(end) = store.end_release(ws, nonce, now).await {
            tracing::error!(workspace_id = %ws, error = %end, "could not end an unqueued release");
        }
        return Err(e.into());
    }
    Ok((held, counted_all))
}

/// Re-queues what is held under release `nonce` here and now (a few pages; a release
/// step for the rest).
async fn release_held_now(
    store: &Store,
    queue: &DeliveryQueue,
    ws: &WorkspaceId,
    nonce: u64,
) -> Result<(), ReleaseError> {
    let mut budget = Budget {
        pages: HOLDER_PAGES,
        deadline: None,
    };
    let (_, all) = requeue_kept(store, queue, ws, (Kept::Held, 0), nonce, &mut budget).await?;
    if !all {
        queue
            .send_release_order(&ReleaseOrder::holders_rest(ws, nonce))
            .await?;
    }
    Ok(())
}

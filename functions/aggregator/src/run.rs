//! One aggregator run: walk the due index shard by shard, oldest windows first; claim,
//! bundle, enqueue and finish each window. A run stopped by its deadline leaves the rest
//! in the index, where the next run continues.

use crate::bundle::{bundle_id, envelopes};
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use outflow::domain::{ChatId, WorkspaceId};
use outflow::queue::{self, DeliveryEnvelope, DeliveryQueue, QueueError};
use outflow::store::keys::DUE_SHARDS;
use outflow::store::{PendingWindow, Store, StoreError, WebhookRecord};
use outflow::telemetry::metrics;
use serde::Serialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Messages may still be landing for this long after a window ends (ingest runs ≤ 10 s,
/// and the window index is eventually consistent).
pub const GRACE: Duration = Duration::from_secs(60);
/// A claim older than this belongs to a run that died; another run may take it.
pub const STALE_CLAIM: Duration = Duration::from_secs(15 * 60);
/// Windows bundled at once.
const CONCURRENCY: usize = 8;

/// A run failed.
#[derive(Debug, thiserror::Error)]
pub enum AggregatorError {
    /// The table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// Windows found due.
    pub windows_due: usize,
    /// Bundles enqueued (a split bundle counts once).
    pub bundles_enqueued: usize,
    /// Deliveries enqueued (parts).
    pub parts_enqueued: usize,
    /// Messages in those bundles.
    pub messages_bundled: usize,
    /// Windows kept aside because their webhook is off.
    pub windows_parked: usize,
    /// Windows another run had claimed.
    pub windows_skipped: usize,
    /// False when the deadline stopped the run early.
    pub complete: bool,
}

/// Groups a due page by chat, keeping each chat's windows in due order.
fn by_chat(windows: Vec<PendingWindow>) -> Vec<Vec<PendingWindow>> {
    let mut groups: Vec<Vec<PendingWindow>> = Vec::new();
    let mut index: HashMap<(WorkspaceId, ChatId), usize> = HashMap::new();
    for w in windows {
        let key = (w.workspace_id.clone(), w.chat_id.clone());
        match index.get(&key) {
            Some(&i) => groups[i].push(w),
            None => {
                index.insert(key, groups.len());
                groups.push(vec![w]);
            }
        }
    }
    groups
}

/// The aggregator, built once per container.
#[derive(Clone, Debug)]
pub struct Aggregator {
    store: Store,
    queue: DeliveryQueue,
    permalink_base: String,
}

enum Outcome {
    /// Claimed and bundled; enqueued with the rest of its page.
    Ready(Ready),
    Parked,
    Skipped,
    /// Claimed, but no message landed in it: only finished.
    Empty(PendingWindow),
}

/// A claimed window's bundle, waiting to be enqueued.
struct Ready {
    window: PendingWindow,
    envelopes: Vec<DeliveryEnvelope>,
    messages: usize,
}

impl Aggregator {
    /// An aggregator over the store and queue; permalinks start with `permalink_base`.
    pub fn new(store: Store, queue: DeliveryQueue, permalink_base: impl Into<String>) -> Self {
        Self {
            store,
            queue,
            permalink_base: permalink_base.into(),
        }
    }

    /// Flushes every window that ended (plus the grace period) by `now`.
    pub async fn run(
        &self,
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Result<RunReport, AggregatorError> {
        let run_id = format!("run-{}-{}", now.timestamp_millis(), std::process::id());
        let due_ms = now.timestamp_millis() - GRACE.as_millis() as i64;
        let settings: Mutex<HashMap<WorkspaceId, Option<WebhookRecord>>> =
            Mutex::new(HashMap::new());
        let mut report = RunReport {
            complete: true,
            ..RunReport::default()
        };
        for shard in 0..DUE_SHARDS {
            let mut start = None;
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    report.complete = false;
                    return Ok(report);
                }
                let (windows, next) = self.store.due_windows(shard, due_ms, start).await?;
                report.windows_due += windows.len();
                let outcomes: Vec<Vec<Result<Outcome, AggregatorError>>> =
                    stream::iter(by_chat(windows))
                        .map(|chat_windows| {
                            self.flush_in_order(chat_windows, &run_id, now, &settings)
                        })
                        .buffer_unordered(CONCURRENCY)
                        .collect()
                        .await;
                let mut ready = Vec::new();
                let mut finished = Vec::new();
                let mut failure = None;
                for outcome in outcomes.into_iter().flatten() {
                    match outcome {
                        Ok(Outcome::Ready(r)) => ready.push(r),
                        Ok(Outcome::Parked) => report.windows_parked += 1,
                        Ok(Outcome::Skipped) => report.windows_skipped += 1,
                        Ok(Outcome::Empty(w)) => finished.push(w),
                        Err(e) => failure = failure.or(Some(e)),
                    }
                }
                let sent = self.enqueue(ready, &mut report, &mut finished).await;
                self.store.finish_windows(&finished).await?;
                if let Some(e) = failure {
                    return Err(e);
                }
                sent?;
                match next {
                    Some(key) => start = Some(key),
                    None => break,
                }
            }
        }
        tracing::info!(
            bundles = report.bundles_enqueued,
            messages = report.messages_bundled,
            parked = report.windows_parked,
            "aggregation run finished"
        );
        Ok(report)
    }

    /// Enqueues a page's bundles, several per SendMessageBatch, in page order (a chat's
    /// windows stay in order). Stops at the first failure: the windows sent so far are
    /// finished, the rest keep their claims and are bundled again once those go stale.
    async fn enqueue(
        &self,
        ready: Vec<Ready>,
        report: &mut RunReport,
        finished: &mut Vec<PendingWindow>,
    ) -> Result<(), AggregatorError> {
        let mut batch: Vec<Ready> = Vec::new();
        let mut entries = 0;
        let mut rest = ready.into_iter().peekable();
        while let Some(next) = rest.next() {
            entries += next.envelopes.len();
            batch.push(next);
            let full = rest
                .peek()
                .is_none_or(|r| entries + r.envelopes.len() > queue::BATCH);
            if !full {
                continue;
            }
            let envelopes: Vec<DeliveryEnvelope> = batch
                .iter()
                .flat_map(|r| r.envelopes.iter().cloned())
                .collect();
            self.queue.send_first(&envelopes).await?;
            for r in batch.drain(..) {
                report.bundles_enqueued += 1;
                report.parts_enqueued += r.envelopes.len();
                report.messages_bundled += r.messages;
                metrics::bundle_built(r.messages);
                tracing::info!(
                    workspace_id = %r.window.workspace_id,
                    bundle_id = %bundle_id(&r.window),
                    messages = r.messages,
                    parts = r.envelopes.len(),
                    "bundle enqueued"
                );
                finished.push(r.window);
            }
            entries = 0;
        }
        Ok(())
    }

    async fn webhook(
        &self,
        ws: &WorkspaceId,
        cache: &Mutex<HashMap<WorkspaceId, Option<WebhookRecord>>>,
    ) -> Result<Option<WebhookRecord>, StoreError> {
        if let Some(found) = cache.lock().await.get(ws) {
            return Ok(found.clone());
        }
        let record = self.store.webhook(ws).await?;
        cache.lock().await.insert(ws.clone(), record.clone());
        Ok(record)
    }

    /// One chat's windows, oldest first: its first bundle must be the one that says
    /// `is_new_chat`, and its bundles must be queued in order.
    async fn flush_in_order(
        &self,
        windows: Vec<PendingWindow>,
        run_id: &str,
        now: DateTime<Utc>,
        settings: &Mutex<HashMap<WorkspaceId, Option<WebhookRecord>>>,
    ) -> Vec<Result<Outcome, AggregatorError>> {
        let mut outcomes = Vec::with_capacity(windows.len());
        for window in windows {
            let outcome = self.flush(window, run_id, now, settings).await;
            let failed = outcome.is_err();
            outcomes.push(outcome);
            if failed {
                break; // later windows of this chat wait for the next run, keeping order
            }
        }
        outcomes
    }

    async fn flush(
        &self,
        window: PendingWindow,
        run_id: &str,
        now: DateTime<Utc>,
        settings: &Mutex<HashMap<WorkspaceId, Option<WebhookRecord>>>,
    ) -> Result<Outcome, AggregatorError> {
        let ws = &window.workspace_id;
        let enabled = self.webhook(ws, settings).await?.is_some_and(|w| w.enabled);
        if !enabled {
            // Kept, not delivered; enabling the webhook puts it back in the due index.
            self.store.park_window(&window).await?;
            return Ok(Outcome::Parked);
        }
        let now_ms = now.timestamp_millis();
        if !self
            .store
            .claim_window(&window, run_id, now_ms, STALE_CLAIM.as_millis() as i64)
            .await?
        {
            return Ok(Outcome::Skipped);
        }
        let messages = self.store.window_messages(&window).await?;
        if messages.is_empty() {
            return Ok(Outcome::Empty(window));
        }
        let count = messages.len();
        // Keyed by the bundle id, so a retried bundle decides is_new_chat the same way.
        let chat_state = self
            .store
            .announce_chat(ws, &window.chat_id, bundle_id(&window).as_str())
            .await?;
        let envelopes = envelopes(&window, messages, &chat_state, &self.permalink_base);
        Ok(Outcome::Ready(Ready {
            window,
            envelopes,
            messages: count,
        }))
    }
}

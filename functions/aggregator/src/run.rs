//! One aggregator run: walk the due index, every shard a page at a time, oldest windows
//! first; claim, bundle, enqueue and finish up to 100 windows at once (one transaction of
//! claims, one Query per bucket of messages, one read and one transaction for
//! `is_new_chat`). A run stopped by its deadline leaves the rest in the index, where the
//! next run continues.

use crate::bundle::{bundle_id, envelopes};
use chrono::{DateTime, Utc};
use futures::future;
use outflow::domain::{ChatId, WorkspaceId};
use outflow::queue::{self, DeliveryEnvelope, DeliveryQueue, QueueError};
use outflow::store::keys::DUE_SHARDS;
use outflow::store::transact::TRANSACT_CHUNK;
use outflow::store::{Item, PendingWindow, Store, StoreError, WebhookRecord};
use outflow::telemetry::metrics;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Messages may still be landing for this long after a window ends (ingest runs ≤ 10 s,
/// and the window index is eventually consistent).
pub const GRACE: Duration = Duration::from_secs(60);
/// A claim older than this belongs to a run that died; another run may take it.
pub const STALE_CLAIM: Duration = Duration::from_secs(15 * 60);

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

type ChatKey = (WorkspaceId, ChatId);

fn chat_key(w: &PendingWindow) -> ChatKey {
    (w.workspace_id.clone(), w.chat_id.clone())
}

/// The aggregator, built once per container.
#[derive(Clone, Debug)]
pub struct Aggregator {
    store: Store,
    queue: DeliveryQueue,
    permalink_base: String,
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
        let mut settings = HashMap::new();
        let mut report = RunReport {
            complete: true,
            ..RunReport::default()
        };
        let past_deadline = || deadline.is_some_and(|d| Instant::now() >= d);
        // Each round reads the next page of every shard that has more. A chat lives in one
        // shard, so its windows stay in due order within a round and across rounds.
        let mut cursors: Vec<(u32, Option<Item>)> = (0..DUE_SHARDS).map(|s| (s, None)).collect();
        while !cursors.is_empty() {
            let pages =
                future::try_join_all(cursors.into_iter().map(|(shard, start)| async move {
                    let (windows, next) = self.store.due_windows(shard, due_ms, start).await?;
                    Ok::<_, StoreError>((windows, next.map(|key| (shard, Some(key)))))
                }))
                .await?;
            let mut due = Vec::new();
            cursors = Vec::new();
            for (windows, next) in pages {
                due.extend(windows);
                cursors.extend(next);
            }
            report.windows_due += due.len();
            for chunk in due.chunks(TRANSACT_CHUNK) {
                if past_deadline() {
                    report.complete = false;
                    return Ok(report);
                }
                self.flush(chunk, &run_id, now, &mut settings, &mut report)
                    .await?;
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

    /// Up to 100 due windows: parks those whose webhook is off, claims the rest in one
    /// transaction, reads their messages bucket by bucket, decides `is_new_chat` once per
    /// chat, enqueues the bundles and finishes the windows that were sent or found empty.
    async fn flush(
        &self,
        windows: &[PendingWindow],
        run_id: &str,
        now: DateTime<Utc>,
        settings: &mut HashMap<WorkspaceId, Option<WebhookRecord>>,
        report: &mut RunReport,
    ) -> Result<(), AggregatorError> {
        let mut candidates = Vec::with_capacity(windows.len());
        for w in windows {
            let enabled = self
                .webhook(&w.workspace_id, settings)
                .await?
                .is_some_and(|h| h.enabled);
            if enabled {
                candidates.push(w.clone());
            } else {
                // Kept, not delivered; enabling the webhook puts it back in the due index.
                self.store.park_window(w).await?;
                report.windows_parked += 1;
            }
        }
        let now_ms = now.timestamp_millis();
        let won = self
            .store
            .claim_windows(&candidates, run_id, now_ms, STALE_CLAIM.as_millis() as i64)
            .await?;
        let mut claimed = Vec::with_capacity(candidates.len());
        for (w, won) in candidates.into_iter().zip(won) {
            if won {
                claimed.push(w);
            } else {
                report.windows_skipped += 1;
            }
        }
        let messages = self.store.windows_messages(&claimed).await?;

        // A chat's first bundle here is the one that may open its conversation; it is
        // keyed by the bundle id, so a retried bundle decides the same way.
        let mut first_of: HashMap<ChatKey, usize> = HashMap::new();
        let mut asked = Vec::new();
        for (w, m) in claimed.iter().zip(&messages) {
            if !m.is_empty() && !first_of.contains_key(&chat_key(w)) {
                first_of.insert(chat_key(w), asked.len());
                asked.push((
                    w.workspace_id.clone(),
                    w.chat_id.clone(),
                    bundle_id(w).as_str().to_string(),
                ));
            }
        }
        let states = self.store.announce_chats(&asked).await?;

        let mut ready = Vec::new();
        let mut finished = Vec::new();
        let mut seen: HashSet<ChatKey> = HashSet::new();
        for (window, messages) in claimed.into_iter().zip(messages) {
            if messages.is_empty() {
                // Claimed, but no message landed in it: only finished.
                finished.push(window);
                continue;
            }
            let key = chat_key(&window);
            let mut state = states[first_of[&key]].clone();
            state.is_new &= seen.insert(key);
            let count = messages.len();
            let envelopes = envelopes(&window, messages, &state, &self.permalink_base);
            ready.push(Ready {
                window,
                envelopes,
                messages: count,
            });
        }
        let sent = self.enqueue(ready, report, &mut finished).await;
        self.store.finish_windows(&finished).await?;
        sent
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
        cache: &mut HashMap<WorkspaceId, Option<WebhookRecord>>,
    ) -> Result<Option<WebhookRecord>, StoreError> {
        if let Some(found) = cache.get(ws) {
            return Ok(found.clone());
        }
        let record = self.store.webhook(ws).await?;
        cache.insert(ws.clone(), record.clone());
        Ok(record)
    }
}

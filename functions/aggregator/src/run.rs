//! One aggregator run: walk the due index, every shard a page at a time, oldest windows
//! first; claim, bundle, enqueue and finish up to 100 windows at once (one transaction of
//! claims, one Query per bucket of messages, one read and one transaction for
//! `is_new_chat`). A run stopped by its deadline leaves the rest in the index, where the
//! next run continues. The decisions are `plan.rs`'s; this file reads and writes.

use crate::plan::{announcements, bundles, send_batches, Ready};
use crate::Aggregator;
use chrono::{DateTime, Utc};
use outflow::domain::{DeliveryEnvelope, PendingWindow, Webhook, WorkspaceId};
use outflow::queue::QueueError;
use outflow::store::{DueCursor, StoreError, TRANSACT_CHUNK};
use outflow::telemetry::metrics;
use serde::Serialize;
use std::collections::HashMap;
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

/// Webhook settings read during one run, once per workspace.
type Settings = HashMap<WorkspaceId, Option<Webhook>>;

impl Aggregator {
    /// Flushes every window that ended (plus the grace period) by `now`.
    pub async fn run(
        &self,
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Result<RunReport, AggregatorError> {
        let run_id = format!("run-{}-{}", now.timestamp_millis(), std::process::id());
        let due_ms = now.timestamp_millis() - GRACE.as_millis() as i64;
        let mut settings = Settings::new();
        let mut report = RunReport {
            complete: true,
            ..RunReport::default()
        };
        let mut cursor = Some(DueCursor::start());
        while let Some(at) = cursor {
            let (due, next) = self.store.due_windows(due_ms, at).await?;
            cursor = next;
            report.windows_due += due.len();
            for chunk in due.chunks(TRANSACT_CHUNK) {
                if deadline.is_some_and(|d| Instant::now() >= d) {
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

    /// Up to 100 due windows: parks those whose webhook is off, claims the rest, reads
    /// their messages, asks each chat's state, enqueues the bundles and finishes the
    /// windows that were sent or found empty.
    async fn flush(
        &self,
        windows: &[PendingWindow],
        run_id: &str,
        now: DateTime<Utc>,
        settings: &mut Settings,
        report: &mut RunReport,
    ) -> Result<(), AggregatorError> {
        let claimed = self.claim(windows, run_id, now, settings, report).await?;
        let messages = self.store.windows_messages(&claimed).await?;
        let announced = announcements(&claimed, &messages);
        let states = self.store.announce_chats(&announced.asked).await?;
        let planned = bundles(claimed, messages, &announced, &states, &self.permalink_base);
        for w in &planned.damaged {
            tracing::error!(workspace_id = %w.workspace_id, start_ms = w.start_ms, end_ms = w.end_ms, "window item with impossible bounds");
        }
        let mut finished = planned.empty;
        let sent = self.enqueue(planned.ready, report, &mut finished).await;
        self.store.finish_windows(&finished).await?;
        sent
    }

    /// Parks the windows whose webhook is off (kept, not delivered; enabling puts them
    /// back) and claims the rest in one transaction; returns those this run holds.
    async fn claim(
        &self,
        windows: &[PendingWindow],
        run_id: &str,
        now: DateTime<Utc>,
        settings: &mut Settings,
        report: &mut RunReport,
    ) -> Result<Vec<PendingWindow>, AggregatorError> {
        let mut candidates = Vec::with_capacity(windows.len());
        for w in windows {
            if self
                .webhook(&w.workspace_id, settings)
                .await?
                .is_some_and(|h| h.enabled)
            {
                candidates.push(w.clone());
            } else {
                self.store.park_window(w).await?;
                report.windows_parked += 1;
            }
        }
        let stale = STALE_CLAIM.as_millis() as i64;
        let won = self
            .store
            .claim_windows(&candidates, run_id, now.timestamp_millis(), stale)
            .await?;
        report.windows_skipped += won.iter().filter(|w| !**w).count();
        Ok(candidates
            .into_iter()
            .zip(won)
            .filter_map(|(w, won)| won.then_some(w))
            .collect())
    }

    /// Enqueues bundles in `send_batches`' groups, in order (a chat's windows stay in
    /// order). Stops at the first failure: the windows sent so far are finished, the rest
    /// keep their claims and are bundled again once those go stale.
    async fn enqueue(
        &self,
        ready: Vec<Ready>,
        report: &mut RunReport,
        finished: &mut Vec<PendingWindow>,
    ) -> Result<(), AggregatorError> {
        for batch in send_batches(&ready) {
            let sent = &ready[batch];
            let envelopes: Vec<DeliveryEnvelope> = sent
                .iter()
                .flat_map(|r| r.envelopes.iter().cloned())
                .collect();
            self.queue.send_first(&envelopes).await?;
            for r in sent {
                report.bundles_enqueued += 1;
                report.parts_enqueued += r.envelopes.len();
                report.messages_bundled += r.messages;
                metrics::bundle_built(r.messages);
                tracing::info!(
                    workspace_id = %r.window.workspace_id,
                    bundle_id = %r.window.bundle_id(),
                    messages = r.messages,
                    parts = r.envelopes.len(),
                    "bundle enqueued"
                );
                finished.push(r.window.clone());
            }
        }
        Ok(())
    }

    async fn webhook(
        &self,
        ws: &WorkspaceId,
        cache: &mut Settings,
    ) -> Result<Option<Webhook>, StoreError> {
        if let Some(found) = cache.get(ws) {
            return Ok(found.clone());
        }
        let webhook = self.store.webhook(ws).await?;
        cache.insert(ws.clone(), webhook.clone());
        Ok(webhook)
    }
}

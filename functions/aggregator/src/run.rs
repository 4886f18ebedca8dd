//! One aggregator run: walk the due index, every shard a page at a time, oldest windows
//! first; claim, bundle, enqueue and finish up to 100 windows at once (one transaction of
//! claims, one Query per bucket of messages, one read and one transaction for
//! `is_new_chat`). A run stopped by its deadline leaves the rest in the index, where the
//! next run continues. The decisions are `plan.rs`'s; this file reads and writes.
//!
//! One window never stops or repeats another's: a failure (its messages unreadable, its
//! chat's state not recorded, its bundle refused by the queue, its item damaged) is
//! counted on that window alone, which keeps its claim (if it had one) and is tried again
//! by a later run; one that fails `MAX_WINDOW_FAILURES` times, or can never succeed, is
//! set aside (out of the due index, `WindowsSetAside` metric and alarm) until the tenant
//! saves its settings or enables. A window held behind an earlier one of its chat
//! (another run's claim, a failure) neither goes out nor announces its chat: the earlier
//! one opens it.

use crate::plan::{
    announcements, answered, bundles, oversized, send_batches, BigWindow, Flush, Ready,
};
use crate::stream::Streamed;
use crate::Aggregator;
use chrono::{DateTime, Utc};
use outflow::delivery::release::restart_stalled;
use outflow::domain::{
    ActivityAction, ActivityEntry, ChatId, DeliveryEnvelope, PendingWindow, ReleasePhase,
    Timestamp, Webhook, WorkspaceId,
};
use outflow::queue::QueueError;
use outflow::store::{Claim, DueCursor, StoreError, WindowRead};
use outflow::telemetry::metrics;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Messages may still be landing for this long after a window ends (ingest runs ≤ 10 s,
/// and the window index is eventually consistent).
pub const GRACE: Duration = Duration::from_secs(60);
/// A claim older than this belongs to a run that died; another run may take it.
pub const STALE_CLAIM: Duration = Duration::from_secs(15 * 60);
/// Due windows flushed together: one transaction of claims, one BatchGetItem of their
/// chats' states (100 items each, DynamoDB's limits).
const FLUSH_CHUNK: usize = 100;
/// Failed flushes after which a window is set aside instead of tried again.
pub const MAX_WINDOW_FAILURES: u32 = 5;

/// Why a window whose bundle can never be queued is set aside.
const OVER_QUEUE_LIMIT: &str = "a part of its bundle is over the queue's message limit";

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
    /// Windows a DynamoDB failure left due for a later run: a claim, a settings read, a
    /// parking, a deleted endpoint's drop, a let-go (held until its claim is stale), a
    /// finish (a window sent, so in `bundles_enqueued` too and sent again under the same
    /// webhook-id, or found empty), a set-aside (a window counted as failed may count
    /// here too; so does an unreadable index item, which is not in `windows_due`), and
    /// one for each shard of the due index that could not be read (its windows unknown).
    pub windows_left_due: usize,
    /// Windows left for a later run because their webhook's release of held deliveries
    /// is under way (their bundles would overtake the held ones of their chat).
    pub windows_behind_release: usize,
    /// Windows whose flush failed this run (tried again by a later one).
    pub windows_failed: usize,
    /// Windows set aside: failing again and again, or never able to succeed.
    pub windows_set_aside: usize,
    /// Windows of a deleted endpoint, dropped.
    pub windows_dropped: usize,
    /// False when the deadline stopped the run early (or a shard could not be read).
    pub complete: bool,
}

/// Webhook settings read during one run, once per workspace: a read that failed is not
/// tried again this run.
type Settings = HashMap<WorkspaceId, Result<Option<Webhook>, StoreError>>;

type ChatKey = (WorkspaceId, ChatId);

/// Why a bundle sent on its own did not go.
enum NotSent {
    /// It can never go and was set aside (counted as such, not as a failure).
    SetAside,
    /// It failed this time (the reason): counted, tried again by a later run.
    Failed(String),
}

fn chat_key(w: &PendingWindow) -> ChatKey {
    (w.workspace_id.clone(), w.chat_id.clone())
}

/// One run's state: the instant, its deadline, what it read and did.
struct Run {
    id: String,
    now: DateTime<Utc>,
    deadline: Option<Instant>,
    settings: Settings,
    report: RunReport,
    /// Workspaces whose stalled release this run queued again.
    restarted: HashSet<WorkspaceId>,
    /// Chats with a window that failed this run: their later windows wait (those claimed
    /// before the failure keep their claims, letting them go would let them overtake it;
    /// those met after it are not claimed).
    failed: HashSet<ChatKey>,
    /// Windows to stream (too big to hold, or of several parts), after every other window.
    streams: Vec<BigWindow>,
    /// Windows whose flush part by part began in an earlier run: they go on part by part
    /// even when their messages fit in memory now (one expired, or was repaired).
    streams_begun: HashSet<PendingWindow>,
    /// Claimed windows of chats with a window to stream or one held by another claim,
    /// let go at the end of the run and sent after it by a later run.
    waiting: Vec<PendingWindow>,
    /// Windows this run could not claim (another run's, a failed flush's) or leaves due
    /// (its settings unread, its parking failed): their chats' later windows wait.
    elsewhere: Vec<PendingWindow>,
}

impl Run {
    fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// DynamoDB failed a step of `w`'s: it stays due, and its chat's later windows wait.
    fn left_due(&mut self, w: &PendingWindow) {
        self.elsewhere.push(w.clone());
        self.report.windows_left_due += 1;
    }

    /// True when a chat's window may not go out now: an earlier one failed, waits to be
    /// streamed, or is another claim's.
    fn holds_back(&self, w: &PendingWindow) -> bool {
        let key = chat_key(w);
        let earlier = |o: &PendingWindow| {
            chat_key(o) == key && (o.end_ms, o.start_ms) < (w.end_ms, w.start_ms)
        };
        self.failed.contains(&key)
            || self.streams.iter().any(|b| chat_key(&b.window) == key)
            || self.elsewhere.iter().any(earlier)
    }
}

impl Aggregator {
    /// Flushes every window that ended (plus the grace period) by `now`.
    pub async fn run(
        &self,
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Result<RunReport, AggregatorError> {
        let mut run = Run {
            // Unique: a run may take its own claim again (a retried claim whose answer was
            // lost), never another's.
            id: format!(
                "run-{}-{:016x}",
                now.timestamp_millis(),
                rand::random::<u64>()
            ),
            now,
            deadline,
            settings: Settings::new(),
            restarted: HashSet::new(),
            failed: HashSet::new(),
            streams: Vec::new(),
            streams_begun: HashSet::new(),
            waiting: Vec::new(),
            elsewhere: Vec::new(),
            report: RunReport {
                complete: true,
                ..RunReport::default()
            },
        };
        let due_ms = now.timestamp_millis() - GRACE.as_millis() as i64;
        let mut cursor = Some(DueCursor::start());
        'walk: while let Some(at) = cursor {
            let (page, next) = self.store.due_windows(due_ms, at).await;
            cursor = next;
            self.set_unreadable_aside(&page, &mut run).await;
            run.streams_begun.extend(page.streams_begun);
            run.report.windows_due += page.windows.len();
            for chunk in page.windows.chunks(FLUSH_CHUNK) {
                if run.past_deadline() {
                    run.report.complete = false;
                    break 'walk;
                }
                self.flush(chunk, &mut run).await;
            }
        }
        self.flush_streams(&mut run).await;
        let r = &run.report;
        metrics::windows_left_due(r.windows_left_due);
        tracing::info!(
            bundles = r.bundles_enqueued,
            messages = r.messages_bundled,
            parked = r.windows_parked,
            left_due = r.windows_left_due,
            failed = r.windows_failed,
            set_aside = r.windows_set_aside,
            "aggregation run finished"
        );
        Ok(run.report)
    }

    /// Items of the due index that are not windows, and shards that could not be read.
    async fn set_unreadable_aside(&self, page: &outflow::store::DuePage, run: &mut Run) {
        for (shard, e) in &page.failed_shards {
            tracing::error!(shard, error = %e, "due index shard unreadable this run");
            run.report.complete = false;
            // Its windows are unknown: counted as one, so a table refusing every read
            // still shows in the metric and its alarm.
            run.report.windows_left_due += 1;
        }
        for u in &page.unreadable {
            tracing::error!(window = %u, "unreadable window item set aside");
            match self.store.set_aside_unreadable(u).await {
                Ok(()) => {
                    run.report.windows_set_aside += 1;
                    metrics::windows_set_aside(1);
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not set an unreadable window aside");
                    run.report.windows_left_due += 1;
                }
            }
        }
    }

    /// Up to 100 due windows: parks those whose webhook is off, claims the rest, reads
    /// their messages, asks each chat's state, enqueues the bundles and finishes the
    /// windows that were sent or found empty. Failures stay with their windows.
    async fn flush(&self, windows: &[PendingWindow], run: &mut Run) {
        let claimed = self.claim(windows, run).await;
        let (claimed, messages) = self.read_messages(claimed, run).await;
        let announced = announcements(&claimed, &messages, |w| run.holds_back(w));
        let (states, unasked) = match self.store.announce_chats(&announced.asked).await {
            Ok(answers) => answered(&announced.asked, answers),
            Err(e) => {
                let why = format!("asking the chats' state failed: {e}");
                return self.failed(claimed, &why, run).await;
            }
        };
        let (claimed, messages) = self.without_unasked(claimed, messages, &unasked, run).await;
        let planned = bundles(claimed, messages, &announced, &states, &self.permalink_base);
        for w in planned.damaged {
            self.set_aside(&w, "its bounds are not instants (a damaged item)", run)
                .await;
        }
        let mut finished = planned.empty;
        self.enqueue(planned.ready, run, &mut finished).await;
        if let Err(e) = self.store.finish_windows(&finished).await {
            // They were sent: a later run sends them again, with the same webhook-ids.
            tracing::error!(error = %e, windows = finished.len(), "finishing sent windows failed");
            run.report.windows_left_due += e.left;
        }
    }

    /// The windows and messages of the chats whose state was asked; each window of a chat
    /// that could not be asked fails alone (and its chat sends nothing more this run).
    async fn without_unasked(
        &self,
        claimed: Vec<PendingWindow>,
        messages: Vec<WindowRead>,
        unasked: &HashMap<ChatKey, String>,
        run: &mut Run,
    ) -> (Vec<PendingWindow>, Vec<WindowRead>) {
        let (mut windows, mut reads) = (Vec::new(), Vec::new());
        for (w, read) in claimed.into_iter().zip(messages) {
            match unasked.get(&chat_key(&w)) {
                Some(why) => {
                    let why = format!("asking the chat's state failed: {why}");
                    self.window_failed(&w, &why, run).await;
                }
                None => {
                    windows.push(w);
                    reads.push(read);
                }
            }
        }
        (windows, reads)
    }

    /// Each claimed window with its messages; windows whose messages could not be read
    /// are counted as failed and left out, and their chats send nothing more this run.
    async fn read_messages(
        &self,
        claimed: Vec<PendingWindow>,
        run: &mut Run,
    ) -> (Vec<PendingWindow>, Vec<WindowRead>) {
        let read = self.store.windows_messages(&claimed).await;
        let (mut ok, mut messages, mut failed) = (Vec::new(), Vec::new(), Vec::new());
        for (w, result) in claimed.into_iter().zip(read) {
            match result {
                // Loaded, it would go as one bundle whose first part has the webhook-id
                // of the part already queued: a receiver would drop it as a repeat.
                Ok(_) if run.streams_begun.contains(&w) => {
                    ok.push(w);
                    messages.push(WindowRead::TooBig);
                }
                Ok(m) => {
                    ok.push(w);
                    messages.push(m);
                }
                Err(e) => failed.push((w, format!("its messages could not be read: {e}"))),
            }
        }
        for (w, why) in failed {
            self.window_failed(&w, &why, run).await;
        }
        (ok, messages)
    }

    /// Claims the windows `may_claim` lets through; returns those this run holds.
    async fn claim(&self, windows: &[PendingWindow], run: &mut Run) -> Vec<PendingWindow> {
        let mut candidates = Vec::with_capacity(windows.len());
        for w in windows {
            if self.may_claim(w, run).await {
                candidates.push(w.clone());
            }
        }
        let stale = STALE_CLAIM.as_millis() as i64;
        let claims = self
            .store
            .claim_windows(&candidates, &run.id, run.now.timestamp_millis(), stale)
            .await;
        let mut won = Vec::with_capacity(candidates.len());
        for (w, claim) in candidates.into_iter().zip(claims) {
            // A window not won is another run's or still due: its chat's later windows
            // must not overtake it.
            match claim {
                Claim::Won => won.push(w),
                Claim::Held => {
                    run.report.windows_skipped += 1;
                    run.elsewhere.push(w);
                }
                Claim::Failed => run.left_due(&w),
            }
        }
        won
    }

    /// Whether a due window is to be claimed, by its webhook: one whose webhook is off is
    /// parked (kept, not delivered; enabling puts it back), one behind a release left for a
    /// later run, a deleted endpoint's dropped. A window whose workspace item is damaged
    /// fails alone (five times, then set aside; it stops no other workspace's windows);
    /// one whose settings DynamoDB fails to read, or that cannot be parked now, is left
    /// due (not a failure of the window's). Either way its chat's later windows wait;
    /// those of a chat that failed this run are not claimed (they stay due, uncounted,
    /// rather than held until their claims are stale).
    async fn may_claim(&self, w: &PendingWindow, run: &mut Run) -> bool {
        if run.failed.contains(&chat_key(w)) {
            return false;
        }
        let webhook = match self.webhook(&w.workspace_id, &mut run.settings).await {
            Ok(webhook) => webhook,
            Err(StoreError::Corrupt(e)) => {
                let why = format!("its workspace item is not settings: {e}");
                self.window_failed(w, &why, run).await;
                return false;
            }
            Err(e) => {
                tracing::error!(workspace_id = %w.workspace_id, error = %e, "reading a window's settings failed");
                run.left_due(w);
                return false;
            }
        };
        if of_deleted_endpoint(w, webhook.as_ref()) {
            self.drop_window(w, run).await;
            return false;
        }
        let now = Timestamp::from_utc(run.now);
        match webhook {
            Some(h) if h.enabled && matches!(h.release_phase(now), ReleasePhase::Draining(_)) => {
                run.report.windows_behind_release += 1;
                if let Some(nonce) = h.stalled_release(now) {
                    self.restart_release(&w.workspace_id, nonce, run).await;
                }
                false
            }
            Some(h) if h.enabled => true,
            _ => {
                match self.store.park_window(w).await {
                    Ok(()) => run.report.windows_parked += 1,
                    Err(e) => {
                        tracing::error!(workspace_id = %w.workspace_id, error = %e, "parking a window failed");
                        run.left_due(w);
                    }
                }
                false
            }
        }
    }

    /// Drops a deleted endpoint's window (opened just as it was deleted), like what it
    /// held; the messages stay the workspace's. One that cannot be deleted now is met
    /// again by a later run.
    async fn drop_window(&self, w: &PendingWindow, run: &mut Run) {
        match self.store.finish_windows(std::slice::from_ref(w)).await {
            Ok(()) => run.report.windows_dropped += 1,
            Err(e) => {
                tracing::error!(error = %e, "could not drop a deleted endpoint's window");
                run.report.windows_left_due += 1;
            }
        }
    }

    /// Queues again, once a run, the order of a workspace's release that stalled (in
    /// aggregated mode no new delivery is held, so no holder would notice).
    async fn restart_release(&self, ws: &WorkspaceId, nonce: u64, run: &mut Run) {
        if !run.restarted.insert(ws.clone()) {
            return;
        }
        let now = Timestamp::from_utc(run.now);
        if let Err(e) = restart_stalled(&self.queue, ws, nonce, now).await {
            tracing::error!(workspace_id = %ws, error = %e, "could not restart a stalled release");
        }
    }

    /// Enqueues bundles in `send_batches`' groups, in order (a chat's windows stay in
    /// order). A group the queue refuses is sent again one bundle at a time, so only the
    /// bundles that fail alone fail, and a chat with a failed window sends none of its
    /// later ones this run. A bundle the queue can never take is set aside at once. A
    /// window to stream is kept for the end of the run, and its chat's later
    /// windows wait behind it.
    async fn enqueue(&self, ready: Vec<Flush>, run: &mut Run, finished: &mut Vec<PendingWindow>) {
        for batch in send_batches(&ready) {
            if run.past_deadline() {
                run.report.complete = false;
                let unsent: Vec<PendingWindow> = ready[batch.start..]
                    .iter()
                    .map(|f| f.window().clone())
                    .collect();
                return self.let_go(unsent, run).await;
            }
            let mut group: Vec<&Ready> = Vec::new();
            for f in &ready[batch] {
                let key = chat_key(f.window());
                match f {
                    _ if run.failed.contains(&key) => {}
                    _ if run.holds_back(f.window()) => run.waiting.push(f.window().clone()),
                    Flush::Stream(big) => run.streams.push(big.clone()),
                    Flush::Bundle(r) => group.push(r),
                }
            }
            let all: Vec<DeliveryEnvelope> = group.iter().map(|r| r.envelope.clone()).collect();
            if group.is_empty()
                || (!group.iter().any(|r| oversized(r))
                    && self.queue.send_first(&all).await.is_ok())
            {
                group.iter().for_each(|r| sent(r, run, finished));
                continue;
            }
            for r in group {
                // A chat whose earlier window just failed sends nothing more this run (its
                // later windows keep their claims; one the refused group's call took after
                // all is then sent again past the queue's deduplication: same webhook-id).
                if run.failed.contains(&chat_key(&r.window)) {
                    continue;
                }
                match self.enqueue_one(r, run, finished).await {
                    Ok(()) => {}
                    // Counted there; its chat's later windows still wait this run.
                    Err(NotSent::SetAside) => _ = run.failed.insert(chat_key(&r.window)),
                    Err(NotSent::Failed(why)) => self.window_failed(&r.window, &why, run).await,
                }
            }
        }
    }

    /// Streams the run's windows to stream, in order, while time is left; then
    /// lets go of them and of the windows waiting behind them, so the next run goes on
    /// at once (from each stream's saved progress). A chat whose stream failed keeps its
    /// windows claimed.
    async fn flush_streams(&self, run: &mut Run) {
        let mut finished = Vec::new();
        let mut unsent = Vec::new();
        for big in std::mem::take(&mut run.streams) {
            // Its chat's earlier window failed after it was kept for the end (the two in
            // one batch): it keeps its claim and waits behind that window.
            if run.failed.contains(&chat_key(&big.window)) {
                continue;
            }
            if run.past_deadline() {
                run.report.complete = false;
                unsent.push(big.window);
                continue;
            }
            match self.flush_big(&big, run).await {
                Some(true) => finished.push(big.window),
                Some(false) => unsent.push(big.window),
                None => {}
            }
        }
        unsent.append(&mut run.waiting);
        self.let_go(unsent, run).await;
        if let Err(e) = self.store.finish_windows(&finished).await {
            tracing::error!(error = %e, windows = finished.len(), "finishing streamed windows failed");
            run.report.windows_left_due += e.left;
        }
    }

    /// One window streamed part by part: `Some(true)` when every part is
    /// queued, `Some(false)` when the run stopped it (its deadline, a lost claim), `None`
    /// when it failed (counted) or was set aside; its chat waits.
    async fn flush_big(&self, big: &BigWindow, run: &mut Run) -> Option<bool> {
        let w = &big.window;
        match self.stream(big, &run.id, run.deadline).await {
            Streamed::Done {
                parts,
                sent,
                messages,
            } => {
                if parts > 0 {
                    let report = &mut run.report;
                    report.bundles_enqueued += 1;
                    report.parts_enqueued += sent;
                    report.messages_bundled += messages;
                    metrics::bundle_built(messages);
                    tracing::info!(workspace_id = %w.workspace_id, bundle_id = %w.bundle_id(), messages, parts, sent, "big bundle enqueued part by part");
                }
                Some(true)
            }
            Streamed::Stopped { sent } => {
                run.report.parts_enqueued += sent;
                run.report.complete = false;
                Some(false)
            }
            Streamed::Unsendable { sent } => {
                run.report.parts_enqueued += sent;
                self.set_aside(w, OVER_QUEUE_LIMIT, run).await;
                run.failed.insert(chat_key(w));
                None
            }
            Streamed::Failed { sent, why } => {
                run.report.parts_enqueued += sent;
                self.window_failed(w, &why, run).await;
                None
            }
        }
    }

    /// Lets go of claimed windows this run did not send, so the next run takes them at
    /// once instead of after `STALE_CLAIM`; those of a chat with a failed window keep
    /// their claims (they must not overtake it).
    async fn let_go(&self, unsent: Vec<PendingWindow>, run: &mut Run) {
        for w in unsent.iter().filter(|w| !run.failed.contains(&chat_key(w))) {
            if let Err(e) = self.store.unclaim_window(w, &run.id).await {
                // Held until its claim is stale.
                tracing::error!(error = %e, "could not let go of an unsent window");
                run.report.windows_left_due += 1;
            }
        }
    }

    /// One bundle on its own; why it did not go.
    async fn enqueue_one(
        &self,
        r: &Ready,
        run: &mut Run,
        finished: &mut Vec<PendingWindow>,
    ) -> Result<(), NotSent> {
        if oversized(r) {
            self.set_aside(&r.window, OVER_QUEUE_LIMIT, run).await;
            return Err(NotSent::SetAside);
        }
        match self
            .queue
            .send_first(std::slice::from_ref(&r.envelope))
            .await
        {
            Ok(()) => {
                sent(r, run, finished);
                Ok(())
            }
            Err(e) => Err(NotSent::Failed(format!(
                "the queue refused its bundle: {e}"
            ))),
        }
    }

    /// Every window of `windows` failed for the same reason.
    async fn failed(&self, windows: Vec<PendingWindow>, why: &str, run: &mut Run) {
        for w in windows {
            self.window_failed(&w, why, run).await;
        }
    }

    /// Counts a window's failed flush; one that keeps failing is set aside.
    async fn window_failed(&self, w: &PendingWindow, why: &str, run: &mut Run) {
        run.failed.insert(chat_key(w));
        tracing::error!(workspace_id = %w.workspace_id, window_end_ms = w.end_ms, reason = why, "window flush failed");
        run.report.windows_failed += 1;
        match self.store.window_failed(w, why).await {
            Ok(n) if n >= MAX_WINDOW_FAILURES => {
                let why = format!("failed {n} times; last: {why}");
                self.set_aside(w, &why, run).await;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not count a window's failure"),
        }
    }

    /// Takes a window out of the due index and tells the tenant (the activity log),
    /// whose next settings save or enable tries it again.
    async fn set_aside(&self, w: &PendingWindow, why: &str, run: &mut Run) {
        tracing::error!(workspace_id = %w.workspace_id, window_end_ms = w.end_ms, reason = why, "window set aside");
        if let Err(e) = self.store.set_aside(w, why).await {
            run.report.windows_left_due += 1;
            return tracing::error!(error = %e, "could not set a window aside");
        }
        run.report.windows_set_aside += 1;
        metrics::windows_set_aside(1);
        let detail = format!(
            "Bundle of chat {} set aside: {why}; saving the settings or enabling the webhook \
             tries it again",
            w.chat_id
        );
        let entry = ActivityEntry::new(self.clock.now(), ActivityAction::BundleSetAside, detail);
        if let Err(e) = self.store.record_activity(&w.workspace_id, &entry).await {
            tracing::error!(error = %e, "could not record a set-aside window");
        }
    }

    /// A workspace's webhook settings, read once a run (a failed read too).
    async fn webhook(
        &self,
        ws: &WorkspaceId,
        cache: &mut Settings,
    ) -> Result<Option<Webhook>, StoreError> {
        if let Some(found) = cache.get(ws) {
            return found.clone();
        }
        let read = self.store.webhook_as_stored(ws).await;
        cache.insert(ws.clone(), read.clone());
        read
    }
}

/// True for a window of an endpoint that was deleted (its item gone, or marked).
fn of_deleted_endpoint(w: &PendingWindow, webhook: Option<&Webhook>) -> bool {
    w.workspace_id.is_endpoint_scope() && webhook.is_none_or(|h| h.deleted_ms.is_some())
}

/// A bundle on the queue: counted, logged, and its window to finish.
fn sent(r: &Ready, run: &mut Run, finished: &mut Vec<PendingWindow>) {
    let report = &mut run.report;
    report.bundles_enqueued += 1;
    report.parts_enqueued += 1;
    report.messages_bundled += r.messages;
    metrics::bundle_built(r.messages);
    tracing::info!(
        workspace_id = %r.window.workspace_id,
        bundle_id = %r.window.bundle_id(),
        messages = r.messages,
        parts = 1,
        "bundle enqueued"
    );
    finished.push(r.window.clone());
}

//! One workspace's share of a batch, carried out: read the webhook once, hold everything
//! while it is off, else send each chat's deliveries in order (chats concurrently), count
//! the failures, then carry out what `settle` decided.

use crate::records::{in_chat_order, Record};
use crate::settle::{settle, Retry, Settlement};
use crate::share::Turn;
use crate::Sender;
use futures::future::join_all;
use outflow::delivery::edits::with_edits;
use outflow::delivery::release::after_hold;
use outflow::delivery::ReleaseError;
use outflow::delivery::{attempt, Destination};
use outflow::domain::{
    Attempt, ChatId, DeliveryEnvelope, DeliveryId, ReleasePhase, Timestamp, Webhook, WorkspaceId,
};
use outflow::store::{Read, StoreError};
use outflow::telemetry::metrics;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// The longest the sender waits for the edits of waiting deliveries.
const EDITS_READ_TIME: Duration = Duration::from_secs(2);

impl Sender {
    /// Delivers one workspace's records; returns the SQS ids to retry.
    pub(crate) async fn deliver_workspace(
        &self,
        ws: &WorkspaceId,
        records: &[Record],
        deadline: Option<Instant>,
    ) -> Result<Vec<String>, ReleaseError> {
        let webhook = self.store.webhook_as_stored(ws).await?;
        let deleted = webhook.as_ref().is_none_or(|w| w.deleted_ms.is_some());
        if deleted && ws.is_endpoint_scope() {
            // A deleted endpoint: what was queued for it is dropped (documented).
            let dropped = records.len();
            tracing::info!(workspace_id = %ws, dropped, "endpoint deleted: deliveries dropped");
            return Ok(Vec::new());
        }
        if webhook
            .as_ref()
            .is_some_and(|w| w.owner_email_due.is_some())
        {
            // A disable's email that could not go out yet.
            self.health.email_owner(ws, self.clock.now()).await?;
        }
        let off_since = webhook.as_ref().and_then(|w| w.off_since_ms);
        let Some(webhook) = webhook.filter(|w| w.enabled) else {
            self.hold_while_off(ws, records, off_since).await?;
            return Ok(Vec::new());
        };
        let records = self.not_behind_release(ws, &webhook, records).await?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let records = &records[..];
        let turn = self.take_turn(ws, &webhook).await?;
        if matches!(turn, Turn::Refused) {
            return Ok(self.hand_back(ws, records).await?);
        }
        let delivered = self.deliver_enabled(ws, &webhook, records, deadline).await;
        self.end_turn(ws, turn).await;
        delivered
    }

    /// Holds the records of a workspace whose webhook is off (switched off at
    /// `off_since`, when known), and marks their chats: what is still queued of them is
    /// newer, and waits for these when the release puts them back.
    async fn hold_while_off(
        &self,
        ws: &WorkspaceId,
        records: &[Record],
        off_since: Option<i64>,
    ) -> Result<(), ReleaseError> {
        let envelopes: Vec<_> = records.iter().map(|r| r.envelope.clone()).collect();
        self.store.hold(&envelopes).await?;
        // No mark for a webhook switched off before switch-offs were dated.
        if let Some(off_since) = off_since {
            let chats = chats_of(records.iter());
            self.store.mark_held_chats(ws, &chats, off_since).await?;
        }
        tracing::info!(workspace_id = %ws, held = envelopes.len(), "webhook off: deliveries held");
        // Switched on since it was read: nobody else would put these back. Failing, the
        // records come back (held again under the same keys, checked again).
        after_hold(&self.store, &self.queue, ws, self.clock.now()).await?;
        Ok(())
    }

    /// Delivers the records of a workspace whose webhook is on.
    async fn deliver_enabled(
        &self,
        ws: &WorkspaceId,
        webhook: &Webhook,
        records: &[Record],
        deadline: Option<Instant>,
    ) -> Result<Vec<String>, ReleaseError> {
        let records = self.edited_waiting(ws, records, deadline).await;
        let groups = in_chat_order(&records);
        let destination = Destination::check(&self.policy, &webhook.url);
        let sent = join_all(
            groups
                .iter()
                .map(|group| self.send_in_order(webhook, &destination, group, deadline)),
        )
        .await;
        let tried: Vec<(&Record, Option<Attempt>)> = groups
            .iter()
            .zip(sent)
            .flat_map(|(group, attempts)| group.iter().copied().zip(attempts))
            .collect();
        let failures = self.count_failures(ws, &tried).await?;
        let now = self.clock.now();
        let mut jitter = || rand::random::<f64>() * 2.0 - 1.0;
        let settlement = settle(tried, &failures, &self.retry, &mut jitter, now);
        self.note_speed(ws, webhook, &settlement.log).await;
        Ok(self.carry_out(ws, webhook, settlement, now).await?)
    }

    /// The records, with the edits made while they waited in the message deliveries that
    /// waited: a retry, or one queued `edits_after_wait` or more before SQS first handed
    /// it out (behind its chat's failing delivery, or in a backlog; a release's copy took
    /// its edits when it was queued, but may have waited since). Measured on SQS's clock,
    /// not the message's time. The spec: a message not yet delivered takes its new text.
    /// One eventually consistent BatchGetItem, only for a batch holding such records,
    /// within `EDITS_READ_TIME`; a read that fails or is late sends them as they were (the
    /// edit, if the webhook takes them, is still told as `message:updated`).
    async fn edited_waiting<'r>(
        &self,
        ws: &WorkspaceId,
        records: &'r [Record],
        deadline: Option<Instant>,
    ) -> Cow<'r, [Record]> {
        let after = i64::try_from(self.edits_after_wait.as_millis()).unwrap_or(i64::MAX);
        let waited = |r: &Record| r.receives > 1 || r.waited_ms >= after;
        let waiting: Vec<usize> = (0..records.len())
            .filter(|&i| waited(&records[i]))
            .collect();
        let short = deadline.is_some_and(|d| Instant::now() + EDITS_READ_TIME + self.timeout > d);
        if waiting.is_empty() || short {
            return Cow::Borrowed(records);
        }
        let envelopes = waiting.iter().map(|&i| records[i].envelope.clone());
        let read = with_edits(&self.store, ws, envelopes.collect(), Read::Eventual);
        match tokio::time::timeout(EDITS_READ_TIME, read).await {
            Ok(Ok(edited)) => {
                let mut records = records.to_vec();
                for (i, envelope) in waiting.into_iter().zip(edited) {
                    records[i].envelope = envelope;
                }
                Cow::Owned(records)
            }
            Ok(Err(e)) => {
                tracing::warn!(workspace_id = %ws, error = %e, "edits of waiting deliveries not read");
                Cow::Borrowed(records)
            }
            Err(_) => {
                tracing::warn!(workspace_id = %ws, "edits of waiting deliveries not read in time");
                Cow::Borrowed(records)
            }
        }
    }

    /// The records that may go out now. While a release runs, a chat's deliveries queued
    /// behind ones a sender held from the queue while the webhook was off (the chat's
    /// mark) would overtake the release's copies of those: they are held behind it, as
    /// ingest holds new ones; the release's own copies always go. One consistent
    /// BatchGetItem of the marks, only while a release runs.
    async fn not_behind_release<'r>(
        &self,
        ws: &WorkspaceId,
        webhook: &Webhook,
        records: &'r [Record],
    ) -> Result<Cow<'r, [Record]>, ReleaseError> {
        let now = self.clock.now();
        if webhook.release_phase(now) == ReleasePhase::Idle {
            return Ok(Cow::Borrowed(records));
        }
        let queued = records.iter().filter(|r| r.envelope.released_by.is_none());
        let chats = chats_of(queued);
        if chats.is_empty() {
            return Ok(Cow::Borrowed(records));
        }
        // A webhook saved before marks were kept counts none.
        let since = webhook.release_off_since_ms.unwrap_or(i64::MAX);
        let held = self.store.chats_held_since(ws, &chats, since).await?;
        let (behind, go) = behind_release(records, &held);
        if behind.is_empty() {
            return Ok(Cow::Borrowed(records));
        }
        self.store.hold(&behind).await?;
        tracing::info!(workspace_id = %ws, held = behind.len(), "queued behind a release: deliveries held");
        after_hold(&self.store, &self.queue, ws, now).await?;
        Ok(Cow::Owned(go))
    }

    /// Sends one chat's deliveries one after another; after a failure the rest are not
    /// tried (`None`), so the receiver never sees a chat's messages out of order. Nor is
    /// one tried that could not end before `deadline`.
    async fn send_in_order(
        &self,
        webhook: &Webhook,
        destination: &Destination,
        group: &[&Record],
        deadline: Option<Instant>,
    ) -> Vec<Option<Attempt>> {
        let mut out = Vec::with_capacity(group.len());
        let mut failed = false;
        for record in group {
            let in_time = deadline.is_none_or(|d| Instant::now() + self.timeout <= d);
            if failed || !in_time {
                out.push(None);
                continue;
            }
            let now = self.clock.now();
            let secrets = webhook.signing_secrets(now);
            let sent = attempt(&self.client, destination, &secrets, &record.envelope, now).await;
            failed = !sent.succeeded();
            out.push(Some(sent));
        }
        out
    }

    /// Counts each failed attempt against its delivery (the retry schedule's position).
    async fn count_failures(
        &self,
        ws: &WorkspaceId,
        tried: &[(&Record, Option<Attempt>)],
    ) -> Result<HashMap<DeliveryId, u32>, StoreError> {
        let failed = tried
            .iter()
            .filter_map(|(_, a)| a.as_ref().filter(|a| !a.succeeded()))
            .map(|a| async move {
                let count = self.store.count_failed_attempt(ws, &a.delivery_id).await?;
                Ok::<_, StoreError>((a.delivery_id.clone(), count))
            });
        join_all(failed).await.into_iter().collect()
    }

    /// Writes what the settlement decided: health, log and activity, the hour's counts
    /// (one write), dead letters (kept for replay before they leave the queue), retry delays.
    async fn carry_out(
        &self,
        ws: &WorkspaceId,
        webhook: &Webhook,
        mut settlement: Settlement,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let was_failing = webhook.consecutive_failures > 0;
        self.health
            .apply(ws, &settlement.health, was_failing, now)
            .await?;
        log_attempts(ws, &settlement.log);
        self.store
            .record_attempts(ws, &mut settlement.log, &settlement.activity)
            .await?;
        let succeeded = settlement.log.iter().filter(|a| a.succeeded()).count() as u32;
        let failed = settlement.log.len() as u32 - succeeded;
        if let Err(e) = self.store.count_hourly(ws, now, succeeded, failed).await {
            // Statistics for the portal's chart: never a reason to retry deliveries.
            tracing::warn!(workspace_id = %ws, error = %e, "hourly counts not updated");
        }
        let mut retry = settlement.retry;
        retry.extend(self.dead_letter(ws, settlement.dead).await?);
        let later: Vec<(String, Duration)> = retry
            .iter()
            .filter_map(|r| Some((r.receipt_handle.clone()?, r.delay)))
            .collect();
        if let Err(e) = self.queue.retry_later(&later).await {
            // The queue's own visibility timeout still brings them back.
            tracing::error!(workspace_id = %ws, error = %e, "could not schedule retries");
        }
        Ok(retry.into_iter().map(|r| r.message_id).collect())
    }

    /// Records dead letters for replay, then moves them to the DLQ; returns those to
    /// retry because the DLQ did not take them (they leave the queue only once it has).
    pub(crate) async fn dead_letter(
        &self,
        ws: &WorkspaceId,
        dead: Vec<(Retry, outflow::domain::DeadLetter)>,
    ) -> Result<Vec<Retry>, StoreError> {
        if dead.is_empty() {
            return Ok(Vec::new());
        }
        let (records, letters): (Vec<Retry>, Vec<_>) = dead.into_iter().unzip();
        tracing::warn!(workspace_id = %ws, dead_letters = letters.len(), "deliveries out of attempts");
        metrics::dead_lettered(letters.len());
        self.store.keep_dead_letters(&letters).await?;
        match self.queue.dead_letter(&letters).await {
            Ok(()) => Ok(Vec::new()),
            Err(e) => {
                tracing::error!(workspace_id = %ws, error = %e, "could not dead-letter; retrying");
                Ok(records)
            }
        }
    }
}

/// The chats of `records`, each once.
fn chats_of<'r>(records: impl Iterator<Item = &'r Record>) -> Vec<&'r ChatId> {
    let mut chats: Vec<&ChatId> = records
        .filter_map(|r| r.envelope.chat_id.as_ref())
        .collect();
    chats.sort();
    chats.dedup();
    chats
}

/// Splits `records` into what waits behind a release (queued, of a chat `held` from the
/// queue) and what goes out, each in queue order.
fn behind_release(
    records: &[Record],
    held: &HashSet<ChatId>,
) -> (Vec<DeliveryEnvelope>, Vec<Record>) {
    let waits = |r: &Record| {
        r.envelope.released_by.is_none()
            && r.envelope
                .chat_id
                .as_ref()
                .is_some_and(|c| held.contains(c))
    };
    let (wait, go): (Vec<&Record>, Vec<&Record>) = records.iter().partition(|r| waits(r));
    let wait = wait.into_iter().map(|r| r.envelope.clone()).collect();
    (wait, go.into_iter().cloned().collect())
}

/// One log line for a workspace's attempts of a batch (a line per attempt cost more in
/// CloudWatch Logs than the attempt's DynamoDB writes), and one per failed attempt with
/// what failed; the metrics count each attempt.
fn log_attempts(ws: &WorkspaceId, attempts: &[Attempt]) {
    if attempts.is_empty() {
        return;
    }
    for attempt in attempts {
        metrics::delivery_attempted(attempt.failure_kind, attempt.latency_ms);
        if !attempt.succeeded() {
            tracing::warn!(
                workspace_id = %ws,
                delivery_id = %attempt.delivery_id,
                failure_kind = attempt.failure_kind.map(|k| k.as_str()),
                latency_ms = attempt.latency_ms,
                "delivery failed"
            );
        }
    }
    let ids: Vec<String> = attempts.iter().map(|a| a.delivery_id.to_string()).collect();
    let succeeded = attempts.iter().filter(|a| a.succeeded()).count();
    tracing::info!(
        workspace_id = %ws,
        attempts = attempts.len(),
        succeeded,
        delivery_ids = ids.join(","),
        "deliveries attempted"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::tests::record;

    fn ids<'a>(ids: impl IntoIterator<Item = &'a DeliveryId>) -> Vec<&'a str> {
        ids.into_iter().map(DeliveryId::as_str).collect()
    }

    #[test]
    fn behind_a_release_wait_only_the_queued_deliveries_of_held_chats() {
        let mut copy = record("ws_a", "c1", "m1");
        copy.envelope.released_by = Some(7);
        let queued = record("ws_a", "c1", "m11");
        let other_chat = record("ws_a", "c2", "m2");
        let records = [queued, copy, other_chat];
        let held = HashSet::from([ChatId::new_unchecked("c1")]);

        let (wait, go) = behind_release(&records, &held);
        assert_eq!(ids(wait.iter().map(|e| &e.delivery_id)), ["m11"]);
        assert_eq!(
            ids(go.iter().map(|r| &r.envelope.delivery_id)),
            ["m1", "m2"]
        );
        let (wait, go) = behind_release(&records, &HashSet::new());
        assert!(wait.is_empty());
        assert_eq!(go.len(), 3);
        assert_eq!(chats_of(records.iter()).len(), 2, "each chat once");
    }
}

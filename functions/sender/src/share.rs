//! A slow workspace held to its share of sender invocations: a slot is taken before its
//! records are delivered and given back after; without a free slot the records go back
//! to the queue untried (no attempt counted), to come again after
//! `SenderShare::refused_delay`, or, held back for days, are dead-lettered (replayable).

use crate::records::{in_chat_order, Record};
use crate::settle::Retry;
use crate::Sender;
use outflow::delivery::share::{SLOT_LEASE, SLOW_FOR};
use outflow::domain::{ActivityAction, ActivityEntry, Attempt, DeadLetter, Webhook, WorkspaceId};
use outflow::store::{SendingSlot, StoreError};
use outflow::telemetry::metrics;
use std::time::Duration;

/// Whether a workspace's records may be delivered by this invocation.
pub(crate) enum Turn {
    /// Its receiver is not slow: no slot needed.
    Free,
    /// A slot was taken; give it back when done.
    Slot(SendingSlot),
    /// Every slot is held: hand the records back.
    Refused,
}

impl Sender {
    /// Takes a slot when `webhook`'s receiver is slow.
    pub(crate) async fn take_turn(
        &self,
        ws: &WorkspaceId,
        webhook: &Webhook,
    ) -> Result<Turn, StoreError> {
        if !webhook.is_slow(self.clock.now()) {
            return Ok(Turn::Free);
        }
        let slot = self
            .store
            .take_sending_slot(ws, self.share.invocations, SLOT_LEASE)
            .await?;
        Ok(slot.map_or(Turn::Refused, Turn::Slot))
    }

    /// Gives a turn's slot back; a failure only leaves it taken until its lease ends.
    pub(crate) async fn end_turn(&self, ws: &WorkspaceId, turn: Turn) {
        if let Turn::Slot(slot) = turn {
            if let Err(e) = self.store.give_back_slot(&slot).await {
                tracing::warn!(workspace_id = %ws, error = %e, "sending slot not given back; it lapses");
            }
        }
    }

    /// Hands records back untried, each chat after its head's refusal delay; a chat whose
    /// head was held back too long is dead-lettered instead (replayable). Returns the SQS
    /// ids to leave on the queue.
    pub(crate) async fn hand_back(
        &self,
        ws: &WorkspaceId,
        records: &[Record],
    ) -> Result<Vec<String>, StoreError> {
        let (given_up, kept): (Vec<_>, Vec<_>) = in_chat_order(records)
            .into_iter()
            .partition(|chat| self.share.gives_up(chat[0].receives));
        // Each chat's first record waits; the rest of the chat is visible at once yet,
        // FIFO, comes only after it (as a delivery waiting behind a failed one does).
        let later: Vec<_> = kept
            .iter()
            .flat_map(|chat| {
                let delays = std::iter::once(self.share.refused_delay(chat[0].receives))
                    .chain(std::iter::repeat(Duration::ZERO));
                chat.iter().zip(delays)
            })
            .filter_map(|(r, delay)| Some((r.receipt_handle.clone()?, delay)))
            .collect();
        if let Err(e) = self.queue.retry_later(&later).await {
            // The queue's visibility timeout brings them back instead.
            tracing::error!(workspace_id = %ws, error = %e, "could not delay records over the share");
        }
        let handed_back = kept.iter().map(Vec::len).sum::<usize>();
        tracing::info!(workspace_id = %ws, records = handed_back, "slow workspace at its share: records handed back");
        metrics::over_share(handed_back);
        let mut stay: Vec<String> = kept
            .iter()
            .flatten()
            .map(|r| r.message_id.clone())
            .collect();
        let given_up: Vec<&Record> = given_up.into_iter().flatten().collect();
        stay.extend(self.give_up(ws, &given_up).await?);
        Ok(stay)
    }

    /// Dead-letters records held back over their workspace's share for days, with an
    /// activity entry each; returns those the DLQ did not take.
    async fn give_up(
        &self,
        ws: &WorkspaceId,
        records: &[&Record],
    ) -> Result<Vec<String>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let why = "held back for days: the receiver was slow and the workspace at its share \
                   of the sender; replay it once the receiver answers faster";
        let activity: Vec<_> = records
            .iter()
            .map(|r| {
                let detail = format!("Delivery of {} was not tried: {why}", r.envelope.describe());
                ActivityEntry::new(now, ActivityAction::DeliveryFailed, detail)
            })
            .collect();
        let dead = records
            .iter()
            .map(|r| {
                let retry = Retry::of(r, Duration::ZERO);
                let letter = DeadLetter {
                    envelope: r.envelope.clone(),
                    attempts: 0,
                    last_error: why.to_string(),
                    dead_at: now,
                };
                (retry, letter)
            })
            .collect();
        let stay = self.dead_letter(ws, dead).await?;
        // Only what the DLQ took is told (a refused one comes back and is given up again).
        if stay.is_empty() {
            self.store.record_attempts(ws, &mut [], &activity).await?;
        }
        Ok(stay.into_iter().map(|r| r.message_id).collect())
    }

    /// Marks the receiver slow after a slow attempt (a write only when the mark is more
    /// than half spent).
    pub(crate) async fn note_speed(&self, ws: &WorkspaceId, webhook: &Webhook, tried: &[Attempt]) {
        if !tried.iter().any(|a| self.share.is_slow(a.latency_ms)) {
            return;
        }
        let now = self.clock.now().millis();
        let until = now + SLOW_FOR.as_millis() as i64;
        let refresh_after = now + (SLOW_FOR / 2).as_millis() as i64;
        if webhook.slow_until_ms.is_some_and(|u| u >= refresh_after) {
            return;
        }
        if let Err(e) = self.store.mark_slow(ws, until, refresh_after).await {
            tracing::warn!(workspace_id = %ws, error = %e, "could not mark the receiver slow");
        }
    }
}

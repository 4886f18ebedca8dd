//! Applies parsed events: stores messages once, keeps chat state, and routes deliveries
//! (enqueue in immediate mode, hold while the webhook is off, file into the chat's
//! aggregation window in aggregated mode).

use crate::IngestState;
use outflow::domain::{
    Aggregation, ChatId, DeliveryId, MessageEvent, MessageId, Timestamp, Window, WorkspaceId,
};
use outflow::formats::{InboundEvent, NewChatRule};
use outflow::http::ApiError;
use outflow::queue::DeliveryEnvelope;
use outflow::store::batch::Key;
use outflow::store::messages::NewMessage;
use outflow::store::{PendingWindow, Store, WebhookRecord};
use serde::Serialize;
use std::collections::HashSet;

/// The outcome of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventResult {
    /// Position in the request.
    pub index: usize,
    /// `accepted`, `duplicate` or `skipped`.
    pub status: &'static str,
    /// The message, for message events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The `202` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Events stored or applied.
    pub accepted: usize,
    /// Messages seen before (stored and delivered once).
    pub duplicates: usize,
    /// Events that are not customer messages.
    pub skipped: usize,
    /// One result per event, in request order.
    pub events: Vec<EventResult>,
}

impl IngestReport {
    fn push(
        &mut self,
        index: usize,
        status: &'static str,
        message_id: Option<MessageId>,
        reason: Option<String>,
    ) {
        match status {
            "accepted" => self.accepted += 1,
            "duplicate" => self.duplicates += 1,
            _ => self.skipped += 1,
        }
        self.events.push(EventResult {
            index,
            status,
            message_id,
            reason,
        });
    }
}

/// Where new messages go, decided once per request from the webhook settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Enqueue for the sender now.
    Enqueue,
    /// Webhook off or not set up: keep the delivery for replay on enable.
    Hold,
    /// Aggregated webhook: file into the chat's window of this granularity.
    Aggregate(Aggregation),
}

fn route(webhook: Option<&WebhookRecord>) -> Route {
    match webhook {
        Some(w) if !w.aggregation.is_immediate() => Route::Aggregate(w.aggregation),
        Some(w) if w.enabled => Route::Enqueue,
        _ => Route::Hold,
    }
}

/// Applies the events in order, routed by the webhook settings read when the request was
/// admitted. One read finds the messages stored before and the chat windows already open
/// (less those this container saw open); new messages and windows are written together
/// at the end (deterministic keys, BatchWriteItem). On any failure the messages this
/// request wrote are removed again, so the client's retry is not mistaken for a duplicate.
pub async fn ingest(
    state: &IngestState,
    ws: &WorkspaceId,
    events: Vec<InboundEvent>,
    webhook: Option<&WebhookRecord>,
) -> Result<IngestReport, ApiError> {
    let route = route(webhook);
    let received_at = state.clock.now();
    let now_ms = received_at.millis();
    let version = webhook.map_or(0, |w| w.settings_version);
    let mut ids = Vec::new();
    let mut windows: Vec<PendingWindow> = Vec::new();
    for event in &events {
        let InboundEvent::Message { event, .. } = event else {
            continue;
        };
        ids.push(event.message.message_id.clone());
        if let Some(w) = window_of(route, ws, &event.chat.chat_id, received_at, webhook) {
            if !windows.contains(&w) {
                windows.push(w);
            }
        }
    }
    let (remembered, unknown): (Vec<PendingWindow>, Vec<PendingWindow>) = windows
        .into_iter()
        .partition(|w| state.open_windows.contains(w, version, now_ms));
    let (stored, mut open) = state.store.stored_and_open(ws, &ids, &unknown).await?;
    open.extend(remembered.iter().map(PendingWindow::table_key));
    let mut batch = Batch {
        seen: stored,
        open,
        ..Batch::default()
    };
    let result = apply(state, ws, events, route, webhook, received_at, &mut batch).await;
    match &result {
        Ok(_) => {
            let now_open = remembered
                .iter()
                .chain(&unknown)
                .filter(|w| batch.open.contains(&w.table_key()));
            state.open_windows.remember(now_open, version, now_ms);
        }
        Err(_) if !batch.written.is_empty() => {
            if let Err(e) = state.store.delete_messages(ws, &batch.written).await {
                tracing::error!(workspace_id = %ws, messages = batch.written.len(), error = %e, "compensation failed");
            }
        }
        Err(_) => {}
    }
    result
}

/// The chat window a message arriving at `at` joins, in aggregated mode (never one that
/// a switch to immediate delivery flushed early).
fn window_of(
    route: Route,
    ws: &WorkspaceId,
    chat: &ChatId,
    at: Timestamp,
    webhook: Option<&WebhookRecord>,
) -> Option<PendingWindow> {
    let Route::Aggregate(granularity) = route else {
        return None;
    };
    let not_before = webhook.and_then(WebhookRecord::windows_start_no_earlier_than);
    Window::containing(at, granularity)
        .map(|w| PendingWindow::new(ws, chat, granularity, w.starting_no_earlier(not_before)))
}

/// What one request has decided but not yet written.
#[derive(Default)]
struct Batch {
    /// Message ids stored before or earlier in this request: later copies are duplicates.
    seen: HashSet<MessageId>,
    /// Windows known to be open (found, remembered, or opened by this request).
    open: HashSet<Key>,
    /// Windows to open with the next write.
    opening: Vec<PendingWindow>,
    /// New messages not written yet, with their delivery and window.
    pending: Vec<(MessageEvent, DeliveryId, Option<PendingWindow>)>,
    /// Messages this request wrote (or tried to): removed again if it fails.
    written: Vec<MessageId>,
    /// Chats whose current conversation this request has announced already.
    announced: HashSet<ChatId>,
}

impl Batch {
    /// Files a new message, opening its window with it when no one has.
    fn push(&mut self, event: MessageEvent, delivery: DeliveryId, window: Option<PendingWindow>) {
        if let Some(w) = &window {
            if !self.open.contains(&w.table_key()) && !self.opening.contains(w) {
                self.opening.push(w.clone());
            }
        }
        self.pending.push((event, delivery, window));
    }

    /// Writes the windows to open and the pending messages (BatchWriteItem, 25 at a time).
    async fn flush(
        &mut self,
        store: &Store,
        ws: &WorkspaceId,
        received_at: Timestamp,
    ) -> Result<(), ApiError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let messages: Vec<NewMessage> = self
            .pending
            .iter()
            .map(|(event, delivery, window)| NewMessage {
                event,
                delivery,
                received_at,
                window: window.as_ref(),
            })
            .collect();
        self.written.extend(
            self.pending
                .iter()
                .map(|(e, ..)| e.message.message_id.clone()),
        );
        store.insert_messages(ws, &self.opening, &messages).await?;
        self.open
            .extend(self.opening.drain(..).map(|w| w.table_key()));
        self.pending.clear();
        Ok(())
    }
}

async fn apply(
    state: &IngestState,
    ws: &WorkspaceId,
    events: Vec<InboundEvent>,
    route: Route,
    webhook: Option<&WebhookRecord>,
    received_at: Timestamp,
    batch: &mut Batch,
) -> Result<IngestReport, ApiError> {
    let store = &state.store;
    let continuous = webhook.is_some_and(|w| w.continuous_conversation);
    let mut report = IngestReport::default();
    let mut envelopes = Vec::new();
    for (index, event) in events.into_iter().enumerate() {
        match event {
            InboundEvent::Message {
                mut event,
                new_chat,
            } => {
                let id = event.message.message_id.clone();
                if !batch.seen.insert(id.clone()) {
                    report.push(index, "duplicate", Some(id), None);
                    continue;
                }
                let delivery_id = DeliveryId::for_message(ws, &id);
                let window = window_of(route, ws, &event.chat.chat_id, received_at, webhook);
                match &window {
                    // The aggregator decides is_new_chat per bundle.
                    Some(_) => {}
                    None => {
                        if new_chat == NewChatRule::FromChatState {
                            // Only a chat's first message in the request can open its
                            // conversation; the rest follow it.
                            event.chat.is_new_chat = batch
                                .announced
                                .insert(event.chat.chat_id.clone())
                                && store
                                    .announce_chat(ws, &event.chat.chat_id, delivery_id.as_str())
                                    .await?
                                    .is_new;
                        }
                        let body = serde_json::to_string(&event)
                            .map_err(|e| ApiError::Unavailable(format!("encoding failed: {e}")))?;
                        envelopes.push(DeliveryEnvelope {
                            workspace_id: ws.clone(),
                            delivery_id: delivery_id.clone(),
                            created_at: received_at,
                            sequence: envelopes.len() as u32,
                            chat_id: Some(event.chat.chat_id.clone()),
                            body,
                            summary: Some(format!("message {id} of chat {}", event.chat.chat_id)),
                        });
                    }
                }
                batch.push(*event, delivery_id, window);
                report.push(index, "accepted", Some(id), None);
            }
            InboundEvent::MessageUpdated {
                message_id, text, ..
            } => {
                // The edit may be of a message earlier in this request.
                batch.flush(store, ws, received_at).await?;
                if store.edit_message(ws, &message_id, &text).await? {
                    report.push(index, "accepted", Some(message_id), None);
                } else {
                    let reason = "message_updated for a message Outflow has not stored".to_string();
                    report.push(index, "skipped", Some(message_id), Some(reason));
                }
            }
            InboundEvent::ChatOpened { chat_id } => {
                store.restart_chat(ws, &chat_id).await?;
                batch.announced.remove(&chat_id);
                report.push(index, "accepted", None, None);
            }
            InboundEvent::ChatClosed { chat_id } if continuous => {
                let reason = format!(
                    "chat {chat_id} continues: the workspace keeps one conversation per chat"
                );
                report.push(index, "skipped", None, Some(reason));
            }
            InboundEvent::ChatClosed { chat_id } => {
                store.restart_chat(ws, &chat_id).await?;
                batch.announced.remove(&chat_id);
                report.push(index, "accepted", None, None);
            }
            InboundEvent::ChatUpdated {
                chat_id,
                responsible_name,
                responsible_email,
            } => {
                store
                    .set_chat_responsible(
                        ws,
                        &chat_id,
                        &responsible_name,
                        &responsible_email,
                        received_at.millis(),
                    )
                    .await?;
                report.push(index, "accepted", None, None);
            }
            InboundEvent::Skipped { reason } => report.push(index, "skipped", None, Some(reason)),
        }
    }
    batch.flush(store, ws, received_at).await?;
    match route {
        Route::Enqueue => state.queue.send_first(&envelopes).await?,
        Route::Hold => store.hold(&envelopes).await?,
        Route::Aggregate(_) => {}
    }
    Ok(report)
}

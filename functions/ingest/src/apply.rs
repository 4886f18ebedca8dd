//! Carries out an ingest request's plan: one read finds the messages stored before and
//! the chat windows already open (less those this container saw open); new messages and
//! windows are written together (deterministic keys, BatchWriteItem). A message's delivery
//! is queued (or held) **before** the message is stored: a request that stops between the
//! two — an error, a timeout, a crash — leaves a delivery but no message, so the client's
//! retry stores it and queues it again (SQS drops the second copy: its deduplication id is
//! the delivery's), and is never told `duplicate` for a message that was never queued.

use crate::plan::{plan, windows_needed, Context, NewChat, Route, Step};
use crate::report::{EventStatus, IngestReport};
use crate::IngestState;
use outflow::delivery::release::after_hold;
use outflow::domain::{
    ChatId, DeliveryEnvelope, DeliveryId, Endpoint, EventType, MessageEvent, MessageId,
    PendingWindow, Timestamp, Webhook, WorkspaceId,
};
use outflow::formats::bundle::MAX_ENCODED_BODY_BYTES;
use outflow::formats::escaped::escaped_json_len;
use outflow::formats::{InboundEvent, NewChatRule, ToldChat};
use outflow::http::ApiError;
use outflow::store::{Announcement, Edit, Edited, NewMessage, Store};
use std::collections::HashSet;

/// Whether a stored message with an edit's new text still fits one delivery (the bound a
/// new message meets): the reason it is not recorded when it does not.
fn fits(event: &MessageEvent) -> Result<(), String> {
    // As `message:updated` sends it: `is_new_chat` false, a byte longer than true.
    let size = escaped_json_len(event) + usize::from(event.chat.is_new_chat);
    if size <= MAX_ENCODED_BODY_BYTES {
        return Ok(());
    }
    Err(format!(
        "not recorded: the message with the new text would make a delivery of {size} bytes \
         as queued; one delivery holds at most {MAX_ENCODED_BODY_BYTES} (240 KiB)"
    ))
}

/// Applies the events, routed by the webhook settings read when the request was admitted
/// (the default endpoint's) and the additional endpoints' (`extra`).
pub async fn ingest(
    state: &IngestState,
    ws: &WorkspaceId,
    events: Vec<InboundEvent>,
    webhook: Option<&Webhook>,
    extra: &[Endpoint],
) -> Result<IngestReport, ApiError> {
    let ctx = Context::new(ws, webhook, state.clock.now()).with_endpoints(extra);
    let now_ms = ctx.received_at.millis();
    let ids: Vec<MessageId> = events
        .iter()
        .filter_map(|e| match e {
            InboundEvent::Message { event, .. } => Some(event.message.message_id.clone()),
            _ => None,
        })
        .collect();
    let (remembered, unknown): (Vec<PendingWindow>, Vec<PendingWindow>) =
        windows_needed(&events, &ctx).into_iter().partition(|w| {
            let version = ctx.settings_version(&w.workspace_id);
            state.open_windows.contains(w, version, now_ms)
        });
    let (stored, mut open) = state.store.stored_and_open(ws, &ids, &unknown).await?;
    open.extend(remembered.iter().cloned());
    let steps = plan(events, &ctx, &stored);
    let mut batch = Batch {
        open,
        ..Batch::default()
    };
    let report = batch.carry_out(state, &ctx, steps).await?;
    let now_open = remembered
        .iter()
        .chain(&unknown)
        .filter(|w| batch.open.contains(*w));
    for w in now_open {
        let version = ctx.settings_version(&w.workspace_id);
        state.open_windows.remember([w], version, now_ms);
    }
    Ok(report)
}

/// A new message not written yet: its delivery, its default window, and the windows of
/// the other endpoints that aggregate it.
type Pending = (
    MessageEvent,
    DeliveryId,
    Option<PendingWindow>,
    Vec<PendingWindow>,
);

/// A new message's delivery to an additional endpoint.
struct ExtraDelivery {
    /// The endpoint's scope.
    scope: WorkspaceId,
    /// The delivery's id there.
    delivery: DeliveryId,
    /// Whether the endpoint's chat state decides `is_new_chat` (asked with this delivery).
    ask: bool,
}

/// What one request has decided but not yet written.
#[derive(Default)]
struct Batch {
    /// Windows known to be open (found, remembered, or opened by this request).
    open: HashSet<PendingWindow>,
    /// Windows to open with the next write.
    opening: Vec<PendingWindow>,
    /// New messages not written yet, with their delivery and windows (the default's, the
    /// other endpoints').
    pending: Vec<Pending>,
    /// Their deliveries, to queue (or hold) before they are written, in request order.
    envelopes: Vec<DeliveryEnvelope>,
    /// Deliveries made so far in this request (orders equal instants when held).
    sequence: u32,
    /// Chat events and message updates of an aggregated webhook: delivered at once.
    told: Vec<DeliveryEnvelope>,
    /// The additional endpoints' deliveries (each routed by its endpoint), in order.
    extra: Vec<DeliveryEnvelope>,
    /// The additional endpoints' chats announced in this request (when they keep chat
    /// states of their own).
    extra_announced: HashSet<(WorkspaceId, ChatId)>,
}

impl Batch {
    /// Carries out the steps in order, then queues or holds the deliveries.
    async fn carry_out(
        &mut self,
        state: &IngestState,
        ctx: &Context<'_>,
        steps: Vec<Step>,
    ) -> Result<IngestReport, ApiError> {
        let mut report = IngestReport::default();
        for step in steps {
            let (status, id, reason) = self.step(state, ctx, step).await?;
            report.push(status, id, reason);
        }
        self.flush(state, ctx).await?;
        Ok(report)
    }

    /// Carries out one step; says what became of its event.
    async fn step(
        &mut self,
        state: &IngestState,
        ctx: &Context<'_>,
        step: Step,
    ) -> Result<(EventStatus, Option<MessageId>, Option<String>), ApiError> {
        let store = &state.store;
        Ok(match step {
            Step::Store {
                event,
                delivery,
                window,
                joined,
                new_chat,
                rule,
                for_default,
            } => {
                let id = event.message.message_id.clone();
                let new = (new_chat, rule, for_default);
                let windows = (window, joined);
                self.store_message(store, ctx, *event, delivery, windows, new)
                    .await?;
                (EventStatus::Accepted, Some(id), None)
            }
            Step::Duplicate(id) => (EventStatus::Duplicate, Some(id), None),
            Step::Edit { id, text, tell } => self.edit(state, ctx, id, &text, tell).await?,
            Step::RestartChat {
                chat,
                told,
                teammate,
            } => {
                self.restart(store, ctx, &chat, teammate).await?;
                if let Some(told) = told {
                    self.tell_chat(ctx, &told)?;
                }
                (EventStatus::Accepted, None, None)
            }
            Step::SetResponsible {
                chat,
                name,
                email,
                told,
            } => {
                self.set_responsible(state, ctx, (&chat, &name, &email), told)
                    .await?;
                (EventStatus::Accepted, None, None)
            }
            Step::Tell(told) => {
                self.tell_chat(ctx, &told)?;
                (EventStatus::Accepted, None, None)
            }
            Step::Skip(reason) => (EventStatus::Skipped, None, Some(reason)),
        })
    }

    /// Records a stored message's new text, and tells it as `message:updated` when `tell`
    /// and the message has been edited (a first update with its own text is none), is not
    /// waiting in a window (its bundle will carry the new text), passes the filter and
    /// fits one delivery.
    async fn edit(
        &mut self,
        state: &IngestState,
        ctx: &Context<'_>,
        id: MessageId,
        text: &str,
        tell: bool,
    ) -> Result<(EventStatus, Option<MessageId>, Option<String>), ApiError> {
        // The edit may be of a message earlier in this request.
        self.flush(state, ctx).await?;
        let edit = match state.store.edit_message(ctx.ws, &id, text, fits).await? {
            Edited::Recorded(edit) => *edit,
            Edited::Unknown => {
                let reason = "message_updated for a message Outflow has not stored";
                return Ok((EventStatus::Skipped, Some(id), Some(reason.to_string())));
            }
            Edited::Refused(why) => return Ok((EventStatus::Skipped, Some(id), Some(why))),
        };
        let event = &edit.event;
        let direction = Some(event.message.direction);
        let (account, chat) = (&event.whatsapp_account, &event.chat);
        let kind = EventType::MessageUpdated;
        let taking: Vec<&Endpoint> = ctx.extra_taking(kind, account, chat, direction).collect();
        let filtered = ctx.filtered_out(account, chat, direction);
        let to_default = ctx.takes(kind) && filtered.is_none();
        if !tell || edit.number == 0 || (!to_default && taking.is_empty()) {
            return Ok((EventStatus::Accepted, Some(id), None));
        }
        let (to_default, extra) = not_waiting(&state.store, ctx, &edit, to_default, taking).await?;
        if !to_default && extra.is_empty() {
            return Ok((EventStatus::Accepted, Some(id), None));
        }
        // Edits are checked when recorded (`fits`): only one recorded before gets here.
        if fits(event).is_err() {
            let reason = "the new text is recorded, but the message with it is over 240 KiB: \
                          too large to deliver as message:updated";
            return Ok((EventStatus::Accepted, Some(id), Some(reason.to_string())));
        }
        let at = ctx.received_at;
        for endpoint in extra {
            let update = updated_envelope(&endpoint.scope, at, &edit, self.sequence)?;
            self.extra.push(update);
        }
        if to_default {
            let update = updated_envelope(ctx.ws, at, &edit, self.sequence)?;
            self.tell(ctx, update);
        } else {
            self.sequence += 1;
        }
        Ok((EventStatus::Accepted, Some(id), None))
    }

    /// Records the chat's teammate. A `chat:assigned` to tell goes out only when the
    /// teammate changed, and is queued before the change is written: a request cut short
    /// in between tells it again when retried, rather than never.
    async fn set_responsible(
        &mut self,
        state: &IngestState,
        ctx: &Context<'_>,
        (chat, name, email): (&ChatId, &str, &str),
        told: Option<Box<ToldChat>>,
    ) -> Result<(), ApiError> {
        let (store, ws, at) = (&state.store, ctx.ws, ctx.received_at.millis());
        if let Some(told) = told {
            if store.responsible_differs(ws, chat, name, email).await? {
                self.tell_chat(ctx, &told)?;
                self.flush(state, ctx).await?;
            }
        }
        store
            .set_chat_responsible(ws, chat, name, email, at)
            .await?;
        Ok(())
    }

    /// Adds a chat event's deliveries: the default endpoint's when it takes it, and one for
    /// each additional endpoint that does.
    fn tell_chat(&mut self, ctx: &Context<'_>, told: &ToldChat) -> Result<(), ApiError> {
        let (kind, account, chat) = (
            told.event.event_type,
            &told.event.whatsapp_account,
            &told.event.chat,
        );
        for endpoint in ctx.extra_taking(kind, account, chat, None) {
            let envelope = told_envelope(&endpoint.scope, ctx.received_at, told, self.sequence)?;
            self.extra.push(envelope);
        }
        if ctx.default_takes_told(told) {
            self.tell(
                ctx,
                told_envelope(ctx.ws, ctx.received_at, told, self.sequence)?,
            );
        } else {
            self.sequence += 1;
        }
        Ok(())
    }

    /// Adds a chat event's (or a message update's) delivery: in request order with the
    /// messages' deliveries, or, for an aggregated webhook, on the immediate route.
    fn tell(&mut self, ctx: &Context<'_>, envelope: DeliveryEnvelope) {
        self.sequence += 1;
        match ctx.route {
            Route::Aggregate(_) => self.told.push(envelope),
            _ => self.envelopes.push(envelope),
        }
    }

    /// Files a new message (opening its window with it when no one has) and, outside
    /// aggregation, makes its delivery, asking the chat's state whether it is new; then
    /// one delivery for each additional endpoint that takes it.
    async fn store_message(
        &mut self,
        store: &Store,
        ctx: &Context<'_>,
        mut event: MessageEvent,
        delivery: DeliveryId,
        (window, joined): (Option<PendingWindow>, Vec<PendingWindow>),
        (new_chat, rule, for_default): (NewChat, NewChatRule, bool),
    ) -> Result<(), ApiError> {
        let extra = self.extra_deliveries(ctx, &event, rule);
        // Every endpoint's chat state is an item of its own: all of a message's are asked
        // together, not one after another (100 new conversations to ten endpoints are
        // 1,000 states: at DynamoDB's few milliseconds a round trip, past ingest's deadline
        // one by one).
        let announcement = |ws: &WorkspaceId, by: &DeliveryId| Announcement {
            ws: ws.clone(),
            chat: event.chat.chat_id.clone(),
            by: by.as_str().to_string(),
        };
        let ask_default = matches!(new_chat, NewChat::Ask);
        let wanted: Vec<Announcement> = ask_default
            .then(|| announcement(ctx.ws, &delivery))
            .into_iter()
            .chain(
                extra
                    .iter()
                    .filter(|d| d.ask)
                    .map(|d| announcement(&d.scope, &d.delivery)),
            )
            .collect();
        let mut states = store.announce_each(&wanted).await?.into_iter();
        if ask_default {
            event.chat.is_new_chat = states.next().is_some_and(|state| state.is_new);
        } else if matches!(new_chat, NewChat::Follows) {
            event.chat.is_new_chat = false;
        }
        for d in extra {
            let mut event = event.clone();
            if rule == NewChatRule::FromChatState {
                event.chat.is_new_chat = d.ask && states.next().is_some_and(|state| state.is_new);
            }
            let at = ctx.received_at;
            self.extra
                .push(envelope(&d.scope, at, &event, &d.delivery, self.sequence)?);
        }
        if window.is_none() && for_default {
            let at = ctx.received_at;
            self.envelopes
                .push(envelope(ctx.ws, at, &event, &delivery, self.sequence)?);
        }
        self.sequence += 1;
        for w in window.iter().chain(&joined) {
            if !self.open.contains(w) && !self.opening.contains(w) {
                self.opening.push(w.clone());
            }
        }
        self.pending.push((event, delivery, window, joined));
        Ok(())
    }

    /// A conversation starts (on the additional endpoints' chat states too), with the
    /// teammate a created chat names.
    async fn restart(
        &mut self,
        store: &Store,
        ctx: &Context<'_>,
        chat: &ChatId,
        teammate: Option<(String, String)>,
    ) -> Result<(), ApiError> {
        store.restart_chat(ctx.ws, chat).await?;
        // At once, not one after another: a request may hold 100 chat events.
        let others = ctx.extra.iter().map(|e| store.restart_chat(&e.scope, chat));
        futures::future::try_join_all(others).await?;
        self.extra_announced.retain(|(_, c)| c != chat);
        if let Some((name, email)) = teammate {
            let at = ctx.received_at.millis();
            store
                .set_chat_responsible(ctx.ws, chat, &name, &email, at)
                .await?;
        }
        Ok(())
    }

    /// The deliveries of a new message to the additional endpoints that take it and
    /// deliver immediately (one that aggregates gets it in its bundle), each saying
    /// whether its endpoint's own chat state is to be asked for `is_new_chat` (never the
    /// default's, whose deliveries or bundles it decides): only on the chat's first message
    /// to it in this request, and only when the rule says so.
    fn extra_deliveries(
        &mut self,
        ctx: &Context<'_>,
        event: &MessageEvent,
        rule: NewChatRule,
    ) -> Vec<ExtraDelivery> {
        let kind = EventType::of_message(event.message.direction);
        let (account, chat, direction) = (
            &event.whatsapp_account,
            &event.chat,
            Some(event.message.direction),
        );
        ctx.extra_taking(kind, account, chat, direction)
            .filter(|e| e.webhook.aggregation.is_immediate())
            .map(|endpoint| {
                let scope = endpoint.scope.clone();
                let ask = rule == NewChatRule::FromChatState
                    && self
                        .extra_announced
                        .insert((scope.clone(), chat.chat_id.clone()));
                ExtraDelivery {
                    delivery: DeliveryId::for_message(&scope, &event.message.message_id),
                    scope,
                    ask,
                }
            })
            .collect()
    }

    /// Queues (or holds) the additional endpoints' deliveries, each on its endpoint's
    /// route (on, off, or behind a release).
    async fn send_extra(&mut self, state: &IngestState, ctx: &Context<'_>) -> Result<(), ApiError> {
        let mut rest = std::mem::take(&mut self.extra);
        let mut each = Vec::new();
        for endpoint in ctx.extra {
            let mine: Vec<DeliveryEnvelope>;
            (mine, rest) = rest
                .into_iter()
                .partition(|e| e.workspace_id == endpoint.scope);
            if mine.is_empty() {
                continue;
            }
            let route = Route::immediate(Some(&endpoint.webhook), ctx.received_at);
            let scope = (&endpoint.scope, ctx.received_at);
            each.push(async move { send(state, scope, route, &mine).await });
        }
        debug_assert!(rest.is_empty(), "a delivery to no additional endpoint");
        // Side by side: each endpoint's deliveries are message groups of their own, so
        // only the order within an endpoint's counts, and each sends its own in order.
        // Every one runs to its end (another's failure cuts none between holding and its
        // check), then the first failure answers.
        futures::future::join_all(each).await.into_iter().collect()
    }

    /// Queues (or holds) the pending messages' deliveries, then writes the windows to open
    /// and the messages (BatchWriteItem, 25 at a time).
    async fn flush(&mut self, state: &IngestState, ctx: &Context<'_>) -> Result<(), ApiError> {
        self.send_extra(state, ctx).await?;
        if !self.told.is_empty() {
            let route = Route::immediate(ctx.webhook, ctx.received_at);
            send(state, (ctx.ws, ctx.received_at), route, &self.told).await?;
            self.told.clear();
        }
        if self.pending.is_empty() && self.opening.is_empty() {
            if !self.envelopes.is_empty() {
                send(state, (ctx.ws, ctx.received_at), ctx.route, &self.envelopes).await?;
                self.envelopes.clear();
            }
            return Ok(());
        }
        send(state, (ctx.ws, ctx.received_at), ctx.route, &self.envelopes).await?;
        self.envelopes.clear();
        let messages: Vec<NewMessage> = self
            .pending
            .iter()
            .map(|(event, delivery, window, joined)| NewMessage {
                event,
                delivery,
                received_at: ctx.received_at,
                window: window.as_ref(),
                joined,
            })
            .collect();
        state
            .store
            .insert_messages(ctx.ws, &self.opening, &messages)
            .await?;
        self.open.extend(self.opening.drain(..));
        self.pending.clear();
        Ok(())
    }
}

/// Of the endpoints an edit is for (the default when `to_default`), those to tell it now:
/// an endpoint whose bundle with the message is still to come gets the new text in it; the
/// others had the message already. Each endpoint's window is asked side by side (no read
/// unless the message joined one of its windows).
async fn not_waiting<'a>(
    store: &Store,
    ctx: &Context<'_>,
    edit: &Edit,
    to_default: bool,
    taking: Vec<&'a Endpoint>,
) -> Result<(bool, Vec<&'a Endpoint>), ApiError> {
    let tell_default = async {
        match to_default {
            true => Ok(!store.waits_in_window(ctx.ws, edit).await?),
            false => Ok(false),
        }
    };
    let extra_waits = taking.iter().map(|e| store.waits_in_window(&e.scope, edit));
    let (tell_default, extra_waits) =
        futures::try_join!(tell_default, futures::future::try_join_all(extra_waits))?;
    let extra = taking
        .into_iter()
        .zip(extra_waits)
        .filter_map(|(endpoint, waits)| (!waits).then_some(endpoint))
        .collect();
    Ok((tell_default, extra))
}

/// Queues (or holds) one delivery scope's deliveries on `route`.
async fn send(
    state: &IngestState,
    (scope, received_at): (&WorkspaceId, Timestamp),
    route: Route,
    envelopes: &[DeliveryEnvelope],
) -> Result<(), ApiError> {
    match route {
        Route::Enqueue => state.queue.send_first(envelopes).await?,
        Route::Hold | Route::HoldBehindRelease if !envelopes.is_empty() => {
            state.store.hold(envelopes).await?;
            // The webhook may have been switched on, or its release ended, since it
            // was read: then nobody else puts these back.
            let (store, queue) = (&state.store, &state.queue);
            after_hold(store, queue, scope, received_at).await?;
        }
        Route::Hold | Route::HoldBehindRelease | Route::Aggregate(_) => {}
    }
    Ok(())
}

/// The delivery of a chat event: its `webhook-id` from the chat, the type, when it
/// happened (as the source said it) and what it says, so a retried request repeats it and
/// two changes differ unless the source sent the same change twice at the same instant.
fn told_envelope(
    scope: &WorkspaceId,
    received_at: Timestamp,
    told: &ToldChat,
    sequence: u32,
) -> Result<DeliveryEnvelope, ApiError> {
    let body = serde_json::to_string(&told.event)
        .map_err(|e| ApiError::Unavailable(format!("encoding failed: {e}")))?;
    let (kind, chat) = (told.event.event_type, &told.event.chat.chat_id);
    let what = format!("{chat}\u{0}{}\u{0}{body}", told.occurred);
    Ok(DeliveryEnvelope {
        workspace_id: scope.clone(),
        delivery_id: DeliveryId::for_event(scope, kind.as_str(), &what),
        created_at: received_at,
        sequence,
        chat_id: Some(chat.clone()),
        summary: Some(format!("{kind} of chat {chat}")),
        event_type: Some(kind),
        released_by: None,
        body,
    })
}

/// The delivery of a message's new text: the seed's message payload, as stored, with it
/// (never a new chat's first message), its `webhook-id` from the message and the edit's
/// number (a retried request repeats it; A, then B, then A again are three).
fn updated_envelope(
    scope: &WorkspaceId,
    received_at: Timestamp,
    edit: &Edit,
    sequence: u32,
) -> Result<DeliveryEnvelope, ApiError> {
    let mut event = edit.event.clone();
    event.chat.is_new_chat = false;
    let event = &event;
    let delivery = DeliveryId::for_message(scope, &event.message.message_id);
    let mut envelope = envelope(scope, received_at, event, &delivery, sequence)?;
    let (id, number) = (&event.message.message_id, edit.number);
    let kind = EventType::MessageUpdated;
    envelope.delivery_id =
        DeliveryId::for_event(scope, kind.as_str(), &format!("{id}\u{0}{number}"));
    envelope.summary = Some(format!(
        "update of message {id} of chat {}",
        event.chat.chat_id
    ));
    envelope.event_type = Some(kind);
    Ok(envelope)
}

/// The delivery of one message: its exact body, signed alike on every retry.
fn envelope(
    scope: &WorkspaceId,
    received_at: Timestamp,
    event: &MessageEvent,
    delivery: &DeliveryId,
    sequence: u32,
) -> Result<DeliveryEnvelope, ApiError> {
    let body = serde_json::to_string(event)
        .map_err(|e| ApiError::Unavailable(format!("encoding failed: {e}")))?;
    let (id, chat) = (&event.message.message_id, &event.chat.chat_id);
    Ok(DeliveryEnvelope {
        workspace_id: scope.clone(),
        delivery_id: delivery.clone(),
        created_at: received_at,
        sequence,
        chat_id: Some(chat.clone()),
        body,
        summary: Some(format!("message {id} of chat {chat}")),
        event_type: Some(EventType::of_message(event.message.direction)),
        released_by: None,
    })
}

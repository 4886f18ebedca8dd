//! The decision for one ingest request, before anything is written: where new messages go
//! (the route), which chat windows they need, and one step per event — store, duplicate,
//! edit, restart or update a chat, skip. Pure; `apply.rs` carries the steps out.

use outflow::domain::{
    Account, Aggregation, Chat, ChatId, DeliveryId, Direction, Endpoint, EventType, MessageEvent,
    MessageId, PendingWindow, ReleasePhase, Timestamp, Webhook, Window, WorkspaceId,
};
use outflow::formats::{InboundEvent, NewChatRule, ToldChat};
use std::collections::HashSet;

/// Where new messages go, decided once per request from the webhook settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Enqueue for the sender now.
    Enqueue,
    /// Webhook off or not set up: keep the delivery for replay on enable.
    Hold,
    /// Webhook on, but a release of what it held is under way (or just ended): hold the
    /// delivery behind it, so it does not overtake an older one of its chat.
    HoldBehindRelease,
    /// Aggregated webhook: file into the chat's window of this granularity.
    Aggregate(Aggregation),
}

impl Route {
    /// The route of the webhook's settings at `now` (aggregated windows collect even
    /// while off: the aggregator parks them).
    pub fn of(webhook: Option<&Webhook>, now: Timestamp) -> Self {
        match webhook {
            Some(w) if !w.aggregation.is_immediate() => Route::Aggregate(w.aggregation),
            _ => Route::immediate(webhook, now),
        }
    }

    /// The route of what is never aggregated (chat events, message updates).
    pub fn immediate(webhook: Option<&Webhook>, now: Timestamp) -> Self {
        match webhook {
            Some(w) if w.enabled && w.release_phase(now) == ReleasePhase::Idle => Route::Enqueue,
            Some(w) if w.enabled => Route::HoldBehindRelease,
            _ => Route::Hold,
        }
    }
}

/// What the decision needs to know about the request.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The tenant.
    pub ws: &'a WorkspaceId,
    /// The webhook settings as admission read them (the default endpoint).
    pub webhook: Option<&'a Webhook>,
    /// The workspace's additional endpoints (immediate delivery only).
    pub extra: &'a [Endpoint],
    /// Where new messages go (on the default endpoint).
    pub route: Route,
    /// When the request arrived (decides each message's window).
    pub received_at: Timestamp,
}

impl<'a> Context<'a> {
    /// The context of a request of `ws` arriving at `received_at`.
    pub fn new(ws: &'a WorkspaceId, webhook: Option<&'a Webhook>, received_at: Timestamp) -> Self {
        Self {
            ws,
            webhook,
            extra: &[],
            route: Route::of(webhook, received_at),
            received_at,
        }
    }

    /// The same, with the workspace's additional endpoints.
    pub fn with_endpoints(self, extra: &'a [Endpoint]) -> Self {
        Self { extra, ..self }
    }

    /// The additional endpoints that take an event of this type about this chat.
    pub fn extra_taking<'c>(
        &'c self,
        event: EventType,
        account: &'c Account,
        chat: &'c Chat,
        direction: Option<Direction>,
    ) -> impl Iterator<Item = &'a Endpoint> + 'c {
        self.extra
            .iter()
            .filter(move |e| e.webhook.takes(event, account, chat, direction))
    }

    /// The chat window a message joins in aggregated mode; never one that a switch to
    /// immediate delivery flushed early.
    pub fn window_of(&self, chat: &ChatId) -> Option<PendingWindow> {
        let Route::Aggregate(_) = self.route else {
            return None;
        };
        window_for(self.ws, self.webhook?, chat, self.received_at)
    }

    /// The windows of the additional endpoints that aggregate this message (one each).
    pub fn extra_windows_of(&self, event: &MessageEvent) -> Vec<PendingWindow> {
        let kind = EventType::of_message(event.message.direction);
        let (account, chat) = (&event.whatsapp_account, &event.chat);
        self.extra_taking(kind, account, chat, Some(event.message.direction))
            .filter_map(|e| window_for(&e.scope, &e.webhook, &chat.chat_id, self.received_at))
            .collect()
    }

    /// The settings version a window's scope was read under (what remembering it open
    /// is trusted under).
    pub fn settings_version(&self, scope: &WorkspaceId) -> u64 {
        match self.extra.iter().find(|e| &e.scope == scope) {
            Some(e) => e.webhook.settings_version,
            None => self.webhook.map_or(0, |w| w.settings_version),
        }
    }

    /// True when the default endpoint is registered and takes `event` (chat events and
    /// updates are not kept for a webhook that does not exist yet).
    pub fn takes(&self, event: EventType) -> bool {
        self.webhook.is_some_and(|w| w.subscribes(event))
    }

    /// True when the default endpoint or an additional one subscribes to `event`.
    pub fn any_takes(&self, event: EventType) -> bool {
        self.takes(event) || self.extra.iter().any(|e| e.webhook.subscribes(event))
    }

    /// Why no endpoint takes this message, or `None` when one does (no webhook yet: every
    /// message is kept for it).
    pub fn refuses(&self, event: &MessageEvent) -> Option<String> {
        let reason = self.default_refuses(event)?;
        let kind = EventType::of_message(event.message.direction);
        let (account, chat) = (&event.whatsapp_account, &event.chat);
        let direction = Some(event.message.direction);
        let mut taking = self.extra_taking(kind, account, chat, direction);
        taking.next().is_none().then_some(reason)
    }

    /// Why the default endpoint does not take this message (its type, or its filter), or
    /// `None` when it does (no webhook yet: every message is kept for it).
    pub fn default_refuses(&self, event: &MessageEvent) -> Option<String> {
        let webhook = self.webhook?;
        let kind = EventType::of_message(event.message.direction);
        if !webhook.subscribes(kind) {
            return Some(format!("the webhook does not subscribe to {kind}"));
        }
        let direction = Some(event.message.direction);
        self.filtered_out(&event.whatsapp_account, &event.chat, direction)
    }

    /// Why the webhook's filter does not take an event of this chat, if it does not.
    pub fn filtered_out(
        &self,
        account: &Account,
        chat: &Chat,
        direction: Option<Direction>,
    ) -> Option<String> {
        let filter = self.webhook?.filter.as_ref()?;
        filter.refuses(account, chat, direction)
    }

    /// True when the default endpoint takes this chat event (its type and its filter).
    pub fn default_takes_told(&self, told: &ToldChat) -> bool {
        let (account, chat) = (&told.event.whatsapp_account, &told.event.chat);
        self.takes(told.event.event_type) && self.filtered_out(account, chat, None).is_none()
    }

    fn continuous(&self) -> bool {
        self.webhook.is_some_and(|w| w.continuous_conversation)
    }
}

/// The window of `scope`'s aggregation that a message arriving at `at` joins (none when it
/// delivers immediately); never one that a switch to immediate delivery flushed early.
fn window_for(
    scope: &WorkspaceId,
    webhook: &Webhook,
    chat: &ChatId,
    at: Timestamp,
) -> Option<PendingWindow> {
    let granularity = webhook.aggregation;
    let not_before = webhook.windows_start_no_earlier_than();
    Window::containing(at, granularity)
        .map(|w| PendingWindow::new(scope, chat, granularity, w.starting_no_earlier(not_before)))
}

/// How a stored message's `is_new_chat` is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewChat {
    /// As the producer gave it (native events).
    AsGiven,
    /// The chat's first message in this request: ask the chat's state (one write).
    Ask,
    /// A later message of a chat this request announced already: not new.
    Follows,
    /// Aggregated: the aggregator decides it per bundle.
    ByBundle,
    /// Only other endpoints take it: the default's chat state is not asked (their own
    /// are).
    NotDefaults,
}

/// What to do with one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A new message: store it (in its window when aggregated) and deliver it.
    Store {
        /// The message with its chat context.
        event: Box<MessageEvent>,
        /// Its delivery id (stable: derived from workspace and message).
        delivery: DeliveryId,
        /// Its window, when aggregated.
        window: Option<PendingWindow>,
        /// The windows of the additional endpoints that aggregate it.
        joined: Vec<PendingWindow>,
        /// How its `is_new_chat` is settled.
        new_chat: NewChat,
        /// How the source settles `is_new_chat` (for the additional endpoints).
        rule: NewChatRule,
        /// The default endpoint takes it (else only additional ones do).
        for_default: bool,
    },
    /// Stored before (or earlier in this request): delivered once.
    Duplicate(MessageId),
    /// A stored message's text changed.
    Edit {
        /// The message.
        id: MessageId,
        /// Its new text.
        text: String,
        /// Deliver it as `message:updated`.
        tell: bool,
    },
    /// A conversation starts (created, or resolved/closed): the next message is new; the
    /// chat event, when the webhook takes it.
    RestartChat {
        /// The chat.
        chat: ChatId,
        /// Its chat event to tell.
        told: Option<Box<ToldChat>>,
        /// The teammate a created chat names (name, email), recorded so its first
        /// `conversation_updated` is not taken for a change of teammate.
        teammate: Option<(String, String)>,
    },
    /// The chat's responsible teammate changed.
    SetResponsible {
        /// The chat.
        chat: ChatId,
        /// Name.
        name: String,
        /// Email.
        email: String,
        /// `chat:assigned`, when the webhook takes it (told only if the teammate changed).
        told: Option<Box<ToldChat>>,
    },
    /// Only a chat event to tell (a closed chat that continues).
    Tell(Box<ToldChat>),
    /// Nothing to deliver, and why.
    Skip(String),
}

/// The windows the request's messages join (each once), in request order.
pub fn windows_needed(events: &[InboundEvent], ctx: &Context) -> Vec<PendingWindow> {
    let mut windows: Vec<PendingWindow> = Vec::new();
    for event in events {
        if let InboundEvent::Message { event, .. } = event {
            let own = match ctx.default_refuses(event) {
                Some(_) => None,
                None => ctx.window_of(&event.chat.chat_id),
            };
            for w in own.into_iter().chain(ctx.extra_windows_of(event)) {
                if !windows.contains(&w) {
                    windows.push(w);
                }
            }
        }
    }
    windows
}

/// One step per event, in request order. `stored` holds the message ids stored before.
pub fn plan(events: Vec<InboundEvent>, ctx: &Context, stored: &HashSet<MessageId>) -> Vec<Step> {
    let mut seen = stored.clone();
    let mut announced: HashSet<ChatId> = HashSet::new();
    events
        .into_iter()
        .map(|event| match event {
            InboundEvent::Message { event, new_chat } => {
                let id = event.message.message_id.clone();
                if seen.contains(&id) {
                    return Step::Duplicate(id);
                }
                if let Some(reason) = ctx.refuses(&event) {
                    return Step::Skip(reason);
                }
                seen.insert(id.clone());
                let for_default = ctx.default_refuses(&event).is_none();
                let window = for_default
                    .then(|| ctx.window_of(&event.chat.chat_id))
                    .flatten();
                let rule = new_chat;
                let new_chat = match (&window, new_chat) {
                    (_, _) if !for_default => NewChat::NotDefaults,
                    (Some(_), _) => NewChat::ByBundle,
                    (None, NewChatRule::AsGiven) => NewChat::AsGiven,
                    (None, NewChatRule::FromChatState) => {
                        if announced.insert(event.chat.chat_id.clone()) {
                            NewChat::Ask
                        } else {
                            NewChat::Follows
                        }
                    }
                };
                Step::Store {
                    delivery: DeliveryId::for_message(ctx.ws, &id),
                    joined: ctx.extra_windows_of(&event),
                    event,
                    window,
                    new_chat,
                    rule,
                    for_default,
                }
            }
            InboundEvent::MessageUpdated {
                message_id, text, ..
            } => Step::Edit {
                tell: ctx.any_takes(EventType::MessageUpdated),
                id: message_id,
                text,
            },
            InboundEvent::Skipped { reason } => Step::Skip(reason),
            chat_event => chat_step(chat_event, ctx, &mut announced),
        })
        .collect()
}

/// The step of a chat event: the chat's state changes, and the event is told to a webhook
/// that subscribes to it.
fn chat_step(event: InboundEvent, ctx: &Context, announced: &mut HashSet<ChatId>) -> Step {
    let tell = |told: Option<Box<ToldChat>>| {
        told.filter(|t| {
            let (kind, account, chat) =
                (t.event.event_type, &t.event.whatsapp_account, &t.event.chat);
            ctx.default_takes_told(t)
                || ctx.extra_taking(kind, account, chat, None).next().is_some()
        })
    };
    match event {
        InboundEvent::ChatClosed { chat_id, told } if ctx.continuous() => match tell(told) {
            Some(told) => Step::Tell(told),
            None => Step::Skip(format!(
                "chat {chat_id} continues: the workspace keeps one conversation per chat"
            )),
        },
        InboundEvent::ChatOpened { chat_id, told } => {
            announced.remove(&chat_id);
            let named = told.as_ref().map(|t| &t.event.chat).and_then(|c| {
                let named = !c.responsible_name.is_empty() || !c.responsible_email.is_empty();
                named.then(|| (c.responsible_name.clone(), c.responsible_email.clone()))
            });
            Step::RestartChat {
                chat: chat_id,
                told: tell(told),
                teammate: named,
            }
        }
        InboundEvent::ChatClosed { chat_id, told } => {
            announced.remove(&chat_id);
            Step::RestartChat {
                chat: chat_id,
                told: tell(told),
                teammate: None,
            }
        }
        InboundEvent::ChatUpdated {
            chat_id,
            responsible_name,
            responsible_email,
            told,
        } => Step::SetResponsible {
            chat: chat_id,
            name: responsible_name,
            email: responsible_email,
            told: tell(told),
        },
        InboundEvent::Skipped { reason } => Step::Skip(reason),
        InboundEvent::Message { .. } | InboundEvent::MessageUpdated { .. } => {
            unreachable!("plan maps message events itself")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outflow::domain::{Message, Party};

    fn message(id: &str, chat: &str, rule: NewChatRule) -> InboundEvent {
        let party = Party {
            full_name: "A".into(),
            phone: String::new(),
        };
        InboundEvent::Message {
            event: Box::new(MessageEvent {
                whatsapp_account: Account {
                    full_name: "acct".into(),
                    email: String::new(),
                    phone: String::new(),
                },
                chat: Chat {
                    full_name: "c".into(),
                    responsible_name: String::new(),
                    responsible_email: String::new(),
                    chat_url: String::new(),
                    chat_id: ChatId::new_unchecked(chat),
                    is_new_chat: false,
                    is_group: false,
                    phone: String::new(),
                },
                message: Message {
                    direction: Direction::Received,
                    timestamp: Timestamp::from_unix(0).unwrap(),
                    message_id: MessageId::new_unchecked(id),
                    sender: party.clone(),
                    recipient: party,
                    text: "hi".into(),
                    attachments: Vec::new(),
                },
            }),
            new_chat: rule,
        }
    }

    fn webhook(aggregation: Aggregation, enabled: bool, continuous: bool) -> Webhook {
        Webhook {
            url: "https://r.example/".into(),
            enabled,
            aggregation,
            secret: "whsec_x".into(),
            continuous_conversation: continuous,
            consecutive_failures: 0,
            disabled_at: None,
            disabled_reason: None,
            previous_secret: None,
            previous_secret_expires_ms: None,
            settings_version: 1,
            immediate_since_ms: None,
            owner_email_due: None,
            owner_emails_day: None,
            owner_emails_sent: 0,
            release_nonce: None,
            release_ended_ms: None,
            release_progress_ms: None,
            off_since_ms: None,
            release_off_since_ms: None,
            slow_until_ms: None,
            event_types: None,
            filter: None,
            description: None,
            deleted_ms: None,
            registered_by: None,
        }
    }

    /// A short name for each step, for table comparisons.
    fn name(step: &Step) -> String {
        match step {
            Step::Store {
                event,
                new_chat,
                window,
                ..
            } => format!(
                "store {} {new_chat:?}{}",
                event.message.message_id,
                if window.is_some() { " in window" } else { "" }
            ),
            Step::Duplicate(id) => format!("duplicate {id}"),
            Step::Edit { id, tell, .. } => format!("edit {id}{}", if *tell { " told" } else { "" }),
            Step::RestartChat { chat, told, .. } => {
                format!(
                    "restart {chat}{}",
                    if told.is_some() { " told" } else { "" }
                )
            }
            Step::SetResponsible { chat, .. } => format!("responsible {chat}"),
            Step::Tell(told) => format!("tell {}", told.event.event_type),
            Step::Skip(_) => "skip".into(),
        }
    }

    #[test]
    fn routes_follow_the_settings() {
        let now = Timestamp::parse("2026-03-01T10:05:00Z").unwrap();
        let releasing = |ended_ms: Option<i64>| {
            let mut w = webhook(Aggregation::None, true, false);
            w.release_nonce = Some(7);
            w.release_ended_ms = ended_ms;
            Some(w)
        };
        let cases = [
            (releasing(None), Route::HoldBehindRelease),
            (
                releasing(Some(now.millis() - 1_000)),
                Route::HoldBehindRelease,
            ),
            (releasing(Some(now.millis() - 60_000)), Route::Enqueue),
            (None, Route::Hold),
            (
                Some(webhook(Aggregation::None, true, false)),
                Route::Enqueue,
            ),
            (Some(webhook(Aggregation::None, false, false)), Route::Hold),
            (
                Some(webhook(Aggregation::Hours6, false, false)),
                Route::Aggregate(Aggregation::Hours6),
            ),
        ];
        for (w, route) in cases {
            assert_eq!(Route::of(w.as_ref(), now), route, "{w:?}");
        }
    }

    #[test]
    fn each_event_becomes_one_step() {
        let ws = WorkspaceId::new_unchecked("ws_a");
        let at = Timestamp::parse("2026-03-01T10:05:00Z").unwrap();
        let chat = |id: &str| ChatId::new_unchecked(id);
        let events = || {
            vec![
                message("m1", "c1", NewChatRule::FromChatState),
                message("m2", "c1", NewChatRule::FromChatState),
                message("m1", "c1", NewChatRule::FromChatState),
                message("old", "c2", NewChatRule::FromChatState),
                InboundEvent::ChatClosed {
                    chat_id: chat("c1"),
                    told: None,
                },
                message("m3", "c1", NewChatRule::FromChatState),
                message("n1", "c3", NewChatRule::AsGiven),
                InboundEvent::MessageUpdated {
                    chat_id: chat("c1"),
                    message_id: MessageId::new_unchecked("m1"),
                    text: "edited".into(),
                },
            ]
        };
        let stored = HashSet::from([MessageId::new_unchecked("old")]);
        // (webhook, expected steps)
        let immediate = webhook(Aggregation::None, true, false);
        let continuous = webhook(Aggregation::None, true, true);
        let hourly = webhook(Aggregation::Hours1, true, false);
        let cases: [(&Webhook, [&str; 8]); 3] = [
            (
                &immediate,
                [
                    "store m1 Ask",
                    "store m2 Follows",
                    "duplicate m1",
                    "duplicate old",
                    "restart c1",
                    "store m3 Ask",
                    "store n1 AsGiven",
                    "edit m1",
                ],
            ),
            (
                &continuous,
                [
                    "store m1 Ask",
                    "store m2 Follows",
                    "duplicate m1",
                    "duplicate old",
                    "skip",
                    "store m3 Follows",
                    "store n1 AsGiven",
                    "edit m1",
                ],
            ),
            (
                &hourly,
                [
                    "store m1 ByBundle in window",
                    "store m2 ByBundle in window",
                    "duplicate m1",
                    "duplicate old",
                    "restart c1",
                    "store m3 ByBundle in window",
                    "store n1 ByBundle in window",
                    "edit m1",
                ],
            ),
        ];
        for (w, expected) in cases {
            let ctx = Context::new(&ws, Some(w), at);
            let steps: Vec<String> = plan(events(), &ctx, &stored).iter().map(name).collect();
            assert_eq!(steps, expected, "{w:?}");
        }
    }

    #[test]
    fn a_message_of_a_type_the_webhook_does_not_take_is_skipped_and_opens_no_window() {
        let ws = WorkspaceId::new_unchecked("ws_a");
        let at = Timestamp::parse("2026-03-01T10:05:00Z").unwrap();
        let mut hourly = webhook(Aggregation::Hours1, true, false);
        hourly.event_types = Some(vec![EventType::MessageSentNew]);
        let events = vec![message("r1", "c1", NewChatRule::AsGiven)];
        let ctx = Context::new(&ws, Some(&hourly), at);
        assert!(windows_needed(&events, &ctx).is_empty());
        let steps = plan(events.clone(), &ctx, &HashSet::new());
        assert_eq!(
            steps,
            [Step::Skip(
                "the webhook does not subscribe to message:received:new".into()
            )]
        );
        hourly.event_types = Some(vec![]);
        let ctx = Context::new(&ws, Some(&hourly), at);
        assert_eq!(windows_needed(&events, &ctx).len(), 1, "empty: every type");
    }

    #[test]
    fn windows_are_needed_once_and_never_start_before_an_early_flush() {
        let ws = WorkspaceId::new_unchecked("ws_a");
        let at = Timestamp::parse("2026-03-01T10:05:00Z").unwrap();
        let mut hourly = webhook(Aggregation::Hours1, true, false);
        let events = vec![
            message("m1", "c1", NewChatRule::AsGiven),
            message("m2", "c1", NewChatRule::AsGiven),
            message("m3", "c2", NewChatRule::AsGiven),
        ];
        let windows = windows_needed(&events, &Context::new(&ws, Some(&hourly), at));
        assert_eq!(windows.len(), 2);
        assert_eq!(
            windows[0].start_ms,
            Timestamp::parse("2026-03-01T10:00:00Z").unwrap().millis()
        );
        let flushed = Timestamp::parse("2026-03-01T10:02:00Z").unwrap();
        hourly.immediate_since_ms = Some(flushed.millis());
        let later = windows_needed(&events, &Context::new(&ws, Some(&hourly), at));
        assert_eq!(later[0].start_ms, flushed.millis());
        let immediate = webhook(Aggregation::None, true, false);
        assert!(windows_needed(&events, &Context::new(&ws, Some(&immediate), at)).is_empty());
    }

    #[test]
    fn a_message_another_endpoint_takes_is_stored_but_joins_no_window_of_the_default() {
        let ws = WorkspaceId::new_unchecked("ws_a");
        let at = Timestamp::parse("2026-03-01T10:05:00Z").unwrap();
        let mut hourly = webhook(Aggregation::Hours1, true, false);
        hourly.event_types = Some(vec![EventType::MessageSentNew]);
        let mut other = webhook(Aggregation::None, true, false);
        other.event_types = Some(vec![EventType::MessageReceivedNew]);
        let extra = [Endpoint {
            scope: ws.endpoint_scope(&outflow::domain::EndpointId::generate()),
            webhook: other,
        }];
        let events = vec![message("m1", "c1", NewChatRule::FromChatState)];
        let alone = Context::new(&ws, Some(&hourly), at);
        assert!(matches!(
            plan(events.clone(), &alone, &HashSet::new())[0],
            Step::Skip(_)
        ));
        let ctx = alone.with_endpoints(&extra);
        assert!(
            windows_needed(&events, &ctx).is_empty(),
            "not the default's"
        );
        match &plan(events, &ctx, &HashSet::new())[0] {
            Step::Store {
                window,
                for_default,
                rule,
                new_chat,
                ..
            } => {
                assert!(window.is_none() && !for_default);
                assert_eq!(
                    *new_chat,
                    NewChat::NotDefaults,
                    "the default's chats untouched"
                );
                assert_eq!(*rule, NewChatRule::FromChatState);
            }
            other => panic!("stored, not {other:?}"),
        }
    }

    #[test]
    fn each_aggregating_endpoint_gets_its_own_window_of_its_own_granularity() {
        let ws = WorkspaceId::new_unchecked("ws_a");
        let at = Timestamp::parse("2026-03-01T10:05:00Z").unwrap();
        let hourly = webhook(Aggregation::Hours1, true, false);
        let mut six = webhook(Aggregation::Hours6, true, false);
        six.event_types = Some(vec![EventType::MessageReceivedNew]);
        let extra = [
            Endpoint {
                scope: ws.endpoint_scope(&outflow::domain::EndpointId::generate()),
                webhook: six,
            },
            Endpoint {
                scope: ws.endpoint_scope(&outflow::domain::EndpointId::generate()),
                webhook: webhook(Aggregation::None, true, false),
            },
        ];
        let ctx = Context::new(&ws, Some(&hourly), at).with_endpoints(&extra);
        let events = vec![
            message("m1", "c1", NewChatRule::AsGiven),
            message("m2", "c1", NewChatRule::AsGiven),
        ];
        let windows = windows_needed(&events, &ctx);
        let spans: Vec<(&WorkspaceId, i64)> = windows
            .iter()
            .map(|w| (&w.workspace_id, w.end_ms - w.start_ms))
            .collect();
        let hour = 3_600_000;
        assert_eq!(spans, [(&ws, hour), (&extra[0].scope, 6 * hour)]);
        for step in plan(events, &ctx, &HashSet::new()) {
            let Step::Store { joined, window, .. } = step else {
                panic!("stored");
            };
            assert!(window.is_some(), "the default's window");
            assert_eq!(joined, [windows[1].clone()], "the 6h one only");
        }
        assert_eq!(ctx.settings_version(&extra[0].scope), 1);
    }
}

//! Chatwoot / liveDesk webhook events (seed 002), mapped to Outflow's message model.

use super::bounded;
use super::event::{InboundEvent, NewChatRule, ParseContext, ToldChat};
use super::invalid::{quoted, InvalidEvent};
use super::limits::MAX_ATTACHMENTS;
use super::source::EventSource;
use super::validate::Fields;
use crate::domain::{
    Account, Attachment, Chat, ChatEvent, ChatId, Direction, EventType, Message, MessageEvent,
    MessageId, Party, Timestamp,
};
use serde::de::IgnoredAny;
use serde::Deserialize;

/// Attachments kept while reading: one past the limit, so the count check refuses.
const KEPT_ATTACHMENTS: usize = MAX_ATTACHMENTS + 1;

/// An id Chatwoot sends as a number in some places and a string in others.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Scalar")]
enum FlexId {
    Number(u64),
    Text(String),
}

impl FlexId {
    fn text(&self) -> String {
        match self {
            FlexId::Number(n) => n.to_string(),
            FlexId::Text(s) => s.clone(),
        }
    }
}

impl TryFrom<Scalar> for FlexId {
    type Error = &'static str;

    fn try_from(value: Scalar) -> Result<Self, Self::Error> {
        match value {
            Scalar::Unsigned(n) => Ok(FlexId::Number(n)),
            Scalar::Text(t) => Ok(FlexId::Text(t)),
            _ => Err("expected an id: a whole number or a string"),
        }
    }
}

/// `message_type`: a word in webhooks, a number in the API.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Scalar")]
enum MessageType {
    Code(u8),
    Word(String),
}

impl TryFrom<Scalar> for MessageType {
    type Error = &'static str;

    fn try_from(value: Scalar) -> Result<Self, Self::Error> {
        match value {
            Scalar::Unsigned(n) if n <= u64::from(u8::MAX) => Ok(MessageType::Code(n as u8)),
            Scalar::Text(t) => Ok(MessageType::Word(t)),
            _ => Err("expected a message type: a word or a code from 0 to 255"),
        }
    }
}

/// `created_at`: RFC 3339 text or Unix seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "Scalar")]
enum FlexTime {
    Unix(f64),
    Text(String),
}

impl From<Scalar> for FlexTime {
    fn from(value: Scalar) -> Self {
        match value {
            Scalar::Unsigned(n) => FlexTime::Unix(n as f64),
            Scalar::Signed(n) => FlexTime::Unix(n as f64),
            Scalar::Float(n) => FlexTime::Unix(n),
            Scalar::Text(t) => FlexTime::Text(t),
        }
    }
}

/// A number or a string, read as it comes: an object or array is refused at its first
/// byte (serde's `untagged` would first copy the whole value, which a hostile body could
/// make many times its size).
#[derive(Debug)]
enum Scalar {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Text(String),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl serde::de::Visitor<'_> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a number or a string")
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Scalar, E> {
        Ok(Scalar::Unsigned(n))
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Scalar, E> {
        Ok(Scalar::Signed(n))
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(n))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(text.to_string()))
    }
}

#[derive(Debug, Deserialize)]
struct Named {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone_number: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Meta {
    sender: Named,
    #[serde(default)]
    assignee: Option<Named>,
}

#[derive(Debug, Deserialize)]
struct AccountRef {
    id: FlexId,
}

#[derive(Debug, Deserialize)]
struct Conversation {
    id: FlexId,
    meta: Meta,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    chat_mode: Option<String>,
    #[serde(default)]
    account: Option<AccountRef>,
    /// The inbox (conversation events; message events carry `inbox`).
    #[serde(default)]
    inbox_id: Lenient,
    /// When it last changed (conversation events).
    #[serde(default)]
    updated_at: Lenient,
}

/// A member read only by conversation events: its text when it is a number or a string,
/// nothing otherwise, so message events that carry it in another shape are taken as
/// before.
#[derive(Debug, Default)]
struct Lenient(Option<String>);

impl<'de> Deserialize<'de> for Lenient {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor)
    }
}

/// Reads a [`Lenient`] without building what it ignores: an object or array there is
/// skipped, not made into a JSON tree (which a hostile body could make 100 times its size).
struct LenientVisitor;

impl<'de> serde::de::Visitor<'de> for LenientVisitor {
    type Value = Lenient;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Lenient, E> {
        Ok(Lenient(Some(text.to_string())))
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Lenient, E> {
        Ok(Lenient(Some(n.to_string())))
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Lenient, E> {
        Ok(Lenient(Some(n.to_string())))
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Lenient, E> {
        // Written as serde_json writes a number (the text this member had before).
        Ok(Lenient(
            serde_json::Number::from_f64(n).map(|n| n.to_string()),
        ))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Lenient, E> {
        Ok(Lenient(None))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Lenient, E> {
        Ok(Lenient(None))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<Lenient, A::Error> {
        while items.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Lenient(None))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut entries: A) -> Result<Lenient, A::Error> {
        while entries.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Lenient(None))
    }
}

#[derive(Debug, Deserialize)]
struct Inbox {
    id: FlexId,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawAttachment {
    #[serde(default)]
    file_type: Option<String>,
    #[serde(default)]
    data_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MessageCreated {
    id: FlexId,
    #[serde(default)]
    content: Option<String>,
    message_type: MessageType,
    #[serde(default)]
    private: bool,
    created_at: FlexTime,
    conversation: Conversation,
    #[serde(default)]
    inbox: Option<Inbox>,
    #[serde(default)]
    sender: Option<Named>,
    #[serde(default)]
    account: Option<AccountRef>,
    /// At most one past the limit is kept (the rest of a hostile list is skipped).
    #[serde(default, deserialize_with = "bounded::first::<_, _, KEPT_ATTACHMENTS>")]
    attachments: Vec<RawAttachment>,
}

#[derive(Debug, Deserialize)]
struct MessageUpdated {
    id: FlexId,
    #[serde(default)]
    content: Option<String>,
    conversation: ConversationId,
}

#[derive(Debug, Deserialize)]
struct ConversationId {
    id: FlexId,
}

fn text_or_empty(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

/// Maps one Chatwoot/liveDesk event (already known to carry `"event": kind`), after
/// checking every field it reads against the limits, named as Chatwoot names them.
pub(crate) fn parse(
    kind: &str,
    source: impl EventSource,
    at: &str,
    ctx: &ParseContext,
) -> Result<InboundEvent, InvalidEvent> {
    let f = Fields::at(at);
    match kind {
        "message_created" => {
            let m: MessageCreated = source.read(at)?;
            check_created(&f, &m)?;
            message_created(m, at, ctx)
        }
        "message_updated" => {
            let m: MessageUpdated = source.read(at)?;
            f.id("id", &m.id.text())?;
            f.id("conversation.id", &m.conversation.id.text())?;
            f.text("content", m.content.as_deref().unwrap_or_default())?;
            Ok(InboundEvent::MessageUpdated {
                chat_id: ChatId::new_unchecked(m.conversation.id.text()),
                message_id: MessageId::new_unchecked(m.id.text()),
                text: text_or_empty(&m.content),
            })
        }
        "conversation_created" | "conversation_status_changed" | "conversation_updated" => {
            let c: Conversation = source.read(at)?;
            check_conversation(&f, "", &c)?;
            if let Some(inbox) = &c.inbox_id.0 {
                f.id("inbox_id", inbox)?;
            }
            f.short_opt("updated_at", &c.updated_at.0)?;
            Ok(conversation_event(kind, c, ctx))
        }
        other => Err(InvalidEvent::new(
            format!("{at}event"),
            format!(
                "unknown event {}: expected message_created, message_updated, \
                 conversation_created, conversation_updated or conversation_status_changed",
                quoted(other, 64)
            ),
        )),
    }
}

/// What a conversation event (already checked) means for its chat, with the chat event it
/// delivers.
fn conversation_event(kind: &str, c: Conversation, ctx: &ParseContext) -> InboundEvent {
    let chat_id = ChatId::new_unchecked(c.id.text());
    let told = |event_type| Some(Box::new(told_chat(&c, event_type, ctx)));
    match kind {
        "conversation_created" => InboundEvent::ChatOpened {
            told: told(EventType::ChatCreated),
            chat_id,
        },
        "conversation_updated" => {
            let (responsible_name, responsible_email) = responsible(&c.meta);
            InboundEvent::ChatUpdated {
                told: told(EventType::ChatAssigned),
                chat_id,
                responsible_name,
                responsible_email,
            }
        }
        _ => match c.status.as_deref() {
            Some("resolved" | "closed") => InboundEvent::ChatClosed {
                told: told(EventType::ChatClosed),
                chat_id,
            },
            other => InboundEvent::Skipped {
                reason: format!(
                    "conversation status {:?} needs no action",
                    other.unwrap_or("unknown")
                ),
            },
        },
    }
}

fn check_named(f: &Fields, at: &str, n: &Named) -> Result<(), InvalidEvent> {
    f.short_opt(&format!("{at}name"), &n.name)?;
    f.short_opt(&format!("{at}email"), &n.email)?;
    f.short_opt(&format!("{at}phone_number"), &n.phone_number)
}

/// A conversation's fields, under `at` (`conversation.` inside a message event).
fn check_conversation(f: &Fields, at: &str, c: &Conversation) -> Result<(), InvalidEvent> {
    f.id(&format!("{at}id"), &c.id.text())?;
    check_named(f, &format!("{at}meta.sender."), &c.meta.sender)?;
    if let Some(assignee) = &c.meta.assignee {
        check_named(f, &format!("{at}meta.assignee."), assignee)?;
    }
    f.short_opt(&format!("{at}status"), &c.status)?;
    f.short_opt(&format!("{at}chat_mode"), &c.chat_mode)?;
    if let Some(account) = &c.account {
        f.id(&format!("{at}account.id"), &account.id.text())?;
    }
    Ok(())
}

fn check_created(f: &Fields, m: &MessageCreated) -> Result<(), InvalidEvent> {
    f.id("id", &m.id.text())?;
    f.text("content", m.content.as_deref().unwrap_or_default())?;
    check_conversation(f, "conversation.", &m.conversation)?;
    if let Some(inbox) = &m.inbox {
        f.id("inbox.id", &inbox.id.text())?;
        f.short_opt("inbox.name", &inbox.name)?;
    }
    if let Some(sender) = &m.sender {
        check_named(f, "sender.", sender)?;
    }
    if let Some(account) = &m.account {
        f.id("account.id", &account.id.text())?;
    }
    f.count("attachments", m.attachments.len(), MAX_ATTACHMENTS)?;
    for (i, a) in m.attachments.iter().enumerate() {
        f.short_opt(&format!("attachments[{i}].file_type"), &a.file_type)?;
        if let Some(url) = &a.data_url {
            f.url(&format!("attachments[{i}].data_url"), url)?;
        }
    }
    Ok(())
}

fn responsible(meta: &Meta) -> (String, String) {
    match &meta.assignee {
        Some(a) => (text_or_empty(&a.name), text_or_empty(&a.email)),
        None => (String::new(), String::new()),
    }
}

/// The decision: a customer message in one direction, or a kind to skip (and why).
fn classify(m: &MessageCreated, at: &str) -> Result<Result<Direction, &'static str>, InvalidEvent> {
    // Chatwoot: 0 incoming, 1 outgoing, 2 activity, 3 template (an outgoing template message).
    let direction = match &m.message_type {
        MessageType::Code(0) => Some(Direction::Received),
        MessageType::Code(1 | 3) => Some(Direction::Sent),
        MessageType::Code(2) => None,
        MessageType::Word(w) => match w.as_str() {
            "incoming" => Some(Direction::Received),
            "outgoing" | "template" => Some(Direction::Sent),
            "activity" => None,
            _ => {
                return Err(InvalidEvent::new(
                    format!("{at}message_type"),
                    format!(
                    "unknown message_type {}: expected incoming, outgoing, activity or template",
                    quoted(w, 64)
                ),
                ))
            }
        },
        MessageType::Code(n) => {
            return Err(InvalidEvent::new(
                format!("{at}message_type"),
                format!("unknown message_type {n}"),
            ))
        }
    };
    Ok(match direction {
        None => Err("activity message, not a customer message"),
        Some(_) if m.private => Err("private note, not a customer message"),
        Some(direction) => Ok(direction),
    })
}

fn timestamp(created_at: &FlexTime, at: &str) -> Result<Timestamp, InvalidEvent> {
    let parsed = match created_at {
        FlexTime::Unix(s) => Timestamp::from_unix(*s as i64),
        FlexTime::Text(t) => Timestamp::parse(t),
    };
    parsed.ok_or_else(|| {
        InvalidEvent::new(
            format!("{at}created_at"),
            "is not an RFC 3339 time or Unix seconds",
        )
    })
}

fn message_created(
    m: MessageCreated,
    at: &str,
    ctx: &ParseContext,
) -> Result<InboundEvent, InvalidEvent> {
    let direction = match classify(&m, at)? {
        Ok(direction) => direction,
        Err(reason) => {
            return Ok(InboundEvent::Skipped {
                reason: reason.into(),
            })
        }
    };
    let (sender, recipient) = parties(&m, direction);
    let event = MessageEvent {
        whatsapp_account: account(&m),
        chat: chat(&m, ctx),
        message: Message {
            direction,
            timestamp: timestamp(&m.created_at, at)?,
            message_id: MessageId::new_unchecked(m.id.text()),
            sender,
            recipient,
            text: text_or_empty(&m.content),
            attachments: attachments(&m.attachments),
        },
    };
    Fields::at(at).keyed_time("created_at", event.message.timestamp)?;
    Fields::at(at).delivery(&event, "content", "attachments")?;
    Ok(InboundEvent::Message {
        event: Box::new(event),
        new_chat: NewChatRule::FromChatState,
    })
}

fn inbox_name(m: &MessageCreated) -> String {
    m.inbox
        .as_ref()
        .and_then(|i| i.name.clone())
        .unwrap_or_default()
}

/// The contact is the conversation's sender; the other side is the teammate who wrote an
/// outgoing message, else the responsible teammate, else the inbox.
fn parties(m: &MessageCreated, direction: Direction) -> (Party, Party) {
    let sender = &m.conversation.meta.sender;
    let contact = Party {
        full_name: text_or_empty(&sender.name),
        phone: text_or_empty(&sender.phone_number),
    };
    let (responsible_name, _) = responsible(&m.conversation.meta);
    let fallback = if responsible_name.is_empty() {
        inbox_name(m)
    } else {
        responsible_name
    };
    let agent = Party {
        full_name: m
            .sender
            .as_ref()
            .filter(|_| direction == Direction::Sent)
            .and_then(|s| s.name.clone())
            .unwrap_or(fallback),
        phone: String::new(),
    };
    match direction {
        Direction::Sent => (agent, contact),
        Direction::Received => (contact, agent),
    }
}

/// The channel account is the inbox.
fn account(m: &MessageCreated) -> Account {
    let name = inbox_name(m);
    Account {
        full_name: if name.is_empty() {
            m.inbox
                .as_ref()
                .map(|i| format!("Inbox {}", i.id.text()))
                .unwrap_or_default()
        } else {
            name
        },
        email: String::new(),
        phone: String::new(),
    }
}

/// The chat is the conversation, linked in the helpdesk's UI when its account is known.
fn chat(m: &MessageCreated, ctx: &ParseContext) -> Chat {
    let account = m.account.as_ref().or(m.conversation.account.as_ref());
    chat_of(&m.conversation, account, ctx)
}

/// A conversation event as a chat event: the inbox is the account (named by its id: the
/// event carries no inbox name), the conversation the chat.
fn told_chat(c: &Conversation, event_type: EventType, ctx: &ParseContext) -> ToldChat {
    let inbox = c.inbox_id.0.as_ref().map(|id| format!("Inbox {id}"));
    let occurred = c.updated_at.0.clone().unwrap_or_default();
    ToldChat {
        event: ChatEvent {
            event_type,
            whatsapp_account: Account {
                full_name: inbox.unwrap_or_default(),
                email: String::new(),
                phone: String::new(),
            },
            chat: chat_of(c, c.account.as_ref(), ctx),
        },
        occurred,
    }
}

/// The chat of a conversation, linked in the helpdesk's UI when its account is known.
fn chat_of(conversation: &Conversation, account: Option<&AccountRef>, ctx: &ParseContext) -> Chat {
    let is_group = conversation.chat_mode.as_deref() == Some("group_chat");
    let account_id = account.map(|a| a.id.text());
    let chat_id = conversation.id.text();
    let chat_url = match (&account_id, ctx.chat_url_base.is_empty()) {
        (Some(account), false) => format!(
            "{}/app/accounts/{account}/conversations/{chat_id}",
            ctx.chat_url_base.trim_end_matches('/')
        ),
        _ => String::new(),
    };
    let (responsible_name, responsible_email) = responsible(&conversation.meta);
    let sender = &conversation.meta.sender;
    Chat {
        full_name: text_or_empty(&sender.name),
        responsible_name,
        responsible_email,
        chat_url,
        chat_id: ChatId::new_unchecked(chat_id),
        is_new_chat: false,
        is_group,
        phone: if is_group {
            String::new()
        } else {
            text_or_empty(&sender.phone_number)
        },
    }
}

fn attachments(raw: &[RawAttachment]) -> Vec<Attachment> {
    raw.iter()
        .filter_map(|a| {
            Some(Attachment {
                file_type: a.file_type.clone().unwrap_or_else(|| "file".into()),
                url: a.data_url.clone()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::limits::{MAX_SHORT_FIELD_BYTES, MAX_TEXT_BYTES};
    use crate::formats::parse_events;
    use serde_json::{json, Value};

    const CREATED: &str = include_str!("../../../../shared/fixtures/livedesk_message_created.json");
    const CONVERSATION: &str =
        include_str!("../../../../shared/fixtures/livedesk_conversation_created.json");

    fn ctx() -> ParseContext {
        ParseContext {
            chat_url_base: "https://app.livedesk.example/".into(),
        }
    }

    #[test]
    fn ids_types_and_times_are_read_as_before_and_a_container_there_is_refused_at_once() {
        let id = |json: &str| serde_json::from_str::<FlexId>(json).map(|i| i.text());
        assert_eq!(id("42").unwrap(), "42");
        assert_eq!(id(r#""c-42""#).unwrap(), "c-42");
        assert!(id("-1").is_err() && id("1.5").is_err() && id("null").is_err());
        let refused = id(r#"[[[0]],{"":0}]"#).unwrap_err().to_string();
        assert!(
            refused.contains("expected a number or a string"),
            "{refused}"
        );
        let kind = |json: &str| serde_json::from_str::<MessageType>(json);
        assert!(matches!(kind("3").unwrap(), MessageType::Code(3)));
        assert!(matches!(kind(r#""incoming""#).unwrap(), MessageType::Word(w) if w == "incoming"));
        assert!(kind("256").is_err() && kind(r#"{"":0}"#).is_err());
        let time = |json: &str| serde_json::from_str::<FlexTime>(json).unwrap();
        assert!(matches!(time("1700000000"), FlexTime::Unix(t) if t == 1.7e9));
        assert!(matches!(time("-5"), FlexTime::Unix(t) if t == -5.0));
        assert!(matches!(time("1.5"), FlexTime::Unix(t) if t == 1.5));
        assert!(matches!(
            time(r#""2026-01-01T00:00:00Z""#),
            FlexTime::Text(_)
        ));
        // From a tree too (the checked path).
        assert_eq!(FlexId::deserialize(json!(7)).unwrap().text(), "7");
    }

    #[test]
    fn a_lenient_member_is_read_without_building_what_it_ignores() {
        let read = |json: &str| serde_json::from_str::<Lenient>(json).unwrap().0;
        assert_eq!(read(r#""7""#), Some("7".into()));
        assert_eq!(read("7"), Some("7".into()));
        assert_eq!(read("-7"), Some("-7".into()));
        assert_eq!(
            read("1700000000.25"),
            Some(json!(1700000000.25).to_string())
        );
        assert_eq!(read(r#"[{"a":[1,{}]},{"":0}]"#), None);
        assert_eq!(read(r#"{"a":{"b":[]}}"#), None);
        assert_eq!((read("null"), read("true")), (None, None));
        // The checked path reads it from a tree.
        assert_eq!(
            Lenient::deserialize(json!(12)).unwrap().0,
            Some("12".into())
        );
    }

    fn fixture_with(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut v: Value = serde_json::from_str(CREATED).unwrap();
        edit(&mut v);
        serde_json::to_vec(&v).unwrap()
    }

    fn only_message(body: &[u8]) -> MessageEvent {
        match parse_events(body, &ctx()).unwrap().remove(0) {
            InboundEvent::Message { event, new_chat } => {
                assert_eq!(new_chat, NewChatRule::FromChatState);
                *event
            }
            other => panic!("expected a message, got {other:?}"),
        }
    }

    #[test]
    fn maps_the_outgoing_fixture() {
        let e = only_message(CREATED.as_bytes());
        assert_eq!(e.message.direction, Direction::Sent);
        assert_eq!(e.message.text, "สวัสดีคุณต้องการความช่วยเหลืออะไร");
        assert_eq!(e.message.message_id.as_str(), "2187685");
        assert_eq!(e.message.timestamp.to_string(), "2026-01-21T04:04:56+0000");
        assert_eq!(
            e.message.sender,
            Party {
                full_name: "support".into(),
                phone: String::new()
            }
        );
        assert_eq!(
            e.message.recipient,
            Party {
                full_name: "Test".into(),
                phone: "+123456789".into()
            }
        );
        assert_eq!(e.chat.chat_id.as_str(), "89");
        assert_eq!(e.chat.full_name, "Test");
        assert_eq!(e.chat.phone, "+123456789");
        assert!(!e.chat.is_group);
        assert_eq!(
            e.chat.chat_url,
            "https://app.livedesk.example/app/accounts/17629000001207/conversations/89"
        );
        assert_eq!(e.whatsapp_account.full_name, "Test01");
    }

    #[test]
    fn incoming_messages_come_from_the_contact() {
        let body = fixture_with(|v| v["message_type"] = "incoming".into());
        let e = only_message(&body);
        assert_eq!(e.message.direction, Direction::Received);
        assert_eq!(e.message.sender.full_name, "Test");
        assert_eq!(e.message.recipient.full_name, "Test01");
    }

    #[test]
    fn assignee_becomes_the_responsible_teammate() {
        let body = fixture_with(|v| {
            v["conversation"]["meta"]["assignee"] =
                serde_json::json!({"id": 7, "name": "Dana", "email": "dana@acme.inc"});
        });
        let e = only_message(&body);
        assert_eq!(e.chat.responsible_name, "Dana");
        assert_eq!(e.chat.responsible_email, "dana@acme.inc");
    }

    #[test]
    fn private_notes_and_activity_are_skipped_with_a_reason() {
        for body in [
            fixture_with(|v| v["private"] = true.into()),
            fixture_with(|v| v["message_type"] = "activity".into()),
            fixture_with(|v| v["message_type"] = 2.into()),
        ] {
            match parse_events(&body, &ctx()).unwrap().remove(0) {
                InboundEvent::Skipped { reason } => {
                    assert!(reason.contains("not a customer message"))
                }
                other => panic!("expected skipped, got {other:?}"),
            }
        }
    }

    #[test]
    fn attachments_are_delivered() {
        let body = fixture_with(|v| {
            v["attachments"] =
                serde_json::json!([{"file_type": "image", "data_url": "https://f.example/a.png"}]);
        });
        let e = only_message(&body);
        assert_eq!(e.message.attachments[0].url, "https://f.example/a.png");
    }

    #[test]
    fn attachments_past_the_limit_are_refused_and_not_kept_while_reading() {
        let with = |n: usize| fixture_with(|v| v["attachments"] = vec![json!({}); n].into());
        let err = parse_events(&with(1_000), &ctx()).unwrap_err().to_string();
        assert!(
            err.contains("attachments") && err.contains("more than 20"),
            "{err}"
        );
        // Read straight from the bytes, as the fast path reads: 1 MiB of `{}` would be
        // some 350,000 items held before the count is checked.
        let m: MessageCreated = serde_json::from_slice(&with(100_000)).unwrap();
        assert!(m.attachments.capacity() < 2 * KEPT_ATTACHMENTS);
        assert!(check_created(&Fields::at(""), &m).is_err());
    }

    #[test]
    fn conversation_events_map_to_chat_changes() {
        let events = parse_events(CONVERSATION.as_bytes(), &ctx()).unwrap();
        let [InboundEvent::ChatOpened {
            chat_id,
            told: Some(told),
        }] = &events[..]
        else {
            panic!("{events:?}");
        };
        assert_eq!(chat_id.as_str(), "89");
        let told = serde_json::to_value(&told.event).unwrap();
        assert_eq!(told["event_type"], "chat:created");
        assert_eq!(told["whatsapp_account"]["full_name"], "Inbox 523");
        assert_eq!(told["chat"]["chat_id"], "89");
        assert_eq!(told["chat"]["full_name"], "Test");
        assert_eq!(told["chat"]["phone"], "+123456789");
        assert_eq!(
            told["chat"]["chat_url"],
            "https://app.livedesk.example/app/accounts/17629000001207/conversations/89"
        );
        let mut v: Value = serde_json::from_str(CONVERSATION).unwrap();
        v["event"] = "conversation_status_changed".into();
        v["status"] = "resolved".into();
        let events = parse_events(&serde_json::to_vec(&v).unwrap(), &ctx()).unwrap();
        let [InboundEvent::ChatClosed {
            chat_id,
            told: Some(told),
        }] = &events[..]
        else {
            panic!("{events:?}");
        };
        assert_eq!(chat_id.as_str(), "89");
        assert_eq!(told.event.event_type, EventType::ChatClosed);
        assert_eq!(told.occurred, "1768967324.268219");
    }

    #[test]
    fn unknown_kinds_and_bad_fields_are_named() {
        let err = parse_events(br#"{"event": "contact_created"}"#, &ctx()).unwrap_err();
        assert_eq!(err.field, "event");
        let body = fixture_with(|v| v["message_type"] = "sideways".into());
        assert_eq!(
            parse_events(&body, &ctx()).unwrap_err().field,
            "message_type"
        );
        let body = fixture_with(|v| v["conversation"]["meta"] = Value::Null);
        assert_eq!(
            parse_events(&body, &ctx()).unwrap_err().field,
            "conversation.meta"
        );
        // A time past the keys' 13 digits of milliseconds would sort first in its window.
        let body = fixture_with(|v| v["created_at"] = 10_413_792_000_i64.into());
        assert_eq!(parse_events(&body, &ctx()).unwrap_err().field, "created_at");
    }

    #[test]
    fn message_types_decide_between_delivering_and_skipping() {
        // (message_type, private, expected direction or skipped)
        let cases = [
            (json!("incoming"), false, Some(Direction::Received)),
            (json!(0), false, Some(Direction::Received)),
            (json!("outgoing"), false, Some(Direction::Sent)),
            (json!(1), false, Some(Direction::Sent)),
            (json!("template"), false, Some(Direction::Sent)),
            (json!(3), false, Some(Direction::Sent)),
            (json!("activity"), false, None),
            (json!(2), false, None),
            (json!("outgoing"), true, None),
            (json!("incoming"), true, None),
        ];
        for (kind, private, expected) in cases {
            let body = fixture_with(|v| {
                v["message_type"] = kind.clone();
                v["private"] = private.into();
            });
            let got = match parse_events(&body, &ctx()).unwrap().remove(0) {
                InboundEvent::Message { event, .. } => Some(event.message.direction),
                InboundEvent::Skipped { .. } => None,
                other => panic!("{other:?}"),
            };
            assert_eq!(got, expected, "{kind} private={private}");
        }
    }

    #[test]
    fn every_field_of_every_kind_is_held_to_the_limits() {
        let long = Value::String("x".repeat(MAX_SHORT_FIELD_BYTES + 1));
        let text = Value::String("x".repeat(MAX_TEXT_BYTES + 1));
        let huge = Value::String("x".repeat(900 * 1024));
        let updated = |content: &Value| {
            json!({"event": "message_updated", "id": 5, "content": content,
                   "conversation": {"id": 89}})
        };
        let conversation = |kind: &str, edit: &dyn Fn(&mut Value)| {
            let mut v: Value = serde_json::from_str(CONVERSATION).unwrap();
            v["event"] = kind.into();
            edit(&mut v);
            v
        };
        let cases: Vec<(Value, &str)> = vec![
            (updated(&text), "content"),
            (updated(&huge), "content"),
            (
                json!({"event": "message_updated", "id": "9".repeat(129), "conversation": {"id": 1}}),
                "id",
            ),
            (
                conversation("conversation_updated", &|v| {
                    v["meta"]["assignee"] = json!({"name": long.clone(), "email": "a@b.c"})
                }),
                "meta.assignee.name",
            ),
            (
                conversation("conversation_updated", &|v| {
                    v["meta"]["assignee"] = json!({"name": "Dana", "email": huge.clone()})
                }),
                "meta.assignee.email",
            ),
            (
                conversation("conversation_status_changed", &|v| {
                    v["status"] = long.clone()
                }),
                "status",
            ),
            (
                conversation("conversation_created", &|v| v["id"] = json!("")),
                "id",
            ),
            (
                serde_json::from_slice(&fixture_with(|v| v["content"] = text.clone())).unwrap(),
                "content",
            ),
            (
                serde_json::from_slice(&fixture_with(|v| {
                    v["conversation"]["meta"]["sender"]["name"] = long.clone()
                }))
                .unwrap(),
                "conversation.meta.sender.name",
            ),
            (
                serde_json::from_slice(&fixture_with(|v| v["inbox"]["name"] = long.clone()))
                    .unwrap(),
                "inbox.name",
            ),
        ];
        for (body, field) in cases {
            let err = parse_events(&serde_json::to_vec(&body).unwrap(), &ctx()).unwrap_err();
            assert_eq!(err.field, field, "{}", err.message);
            assert!(err.message.contains("longer than") || err.message.contains("empty"));
        }
    }

    #[test]
    fn an_unknown_kind_is_not_echoed_whole() {
        let kind = "k".repeat(10_000);
        let body = serde_json::to_vec(&json!({ "event": kind })).unwrap();
        let err = parse_events(&body, &ctx()).unwrap_err();
        assert!(err.message.len() < 300, "{}", err.message.len());
    }
}

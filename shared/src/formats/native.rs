//! The native inbound event: exactly the outbound "no aggregation" payload shape.

use super::event::{InboundEvent, ToldChat};
use super::invalid::InvalidEvent;
use super::limits::MAX_ATTACHMENTS;
use super::source::EventSource;
use super::validate::Fields;
use crate::domain::{Account, Chat, ChatEvent, ChatId, EventType, MessageEvent, MessageId};
use serde::Deserialize;

/// Parses and validates one native message event; `at` is its path in the request.
pub(crate) fn parse(source: impl EventSource, at: &str) -> Result<MessageEvent, InvalidEvent> {
    let event: MessageEvent = source.read(at)?;
    validate(&event, at)?;
    Ok(event)
}

/// A native chat event: the outbound chat event's shape, and optionally when it happened
/// (`timestamp`, any text: two identical changes at different times get different
/// `webhook-id`s).
// Its members one by one (no `flatten`, which would hide the path of a bad field).
#[derive(Deserialize)]
struct NativeChatEvent {
    event_type: EventType,
    whatsapp_account: Account,
    chat: Chat,
    #[serde(default)]
    timestamp: Option<String>,
}

/// Parses a native chat event (`event_type` `chat:created`, `chat:closed` or
/// `chat:assigned`).
pub(crate) fn parse_chat_event(
    source: impl EventSource,
    at: &str,
) -> Result<InboundEvent, InvalidEvent> {
    let NativeChatEvent {
        event_type,
        whatsapp_account,
        chat,
        timestamp,
    } = source.read(at)?;
    let event = ChatEvent {
        event_type,
        whatsapp_account,
        chat,
    };
    let f = Fields::at(at);
    validate_context(&f, &event.whatsapp_account, &event.chat)?;
    let occurred = timestamp.unwrap_or_default();
    f.short("timestamp", &occurred)?;
    let chat_id = event.chat.chat_id.clone();
    let (name, email) = (
        event.chat.responsible_name.clone(),
        event.chat.responsible_email.clone(),
    );
    let kind = event.event_type;
    let told = Some(Box::new(ToldChat { event, occurred }));
    Ok(match kind {
        EventType::ChatCreated => InboundEvent::ChatOpened { chat_id, told },
        EventType::ChatClosed => InboundEvent::ChatClosed { chat_id, told },
        _ => InboundEvent::ChatUpdated {
            chat_id,
            responsible_name: name,
            responsible_email: email,
            told,
        },
    })
}

/// A native message update: `{"event_type": "message:updated", "chat": {"chat_id"},
/// "message": {"message_id", "text"}}`.
#[derive(Deserialize)]
struct NativeUpdate {
    chat: UpdatedChat,
    message: UpdatedMessage,
}

#[derive(Deserialize)]
struct UpdatedChat {
    chat_id: ChatId,
}

#[derive(Deserialize)]
struct UpdatedMessage {
    message_id: MessageId,
    text: String,
}

/// Parses a native message update.
pub(crate) fn parse_update(
    source: impl EventSource,
    at: &str,
) -> Result<InboundEvent, InvalidEvent> {
    let update: NativeUpdate = source.read(at)?;
    let f = Fields::at(at);
    f.id("chat.chat_id", update.chat.chat_id.as_str())?;
    f.id("message.message_id", update.message.message_id.as_str())?;
    f.text("message.text", &update.message.text)?;
    Ok(InboundEvent::MessageUpdated {
        chat_id: update.chat.chat_id,
        message_id: update.message.message_id,
        text: update.message.text,
    })
}

/// Checks the account's and the chat's fields.
fn validate_context(f: &Fields, account: &Account, chat: &Chat) -> Result<(), InvalidEvent> {
    f.id("chat.chat_id", chat.chat_id.as_str())?;
    f.short("whatsapp_account.full_name", &account.full_name)?;
    f.short("whatsapp_account.email", &account.email)?;
    f.short("whatsapp_account.phone", &account.phone)?;
    f.short("chat.full_name", &chat.full_name)?;
    f.short("chat.responsible_name", &chat.responsible_name)?;
    f.short("chat.responsible_email", &chat.responsible_email)?;
    f.short("chat.phone", &chat.phone)?;
    f.url("chat.chat_url", &chat.chat_url)
}

/// Checks ids and the size of every free-text field, named as the native shape names them.
fn validate(event: &MessageEvent, at: &str) -> Result<(), InvalidEvent> {
    let f = Fields::at(at);
    let (account, chat, message) = (&event.whatsapp_account, &event.chat, &event.message);
    validate_context(&f, account, chat)?;
    f.id("message.message_id", message.message_id.as_str())?;
    f.keyed_time("message.timestamp", message.timestamp)?;
    f.short("message.sender.full_name", &message.sender.full_name)?;
    f.short("message.sender.phone", &message.sender.phone)?;
    f.short("message.recipient.full_name", &message.recipient.full_name)?;
    f.short("message.recipient.phone", &message.recipient.phone)?;
    f.text("message.text", &message.text)?;
    f.count(
        "message.attachments",
        message.attachments.len(),
        MAX_ATTACHMENTS,
    )?;
    for (i, a) in message.attachments.iter().enumerate() {
        f.url(&format!("message.attachments[{i}].url"), &a.url)?;
        f.short(&format!("message.attachments[{i}].file_type"), &a.file_type)?;
    }
    f.delivery(event, "message.text", "message.attachments")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::limits::{MAX_SHORT_FIELD_BYTES, MAX_TEXT_BYTES};
    use serde_json::{json, Value};

    const SEED: &str = include_str!("../../../../shared/fixtures/timelines_message_example.json");

    fn seed() -> Value {
        serde_json::from_str(SEED).unwrap()
    }

    fn refused(edit: impl FnOnce(&mut Value), at: &str) -> InvalidEvent {
        let mut v = seed();
        edit(&mut v);
        parse(v, at).unwrap_err()
    }

    #[test]
    fn accepts_the_seed_example() {
        let event = parse(seed(), "").unwrap();
        assert_eq!(event.chat.chat_id.as_str(), "10010001");
        assert_eq!(event.message.text, "lorem ipsum");
    }

    #[test]
    fn every_refusal_names_its_field() {
        let long = || Value::String("x".repeat(MAX_SHORT_FIELD_BYTES + 1));
        type Edit = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|v| {
                    v["message"].as_object_mut().unwrap().remove("message_id");
                }),
                "events[2].message.message_id",
            ),
            (
                Box::new(|v| v["message"]["text"] = json!(42)),
                "events[2].message.text",
            ),
            (
                Box::new(|v| v["message"]["text"] = Value::String("x".repeat(MAX_TEXT_BYTES + 1))),
                "events[2].message.text",
            ),
            (
                Box::new(|v| v["message"]["timestamp"] = json!("tomorrow")),
                "events[2].message.timestamp",
            ),
            (
                Box::new(|v| v["message"]["timestamp"] = json!("2300-01-01T00:00:00+0000")),
                "events[2].message.timestamp",
            ),
            (
                Box::new(|v| v["chat"]["chat_id"] = json!("")),
                "events[2].chat.chat_id",
            ),
            (
                Box::new(move |v| v["chat"]["responsible_email"] = long()),
                "events[2].chat.responsible_email",
            ),
            (
                Box::new(|v| v["message"]["message_id"] = json!("9".repeat(129))),
                "events[2].message.message_id",
            ),
        ];
        for (edit, field) in cases {
            assert_eq!(refused(edit, "events[2].").field, field);
        }
    }
}

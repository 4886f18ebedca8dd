//! `POST /v1/events` bodies: one event or `{"events": [...]}`, native or Chatwoot/liveDesk.

use super::limits::MAX_EVENTS_PER_BATCH;
use super::{chatwoot, native};
use crate::domain::{ChatId, MessageEvent, MessageId};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A rejected event: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidEvent {
    /// Path of the offending field, e.g. `events[3].message.text`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl InvalidEvent {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Where `is_new_chat` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewChatRule {
    /// The producer said it (native events).
    AsGiven,
    /// Outflow knows from the chat's state (Chatwoot/liveDesk conversations).
    FromChatState,
}

/// One understood inbound event.
#[derive(Debug, Clone, PartialEq)]
pub enum InboundEvent {
    /// A customer message to store and deliver.
    Message {
        event: Box<MessageEvent>,
        new_chat: NewChatRule,
    },
    /// A stored message's text changed.
    MessageUpdated {
        chat_id: ChatId,
        message_id: MessageId,
        text: String,
    },
    /// A conversation started: its first delivery says `is_new_chat: true`.
    ChatOpened { chat_id: ChatId },
    /// A conversation was resolved or closed: the next message starts a new one.
    ChatClosed { chat_id: ChatId },
    /// The responsible teammate changed.
    ChatUpdated {
        chat_id: ChatId,
        responsible_name: String,
        responsible_email: String,
    },
    /// Understood, but not something to deliver.
    Skipped { reason: String },
}

/// Settings the mapping of third-party events needs.
#[derive(Debug, Clone, Default)]
pub struct ParseContext {
    /// Base of Chatwoot/liveDesk conversation links, e.g. `https://app.chatwoot.com`.
    pub chat_url_base: String,
}

/// One event's JSON, as a parsed tree or as its raw bytes: the typed structs of each kind
/// are read from either, so the checked and the fast path map events with the same code.
pub(crate) trait EventSource {
    /// Deserializes the whole event as `T`; `at` prefixes the failing field's path.
    fn read<T: DeserializeOwned>(self, at: &str) -> Result<T, InvalidEvent>;
}

impl EventSource for Value {
    fn read<T: DeserializeOwned>(self, at: &str) -> Result<T, InvalidEvent> {
        from_value(self, at)
    }
}

impl EventSource for &[u8] {
    fn read<T: DeserializeOwned>(self, at: &str) -> Result<T, InvalidEvent> {
        // The fast path only keeps successes; a failure is parsed again by the checked
        // path, which names the field.
        serde_json::from_slice(self).map_err(|e| InvalidEvent::new(at, e.to_string()))
    }
}

/// Deserializes `value`, naming the exact failing field (prefixed by `at`).
pub(crate) fn from_value<T: DeserializeOwned>(value: Value, at: &str) -> Result<T, InvalidEvent> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." {
            at.trim_end_matches('.').to_string()
        } else {
            format!("{at}{path}")
        };
        let message = err.into_inner().to_string();
        // serde reports a missing field at its parent; name the field itself.
        match message
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            Some(missing) => {
                let sep = if field.is_empty() { "" } else { "." };
                InvalidEvent::new(format!("{field}{sep}{missing}"), "is missing")
            }
            None => InvalidEvent::new(field, message),
        }
    })
}

/// Parses a whole request body; any invalid event rejects the whole body. Well-formed
/// bodies take the fast path (typed structs read straight from the bytes); anything it
/// does not accept is parsed again into a JSON tree, which names the offending field.
pub fn parse_events(body: &[u8], ctx: &ParseContext) -> Result<Vec<InboundEvent>, InvalidEvent> {
    match super::fast::parse_events(body, ctx) {
        Some(events) => Ok(events),
        None => parse_events_checked(body, ctx),
    }
}

/// The checked path: the body as a JSON tree, every rejection naming its field.
pub fn parse_events_checked(
    body: &[u8],
    ctx: &ParseContext,
) -> Result<Vec<InboundEvent>, InvalidEvent> {
    let root: Value = serde_json::from_slice(body).map_err(|e| {
        let why = if e.to_string().starts_with("recursion limit exceeded") {
            format!("nests arrays/objects deeper than serde_json's 128 levels ({e})")
        } else {
            format!("is not valid JSON: {e}")
        };
        InvalidEvent::new("body", why)
    })?;
    let Value::Object(mut map) = root else {
        return Err(InvalidEvent::new("body", "must be a JSON object"));
    };
    match map.remove("events") {
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(InvalidEvent::new("events", "must not be empty"));
            }
            if items.len() > MAX_EVENTS_PER_BATCH {
                return Err(InvalidEvent::new(
                    "events",
                    format!(
                        "has {} items; at most {MAX_EVENTS_PER_BATCH} per request",
                        items.len()
                    ),
                ));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| parse_one(item, &format!("events[{i}]."), ctx))
                .collect()
        }
        Some(_) => Err(InvalidEvent::new("events", "must be an array of events")),
        None => Ok(vec![parse_one(Value::Object(map), "", ctx)?]),
    }
}

fn parse_one(value: Value, at: &str, ctx: &ParseContext) -> Result<InboundEvent, InvalidEvent> {
    let Value::Object(map) = &value else {
        return Err(InvalidEvent::new(
            at.trim_end_matches('.'),
            "must be a JSON object",
        ));
    };
    if let Some(kind) = map.get("event") {
        let kind = kind
            .as_str()
            .ok_or_else(|| InvalidEvent::new(format!("{at}event"), "must be a string"))?
            .to_string();
        return chatwoot::parse(&kind, value, at, ctx);
    }
    if map.contains_key("message") && map.contains_key("chat") {
        let event = native::parse(value, at)?;
        return Ok(InboundEvent::Message {
            event: Box::new(event),
            new_chat: NewChatRule::AsGiven,
        });
    }
    Err(InvalidEvent::new(
        format!("{at}event"),
        "unknown event: expected a native message event (whatsapp_account, chat, message) \
         or a Chatwoot/liveDesk event with an \"event\" field",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NATIVE: &str = include_str!("../../../../shared/fixtures/timelines_message_example.json");

    #[test]
    fn a_single_event_and_a_batch_both_parse() {
        let ctx = ParseContext::default();
        assert_eq!(parse_events(NATIVE.as_bytes(), &ctx).unwrap().len(), 1);
        let batch = format!("{{\"events\": [{NATIVE}, {NATIVE}]}}");
        assert_eq!(parse_events(batch.as_bytes(), &ctx).unwrap().len(), 2);
    }

    #[test]
    fn rejects_bodies_that_are_not_events() {
        let ctx = ParseContext::default();
        assert_eq!(parse_events(b"{not json", &ctx).unwrap_err().field, "body");
        assert_eq!(parse_events(b"[1]", &ctx).unwrap_err().field, "body");
        assert_eq!(
            parse_events(b"{\"events\": []}", &ctx).unwrap_err().field,
            "events"
        );
        assert_eq!(
            parse_events(b"{\"events\": {}}", &ctx).unwrap_err().field,
            "events"
        );
        assert_eq!(
            parse_events(b"{\"foo\": 1}", &ctx).unwrap_err().field,
            "event"
        );
        assert_eq!(
            parse_events(b"{\"events\": [7]}", &ctx).unwrap_err().field,
            "events[0]"
        );
    }

    #[test]
    fn a_batch_over_the_limit_is_refused() {
        let items = vec![NATIVE; MAX_EVENTS_PER_BATCH + 1].join(",");
        let body = format!("{{\"events\": [{items}]}}");
        let err = parse_events(body.as_bytes(), &ParseContext::default()).unwrap_err();
        assert_eq!(err.field, "events");
        assert!(err.message.contains("at most 100"));
    }

    #[test]
    fn one_bad_event_in_a_batch_names_its_index() {
        let body = format!("{{\"events\": [{NATIVE}, {{\"event\": \"bogus\"}}]}}");
        let err = parse_events(body.as_bytes(), &ParseContext::default()).unwrap_err();
        assert_eq!(err.field, "events[1].event");
    }
}

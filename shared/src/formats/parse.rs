//! `POST /v1/events` bodies: one event or `{"events": [...]}`, native or Chatwoot/liveDesk.
//! The dispatch: it depends on the parsers (fast path, native, Chatwoot), never the reverse.

use super::event::{InboundEvent, NewChatRule, ParseContext};
use super::invalid::InvalidEvent;
use super::limits::MAX_EVENTS_PER_BATCH;
use super::{chatwoot, fast, native, tree_budget};
use crate::domain::EventType;
use serde_json::Value;

/// Parses a whole request body; any invalid event rejects the whole body. Well-formed
/// bodies take the fast path (typed structs read straight from the bytes); anything it
/// does not accept is parsed again into a JSON tree, which names the offending field.
pub fn parse_events(body: &[u8], ctx: &ParseContext) -> Result<Vec<InboundEvent>, InvalidEvent> {
    match fast::parse_events(body, ctx) {
        Some(events) => Ok(events),
        None => parse_events_checked(body, ctx),
    }
}

/// The checked path: the body as a JSON tree (within `tree_budget`), every rejection
/// naming its field.
pub fn parse_events_checked(
    body: &[u8],
    ctx: &ParseContext,
) -> Result<Vec<InboundEvent>, InvalidEvent> {
    tree_budget::check(body)?;
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
    if let Some(kind) = map.get("event_type") {
        let name = kind
            .as_str()
            .ok_or_else(|| InvalidEvent::new(format!("{at}event_type"), "must be a string"))?;
        match EventType::parse(name) {
            Some(EventType::ChatCreated | EventType::ChatClosed | EventType::ChatAssigned) => {
                return native::parse_chat_event(value, at)
            }
            Some(EventType::MessageUpdated) => return native::parse_update(value, at),
            // A message names its type by its direction.
            Some(EventType::MessageReceivedNew | EventType::MessageSentNew) => {}
            _ => {
                return Err(InvalidEvent::new(
                    format!("{at}event_type"),
                    format!(
                        "unknown event type {}: expected message:received:new, \
                         message:sent:new, message:updated, chat:created, chat:closed or \
                         chat:assigned",
                        super::invalid::quoted(name, 64)
                    ),
                ))
            }
        }
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

//! The fast path of `POST /v1/events`: typed structs read straight from the request
//! bytes, without building a JSON tree first. Each event is read twice — a peek that
//! skips everything but its kind (no allocation), then its typed struct, whose unknown
//! members are skipped — through the same structs and mapping as the checked path. It only
//! ever answers "these events" or "not sure": anything it does not accept (a type error,
//! a duplicate key, an unknown kind, a value over a limit) goes to the checked path, which
//! names the offending field. `shared/tests/inbound_fuzz.rs` checks that whatever it
//! accepts, the checked path accepts with the same result.
//!
//! Members no struct reads are skipped, not interpreted (and so is an object or array in
//! Chatwoot's `inbox_id` or `updated_at`, read only when a number or a string): their
//! syntax is checked (and the whole body's UTF-8), but not three limits the tree has —
//! nesting beyond serde_json's 128 levels, numbers beyond `f64` and lone UTF-16
//! surrogates in `\u` escapes — so a body carrying such a value in a member Outflow
//! ignores is taken here and refused by the checked path. All are valid JSON syntax, and
//! nothing of them is kept.

use super::event::{InboundEvent, NewChatRule, ParseContext};
use super::limits::MAX_EVENTS_PER_BATCH;
use super::{bounded, chatwoot, native};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// The members of an event (or of the body) that decide how it is read.
#[derive(Deserialize)]
struct Peek<'a> {
    /// `Some(None)` for `"event": null`, which the checked path refuses.
    #[serde(default, borrow, deserialize_with = "present")]
    event: Option<Option<&'a str>>,
    /// Present even when `null` (the checked path refuses a non-array).
    #[serde(default, borrow, deserialize_with = "present")]
    events: Option<&'a RawValue>,
    /// Present even when `null` (the checked path tests presence).
    #[serde(default, deserialize_with = "present")]
    message: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    chat: Option<IgnoredAny>,
    /// A native event's type: anything but a new message's goes to the checked path.
    #[serde(default, borrow, deserialize_with = "present")]
    event_type: Option<Option<&'a str>>,
}

/// A member that is there, whatever its value (`null` included).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The events of a well-formed body, or `None` for the checked path to decide.
pub fn parse_events(body: &[u8], ctx: &ParseContext) -> Option<Vec<InboundEvent>> {
    // JSON is UTF-8 throughout; the tree checks it in every string, the structs only in
    // those they read.
    std::str::from_utf8(body).ok()?;
    let root: Peek = serde_json::from_slice(body).ok()?;
    let Some(events) = root.events else {
        return Some(vec![parse_one(body, root, ctx)?]);
    };
    event_items(events)?
        .into_iter()
        .map(|item| {
            let bytes = item.get().as_bytes();
            parse_one(bytes, serde_json::from_slice(bytes).ok()?, ctx)
        })
        .collect()
}

/// The items of `"events"`, when there are 1 to 100 of them; no more than 101 are held
/// while reading.
fn event_items(events: &RawValue) -> Option<Vec<&RawValue>> {
    let mut reader = serde_json::Deserializer::from_str(events.get());
    let items = bounded::first::<_, &RawValue, { MAX_EVENTS_PER_BATCH + 1 }>(&mut reader).ok()?;
    (1..=MAX_EVENTS_PER_BATCH)
        .contains(&items.len())
        .then_some(items)
}

fn parse_one(bytes: &[u8], peek: Peek, ctx: &ParseContext) -> Option<InboundEvent> {
    let new_message =
        |t: Option<&str>| matches!(t, Some("message:received:new" | "message:sent:new"));
    if peek.event_type.is_some_and(|t| !new_message(t)) {
        return None;
    }
    match peek.event {
        Some(kind) => chatwoot::parse(kind?, bytes, "", ctx).ok(),
        None if peek.message.is_some() && peek.chat.is_some() => {
            let event = native::parse(bytes, "").ok()?;
            Some(InboundEvent::Message {
                event: Box::new(event),
                new_chat: NewChatRule::AsGiven,
            })
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::parse::parse_events_checked;

    const NATIVE: &str = include_str!("../../../../shared/fixtures/timelines_message_example.json");
    const CREATED: &str = include_str!("../../../../shared/fixtures/livedesk_message_created.json");
    const CONVERSATION: &str =
        include_str!("../../../../shared/fixtures/livedesk_conversation_created.json");

    fn ctx() -> ParseContext {
        ParseContext {
            chat_url_base: "https://app.chatwoot.com".into(),
        }
    }

    #[test]
    fn takes_the_fixtures_alone_and_in_a_batch_as_the_checked_path_does() {
        let batch = format!("{{\"events\": [{NATIVE}, {CREATED}, {CONVERSATION}]}}");
        for body in [NATIVE, CREATED, CONVERSATION, batch.as_str()] {
            let fast = parse_events(body.as_bytes(), &ctx()).expect("the fast path takes it");
            assert_eq!(fast, parse_events_checked(body.as_bytes(), &ctx()).unwrap());
        }
    }

    #[test]
    fn leaves_what_it_cannot_vouch_for_to_the_checked_path() {
        let duplicate_key = CREATED.replacen("{", "{\"id\": 1, ", 1);
        let null_kind = NATIVE.replacen("{", "{\"event\": null, ", 1);
        let null_events = NATIVE.replacen("{", "{\"events\": null, ", 1);
        for body in [
            "{not json",
            "[1]",
            "{\"events\": []}",
            "{\"events\": [7]}",
            "{\"event\": \"bogus\"}",
            duplicate_key.as_str(),
            null_kind.as_str(),
            null_events.as_str(),
        ] {
            assert_eq!(parse_events(body.as_bytes(), &ctx()), None, "{body}");
        }
        let events = |n: usize| format!("{{\"events\": [{}]}}", vec![NATIVE; n].join(","));
        assert!(parse_events(events(100).as_bytes(), &ctx()).is_some());
        assert_eq!(parse_events(events(101).as_bytes(), &ctx()), None);
        // Invalid UTF-8 in a member nothing reads: the tree refuses it, so must this.
        let mut bytes = NATIVE.replacen("{", "{\"x\": \"?\", ", 1).into_bytes();
        let at = bytes.iter().position(|&b| b == b'?').unwrap();
        bytes[at] = 0xff;
        assert_eq!(parse_events(&bytes, &ctx()), None);
        assert!(parse_events_checked(&bytes, &ctx()).is_err());
    }
}

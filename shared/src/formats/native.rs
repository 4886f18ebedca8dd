//! The native inbound event: exactly the outbound "no aggregation" payload shape.

use super::inbound::{EventSource, InvalidEvent};
use super::limits::{MAX_ATTACHMENTS, MAX_SHORT_FIELD_BYTES, MAX_TEXT_BYTES, MAX_URL_BYTES};
use crate::domain::ids::validate_external_id;
use crate::domain::MessageEvent;

/// Parses and validates one native message event; `at` is its path in the request.
pub(crate) fn parse(source: impl EventSource, at: &str) -> Result<MessageEvent, InvalidEvent> {
    let event: MessageEvent = source.read(at)?;
    validate(&event, at)?;
    Ok(event)
}

fn check_len(value: &str, max: usize, field: String) -> Result<(), InvalidEvent> {
    if value.len() > max {
        return Err(InvalidEvent::new(
            field,
            format!("is longer than {max} bytes"),
        ));
    }
    Ok(())
}

/// Checks ids and the size of every free-text field.
pub fn validate(event: &MessageEvent, at: &str) -> Result<(), InvalidEvent> {
    let p = |name: &str| format!("{at}{name}");
    validate_external_id(event.chat.chat_id.as_str())
        .map_err(|m| InvalidEvent::new(p("chat.chat_id"), m))?;
    validate_external_id(event.message.message_id.as_str())
        .map_err(|m| InvalidEvent::new(p("message.message_id"), m))?;
    let short_fields = [
        (
            "whatsapp_account.full_name",
            &event.whatsapp_account.full_name,
        ),
        ("whatsapp_account.email", &event.whatsapp_account.email),
        ("whatsapp_account.phone", &event.whatsapp_account.phone),
        ("chat.full_name", &event.chat.full_name),
        ("chat.responsible_name", &event.chat.responsible_name),
        ("chat.responsible_email", &event.chat.responsible_email),
        ("chat.phone", &event.chat.phone),
        ("message.sender.full_name", &event.message.sender.full_name),
        ("message.sender.phone", &event.message.sender.phone),
        (
            "message.recipient.full_name",
            &event.message.recipient.full_name,
        ),
        ("message.recipient.phone", &event.message.recipient.phone),
    ];
    for (name, value) in short_fields {
        check_len(value, MAX_SHORT_FIELD_BYTES, p(name))?;
    }
    check_len(&event.chat.chat_url, MAX_URL_BYTES, p("chat.chat_url"))?;
    check_len(&event.message.text, MAX_TEXT_BYTES, p("message.text"))?;
    if event.message.attachments.len() > MAX_ATTACHMENTS {
        return Err(InvalidEvent::new(
            p("message.attachments"),
            format!("has more than {MAX_ATTACHMENTS} items"),
        ));
    }
    for (i, a) in event.message.attachments.iter().enumerate() {
        check_len(
            &a.url,
            MAX_URL_BYTES,
            p(&format!("message.attachments[{i}].url")),
        )?;
        check_len(
            &a.file_type,
            MAX_SHORT_FIELD_BYTES,
            p(&format!("message.attachments[{i}].file_type")),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const SEED: &str = include_str!("../../../../shared/fixtures/timelines_message_example.json");

    fn seed() -> Value {
        serde_json::from_str(SEED).unwrap()
    }

    #[test]
    fn accepts_the_seed_example() {
        let event = parse(seed(), "").unwrap();
        assert_eq!(event.chat.chat_id.as_str(), "10010001");
        assert_eq!(event.message.text, "lorem ipsum");
    }

    #[test]
    fn names_the_missing_field() {
        let mut v = seed();
        v["message"].as_object_mut().unwrap().remove("message_id");
        let err = parse(v, "events[2].").unwrap_err();
        assert_eq!(err.field, "events[2].message.message_id");
        assert!(err.message.contains("missing"), "{}", err.message);
    }

    #[test]
    fn names_a_number_where_a_string_belongs() {
        let mut v = seed();
        v["message"]["text"] = serde_json::json!(42);
        let err = parse(v, "").unwrap_err();
        assert_eq!(err.field, "message.text");
    }

    #[test]
    fn refuses_oversized_text_and_bad_timestamps() {
        let mut v = seed();
        v["message"]["text"] = Value::String("x".repeat(MAX_TEXT_BYTES + 1));
        assert_eq!(parse(v, "").unwrap_err().field, "message.text");
        let mut v = seed();
        v["message"]["timestamp"] = Value::String("tomorrow".into());
        assert_eq!(parse(v, "").unwrap_err().field, "message.timestamp");
    }

    #[test]
    fn refuses_an_empty_chat_id() {
        let mut v = seed();
        v["chat"]["chat_id"] = Value::String(String::new());
        assert_eq!(parse(v, "").unwrap_err().field, "chat.chat_id");
    }
}

//! The documented limits (`limits.rs`) checked field by field, each refusal naming the
//! field as the producer sent it.

use super::bundle::MAX_ENCODED_BODY_BYTES;
use super::escaped::{escaped_json_len, escaped_len};
use super::invalid::InvalidEvent;
use super::limits::{MAX_ID_BYTES, MAX_SHORT_FIELD_BYTES, MAX_TEXT_BYTES, MAX_URL_BYTES};
use crate::domain::{MessageEvent, Timestamp};

/// Checks fields of one event, each named by its path (`at` prefixes them all).
pub(crate) struct Fields<'a> {
    at: &'a str,
}

impl<'a> Fields<'a> {
    /// Fields of the event at `at` (e.g. `events[2].`).
    pub(crate) fn at(at: &'a str) -> Self {
        Self { at }
    }

    fn refuse(&self, name: &str, message: impl Into<String>) -> InvalidEvent {
        InvalidEvent::new(format!("{}{name}", self.at), message)
    }

    /// At most `max` bytes.
    pub(crate) fn len(&self, name: &str, value: &str, max: usize) -> Result<(), InvalidEvent> {
        if value.len() > max {
            return Err(self.refuse(name, format!("is longer than {max} bytes")));
        }
        Ok(())
    }

    /// A name, email, phone or other short text.
    pub(crate) fn short(&self, name: &str, value: &str) -> Result<(), InvalidEvent> {
        self.len(name, value, MAX_SHORT_FIELD_BYTES)
    }

    /// An optional short text.
    pub(crate) fn short_opt(&self, name: &str, value: &Option<String>) -> Result<(), InvalidEvent> {
        value.as_deref().map_or(Ok(()), |v| self.short(name, v))
    }

    /// Message text, measured as it travels: JSON-escaped (a control character takes 6
    /// bytes, a quote, backslash or line break 2), so what is accepted always fits a
    /// delivery, a queue message and a request-log entry.
    pub(crate) fn text(&self, name: &str, value: &str) -> Result<(), InvalidEvent> {
        if escaped_len(value) > MAX_TEXT_BYTES {
            let why = format!(
                "is longer than {MAX_TEXT_BYTES} bytes as JSON (control characters count 6 \
                 bytes; quotes, backslashes and line breaks 2)"
            );
            return Err(self.refuse(name, why));
        }
        Ok(())
    }

    /// The whole message as it will be queued fits one delivery; when it does not, the
    /// refusal names the biggest of `text` and `attachments` (the fields that can grow).
    pub(crate) fn delivery(
        &self,
        event: &MessageEvent,
        text: &str,
        attachments: &str,
    ) -> Result<(), InvalidEvent> {
        let size = escaped_json_len(event);
        if size <= MAX_ENCODED_BODY_BYTES {
            return Ok(());
        }
        let message = &event.message;
        let field = if escaped_json_len(&message.attachments) > escaped_len(&message.text) {
            attachments
        } else {
            text
        };
        let why = format!(
            "makes a delivery of {size} bytes as queued; one delivery holds at most \
             {MAX_ENCODED_BODY_BYTES} (text, names and attachments together)"
        );
        Err(self.refuse(field, why))
    }

    /// A message's time: it orders the message in its window's keys, so it must be one
    /// they sort right (1970 to 2286).
    pub(crate) fn keyed_time(&self, name: &str, at: Timestamp) -> Result<(), InvalidEvent> {
        if !at.fits_keys() {
            let why = "is outside 1970-01-01 to 2286-11-20, the times Outflow orders messages by";
            return Err(self.refuse(name, why));
        }
        Ok(())
    }

    /// A URL.
    pub(crate) fn url(&self, name: &str, value: &str) -> Result<(), InvalidEvent> {
        self.len(name, value, MAX_URL_BYTES)
    }

    /// A chat, message or account id from outside: it becomes part of table keys.
    pub(crate) fn id(&self, name: &str, value: &str) -> Result<(), InvalidEvent> {
        validate_external_id(value).map_err(|m| self.refuse(name, m))
    }

    /// At most `max` items.
    pub(crate) fn count(&self, name: &str, len: usize, max: usize) -> Result<(), InvalidEvent> {
        if len > max {
            return Err(self.refuse(name, format!("has more than {max} items")));
        }
        Ok(())
    }
}

/// Checks an externally supplied chat, message or account id: not empty, at most
/// `MAX_ID_BYTES`, no control characters.
pub fn validate_external_id(value: &str) -> Result<(), &'static str> {
    if value.trim().is_empty() {
        return Err("must not be empty");
    }
    if value.len() > MAX_ID_BYTES {
        return Err("is longer than 128 bytes");
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_names_the_field_under_its_path() {
        let f = Fields::at("events[1].");
        let long = "x".repeat(MAX_SHORT_FIELD_BYTES + 1);
        assert_eq!(f.short("name", &long).unwrap_err().field, "events[1].name");
        assert!(f.short("name", "Dana").is_ok());
        assert!(f.text("content", &"x".repeat(MAX_TEXT_BYTES)).is_ok());
        assert!(f.text("content", &"x".repeat(MAX_TEXT_BYTES + 1)).is_err());
        // Escaped as it travels: a control character takes 6 bytes.
        assert!(f
            .text("content", &"\u{1}".repeat(MAX_TEXT_BYTES / 6))
            .is_ok());
        assert!(f
            .text("content", &"\u{1}".repeat(MAX_TEXT_BYTES / 6 + 1))
            .is_err());
        assert!(f.url("u", &"x".repeat(MAX_URL_BYTES + 1)).is_err());
        assert_eq!(
            f.count("a", 21, 20).unwrap_err().message,
            "has more than 20 items"
        );
    }

    #[test]
    fn ids_are_bounded_printable_and_present() {
        assert!(validate_external_id("89").is_ok());
        assert_eq!(validate_external_id(" "), Err("must not be empty"));
        assert_eq!(
            validate_external_id(&"9".repeat(MAX_ID_BYTES + 1)),
            Err("is longer than 128 bytes")
        );
        assert!(validate_external_id("a\nb").is_err());
    }
}

//! The delivery envelope: one delivery as it travels (queue, held, dead letter), with the
//! exact body to POST, so every retry signs the same bytes. A kept message delivery put
//! back on the queue takes its message's edit (a pending message takes the new text).

use super::{ChatId, DeliveryId, EventType, MessageEvent, MessageId, Timestamp, WorkspaceId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One delivery: the exact body to POST, so every retry signs the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryEnvelope {
    /// The tenant.
    pub workspace_id: WorkspaceId,
    /// The `webhook-id`, stable across retries.
    pub delivery_id: DeliveryId,
    /// When the delivery was created (orders held deliveries).
    pub created_at: Timestamp,
    /// Position among deliveries created in the same request (orders equal instants).
    #[serde(default)]
    pub sequence: u32,
    /// The chat it belongs to: deliveries of one chat reach the receiver in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<ChatId>,
    /// The JSON body to POST.
    pub body: String,
    /// What it carries, for the activity log (e.g. "bundle of chat 89: 12 messages, ...").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Its type, sent as `webhook-event-type` (absent on deliveries queued before types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<EventType>,
    /// The release (its nonce) that put it back on the queue, when one did: while a
    /// release runs, the sender holds behind it a chat's deliveries queued after the ones
    /// it held from the queue, but never the release's own copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_by: Option<u64>,
}

impl DeliveryEnvelope {
    /// The chat's delivery order group: one per workspace and chat, so a chat's deliveries
    /// go out in order while other chats proceed in parallel. Hashed because SQS allows
    /// only 128 ASCII characters in a message group and chat ids are the channel's.
    pub fn message_group(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(self.workspace_id.as_str());
        if let Some(chat) = &self.chat_id {
            hash.update([0]);
            hash.update(chat.as_str());
        }
        hex::encode(hash.finalize())
    }

    /// The message of a message's own delivery (`message:received:new` or
    /// `message:sent:new`), read from its body; `None` for bundles, updates and chat events.
    fn own_message(&self) -> Option<MessageEvent> {
        let own = [EventType::MessageReceivedNew, EventType::MessageSentNew];
        if !own.contains(&self.event_type?) {
            return None;
        }
        serde_json::from_str(&self.body).ok()
    }

    /// The message whose own delivery this is; `None` for bundles, updates and chat events.
    pub fn message_id(&self) -> Option<MessageId> {
        self.own_message().map(|event| event.message.message_id)
    }

    /// The same delivery telling its message with `text` (an edit made while it was
    /// pending), encoded as ingest encodes a message; `None` when that is its text already
    /// or it tells no message.
    pub fn with_text(&self, text: &str) -> Option<Self> {
        let mut event = self.own_message()?;
        if event.message.text == text {
            return None;
        }
        event.message.text = text.to_string();
        let body = serde_json::to_string(&event).ok()?;
        Some(Self {
            body,
            ..self.clone()
        })
    }

    /// How the activity log names it: its summary and its `webhook-id`.
    pub fn describe(&self) -> String {
        match &self.summary {
            Some(summary) => format!("{summary} ({})", self.delivery_id),
            None => self.delivery_id.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn envelope(chat: Option<&str>, delivery: &str) -> DeliveryEnvelope {
        DeliveryEnvelope {
            workspace_id: WorkspaceId::new_unchecked("ws_aaaaaaaaaaaaaaaaaaaa"),
            delivery_id: DeliveryId::new_unchecked(delivery),
            created_at: Timestamp::from_unix(0).unwrap(),
            sequence: 0,
            chat_id: chat.map(ChatId::new_unchecked),
            body: "{}".into(),
            summary: None,
            event_type: None,
            released_by: None,
        }
    }

    #[test]
    fn one_message_group_per_chat_within_sqs_limits() {
        let a1 = envelope(Some("chat-1"), "d1");
        let a2 = envelope(Some("chat-1"), "d2");
        let b = envelope(Some("chat-2"), "d3");
        let none = envelope(None, "d4");
        assert_eq!(a1.message_group(), a2.message_group());
        assert_ne!(a1.message_group(), b.message_group());
        assert_ne!(a1.message_group(), none.message_group());
        let long = envelope(Some(&"ü".repeat(128)), "d5").message_group();
        assert!(long.len() <= 128 && long.is_ascii());
    }

    const SEED: &str = include_str!("../../../../shared/fixtures/timelines_message_example.json");

    fn of_message(kind: EventType) -> DeliveryEnvelope {
        let event: MessageEvent = serde_json::from_str(SEED).unwrap();
        DeliveryEnvelope {
            body: serde_json::to_string(&event).unwrap(),
            event_type: Some(kind),
            released_by: None,
            ..envelope(Some("c"), "msg_1")
        }
    }

    #[test]
    fn a_message_delivery_takes_a_new_text_and_nothing_else_changes() {
        let own = of_message(EventType::MessageSentNew);
        let id = own.message_id().expect("a message's own delivery");
        let edited = own.with_text("new text").unwrap();
        let (before, after): (Value, Value) = (
            serde_json::from_str(&own.body).unwrap(),
            serde_json::from_str(&edited.body).unwrap(),
        );
        assert_eq!(after["message"]["text"], "new text");
        let mut expected = before.clone();
        expected["message"]["text"] = "new text".into();
        assert_eq!(after, expected, "only the text changed");
        assert_eq!(edited.message_id(), Some(id));
        assert_eq!(
            (
                edited.delivery_id.clone(),
                edited.created_at,
                edited.sequence
            ),
            (own.delivery_id.clone(), own.created_at, own.sequence)
        );
        let same = before["message"]["text"].as_str().unwrap();
        assert_eq!(own.with_text(same), None, "unchanged");
    }

    #[test]
    fn updates_bundles_and_chat_events_keep_their_body() {
        for kind in [
            EventType::MessageUpdated,
            EventType::MessageBundle,
            EventType::ChatCreated,
        ] {
            let other = of_message(kind);
            assert_eq!(other.message_id(), None, "{kind:?}");
            assert_eq!(other.with_text("new text"), None, "{kind:?}");
        }
        let untyped = DeliveryEnvelope {
            event_type: None,
            released_by: None,
            ..of_message(EventType::MessageSentNew)
        };
        assert_eq!(untyped.with_text("new text"), None);
    }

    #[test]
    fn described_by_summary_and_webhook_id() {
        let mut e = envelope(Some("c"), "msg_1");
        assert_eq!(e.describe(), "msg_1");
        e.summary = Some("message 7 of chat c".into());
        assert_eq!(e.describe(), "message 7 of chat c (msg_1)");
    }
}

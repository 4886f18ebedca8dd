//! The delivery envelope: one delivery as it travels (queue, held, dead letter), with the
//! exact body to POST, so every retry signs the same bytes.

use super::{ChatId, DeliveryId, EventType, Timestamp, WorkspaceId};
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

    #[test]
    fn described_by_summary_and_webhook_id() {
        let mut e = envelope(Some("c"), "msg_1");
        assert_eq!(e.describe(), "msg_1");
        e.summary = Some("message 7 of chat c".into());
        assert_eq!(e.describe(), "message 7 of chat c (msg_1)");
    }
}

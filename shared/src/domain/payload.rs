//! The seed's "no aggregation" payload, field for field. It is also the native inbound
//! event shape, so one set of types serves both directions.

use super::{ChatId, MessageId, Timestamp};
use serde::{Deserialize, Serialize};

/// The channel account the chat lives on (a WhatsApp number, a helpdesk inbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Display name of the account.
    pub full_name: String,
    /// Email of the account's owner.
    #[serde(default)]
    pub email: String,
    /// Phone number of the account.
    #[serde(default)]
    pub phone: String,
}

/// The chat a message belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    /// Name of the chat (the contact or group).
    pub full_name: String,
    /// Teammate responsible for the chat.
    #[serde(default)]
    pub responsible_name: String,
    /// Email of the responsible teammate.
    #[serde(default)]
    pub responsible_email: String,
    /// Link to the chat in the channel's UI.
    #[serde(default)]
    pub chat_url: String,
    /// The chat's id.
    pub chat_id: ChatId,
    /// True on the first delivery of a (new) conversation.
    #[serde(default)]
    pub is_new_chat: bool,
    /// True for group chats.
    #[serde(default)]
    pub is_group: bool,
    /// The contact's phone; empty for group chats.
    #[serde(default)]
    pub phone: String,
}

/// Whether the workspace sent or received the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Sent by the workspace.
    Sent,
    /// Received from the contact.
    Received,
}

/// A sender or recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// Display name.
    pub full_name: String,
    /// Phone number, empty when unknown.
    #[serde(default)]
    pub phone: String,
}

/// A file attached to a message (an additive field; the seed skips such messages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Kind of file as the channel names it (image, audio, file...).
    pub file_type: String,
    /// Where the file can be downloaded.
    pub url: String,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Sent or received.
    pub direction: Direction,
    /// When the message was sent, UTC.
    pub timestamp: Timestamp,
    /// The message's id.
    pub message_id: MessageId,
    /// Who wrote it.
    pub sender: Party,
    /// Who it was for.
    pub recipient: Party,
    /// Its text (or the attachment's caption).
    #[serde(default)]
    pub text: String,
    /// Attached files, omitted when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// One message with its context: the "no aggregation" webhook payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEvent {
    /// The channel account.
    pub whatsapp_account: Account,
    /// The chat.
    pub chat: Chat,
    /// The message.
    pub message: Message,
}

/// A chat event (`chat:created`, `chat:closed`, `chat:assigned`): its type, the account
/// and the chat, in the seed's field names and formats. Native ingest takes this shape
/// too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatEvent {
    /// Which change.
    pub event_type: super::EventType,
    /// The channel account.
    pub whatsapp_account: Account,
    /// The chat as it is now.
    pub chat: Chat,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../../../shared/fixtures/timelines_message_example.json");

    #[test]
    fn the_seed_example_round_trips_field_for_field() {
        let event: MessageEvent = serde_json::from_str(SEED).unwrap();
        let back = serde_json::to_value(&event).unwrap();
        let seed: serde_json::Value = serde_json::from_str(SEED).unwrap();
        assert_eq!(back, seed);
    }

    #[test]
    fn attachments_appear_only_when_present() {
        let mut event: MessageEvent = serde_json::from_str(SEED).unwrap();
        assert!(!serde_json::to_string(&event)
            .unwrap()
            .contains("attachments"));
        event.message.attachments.push(Attachment {
            file_type: "image".into(),
            url: "https://files.example/1.png".into(),
        });
        let v = serde_json::to_value(&event).unwrap();
        assert_eq!(v["message"]["attachments"][0]["file_type"], "image");
    }
}

//! The seed's aggregated payload: all messages of one chat in one window.

use super::{Account, Chat, Message, Timestamp};
use serde::{Deserialize, Serialize};

/// One aggregated delivery (or one numbered part of a big one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// The channel account.
    pub whatsapp_account: Account,
    /// The chat.
    pub chat: Chat,
    /// The messages, ordered by their own timestamp.
    pub messages: Vec<Message>,
    /// Timestamp of the first message.
    pub first_message_timestamp: Timestamp,
    /// Timestamp of the last message.
    pub last_message_timestamp: Timestamp,
    /// HTML digest for CRM notes (message text HTML-escaped).
    pub aggregation: String,
    /// 1-based part number, only when the bundle had to be split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
    /// Number of parts, only when the bundle had to be split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<u32>,
}

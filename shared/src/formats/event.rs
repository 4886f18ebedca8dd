//! What the inbound parsers produce: one understood event, in Outflow's terms.

use crate::domain::{ChatId, MessageEvent, MessageId};

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
        /// The message with its chat context.
        event: Box<MessageEvent>,
        /// Where its `is_new_chat` comes from.
        new_chat: NewChatRule,
    },
    /// A stored message's text changed.
    MessageUpdated {
        /// The chat.
        chat_id: ChatId,
        /// The message.
        message_id: MessageId,
        /// Its new text.
        text: String,
    },
    /// A conversation started: its first delivery says `is_new_chat: true`.
    ChatOpened {
        /// The chat.
        chat_id: ChatId,
    },
    /// A conversation was resolved or closed: the next message starts a new one.
    ChatClosed {
        /// The chat.
        chat_id: ChatId,
    },
    /// The responsible teammate changed.
    ChatUpdated {
        /// The chat.
        chat_id: ChatId,
        /// The teammate's name.
        responsible_name: String,
        /// The teammate's email.
        responsible_email: String,
    },
    /// Understood, but not something to deliver.
    Skipped {
        /// Why, for the response.
        reason: String,
    },
}

/// Settings the mapping of third-party events needs.
#[derive(Debug, Clone, Default)]
pub struct ParseContext {
    /// Base of Chatwoot/liveDesk conversation links, e.g. `https://app.chatwoot.com`.
    pub chat_url_base: String,
}

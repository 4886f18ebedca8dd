//! What the inbound parsers produce: one understood event, in Outflow's terms.

use crate::domain::{ChatEvent, ChatId, MessageEvent, MessageId};

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
        /// What a `chat:created` delivery says.
        told: Option<Box<ToldChat>>,
    },
    /// A conversation was resolved or closed: the next message starts a new one.
    ChatClosed {
        /// The chat.
        chat_id: ChatId,
        /// What a `chat:closed` delivery says.
        told: Option<Box<ToldChat>>,
    },
    /// The responsible teammate changed.
    ChatUpdated {
        /// The chat.
        chat_id: ChatId,
        /// The teammate's name.
        responsible_name: String,
        /// The teammate's email.
        responsible_email: String,
        /// What a `chat:assigned` delivery says (sent only when the teammate changed).
        told: Option<Box<ToldChat>>,
    },
    /// Understood, but not something to deliver.
    Skipped {
        /// Why, for the response.
        reason: String,
    },
}

/// A chat event as it will be delivered, and when it happened at its source (its
/// `webhook-id` is derived from both, so a retried request repeats it and a later
/// identical change does not).
#[derive(Debug, Clone, PartialEq)]
pub struct ToldChat {
    /// The payload.
    pub event: ChatEvent,
    /// When it happened, as the source said it (empty when it did not).
    pub occurred: String,
}

/// Settings the mapping of third-party events needs.
#[derive(Debug, Clone, Default)]
pub struct ParseContext {
    /// Base of Chatwoot/liveDesk conversation links, e.g. `https://app.chatwoot.com`.
    pub chat_url_base: String,
}

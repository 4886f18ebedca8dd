//! What Outflow knows about a chat beyond its messages: whether the current conversation
//! has been announced (`is_new_chat`) and who is responsible for it.

/// The chat's responsible teammate, from a `conversation_updated`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Responsible {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// When Outflow received the update (ms).
    pub at_ms: i64,
}

/// What a delivery learns about its chat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatState {
    /// True when this delivery is the first of the chat's current conversation.
    pub is_new: bool,
    /// The responsible teammate, if an update named one.
    pub responsible: Option<Responsible>,
}

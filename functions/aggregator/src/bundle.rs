//! Turning one claimed window's messages into queued deliveries (pure).

use outflow::domain::{
    Account, Bundle, BundleId, Chat, ChatState, DeliveryEnvelope, EventType, PendingWindow,
    Timestamp, WindowMessage,
};
use outflow::formats::bundle::build_parts;

/// The envelopes of one window's bundle: one per part, each with its own stable id.
/// `None` for a window with no messages, or with bounds no instant has (a damaged item).
pub fn envelopes(
    window: &PendingWindow,
    messages: Vec<WindowMessage>,
    chat_state: &ChatState,
    permalink_base: &str,
) -> Option<Vec<DeliveryEnvelope>> {
    let bounds = window.bounds()?;
    let latest = messages.iter().max_by_key(|m| m.received_ms)?;
    let (account, chat) = heading(latest, chat_state);
    let count = messages.len();
    let parts = build_parts(
        &account,
        &chat,
        messages.into_iter().map(|m| m.event.message).collect(),
        permalink_base,
    );
    let id = window.bundle_id();
    let total = parts.len();
    let part = |(i, part)| envelope(window, bounds, &id, (i, total), count, part);
    Some(parts.into_iter().enumerate().map(part).collect())
}

/// The account and chat a bundle carries: the latest received message's, with the chat's
/// `is_new_chat` and, when a `conversation_updated` came after that message, its
/// responsible teammate.
pub fn heading(latest: &WindowMessage, chat_state: &ChatState) -> (Account, Chat) {
    let account = latest.event.whatsapp_account.clone();
    let mut chat = latest.event.chat.clone();
    chat.is_new_chat = chat_state.is_new;
    if let Some(responsible) = &chat_state.responsible {
        if responsible.at_ms >= latest.received_ms {
            chat.responsible_name = responsible.name.clone();
            chat.responsible_email = responsible.email.clone();
        }
    }
    (account, chat)
}

/// The delivery of part `i` of `total` of a window's bundle of `count` messages.
pub fn envelope(
    window: &PendingWindow,
    (start, end): (Timestamp, Timestamp),
    id: &BundleId,
    (i, total): (usize, usize),
    count: usize,
    part: Bundle,
) -> DeliveryEnvelope {
    let part_note = if total > 1 {
        format!(" (part {} of {total})", i + 1)
    } else {
        String::new()
    };
    DeliveryEnvelope {
        workspace_id: window.workspace_id.clone(),
        delivery_id: id.delivery(i as u32 + 1),
        created_at: end,
        sequence: i as u32,
        chat_id: Some(window.chat_id.clone()),
        body: serde_json::to_string(&part).expect("bundle serializes"),
        summary: Some(format!(
            "bundle of chat {}: {count} messages, window {} to {}{part_note}",
            window.chat_id,
            minutes(start),
            minutes(end) + " UTC",
        )),
        event_type: Some(EventType::MessageBundle),
    }
}

fn minutes(t: Timestamp) -> String {
    t.utc().format("%Y-%m-%d %H:%M").to_string()
}

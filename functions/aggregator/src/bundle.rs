//! Turning one claimed window's messages into queued deliveries (pure).

use outflow::domain::{
    Account, Bundle, BundleId, Chat, ChatState, DeliveryEnvelope, EventType, PendingWindow,
    Timestamp, WindowMessage,
};
use outflow::formats::bundle::{build_part, build_parts};
use outflow::queue;

/// What one window's messages, held in memory, become.
#[derive(Debug)]
pub enum Loaded {
    /// Its bundle fits one part: that part's delivery.
    One(DeliveryEnvelope),
    /// Its bundle takes several parts: it is streamed instead (`plan::bundles`), its cut
    /// saved first, where a part of one message too big under the window's heading goes
    /// under its own.
    Several,
}

/// The bundle of one window's messages. `None` for a window with no messages, or with
/// bounds no instant has (a damaged item).
pub fn loaded(
    window: &PendingWindow,
    messages: Vec<WindowMessage>,
    chat_state: &ChatState,
    permalink_base: &str,
) -> Option<Loaded> {
    let bounds = window.bounds()?;
    let latest = messages.iter().max_by_key(|m| m.received_ms)?;
    let (account, chat) = heading(latest, chat_state);
    let count = messages.len();
    let messages = messages.into_iter().map(|m| m.event.message).collect();
    let mut parts = build_parts(&account, &chat, messages, permalink_base);
    if parts.len() > 1 {
        return Some(Loaded::Several);
    }
    let part = parts.pop()?;
    let id = window.bundle_id();
    Some(Loaded::One(envelope(
        window,
        bounds,
        &id,
        (0, 1),
        count,
        &part,
    )))
}

/// The account and chat a bundle carries: the latest received message's, with the chat's
/// `is_new_chat` and, when a `conversation_updated` came after that message, its
/// responsible teammate.
pub fn heading(latest: &WindowMessage, chat_state: &ChatState) -> (Account, Chat) {
    let event = &latest.event;
    let (account, chat) = (event.whatsapp_account.clone(), event.chat.clone());
    heading_at(account, chat, latest.received_ms, chat_state)
}

/// The heading of a message received at `received_ms` with `account` and `chat`.
pub fn heading_at(
    account: Account,
    mut chat: Chat,
    received_ms: i64,
    chat_state: &ChatState,
) -> (Account, Chat) {
    chat.is_new_chat = chat_state.is_new;
    if let Some(responsible) = &chat_state.responsible {
        if responsible.at_ms >= received_ms {
            chat.responsible_name = responsible.name.clone();
            chat.responsible_email = responsible.email.clone();
        }
    }
    (account, chat)
}

/// A part of one message built again under that message's own heading, when the queue
/// cannot take it under the window's (the latest message's, whose fields may be far
/// wider): ingest bounds a message with its own, so this one usually fits (one still
/// over is set aside). A part of several messages is returned as it was.
pub fn reheaded(
    part: Bundle,
    (account, chat): (Account, Chat),
    (i, total): (usize, usize),
    permalink_base: &str,
) -> Bundle {
    if part.messages.len() != 1 {
        return part;
    }
    let (numbers, messages) = ((part.part, part.parts), part.messages);
    let mut again = build_part(&account, &chat, messages, (i, total), permalink_base);
    (again.part, again.parts) = numbers;
    again
}

/// True when the queue can never take the delivery (over its message limit).
pub fn over_queue_limit(e: &DeliveryEnvelope) -> bool {
    serde_json::to_string(e).map_or(true, |json| json.len() > queue::spec::MAX_MESSAGE_BYTES)
}

/// The delivery of part `i` of `total` of a window's bundle of `count` messages.
pub fn envelope(
    window: &PendingWindow,
    (start, end): (Timestamp, Timestamp),
    id: &BundleId,
    (i, total): (usize, usize),
    count: usize,
    part: &Bundle,
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
        body: serde_json::to_string(part).expect("bundle serializes"),
        summary: Some(format!(
            "bundle of chat {}: {count} messages, window {} to {}{part_note}",
            window.chat_id,
            minutes(start),
            minutes(end) + " UTC",
        )),
        event_type: Some(EventType::MessageBundle),
        released_by: None,
    }
}

fn minutes(t: Timestamp) -> String {
    t.utc().format("%Y-%m-%d %H:%M").to_string()
}

//! Turning one claimed window into queued deliveries.

use outflow::domain::{Bundle, BundleId, Timestamp};
use outflow::formats::bundle::build_parts;
use outflow::queue::DeliveryEnvelope;
use outflow::store::chats::ChatState;
use outflow::store::{PendingWindow, WindowMessage};

/// The envelopes of one window's bundle: one per part, each with its own stable id.
pub fn envelopes(
    window: &PendingWindow,
    messages: Vec<WindowMessage>,
    chat_state: &ChatState,
    permalink_base: &str,
) -> Vec<DeliveryEnvelope> {
    let latest = messages
        .iter()
        .max_by_key(|m| m.received_ms)
        .expect("a window has messages");
    let latest_received = latest.received_ms;
    let account = latest.event.whatsapp_account.clone();
    let mut chat = latest.event.chat.clone();
    chat.is_new_chat = chat_state.is_new;
    // A conversation_updated newer than the newest message names the responsible teammate.
    if let Some((name, email, at)) = &chat_state.responsible {
        if *at >= latest_received {
            chat.responsible_name = name.clone();
            chat.responsible_email = email.clone();
        }
    }
    let count = messages.len();
    let parts = build_parts(
        &account,
        &chat,
        messages.into_iter().map(|m| m.event.message).collect(),
        permalink_base,
    );
    let id = bundle_id(window);
    let total = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| envelope(window, &id, i, total, count, part))
        .collect()
}

/// The bundle's id, derived from (workspace, chat, window).
pub fn bundle_id(window: &PendingWindow) -> BundleId {
    BundleId::for_window(
        &window.workspace_id,
        &window.chat_id,
        window.start_ms,
        window.end_ms,
    )
}

fn envelope(
    window: &PendingWindow,
    id: &BundleId,
    i: usize,
    total: usize,
    count: usize,
    part: Bundle,
) -> DeliveryEnvelope {
    let start = Timestamp::from_unix(window.start_ms / 1000).unwrap_or_else(Timestamp::now);
    let end = Timestamp::from_unix(window.end_ms / 1000).unwrap_or_else(Timestamp::now);
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
            start.utc().format("%Y-%m-%d %H:%M"),
            end.utc().format("%Y-%m-%d %H:%M UTC"),
        )),
    }
}

//! A chat window waiting to be flushed into a bundle, and the messages read back for it.

use super::{Aggregation, BundleId, ChatId, MessageEvent, Timestamp, Window, WorkspaceId};
use serde::{Deserialize, Serialize};

/// One chat's window of one granularity, collecting messages until it is flushed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PendingWindow {
    /// The tenant.
    pub workspace_id: WorkspaceId,
    /// The chat.
    pub chat_id: ChatId,
    /// The granularity it was collected with.
    pub granularity: Aggregation,
    /// Window start (ms).
    pub start_ms: i64,
    /// Window end (ms).
    pub end_ms: i64,
}

impl PendingWindow {
    /// The window of `granularity` for one chat.
    pub fn new(ws: &WorkspaceId, chat: &ChatId, granularity: Aggregation, window: Window) -> Self {
        Self {
            workspace_id: ws.clone(),
            chat_id: chat.clone(),
            granularity,
            start_ms: window.start.millis(),
            end_ms: window.end.millis(),
        }
    }

    /// The bundle it becomes, derived from (workspace, chat, window): every run, retry or
    /// concurrent duplicate names the same bundle and the same `webhook-id`s.
    pub fn bundle_id(&self) -> BundleId {
        BundleId::for_window(
            &self.workspace_id,
            &self.chat_id,
            self.start_ms,
            self.end_ms,
        )
    }

    /// Its start and end as instants (`None` only for values no window can have).
    pub fn bounds(&self) -> Option<(Timestamp, Timestamp)> {
        Some((
            Timestamp::from_unix_millis(self.start_ms)?,
            Timestamp::from_unix_millis(self.end_ms)?,
        ))
    }

    /// True once the window has ended at `now_ms` (it can still be filled before).
    pub fn has_ended(&self, now_ms: i64) -> bool {
        now_ms >= self.end_ms
    }
}

/// A stored message read back for a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowMessage {
    /// The message with its chat context (edits applied).
    pub event: MessageEvent,
    /// When Outflow received it (ms).
    pub received_ms: i64,
}

//! Warnings and change notices to a workspace's owner: within the daily budget
//! (`NOTICES_PER_DAY`), each sent (or not, and why) written to the activity log. A notice
//! never fails the change it reports: its errors are logged.

use crate::domain::{
    ActivityAction, ActivityEntry, Notice, Timestamp, WorkspaceId, NOTICES_PER_DAY,
};
use crate::notify::OwnerNotifier;
use crate::store::{Store, StoreError};

/// Sends owner notices.
#[derive(Clone, Debug)]
pub struct Notices {
    store: Store,
    notifier: OwnerNotifier,
}

/// Why a notice could not be handled.
#[derive(Debug, thiserror::Error)]
enum NoticeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the workspace is gone")]
    NoWorkspace,
}

impl Notices {
    /// Notices over the store, emailing through the notifier.
    pub fn new(store: Store, notifier: OwnerNotifier) -> Self {
        Self { store, notifier }
    }

    /// Tells the owner of `ws`; errors are logged, not returned.
    pub async fn send(&self, ws: &WorkspaceId, notice: &Notice, now: Timestamp) {
        if let Err(e) = self.try_send(ws, notice, now).await {
            tracing::error!(workspace_id = %ws, error = %e, "owner notice not handled");
        }
    }

    async fn try_send(
        &self,
        ws: &WorkspaceId,
        notice: &Notice,
        now: Timestamp,
    ) -> Result<(), NoticeError> {
        let day = now.utc().format("%Y-%m-%d").to_string();
        let detail = if self.store.claim_notice(ws, &day, NOTICES_PER_DAY).await? {
            let workspace = self
                .store
                .workspace(ws)
                .await?
                .ok_or(NoticeError::NoWorkspace)?;
            let owner = &workspace.owner_email;
            match self.notifier.notice(owner, &workspace.name, notice).await {
                Ok(()) => notice.sent_detail(owner),
                Err(e) => {
                    tracing::error!(workspace_id = %ws, error = %e, "owner notice failed");
                    format!("Owner notice failed: {e}")
                }
            }
        } else {
            format!(
                "Owner not emailed ({}): at most {NOTICES_PER_DAY} warnings and notices a day",
                notice.subject("the workspace")
            )
        };
        let entry = ActivityEntry::new(now, ActivityAction::OwnerNotified, detail);
        Ok(self.store.record_activity(ws, &entry).await?)
    }
}

//! Warnings and change notices to a workspace's owner: within the daily budget of their
//! kind (`NOTICES_PER_DAY` each), each sent (or not, and why) written to the activity log.
//! A notice never fails or stalls the change it reports: it has a time limit of its own,
//! and its errors are logged.

use crate::domain::{
    ActivityAction, ActivityEntry, Notice, Timestamp, WorkspaceId, NOTICES_PER_DAY,
};
use crate::notify::OwnerNotifier;
use crate::store::{DailyBudget, Store, StoreError};
use std::time::Duration;

/// How long a notice may take (budget, workspace read, SES, activity) before it is given
/// up: the api answers within its 10 s, the sender's batch goes on.
pub const NOTICE_TIME_LIMIT: Duration = Duration::from_secs(2);

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

    /// Tells the owner of `ws`, within [`NOTICE_TIME_LIMIT`]; errors are logged, not
    /// returned.
    pub async fn send(&self, ws: &WorkspaceId, notice: &Notice, now: Timestamp) {
        match tokio::time::timeout(NOTICE_TIME_LIMIT, self.try_send(ws, notice, now)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(workspace_id = %ws, error = %e, "owner notice not handled")
            }
            Err(_) => tracing::error!(workspace_id = %ws, "owner notice given up: out of time"),
        }
    }

    async fn try_send(
        &self,
        ws: &WorkspaceId,
        notice: &Notice,
        now: Timestamp,
    ) -> Result<(), NoticeError> {
        let day = now.utc_day();
        let budget = if notice.is_warning() {
            DailyBudget::Warnings
        } else {
            DailyBudget::Notices
        };
        let claimed = self
            .store
            .claim_daily(ws, budget, &day, NOTICES_PER_DAY)
            .await?;
        let detail = match claimed {
            Some(sent) => {
                let workspace = self
                    .store
                    .workspace(ws)
                    .await?
                    .ok_or(NoticeError::NoWorkspace)?;
                let (owner, last) = (&workspace.owner_email, sent >= NOTICES_PER_DAY);
                match self
                    .notifier
                    .notice(owner, &workspace.name, notice, last)
                    .await
                {
                    Ok(()) => notice.sent_detail(owner),
                    Err(e) => {
                        tracing::error!(workspace_id = %ws, error = %e, "owner notice failed");
                        format!("Owner notice failed: {e}")
                    }
                }
            }
            None => format!(
                "Owner not emailed ({}): at most {NOTICES_PER_DAY} such emails a day",
                notice.subject("the workspace")
            ),
        };
        let entry = ActivityEntry::new(now, ActivityAction::OwnerNotified, detail);
        Ok(self.store.record_activity(ws, &entry).await?)
    }
}
